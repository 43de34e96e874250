package actors

import (
	"crypto/sha256"
	"database/sql"
	"fmt"
	"strings"
	"testing"

	"github.com/dmnode/dmnode/core/config"
	"github.com/dmnode/dmnode/tests/harness"
)

// Connections read through a 64 KiB buffer: a result far larger than it
// arrives whole and in order, and a pooled connection the server closed
// while it was idle is still found dead before use (the driver peeks at
// the socket under the buffer), so the next query gets a new one instead
// of failing.
func TestBufferedConnections(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a MariaDB server: skipped under -short")
	}
	ctx := t.Context()
	srv := harness.StartMariaDB(t, harness.Options{ServerID: 100})
	db, err := OpenDB(ctx, config.DBConfig{Host: "127.0.0.1", Port: srv.Port, User: "root"}, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	// 20,000 rows of about 100 bytes: 2 MB, 30 buffers' worth.
	const n = 20000
	rows, err := db.QueryContext(ctx, "SELECT seq, CONCAT(REPEAT(CHAR(65 + seq % 26), 90), seq) FROM mysql.seq_1_to_20000 ORDER BY seq")
	if err != nil {
		t.Fatal(err)
	}
	got, want := sha256.New(), sha256.New()
	count := 0
	for rows.Next() {
		var i int
		var s string
		if err := rows.Scan(&i, &s); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(got, "%d %s\n", i, s)
		count++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		fmt.Fprintf(want, "%d %s%d\n", i, strings.Repeat(string(rune('A'+i%26)), 90), i)
	}
	if count != n || string(got.Sum(nil)) != string(want.Sum(nil)) {
		t.Fatalf("read %d rows, want %d; checksum %x, want %x", count, n, got.Sum(nil), want.Sum(nil))
	}

	// Kill the pool's one idle connection from another session.
	var id int64
	if err := db.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&id); err != nil {
		t.Fatal(err)
	}
	other, err := sql.Open("mysql", fmt.Sprintf("root@tcp(127.0.0.1:%d)/", srv.Port))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.ExecContext(ctx, fmt.Sprintf("KILL CONNECTION %d", id)); err != nil {
		t.Fatal(err)
	}
	var again int64
	if err := db.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&again); err != nil {
		t.Fatalf("a query after the server closed the idle pooled connection: %v", err)
	}
	if again == id {
		t.Fatalf("the query ran on connection %d, which was killed", id)
	}
}

// BenchmarkSourceRead reads 100,000 sysbench-shaped rows as the dumper
// does (every column as raw bytes), through the buffered connection and
// through the driver's own 4 KiB reads, and reports this process's CPU
// per 100k rows.
func BenchmarkSourceRead(b *testing.B) {
	srv := harness.StartMariaDB(b, harness.Options{ServerID: 100})
	srv.Exec(b, "CREATE DATABASE sb",
		"CREATE TABLE sb.t (id INT PRIMARY KEY, k INT NOT NULL, c CHAR(120) NOT NULL, pad CHAR(60) NOT NULL)",
		"INSERT INTO sb.t SELECT seq, seq * 7 % 100000, CONCAT(REPEAT(LPAD(seq * 13 % 99999999999, 11, '0'), 10), '-'), REPEAT(LPAD(seq, 11, '0'), 5) FROM sb.seq_1_to_100000")
	ctx := b.Context()
	buffered, err := OpenDB(ctx, config.DBConfig{Host: "127.0.0.1", Port: srv.Port, User: "root"}, 1)
	if err != nil {
		b.Fatal(err)
	}
	defer buffered.Close()
	plain, err := sql.Open("mysql", fmt.Sprintf("root@tcp(127.0.0.1:%d)/", srv.Port))
	if err != nil {
		b.Fatal(err)
	}
	defer plain.Close()
	for _, c := range []struct {
		name string
		db   *sql.DB
	}{{"buffered", buffered}, {"driver", plain}} {
		b.Run(c.name, func(b *testing.B) {
			cpu0 := selfCPU()
			var n int
			for b.Loop() {
				rows, err := c.db.QueryContext(ctx, "SELECT id, k, c, pad FROM sb.t ORDER BY id")
				if err != nil {
					b.Fatal(err)
				}
				raw := make([]sql.RawBytes, 4)
				ptrs := []any{&raw[0], &raw[1], &raw[2], &raw[3]}
				for rows.Next() {
					if err := rows.Scan(ptrs...); err != nil {
						b.Fatal(err)
					}
					n++
				}
				if err := rows.Err(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric((selfCPU()-cpu0)/float64(n)*1e5, "CPU-s/100k-rows")
		})
	}
}

package bench

import (
	"crypto/md5"
	"database/sql"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/dmnode/dmnode/tests/harness"
)

// sbtestDDL is sysbench's table, the shape of TiDB DM's published
// benchmarks.
const sbtestDDL = `CREATE TABLE %s (
	id int NOT NULL,
	k int NOT NULL DEFAULT 0,
	c char(120) NOT NULL DEFAULT '',
	pad char(60) NOT NULL DEFAULT '',
	PRIMARY KEY (id),
	KEY k_1 (k)
)`

// mergedDDL is the target table of a merge: the source id extracted into
// c_source, which joins the primary key.
const mergedDDL = `CREATE TABLE %s (
	id int NOT NULL,
	k int NOT NULL DEFAULT 0,
	c char(120) NOT NULL DEFAULT '',
	pad char(60) NOT NULL DEFAULT '',
	c_source varchar(32) NOT NULL,
	PRIMARY KEY (id, c_source),
	KEY k_1 (k)
)`

// markerDDL is the table lag is measured with: a row per marker, with the
// time it was written upstream in microseconds since the epoch.
const markerDDL = `CREATE TABLE %s (id int NOT NULL PRIMARY KEY, ts bigint NOT NULL)`

const mergedMarkerDDL = `CREATE TABLE %s (id int NOT NULL, ts bigint NOT NULL, c_source varchar(32) NOT NULL, PRIMARY KEY (id, c_source))`

// The rows of every table are a function of (source number, id), so that
// the server (seedSQL, fast) and a Go client (row, for the INSERT ceiling)
// produce the same bytes: c is 119 characters and pad 59, as in sysbench.
func kOf(src, id int) int { return (id*7919 + src*104729) % 1000003 }

func md5s(n int) string {
	s := md5.Sum([]byte(strconv.Itoa(n)))
	return hex.EncodeToString(s[:])
}

// textRows selects the text shape of c and pad (BENCH_DATA=text): words
// and numbers, as real columns hold, which compress, instead of hex
// digests, which do not. The sizes are the same.
var textRows bool

func cOf(src, id int) string {
	if textRows {
		return rpad(fmt.Sprintf("order %07d for customer %05d shipped by ground from warehouse %02d; status delivered, paid by card",
			id, (id*7919+src)%100000, id%20), 119)
	}
	return md5s(id) + "-" + md5s(id+src) + "-" + md5s(id*2+src) + "-" + md5s(id*3 + src)[:20]
}

func padOf(src, id int) string {
	if textRows {
		return rpad(fmt.Sprintf("gift wrap no, priority normal, region %02d, source %d", id%50, src), 59)
	}
	return md5s(id+7*src) + "-" + md5s(id*5 + src)[:26]
}

// rpad fills s with dots to n bytes, or cuts it there, as SQL's RPAD does.
func rpad(s string, n int) string {
	if len(s) >= n {
		return s[:n]
	}
	return s + strings.Repeat(".", n-len(s))
}

// seedSQL inserts ids from..to of source src into table (db.table) on the
// server, computing the same values as kOf, cOf and padOf.
func seedSQL(table string, src, from, to int) string {
	c := `CONCAT_WS('-', MD5(seq), MD5(seq+%[2]d), MD5(seq*2+%[2]d), LEFT(MD5(seq*3+%[2]d), 20))`
	pad := `CONCAT_WS('-', MD5(seq+7*%[2]d), LEFT(MD5(seq*5+%[2]d), 26))`
	if textRows {
		c = `RPAD(CONCAT('order ', LPAD(seq, 7, '0'), ' for customer ', LPAD((seq*7919 + %[2]d) %% 100000, 5, '0'),
		' shipped by ground from warehouse ', LPAD(seq %% 20, 2, '0'), '; status delivered, paid by card'), 119, '.')`
		pad = `RPAD(CONCAT('gift wrap no, priority normal, region ', LPAD(seq %% 50, 2, '0'), ', source %[2]d'), 59, '.')`
	}
	return fmt.Sprintf(`INSERT INTO %s (id, k, c, pad) SELECT seq, (seq*7919 + %[2]d*104729) %% 1000003, `+c+`, `+pad+`
	FROM seq_%[3]d_to_%[4]d`, table, src, from, to)
}

// seed fills table on db with ids 1..rows of source src, in pieces so that
// no statement runs for long. db must have a current database (the
// sequence engine needs one), so it is given as a DSN database.
func seed(db *sql.DB, table string, src, rows int) error {
	const piece = 100_000
	for from := 1; from <= rows; from += piece {
		if _, err := db.Exec(seedSQL(table, src, from, min(from+piece-1, rows))); err != nil {
			return fmt.Errorf("seed %s: %w", table, err)
		}
	}
	return nil
}

// rowCSVBytes is the size of one seeded row as CSV (id,k,c,pad and a
// newline), the unit MB/s is reported in.
func rowCSVBytes(src, id int) int {
	return len(strconv.Itoa(id)) + len(strconv.Itoa(kOf(src, id))) + 119 + 59 + 4
}

// csvBytes is the CSV size of ids 1..rows of source src.
func csvBytes(src, rows int) int64 {
	var n int64
	for id := 1; id <= rows; id++ {
		n += int64(rowCSVBytes(src, id))
	}
	return n
}

// checksum is a table's row count and two order-independent hashes of its
// rows (sums and xors of per-row CRC32 and MD5 prefixes), computed on the
// server, so millions of rows are compared without moving them.
type checksum struct {
	Rows int64
	CRC  string
	MD5  string
}

func (c checksum) String() string {
	return fmt.Sprintf("%d rows, crc %s, md5 %s", c.Rows, c.CRC, c.MD5)
}

// tableChecksum computes the checksum of cols of table, restricted by where
// ("" for all rows).
func tableChecksum(db *sql.DB, table string, cols []string, where string) (checksum, error) {
	row := "CONCAT_WS('#', " + strings.Join(cols, ", ") + ")"
	q := fmt.Sprintf("SELECT COUNT(*), COALESCE(SUM(CRC32(%[1]s)), 0), "+
		"COALESCE(BIT_XOR(CAST(CONV(LEFT(MD5(%[1]s), 16), 16, 10) AS UNSIGNED)), 0) FROM %[2]s", row, table)
	if where != "" {
		q += " WHERE " + where
	}
	var c checksum
	if err := db.QueryRow(q).Scan(&c.Rows, &c.CRC, &c.MD5); err != nil {
		return c, fmt.Errorf("checksum %s: %w", table, err)
	}
	return c, nil
}

var sbtestCols = []string{"id", "k", "c", "pad"}

// sameTable compares a source table with its copy on the target and returns
// a description of the difference, "" when they hold the same rows.
func sameTable(src *sql.DB, srcTable string, dst *sql.DB, dstTable, where string, cols []string) (string, error) {
	want, err := tableChecksum(src, srcTable, cols, "")
	if err != nil {
		return "", err
	}
	got, err := tableChecksum(dst, dstTable, cols, where)
	if err != nil {
		return "", err
	}
	if want != got {
		return fmt.Sprintf("%s (source) %v, %s %s (target) %v", srcTable, want, dstTable, where, got), nil
	}
	return "", nil
}

// The server (seedSQL) and the Go client (cOf, padOf: the INSERT ceiling,
// the writers) make the same rows of either shape, of the sizes sysbench
// gives c and pad.
func TestRowShapes(t *testing.T) {
	srv := harness.StartMariaDB(t, harness.Options{ServerID: 1})
	execAll(t, openDB(t, srv, ""), "CREATE DATABASE shapes")
	db := openDB(t, srv, "shapes")
	defer func() { textRows = false }()
	for _, text := range []bool{false, true} {
		textRows = text
		execAll(t, db, "DROP TABLE IF EXISTS t", fmt.Sprintf(sbtestDDL, "t"), seedSQL("t", 2, 1, 50))
		rows, err := db.Query("SELECT id, k, c, pad FROM t ORDER BY id")
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for rows.Next() {
			var id, k int
			var c, pad string
			if err := rows.Scan(&id, &k, &c, &pad); err != nil {
				t.Fatal(err)
			}
			if k != kOf(2, id) || c != cOf(2, id) || pad != padOf(2, id) || len(c) != 119 || len(pad) != 59 {
				t.Fatalf("text %v, id %d: server (%d, %q, %q), client (%d, %q, %q)", text, id, k, c, pad, kOf(2, id), cOf(2, id), padOf(2, id))
			}
			n++
		}
		if err := rows.Err(); err != nil || n != 50 {
			t.Fatalf("text %v: %d rows, %v", text, n, err)
		}
	}
}

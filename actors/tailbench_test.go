package actors

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/dmnode/dmnode/core/schema"
	"github.com/dmnode/dmnode/jetstream"
	"github.com/dmnode/dmnode/tests/harness"
)

// BenchmarkTailEvents measures the tailer's CPU per binlog event without a
// live replication stream. A MariaDB writes a backlog once, of the
// incremental bench's shape (sysbench's table; per round single-row and
// 10-row inserts, updates and deletes, 33 row events in 5 transactions)
// plus one INSERT…SELECT; its binlog file is kept in memory. Each
// iteration splits the file into events, each in a buffer of its own as
// the syncer reads them, and
//
//   - parse: parses them as the tailer's syncer does;
//   - tail: parses them and folds them into a fresh tailRun, which
//     converts the rows, batches and encodes them and publishes to a relay
//     that discards.
//
// Besides ns/op it reports, per row event, the process's CPU time (user
// and system, garbage collection included: the figure to compare on a
// shared machine) and allocations. Run it alone:
//
//	go test -run '^$' -bench TailEvents -benchtime 5x -count 6 ./actors/
func BenchmarkTailEvents(b *testing.B) {
	bl := tailBacklog(b)
	b.Run("parse", func(b *testing.B) {
		benchTail(b, bl, func(p *replication.BinlogParser) func(*replication.BinlogEvent) {
			return func(*replication.BinlogEvent) {}
		})
	})
	b.Run("tail", func(b *testing.B) {
		var r *tailRun
		benchTail(b, bl, func(p *replication.BinlogParser) func(*replication.BinlogEvent) {
			r = bl.run()
			return func(ev *replication.BinlogEvent) {
				if err := r.handle(context.Background(), ev); err != nil {
					b.Fatal(err)
				}
			}
		})
		if r.relay.(*discardRelay).msgs == 0 {
			b.Fatal("nothing published")
		}
	})
}

// benchTail parses the backlog b.N times, each event passed to the
// function each iteration's setup returns.
func benchTail(b *testing.B, bl *backlogFile, setup func(*replication.BinlogParser) func(*replication.BinlogEvent)) {
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	for range b.N {
		p := replication.NewBinlogParser()
		// As syncerConfig sets up the syncer's parser.
		p.SetFlavor("mariadb")
		p.SetUseDecimal(true)
		p.SetTimestampStringLocation(time.UTC)
		p.SetRowsEventDecodeFunc(decodeRows)
		on := setup(p)
		data := bl.data[4:] // after the magic
		for len(data) > 0 {
			size := int(binary.LittleEndian.Uint32(data[9:13]))
			ev, err := p.Parse(append([]byte(nil), data[:size]...))
			if err != nil {
				b.Fatal(err)
			}
			on(ev)
			data = data[size:]
		}
	}
	b.StopTimer()
	n := float64(bl.rows) * float64(b.N)
	b.ReportMetric((cpuTime()-cpu0).Seconds()*1e9/n, "cpu-ns/row")
	b.ReportMetric(n/b.Elapsed().Seconds(), "rows/s")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// backlogFile is a recorded binlog file and the schemas at its start.
type backlogFile struct {
	data    []byte
	rows    int // row changes in it
	tracker *schema.Tracker
}

// run returns a tailRun at the file's start that publishes to a relay
// that discards.
func (bl *backlogFile) run() *tailRun {
	return &tailRun{
		t:        &Tailer{env: Env{Epoch: 1, Log: slog.New(slog.DiscardHandler)}, source: "s1"},
		log:      slog.New(slog.DiscardHandler),
		tracker:  bl.tracker,
		cp:       TailCheckpoint{Flavor: "mariadb"},
		relay:    &discardRelay{},
		gate:     newRelayGate(math.MaxInt64),
		lastSave: time.Now().Add(24 * time.Hour), // no checkpoint
		schemas:  jetstream.NewMemSchemas(),
		guessed:  map[schema.TableRef]bool{},
	}
}

var (
	tailBacklogOnce sync.Once
	tailBacklogFile *backlogFile
	tailBacklogErr  error
)

// Backlog size: rounds of 33 row events, then the INSERT…SELECT's rows.
const (
	tailBenchBase   = 10_000
	tailBenchRounds = 1_500
	tailBenchBulk   = 30_000
)

func tailBacklog(b *testing.B) *backlogFile {
	b.Helper()
	if tailBacklogFile != nil || tailBacklogErr != nil {
		if tailBacklogErr != nil {
			b.Fatal(tailBacklogErr)
		}
		return tailBacklogFile
	}
	s := harness.StartMariaDB(b, harness.Options{ServerID: 7})
	tailBacklogOnce.Do(func() { tailBacklogFile, tailBacklogErr = recordBacklog(b, s) })
	if tailBacklogErr != nil {
		b.Fatal(tailBacklogErr)
	}
	return tailBacklogFile
}

// sbCols computes sysbench's c (119 characters) and pad (59) from an id
// expression, on the server.
func sbCols(id string) string {
	md5 := func(e string) string { return "MD5(" + e + ")" }
	return fmt.Sprintf("(%[1]s*7919) %% 1000003, CONCAT(%[2]s,'-',%[3]s,'-',%[4]s,'-',LEFT(%[5]s,20)), CONCAT(%[6]s,'-',LEFT(%[7]s,26))",
		id, md5(id), md5(id+"+1"), md5(id+"*2+1"), md5(id+"*3+1"), md5(id+"+7"), md5(id+"*5+1"))
}

func recordBacklog(b *testing.B, s *harness.Server) (*backlogFile, error) {
	ctx := context.Background()
	db := s.DB(b)
	db.SetMaxOpenConns(1)
	for _, q := range []string{
		"CREATE DATABASE bench",
		`CREATE TABLE bench.sbtest1 (id int NOT NULL, k int NOT NULL DEFAULT 0, c char(120) NOT NULL DEFAULT '',
			pad char(60) NOT NULL DEFAULT '', PRIMARY KEY (id), KEY k_1 (k))`,
		fmt.Sprintf("INSERT INTO bench.sbtest1 SELECT seq, %s FROM bench.seq_1_to_%d", sbCols("seq"), tailBenchBase),
		"FLUSH BINARY LOGS",
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return nil, fmt.Errorf("%s: %w", q, err)
		}
	}
	var file string
	var rows int
	var pos int64
	var skip1, skip2 any
	if err := db.QueryRowContext(ctx, "SHOW MASTER STATUS").Scan(&file, &pos, &skip1, &skip2); err != nil {
		return nil, err
	}
	tr, err := LoadSchemas(ctx, db, "mariadb")
	if err != nil {
		return nil, err
	}
	// The rounds, as tests/bench's mixer writes them, the bulk insert in
	// the middle.
	next, del := tailBenchBase+1, tailBenchBase+1
	ins := func(q *strings.Builder, from, to int) {
		fmt.Fprintf(q, "INSERT INTO bench.sbtest1 SELECT seq, %s FROM bench.seq_%d_to_%d;", sbCols("seq"), from, to)
	}
	rnd := uint64(1)
	rand := func(n int) int { rnd = rnd*6364136223846793005 + 1442695040888963407; return int(rnd>>33) % n }
	var q strings.Builder
	for round := range tailBenchRounds {
		if round == tailBenchRounds/2 {
			q.Reset()
			ins(&q, 50_000_001, 50_000_000+tailBenchBulk)
			if _, err := db.ExecContext(ctx, "SET SESSION max_statement_time=0"); err != nil {
				return nil, err
			}
			if _, err := db.ExecContext(ctx, strings.TrimSuffix(q.String(), ";")); err != nil {
				return nil, err
			}
		}
		q.Reset()
		ins(&q, next, next)
		next++
		fmt.Fprintf(&q, "UPDATE bench.sbtest1 SET k=k+1, c=REVERSE(c) WHERE id=%d;", 1+rand(tailBenchBase))
		fmt.Fprintf(&q, "DELETE FROM bench.sbtest1 WHERE id=%d;BEGIN;", del)
		del++
		ins(&q, next, next+9)
		next += 10
		lo := 1 + rand(tailBenchBase-9)
		fmt.Fprintf(&q, "UPDATE bench.sbtest1 SET k=k+1 WHERE id BETWEEN %d AND %d;", lo, lo+9)
		fmt.Fprintf(&q, "DELETE FROM bench.sbtest1 WHERE id BETWEEN %d AND %d;COMMIT;BEGIN", del, del+4)
		del += 5
		for range 5 {
			fmt.Fprintf(&q, ";UPDATE bench.sbtest1 SET k=k+1, pad=REVERSE(pad) WHERE id=%d", 1+rand(tailBenchBase))
		}
		q.WriteString(";COMMIT")
		if _, err := db.ExecContext(ctx, q.String()); err != nil {
			return nil, err
		}
	}
	if _, err := db.ExecContext(ctx, "FLUSH BINARY LOGS"); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(filepath.Join(s.DataDir, file))
	if err != nil {
		return nil, err
	}
	// The row changes, counted as the parse finds them.
	rows = 0
	if err := replication.NewBinlogParser().ParseFile(filepath.Join(s.DataDir, file), 4, func(ev *replication.BinlogEvent) error {
		if e, ok := ev.Event.(*replication.RowsEvent); ok {
			n := len(e.Rows)
			switch ev.Header.EventType {
			case replication.UPDATE_ROWS_EVENTv1, replication.UPDATE_ROWS_EVENTv2, replication.MARIADB_UPDATE_ROWS_COMPRESSED_EVENT_V1:
				// before and after images
				n /= 2
			}
			rows += n
		}
		return nil
	}); err != nil {
		return nil, err
	}
	b.Logf("backlog: %d row changes, binlog %s of %d bytes", rows, file, len(data))
	return &backlogFile{data: data, rows: rows, tracker: tr}, nil
}

// discardRelay is a relay that takes every message and keeps none.
type discardRelay struct {
	jetstream.Relay
	seq, msgs, bytes uint64
}

func (d *discardRelay) Source() string { return "s1" }

func (d *discardRelay) Publish(_ context.Context, data []byte, _ jetstream.Header, _ uint64) (uint64, error) {
	d.seq++
	d.msgs++
	d.bytes += uint64(len(data))
	return d.seq, nil
}

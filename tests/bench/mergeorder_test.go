package bench

import (
	"bytes"
	"database/sql"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/dmnode/dmnode/tests/harness"
)

// TestMergeOrder measures what merging costs the target, and whether the
// order of the rows changes it: three sources' 300k rows each loaded with
// LOAD DATA … REPLACE in 5,000-row statements, (a) into the merged table
// (key (id, c_source)), each source's two key ranges at once, as loaders
// per source write them; (b) into the merged table in its key's order;
// (c) each source into a table of its own; each on six connections and on
// three. It logs the target's CPU per 100k rows, the redo and binlog it
// wrote, its index page splits and pages created, and checks the counts.
// A measurement, not a test: DMNODE_BENCH=1 only.
func TestMergeOrder(t *testing.T) {
	if os.Getenv("DMNODE_BENCH") != "1" {
		t.Skip("a measurement: DMNODE_BENCH=1")
	}
	const rows, perStmt, conns = 300_000, 5000, 6
	tgt := harness.StartMariaDB(t, harness.Options{ServerID: 100, ExtraArgs: serverArgs})
	db := openDB(t, tgt, "")
	db.SetMaxOpenConns(conns + 1)
	type row struct {
		src, id int
	}
	line := func(b *bytes.Buffer, r row, tag bool) {
		fmt.Fprintf(b, "%d\t%d\t%s\t%s", r.id, kOf(r.src+1, r.id), cOf(r.src+1, r.id), padOf(r.src+1, r.id))
		if tag {
			fmt.Fprintf(b, "\t%s", sourceTag(r.src))
		}
		b.WriteByte('\n')
	}
	type stmt struct {
		table string
		rows  []row
	}
	var mu sync.Mutex // guards n
	n := 0
	run := func(mode string, plan [][]stmt, merged bool) (wall, cpu float64) {
		execAll(t, db, "DROP DATABASE IF EXISTS mo", "CREATE DATABASE mo")
		if merged {
			execAll(t, db, fmt.Sprintf(mergedDDL, "mo.m"))
		} else {
			for i := range 3 {
				execAll(t, db, fmt.Sprintf(sbtestDDL, fmt.Sprintf("mo.s%d", i)))
			}
		}
		execAll(t, db, "SET GLOBAL innodb_monitor_enable = 'module_index'")
		st0 := innodbCounters(t, db)
		_, cpu0, _ := procStats(tgt.Pid())
		start := time.Now()
		var wg sync.WaitGroup
		errs := make(chan error, len(plan))
		for _, queue := range plan {
			wg.Go(func() {
				for _, s := range queue {
					var b bytes.Buffer
					for _, r := range s.rows {
						line(&b, r, merged)
					}
					mu.Lock()
					n++
					name := fmt.Sprintf("mo%d", n)
					mu.Unlock()
					data := b.Bytes()
					mysql.RegisterReaderHandler(name, func() io.Reader { return bytes.NewReader(data) })
					cols := "id, k, c, pad"
					if merged {
						cols += ", c_source"
					}
					_, err := db.Exec(fmt.Sprintf("LOAD DATA LOCAL INFILE 'Reader::%s' REPLACE INTO TABLE %s (%s)", name, s.table, cols))
					mysql.DeregisterReaderHandler(name)
					if err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		wall = time.Since(start).Seconds()
		_, cpu1, _ := procStats(tgt.Pid())
		var count int
		q := "SELECT COUNT(*) FROM mo.m"
		if !merged {
			q = "SELECT (SELECT COUNT(*) FROM mo.s0) + (SELECT COUNT(*) FROM mo.s1) + (SELECT COUNT(*) FROM mo.s2)"
		}
		if err := db.QueryRow(q).Scan(&count); err != nil || count != 3*rows {
			t.Fatalf("%s: %d rows, %v", mode, count, err)
		}
		t.Logf("%-12s %.1f s, %.0f rows/s, target %.3f CPU-s per 100k rows", mode, wall, 3*rows/wall, (cpu1-cpu0)/3/rows*1e5)
		st1 := innodbCounters(t, db)
		t.Logf("%-12s redo %d MiB, binlog %d MiB, %d page splits, %d pages created", "", (st1["INNODB_OS_LOG_WRITTEN"]-st0["INNODB_OS_LOG_WRITTEN"])>>20,
			(st1["BINLOG_BYTES_WRITTEN"]-st0["BINLOG_BYTES_WRITTEN"])>>20, st1["index_page_splits"]-st0["index_page_splits"],
			st1["INNODB_PAGES_CREATED"]-st0["INNODB_PAGES_CREATED"])
		return wall, cpu1 - cpu0
	}
	// Per source, two key ranges (the dump's two chunks), each a queue.
	bySource := func(table func(src int) string) [][]stmt {
		var plan [][]stmt
		for src := range 3 {
			for _, r := range [][2]int{{1, rows / 2}, {rows/2 + 1, rows}} {
				var q []stmt
				for from := r[0]; from <= r[1]; from += perStmt {
					s := stmt{table: table(src)}
					for id := from; id < from+perStmt && id <= r[1]; id++ {
						s.rows = append(s.rows, row{src, id})
					}
					q = append(q, s)
				}
				plan = append(plan, q)
			}
		}
		return plan
	}
	// The merged key's order: (id, source), cut into statements, dealt
	// round-robin to the connections of two key ranges.
	keyOrder := func() [][]stmt {
		plan := make([][]stmt, conns)
		k := 0
		for _, r := range [][2]int{{1, rows / 2}, {rows/2 + 1, rows}} {
			var s stmt
			for id := r[0]; id <= r[1]; id++ {
				for src := range 3 {
					s.rows = append(s.rows, row{src, id})
				}
				if len(s.rows) >= perStmt || id == r[1] {
					s.table = "mo.m"
					plan[k%(conns/2)+(conns/2)*boolInt(r[0] > 1)] = append(plan[k%(conns/2)+(conns/2)*boolInt(r[0] > 1)], s)
					k++
					s = stmt{}
				}
			}
		}
		return plan
	}
	// fewer joins the queues pairwise: half the connections.
	fewer := func(plan [][]stmt) [][]stmt {
		var out [][]stmt
		for i := 0; i < len(plan); i += 2 {
			out = append(out, append(slices.Clone(plan[i]), plan[i+1]...))
		}
		return out
	}
	for round := range 3 {
		t.Logf("round %d", round+1)
		run("by source", bySource(func(int) string { return "mo.m" }), true)
		run("by source/3", fewer(bySource(func(int) string { return "mo.m" })), true)
		run("key order", keyOrder(), true)
		run("key order/3", fewer(keyOrder()), true)
		run("split", bySource(func(src int) string { return fmt.Sprintf("mo.s%d", src) }), false)
		run("split/3", fewer(bySource(func(src int) string { return fmt.Sprintf("mo.s%d", src) })), false)
	}
}

// innodbCounters reads the target's counters of what a load wrote: redo
// and binlog bytes, index page splits (INNODB_METRICS, module_index
// enabled) and pages created. Unlike CPU time on a shared host they do not
// vary from run to run.
func innodbCounters(t *testing.T, db *sql.DB) map[string]int64 {
	out := map[string]int64{}
	rows, err := db.Query("SELECT NAME, COUNT FROM information_schema.INNODB_METRICS WHERE NAME = 'index_page_splits' " +
		"UNION ALL SELECT VARIABLE_NAME, VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS " +
		"WHERE VARIABLE_NAME IN ('INNODB_OS_LOG_WRITTEN', 'BINLOG_BYTES_WRITTEN', 'INNODB_PAGES_CREATED')")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var v int64
		if err := rows.Scan(&k, &v); err != nil {
			t.Fatal(err)
		}
		out[k] = v
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

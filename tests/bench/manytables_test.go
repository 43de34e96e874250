package bench

import (
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/dmnode/dmnode/tests/harness"
)

// The manytables workload copies an estate of many small tables (3 rows
// each, spread over manySchemas schemas of source 1) with a full-mode
// task at the task's defaults: the copy's wall time and dmnode's peak RSS
// at that count of tables, which checkpoints of one value per table or a
// lock held per table would make grow.

const manySchemas = 10

func manyTable(i int) (db, table string) {
	return fmt.Sprintf("bench_many_%02d", i%manySchemas), fmt.Sprintf("t%05d", i)
}

// prepareManyTables creates the tables on source 1, 250 to a round trip on
// four connections.
func (e *env) prepareManyTables(t *testing.T) {
	start := time.Now()
	db := e.srcDB[0]
	for i := range manySchemas {
		execAll(t, db, fmt.Sprintf("CREATE DATABASE IF NOT EXISTS bench_many_%02d", i))
	}
	sdb := openDB(t, e.sources[0], "")
	var g errgroup.Group
	g.SetLimit(4)
	var b strings.Builder
	for i := range e.cfg.ManyTables {
		s, tb := manyTable(i)
		fmt.Fprintf(&b, "CREATE TABLE %s.%s (id int NOT NULL PRIMARY KEY, v varchar(40)); INSERT INTO %s.%s VALUES (1, 'a%d'), (2, 'b%d'), (3, NULL);", s, tb, s, tb, i, i)
		if (i+1)%250 == 0 || i == e.cfg.ManyTables-1 {
			q := b.String()
			b.Reset()
			g.Go(func() error {
				if _, err := sdb.Exec(q); err != nil {
					return fmt.Errorf("create tables: %w", err)
				}
				return nil
			})
		}
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	t.Logf("manytables: created %d tables of 3 rows in %v", e.cfg.ManyTables, time.Since(start).Round(time.Millisecond))
}

// dmnodeManyTables copies the tables with a fresh `dmnode dev`, from task
// submit until the task is done, and compares every table.
func (e *env) dmnodeManyTables(t *testing.T, name string) copyStats {
	for i := range manySchemas {
		execAll(t, e.tgtDB, fmt.Sprintf("DROP DATABASE IF EXISTS bench_many_%02d", i))
	}
	execAll(t, e.tgtDB, "DROP DATABASE IF EXISTS dmnode_meta")
	d := startDev(t, e.bin)
	d.cli(t, "source", "add", e.srcYAML[0])
	task := writeFile(t, t.TempDir(), "task.yaml", fmt.Sprintf(`name: %s
task-mode: full
target-database:
  host: 127.0.0.1
  port: %d
  user: root
  password: ""
mysql-instances:
  - source-id: %q
    block-allow-list: many
block-allow-list:
  many:
    do-dbs: ["~^bench_many_"]
`, name, e.target.Port, sourceID(0)))
	start := time.Now()
	d.cli(t, "task", "submit", task)
	d.waitStage(t, name, "done", 30*time.Minute)
	wall := time.Since(start).Seconds()
	peak, _, err := procStats(d.proc.Pid())
	if err != nil {
		t.Fatal(err)
	}
	e.verifyManyTables(t)
	return copyStats{wall: wall, rows: float64(3 * e.cfg.ManyTables), peakMiB: peak}
}

// verifyManyTables compares every table's rows, 250 tables to a query.
func (e *env) verifyManyTables(t *testing.T) {
	t.Helper()
	for from := 0; from < e.cfg.ManyTables; from += 250 {
		var parts []string
		for i := from; i < min(from+250, e.cfg.ManyTables); i++ {
			s, tb := manyTable(i)
			parts = append(parts, fmt.Sprintf("SELECT '%s.%s', id, IFNULL(v, '<null>') FROM %s.%s", s, tb, s, tb))
		}
		q := strings.Join(parts, " UNION ALL ")
		src, err := manyRows(e.srcDB[0], q)
		if err != nil {
			t.Fatal(err)
		}
		dst, err := manyRows(e.tgtDB, q)
		if err != nil {
			t.Fatal(err)
		}
		if diff := harness.SameRows(src, dst); diff != "" {
			t.Fatalf("tables %d..%d differ: %s", from, min(from+250, e.cfg.ManyTables)-1, diff)
		}
	}
}

func manyRows(db *sql.DB, q string) ([][]string, error) {
	rows, err := harness.QueryRows(db, q)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(rows, func(a, b []string) int { return strings.Compare(strings.Join(a, "\x00"), strings.Join(b, "\x00")) })
	return rows, nil
}

// runManyTables measures the copy of the many tables.
func (e *env) runManyTables(t *testing.T) {
	e.prepareManyTables(t)
	var runs []copyStats
	for r := range e.cfg.SlowRuns {
		t.Run(fmt.Sprintf("dmnode/%d", r+1), func(t *testing.T) {
			s := e.dmnodeManyTables(t, fmt.Sprintf("many-%d", r+1))
			t.Logf("dmnode, %d tables: %.1fs, %.0f tables/s, peak RSS %.0f MiB", e.cfg.ManyTables, s.wall, float64(e.cfg.ManyTables)/s.wall, s.peakMiB)
			runs = append(runs, s)
		})
		if t.Failed() {
			t.FailNow()
		}
	}
	pick := func(f func(copyStats) float64) []float64 {
		var v []float64
		for _, r := range runs {
			v = append(v, f(r))
		}
		return v
	}
	e.rep.add("manytables", "dmnode", "copy wall", "s", lowerIsBetter, pick(func(c copyStats) float64 { return c.wall })...).Note =
		fmt.Sprintf("%d tables of 3 rows in %d schemas of one source, task-mode full at the task's defaults", e.cfg.ManyTables, manySchemas)
	e.rep.add("manytables", "dmnode", "tables/s", "tables/s", higherIsBetter, pick(func(c copyStats) float64 { return c.rows / 3 / c.wall })...)
	e.rep.add("manytables", "dmnode", "peak RSS", "MiB", lowerIsBetter, pick(func(c copyStats) float64 { return c.peakMiB })...)
}

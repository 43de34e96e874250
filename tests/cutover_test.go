package tests

import (
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/dmnode/dmnode/tests/harness"
)

// `dmnode task cutover` under a steady write load from an application
// user without SUPER (root ignores read_only on MariaDB): a cutover that
// fails (the target was tampered with, or --freeze-timeout passed)
// unfreezes the sources and says why; a dry run passes without freezing; the cutover freezes the
// sources, the writers see read-only errors and stop, the report gives
// the positions, rows, checksums, AUTO_INCREMENTs and the time writes
// were frozen; the target equals the sources row by row; the task is
// stopped; an insert into the merged table on the target succeeds with an
// id above every migrated one; --abort makes the sources writable.
func TestCutoverUnderLoad(t *testing.T) {
	c := newCluster(t, 2)
	c.seed(256)
	var apps []*sql.DB
	for _, s := range c.sources {
		s.Exec(t, "INSERT INTO dmtest.t1 (id, c, port) VALUES (900000, 'fixed', 0)",
			"CREATE USER app@'127.0.0.1' IDENTIFIED BY 'app'",
			// UPDATE and DELETE with a WHERE clause need SELECT too.
			"GRANT SELECT, INSERT, UPDATE, DELETE ON dmtest.* TO app@'127.0.0.1'")
		db, err := sql.Open("mysql", fmt.Sprintf("app:app@tcp(127.0.0.1:%d)/?multiStatements=true&interpolateParams=true", s.Port))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		apps = append(apps, db)
	}
	c.target.Exec(t, "CREATE DATABASE dmtest",
		"CREATE TABLE dmtest.t (id bigint unsigned NOT NULL AUTO_INCREMENT, c char(32), port int, c_source varchar(32) NOT NULL, PRIMARY KEY (id, c_source))")
	c.addSourcesGTID(true)
	task := c.writeFile("cut.yaml", c.taskYAML("cut", func(int) string {
		return "    block-allow-list: \"instance\"\n    route-rules: [\"merge\"]\n"
	}, `block-allow-list:
  instance:
    do-dbs: ["dmtest"]
routes:
  merge:
    schema-pattern: dmtest
    table-pattern: t*
    target-schema: dmtest
    target-table: t
    extract-source:
      source-regexp: "mysql-replica-(.*)"
      target-column: c_source
`))
	c.dmnode("task", "submit", task)
	c.dmnode("task", "wait", "cut", "--stage", "sync", "--timeout", "3m")

	// A failed cutover unfreezes the sources and says why.
	c.target.Exec(t, "UPDATE dmtest.t SET c = 'tampered' WHERE id = 900000 AND c_source = '02'")
	out, code := c.runCLI("task", "cutover", "cut")
	t.Logf("cutover of a tampered target: exit %d\n%s", code, out)
	if code == 0 || !strings.Contains(out, "not equal") || !strings.Contains(out, "the sources are writable again") {
		t.Fatalf("cutover of a tampered target: exit %d:\n%s", code, out)
	}
	for i, s := range c.sources {
		if ro := harnessRows(t, s, "SELECT @@GLOBAL.read_only")[0][0]; ro != "0" {
			t.Fatalf("source %d is read-only after a failed cutover", i+1)
		}
	}
	c.target.Exec(t, "UPDATE dmtest.t SET c = 'fixed' WHERE id = 900000 AND c_source = '02'")

	// Writes are never frozen longer than --freeze-timeout: a cutover
	// that cannot finish in time is undone.
	out, code = c.runCLI("task", "cutover", "cut", "--freeze-timeout", "1ms")
	t.Logf("cutover with a 1ms freeze timeout: exit %d\n%s", code, out)
	if code == 0 || !strings.Contains(out, "within the freeze timeout of 1ms") || !strings.Contains(out, "the sources are writable again") {
		t.Fatalf("cutover with a 1ms freeze timeout: exit %d:\n%s", code, out)
	}
	for i, s := range c.sources {
		if ro := harnessRows(t, s, "SELECT @@GLOBAL.read_only")[0][0]; ro != "0" {
			t.Fatalf("source %d is read-only after a timed-out cutover", i+1)
		}
	}

	w := startAppWriters(apps, 11)
	w.waitOK(t, 300)
	out, code = c.runCLI("task", "cutover", "cut", "--dry-run")
	t.Logf("dry run:\n%s", out)
	if code != 0 || !strings.Contains(out, "dry run passed") || !strings.Contains(out, "would be") {
		t.Fatalf("dry run: exit %d:\n%s", code, out)
	}
	w.waitOK(t, w.okCount()+100) // not frozen

	out, code = c.runCLI("task", "cutover", "cut", "--freeze-timeout", "90s")
	t.Logf("cutover:\n%s", out)
	if code != 0 || !strings.Contains(out, "cutover done") || !strings.Contains(out, "writes frozen for") ||
		!strings.Contains(out, "raised to") || !strings.Contains(out, "next: point the application at the target") {
		t.Fatalf("cutover: exit %d:\n%s", code, out)
	}
	w.wait(t) // every writer saw a read-only error and stopped
	for i, s := range c.sources {
		if ro := harnessRows(t, s, "SELECT @@GLOBAL.read_only")[0][0]; ro != "1" {
			t.Fatalf("source %d is writable after the cutover", i+1)
		}
	}
	if st := c.dmnode("task", "status", "cut"); !strings.Contains(st, "stopped") {
		t.Errorf("task not stopped after the cutover:\n%s", st)
	}
	c.expectEqual("dmtest.t", func(i int) string {
		return fmt.Sprintf("SELECT id, c, port, '%02d' FROM dmtest.t1", i+1)
	}, "SELECT id, c, port, c_source FROM dmtest.t")

	// The application's first insert on the target gets a fresh id.
	maxID := harnessRows(t, c.target, "SELECT MAX(id) FROM dmtest.t")[0][0]
	tdb := c.target.DB(t)
	res, err := tdb.Exec("INSERT INTO dmtest.t (c, port, c_source) VALUES ('after cutover', 0, '01')")
	if err != nil {
		t.Fatalf("insert into the merged table after the cutover: %v", err)
	}
	id, _ := res.LastInsertId()
	if largest, err := strconv.ParseInt(maxID, 10, 64); err != nil || id <= largest {
		t.Errorf("new id %d is not above the largest migrated id %s (%v)", id, maxID, err)
	}

	out, code = c.runCLI("task", "cutover", "cut", "--abort")
	if code != 0 || !strings.Contains(out, "aborted") {
		t.Fatalf("abort: exit %d:\n%s", code, out)
	}
	if _, err := apps[0].Exec("INSERT INTO dmtest.t1 (c, port) VALUES ('after abort', 0)"); err != nil {
		t.Errorf("the application cannot write after --abort: %v", err)
	}
}

// appWriters write to dmtest.t1 as the application user until the source
// turns read-only: a writer stops at its first read-only error; any other
// error fails the test.
type appWriters struct {
	n        int // writers
	wg       sync.WaitGroup
	mu       sync.Mutex
	ok       int
	readOnly int
	errs     []error
}

func startAppWriters(dbs []*sql.DB, seed uint64) *appWriters {
	w := &appWriters{n: len(dbs)}
	for i, db := range dbs {
		rng := rand.New(rand.NewPCG(seed, uint64(i)))
		w.wg.Go(func() { w.run(db, rng) })
	}
	return w
}

func (w *appWriters) run(db *sql.DB, rng *rand.Rand) {
	for range 200000 {
		var err error
		id := rng.IntN(300) + 1
		switch op := rng.IntN(4); op {
		case 0, 1:
			_, err = db.Exec("INSERT INTO dmtest.t1 (c, port) VALUES (?, 1)", fmt.Sprintf("a%d", rng.IntN(1e6)))
		case 2:
			_, err = db.Exec("UPDATE dmtest.t1 SET c = ? WHERE id = ?", fmt.Sprintf("u%d", rng.IntN(1e6)), id)
		default:
			_, err = db.Exec("DELETE FROM dmtest.t1 WHERE id = ?", id)
		}
		var me *mysql.MySQLError
		w.mu.Lock()
		switch {
		case err == nil:
			w.ok++
		case errors.As(err, &me) && me.Number == 1290: // running with --read-only
			w.readOnly++
			w.mu.Unlock()
			return
		default:
			w.errs = append(w.errs, err)
			w.mu.Unlock()
			return
		}
		w.mu.Unlock()
		time.Sleep(3 * time.Millisecond) // pacing, not synchronisation
	}
}

func (w *appWriters) okCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ok
}

// waitOK waits until the writers performed n writes, none failing.
func (w *appWriters) waitOK(t *testing.T, n int) {
	t.Helper()
	harness.Eventually(t, 2*time.Minute, func() error {
		w.mu.Lock()
		defer w.mu.Unlock()
		if len(w.errs) > 0 || w.readOnly > 0 {
			t.Fatalf("writers failed: %d read-only errors, errors %v", w.readOnly, w.errs)
		}
		if w.ok < n {
			return fmt.Errorf("%d writes of %d", w.ok, n)
		}
		return nil
	})
}

// wait waits for every writer to stop and checks that each stopped on a
// read-only error.
func (w *appWriters) wait(t *testing.T) {
	t.Helper()
	w.wg.Wait()
	if len(w.errs) > 0 {
		t.Fatalf("%d writes failed, first: %v", len(w.errs), w.errs[0])
	}
	if w.readOnly != w.n {
		t.Fatalf("%d of %d writers stopped on a read-only error", w.readOnly, w.n)
	}
	t.Logf("application writers: %d writes, then %d read-only errors", w.ok, w.readOnly)
}

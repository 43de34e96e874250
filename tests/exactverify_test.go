package tests

import (
	"database/sql"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dmnode/dmnode/tests/harness"
)

// `dmnode task verify` reads source and target at one position while the
// writes go on: under a steady load on two sources (a merged keyed table
// and a merged table without a key) it finds no difference in full mode,
// in fast mode and in many small steps (one position each); a row changed
// on the target by hand is found, its key named, in the keyed table, and
// by its values (one missing, one extra) in the keyless one, still under
// load. The test ends with the row-by-row comparison of both tables.
func TestExactVerifyUnderLoad(t *testing.T) {
	c := newCluster(t, 2)
	c.seed(256)
	for _, s := range c.sources {
		s.Exec(t, "USE dmtest",
			// A row the writers never touch, for the tampering below.
			"INSERT INTO t1 (id, c, port) VALUES (900000, 'fixed', 0)",
			"CREATE TABLE klog (k int, v varchar(20))",
			"INSERT INTO klog SELECT seq % 10, CONCAT('v', seq % 4) FROM seq_1_to_60",
			"INSERT INTO klog VALUES (-1, 'fixed')")
	}
	task := c.extractSourceTask("exact")
	c.target.Exec(t, "CREATE TABLE dmtest.klog (k int, v varchar(20))")
	c.dmnode("task", "submit", task)
	c.dmnode("task", "wait", "exact", "--stage", "sync", "--timeout", "3m")
	w := startWriters(t, c.sources, 7)
	kw := startKeylessWriters(t, c.sources, 7)
	waitForOps(t, w, w.count()+300)

	for _, args := range [][]string{nil, {"--fast"}, {"--chunk-rows", "400", "--step-time", "1ms"}} {
		rep, code := c.verify("exact", args...)
		t.Logf("verify %v under load: exit %d, %s", args, code, rep.summary())
		if code != 0 || !rep.Equal {
			t.Fatalf("verify %v under load: exit %d, want 0:\n%s", args, code, rep.raw)
		}
		if kl := rep.table(t, "dmtest.klog"); kl.Status != "equal" || kl.RowsCompared == 0 || kl.RowsCompared != kl.TargetRowsScanned {
			t.Fatalf("keyless table: %+v\n%s", kl, rep.raw)
		}
	}

	out, code := c.runCLI("task", "verify", "exact")
	t.Logf("task verify under load:\n%s", out)
	if code != 0 || !strings.Contains(out, "summary: equal") {
		t.Fatalf("human verify under load: exit %d:\n%s", code, out)
	}

	// Tamper with the target by hand, the writes still going on.
	c.target.Exec(t,
		"UPDATE dmtest.t SET c = 'tampered' WHERE id = 900000 AND c_source = '01'",
		"UPDATE dmtest.klog SET v = 'tampered' WHERE k = -1 LIMIT 1")
	waitForOps(t, w, w.count()+100)
	for _, args := range [][]string{nil, {"--fast"}, {"--chunk-rows", "400", "--step-time", "1ms"}} {
		rep, code := c.verify("exact", args...)
		t.Logf("verify %v after tampering: exit %d, %s", args, code, rep.summary())
		if code != 3 {
			t.Fatalf("verify %v after tampering: exit %d, want 3:\n%s", args, code, rep.raw)
		}
		rep.expectKeys(t, "dmtest.t", nil, nil, [][]string{{"900000", "01"}})
		rep.expectKeys(t, "dmtest.klog", [][]string{{"-1", "fixed"}}, [][]string{{"-1", "tampered"}}, nil)
	}
	out, code = c.runCLI("task", "verify", "exact")
	t.Logf("task verify:\n%s", out)
	if code != 3 || !strings.Contains(out, "different: (900000, 01)") || !strings.Contains(out, "missing:   (-1, fixed)") || !strings.Contains(out, "extra:     (-1, tampered)") ||
		!strings.Contains(out, "replication held for at most") {
		t.Fatalf("human verify: exit %d, keys not named:\n%s", code, out)
	}

	w.stop(t)
	kw.stop(t)
	// The repair runs while the applier still catches up on the target: a
	// deadlock with it (the keyless table's UPDATE scans every row) is
	// retried, as any client of the target does.
	tdb := c.target.DB(t)
	for _, q := range []string{
		"UPDATE dmtest.t SET c = 'fixed' WHERE id = 900000 AND c_source = '01'",
		"UPDATE dmtest.klog SET v = 'fixed' WHERE k = -1 AND v = 'tampered'",
	} {
		if err := harness.Within(30*time.Second, func() error { _, err := tdb.Exec(q); return err }); err != nil {
			t.Fatalf("repair %s: %v", q, err)
		}
	}
	c.expectEqual("dmtest.t", func(i int) string {
		return fmt.Sprintf("SELECT id, c, port, '%02d' FROM dmtest.t1", i+1)
	}, "SELECT id, c, port, c_source FROM dmtest.t")
	c.expectEqual("dmtest.klog", func(int) string { return "SELECT k, v FROM dmtest.klog" }, "SELECT k, v FROM dmtest.klog")
	rep, code := c.verify("exact")
	if code != 0 || !rep.Equal {
		t.Fatalf("verify after the repair: exit %d:\n%s", code, rep.raw)
	}
}

// keylessWriters insert, update and delete rows of dmtest.klog, a table
// without a key holding duplicates, on every source until stopped; they
// never touch rows with k < 0.
type keylessWriters struct {
	stopCh chan struct{}
	wg     sync.WaitGroup
	mu     sync.Mutex
	errs   []error
	ops    int
}

func startKeylessWriters(t *testing.T, sources []*harness.Server, seed uint64) *keylessWriters {
	w := &keylessWriters{stopCh: make(chan struct{})}
	for i, s := range sources {
		db := s.DB(t)
		rng := rand.New(rand.NewPCG(seed, uint64(100+i)))
		w.wg.Go(func() { w.run(db, rng) })
	}
	return w
}

func (w *keylessWriters) run(db *sql.DB, rng *rand.Rand) {
	for {
		select {
		case <-w.stopCh:
			return
		default:
		}
		var err error
		k, v := rng.IntN(10), fmt.Sprintf("v%d", rng.IntN(4))
		switch op := rng.IntN(3); op {
		case 0:
			_, err = db.Exec("INSERT INTO dmtest.klog VALUES (?, ?)", k, v)
		case 1:
			_, err = db.Exec("UPDATE dmtest.klog SET v = ? WHERE k = ? LIMIT 1", v, k)
		default:
			_, err = db.Exec("DELETE FROM dmtest.klog WHERE k = ? LIMIT 1", k)
		}
		w.mu.Lock()
		w.ops++
		if err != nil {
			w.errs = append(w.errs, err)
		}
		w.mu.Unlock()
		select {
		case <-w.stopCh:
			return
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func (w *keylessWriters) stop(t *testing.T) {
	close(w.stopCh)
	w.wg.Wait()
	if len(w.errs) > 0 {
		t.Fatalf("%d keyless writes failed, first: %v", len(w.errs), w.errs[0])
	}
	t.Logf("keyless writers performed %d operations", w.ops)
}

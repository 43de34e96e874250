package tests

import (
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dmnode/dmnode/tests/harness"
)

// The bank of the atomicity test: two tables of accounts; every upstream
// transaction moves money between two accounts (of one table or of both),
// opens an account with money from another, or closes one into another,
// so the sum of all balances never changes.
const (
	bankAccounts = 200
	bankBalance  = 1000
	bankTotal    = 2 * bankAccounts * bankBalance
	bankSum      = "SELECT (SELECT COALESCE(SUM(balance), 0) FROM bank.acct_a) + (SELECT COALESCE(SUM(balance), 0) FROM bank.acct_b)"
)

// atomicTask replicates database bank with 16 workers.
func (c *cluster) atomicTask(name string) string {
	return c.writeFile(name+".yaml", fmt.Sprintf(`name: %s
task-mode: all
target-database:
  host: 127.0.0.1
  port: %d
  user: root
  password: ""
mysql-instances:
  - source-id: %q
    block-allow-list: only
    syncer-config-name: wide
block-allow-list:
  only:
    do-dbs: [bank]
syncers:
  wide:
    worker-count: 16
`, name, c.target.Port, sourceID(0)))
}

// Upstream transactions are whole on the target while 16 workers apply
// them and across SIGKILLs of the node: a reader of the target checks,
// continuously, that the balances sum to the constant every transaction
// keeps, and never sees another sum. The test ends in a row-by-row
// comparison, and prints the rate of a catch-up (indicative only).
func TestAtomicTransactions(t *testing.T) {
	c := newCluster(t, 1)
	s := c.sources[0]
	s.Exec(t, "CREATE DATABASE bank",
		"CREATE TABLE bank.acct_a (id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY, owner varchar(32) NOT NULL, balance bigint NOT NULL, UNIQUE KEY (owner))",
		"CREATE TABLE bank.acct_b (id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY, owner varchar(32) NOT NULL, balance bigint NOT NULL, UNIQUE KEY (owner))",
		fmt.Sprintf("INSERT INTO bank.acct_a (owner, balance) SELECT CONCAT('a', seq), %d FROM bank.seq_1_to_%d", bankBalance, bankAccounts),
		fmt.Sprintf("INSERT INTO bank.acct_b (owner, balance) SELECT CONCAT('b', seq), %d FROM bank.seq_1_to_%d", bankBalance, bankAccounts))
	c.addSources()
	c.dmnode("task", "submit", c.atomicTask("atomic"))
	c.dmnode("task", "wait", "atomic", "--stage", "sync", "--timeout", "2m")

	tdb := c.target.DB(t)
	harness.Eventually(t, 90*time.Second, func() error {
		var sum int64
		if err := tdb.QueryRow(bankSum).Scan(&sum); err != nil {
			return err
		}
		if sum != bankTotal {
			return fmt.Errorf("target holds %d of %d after the load", sum, bankTotal)
		}
		return nil
	})
	rd := startSumReader(tdb)
	bank := startBank(t, s.DB(t), 4, 18)

	// SIGKILL while the applier follows the writers.
	bank.waitOps(t, 1000)
	c.killAndRestart()
	bank.waitOps(t, bank.count()+1000)

	// SIGKILL in the middle of a catch-up: a backlog builds while the node
	// is down, the restarted node applies it with up to 16 workers.
	c.node.Kill(t)
	bank.waitOps(t, bank.count()+2000)
	c.startNode()
	checkpointMoves(t, tdb)
	c.killAndRestart()
	bank.waitOps(t, bank.count()+300)

	// A measured catch-up of a backlog, the writers stopped.
	c.node.Kill(t)
	before := bank.count()
	bank.waitOps(t, before+2000)
	bank.stop(t)
	backlog := bank.count() - before
	want := harnessRows(t, s, "CHECKSUM TABLE bank.acct_a, bank.acct_b")
	c.startNode()
	started := time.Now()
	harness.Eventually(t, 5*time.Minute, func() error {
		got, err := queryRows(tdb, "CHECKSUM TABLE bank.acct_a, bank.acct_b")
		if err != nil {
			return err
		}
		if d := harness.SameRows(want, got); d != "" {
			return fmt.Errorf("target not caught up: %s", d)
		}
		return nil
	})
	took := time.Since(started)
	t.Logf("catch-up of %d upstream transactions after a restart: %s (%.0f txn/s, node start included; indicative only on a shared machine)",
		backlog, took.Round(time.Millisecond), float64(backlog)/took.Seconds())
	t.Logf("task status:\n%s", c.dmnode("task", "status", "atomic"))

	checks, bad, errs := rd.stop()
	if len(errs) > 0 {
		t.Errorf("the reader's queries failed %d times, first: %v", len(errs), errs[0])
	}
	if len(bad) > 0 {
		t.Fatalf("the reader saw the balances sum to another total than %d %d times (of %d reads), first: %s",
			bankTotal, len(bad), checks, bad[0])
	}
	t.Logf("the reader checked the sum %d times, always %d; %d upstream transactions, %d skipped on the source",
		checks, bankTotal, bank.count(), bank.skipped)
	for _, table := range []string{"acct_a", "acct_b"} {
		q := "SELECT id, owner, balance FROM bank." + table + " ORDER BY id"
		c.expectEqual("bank."+table, func(int) string { return q }, q)
	}
}

// checkpointMoves waits until the applier's checkpoint on the target
// changes: the restarted node applies.
func checkpointMoves(t *testing.T, tdb *sql.DB) {
	t.Helper()
	const q = "SELECT binlog_file, binlog_pos FROM dmnode_meta.checkpoint WHERE task = 'atomic'"
	first, err := queryRows(tdb, q)
	if err != nil {
		t.Fatal(err)
	}
	harness.Eventually(t, 2*time.Minute, func() error {
		now, err := queryRows(tdb, q)
		if err != nil {
			return err
		}
		if harness.SameRows(first, now) == "" {
			return errors.New("the checkpoint has not moved yet")
		}
		return nil
	})
}

// sumReader reads the sum of the balances on the target until stopped.
type sumReader struct {
	stopCh chan struct{}
	done   chan struct{}
	checks int
	bad    []string
	errs   []error
}

func startSumReader(db *sql.DB) *sumReader {
	r := &sumReader{stopCh: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		for {
			select {
			case <-r.stopCh:
				return
			default:
			}
			// One statement reads one snapshot of both tables.
			var sum int64
			if err := db.QueryRow(bankSum).Scan(&sum); err != nil {
				r.errs = append(r.errs, err)
				continue
			}
			r.checks++
			if sum != bankTotal {
				r.bad = append(r.bad, fmt.Sprintf("sum %d at %s", sum, time.Now().Format(time.StampMilli)))
			}
		}
	}()
	return r
}

func (r *sumReader) stop() (checks int, bad []string, errs []error) {
	close(r.stopCh)
	<-r.done
	return r.checks, r.bad, r.errs
}

// bankWriters runs transactions on the source that keep the sum.
type bankWriters struct {
	stopCh  chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	ops     int
	skipped int // rolled back: an account gone, a deadlock
	errs    []error
	maxID   map[string]int64 // the largest id opened, by table
}

func startBank(t *testing.T, db *sql.DB, n int, seed uint64) *bankWriters {
	w := &bankWriters{stopCh: make(chan struct{}), maxID: map[string]int64{"bank.acct_a": bankAccounts, "bank.acct_b": bankAccounts}}
	for i := range n {
		rng := rand.New(rand.NewPCG(seed, uint64(i)))
		w.wg.Go(func() { w.run(db, rng, i) })
	}
	return w
}

func (w *bankWriters) run(db *sql.DB, rng *rand.Rand, worker int) {
	for n := 0; ; n++ {
		select {
		case <-w.stopCh:
			return
		default:
		}
		ok, err := w.txn(db, rng, fmt.Sprintf("w%d-%d", worker, n))
		w.mu.Lock()
		switch {
		case err != nil:
			w.errs = append(w.errs, err)
		case ok:
			w.ops++
		default:
			w.skipped++
		}
		w.mu.Unlock()
	}
}

// txn runs one transaction; false when it rolled back on purpose (an
// account it needs is gone) or lost a deadlock.
func (w *bankWriters) txn(db *sql.DB, rng *rand.Rand, owner string) (bool, error) {
	table := func() string { return []string{"bank.acct_a", "bank.acct_b"}[rng.IntN(2)] }
	from, to := table(), table()
	w.mu.Lock()
	fromID, toID := 1+rng.Int64N(w.maxID[from]), 1+rng.Int64N(w.maxID[to])
	w.mu.Unlock()
	tx, err := db.Begin()
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	one := func(q string, args ...any) (bool, error) {
		res, err := tx.Exec(q, args...)
		if err != nil {
			return false, err
		}
		n, err := res.RowsAffected()
		return n == 1, err
	}
	amount := 1 + rng.IntN(50)
	var ok bool
	switch op := rng.IntN(20); {
	case op < 17 || fromID == toID && from == to: // a transfer
		if fromID == toID && from == to {
			return false, nil
		}
		if ok, err = one("UPDATE "+from+" SET balance = balance - ? WHERE id = ?", amount, fromID); err != nil || !ok {
			return false, ignoreDeadlock(err)
		}
		ok, err = one("UPDATE "+to+" SET balance = balance + ? WHERE id = ?", amount, toID)
	case op < 19: // an account opened with money from another
		if ok, err = one("UPDATE "+from+" SET balance = balance - ? WHERE id = ?", amount, fromID); err != nil || !ok {
			return false, ignoreDeadlock(err)
		}
		var res sql.Result
		if res, err = tx.Exec("INSERT INTO "+to+" (owner, balance) VALUES (?, ?)", owner, amount); err != nil {
			return false, ignoreDeadlock(err)
		}
		id, err := res.LastInsertId()
		if err != nil {
			return false, err
		}
		w.mu.Lock()
		w.maxID[to] = max(w.maxID[to], id)
		w.mu.Unlock()
		ok = true
	default: // an account closed into another
		var bal int64
		if err := tx.QueryRow("SELECT balance FROM "+from+" WHERE id = ? FOR UPDATE", fromID).Scan(&bal); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return false, nil
			}
			return false, ignoreDeadlock(err)
		}
		if ok, err = one("UPDATE "+to+" SET balance = balance + ? WHERE id = ?", bal, toID); err != nil || !ok {
			return false, ignoreDeadlock(err)
		}
		ok, err = one("DELETE FROM "+from+" WHERE id = ?", fromID)
	}
	if err != nil || !ok {
		return false, ignoreDeadlock(err)
	}
	if err := tx.Commit(); err != nil {
		return false, ignoreDeadlock(err)
	}
	return true, nil
}

// ignoreDeadlock drops the errors of a transaction that lost a deadlock
// or a lock wait on the source: it rolled back whole.
func ignoreDeadlock(err error) error {
	if err != nil && (strings.Contains(err.Error(), "Deadlock") || strings.Contains(err.Error(), "Lock wait timeout")) {
		return nil
	}
	return err
}

func (w *bankWriters) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ops
}

// waitOps waits until the writers committed n transactions.
func (w *bankWriters) waitOps(t *testing.T, n int) {
	t.Helper()
	harness.Eventually(t, 5*time.Minute, func() error {
		w.mu.Lock()
		defer w.mu.Unlock()
		if len(w.errs) > 0 {
			return nil
		}
		if w.ops < n {
			return fmt.Errorf("writers committed %d of %d transactions", w.ops, n)
		}
		return nil
	})
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.errs) > 0 {
		t.Fatalf("%d source transactions failed, first: %v", len(w.errs), w.errs[0])
	}
}

func (w *bankWriters) stop(t *testing.T) {
	t.Helper()
	close(w.stopCh)
	w.wg.Wait()
	if len(w.errs) > 0 {
		t.Fatalf("%d source transactions failed, first: %v", len(w.errs), w.errs[0])
	}
}

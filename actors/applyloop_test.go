package actors

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/apply"
	"github.com/dmnode/dmnode/core/config"
	"github.com/dmnode/dmnode/core/rules"
	"github.com/dmnode/dmnode/core/schema"
)

// The applier's loop over a fake Target: no MariaDB, no NATS. The fake
// records what each target transaction commits (its statements and its
// checkpoint) and can fail an exec or stop, as a killed process would,
// between the statements and the checkpoint or after the commit.

// fakeCommit is one committed target transaction.
type fakeCommit struct {
	stmts []string
	pos   dmnode.Position
}

type fakeTarget struct {
	// fakeDB is the rest of the target: its DDL, its tables, dmnode's
	// records (applyddl_test.go).
	fakeDB
	rules   *rules.Rules
	uniques map[string][][]int // by target table

	mu       sync.Mutex
	plans    map[string]*rules.TablePlan
	commits  []fakeCommit
	execs    int // Commit and CommitUnit calls
	failExec int // the exec that the target refuses (1-based; 0: none)
	// refuseCheckpoint: a transaction in parts is refused for its size
	// when its checkpoint is written.
	refuseCheckpoint bool
	crashExec        int // the exec stopped after its statements, before the checkpoint
	lostExec         int // the exec that commits, then the process stops
	// afterCommit, when set, is told the checkpoint of each committed
	// target transaction (with mu held).
	afterCommit func(pos dmnode.Position)
}

var errCrash = errors.New("killed")

func (f *fakeTarget) Plan(ctx context.Context, id dmnode.TableID, columns []string, upstream func() *schema.Table) (*rules.TablePlan, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	key := id.String() + "\x00" + strings.Join(columns, "\x00")
	if p, ok := f.plans[key]; ok {
		return p, nil
	}
	p, err := f.rules.Plan(id.Schema, id.Table, columns)
	if err != nil {
		return nil, err
	}
	p = p.WithTarget(nil)
	f.plans[key] = p
	return p, nil
}

func (f *fakeTarget) Uniques(ctx context.Context, changes []apply.Change) (apply.Uniques, error) {
	out := apply.Uniques{}
	for _, c := range changes {
		out[c.Plan] = f.uniques[c.Plan.TargetSchema+"."+c.Plan.TargetTable]
	}
	return out, nil
}

// exec runs one target transaction: its statements (recorded only when it
// commits), then the checkpoint and the commit.
func (f *fakeTarget) exec(txn targetTxn) error {
	f.execs++
	n := f.execs
	switch n {
	case f.failExec:
		return Permanent(&ApplyError{Table: "db.t", Statement: txn.Stmts[0].query, Err: errors.New("refused")})
	case f.crashExec:
		return fmt.Errorf("after the statements, before the checkpoint: %w", errCrash)
	}
	c := fakeCommit{pos: txn.Pos}
	for _, s := range txn.Stmts {
		c.stmts = append(c.stmts, fmt.Sprintf("%s %v", s.query, s.args))
	}
	f.commits = append(f.commits, c)
	f.committed(txn)
	if f.afterCommit != nil {
		f.afterCommit(txn.Pos)
	}
	if n == f.lostExec {
		return fmt.Errorf("after the commit: %w", errCrash)
	}
	return nil
}

func (f *fakeTarget) Commit(ctx context.Context, txn targetTxn) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.exec(txn)
}

func (f *fakeTarget) CommitUnit(ctx context.Context, txn targetTxn, turn *apply.Turn) error {
	if err := turn.Wait(ctx); err != nil {
		return err
	}
	return f.Commit(ctx, txn)
}

// checkpoint is the position the target says is applied.
func (f *fakeTarget) checkpoint() dmnode.Position {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.commits) == 0 {
		return dmnode.Position{}
	}
	return f.commits[len(f.commits)-1].pos
}

// statements returns every committed statement, in commit order.
func (f *fakeTarget) statements() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.commits {
		out = append(out, c.stmts...)
	}
	return out
}

func newFakeTarget(t *testing.T) *fakeTarget {
	task := &config.Task{Name: "t", MySQLInstances: []config.Instance{{SourceID: "s"}}}
	rl, err := rules.Compile(task, &task.MySQLInstances[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	return &fakeTarget{rules: rl, plans: map[string]*rules.TablePlan{},
		uniques: map[string][][]int{"db.t": {{0}}, "db.u": {{0}, {1}}}}
}

// loopRun is an applier run over target from applied, as Run builds it
// once the checkpoint is read.
func loopRun(t *testing.T, target *fakeTarget, sync config.SyncSettings, applied, safeUntil dmnode.Position) *applyRun {
	inst := &config.Instance{SourceID: "s", Sync: sync}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	return &applyRun{a: &Applier{env: Env{Log: log}, task: "t", source: "s"},
		te: &taskEnv{task: &config.Task{Name: "t"}, inst: inst, rules: target.rules}, log: log, target: target,
		applied: applied, started: applied, lastEnd: applied, safeUntil: safeUntil, limit: applyLimit(max(1, sync.WorkerCount))}
}

// feed applies batches as the read loop does: each batch's transactions,
// then the commit. It stops at the first error.
func feed(ctx context.Context, r *applyRun, batches [][]dmnode.Txn) error {
	for _, b := range batches {
		for i := range b {
			if err := r.txn(ctx, &b[i]); err != nil {
				return err
			}
		}
		if err := r.commit(ctx); err != nil {
			return err
		}
	}
	return nil
}

func loopAt(n int) dmnode.Position { return dmnode.Position{File: "bin.000001", Pos: uint32(100 * n)} }

func loopIns(table string, rows ...[]any) dmnode.Change {
	c := dmnode.Change{Table: dmnode.TableID{Schema: "db", Table: table}, Columns: []string{"id", "v"}, Key: []int{0}}
	for _, r := range rows {
		c.Rows = append(c.Rows, dmnode.RowChange{Kind: dmnode.Insert, After: r})
	}
	return c
}

func loopUpd(table string, before, after []any) dmnode.Change {
	return dmnode.Change{Table: dmnode.TableID{Schema: "db", Table: table}, Columns: []string{"id", "v"}, Key: []int{0},
		Rows: []dmnode.RowChange{{Kind: dmnode.Update, Before: before, After: after}}}
}

func loopDel(table string, before []any) dmnode.Change {
	return dmnode.Change{Table: dmnode.TableID{Schema: "db", Table: table}, Columns: []string{"id", "v"}, Key: []int{0},
		Rows: []dmnode.RowChange{{Kind: dmnode.Delete, Before: before}}}
}

func loopRow(v ...any) []any { return v }

// loopWorkload is batches of transactions; transaction i ends at loopAt(i+1).
func loopWorkload() [][]dmnode.Txn {
	var batches [][]dmnode.Txn
	n := 0
	txn := func(cs ...dmnode.Change) dmnode.Txn {
		n++
		return dmnode.Txn{Changes: cs, End: loopAt(n), Time: uint32(n)}
	}
	for b := range 4 {
		id := int64(10 * b)
		batches = append(batches, []dmnode.Txn{
			txn(loopIns("t", loopRow(id+1, "a"), loopRow(id+2, "b"))),
			txn(loopUpd("t", loopRow(id+1, "a"), loopRow(id+1, "c")), loopIns("u", loopRow(id+1, "x"))),
			txn(loopDel("t", loopRow(id+2, "b")), loopUpd("u", loopRow(id+1, "x"), loopRow(id+1, "y"))),
			txn(loopIns("t", loopRow(id+3, "d"))),
		})
	}
	return batches
}

// One worker: each batch is one target transaction, its statements as
// the planner makes them (a table with one unique key compacted, one with
// two in order) and the checkpoint at the batch's last transaction.
func TestApplyLoopStatements(t *testing.T) {
	ctx := context.Background()
	f := newFakeTarget(t)
	r := loopRun(t, f, config.SyncSettings{WorkerCount: 1}, loopAt(0), dmnode.Position{})
	batches := loopWorkload()
	if err := feed(ctx, r, batches[:1]); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"INSERT INTO `db`.`t` (`id`,`v`) VALUES (?,?),(?,?) [1 c 3 d]",
		"INSERT INTO `db`.`u` (`id`,`v`) VALUES (?,?) [1 x]",
		"UPDATE `db`.`u` SET `id` = ?, `v` = ? WHERE `id` = ? LIMIT 1 [1 y 1]",
	}
	if len(f.commits) != 1 || f.commits[0].pos != loopAt(4) || strings.Join(f.commits[0].stmts, "\n") != strings.Join(want, "\n") {
		t.Fatalf("commits %+v, want one at %s:\n%s", f.commits, loopAt(4), strings.Join(want, "\n"))
	}
	if r.applied != loopAt(4) || r.appliedAt != 4 {
		t.Fatalf("applied %s at %d, want %s at 4", r.applied, r.appliedAt, loopAt(4))
	}
	// Transactions at or before the checkpoint are passed over.
	if err := feed(ctx, r, batches[:1]); err != nil || len(f.commits) != 1 {
		t.Fatalf("fed again: %d commits, %v", len(f.commits), err)
	}
}

// Safe mode: changes up to safeUntil (or all, with the task's safe-mode)
// are written idempotently, the others as they came.
func TestApplyLoopSafeMode(t *testing.T) {
	ctx := context.Background()
	batch := [][]dmnode.Txn{{
		{Changes: []dmnode.Change{loopIns("t", loopRow(int64(1), "a")), loopUpd("t", loopRow(int64(2), "b"), loopRow(int64(2), "c"))}, End: loopAt(1)},
		{Changes: []dmnode.Change{loopIns("t", loopRow(int64(3), "d"))}, End: loopAt(2)},
	}}
	inserts := [][]dmnode.Txn{{
		{Changes: []dmnode.Change{loopIns("t", loopRow(int64(1), "a"))}, End: loopAt(1)},
		{Changes: []dmnode.Change{loopIns("t", loopRow(int64(3), "d"))}, End: loopAt(2)},
	}}
	for _, tc := range []struct {
		name      string
		sync      config.SyncSettings
		safeUntil dmnode.Position
		want      string
		txns      [][]dmnode.Txn // batch when nil
	}{
		// A batch with a change in safe mode is compacted as what its
		// changes leave: each row's last state as an upsert.
		{"until a position", config.SyncSettings{WorkerCount: 1}, loopAt(1), "" +
			"INSERT INTO `db`.`t` (`id`,`v`) VALUES (?,?),(?,?),(?,?) ON DUPLICATE KEY UPDATE `v` = VALUES(`v`) [1 a 2 c 3 d]", nil},
		{"the task's safe-mode", config.SyncSettings{WorkerCount: 1, SafeMode: true}, dmnode.Position{}, "" +
			"INSERT INTO `db`.`t` (`id`,`v`) VALUES (?,?),(?,?),(?,?) ON DUPLICATE KEY UPDATE `v` = VALUES(`v`) [1 a 2 c 3 d]", nil},
		{"the task's safe-mode, inserts alone", config.SyncSettings{WorkerCount: 1, SafeMode: true}, dmnode.Position{}, "" +
			"REPLACE INTO `db`.`t` (`id`,`v`) VALUES (?,?),(?,?) [1 a 3 d]", inserts},
		{"off", config.SyncSettings{WorkerCount: 1}, dmnode.Position{}, "" +
			"INSERT INTO `db`.`t` (`id`,`v`) VALUES (?,?) ON DUPLICATE KEY UPDATE `v` = VALUES(`v`) [2 c]\n" +
			"INSERT INTO `db`.`t` (`id`,`v`) VALUES (?,?),(?,?) [1 a 3 d]", nil},
	} {
		f := newFakeTarget(t)
		r := loopRun(t, f, tc.sync, loopAt(0), tc.safeUntil)
		if tc.txns == nil {
			tc.txns = batch
		}
		if err := feed(ctx, r, tc.txns); err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(f.statements(), "\n"); got != tc.want {
			t.Errorf("%s:\n%s\nwant\n%s", tc.name, got, tc.want)
		}
	}
}

// cleanRun is what the target commits when nothing fails.
func cleanRun(t *testing.T, sync config.SyncSettings) []string {
	f := newFakeTarget(t)
	if err := feed(context.Background(), loopRun(t, f, sync, loopAt(0), dmnode.Position{}), loopWorkload()); err != nil {
		t.Fatal(err)
	}
	return f.statements()
}

// A refused exec, a stop between the statements and the checkpoint, and a
// stop right after a commit each end the run with an error; the applier
// has noted as applied no more than the target's checkpoint, and a new run
// from that checkpoint commits exactly what a run without failure does:
// nothing lost, nothing twice.
func TestApplyLoopFailures(t *testing.T) {
	ctx := context.Background()
	for _, workers := range []int{1, 8} {
		sync := config.SyncSettings{WorkerCount: workers}
		clean := cleanRun(t, sync)
		if workers == 1 && len(clean) == 0 {
			t.Fatal("a clean run commits nothing")
		}
		for _, mode := range []string{"refused", "crash before checkpoint", "crash after commit"} {
			for n := 1; n <= 4; n++ {
				f := newFakeTarget(t)
				switch mode {
				case "refused":
					f.failExec = n
				case "crash before checkpoint":
					f.crashExec = n
				case "crash after commit":
					f.lostExec = n
				}
				r := loopRun(t, f, sync, loopAt(0), dmnode.Position{})
				err := feed(ctx, r, loopWorkload())
				name := fmt.Sprintf("workers %d, %s at exec %d", workers, mode, n)
				if err == nil {
					t.Fatalf("%s: no error", name)
				}
				if mode == "refused" && !IsPermanent(err) {
					t.Errorf("%s: %v is not permanent", name, err)
				}
				if mode != "refused" && !errors.Is(err, errCrash) {
					t.Errorf("%s: error %v", name, err)
				}
				from := f.checkpoint()
				if from.IsZero() {
					from = loopAt(0)
				}
				if r.applied.Compare(from) > 0 {
					t.Fatalf("%s: the applier noted %s applied, the target's checkpoint is %s", name, r.applied, from)
				}
				if mode == "refused" && len(f.commits) != n-1 {
					t.Errorf("%s: %d commits before the refused one, want %d", name, len(f.commits), n-1)
				}
				// Restart from the target's checkpoint.
				f.failExec, f.crashExec, f.lostExec = 0, 0, 0
				if err := feed(ctx, loopRun(t, f, sync, from, dmnode.Position{}), loopWorkload()); err != nil {
					t.Fatalf("%s: restart: %v", name, err)
				}
				if f.checkpoint() != loopAt(16) {
					t.Fatalf("%s: restart ends at %s, want %s", name, f.checkpoint(), loopAt(16))
				}
				if workers == 1 {
					if got := strings.Join(f.statements(), "\n"); got != strings.Join(clean, "\n") {
						t.Fatalf("%s: committed\n%s\nwithout failure\n%s", name, got, strings.Join(clean, "\n"))
					}
				}
				// Checkpoints only move forward: each transaction commits once.
				for i := 1; i < len(f.commits); i++ {
					if f.commits[i].pos.Compare(f.commits[i-1].pos) <= 0 {
						t.Fatalf("%s: checkpoint %s after %s", name, f.commits[i].pos, f.commits[i-1].pos)
					}
				}
			}
		}
	}
}

// With several workers, a batch of transactions on distinct rows is
// written as several target transactions, committed in the source's
// order, each with the checkpoint at its own last transaction.
func TestApplyLoopParallel(t *testing.T) {
	f := newFakeTarget(t)
	r := loopRun(t, f, config.SyncSettings{WorkerCount: 8}, loopAt(0), dmnode.Position{})
	var batch []dmnode.Txn
	for i := range 12 {
		batch = append(batch, dmnode.Txn{Changes: []dmnode.Change{loopIns("t", loopRow(int64(i), "v"))}, End: loopAt(i + 1), Time: uint32(i + 1)})
	}
	if err := feed(context.Background(), r, [][]dmnode.Txn{batch}); err != nil {
		t.Fatal(err)
	}
	if len(f.commits) < 2 {
		t.Fatalf("%d target transactions, want the batch spread over several", len(f.commits))
	}
	rows := 0
	for i, c := range f.commits {
		if i > 0 && c.pos.Compare(f.commits[i-1].pos) <= 0 {
			t.Fatalf("commit %d at %s after %s", i, c.pos, f.commits[i-1].pos)
		}
		for _, s := range c.stmts {
			rows += strings.Count(s, "(?,?)")
		}
	}
	if rows != 12 || f.checkpoint() != loopAt(12) || r.applied != loopAt(12) {
		t.Fatalf("%d rows, checkpoint %s, applied %s; want 12 rows up to %s", rows, f.checkpoint(), r.applied, loopAt(12))
	}
}

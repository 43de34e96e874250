package actors

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/apply"
	"github.com/dmnode/dmnode/core/rules"
)

// Parallel apply. Every upstream transaction commits on the target whole,
// in one target transaction; several consecutive ones may share it. The
// batch's transactions are planned into such target transactions (units)
// by their write sets (core/apply): each transaction's write set is the
// values of every unique key of its target tables (the primary key among
// them) before and after each of its changes, and a unit that shares one
// with an earlier unit starts only once that unit committed. Units run on
// the syncer's worker-count connections but commit in the source's order:
// a unit writes its rows, waits until every earlier unit of the batch
// committed, then writes the checkpoint at the end of its last transaction
// and commits. The target so always shows a prefix of the source's commit
// order, the checkpoint always names exactly what is committed (a restart
// resumes after it, nothing lost, nothing doubled, no safe mode needed),
// and a unit that fails has no later one committed past it.
//
// A unit that waits for its turn longer than unitPatience rolls back and
// runs again once the units before it committed: it may hold a lock (a
// gap, a non-unique index entry) that an earlier unit waits for, a wait
// the target cannot see as a deadlock. A unit whose statements fail before
// its turn is run again alone too, where a failure is the transaction's.
//
// Before they were atomic, parallel batches were spread over workers row
// by row, and their end recorded first as the apply window
// (dmnode_meta.apply_window), replayed in safe mode by a restart. The
// window is still recorded before a transaction is written in pieces
// (bigtxn.go), and still read at start.

const applyWindowDDL = `CREATE TABLE IF NOT EXISTS ` + MetaSchema + `.apply_window (
	task        VARCHAR(128) NOT NULL,
	source      VARCHAR(128) NOT NULL,
	binlog_file VARCHAR(255) NOT NULL,
	binlog_pos  INT UNSIGNED NOT NULL,
	binlog_gtid TEXT,
	PRIMARY KEY (task, source)
)`

// rowsPerStmt is the most rows of one multi-row statement: the task's
// syncers.*.batch when it sets one, else loadRowsPerStmt.
func (r *applyRun) rowsPerStmt() int {
	if b := r.te.inst.Sync.Batch; b > 0 {
		return b
	}
	return loadRowsPerStmt
}

// statements turns row changes into SQL (apply.Statements), at most
// perStmt rows in each multi-row statement.
func statements(changes []apply.Change, uniques apply.Uniques, perStmt int) []stmt {
	return stmtsOf(apply.Statements(changes, uniques, perStmt))
}

// loadTarget is a target that takes a unit's inserts as LOAD DATA.
type loadTarget interface {
	loads(ctx context.Context) bool
	loadRefused(err error)
}

// withLoad returns the statements of a target transaction of ops: one
// LOAD DATA of them, falling back to stmts, when ops are at least
// bigLoadMinRows inserts of one table the target can load
// (apply.LoadFile); stmts otherwise.
func (r *applyRun) withLoad(ctx context.Context, ops []apply.Change, stmts []stmt) []stmt {
	if len(ops) < bigLoadMinRows || !r.loads(ctx) {
		return stmts
	}
	file, ok := apply.LoadFile(nil, ops)
	if !ok {
		return stmts
	}
	return []stmt{{load: &loadStmt{plan: ops[0].Plan, file: file, rows: len(ops), safe: ops[0].Safe,
		fallback: stmts, refused: r.target.(loadTarget).loadRefused}}}
}

// loads reports whether the target takes inserts as LOAD DATA now
// (loadTarget), before any is built.
func (r *applyRun) loads(ctx context.Context) bool {
	lt, ok := r.target.(loadTarget)
	return ok && lt.loads(ctx)
}

// stmtsOf converts planned statements to the ones the target runs.
func stmtsOf(in []apply.Stmt) []stmt {
	out := make([]stmt, len(in))
	for i, s := range in {
		out[i] = stmt{query: s.Query, args: s.Args}
	}
	return out
}

// targetUniques returns, for a plan, the unique keys of its target table
// as indexes into the plan's columns; keys with a column the plan does not
// write are left out.
func (tt *targetTables) targetUniques(ctx context.Context, p *rules.TablePlan) ([][]int, error) {
	tt.mu.Lock()
	u, ok := tt.uniques[p]
	tt.mu.Unlock()
	if ok {
		return u, nil
	}
	rows, err := tt.db.QueryContext(ctx, `SELECT INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS
		WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND NON_UNIQUE = 0 ORDER BY INDEX_NAME, SEQ_IN_INDEX`, p.TargetSchema, p.TargetTable)
	if err != nil {
		return nil, fmt.Errorf("read unique keys of target %s.%s: %w", p.TargetSchema, p.TargetTable, err)
	}
	defer rows.Close()
	pos := map[string]int{}
	for i, c := range p.Columns {
		pos[strings.ToLower(c)] = i
	}
	var order []string
	byName := map[string][]int{}
	bad := map[string]bool{}
	for rows.Next() {
		var idx, col string
		if err := rows.Scan(&idx, &col); err != nil {
			return nil, fmt.Errorf("read unique keys of target %s.%s: %w", p.TargetSchema, p.TargetTable, err)
		}
		if _, ok := byName[idx]; !ok && !bad[idx] {
			order = append(order, idx)
		}
		i, ok := pos[strings.ToLower(col)]
		if !ok {
			bad[idx] = true
			continue
		}
		byName[idx] = append(byName[idx], i)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read unique keys of target %s.%s: %w", p.TargetSchema, p.TargetTable, err)
	}
	for _, idx := range order {
		if !bad[idx] {
			u = append(u, byName[idx])
		}
	}
	tt.mu.Lock()
	tt.uniques[p] = u
	tt.mu.Unlock()
	return u, nil
}

// uniquesFor returns the unique keys of the target tables of ops, by plan
// (targetUniques), looked up once per plan.
func (tt *targetTables) uniquesFor(ctx context.Context, changes []apply.Change) (apply.Uniques, error) {
	out := apply.Uniques{}
	for _, c := range changes {
		if _, ok := out[c.Plan]; ok {
			continue
		}
		u, err := tt.targetUniques(ctx, c.Plan)
		if err != nil {
			return nil, err
		}
		out[c.Plan] = u
	}
	return out, nil
}

// txnMark ends the row changes of one upstream transaction in
// applyRun.ops.
type txnMark struct {
	end int // index in ops after its last change
	pos dmnode.Position
	at  uint32
}

// markTxn marks the end of an upstream transaction's row changes in the
// batch being built.
func (r *applyRun) markTxn(pos dmnode.Position, at uint32) {
	end := len(r.ops)
	if n := len(r.marks); n > 0 && r.marks[n-1].end == end || n == 0 && end == 0 {
		return // no row change of its own
	}
	r.marks = append(r.marks, txnMark{end: end, pos: pos, at: at})
}

// unitPatience is how long a unit waits for its turn to commit before it
// rolls back and runs again after the units before it.
const unitPatience = 2 * time.Second

// commitParallel writes the batch as units over workers connections, in
// the source's commit order, each with its checkpoint (see the comment at
// the top); pos and at are the batch's end, the last unit's checkpoint.
func (r *applyRun) commitParallel(ctx context.Context, workers int, pos dmnode.Position, at uint32, uniques apply.Uniques) error {
	marks := r.marks
	if n := len(marks); n == 0 || marks[n-1].end < len(r.ops) {
		marks = append(marks, txnMark{end: len(r.ops), pos: pos, at: at})
	}
	ends := make([]int, len(marks))
	for i, m := range marks {
		ends[i] = m.end
	}
	planned := apply.PlanBatch(r.ops, ends, uniques, workers, applyMaxRows, r.rowsPerStmt())
	units := make([]apply.Unit, len(planned))
	txns := make([]targetTxn, len(planned))
	for i, u := range planned {
		last := marks[u.End-1]
		from := 0
		if u.First > 0 {
			from = ends[u.First-1]
		}
		stmts := r.withLoad(ctx, r.ops[from:ends[u.End-1]], stmtsOf(u.Stmts))
		units[i], txns[i] = u.Unit, targetTxn{Stmts: stmts, Pos: last.pos, At: last.at}
	}
	txns[len(txns)-1].Pos, txns[len(txns)-1].At = pos, at
	n, err := apply.Execute(ctx, units, workers, func(ctx context.Context, i int, turn *apply.Turn) error {
		return r.target.CommitUnit(ctx, txns[i], turn)
	})
	if n > 0 {
		r.applied, r.appliedAt = txns[n-1].Pos, txns[n-1].At
	}
	if err != nil {
		return fmt.Errorf("apply up to %s: %w", txns[n].Pos, err)
	}
	return nil
}

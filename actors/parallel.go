package actors

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/apply"
	"github.com/dmnode/dmnode/core/rules"
	"github.com/dmnode/dmnode/core/sqlgen"
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

// rowOp is one row change, transformed for the target.
type rowOp struct {
	p             *rules.TablePlan
	key           []int // target key columns, for UPDATE and DELETE
	kind          dmnode.ChangeKind
	before, after []any
	safe          bool
}

const applyWindowDDL = `CREATE TABLE IF NOT EXISTS ` + MetaSchema + `.apply_window (
	task        VARCHAR(128) NOT NULL,
	source      VARCHAR(128) NOT NULL,
	binlog_file VARCHAR(255) NOT NULL,
	binlog_pos  INT UNSIGNED NOT NULL,
	binlog_gtid TEXT,
	PRIMARY KEY (task, source)
)`

// statements turns row changes into SQL. The changes of each table go in
// their order, except on a table whose one unique key is the key the
// changes carry: there, unless a change is in safe mode or moves a row to
// another key, they are first compacted to one final change per row, and
// rows of distinct keys commute, so they go as one multi-row DELETE, one
// multi-row upsert and one multi-row INSERT (per loadRowsPerStmt rows).
// Changes to different tables never share a unique key; their relative
// order is not kept.
func statements(ops []rowOp, uniques map[*rules.TablePlan][][]int) []stmt {
	return statementsOf(ops, uniques, loadRowsPerStmt)
}

// statementsOf is statements with at most perStmt rows in each multi-row
// statement (the task's syncers.*.batch, or loadRowsPerStmt).
func statementsOf(ops []rowOp, uniques map[*rules.TablePlan][][]int, perStmt int) []stmt {
	perStmt = max(perStmt, 1)
	var plans []*rules.TablePlan
	byPlan := map[*rules.TablePlan][]rowOp{}
	for _, op := range ops {
		if _, ok := byPlan[op.p]; !ok {
			plans = append(plans, op.p)
		}
		byPlan[op.p] = append(byPlan[op.p], op)
	}
	var out []stmt
	for _, p := range plans {
		pops := byPlan[p]
		if final, ok := compact(pops, uniques[p]); ok {
			out = append(out, grouped(final, perStmt)...)
		} else {
			out = append(out, ordered(pops, perStmt)...)
		}
	}
	return out
}

// compact folds the changes of one table into one change per row (kind
// Update standing for "the row is now after"), or says it cannot: see
// statements.
func compact(ops []rowOp, uniques [][]int) ([]rowOp, bool) {
	if len(uniques) != 1 || !sameSet(uniques[0], ops[0].key) {
		return nil, false
	}
	var order []string
	last := map[string]*rowOp{}
	// Two exact keys the target may hold equal (case, accents, trailing
	// spaces under its collation) are one row to it but two here: such a
	// batch is sent as it came.
	exactOf := map[string]string{}
	fold := ops[0].p.Fold
	for i := range ops {
		op := ops[i]
		if op.safe {
			return nil, false
		}
		row := op.after
		if op.kind == dmnode.Delete {
			row = op.before
		}
		k, ok := rowKey(row, op.key, nil, false)
		if !ok {
			return nil, false
		}
		if op.kind == dmnode.Update {
			if bk, ok := rowKey(op.before, op.key, nil, false); !ok || bk != k {
				return nil, false
			}
		}
		fk, _ := rowKey(row, op.key, fold, true)
		if e, seen := exactOf[fk]; seen && e != k {
			return nil, false
		}
		exactOf[fk] = k
		prev, seen := last[k]
		if !seen || prev == nil {
			if !seen {
				order = append(order, k)
			}
			if prev == nil && seen {
				// Inserted and deleted before: only an insert may follow.
				if op.kind != dmnode.Insert {
					return nil, false
				}
			}
			last[k] = &op
			continue
		}
		switch {
		case prev.kind == dmnode.Insert && op.kind == dmnode.Update:
			prev.after = op.after
		case prev.kind == dmnode.Insert && op.kind == dmnode.Delete:
			last[k] = nil // never on the target
		case prev.kind == dmnode.Update && op.kind == dmnode.Update:
			prev.after = op.after
		case prev.kind == dmnode.Update && op.kind == dmnode.Delete:
			prev.kind, prev.after = dmnode.Delete, nil
		case prev.kind == dmnode.Delete && op.kind == dmnode.Insert:
			prev.kind, prev.after = dmnode.Update, op.after
		default:
			return nil, false // a change the target would reject: keep it as it came
		}
	}
	var out []rowOp
	for _, k := range order {
		if op := last[k]; op != nil {
			out = append(out, *op)
		}
	}
	return out, true
}

// grouped sends compacted changes of one table as multi-row statements.
func grouped(ops []rowOp, perStmt int) []stmt {
	if len(ops) == 0 {
		return nil
	}
	p, key := ops[0].p, ops[0].key
	var dels, ups, ins [][]any
	for _, op := range ops {
		switch op.kind {
		case dmnode.Delete:
			dels = append(dels, op.before)
		case dmnode.Update:
			ups = append(ups, op.after)
		case dmnode.Insert:
			ins = append(ins, op.after)
		}
	}
	var out []stmt
	for _, g := range []struct {
		rows  [][]any
		build func([][]any) (string, []any)
	}{
		{dels, func(r [][]any) (string, []any) {
			return sqlgen.DeleteMany(p.TargetSchema, p.TargetTable, p.Columns, key, r)
		}},
		{ups, func(r [][]any) (string, []any) {
			return sqlgen.Upsert(p.TargetSchema, p.TargetTable, p.WriteColumns(), p.WriteKey(key), writeRows(p, r))
		}},
		{ins, func(r [][]any) (string, []any) {
			return sqlgen.Insert(p.TargetSchema, p.TargetTable, p.WriteColumns(), writeRows(p, r), false)
		}},
	} {
		for len(g.rows) > 0 {
			n := min(len(g.rows), perStmt)
			q, args := g.build(g.rows[:n])
			out = append(out, stmt{q, args})
			g.rows = g.rows[n:]
		}
	}
	return out
}

// ordered sends changes in their order: consecutive inserts share a
// multi-row INSERT.
func ordered(ops []rowOp, perStmt int) []stmt {
	var out []stmt
	for i := 0; i < len(ops); {
		op := &ops[i]
		switch op.kind {
		case dmnode.Insert:
			j := i
			var rows [][]any
			for j < len(ops) && ops[j].kind == dmnode.Insert && ops[j].p == op.p && ops[j].safe == op.safe && len(rows) < perStmt {
				rows = append(rows, op.p.WriteRow(ops[j].after))
				j++
			}
			q, args := sqlgen.Insert(op.p.TargetSchema, op.p.TargetTable, op.p.WriteColumns(), rows, op.safe)
			out = append(out, stmt{q, args})
			i = j
			continue
		case dmnode.Update:
			if op.safe {
				q, args := sqlgen.Delete(op.p.TargetSchema, op.p.TargetTable, op.p.Columns, op.key, op.before)
				out = append(out, stmt{q, args})
				q, args = sqlgen.Insert(op.p.TargetSchema, op.p.TargetTable, op.p.WriteColumns(), [][]any{op.p.WriteRow(op.after)}, true)
				out = append(out, stmt{q, args})
			} else {
				q, args := sqlgen.UpdateColumns(op.p.TargetSchema, op.p.TargetTable, op.p.Columns, writtenIndexes(op.p), op.key, op.before, op.after)
				out = append(out, stmt{q, args})
			}
		case dmnode.Delete:
			q, args := sqlgen.Delete(op.p.TargetSchema, op.p.TargetTable, op.p.Columns, op.key, op.before)
			out = append(out, stmt{q, args})
		}
		i++
	}
	return out
}

// rowsPerStmt is the most rows of one multi-row statement: the task's
// syncers.*.batch when it sets one, else loadRowsPerStmt.
func (r *applyRun) rowsPerStmt() int {
	if b := r.te.inst.Sync.Batch; b > 0 {
		return b
	}
	return loadRowsPerStmt
}

// writeRows returns the written values (TablePlan.WriteRow) of rows.
func writeRows(p *rules.TablePlan, rows [][]any) [][]any {
	if len(p.WriteColumns()) == len(p.Columns) {
		return rows
	}
	out := make([][]any, len(rows))
	for i, r := range rows {
		out[i] = p.WriteRow(r)
	}
	return out
}

// writtenIndexes returns the indexes of the columns of p an UPDATE sets;
// nil for all.
func writtenIndexes(p *rules.TablePlan) []int {
	if len(p.WriteColumns()) == len(p.Columns) {
		return nil
	}
	var set []int
	for i := range p.Columns {
		if p.Written(i) {
			set = append(set, i)
		}
	}
	return set
}

// rowKey renders the key columns of a row exactly; false when one is
// NULL. loose renders them as the target may compare them instead
// (writeValue), fold marking the columns it compares case-insensitively.
func rowKey(row []any, key []int, fold []bool, loose bool) (string, bool) {
	var b strings.Builder
	for _, c := range key {
		if row[c] == nil {
			return "", false
		}
		b.WriteByte(0)
		writeValue(&b, row[c], loose && foldAt(fold, c), loose)
	}
	return b.String(), true
}

func sameSet(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	in := map[int]bool{}
	for _, x := range a {
		in[x] = true
	}
	for _, x := range b {
		if !in[x] {
			return false
		}
	}
	return true
}

// conflictKeys appends to dst the values of the unique keys of the
// change's target table, before and after it, each prefixed with the table
// and key: two changes that share one must stay in order.
func conflictKeys(dst []string, op *rowOp, uniques [][]int) []string {
	table := op.p.TargetSchema + "." + op.p.TargetTable
	n := len(dst)
	for _, row := range [][]any{op.before, op.after} {
		if row == nil {
			continue
		}
		for ui, cols := range uniques {
			var b strings.Builder
			b.WriteString(table)
			b.WriteByte(0)
			b.WriteString(strconv.Itoa(ui))
			null := false
			for _, c := range cols {
				b.WriteByte(0)
				if row[c] == nil {
					null = true // NULLs never collide in a unique key
					break
				}
				writeValue(&b, row[c], foldAt(op.p.Fold, c), true)
			}
			if !null {
				dst = append(dst, b.String())
			}
		}
	}
	if len(dst) == n {
		// No unique key with values: the row's own identity, before and
		// after, orders it.
		for _, row := range [][]any{op.before, op.after} {
			if row == nil {
				continue
			}
			var b strings.Builder
			b.WriteString(table)
			for _, c := range op.key {
				b.WriteByte(0)
				writeValue(&b, row[c], foldAt(op.p.Fold, c), true)
			}
			dst = append(dst, b.String())
		}
	}
	return dst
}

// writeValue renders a key value for comparison. fold renders text as a
// case-insensitive collation compares it (foldText); pad drops trailing
// spaces, which every PAD SPACE collation (_bin ones included) ignores:
// two values that may be one key to the target must render alike, while
// rendering distinct values alike only costs parallelism. Binary strings
// ([]byte) compare byte for byte.
func writeValue(b *strings.Builder, v any, fold, pad bool) {
	switch x := v.(type) {
	case string:
		switch {
		case fold:
			b.WriteString(foldText(x))
		case pad:
			b.WriteString(strings.TrimRight(x, " "))
		default:
			b.WriteString(x)
		}
	case []byte:
		b.Write(x)
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case uint64:
		b.WriteString(strconv.FormatUint(x, 10))
	default:
		fmt.Fprint(b, x)
	}
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
func (tt *targetTables) uniquesFor(ctx context.Context, ops []rowOp) (map[*rules.TablePlan][][]int, error) {
	out := map[*rules.TablePlan][][]int{}
	for _, op := range ops {
		if _, ok := out[op.p]; ok {
			continue
		}
		u, err := tt.targetUniques(ctx, op.p)
		if err != nil {
			return nil, err
		}
		out[op.p] = u
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
func (r *applyRun) commitParallel(ctx context.Context, workers int, pos dmnode.Position, at uint32, uniques map[*rules.TablePlan][][]int) error {
	marks := r.marks
	if n := len(marks); n == 0 || marks[n-1].end < len(r.ops) {
		marks = append(marks, txnMark{end: len(r.ops), pos: pos, at: at})
	}
	txns := make([]apply.Txn, len(marks))
	var keys []string
	from := 0
	for i, m := range marks {
		keys = keys[:0]
		for j := from; j < m.end; j++ {
			op := &r.ops[j]
			keys = conflictKeys(keys, op, uniques[op.p])
		}
		txns[i] = apply.Txn{Keys: slices.Clone(keys), Rows: m.end - from}
		from = m.end
	}
	units := apply.Plan(txns, workers, applyMaxRows)
	type work struct {
		stmts []stmt
		pos   dmnode.Position
		at    uint32
	}
	ws := make([]work, len(units))
	for i, u := range units {
		from := 0
		if u.First > 0 {
			from = marks[u.First-1].end
		}
		last := marks[u.End-1]
		ws[i] = work{stmts: statementsOf(r.ops[from:last.end], uniques, r.rowsPerStmt()), pos: last.pos, at: last.at}
	}
	ws[len(ws)-1].pos, ws[len(ws)-1].at = pos, at
	n, err := apply.Execute(ctx, units, workers, func(ctx context.Context, i int, turn *apply.Turn) error {
		return r.execUnit(ctx, ws[i].stmts, ws[i].pos, ws[i].at, turn)
	})
	if n > 0 {
		r.applied, r.appliedAt = ws[n-1].pos, ws[n-1].at
	}
	if err != nil {
		return fmt.Errorf("apply up to %s: %w", ws[n].pos, err)
	}
	return nil
}

// execUnit runs one unit: its statements, then, in its turn, the
// checkpoint at pos and the commit. Alone in its turn it runs as any
// single target transaction (execTx: retried after a deadlock, the
// failing statement named).
func (r *applyRun) execUnit(ctx context.Context, stmts []stmt, pos dmnode.Position, at uint32, turn *apply.Turn) error {
	if turn.Head() {
		err := execTx(ctx, r.db, stmts, func(tx *sql.Tx) error {
			if err := r.fence(ctx, tx, pos, at); err != nil {
				return err
			}
			return r.crashAt(CrashInTxn)
		})
		if err != nil {
			return err
		}
		return r.crashAt(CrashCommitted)
	}
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return apply.ErrYield
	}
	defer tx.Rollback()
	if err := checkFence(ctx, tx, r.a.task, r.a.source, r.a.env.Epoch); err != nil {
		return err
	}
	for _, g := range groupStmts(stmts, groupBytes) {
		if _, err := tx.ExecContext(ctx, g.query, g.args...); err != nil {
			// Run again alone, where an error is the transaction's own.
			return apply.ErrYield
		}
	}
	if err := r.crashAt(CrashInTxn); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, unitPatience)
	err = turn.Wait(wctx)
	cancel()
	if err != nil {
		return err
	}
	if err := r.fence(ctx, tx, pos, at); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit target transaction: %w", err)
	}
	return r.crashAt(CrashCommitted)
}

// readApplyWindow reads the end of the batch last handed to the workers.
func (a *Applier) readApplyWindow(ctx context.Context, db *sql.DB) (dmnode.Position, error) {
	var p dmnode.Position
	var gtid sql.NullString
	err := db.QueryRowContext(ctx, `SELECT binlog_file, binlog_pos, binlog_gtid FROM `+MetaSchema+
		`.apply_window WHERE task = ? AND source = ?`, a.task, a.source).Scan(&p.File, &p.Pos, &gtid)
	if errors.Is(err, sql.ErrNoRows) {
		return dmnode.Position{}, nil
	}
	if err != nil {
		return dmnode.Position{}, fmt.Errorf("read apply window from target: %w", err)
	}
	p.GTID = gtid.String
	return p, nil
}

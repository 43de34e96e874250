package apply

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/pingcap/tidb/pkg/parser"
	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/opcode"
	"github.com/pingcap/tidb/pkg/parser/test_driver"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/rules"
)

// A simulated target: the statements the planner produces are parsed by
// TiDB's parser and executed on in-memory tables that keep their unique
// keys as a MySQL table does (a duplicate is an error, REPLACE deletes the
// rows it collides with, ON DUPLICATE KEY UPDATE updates the row it
// collides with).

// simTable is one target table: rows of values (int64, string or NULL).
type simTable struct {
	cols    []string
	uniques [][]int
	rows    [][]any
}

type simDB struct {
	tables map[string]*simTable // by "schema.table"
	p      *parser.Parser
}

func newSimDB() *simDB { return &simDB{tables: map[string]*simTable{}, p: parser.New()} }

func (db *simDB) add(p *rules.TablePlan, uniques [][]int) {
	db.tables[p.TargetSchema+"."+p.TargetTable] = &simTable{cols: p.Columns, uniques: uniques}
}

// state renders every table's rows, sorted.
func (db *simDB) state() string {
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(db.tables)) {
		var rows []string
		for _, r := range db.tables[name].rows {
			rows = append(rows, fmt.Sprint(r))
		}
		sort.Strings(rows)
		fmt.Fprintf(&b, "%s: %s\n", name, strings.Join(rows, " "))
	}
	return b.String()
}

func (db *simDB) clone() *simDB {
	c := newSimDB()
	for n, t := range db.tables {
		rows := make([][]any, len(t.rows))
		for i, r := range t.rows {
			rows[i] = slices.Clone(r)
		}
		c.tables[n] = &simTable{cols: t.cols, uniques: t.uniques, rows: rows}
	}
	return c
}

// exec runs one statement with its arguments.
func (db *simDB) exec(s Stmt) error {
	node, err := db.p.ParseOneStmt(s.Query, "", "")
	if err != nil {
		return fmt.Errorf("TiDB's parser refuses %s: %w", s.Query, err)
	}
	ev := &simEval{args: s.Args, order: markers(node)}
	switch n := node.(type) {
	case *ast.InsertStmt:
		t, err := db.table(n.Table)
		if err != nil {
			return err
		}
		cols, err := t.indexes(n.Columns)
		if err != nil {
			return err
		}
		for _, list := range n.Lists {
			row := make([]any, len(t.cols))
			for i, e := range list {
				if row[cols[i]], err = ev.value(e); err != nil {
					return err
				}
			}
			if err := t.insert(row, n.IsReplace, n.OnDuplicate); err != nil {
				return fmt.Errorf("%s: %w", s.Query, err)
			}
		}
	case *ast.DeleteStmt:
		t, err := db.table(n.TableRefs)
		if err != nil {
			return err
		}
		match, err := ev.where(t, n.Where)
		if err != nil {
			return err
		}
		limit := n.Limit != nil
		kept := t.rows[:0]
		deleted := false
		for _, r := range t.rows {
			if (!limit || !deleted) && match(r) {
				deleted = true
				continue
			}
			kept = append(kept, r)
		}
		t.rows = kept
	case *ast.UpdateStmt:
		t, err := db.table(n.TableRefs)
		if err != nil {
			return err
		}
		set := map[int]any{}
		for _, a := range n.List {
			i := slices.Index(t.cols, a.Column.Name.O)
			if i < 0 {
				return fmt.Errorf("no column %s", a.Column.Name.O)
			}
			if set[i], err = ev.value(a.Expr); err != nil {
				return err
			}
		}
		match, err := ev.where(t, n.Where)
		if err != nil {
			return err
		}
		if n.Limit == nil {
			return fmt.Errorf("UPDATE without LIMIT: %s", s.Query)
		}
		for ri, r := range t.rows {
			if !match(r) {
				continue
			}
			nr := slices.Clone(r)
			for i, v := range set {
				nr[i] = v
			}
			if other := t.collides(nr, ri); other >= 0 {
				return fmt.Errorf("%s: duplicate key with row %v", s.Query, t.rows[other])
			}
			t.rows[ri] = nr
			break
		}
	default:
		return fmt.Errorf("unexpected statement %s", s.Query)
	}
	if ev.used != len(s.Args) {
		return fmt.Errorf("%s: %d arguments, %d placeholders", s.Query, len(s.Args), ev.used)
	}
	return nil
}

func (db *simDB) table(refs *ast.TableRefsClause) (*simTable, error) {
	ts, ok := refs.TableRefs.Left.(*ast.TableSource)
	if !ok {
		return nil, fmt.Errorf("unexpected table reference")
	}
	tn := ts.Source.(*ast.TableName)
	t, ok := db.tables[tn.Schema.O+"."+tn.Name.O]
	if !ok {
		return nil, fmt.Errorf("no table %s.%s", tn.Schema.O, tn.Name.O)
	}
	return t, nil
}

func (t *simTable) indexes(names []*ast.ColumnName) ([]int, error) {
	out := make([]int, len(names))
	for i, n := range names {
		if out[i] = slices.Index(t.cols, n.Name.O); out[i] < 0 {
			return nil, fmt.Errorf("no column %s", n.Name.O)
		}
	}
	return out, nil
}

// collides returns the first row other than skip that shares a unique key
// value (no NULL in it) with row, or -1.
func (t *simTable) collides(row []any, skip int) int {
	for ri, r := range t.rows {
		if ri == skip {
			continue
		}
		for _, u := range t.uniques {
			same := true
			for _, c := range u {
				if row[c] == nil || r[c] == nil || row[c] != r[c] {
					same = false
					break
				}
			}
			if same {
				return ri
			}
		}
	}
	return -1
}

func (t *simTable) insert(row []any, replace bool, dup []*ast.Assignment) error {
	if replace {
		for {
			ri := t.collides(row, -1)
			if ri < 0 {
				break
			}
			t.rows = slices.Delete(t.rows, ri, ri+1)
		}
		t.rows = append(t.rows, row)
		return nil
	}
	ri := t.collides(row, -1)
	switch {
	case ri < 0:
		t.rows = append(t.rows, row)
		return nil
	case dup == nil:
		return fmt.Errorf("duplicate key: %v and %v", row, t.rows[ri])
	}
	nr := slices.Clone(t.rows[ri])
	for _, a := range dup {
		v, ok := a.Expr.(*ast.ValuesExpr)
		if !ok || v.Column.Name.Name.O != a.Column.Name.O {
			return fmt.Errorf("unexpected ON DUPLICATE KEY UPDATE of %s", a.Column.Name.O)
		}
		i := slices.Index(t.cols, a.Column.Name.O)
		nr[i] = row[i]
	}
	if other := t.collides(nr, ri); other >= 0 {
		return fmt.Errorf("duplicate key: %v and %v", nr, t.rows[other])
	}
	t.rows[ri] = nr
	return nil
}

// simEval evaluates the expressions of generated statements: placeholders,
// columns, =, AND, IS NULL, IN over columns and row constructors.
type simEval struct {
	args  []any
	order map[*test_driver.ParamMarkerExpr]int // by position in the text
	used  int
}

// markers numbers the placeholders of a statement in text order.
func markers(n ast.Node) map[*test_driver.ParamMarkerExpr]int {
	v := &markerVisitor{}
	n.Accept(v)
	sort.Slice(v.all, func(i, j int) bool { return v.all[i].Offset < v.all[j].Offset })
	out := map[*test_driver.ParamMarkerExpr]int{}
	for i, m := range v.all {
		out[m] = i
	}
	return out
}

type markerVisitor struct {
	all []*test_driver.ParamMarkerExpr
}

func (v *markerVisitor) Enter(n ast.Node) (ast.Node, bool) {
	if m, ok := n.(*test_driver.ParamMarkerExpr); ok {
		v.all = append(v.all, m)
	}
	return n, false
}

func (v *markerVisitor) Leave(n ast.Node) (ast.Node, bool) { return n, true }

func (ev *simEval) value(e ast.ExprNode) (any, error) {
	m, ok := e.(*test_driver.ParamMarkerExpr)
	if !ok {
		return nil, fmt.Errorf("unexpected value expression %T", e)
	}
	i, ok := ev.order[m]
	if !ok || i >= len(ev.args) {
		return nil, fmt.Errorf("placeholder %d of %d arguments", i, len(ev.args))
	}
	ev.used = max(ev.used, i+1)
	return ev.args[i], nil
}

func (ev *simEval) where(t *simTable, e ast.ExprNode) (func([]any) bool, error) {
	col := func(e ast.ExprNode) (int, error) {
		c, ok := e.(*ast.ColumnNameExpr)
		if !ok {
			return 0, fmt.Errorf("unexpected %T, want a column", e)
		}
		i := slices.Index(t.cols, c.Name.Name.O)
		if i < 0 {
			return 0, fmt.Errorf("no column %s", c.Name.Name.O)
		}
		return i, nil
	}
	switch n := e.(type) {
	case *ast.BinaryOperationExpr:
		switch n.Op {
		case opcode.LogicAnd:
			l, err := ev.where(t, n.L)
			if err != nil {
				return nil, err
			}
			r, err := ev.where(t, n.R)
			if err != nil {
				return nil, err
			}
			return func(row []any) bool { return l(row) && r(row) }, nil
		case opcode.EQ:
			c, err := col(n.L)
			if err != nil {
				return nil, err
			}
			v, err := ev.value(n.R)
			if err != nil {
				return nil, err
			}
			return func(row []any) bool { return row[c] != nil && row[c] == v }, nil
		}
	case *ast.IsNullExpr:
		c, err := col(n.Expr)
		if err != nil || n.Not {
			return nil, fmt.Errorf("unexpected IS NOT NULL or %v", err)
		}
		return func(row []any) bool { return row[c] == nil }, nil
	case *ast.PatternInExpr:
		var cols []int
		if r, ok := n.Expr.(*ast.RowExpr); ok {
			for _, x := range r.Values {
				c, err := col(x)
				if err != nil {
					return nil, err
				}
				cols = append(cols, c)
			}
		} else {
			c, err := col(n.Expr)
			if err != nil {
				return nil, err
			}
			cols = []int{c}
		}
		var sets [][]any
		for _, item := range n.List {
			items := []ast.ExprNode{item}
			if r, ok := item.(*ast.RowExpr); ok {
				items = r.Values
			}
			var vals []any
			for _, x := range items {
				v, err := ev.value(x)
				if err != nil {
					return nil, err
				}
				vals = append(vals, v)
			}
			sets = append(sets, vals)
		}
		return func(row []any) bool {
			for _, vals := range sets {
				if slices.EqualFunc(cols, vals, func(c int, v any) bool { return row[c] == v }) {
					return true
				}
			}
			return false
		}, nil
	}
	return nil, fmt.Errorf("unexpected condition %T", e)
}

// The workload: the source's tables, a few hot values, random transactions
// of valid row changes (the source's own state decides what exists).
type simWorkload struct {
	plans   []*rules.TablePlan
	uniques Uniques
	keys    [][]int // the changes' key, per plan
	txns    [][]Change
	final   *simDB // the source after every transaction
}

func genWorkload(rng *rand.Rand, n int, safe bool) simWorkload {
	pk := &rules.TablePlan{TargetSchema: "db", TargetTable: "pk", Columns: []string{"id", "v"}}
	two := &rules.TablePlan{TargetSchema: "db", TargetTable: "two", Columns: []string{"id", "u", "v"}}
	none := &rules.TablePlan{TargetSchema: "db", TargetTable: "none", Columns: []string{"a", "b"}}
	w := simWorkload{
		plans:   []*rules.TablePlan{pk, two, none},
		uniques: Uniques{pk: {{0}}, two: {{0}, {1}}, none: nil},
		keys:    [][]int{{0}, {0}, {0, 1}},
	}
	src := newSimDB()
	for _, p := range w.plans {
		src.add(p, w.uniques[p])
	}
	// the source's rows, by table
	tables := []*simTable{src.tables["db.pk"], src.tables["db.two"], src.tables["db.none"]}
	val := func() any {
		switch rng.IntN(4) {
		case 0:
			return nil
		case 1:
			return fmt.Sprintf("s%d", rng.IntN(3))
		}
		return int64(rng.IntN(1000))
	}
	for range n {
		var txn []Change
		for range 1 + rng.IntN(5) {
			ti := rng.IntN(len(tables))
			t, p := tables[ti], w.plans[ti]
			kind := dmnode.ChangeKind(dmnode.Insert + dmnode.ChangeKind(rng.IntN(3)))
			if len(t.rows) == 0 {
				kind = dmnode.Insert
			}
			var row []any
			switch ti {
			case 0:
				row = []any{int64(rng.IntN(12)), val()}
			case 1:
				row = []any{int64(rng.IntN(12)), fmt.Sprintf("u%d", rng.IntN(12)), val()}
			case 2:
				row = []any{int64(rng.IntN(3)), val()}
			}
			c := Change{Plan: p, Key: w.keys[ti], Kind: kind, Safe: safe}
			switch kind {
			case dmnode.Insert:
				if t.collides(row, -1) >= 0 {
					continue
				}
				t.rows = append(t.rows, row)
				c.After = row
			case dmnode.Update:
				ri := rng.IntN(len(t.rows))
				before := t.rows[ri]
				if rng.IntN(3) != 0 && ti != 2 {
					row[0] = before[0] // most updates keep the key
				}
				if t.collides(row, ri) >= 0 {
					continue
				}
				t.rows[ri] = row
				c.Before, c.After = before, row
			case dmnode.Delete:
				ri := rng.IntN(len(t.rows))
				c.Before = t.rows[ri]
				t.rows = slices.Delete(t.rows, ri, ri+1)
			}
			txn = append(txn, c)
		}
		if len(txn) > 0 {
			w.txns = append(w.txns, txn)
		}
	}
	w.final = src
	return w
}

func (w simWorkload) target() *simDB {
	db := newSimDB()
	for _, p := range w.plans {
		db.add(p, w.uniques[p])
	}
	return db
}

// applyBatches plans txns in batches of batch transactions (the applier's
// target batches) for workers connections and executes the units on db,
// each unit's statements when its turn to commit comes. compact false
// plans every change alone, so that no batch holds two changes of a row.
func applyBatches(t *testing.T, rng *rand.Rand, db *simDB, txns [][]Change, uniques Uniques, workers, batch int, compact bool) {
	t.Helper()
	for len(txns) > 0 {
		n := min(len(txns), 1+rng.IntN(batch))
		var changes []Change
		var ends []int
		for _, txn := range txns[:n] {
			if compact {
				changes = append(changes, txn...)
				ends = append(ends, len(changes))
				continue
			}
			for _, c := range txn {
				changes = append(changes, c)
				ends = append(ends, len(changes))
			}
		}
		txns = txns[n:]
		var planned []Planned
		if compact {
			planned = PlanBatch(changes, ends, uniques, workers, 8, 1+rng.IntN(4))
		} else {
			for i, c := range changes {
				planned = append(planned, Planned{Unit: Unit{First: i, End: i + 1, Rows: 1, After: i - 1},
					Stmts: Statements([]Change{c}, uniques, 1)})
			}
		}
		units := make([]Unit, len(planned))
		for i, p := range planned {
			units[i] = p.Unit
		}
		var mu sync.Mutex
		var execErr error
		committed, err := Execute(context.Background(), units, workers, func(ctx context.Context, i int, turn *Turn) error {
			if err := turn.Wait(ctx); err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			for _, s := range planned[i].Stmts {
				if err := db.exec(s); err != nil {
					execErr = err
					return err
				}
			}
			return nil
		})
		if execErr != nil || err != nil || committed != len(units) {
			t.Fatalf("%d of %d units committed: %v (%v)", committed, len(units), err, execErr)
		}
	}
}

// One seeded random workload of keyed, multi-key and keyless tables,
// planned into real SQL and executed on the simulated target, ends in the
// source's final state whether it is planned for one worker or eight,
// compacted or change by change, in safe mode or not; and replaying it in
// safe mode over a target that already holds a part of it (a restart
// before the checkpoint moved) ends there too, on the tables with a key.
func TestPlannedSQLSameState(t *testing.T) {
	for seed := range uint64(20) {
		for _, safe := range []bool{false, true} {
			rng := rand.New(rand.NewPCG(seed, 42))
			w := genWorkload(rng, 150, safe)
			want := w.final.state()
			for _, workers := range []int{1, 8} {
				for _, compact := range []bool{true, false} {
					db := w.target()
					applyBatches(t, rng, db, w.txns, w.uniques, workers, 20, compact)
					if got := db.state(); got != want {
						t.Fatalf("seed %d safe %v workers %d compact %v: the target holds\n%s\nthe source\n%s",
							seed, safe, workers, compact, got, want)
					}
				}
			}
		}
		// Safe-mode replay: transactions [0, k) applied, the checkpoint at
		// j <= k, and [j, end) replayed in safe mode.
		rng := rand.New(rand.NewPCG(seed, 7))
		w := genWorkload(rng, 150, false)
		keyed := Uniques{}
		var txns [][]Change
		for _, txn := range w.txns {
			var kept []Change
			for _, c := range txn {
				if len(w.uniques[c.Plan]) > 0 {
					kept = append(kept, c)
				}
			}
			if len(kept) > 0 {
				txns = append(txns, kept)
			}
		}
		for p, u := range w.uniques {
			keyed[p] = u
		}
		k := rng.IntN(len(txns) + 1)
		j := rng.IntN(k + 1)
		db := w.target()
		applyBatches(t, rng, db, txns[:k], keyed, 8, 20, true)
		whole := w.target()
		applyBatches(t, rng, whole, txns, keyed, 1, 20, true)
		var replay [][]Change
		for _, txn := range txns[j:] {
			var safe []Change
			for _, c := range txn {
				c.Safe = true
				safe = append(safe, c)
			}
			replay = append(replay, safe)
		}
		applyBatches(t, rng, db, replay, keyed, 8, 20, true)
		if got, want := db.state(), whole.state(); got != want {
			t.Fatalf("seed %d: [0,%d) applied, [%d,end) replayed in safe mode: the target holds\n%s\nwant\n%s", seed, k, j, got, want)
		}
	}
}

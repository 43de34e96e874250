package actors

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/config"
	"github.com/dmnode/dmnode/core/rules"
)

// The validator's position passes a transaction only when none of its rows
// is pending; a newer change of a row moves the row to its transaction.
func TestValidatorPosition(t *testing.T) {
	pos := func(n uint32) dmnode.Position { return dmnode.Position{File: "b.000001", Pos: n} }
	r := &valRun{pending: map[string]*valRow{}, pos: pos(1)}
	begin := func(end uint32) uint64 {
		ord := r.base + uint64(len(r.txns))
		r.txns = append(r.txns, valTxn{end: pos(end)})
		return ord
	}
	t1 := begin(10)
	a := &valRow{id: "a"}
	r.add(a, pos(10), t1)
	r.advance()
	t2 := begin(20)
	b := &valRow{id: "b"}
	r.add(b, pos(20), t2)
	r.advance()
	if r.pos != pos(1) {
		t.Fatalf("position %v with row a pending in the first transaction", r.pos)
	}
	t3 := begin(30)
	a2 := &valRow{id: "a"}
	r.add(a2, pos(30), t3) // a changed again: the first transaction has nothing pending
	r.advance()
	if r.pos != pos(10) {
		t.Fatalf("position %v, want after the first transaction", r.pos)
	}
	r.done(b)
	r.advance()
	if r.pos != pos(20) || len(r.pending) != 1 {
		t.Fatalf("position %v, pending %d; want after the second transaction, 1 pending", r.pos, len(r.pending))
	}
	r.done(a2)
	r.advance()
	if r.pos != pos(30) || len(r.txns) != 0 || r.base != 3 {
		t.Fatalf("position %v, %d transactions from %d; want all settled", r.pos, len(r.txns), r.base)
	}
}

// Errors are numbered; past the bound the oldest settled ones go first,
// then the oldest.
func TestValidatorErrorsBound(t *testing.T) {
	var s ValidatorState
	var batch []ValidationError
	for i := range ValidationErrorsKept {
		batch = append(batch, ValidationError{Kind: ValidationDifferent, Key: []string{fmt.Sprintf("id=%d", i)}})
	}
	s.addErrors(batch)
	s.Errors[5].State = ValidationResolved
	s.addErrors([]ValidationError{{Kind: ValidationMissing}})
	if len(s.Errors) != ValidationErrorsKept || s.Dropped != 1 || s.ErrorsTotal != ValidationErrorsKept+1 {
		t.Fatalf("kept %d, dropped %d, total %d", len(s.Errors), s.Dropped, s.ErrorsTotal)
	}
	for _, e := range s.Errors {
		if e.ID == 6 {
			t.Fatal("the resolved error 6 was kept, an unprocessed one dropped")
		}
	}
	if last := s.Errors[len(s.Errors)-1]; last.ID != ValidationErrorsKept+1 || last.State != ValidationUnprocessed {
		t.Fatalf("last error %+v", last)
	}
	s.addErrors([]ValidationError{{Kind: ValidationExtra}})
	if s.Errors[0].ID != 2 || s.Unresolved() != ValidationErrorsKept {
		t.Fatalf("first kept %d, unresolved %d: the oldest should have been dropped", s.Errors[0].ID, s.Unresolved())
	}
}

func TestValKeyString(t *testing.T) {
	if valKeyString([]any{nil}) == valKeyString([]any{""}) {
		t.Error("NULL and the empty string share a key")
	}
	if valKeyString([]any{"ab", "c"}) == valKeyString([]any{"a", "bc"}) {
		t.Error("keys shift between columns")
	}
	if valKeyString([]any{[]byte("x"), int64(1)}) != valKeyString([]any{"x", uint64(1)}) {
		t.Error("the same values in other Go types differ")
	}
}

// Rows become pending after the task's rules, as the applier writes them:
// tables outside the block-allow-list and events a filter drops are not
// compared, rows of tables without a key are counted as skipped, a route
// names the target table, and an update that changes the key makes both
// keys pending.
func TestValidatorPendingRows(t *testing.T) {
	task, err := config.DecodeTask("t.yaml", []byte(`name: t
task-mode: incremental
target-database: {host: 127.0.0.1, port: 4000, user: root}
mysql-instances:
  - source-id: s1
    block-allow-list: only
    route-rules: [r]
    filter-rules: [no-delete]
block-allow-list:
  only: {do-dbs: [app]}
routes:
  r: {schema-pattern: app, table-pattern: "t*", target-schema: merged, target-table: t}
filters:
  no-delete: {schema-pattern: app, table-pattern: "t*", events: [delete], action: Ignore}
`))
	if err != nil {
		t.Fatal(err)
	}
	src, err := config.DecodeSource("s.yaml", []byte("source-id: s1\nfrom: {host: 127.0.0.1, port: 3306, user: root}\n"))
	if err != nil {
		t.Fatal(err)
	}
	rl, err := rules.Compile(task, &task.MySQLInstances[0], src)
	if err != nil {
		t.Fatal(err)
	}
	r := &valRun{te: &taskEnv{rules: rl}, plans: map[string]*rules.TablePlan{}, pending: map[string]*valRow{}}
	cols := []string{"id", "v"}
	row := func(id, v int64) []any { return []any{id, v} }
	changes := []dmnode.Change{
		{Table: dmnode.TableID{Schema: "app", Table: "t1"}, Columns: cols, Key: []int{0}, Rows: []dmnode.RowChange{
			{Kind: dmnode.Insert, After: row(1, 10)},
			{Kind: dmnode.Update, Before: row(2, 20), After: row(3, 20)}, // the key changes
		}},
		{Table: dmnode.TableID{Schema: "app", Table: "t1"}, Columns: cols, Key: []int{0}, Rows: []dmnode.RowChange{
			{Kind: dmnode.Delete, Before: row(4, 40)}, // filtered
		}},
		{Table: dmnode.TableID{Schema: "other", Table: "t1"}, Columns: cols, Key: []int{0}, Rows: []dmnode.RowChange{
			{Kind: dmnode.Insert, After: row(5, 50)}, // not replicated
		}},
		{Table: dmnode.TableID{Schema: "app", Table: "t2"}, Columns: cols, Rows: []dmnode.RowChange{
			{Kind: dmnode.Insert, After: row(6, 60)}, // no key
		}},
	}
	if err := r.txn(context.Background(), changes, dmnode.Position{File: "b.000001", Pos: 100}); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, p := range r.pending {
		if p.plan.TargetSchema != "merged" || p.plan.TargetTable != "t" {
			t.Errorf("row %v goes to %s.%s, want merged.t", p.upKey, p.plan.TargetSchema, p.plan.TargetTable)
		}
		keys = append(keys, strings.Join(displayValKey(p.tCol, p.tKey), ","))
	}
	slices.Sort(keys)
	if want := []string{"id=1", "id=2", "id=3"}; !slices.Equal(keys, want) || r.skipped != 1 {
		t.Fatalf("pending %v, skipped %d; want %v and 1", keys, r.skipped, want)
	}
	if r.read.Pos != 100 || !r.pos.IsZero() {
		t.Fatalf("read %v, position %v: the transaction has rows pending", r.read, r.pos)
	}
}

package actors

import (
	"strings"
	"testing"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/rules"
)

// Changes sharing a unique key value stay on one worker, in order; a
// change that joins two workers' keys ends the wave.
func TestCausality(t *testing.T) {
	p := &rules.TablePlan{TargetSchema: "db", TargetTable: "t", Columns: []string{"id", "email"}}
	uniques := [][]int{{0}, {1}} // PRIMARY (id), UNIQUE (email)
	ins := func(id int64, email string) rowOp {
		return rowOp{p: p, key: []int{0}, kind: dmnode.Insert, after: []any{id, email}}
	}
	upd := func(id int64, from, to string) rowOp {
		return rowOp{p: p, key: []int{0}, kind: dmnode.Update, before: []any{id, from}, after: []any{id, to}}
	}
	c := newCausality(4)
	worker := map[string]int{}
	for _, tc := range []struct {
		name string
		op   rowOp
		same string // name of an earlier change that must share the worker
		wave bool   // the change ends the wave
	}{
		{name: "a", op: ins(1, "a@x")},
		{name: "b", op: ins(2, "b@x")},
		{name: "a again, by id", op: upd(1, "a@x", "a2@x"), same: "a"},
		{name: "email of a, other id", op: ins(3, "A@X"), same: "a"},
		{name: "joins a and b", op: upd(2, "b@x", "a2@x"), wave: true},
	} {
		w := c.assign(conflictKeys(nil, &tc.op, uniques))
		if tc.wave {
			if w >= 0 {
				t.Fatalf("%s: assigned to %d, want the wave to end", tc.name, w)
			}
			continue
		}
		if w < 0 {
			t.Fatalf("%s: ended the wave", tc.name)
		}
		if tc.same != "" && worker[tc.same] != w {
			t.Fatalf("%s on worker %d, %s on %d", tc.name, w, tc.same, worker[tc.same])
		}
		worker[tc.name] = w
	}
	c.reset()
	if w := c.assign(conflictKeys(nil, &rowOp{p: p, key: []int{0}, kind: dmnode.Delete, before: []any{int64(2), "a2@x"}}, uniques)); w < 0 {
		t.Fatal("after a reset every change has a worker")
	}
}

// A NULL in a unique key collides with nothing; without any unique key
// with values, the row's key orders it.
func TestConflictKeysNull(t *testing.T) {
	p := &rules.TablePlan{TargetSchema: "db", TargetTable: "t", Columns: []string{"a", "b"}}
	op := rowOp{p: p, key: []int{0, 1}, kind: dmnode.Insert, after: []any{nil, "x"}}
	keys := conflictKeys(nil, &op, [][]int{{0}})
	if len(keys) != 1 || !strings.Contains(keys[0], "x") {
		t.Fatalf("keys %q, want the row key", keys)
	}
}

// Consecutive inserts into one table share a statement; updates and
// deletes keep their place.
func TestStatements(t *testing.T) {
	p := &rules.TablePlan{TargetSchema: "db", TargetTable: "t", Columns: []string{"id", "c"}}
	ops := []rowOp{
		{p: p, kind: dmnode.Insert, after: []any{int64(1), "a"}},
		{p: p, kind: dmnode.Insert, after: []any{int64(2), "b"}},
		{p: p, key: []int{0}, kind: dmnode.Update, before: []any{int64(1), "a"}, after: []any{int64(1), "c"}},
		{p: p, kind: dmnode.Insert, after: []any{int64(3), "d"}},
		{p: p, key: []int{0}, kind: dmnode.Delete, before: []any{int64(2), "b"}},
		{p: p, key: []int{0}, kind: dmnode.Update, before: []any{int64(3), "d"}, after: []any{int64(3), "e"}, safe: true},
	}
	var kinds []string
	for _, s := range statements(ops) {
		kinds = append(kinds, strings.Fields(s.query)[0])
	}
	if got, want := strings.Join(kinds, " "), "INSERT UPDATE INSERT DELETE DELETE REPLACE"; got != want {
		t.Fatalf("statements %s, want %s", got, want)
	}
	if args := statements(ops[:2])[0].args; len(args) != 4 {
		t.Fatalf("two inserts in one statement carry %d arguments, want 4", len(args))
	}
}

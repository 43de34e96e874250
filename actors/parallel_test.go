package actors

import (
	"fmt"
	"strings"
	"testing"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/apply"
	"github.com/dmnode/dmnode/core/rules"
	"github.com/dmnode/dmnode/core/schema"
)

// Transactions whose changes share a unique key value (any key of the
// target table, before or after the change) depend on each other;
// others do not.
func TestWriteSets(t *testing.T) {
	p := &rules.TablePlan{TargetSchema: "db", TargetTable: "t", Columns: []string{"id", "email"}}
	q := &rules.TablePlan{TargetSchema: "db", TargetTable: "u", Columns: []string{"id", "email"}}
	uniques := [][]int{{0}, {1}} // PRIMARY (id), UNIQUE (email)
	ins := func(p *rules.TablePlan, id int64, email string) rowOp {
		return rowOp{p: p, key: []int{0}, kind: dmnode.Insert, after: []any{id, email}}
	}
	upd := func(id int64, from, to string) rowOp {
		return rowOp{p: p, key: []int{0}, kind: dmnode.Update, before: []any{id, from}, after: []any{id, to}}
	}
	keys := func(ops ...rowOp) apply.Txn {
		var k []string
		for i := range ops {
			k = conflictKeys(k, &ops[i], uniques)
		}
		return apply.Txn{Keys: k, Rows: len(ops)}
	}
	txns := []apply.Txn{
		keys(ins(p, 1, "a@x")),     // 0
		keys(ins(p, 2, "b@x")),     // 1
		keys(ins(q, 1, "a@x")),     // 2: the values of 0 in another table
		keys(ins(p, 3, "A@X")),     // 3: the email of 0 to a case-insensitive key
		keys(upd(2, "b@x", "c@x")), // 4: the row of 1
		keys(ins(q, 9, "z@x")),     // 5
		keys(upd(3, "A@X", "b@x")), // 6: the row of 3, the email 4 had before
	}
	units := apply.Plan(txns, 8, 100)
	if len(units) != len(txns) {
		t.Fatalf("units %v, want one per transaction", units)
	}
	for i, want := range []int{-1, -1, -1, 0, 1, -1, 4} {
		if units[i].After != want {
			t.Errorf("transaction %d depends on %d, want %d", i, units[i].After, want)
		}
	}
}

// A NULL in a unique key collides with nothing; without any unique key
// with values, the row's key orders it, also after other changes' keys.
func TestConflictKeysNull(t *testing.T) {
	p := &rules.TablePlan{TargetSchema: "db", TargetTable: "t", Columns: []string{"a", "b"}}
	op := rowOp{p: p, key: []int{0, 1}, kind: dmnode.Insert, after: []any{nil, "x"}}
	keys := conflictKeys(nil, &op, [][]int{{0}})
	if len(keys) != 1 || !strings.Contains(keys[0], "x") {
		t.Fatalf("keys %q, want the row key", keys)
	}
	keys = conflictKeys([]string{"before"}, &op, [][]int{{0}})
	if len(keys) != 2 || !strings.Contains(keys[1], "x") {
		t.Fatalf("keys %q, want the row key after the one given", keys)
	}
	upd := rowOp{p: p, key: []int{0, 1}, kind: dmnode.Update, before: []any{nil, "x"}, after: []any{nil, "y"}}
	keys = conflictKeys(nil, &upd, nil)
	if len(keys) != 2 || !strings.Contains(keys[0], "x") || !strings.Contains(keys[1], "y") {
		t.Fatalf("keys %q, want the row's identity before and after", keys)
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
	for _, s := range statements(ops, nil) {
		kinds = append(kinds, strings.Fields(s.query)[0])
	}
	if got, want := strings.Join(kinds, " "), "INSERT UPDATE INSERT DELETE DELETE REPLACE"; got != want {
		t.Fatalf("statements %s, want %s", got, want)
	}
	if args := statements(ops[:2], nil)[0].args; len(args) != 4 {
		t.Fatalf("two inserts in one statement carry %d arguments, want 4", len(args))
	}
}

// On a table whose only unique key is the changes' key, each row's changes
// fold into one and the rows go as multi-row statements.
func TestCompactedStatements(t *testing.T) {
	p := &rules.TablePlan{TargetSchema: "db", TargetTable: "t", Columns: []string{"id", "c"}}
	pk := map[*rules.TablePlan][][]int{p: {{0}}}
	ins := func(id int64, c string) rowOp {
		return rowOp{p: p, key: []int{0}, kind: dmnode.Insert, after: []any{id, c}}
	}
	upd := func(id int64, from, to string) rowOp {
		return rowOp{p: p, key: []int{0}, kind: dmnode.Update, before: []any{id, from}, after: []any{id, to}}
	}
	del := func(id int64, c string) rowOp {
		return rowOp{p: p, key: []int{0}, kind: dmnode.Delete, before: []any{id, c}}
	}
	render := func(stmts []stmt) string {
		var b strings.Builder
		for _, s := range stmts {
			fmt.Fprintf(&b, "%s %v\n", strings.Fields(s.query)[0], s.args)
		}
		return b.String()
	}
	cases := []struct {
		name string
		ops  []rowOp
		want string
	}{
		{"insert then updates: one insert of the last values",
			[]rowOp{ins(1, "a"), upd(1, "a", "b"), upd(1, "b", "c")}, "INSERT [1 c]\n"},
		{"insert then delete: nothing",
			[]rowOp{ins(1, "a"), del(1, "a")}, ""},
		{"update then delete: a delete",
			[]rowOp{upd(1, "a", "b"), del(1, "b")}, "DELETE [1]\n"},
		{"delete then insert: an upsert",
			[]rowOp{del(1, "a"), ins(1, "b")}, "INSERT [1 b]\n"},
		{"rows of several kinds: deletes, upserts, inserts",
			[]rowOp{ins(3, "x"), upd(2, "a", "b"), del(4, "d"), upd(5, "e", "f"), del(6, "g")},
			"DELETE [4 6]\nINSERT [2 b 5 f]\nINSERT [3 x]\n"},
		{"a key that changes: in order",
			[]rowOp{ins(3, "x"), {p: p, key: []int{0}, kind: dmnode.Update, before: []any{int64(3), "x"}, after: []any{int64(4), "x"}}},
			"INSERT [3 x]\nUPDATE [4 x 3]\n"},
		{"a second insert of a row: in order, for the target to refuse",
			[]rowOp{ins(1, "a"), ins(1, "b")}, "INSERT [1 a 1 b]\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := render(statements(tc.ops, pk)); got != tc.want {
				t.Fatalf("statements:\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
	// The upsert is an INSERT ... ON DUPLICATE KEY UPDATE.
	if q := statements([]rowOp{upd(1, "a", "b")}, pk)[0].query; !strings.Contains(q, "ON DUPLICATE KEY UPDATE") {
		t.Fatalf("update sent as %s", q)
	}
	// With a second unique key the changes go in order.
	two := map[*rules.TablePlan][][]int{p: {{0}, {1}}}
	if got := render(statements([]rowOp{ins(1, "a"), upd(1, "a", "b")}, two)); got != "INSERT [1 a]\nUPDATE [1 b 1]\n" {
		t.Fatalf("with two unique keys:\n%s", got)
	}
}

// A task's syncers.*.batch bounds the rows of every multi-row statement,
// both when a table's changes are compacted and when they keep their order.
func TestStatementsPerStmt(t *testing.T) {
	p := &rules.TablePlan{TargetSchema: "db", TargetTable: "t", Columns: []string{"id", "c"}}
	var ops []rowOp
	for i := range 7 {
		ops = append(ops, rowOp{p: p, key: []int{0}, kind: dmnode.Insert, after: []any{int64(i), "x"}})
	}
	pk := map[*rules.TablePlan][][]int{p: {{0}}}
	for _, uniques := range []map[*rules.TablePlan][][]int{nil, pk} {
		stmts := statementsOf(ops, uniques, 3)
		var rows []int
		for _, s := range stmts {
			rows = append(rows, len(s.args)/2)
		}
		if fmt.Sprint(rows) != "[3 3 1]" {
			t.Errorf("uniques %v: rows per statement %v, want [3 3 1]", uniques != nil, rows)
		}
	}
}

// The task's where is ANDed with a chunk's key range.
func TestChunkQueryWhere(t *testing.T) {
	dt := &DumpTable{Schema: &schema.Table{Schema: "s", Name: "t",
		Columns: []schema.Column{{Name: "id", Type: "int"}, {Name: "v", Type: "int"}}}, KeyCol: 0}
	q, args := chunkQuery(dt, DumpChunk{Lo: "10", Hi: "20"}, "v > 5 OR v IS NULL")
	want := "SELECT `id`, `v` FROM `s`.`t` WHERE (v > 5 OR v IS NULL) AND `id` >= ? AND `id` < ? ORDER BY `id`"
	if q != want || len(args) != 2 {
		t.Errorf("query %q %v\nwant %q", q, args, want)
	}
	dt.KeyCol = -1
	if q, _ := chunkQuery(dt, DumpChunk{}, "v > 5"); q != "SELECT `id`, `v` FROM `s`.`t` WHERE (v > 5)" {
		t.Errorf("query without key %q", q)
	}
	if q, _ := chunkQuery(dt, DumpChunk{}, ""); q != "SELECT `id`, `v` FROM `s`.`t`" {
		t.Errorf("query without where %q", q)
	}
}

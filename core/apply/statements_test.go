package apply

import (
	"fmt"
	"strings"
	"testing"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/rules"
)

func planWith(t *testing.T, cols []string, traits map[string]rules.ColumnTraits) *rules.TablePlan {
	t.Helper()
	p := &rules.TablePlan{TargetSchema: "db", TargetTable: "t", Columns: cols}
	return p.WithTarget(traits)
}

// Keys compare as the target's collation does: folded under _ci, exactly
// (but for PAD SPACE's trailing spaces) otherwise, byte for byte in binary.
func TestConflictKeysByCollation(t *testing.T) {
	ci := planWith(t, []string{"k"}, map[string]rules.ColumnTraits{"k": {FoldCase: true}})
	bin := planWith(t, []string{"k"}, map[string]rules.ColumnTraits{"k": {}})
	key := func(p *rules.TablePlan, v any) string {
		op := Change{Plan: p, Key: []int{0}, Kind: dmnode.Insert, After: []any{v}}
		return WriteSet(nil, &op, [][]int{{0}})[0]
	}
	for _, tc := range []struct {
		p    *rules.TablePlan
		a, b any
		same bool
	}{
		{ci, "Straße", "STRASSE", false}, // not modelled: see collation.go
		{ci, "abc", "ABC ", true},
		{ci, "café", "CAFE", true},
		{ci, "a", "b", false},
		{bin, "abc", "ABC", false},
		{bin, "abc", "abc  ", true},
		{bin, "é", "e", false},
		{bin, []byte("a "), []byte("a"), false},
	} {
		if got := key(tc.p, tc.a) == key(tc.p, tc.b); got != tc.same {
			t.Errorf("fold %v: %q and %q same key = %v, want %v", tc.p.Fold, tc.a, tc.b, got, tc.same)
		}
	}
}

// A delete and an insert whose keys differ only in case are two rows on a
// _bin key and one on a _ci key: compaction keeps both as they came
// rather than merging or reordering them.
func TestCompactByCollation(t *testing.T) {
	render := func(stmts []Stmt) string {
		var b strings.Builder
		for _, s := range stmts {
			fmt.Fprintf(&b, "%s %v\n", strings.Fields(s.Query)[0], s.Args)
		}
		return b.String()
	}
	for _, tc := range []struct {
		fold bool
		want string
	}{
		{true, "DELETE [a]\nINSERT [A 2]\n"},
		{false, "DELETE [a]\nINSERT [A 2]\n"},
	} {
		p := planWith(t, []string{"k", "v"}, map[string]rules.ColumnTraits{"k": {FoldCase: tc.fold}})
		ops := []Change{
			{Plan: p, Key: []int{0}, Kind: dmnode.Delete, Before: []any{"a", int64(1)}},
			{Plan: p, Key: []int{0}, Kind: dmnode.Insert, After: []any{"A", int64(2)}},
		}
		if got := render(Statements(ops, map[*rules.TablePlan][][]int{p: {{0}}}, 500)); got != tc.want {
			t.Errorf("fold %v:\n%s\nwant\n%s", tc.fold, got, tc.want)
		}
	}
}

// Transactions whose changes share a unique key value (any key of the
// target table, before or after the change) depend on each other;
// others do not.
func TestWriteSets(t *testing.T) {
	p := &rules.TablePlan{TargetSchema: "db", TargetTable: "t", Columns: []string{"id", "email"}}
	q := &rules.TablePlan{TargetSchema: "db", TargetTable: "u", Columns: []string{"id", "email"}}
	uniques := [][]int{{0}, {1}} // PRIMARY (id), UNIQUE (email)
	ins := func(p *rules.TablePlan, id int64, email string) Change {
		return Change{Plan: p, Key: []int{0}, Kind: dmnode.Insert, After: []any{id, email}}
	}
	upd := func(id int64, from, to string) Change {
		return Change{Plan: p, Key: []int{0}, Kind: dmnode.Update, Before: []any{id, from}, After: []any{id, to}}
	}
	keys := func(ops ...Change) Txn {
		var k []string
		for i := range ops {
			k = WriteSet(k, &ops[i], uniques)
		}
		return Txn{Keys: k, Rows: len(ops)}
	}
	txns := []Txn{
		keys(ins(p, 1, "a@x")),     // 0
		keys(ins(p, 2, "b@x")),     // 1
		keys(ins(q, 1, "a@x")),     // 2: the values of 0 in another table
		keys(ins(p, 3, "A@X")),     // 3: the email of 0 to a case-insensitive key
		keys(upd(2, "b@x", "c@x")), // 4: the row of 1
		keys(ins(q, 9, "z@x")),     // 5
		keys(upd(3, "A@X", "b@x")), // 6: the row of 3, the email 4 had before
	}
	units := Plan(txns, 8, 100)
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
	op := Change{Plan: p, Key: []int{0, 1}, Kind: dmnode.Insert, After: []any{nil, "x"}}
	keys := WriteSet(nil, &op, [][]int{{0}})
	if len(keys) != 1 || !strings.Contains(keys[0], "x") {
		t.Fatalf("keys %q, want the row key", keys)
	}
	keys = WriteSet([]string{"before"}, &op, [][]int{{0}})
	if len(keys) != 2 || !strings.Contains(keys[1], "x") {
		t.Fatalf("keys %q, want the row key after the one given", keys)
	}
	upd := Change{Plan: p, Key: []int{0, 1}, Kind: dmnode.Update, Before: []any{nil, "x"}, After: []any{nil, "y"}}
	keys = WriteSet(nil, &upd, nil)
	if len(keys) != 2 || !strings.Contains(keys[0], "x") || !strings.Contains(keys[1], "y") {
		t.Fatalf("keys %q, want the row's identity before and after", keys)
	}
}

// Consecutive inserts into one table share a statement; updates and
// deletes keep their place.
func TestStatements(t *testing.T) {
	p := &rules.TablePlan{TargetSchema: "db", TargetTable: "t", Columns: []string{"id", "c"}}
	ops := []Change{
		{Plan: p, Kind: dmnode.Insert, After: []any{int64(1), "a"}},
		{Plan: p, Kind: dmnode.Insert, After: []any{int64(2), "b"}},
		{Plan: p, Key: []int{0}, Kind: dmnode.Update, Before: []any{int64(1), "a"}, After: []any{int64(1), "c"}},
		{Plan: p, Kind: dmnode.Insert, After: []any{int64(3), "d"}},
		{Plan: p, Key: []int{0}, Kind: dmnode.Delete, Before: []any{int64(2), "b"}},
		{Plan: p, Key: []int{0}, Kind: dmnode.Update, Before: []any{int64(3), "d"}, After: []any{int64(3), "e"}, Safe: true},
	}
	var kinds []string
	for _, s := range Statements(ops, nil, 500) {
		kinds = append(kinds, strings.Fields(s.Query)[0])
	}
	if got, want := strings.Join(kinds, " "), "INSERT UPDATE INSERT DELETE DELETE REPLACE"; got != want {
		t.Fatalf("statements %s, want %s", got, want)
	}
	if args := Statements(ops[:2], nil, 500)[0].Args; len(args) != 4 {
		t.Fatalf("two inserts in one statement carry %d arguments, want 4", len(args))
	}
}

// On a table whose only unique key is the changes' key, each row's changes
// fold into one and the rows go as multi-row statements.
func TestCompactedStatements(t *testing.T) {
	p := &rules.TablePlan{TargetSchema: "db", TargetTable: "t", Columns: []string{"id", "c"}}
	pk := map[*rules.TablePlan][][]int{p: {{0}}}
	ins := func(id int64, c string) Change {
		return Change{Plan: p, Key: []int{0}, Kind: dmnode.Insert, After: []any{id, c}}
	}
	upd := func(id int64, from, to string) Change {
		return Change{Plan: p, Key: []int{0}, Kind: dmnode.Update, Before: []any{id, from}, After: []any{id, to}}
	}
	del := func(id int64, c string) Change {
		return Change{Plan: p, Key: []int{0}, Kind: dmnode.Delete, Before: []any{id, c}}
	}
	render := func(stmts []Stmt) string {
		var b strings.Builder
		for _, s := range stmts {
			fmt.Fprintf(&b, "%s %v\n", strings.Fields(s.Query)[0], s.Args)
		}
		return b.String()
	}
	cases := []struct {
		name string
		ops  []Change
		want string
	}{
		{"insert then updates: one insert of the last values",
			[]Change{ins(1, "a"), upd(1, "a", "b"), upd(1, "b", "c")}, "INSERT [1 c]\n"},
		{"insert then delete: nothing",
			[]Change{ins(1, "a"), del(1, "a")}, ""},
		{"update then delete: a delete",
			[]Change{upd(1, "a", "b"), del(1, "b")}, "DELETE [1]\n"},
		{"delete then insert: an upsert",
			[]Change{del(1, "a"), ins(1, "b")}, "INSERT [1 b]\n"},
		{"rows of several kinds: deletes, upserts, inserts",
			[]Change{ins(3, "x"), upd(2, "a", "b"), del(4, "d"), upd(5, "e", "f"), del(6, "g")},
			"DELETE [4 6]\nINSERT [2 b 5 f]\nINSERT [3 x]\n"},
		{"a key that changes: in order",
			[]Change{ins(3, "x"), {Plan: p, Key: []int{0}, Kind: dmnode.Update, Before: []any{int64(3), "x"}, After: []any{int64(4), "x"}}},
			"INSERT [3 x]\nUPDATE [4 x 3]\n"},
		{"a second insert of a row: in order, for the target to refuse",
			[]Change{ins(1, "a"), ins(1, "b")}, "INSERT [1 a 1 b]\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := render(Statements(tc.ops, pk, 500)); got != tc.want {
				t.Fatalf("statements:\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
	// The upsert is an INSERT ... ON DUPLICATE KEY UPDATE.
	if q := Statements([]Change{upd(1, "a", "b")}, pk, 500)[0].Query; !strings.Contains(q, "ON DUPLICATE KEY UPDATE") {
		t.Fatalf("update sent as %s", q)
	}
	// With a second unique key the changes go in order.
	two := map[*rules.TablePlan][][]int{p: {{0}, {1}}}
	if got := render(Statements([]Change{ins(1, "a"), upd(1, "a", "b")}, two, 500)); got != "INSERT [1 a]\nUPDATE [1 b 1]\n" {
		t.Fatalf("with two unique keys:\n%s", got)
	}
}

// A task's syncers.*.batch bounds the rows of every multi-row statement,
// both when a table's changes are compacted and when they keep their order.
func TestStatementsPerStmt(t *testing.T) {
	p := &rules.TablePlan{TargetSchema: "db", TargetTable: "t", Columns: []string{"id", "c"}}
	var ops []Change
	for i := range 7 {
		ops = append(ops, Change{Plan: p, Key: []int{0}, Kind: dmnode.Insert, After: []any{int64(i), "x"}})
	}
	pk := map[*rules.TablePlan][][]int{p: {{0}}}
	for _, uniques := range []map[*rules.TablePlan][][]int{nil, pk} {
		stmts := Statements(ops, uniques, 3)
		var rows []int
		for _, s := range stmts {
			rows = append(rows, len(s.Args)/2)
		}
		if fmt.Sprint(rows) != "[3 3 1]" {
			t.Errorf("uniques %v: rows per statement %v, want [3 3 1]", uniques != nil, rows)
		}
	}
}

// Generated columns are never written: not by INSERT, REPLACE (safe
// mode), the upsert of compacted changes, nor UPDATE's SET; a keyless
// table's WHERE leaves them out too.
func TestStatementsSkipGenerated(t *testing.T) {
	p := planWith(t, []string{"id", "v", "g"}, map[string]rules.ColumnTraits{"g": {Generated: true}})
	ins := Change{Plan: p, Key: []int{0}, Kind: dmnode.Insert, After: []any{int64(1), "a", "A"}}
	upd := Change{Plan: p, Key: []int{0}, Kind: dmnode.Update, Before: []any{int64(1), "a", "A"}, After: []any{int64(1), "b", "B"}}
	pk := Uniques{p: {{0}}}
	check := func(name string, stmts []Stmt) {
		t.Helper()
		for _, s := range stmts {
			if strings.Contains(s.Query, "`g`") && !strings.HasPrefix(s.Query, "DELETE") {
				t.Errorf("%s writes the generated column: %s", name, s.Query)
			}
		}
	}
	check("ordered", Statements([]Change{ins, upd}, nil, 500))
	check("compacted", Statements([]Change{upd}, pk, 500))
	safe := upd
	safe.Safe = true
	check("safe mode", Statements([]Change{safe}, nil, 500))
}

// LoadFile writes a batch of inserts as LOAD DATA's rows only when every
// written column takes text as an INSERT takes a literal, every change is
// an insert of the one plan in one mode, and every value has a text form;
// generated columns are left out as the INSERT leaves them out.
func TestLoadFile(t *testing.T) {
	text := rules.ColumnTraits{Text: true}
	plain := planWith(t, []string{"id", "v"}, map[string]rules.ColumnTraits{"id": text, "v": text})
	gen := planWith(t, []string{"id", "g", "v"}, map[string]rules.ColumnTraits{"id": text, "g": {Generated: true}, "v": text})
	enum := planWith(t, []string{"id", "e"}, map[string]rules.ColumnTraits{"id": text, "e": {}})
	other := planWith(t, []string{"id", "v"}, map[string]rules.ColumnTraits{"id": text, "v": text})
	unknown := planWith(t, []string{"id", "v"}, map[string]rules.ColumnTraits{"id": text})
	ins := func(p *rules.TablePlan, safe bool, row ...any) Change {
		return Change{Plan: p, Key: []int{0}, Kind: dmnode.Insert, After: row, Safe: safe}
	}
	for _, tc := range []struct {
		name    string
		changes []Change
		want    string
		ok      bool
	}{
		{"inserts", []Change{ins(plain, false, int64(1), "a\tb"), ins(plain, false, int64(2), nil)}, "1\ta\\tb\n2\t\\N\n", true},
		{"safe mode", []Change{ins(plain, true, uint64(3), 1.5)}, "3\t1.5\n", true},
		{"generated column left out", []Change{ins(gen, false, int64(1), int64(9), "x")}, "1\tx\n", true},
		{"empty", nil, "", false},
		{"enum column", []Change{ins(enum, false, int64(1), int64(2))}, "", false},
		{"column of unknown type", []Change{ins(unknown, false, int64(1), "x")}, "", false},
		{"two plans", []Change{ins(plain, false, int64(1), "a"), ins(other, false, int64(2), "b")}, "", false},
		{"two modes", []Change{ins(plain, false, int64(1), "a"), ins(plain, true, int64(2), "b")}, "", false},
		{"a delete", []Change{ins(plain, false, int64(1), "a"), {Plan: plain, Key: []int{0}, Kind: dmnode.Delete, Before: []any{int64(1), "a"}}}, "", false},
		{"bytes", []Change{ins(plain, false, int64(1), []byte{0xff})}, "", false},
	} {
		got, ok := LoadFile(nil, tc.changes)
		if ok != tc.ok || ok && string(got) != tc.want {
			t.Errorf("%s: LoadFile = %q, %v; want %q, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
	if (&rules.TablePlan{Columns: []string{"id"}}).Text() {
		t.Error("a plan before WithTarget says its columns take text")
	}
}

package actors

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
		op := rowOp{p: p, key: []int{0}, kind: dmnode.Insert, after: []any{v}}
		return conflictKeys(nil, &op, [][]int{{0}})[0]
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
	render := func(stmts []stmt) string {
		var b strings.Builder
		for _, s := range stmts {
			fmt.Fprintf(&b, "%s %v\n", strings.Fields(s.query)[0], s.args)
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
		ops := []rowOp{
			{p: p, key: []int{0}, kind: dmnode.Delete, before: []any{"a", int64(1)}},
			{p: p, key: []int{0}, kind: dmnode.Insert, after: []any{"A", int64(2)}},
		}
		if got := render(statements(ops, map[*rules.TablePlan][][]int{p: {{0}}})); got != tc.want {
			t.Errorf("fold %v:\n%s\nwant\n%s", tc.fold, got, tc.want)
		}
	}
}

// Generated columns are never written: not by INSERT, REPLACE (safe
// mode), the upsert of compacted changes, nor UPDATE's SET; a keyless
// table's WHERE leaves them out too.
func TestStatementsSkipGenerated(t *testing.T) {
	p := planWith(t, []string{"id", "v", "g"}, map[string]rules.ColumnTraits{"g": {Generated: true}})
	ins := rowOp{p: p, key: []int{0}, kind: dmnode.Insert, after: []any{int64(1), "a", "A"}}
	upd := rowOp{p: p, key: []int{0}, kind: dmnode.Update, before: []any{int64(1), "a", "A"}, after: []any{int64(1), "b", "B"}}
	pk := map[*rules.TablePlan][][]int{p: {{0}}}
	check := func(name string, stmts []stmt) {
		t.Helper()
		for _, s := range stmts {
			if strings.Contains(s.query, "`g`") && !strings.HasPrefix(s.query, "DELETE") {
				t.Errorf("%s writes the generated column: %s", name, s.query)
			}
		}
	}
	check("ordered", statements([]rowOp{ins, upd}, nil))
	check("compacted", statements([]rowOp{upd}, pk))
	safe := upd
	safe.safe = true
	check("safe mode", statements([]rowOp{safe}, nil))
	if key := TargetKey(p, nil, 3); len(key) != 2 || key[0] != 0 || key[1] != 1 {
		t.Errorf("keyless target key = %v, want [0 1]", key)
	}
}

package apply

import (
	"testing"

	"github.com/dmnode/dmnode/core/rules"
)

// A keyless table's rows are identified by every column but the target's
// generated ones, plus the extracted columns of a merged table.
func TestTargetKeyKeyless(t *testing.T) {
	p := (&rules.TablePlan{TargetSchema: "db", TargetTable: "t", Columns: []string{"id", "v", "g"}}).
		WithTarget(map[string]rules.ColumnTraits{"g": {Generated: true}})
	if key := TargetKey(p, nil, 3); len(key) != 2 || key[0] != 0 || key[1] != 1 {
		t.Errorf("keyless target key = %v, want [0 1]", key)
	}
	if key := TargetKey(p, []int{0}, 3); len(key) != 1 || key[0] != 0 {
		t.Errorf("keyed target key = %v, want [0]", key)
	}
}

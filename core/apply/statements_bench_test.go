package apply

import (
	"fmt"
	"testing"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/rules"
)

// BenchmarkStatements plans the statements of 8,000 row changes of
// sysbench's table shaped as the bench's incr rounds (a third inserts,
// half updates by key, the rest deletes), and of 8,000 inserts.
func BenchmarkStatements(b *testing.B) {
	p := (&rules.TablePlan{TargetSchema: "db", TargetTable: "t", Columns: []string{"id", "k", "c", "pad"}}).WithTarget(
		map[string]rules.ColumnTraits{"id": {}, "k": {}, "c": {FoldCase: true}, "pad": {FoldCase: true}})
	row := func(id int64) []any {
		return []any{id, id % 1000003, fmt.Sprintf("%0120d", id), fmt.Sprintf("%060d", id)}
	}
	var mix, ins []Change
	for i := range int64(8000) {
		ins = append(ins, Change{Plan: p, Key: []int{0}, Kind: dmnode.Insert, After: row(1_000_000 + i)})
		switch i % 33 {
		case 0, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12:
			mix = append(mix, Change{Plan: p, Key: []int{0}, Kind: dmnode.Insert, After: row(1_000_000 + i)})
		case 2, 23, 24, 25, 26, 27:
			mix = append(mix, Change{Plan: p, Key: []int{0}, Kind: dmnode.Delete, Before: row(500_000 + i)})
		default:
			mix = append(mix, Change{Plan: p, Key: []int{0}, Kind: dmnode.Update, Before: row(i * 7 % 100_000), After: row(i * 7 % 100_000)})
		}
	}
	uniques := Uniques{p: {{0}}}
	for _, bc := range []struct {
		name    string
		changes []Change
	}{{"mix", mix}, {"inserts", ins}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Statements(bc.changes, uniques, 500)
			}
		})
	}
}

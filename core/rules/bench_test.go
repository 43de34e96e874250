package rules

import (
	"testing"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/config"
	"github.com/dmnode/dmnode/jetstream"
)

// BenchmarkApply measures the per-row path of a plan with a partition id
// mapping and an extracted source column.
func BenchmarkApply(b *testing.B) {
	task := shardTask()
	r, err := Compile(task, &task.MySQLInstances[0], nil)
	if err != nil {
		b.Fatal(err)
	}
	p, err := r.Plan("shard_3", "t_07", []string{"id", "name", "amount", "created"})
	if err != nil {
		b.Fatal(err)
	}
	ids := make([]any, 1024) // boxed outside the loop: the source decodes them
	for i := range ids {
		ids[i] = int64(i * 7919)
	}
	row := []any{nil, "alice", float64(12.5), []byte("2024-01-02 03:04:05")}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		row[0] = ids[i%len(ids)]
		if _, err := p.Apply(row); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/row")
}

// benchColumns and benchRows are the rows of BenchmarkPlan and
// BenchmarkDecodeRows: one shape, so that the cost of the rules can be read
// next to the cost of decoding the rows from the relay stream.
var benchColumns = []string{"id", "name", "amount", "state", "created"}

func benchRows(n int) [][]any {
	rows := make([][]any, n)
	for i := range rows {
		state := "paid"
		if i%10 == 0 {
			state = "test"
		}
		rows[i] = []any{int64(i * 7919), "alice", float64(12.5), state, "2024-01-02 03:04:05"}
	}
	return rows
}

// BenchmarkPlan measures the rules' per-row cost on the apply path: the
// expression filter (DropRow) then the route's extracted column and the
// partition id mapping (Apply), on an insert. Compare ns/row with
// BenchmarkDecodeRows.
func BenchmarkPlan(b *testing.B) {
	task := shardTask()
	task.ExpressionFilters = map[string]*config.ExpressionFilter{
		"no-test": {Schema: "shard_3", Table: "t_07", InsertValueExpr: "state = 'test' AND amount < 100"},
	}
	task.MySQLInstances[0].ExpressionFilters = []string{"no-test"}
	r, err := Compile(task, &task.MySQLInstances[0], nil)
	if err != nil {
		b.Fatal(err)
	}
	p, err := r.Plan("shard_3", "t_07", benchColumns)
	if err != nil {
		b.Fatal(err)
	}
	rows := benchRows(1024)
	b.ReportAllocs()
	dropped := 0
	for i := 0; b.Loop(); i++ {
		row := rows[i%len(rows)]
		drop, err := p.DropRow(dmnode.Insert, nil, row)
		if err != nil {
			b.Fatal(err)
		}
		if drop {
			dropped++
			continue
		}
		if _, err := p.Apply(row); err != nil {
			b.Fatal(err)
		}
	}
	if dropped == 0 {
		b.Fatal("the expression filter dropped nothing")
	}
	// An op is one row: allocs/op is allocs per row (Apply's output row).
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/row")
}

// BenchmarkDecodeRows measures decoding the rows of BenchmarkPlan from a
// relay stream message (jetstream.DecodeBatch), per row.
func BenchmarkDecodeRows(b *testing.B) {
	const n = 1024
	change := dmnode.Change{Table: dmnode.TableID{Schema: "shard_3", Table: "t_07"}, Columns: benchColumns, Key: []int{0}}
	for _, row := range benchRows(n) {
		change.Rows = append(change.Rows, dmnode.RowChange{Kind: dmnode.Insert, After: row})
	}
	batch := &dmnode.Batch{Txns: []dmnode.Txn{{Changes: []dmnode.Change{change}, End: dmnode.Position{File: "mysql-bin.000001", Pos: 4}}}}
	data, err := jetstream.EncodeBatch(nil, batch)
	if err != nil {
		b.Fatal(err)
	}
	allocs := testing.AllocsPerRun(10, func() { _, _ = jetstream.DecodeBatch(data) })
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := jetstream.DecodeBatch(data); err != nil {
			b.Fatal(err)
		}
	}
	// An op decodes n rows; the per-row figures are the ones to compare.
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/row")
	b.ReportMetric(allocs/n, "allocs/row")
}

package rules

import "testing"

// BenchmarkApply measures the per-row path of a plan with a partition id
// mapping and an extracted source column.
func BenchmarkApply(b *testing.B) {
	task := shardTask()
	r, err := Compile(task, &task.MySQLInstances[0])
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

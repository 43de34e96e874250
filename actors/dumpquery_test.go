package actors

import (
	"testing"

	"github.com/dmnode/dmnode/core/schema"
)

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

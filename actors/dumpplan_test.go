package actors

import (
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/schema"
	"github.com/dmnode/dmnode/jetstream"
)

// Every table has its own key under the dump's prefix, and no key of one
// task and source falls under another's prefix, whatever the names hold.
func TestDumpTableKeys(t *testing.T) {
	id := dmnode.TableID{Schema: "shard.01", Table: "orders_*"}
	key := dumpTableKey("task-a", "src-1", id)
	if want := "dumptable.task-a.src-1.shard_2e01.orders_5f_2a"; key != want {
		t.Fatalf("key %q, want %q", key, want)
	}
	if !strings.HasPrefix(key, dumpTablesPrefix("task-a", "src-1")+".") {
		t.Fatalf("%q is not under the prefix %q", key, dumpTablesPrefix("task-a", "src-1"))
	}
	for _, other := range []string{dumpTablesPrefix("task-a", "src-10"), dumpTablesPrefix("task-a", "src"),
		dumpTablesPrefix("task", "a.src-1"), dumpKey("task-a", "src-1")} {
		if strings.HasPrefix(key, other+".") {
			t.Errorf("%q falls under %q", key, other)
		}
	}
	// A dot in a name cannot make two tables share a key.
	a := dumpTableKey("t", "s", dmnode.TableID{Schema: "a.b", Table: "c"})
	b := dumpTableKey("t", "s", dmnode.TableID{Schema: "a", Table: "b.c"})
	if a == b {
		t.Fatalf("two tables share the key %q", a)
	}
}

func intTable(unsigned bool) *schema.Table {
	return &schema.Table{Schema: "db", Name: "t", Key: []int{0},
		Columns: []schema.Column{{Name: "id", Type: "bigint", Unsigned: unsigned}, {Name: "v", Type: "varchar"}}}
}

// The chunk plan is the key range cut every step values: the chunks are
// contiguous, the first has no lower bound and the last no upper one.
func TestSplitKeyRange(t *testing.T) {
	for _, tc := range []struct {
		lo, hi   string
		unsigned bool
		per      int64
		want     []DumpChunk
	}{
		{"1", "10", false, 3, []DumpChunk{{"", "4"}, {"4", "7"}, {"7", "10"}, {"10", ""}}},
		{"1", "9", false, 3, []DumpChunk{{"", "4"}, {"4", "7"}, {"7", ""}}},
		{"5", "5", false, 100, []DumpChunk{{}}},
		{"1", "100", false, 200000, []DumpChunk{{}}},
		{"-10", "10", false, 7, []DumpChunk{{"", "-3"}, {"-3", "4"}, {"4", ""}}},
		{"-9223372036854775808", "9223372036854775807", false, 1 << 62,
			[]DumpChunk{{"", "-4611686018427387904"}, {"-4611686018427387904", "0"}, {"0", "4611686018427387904"}, {"4611686018427387904", ""}}},
		{"18446744073709551610", "18446744073709551615", true, 2,
			[]DumpChunk{{"", "18446744073709551612"}, {"18446744073709551612", "18446744073709551614"}, {"18446744073709551614", ""}}},
	} {
		dt := &DumpTable{Schema: intTable(tc.unsigned), KeyCol: 0}
		var err error
		dt.Min, dt.Step, dt.Chunks, err = splitKeyRange(tc.lo, tc.hi, tc.unsigned, tc.per, 0)
		if err != nil {
			t.Fatalf("%s..%s: %v", tc.lo, tc.hi, err)
		}
		var got []DumpChunk
		for i := range dt.Chunks {
			got = append(got, dt.Chunk(i))
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s..%s every %d: chunks %q, want %q", tc.lo, tc.hi, tc.per, got, tc.want)
		}
	}
	for _, bad := range [][2]string{{"10", "1"}, {"x", "1"}, {"1", "99999999999999999999"}} {
		if _, _, _, err := splitKeyRange(bad[0], bad[1], false, 10, 0); err == nil {
			t.Errorf("%s..%s: no error", bad[0], bad[1])
		}
	}
}

// Sparse keys widen the step instead of growing the plan, and the chunks
// still cover every value of the range exactly once.
func TestSplitKeyRangeSparse(t *testing.T) {
	lo, hi := int64(-5), int64(math.MaxInt64)
	dt := &DumpTable{Schema: intTable(false), KeyCol: 0}
	var err error
	dt.Min, dt.Step, dt.Chunks, err = splitKeyRange(strconv.FormatInt(lo, 10), strconv.FormatInt(hi, 10), false, 1000, 0)
	if err != nil {
		t.Fatal(err)
	}
	if dt.Chunks > dumpMaxChunks || dt.Chunks < dumpMaxChunks/2 {
		t.Fatalf("%d chunks, want at most %d and not far below", dt.Chunks, dumpMaxChunks)
	}
	in := func(v int64, c DumpChunk) bool {
		b := big.NewInt(v)
		if c.Lo != "" {
			l, _ := new(big.Int).SetString(c.Lo, 10)
			if b.Cmp(l) < 0 {
				return false
			}
		}
		if c.Hi != "" {
			h, _ := new(big.Int).SetString(c.Hi, 10)
			if b.Cmp(h) >= 0 {
				return false
			}
		}
		return true
	}
	for _, v := range []int64{lo, lo + 1, 0, 1 << 40, hi / 2, hi - 1, hi} {
		n := 0
		for i := range dt.Chunks {
			if in(v, dt.Chunk(i)) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("value %d is in %d chunks", v, n)
		}
	}
	for i := 1; i < dt.Chunks; i++ {
		if dt.Chunk(i-1).Hi != dt.Chunk(i).Lo {
			t.Fatalf("chunks %d and %d are not contiguous: %q %q", i-1, i, dt.Chunk(i-1), dt.Chunk(i))
		}
	}
}

// A table key stays small however many chunks the table has, and the
// summary does not grow with the tables.
func TestDumpCheckpointSizes(t *testing.T) {
	dt := &DumpTable{Schema: intTable(false), KeyCol: 0, Min: "1", Step: 1000, Chunks: dumpMaxChunks, Estimate: 1 << 40, Epoch: 7}
	for i := range dt.Chunks {
		dt.markDone(i, 1000)
	}
	b, _ := json.Marshal(dt)
	if len(b) > 16<<10 {
		t.Fatalf("a table of %d chunks, all done, encodes to %d bytes", dt.Chunks, len(b))
	}
	s, _ := json.Marshal(DumpCheckpoint{Epoch: math.MaxUint64, Planned: true, Tables: 1_000_000})
	if len(s) > 100 {
		t.Fatalf("the summary encodes to %d bytes: %s", len(s), s)
	}
}

func TestChunksDone(t *testing.T) {
	dt := &DumpTable{Schema: intTable(false), KeyCol: 0, Min: "1", Step: 10, Chunks: 19}
	for _, n := range []int{0, 7, 8, 18} {
		if !dt.markDone(n, int64(n+1)) {
			t.Fatalf("chunk %d: already done", n)
		}
	}
	if dt.markDone(8, 100) {
		t.Fatal("chunk 8 done twice")
	}
	var done []int
	for i := range dt.Chunks {
		if dt.IsDone(i) {
			done = append(done, i)
		}
	}
	if !slices.Equal(done, []int{0, 7, 8, 18}) || dt.ChunksDone() != 4 || dt.Rows != 1+8+9+19 {
		t.Fatalf("done %v (%d), rows %d", done, dt.ChunksDone(), dt.Rows)
	}
	if len(dt.Done) != 3 {
		t.Fatalf("bitmap of %d bytes for 19 chunks", len(dt.Done))
	}
}

// A save that finds the key written since: by an older incarnation, its
// chunks and ours are merged; by a newer one, this incarnation is fenced.
func TestMergeChunkDone(t *testing.T) {
	stored := &DumpTable{Schema: intTable(false), KeyCol: 0, Min: "1", Step: 10, Chunks: 4, Epoch: 3}
	stored.markDone(1, 10)
	if err := mergeChunkDone(stored, 2, 5, 4); err != nil {
		t.Fatal(err)
	}
	if !stored.IsDone(1) || !stored.IsDone(2) || stored.Rows != 15 || stored.Epoch != 4 {
		t.Fatalf("after the merge: %+v", stored)
	}
	if err := mergeChunkDone(stored, 2, 5, 4); err != nil || stored.Rows != 15 {
		t.Fatalf("a chunk merged twice: %v, rows %d", err, stored.Rows)
	}
	if err := mergeChunkDone(stored, 3, 5, 2); !errors.Is(err, jetstream.ErrFenced) {
		t.Fatalf("an older incarnation is not fenced: %v", err)
	}
}

// When a restarted dumper goes on from the stored plan, and when it plans
// again.
func TestDumpPlanResumable(t *testing.T) {
	table := func(name string, epoch uint64) []byte {
		b, _ := json.Marshal(&DumpTable{Schema: &schema.Table{Schema: "db", Name: name,
			Columns: []schema.Column{{Name: "id", Type: "int"}}}, KeyCol: -1, Chunks: 1, Epoch: epoch})
		return b
	}
	plan := func(epochs ...uint64) *dumpPlan {
		p := newDumpPlan()
		for i, e := range epochs {
			name := "t" + strconv.Itoa(i)
			if err := p.add(dumpTableKey("task", "src", dmnode.TableID{Schema: "db", Table: name}), uint64(i+1), table(name, e)); err != nil {
				t.Fatal(err)
			}
		}
		return p
	}
	for _, tc := range []struct {
		name   string
		cp     DumpCheckpoint
		plan   *dumpPlan
		resume bool
		why    string
		fenced bool
	}{
		{"first run", DumpCheckpoint{}, plan(), false, "no plan yet", false},
		{"plan interrupted", DumpCheckpoint{Epoch: 4}, plan(4, 4), false, "the plan was interrupted after 2 table keys", false},
		{"plan complete", DumpCheckpoint{Epoch: 4, Planned: true, Tables: 3}, plan(4, 4, 4), true, "", false},
		{"older keys of the same plan", DumpCheckpoint{Epoch: 4, Planned: true, Tables: 2}, plan(2, 3), true, "", false},
		{"a table key lost", DumpCheckpoint{Epoch: 4, Planned: true, Tables: 3}, plan(4, 4), false, "the plan has 2 table keys of 3", false},
		{"a newer incarnation", DumpCheckpoint{Epoch: 4, Planned: true, Tables: 2}, plan(4, 6), false, "", true},
	} {
		ok, why, err := tc.plan.resumable(tc.cp, 5)
		if tc.fenced {
			if !errors.Is(err, jetstream.ErrFenced) {
				t.Errorf("%s: not fenced: %v", tc.name, err)
			}
			continue
		}
		if err != nil || ok != tc.resume || why != tc.why {
			t.Errorf("%s: resume %v (%q, %v), want %v (%q)", tc.name, ok, why, err, tc.resume, tc.why)
		}
	}
}

// A table key that does not decode, or decodes to no plan, is an error
// naming the key, not a table silently skipped.
func TestDumpPlanCorrupt(t *testing.T) {
	for _, v := range []string{`{`, `{}`, `{"schema":{"schema":"db","name":"t","columns":[]},"key_col":-1,"chunks":0}`,
		`{"schema":{"schema":"db","name":"t","columns":[]},"key_col":3,"chunks":1}`} {
		err := newDumpPlan().add("dumptable.a.b.db.t", 1, []byte(v))
		if err == nil || !strings.Contains(err.Error(), "dumptable.a.b.db.t") {
			t.Errorf("%s: %v", v, err)
		}
	}
}

// The first column of a key of several repeats its values: with the
// table's estimated rows above the range's values, the step narrows so
// that a chunk holds about the rows asked for, never below one value;
// an estimate at or below the range's values (a one-column key, or none)
// leaves the step at the rows asked for.
func TestSplitKeyRangeRowsPerValue(t *testing.T) {
	for _, tc := range []struct {
		lo, hi     string
		per, rows  int64
		step       uint64
		wantChunks int
	}{
		{"1", "1000", 100, 3000, 33, 31}, // three rows a value
		{"1", "1000", 100, 0, 100, 10},   // no estimate
		{"1", "1000", 100, 800, 100, 10}, // fewer rows than values
		{"1", "3", 100, 1_000_000, 1, 3}, // a value a chunk at least
		{"-5", "4", 10, 100, 1, 10},      // ten rows a value
		{"1", "1000000", 1000, 4_000_000, 250, 4000},
	} {
		_, step, chunks, err := splitKeyRange(tc.lo, tc.hi, false, tc.per, tc.rows)
		if err != nil || step != tc.step || chunks != tc.wantChunks {
			t.Errorf("%s..%s, %d rows a chunk, %d rows: step %d, %d chunks, %v; want step %d, %d chunks",
				tc.lo, tc.hi, tc.per, tc.rows, step, chunks, err, tc.step, tc.wantChunks)
		}
	}
}

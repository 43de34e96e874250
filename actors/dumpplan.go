package actors

import (
	"encoding/json"
	"fmt"
	"math/bits"
	"strconv"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/schema"
	"github.com/dmnode/dmnode/jetstream"
)

// The dumper's checkpoint is one small summary key per task and source
// plus one key per table, so that no value grows with the number of tables
// or chunks:
//
//	dump.<task>.<source>                       DumpCheckpoint: epoch, planned, table count
//	dumptable.<task>.<source>.<schema>.<table> DumpTable: schema, chunk plan, chunks done
//
// A table's chunk plan is a key range and a step, not a list, and its
// chunks done are a bitmap, so a table key stays small however many chunks
// the table has (at most dumpMaxChunks).

// DumpCheckpoint is the summary of a dump: who writes it and whether the
// plan (every table key) is complete.
type DumpCheckpoint struct {
	Epoch uint64 `json:"epoch"`
	// Planned is set once every table of the plan has its key; until
	// then a restarted dumper plans again.
	Planned bool `json:"planned,omitempty"`
	// Tables is the number of table keys of the plan.
	Tables int `json:"table_count,omitempty"`
}

// DumpTable is one table's schema, chunk plan and chunks done.
//
// A table whose key starts with an integer column is split on that
// column's values: chunk 0 is [, Min+Step), chunk i is [Min+i*Step,
// Min+(i+1)*Step), and the last one has no upper bound. Others are one
// chunk.
type DumpTable struct {
	Schema *schema.Table `json:"schema"`
	// KeyCol is the integer key column the table is split on (the first
	// of its key); -1 when the table is read as one chunk.
	KeyCol int    `json:"key_col"`
	Min    string `json:"min,omitempty"`
	Step   uint64 `json:"step,omitempty"`
	Chunks int    `json:"chunks"`
	// Done has bit i set once chunk i's messages are all in the stream;
	// Rows is the number of rows of the chunks done.
	Done []byte `json:"done,omitempty"`
	Rows int64  `json:"rows,omitempty"`
	// Estimate is the server's estimate of the table's rows when it was
	// planned (information_schema.TABLES.TABLE_ROWS), for progress.
	Estimate int64 `json:"estimate,omitempty"`
	// Epoch is the assignment epoch of the incarnation that last wrote
	// the key: an older incarnation that meets a newer one is fenced.
	Epoch uint64 `json:"epoch"`
}

// DumpChunk is a half-open key range [Lo, Hi); the first chunk has no Lo
// and the last no Hi.
type DumpChunk struct {
	Lo string
	Hi string
}

// dumpMaxChunks bounds a table's chunks: where the key's values are
// sparse, the step is widened rather than the plan grown (a chunk then
// holds more rows than rows-per-chunk).
const dumpMaxChunks = 1 << 16

func dumpKey(task, source string) string     { return jetstream.DumpKey(task, source) }
func dumpProgKey(task, source string) string { return jetstream.ProgressKey("dump", task, source) }

// dumpTablesPrefix is the prefix of a dump's table keys.
func dumpTablesPrefix(task, source string) string { return jetstream.DumpTablesPrefix(task, source) }

// dumpTableKey is the key of one table's plan and chunks done.
func dumpTableKey(task, source string, id dmnode.TableID) string {
	return jetstream.DumpTableKey(task, source, id.Schema, id.Table)
}

// ID returns the table's id.
func (t *DumpTable) ID() dmnode.TableID {
	return dmnode.TableID{Schema: t.Schema.Schema, Table: t.Schema.Name}
}

// splitKeyRange plans the chunks of a table whose key runs from lo to hi
// (decimal, as the server returns MIN and MAX): bounds every perChunk
// values from lo, at most dumpMaxChunks chunks. rows, when the column
// split on is the first of a key of several, is the table's estimated
// rows: where it is more than the values of the range, several rows share
// a value, and the step narrows to hold about perChunk rows (at least one
// value a chunk).
func splitKeyRange(lo, hi string, unsigned bool, perChunk, rows int64) (min string, step uint64, chunks int, err error) {
	var l, h uint64 // signed values as their two's complement, so h-l is the distance
	if unsigned {
		if l, err = strconv.ParseUint(lo, 10, 64); err == nil {
			h, err = strconv.ParseUint(hi, 10, 64)
		}
	} else {
		var sl, sh int64
		if sl, err = strconv.ParseInt(lo, 10, 64); err == nil {
			sh, err = strconv.ParseInt(hi, 10, 64)
		}
		l, h = uint64(sl), uint64(sh)
		if sh < sl {
			err = fmt.Errorf("range %s..%s is empty", lo, hi)
		}
	}
	if err == nil && unsigned && h < l {
		err = fmt.Errorf("range %s..%s is empty", lo, hi)
	}
	if err != nil {
		return "", 0, 0, fmt.Errorf("split key range: %w", err)
	}
	step = uint64(max(perChunk, 1))
	diff := h - l
	if values := float64(diff) + 1; rows > 0 && float64(rows) > values {
		step = uint64(max(1, float64(step)*values/float64(rows)))
	}
	if diff/step >= dumpMaxChunks {
		step = diff/(dumpMaxChunks-1) + 1
	}
	return lo, step, int(diff/step) + 1, nil
}

// Chunk returns chunk n's key range.
func (t *DumpTable) Chunk(n int) DumpChunk {
	if t.KeyCol < 0 || t.Chunks <= 1 {
		return DumpChunk{}
	}
	var c DumpChunk
	if n > 0 {
		c.Lo = t.bound(n)
	}
	if n < t.Chunks-1 {
		c.Hi = t.bound(n + 1)
	}
	return c
}

// bound is Min + i*Step, in the key column's type.
func (t *DumpTable) bound(i int) string {
	if t.Schema.Columns[t.KeyCol].Unsigned {
		l, _ := strconv.ParseUint(t.Min, 10, 64)
		return strconv.FormatUint(l+uint64(i)*t.Step, 10)
	}
	l, _ := strconv.ParseInt(t.Min, 10, 64)
	return strconv.FormatInt(int64(uint64(l)+uint64(i)*t.Step), 10)
}

// IsDone reports whether chunk n is in the stream.
func (t *DumpTable) IsDone(n int) bool {
	return n/8 < len(t.Done) && t.Done[n/8]&(1<<(n%8)) != 0
}

// markDone records chunk n of rows rows as done; false when it was
// already.
func (t *DumpTable) markDone(n int, rows int64) bool {
	if t.IsDone(n) {
		return false
	}
	if len(t.Done) < (t.Chunks+7)/8 {
		t.Done = append(t.Done, make([]byte, (t.Chunks+7)/8-len(t.Done))...)
	}
	t.Done[n/8] |= 1 << (n % 8)
	t.Rows += rows
	return true
}

// ChunksDone counts the chunks done.
func (t *DumpTable) ChunksDone() int {
	n := 0
	for _, b := range t.Done {
		n += bits.OnesCount8(b)
	}
	return n
}

// mergeChunkDone applies chunk n's completion by the incarnation of epoch
// to the table as stored (stored), after a save found that someone else
// wrote the key since it was read. A newer incarnation wrote it: the
// caller is stale and gets ErrFenced. An older one (still finishing chunks
// it had started) wrote it: its chunks done are as good as ours, since any
// snapshot's rows are brought up to date by the binlog replay, so ours is
// added to them.
func mergeChunkDone(stored *DumpTable, n int, rows int64, epoch uint64) error {
	if stored.Epoch > epoch {
		return fmt.Errorf("table %s: %w", stored.ID(), jetstream.ErrFenced)
	}
	stored.markDone(n, rows)
	stored.Epoch = epoch
	return nil
}

// dumpPlan is a dump's table keys as loaded: tables by key, with their
// revisions.
type dumpPlan struct {
	tables map[string]*DumpTable
	revs   map[string]uint64
}

func newDumpPlan() *dumpPlan {
	return &dumpPlan{tables: map[string]*DumpTable{}, revs: map[string]uint64{}}
}

// add decodes one stored table key.
func (p *dumpPlan) add(key string, rev uint64, value []byte) error {
	var t DumpTable
	if err := json.Unmarshal(value, &t); err != nil {
		return fmt.Errorf("decode checkpoint %s: %w", key, err)
	}
	if t.Schema == nil || t.Chunks < 1 || t.KeyCol < -1 || t.KeyCol >= len(t.Schema.Columns) || (t.Chunks > 1 && (t.KeyCol < 0 || t.Step == 0)) {
		return fmt.Errorf("decode checkpoint %s: %w", key, jetstream.ErrCorrupt)
	}
	p.tables[key], p.revs[key] = &t, rev
	return nil
}

// resumable reports whether a dump can go on from its stored plan, and
// why not: the plan must be complete (the summary says so and counts as
// many table keys as there are) and no table key may be newer than this
// incarnation. A plan that cannot be resumed is made again: chunks are
// then dumped again, which the loader's idempotent writes allow.
func (p *dumpPlan) resumable(cp DumpCheckpoint, epoch uint64) (bool, string, error) {
	for k, t := range p.tables {
		if t.Epoch > epoch {
			return false, "", fmt.Errorf("table key %s written by epoch %d, this is %d: %w", k, t.Epoch, epoch, jetstream.ErrFenced)
		}
	}
	switch {
	case !cp.Planned && len(p.tables) == 0:
		return false, "no plan yet", nil
	case !cp.Planned:
		return false, fmt.Sprintf("the plan was interrupted after %d table keys", len(p.tables)), nil
	case len(p.tables) != cp.Tables:
		return false, fmt.Sprintf("the plan has %d table keys of %d", len(p.tables), cp.Tables), nil
	}
	return true, "", nil
}

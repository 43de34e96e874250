package node

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"sync"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/catalog"
	"github.com/dmnode/dmnode/core/schema"
	"github.com/dmnode/dmnode/core/shardddl"
)

type sink struct{ bytes.Buffer }

func (s *sink) ID() string    { return "test" }
func (s *sink) Cancel() error { return nil }
func (s *sink) Close() error  { return nil }

func applyEntry(t *testing.T, f *fsm, term uint64, c catalog.Command) error {
	t.Helper()
	data, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	r, ok := f.Apply(&raft.Log{Term: term, Data: data}).(applyResult)
	if !ok {
		t.Fatal("apply returned no applyResult")
	}
	return r.Err
}

// The FSM hands the catalog the log entry's term, so a placement whose
// entry is of a later term than its leader's is refused on every replica;
// the newest placement term survives a snapshot and its restore.
func TestFSMFencesPlacementByLogTerm(t *testing.T) {
	f := newFSM()
	kick := f.watch()
	assign := func(node string, term uint64) catalog.Command {
		return catalog.Command{Op: catalog.OpAssign, Assign: map[string]string{"tail/s1": node}, Term: term}
	}
	if err := applyEntry(t, f, 2, assign("n1", 2)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-kick:
	default:
		t.Fatal("no change notification")
	}
	if err := applyEntry(t, f, 3, assign("n2", 2)); !errors.Is(err, catalog.ErrStale) {
		t.Fatalf("placement of term 2 in an entry of term 3: %v", err)
	}
	if r := f.Apply(&raft.Log{Term: 3, Data: []byte("{")}).(applyResult); r.Err == nil {
		t.Fatal("undecodable entry applied")
	}
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var s sink
	if err := snap.Persist(&s); err != nil {
		t.Fatal(err)
	}
	snap.Release()
	g := newFSM()
	if err := g.Restore(io.NopCloser(&s)); err != nil {
		t.Fatal(err)
	}
	st := g.State()
	if st.Assign["tail/s1"].Node != "n1" || st.AssignTerm != 2 {
		t.Fatalf("restored catalog: %v, term %d", st.Assign, st.AssignTerm)
	}
	if err := applyEntry(t, g, 4, assign("n3", 1)); !errors.Is(err, catalog.ErrStale) {
		t.Fatalf("placement of term 1 after one of term 2: %v", err)
	}
	if err := g.Restore(io.NopCloser(bytes.NewBufferString("{"))); err == nil {
		t.Fatal("corrupt snapshot restored")
	}
}

// shardScript is a task with two optimistic shards that add a column
// each, in Raft entries as the appliers propose them.
func shardScript() []catalog.Command {
	target := schema.TableRef{Schema: "tgt", Name: "t"}
	table := func(cols ...string) *schema.Definition {
		t := &schema.Definition{Indexes: []schema.Index{{Name: "PRIMARY", Kind: "primary", Columns: []schema.IndexCol{{Column: "id"}}}}}
		t.Columns = append(t.Columns, schema.ColumnDef{Name: "id", Type: "int"})
		for _, c := range cols {
			t.Columns = append(t.Columns, schema.ColumnDef{Name: c, Type: "int", Nullable: true})
		}
		return t
	}
	shard := func(op catalog.ShardOp) catalog.Command { return catalog.Command{Op: catalog.OpShardDDL, Shard: &op} }
	out := []catalog.Command{
		{Op: catalog.OpAddSource, Source: &catalog.Source{ID: "s1", YAML: "a"}},
		{Op: catalog.OpAddSource, Source: &catalog.Source{ID: "s2", YAML: "b"}},
		{Op: catalog.OpSubmitTask, Task: &catalog.Task{Name: "t", YAML: "x", Mode: catalog.ModeIncremental,
			Sources: map[string]*catalog.TaskSource{"s1": {Start: dmnode.Position{File: "bin.000001", Pos: 4}}, "s2": {}}}},
		{Op: catalog.OpAddMember, Member: &catalog.Member{ID: "n1"}},
		{Op: catalog.OpAssign, Assign: map[string]string{"apply/t/s1": "n1", "apply/t/s2": "n1"}},
	}
	for _, src := range []string{"s1", "s2"} {
		m := shardddl.Member{Source: src, Schema: "db", Table: "t1"}
		out = append(out, shard(catalog.ShardOp{Kind: catalog.ShardRegister, Task: "t", Source: src, Mode: shardddl.Optimistic,
			Tables: []shardddl.Registration{{Member: m, Target: target, Schema: table()}}}))
	}
	for i, col := range []string{"a", "b"} {
		m := shardddl.Member{Source: []string{"s1", "s2"}[i], Schema: "db", Table: "t1"}
		p := shardddl.Position{Binlog: dmnode.Position{File: "bin.000001", Pos: uint32(100 + i)}}
		out = append(out,
			shard(catalog.ShardOp{Kind: catalog.ShardArrive, Task: "t", Member: m, Arrival: &shardddl.Arrival{Pos: p,
				DDLs: []string{"ALTER TABLE `tgt`.`t` ADD COLUMN `" + col + "` INT"}, After: table(col), Change: &shardddl.Change{}}}),
			shard(catalog.ShardOp{Kind: catalog.ShardDone, Task: "t", Member: m, Pos: p}))
	}
	return append(out,
		shard(catalog.ShardOp{Kind: catalog.ShardReject, Task: "t", Source: "s1", Rejected: &catalog.RejectedDDL{
			Pos: dmnode.Position{File: "bin.000001", Pos: 7}, Stmts: []string{"ALTER x"}, Error: "no"}}),
		catalog.Command{Op: catalog.OpSetDesired, Name: "t", Desired: catalog.Paused, ID: "k1"},
		catalog.Command{Op: catalog.OpLeaveMember, Name: "n1"},
	)
}

func encodeState(t *testing.T, s *catalog.State) string {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Every catalog State() hands out stays as it was while later entries are
// applied (the debug check of the immutable snapshots), and entries that
// carry their typed changes make the FSM parse no SQL.
func TestFSMStatesAreImmutable(t *testing.T) {
	f := newFSM()
	var states []*catalog.State
	var encs []string
	parses := schema.Parses()
	for i, c := range shardScript() {
		if err := applyEntry(t, f, 1, c); err != nil {
			t.Fatalf("entry %d (%s): %v", i, c.Op, err)
		}
		st := f.State()
		if len(states) > 0 && st == states[len(states)-1] {
			t.Fatalf("entry %d (%s) published no new catalog", i, c.Op)
		}
		states, encs = append(states, st), append(encs, encodeState(t, st))
	}
	if n := schema.Parses() - parses; n != 0 {
		t.Fatalf("the FSM parsed %d statements", n)
	}
	for i, st := range states {
		if got := encodeState(t, st); got != encs[i] {
			t.Fatalf("the catalog read after entry %d changed later:\nthen %s\nnow  %s", i, encs[i], got)
		}
	}
	last := states[len(states)-1]
	if last.Tasks["t"].Desired != catalog.Paused || !last.Members["n1"].Leaving || states[0].Sources["s2"] != nil {
		t.Fatalf("catalogs: %s / %s", encs[0], encs[len(encs)-1])
	}
	if got := last.ShardDDL["t"].Manager.Joined(schema.TableRef{Schema: "tgt", Name: "t"}); got == nil || len(got.Columns) != 3 {
		t.Fatalf("joined schema %+v", got)
	}
}

// An arrival written by an older version, without its typed change, is
// completed when the entry is decoded (one parse) and answers as the
// same arrival with its change.
func TestFSMUpgradesArrivalWithoutChange(t *testing.T) {
	script := shardScript()
	n := 7 // the first arrival
	if c := script[n]; c.Shard == nil || c.Shard.Kind != catalog.ShardArrive {
		t.Fatalf("entry %d is not an arrival", n)
	}
	answer := func(old bool) *shardddl.Outcome {
		f := newFSM()
		for i, c := range script[:n] {
			if err := applyEntry(t, f, 1, c); err != nil {
				t.Fatalf("entry %d: %v", i, err)
			}
		}
		c := script[n]
		op := *c.Shard
		a := *op.Arrival
		a.DDLs = []string{"ALTER TABLE `tgt`.`t` CHANGE COLUMN `x` `a` INT"}
		a.Change = &shardddl.Change{Renames: []shardddl.Rename{{From: "x", To: "a"}}}
		if old {
			a.Change = nil
		}
		op.Arrival, c.Shard = &a, &op
		data, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		before := schema.Parses()
		r := f.Apply(&raft.Log{Term: 1, Data: data}).(applyResult)
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		if want, got := map[bool]uint64{false: 0, true: 1}[old], schema.Parses()-before; got != want {
			t.Fatalf("old entry %v: parsed %d statements, want %d", old, got, want)
		}
		return r.Result.Outcome
	}
	typed, old := answer(false), answer(true)
	if typed == nil || typed.Action != shardddl.Conflict || !reflect.DeepEqual(typed, old) {
		t.Fatalf("typed arrival %+v, old arrival %+v", typed, old)
	}
}

// Readers share the published catalog while entries are applied and
// snapshots persisted (run with -race).
func TestFSMConcurrentReaders(t *testing.T) {
	f := newFSM()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				st := f.State()
				if _, err := json.Marshal(st); err != nil {
					t.Error(err)
					return
				}
				for _, name := range st.TaskNames() {
					_ = st.Tasks[name].SortedSources()
				}
				if sd := st.ShardDDL["t"]; sd != nil {
					_ = sd.Manager.Locks()
				}
			}
		}()
	}
	for round := range 20 {
		g := newFSM()
		for i, c := range shardScript() {
			if err := applyEntry(t, g, 1, c); err != nil {
				t.Fatalf("round %d entry %d: %v", round, i, err)
			}
		}
		for _, c := range shardScript() {
			_ = applyEntry(t, f, 1, c) // again: some are refused, which publishes too
			snap, err := f.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			var s sink
			if err := snap.Persist(&s); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(stop)
	wg.Wait()
}

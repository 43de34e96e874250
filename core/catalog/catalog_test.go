package catalog

import (
	"errors"
	"maps"
	"reflect"
	"testing"

	"github.com/dmnode/dmnode"
)

func pos(file string, p uint32) dmnode.Position { return dmnode.Position{File: file, Pos: p} }

func mustApply(t *testing.T, s *State, c Command) {
	t.Helper()
	if err := s.Apply(c); err != nil {
		t.Fatalf("apply %s: %v", c.Op, err)
	}
}

func newTaskState(t *testing.T, mode string) *State {
	s := New()
	mustApply(t, s, Command{Op: OpAddSource, Source: &Source{ID: "s1", YAML: "a"}})
	mustApply(t, s, Command{Op: OpAddSource, Source: &Source{ID: "s2", YAML: "b"}})
	mustApply(t, s, Command{Op: OpSubmitTask, Task: &Task{Name: "t", YAML: "x", Mode: mode,
		Sources: map[string]*TaskSource{"s1": {}, "s2": {}}}})
	return s
}

func actorIDs(specs []ActorSpec) []string {
	var ids []string
	for _, a := range specs {
		ids = append(ids, a.ID())
	}
	return ids
}

// A task in mode all walks dump → load → sync per source, and the catalog
// asks for the right actors at every step.
func TestStagesOfModeAll(t *testing.T) {
	s := newTaskState(t, ModeAll)
	want := []string{"dump/t/s1", "dump/t/s2", "load/t/s1", "load/t/s2"}
	if got := actorIDs(s.Desired()); !reflect.DeepEqual(got, want) {
		t.Fatalf("desired = %v, want %v", got, want)
	}
	// Finishing a dump before a snapshot position is known is refused.
	if err := s.Apply(Command{Op: OpStageDone, Name: "t", Src: "s1", Stage: StageDump}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("dump done without snapshot: %v", err)
	}
	mustApply(t, s, Command{Op: OpSnapshotTaken, Name: "t", Src: "s1", Pos: pos("bin.000002", 100)})
	if s.Sources["s1"].TailFrom != pos("bin.000002", 100) {
		t.Fatalf("tail from = %v", s.Sources["s1"].TailFrom)
	}
	// A redone dump keeps the first start and widens the safe window.
	mustApply(t, s, Command{Op: OpSnapshotTaken, Name: "t", Src: "s1", Pos: pos("bin.000002", 900)})
	ts := s.Tasks["t"].Sources["s1"]
	if ts.Start != pos("bin.000002", 100) || ts.SafeUntil != pos("bin.000002", 900) || ts.Snapshots != 2 {
		t.Fatalf("after two snapshots: %+v", ts)
	}
	mustApply(t, s, Command{Op: OpStageDone, Name: "t", Src: "s1", Stage: StageDump})
	mustApply(t, s, Command{Op: OpStageDone, Name: "t", Src: "s1", Stage: StageLoad})
	// A retried report of an earlier stage is a no-op.
	mustApply(t, s, Command{Op: OpStageDone, Name: "t", Src: "s1", Stage: StageDump})
	want = []string{"apply/t/s1", "dump/t/s2", "load/t/s2", "tail/s1"}
	if got := actorIDs(s.Desired()); !reflect.DeepEqual(got, want) {
		t.Fatalf("desired = %v, want %v", got, want)
	}
	// Paused, only the tailer keeps relaying the binlog.
	mustApply(t, s, Command{Op: OpSetDesired, Name: "t", Desired: Paused})
	if got, want := actorIDs(s.Desired()), []string{"tail/s1"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("paused: desired = %v, want %v", got, want)
	}
	if err := s.Apply(Command{Op: OpSetDesired, Name: "t", Desired: "sleeping"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("unknown desired state: %v", err)
	}
	mustApply(t, s, Command{Op: OpSetDesired, Name: "t", Desired: Stopped})
	if got := s.Desired(); len(got) != 0 {
		t.Fatalf("stopped task still wants %v", actorIDs(got))
	}
}

// A task is deleted only once it no longer runs.
func TestDeleteTask(t *testing.T) {
	s := newTaskState(t, ModeAll)
	if err := s.Apply(Command{Op: OpDeleteTask, Name: "t"}); !errors.Is(err, ErrInUse) {
		t.Fatalf("delete running task: %v", err)
	}
	mustApply(t, s, Command{Op: OpSetDesired, Name: "t", Desired: Paused})
	mustApply(t, s, Command{Op: OpDeleteTask, Name: "t"})
	if _, ok := s.Tasks["t"]; ok || len(s.Desired()) != 0 {
		t.Fatalf("deleted task still there: %v", actorIDs(s.Desired()))
	}
	if err := s.Apply(Command{Op: OpDeleteTask, Name: "t"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete missing task: %v", err)
	}
	// Its sources are free again.
	mustApply(t, s, Command{Op: OpRemoveSource, Name: "s1"})
}

func TestFullModeEndsDone(t *testing.T) {
	s := newTaskState(t, ModeFull)
	mustApply(t, s, Command{Op: OpSnapshotTaken, Name: "t", Src: "s1", Pos: pos("b.1", 4)})
	mustApply(t, s, Command{Op: OpStageDone, Name: "t", Src: "s1", Stage: StageDump})
	mustApply(t, s, Command{Op: OpStageDone, Name: "t", Src: "s1", Stage: StageLoad})
	if st := s.Tasks["t"].Sources["s1"].Stage; st != StageDone {
		t.Fatalf("stage = %s", st)
	}
	for _, a := range s.Desired() {
		if a.Source == "s1" {
			t.Fatalf("finished full task still wants %s", a.ID())
		}
	}
}

func TestIdempotencyKey(t *testing.T) {
	s := New()
	c := Command{Op: OpAssign, ID: "k1", Assign: map[string]string{"tail/s1": "n1"}}
	mustApply(t, s, c)
	mustApply(t, s, c)
	if s.Epoch != 1 {
		t.Fatalf("retried command applied twice: epoch %d", s.Epoch)
	}
}

// The verified replication factor only grows: losing a node must not make
// a new leader verify (or shrink) the streams again.
func TestReplicatedOnlyGrows(t *testing.T) {
	s := New()
	for _, step := range []struct{ set, want int }{{1, 1}, {3, 3}, {2, 3}, {0, 3}} {
		mustApply(t, s, Command{Op: OpReplicated, Replicas: step.set})
		if s.Replicas != step.want {
			t.Fatalf("after replicated %d: factor %d, want %d", step.set, s.Replicas, step.want)
		}
	}
}

func TestSourceInUse(t *testing.T) {
	s := newTaskState(t, ModeAll)
	if err := s.Apply(Command{Op: OpRemoveSource, Name: "s1"}); !errors.Is(err, ErrInUse) {
		t.Fatalf("remove used source: %v", err)
	}
	if err := s.Apply(Command{Op: OpAddSource, Source: &Source{ID: "s1", YAML: "changed"}}); !errors.Is(err, ErrInUse) {
		t.Fatalf("change used source: %v", err)
	}
	if err := s.Apply(Command{Op: OpSubmitTask, Task: &Task{Name: "t", YAML: "other", Sources: map[string]*TaskSource{"s1": {}}}}); !errors.Is(err, ErrExists) {
		t.Fatalf("resubmit with other yaml: %v", err)
	}
}

// Placement keeps actors on live nodes, moves those of dead nodes to the
// least loaded live node, and removes actors no longer desired.
func TestPlace(t *testing.T) {
	desired := []ActorSpec{{Kind: KindTail, Source: "a"}, {Kind: KindTail, Source: "b"}, {Kind: KindTail, Source: "c"}}
	cases := []struct {
		name    string
		live    []string
		current map[string]Assignment
		want    map[string]string
	}{
		{"empty cluster spreads", []string{"n1", "n2"}, nil,
			map[string]string{"tail/a": "n1", "tail/b": "n2", "tail/c": "n1"}},
		{"stable when nothing changed", []string{"n1", "n2"},
			map[string]Assignment{"tail/a": {"n1", 1}, "tail/b": {"n2", 2}, "tail/c": {"n1", 3}},
			map[string]string{}},
		{"dead node's actors move", []string{"n1", "n3"},
			map[string]Assignment{"tail/a": {"n1", 1}, "tail/b": {"n2", 2}, "tail/c": {"n1", 3}},
			map[string]string{"tail/b": "n3"}},
		{"undesired actor removed", []string{"n1"},
			map[string]Assignment{"tail/a": {"n1", 1}, "tail/b": {"n1", 2}, "tail/c": {"n1", 3}, "tail/z": {"n1", 4}},
			map[string]string{"tail/z": ""}},
		{"no live node places nothing", nil, nil, map[string]string{}},
		{"a joining node gets actors", []string{"n1", "n2"},
			map[string]Assignment{"tail/a": {"n1", 1}, "tail/b": {"n1", 2}, "tail/c": {"n1", 3}},
			map[string]string{"tail/c": "n2"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Place(tc.live, desired, tc.current)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Place = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParseActorID(t *testing.T) {
	for _, a := range []ActorSpec{{Kind: KindTail, Source: "s"}, {Kind: KindApply, Task: "t", Source: "s"}} {
		got, ok := ParseActorID(a.ID())
		if !ok || got != a {
			t.Fatalf("ParseActorID(%q) = %v, %v", a.ID(), got, ok)
		}
	}
}

// A source's tailer and applier share a node when the load allows it, so
// the applier reads the stream where it is written. Balance comes first:
// on two nodes, one of three sources must be split.
func TestPlaceKeepsASourceTogether(t *testing.T) {
	var desired []ActorSpec
	for _, src := range []string{"a", "b", "c"} {
		desired = append(desired, ActorSpec{Kind: KindApply, Task: "t", Source: src})
	}
	for _, src := range []string{"a", "b", "c"} {
		desired = append(desired, ActorSpec{Kind: KindTail, Source: src})
	}
	got := Place([]string{"n1", "n2", "n3"}, desired, nil)
	want := map[string]string{
		"apply/t/a": "n1", "apply/t/b": "n2", "apply/t/c": "n3",
		"tail/a": "n1", "tail/b": "n2", "tail/c": "n3",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Place = %v, want %v", got, want)
	}
}

// Replaying the same commands must give the same state, epochs included.
func TestAssignIsDeterministic(t *testing.T) {
	var first map[string]Assignment
	for range 20 {
		s := New()
		mustApply(t, s, Command{Op: OpAssign, Assign: map[string]string{"a": "n1", "b": "n1", "c": "n2", "d": "n2"}})
		if first == nil {
			first = s.Assign
		} else if !reflect.DeepEqual(first, s.Assign) {
			t.Fatalf("assignments differ between replays: %v vs %v", first, s.Assign)
		}
	}
}

// A scripted life of a cluster: placement as nodes join, fail, come back and
// leave, checked step by step. Applying the script twice gives the same
// epochs: a new leader replaying the log reaches the same assignment.
func TestPlacementScript(t *testing.T) {
	run := func() *State {
		s := newTaskState(t, ModeAll)
		for _, id := range []string{"n1", "n2", "n3"} {
			mustApply(t, s, Command{Op: OpAddMember, Member: &Member{ID: id}})
		}
		step := func(live []string, want map[string]int) {
			t.Helper()
			mustApply(t, s, Command{Op: OpAssign, Assign: Place(live, s.Desired(), s.Assign)})
			got := map[string]int{}
			for _, a := range s.Assign {
				got[a.Node]++
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("live %v: actors per node %v, want %v", live, got, want)
			}
		}
		// dump and load of two sources: four actors over three nodes, the
		// second source's pair together
		step([]string{"n1", "n2", "n3"}, map[string]int{"n1": 1, "n2": 2, "n3": 1})
		// n1 fails: its actors move, nothing else does
		step([]string{"n2", "n3"}, map[string]int{"n2": 2, "n3": 2})
		// n1 comes back: the idle node gets actors from the busiest
		step([]string{"n1", "n2", "n3"}, map[string]int{"n1": 1, "n2": 1, "n3": 2})
		// n3 leaves gracefully
		mustApply(t, s, Command{Op: OpLeaveMember, Name: "n3"})
		step([]string{"n1", "n2"}, map[string]int{"n1": 2, "n2": 2})
		mustApply(t, s, Command{Op: OpRemoveMember, Name: "n3"})
		if _, ok := s.Members["n3"]; ok {
			t.Fatal("removed member still listed")
		}
		return s
	}
	a, b := run(), run()
	if !reflect.DeepEqual(a.Assign, b.Assign) || a.Epoch != b.Epoch {
		t.Fatalf("two runs of the script differ:\n%v (epoch %d)\n%v (epoch %d)", a.Assign, a.Epoch, b.Assign, b.Epoch)
	}
}

// An update replaces the file and restarts the task's actors where they
// are, with new epochs; other tasks' actors are left alone.
func TestUpdateTask(t *testing.T) {
	s := newTaskState(t, ModeAll)
	mustApply(t, s, Command{Op: OpAssign, Assign: map[string]string{"dump/t/s1": "n1", "load/t/s1": "n2", "tail/s9": "n3"}})
	before := maps.Clone(s.Assign)
	mustApply(t, s, Command{Op: OpUpdateTask, Task: &Task{Name: "t", File: "t2.yaml", YAML: "y"}})
	if s.Tasks["t"].YAML != "y" || s.Tasks["t"].File != "t2.yaml" {
		t.Fatalf("file not replaced: %+v", s.Tasks["t"])
	}
	for id, a := range s.Assign {
		b := before[id]
		switch {
		case a.Node != b.Node:
			t.Errorf("%s moved from %s to %s", id, b.Node, a.Node)
		case id == "tail/s9" && a.Epoch != b.Epoch:
			t.Errorf("another task's actor restarted")
		case id != "tail/s9" && a.Epoch <= b.Epoch:
			t.Errorf("%s keeps epoch %d", id, a.Epoch)
		}
	}
	if err := s.Apply(Command{Op: OpUpdateTask, Task: &Task{Name: "nope"}}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("update of a missing task: %v", err)
	}
}

// Among nodes with as many actors, work goes where fewer rows per second
// flow; the rates of a dead node's actors follow them.
func TestPlaceWeighted(t *testing.T) {
	spec := func(src string) ActorSpec { return ActorSpec{Kind: KindApply, Task: "t", Source: src} }
	desired := []ActorSpec{spec("a"), spec("b"), spec("c"), spec("d")}
	current := map[string]Assignment{
		"apply/t/a": {Node: "n1", Epoch: 1}, "apply/t/b": {Node: "n2", Epoch: 2}, "apply/t/c": {Node: "n3", Epoch: 3},
	}
	rates := map[string]float64{"apply/t/a": 5000, "apply/t/b": 10, "apply/t/c": 900, "apply/t/d": 300}
	got := PlaceWeighted([]string{"n1", "n2", "n3"}, desired, current, rates)
	if want := map[string]string{"apply/t/d": "n2"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("new actor placed %v, want %v", got, want)
	}
	// Without rates the name decides.
	if got := Place([]string{"n1", "n2", "n3"}, desired, current); got["apply/t/d"] != "n1" {
		t.Fatalf("unweighted: %v", got)
	}
	// n1 dies: its busy actor goes to the quieter of the two others.
	got = PlaceWeighted([]string{"n2", "n3"}, desired[:3], current, rates)
	if want := map[string]string{"apply/t/a": "n2"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after n1 died: %v, want %v (n2 carries 10 rows/s, n3 900)", got, want)
	}
}

// A placement decided by a deposed leader never takes effect: not after a
// newer leader placed, and not when it reached the log in a later term than
// its leader's (forwarded to the successor). Unfenced assignments (term 0)
// apply as before.
func TestAssignFencedByTerm(t *testing.T) {
	a := func(node string, term, logTerm uint64) Command {
		return Command{Op: OpAssign, Assign: map[string]string{"tail/s1": node}, Term: term, LogTerm: logTerm}
	}
	for _, c := range []struct {
		name  string
		steps []Command
		stale []bool // whether each step is refused
		node  string // where tail/s1 ends up
		term  uint64
	}{
		{"one leader", []Command{a("n1", 2, 2), a("n2", 2, 2)}, []bool{false, false}, "n2", 2},
		{"newer leader wins", []Command{a("n1", 2, 2), a("n2", 3, 3)}, []bool{false, false}, "n2", 3},
		{"older after newer", []Command{a("n2", 3, 3), a("n1", 2, 2)}, []bool{false, true}, "n2", 3},
		{"forwarded after deposition", []Command{a("n1", 2, 2), a("n2", 2, 3)}, []bool{false, true}, "n1", 2},
		{"forwarded first", []Command{a("n2", 2, 3)}, []bool{true}, "", 0},
		{"entry of the old term committed late", []Command{a("n1", 2, 2), a("n2", 2, 2), a("n3", 3, 3)}, []bool{false, false, false}, "n3", 3},
		{"unfenced", []Command{a("n2", 3, 3), a("n1", 0, 4)}, []bool{false, false}, "n1", 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := New()
			for i, step := range c.steps {
				before := s.Epoch
				err := s.Apply(step)
				if got := errors.Is(err, ErrStale); got != c.stale[i] {
					t.Fatalf("step %d: err %v, want stale %v", i, err, c.stale[i])
				}
				if err != nil && s.Epoch != before {
					t.Fatalf("step %d: refused placement changed the epoch", i)
				}
			}
			if got := s.Assign["tail/s1"].Node; got != c.node {
				t.Errorf("tail/s1 on %q, want %q", got, c.node)
			}
			if s.AssignTerm != c.term {
				t.Errorf("assign term %d, want %d", s.AssignTerm, c.term)
			}
		})
	}
}

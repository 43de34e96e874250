package node

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/dmnode/dmnode/core/catalog"
)

// testScheduler is a dev-mode scheduler whose commands are applied to
// the FSM in memory, as this node's Raft would, and recorded.
func testScheduler(t *testing.T, term uint64) (*scheduler, *fsm, *[]catalog.Command) {
	t.Helper()
	f := newFSM()
	var cmds []catalog.Command
	s := &scheduler{
		id: "n1", cfg: &Config{Dev: true}, log: slog.New(slog.DiscardHandler), fsm: f,
		self: catalog.Member{ID: "n1", Control: "nats://n1"},
		applyLocal: func(op string, data []byte) (catalog.Result, error) {
			var c catalog.Command
			if err := json.Unmarshal(data, &c); err != nil {
				t.Fatal(err)
			}
			cmds = append(cmds, c)
			r := f.Apply(&raft.Log{Data: data, Term: term}).(applyResult)
			return r.Result, r.Err
		},
		liveMembers: func(st *catalog.State) []string { return st.MemberIDs() },
		replicas:    func(int) int { return 1 },
		storeReady:  new(atomic.Bool),
	}
	return s, f, &cmds
}

// One round of the leader's decisions: it registers itself as a member,
// then places the desired actors on the live members, the assignment
// stamped with its term; a second round changes nothing.
func TestSchedulerPlaceOnce(t *testing.T) {
	s, f, cmds := testScheduler(t, 7)
	ctx := context.Background()
	for _, c := range []catalog.Command{
		{Op: catalog.OpAddSource, Source: &catalog.Source{ID: "s1", YAML: "s1"}},
		{Op: catalog.OpSubmitTask, Task: &catalog.Task{Name: "t", YAML: "t", Mode: catalog.ModeIncremental, Sources: map[string]*catalog.TaskSource{"s1": {}}}},
	} {
		if err := s.proposeLeading(ctx, 7, c); err != nil {
			t.Fatal(err)
		}
	}
	*cmds = nil
	if err := s.placeOnce(ctx, 7); err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, c := range *cmds {
		ops = append(ops, c.Op)
		if c.Op == catalog.OpAssign && c.Term != 7 {
			t.Errorf("assignment stamped with term %d, want 7", c.Term)
		}
	}
	if strings.Join(ops, ",") != catalog.OpAddMember+","+catalog.OpAssign {
		t.Fatalf("commands %v", ops)
	}
	st := f.State()
	if st.Members["n1"] == nil || st.Assign["tail/s1"].Node != "n1" || st.Assign["apply/t/s1"].Node != "n1" {
		t.Fatalf("members %v, assignments %v", st.Members, st.Assign)
	}
	*cmds = nil
	if err := s.placeOnce(ctx, 7); err != nil || len(*cmds) != 0 {
		t.Errorf("a second round proposed %v (%v)", *cmds, err)
	}
}

// Once the leadership's context ends, the scheduler proposes nothing;
// and an assignment it stamped with an older term than the log's entry
// is refused by the catalog.
func TestSchedulerFencing(t *testing.T) {
	s, f, cmds := testScheduler(t, 9)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	m := s.self
	err := s.proposeLeading(ctx, 8, catalog.Command{Op: catalog.OpAddMember, Member: &m})
	if err == nil || !strings.Contains(err.Error(), "leadership of term 8 is over") || len(*cmds) != 0 {
		t.Fatalf("after the leadership: %v, %v", err, *cmds)
	}
	if err := s.proposeLeading(context.Background(), 9, catalog.Command{Op: catalog.OpAddMember, Member: &m}); err != nil {
		t.Fatal(err)
	}
	err = s.proposeLeading(context.Background(), 8, catalog.Command{Op: catalog.OpAssign, Assign: map[string]string{"tail/s1": "n1"}})
	if !errors.Is(err, catalog.ErrStale) {
		t.Errorf("an assignment of term 8 in a log entry of term 9: %v", err)
	}
	if len(f.State().Assign) != 0 {
		t.Errorf("a stale assignment took effect: %v", f.State().Assign)
	}
}

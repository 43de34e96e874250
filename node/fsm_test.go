package node

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/dmnode/dmnode/core/catalog"
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

package actors

import (
	"testing"

	"github.com/dmnode/dmnode"
)

// A quarantined target table holds the changes of every upstream table
// routed to it from its DDL on; the checkpoint stays at the floor; after
// a restart (holds not held) the dropped changes are applied and those
// applied before are passed over.
func TestQuarantineHold(t *testing.T) {
	at := func(p uint32) dmnode.Position { return dmnode.Position{File: "bin.000001", Pos: p} }
	route := map[string]string{"db.a_1": "db.a", "db.a_2": "db.a", "db.b": "db.b"}
	s := &shardState{Holds: map[string]*hold{}, targets: map[string]string{},
		route: func(db, table string) string { return route[db+"."+table] }}
	a1, a2, b := dmnode.TableID{Schema: "db", Table: "a_1"}, dmnode.TableID{Schema: "db", Table: "a_2"}, dmnode.TableID{Schema: "db", Table: "b"}
	if !s.stateless() {
		t.Fatal("no hold: stateless")
	}
	s.Holds[quarantineKey("db.a")] = &hold{Target: "db.a", From: at(200), Floor: at(150), Held: true}
	s.Reached = at(400)
	for _, tc := range []struct {
		id     dmnode.TableID
		end    uint32
		replay bool
		want   bool
	}{
		{a1, 100, false, true},  // before the DDL
		{a1, 200, false, false}, // the DDL and after: held
		{a2, 300, false, false}, // another shard routed to the same table
		{b, 300, false, true},   // another table goes on
		{b, 300, true, false},   // a replay of it is passed over
	} {
		if got := s.applies(tc.id, at(tc.end), tc.replay); got != tc.want {
			t.Errorf("held: applies(%s at %d, replay %v) = %v, want %v", tc.id, tc.end, tc.replay, got, tc.want)
		}
	}
	if got := s.checkpoint(at(500)); got != at(150) {
		t.Errorf("checkpoint = %s, want the floor", got)
	}
	if s.stateless() {
		t.Error("a hold is state to write with the checkpoint")
	}
	// Restart: the hold is no longer held; the replay re-syncs the table.
	s.rewind()
	for _, tc := range []struct {
		id   dmnode.TableID
		end  uint32
		want bool
	}{
		{a1, 180, false}, // applied before the DDL
		{a1, 200, true},  // the DDL again, then its dropped changes
		{a2, 300, true},
		{b, 300, false}, // applied before
	} {
		if got := s.applies(tc.id, at(tc.end), s.enter(at(tc.end))); got != tc.want {
			t.Errorf("re-sync: applies(%s at %d) = %v, want %v", tc.id, tc.end, got, tc.want)
		}
	}
	if got := s.checkpoint(at(300)); got != at(300) {
		t.Errorf("re-sync checkpoint = %s, want it to move", got)
	}
	// Past Reached the hold is forgotten.
	s.enter(at(500))
	if len(s.Holds) != 0 {
		t.Errorf("holds left after the re-sync: %v", s.Holds)
	}
}

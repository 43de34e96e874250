package node

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dmnode/dmnode/core/catalog"
	"github.com/dmnode/dmnode/jetstream"
)

// fakeMetricsView is the node as the collectors see it: its Raft state and
// health as the test sets them, the catalog and task status of a control
// layer on fakes.
type fakeMetricsView struct {
	tc             *testControl
	raft           raftStats
	raftOK         bool
	health         NodeHealth
	healthOK       bool
	live           map[string]bool
	loaded, opened bool
}

func (f *fakeMetricsView) raftState() (raftStats, bool)     { return f.raft, f.raftOK }
func (f *fakeMetricsView) healthReport() (NodeHealth, bool) { return f.health, f.healthOK }
func (f *fakeMetricsView) State() *catalog.State            { return f.tc.fsm.State() }
func (f *fakeMetricsView) alive(id string) bool             { return f.live[id] }
func (f *fakeMetricsView) catalogLoaded() bool              { return f.loaded }
func (f *fakeMetricsView) storeOpen() bool                  { return f.opened }
func (f *fakeMetricsView) taskStatus(ctx context.Context, t *catalog.Task) (TaskStatus, error) {
	return f.tc.taskStatus(ctx, t)
}

// The node series: nothing before Raft opened; Raft's state, and the
// health once watched; the under-replicated streams only on the leader.
func TestMetricsNodeCollector(t *testing.T) {
	v := &fakeMetricsView{tc: newFakeControl()}
	c := &nodeCollector{v: v}
	if s := collected(t, c.Collect); len(s) != 0 {
		t.Errorf("series before raft opened: %v", s)
	}
	v.raftOK, v.raft = true, raftStats{leaderKnown: true, applied: 7, last: 9}
	s := collected(t, c.Collect)
	for _, want := range []string{"dmnode_raft_leader{} 0", "dmnode_raft_leader_known{} 1", "dmnode_raft_applied_index{} 7", "dmnode_raft_last_index{} 9"} {
		if !has(s, want) {
			t.Errorf("follower: no %s in %v", want, s)
		}
	}
	if has(s, "dmnode_nats_connected") {
		t.Errorf("health series before the node watches NATS: %v", s)
	}
	v.healthOK = true
	v.health = NodeHealth{NATSConnected: true, UnderReplicated: []string{"a", "b"}, Unrecorded: []ActorError{{Actor: "tail/s1"}}}
	s = collected(t, c.Collect)
	for _, want := range []string{"dmnode_nats_connected{} 1", "dmnode_jetstream_available{} 0", "dmnode_actor_errors_unrecorded{} 1"} {
		if !has(s, want) {
			t.Errorf("follower with health: no %s in %v", want, s)
		}
	}
	if has(s, "dmnode_jetstream_streams_underreplicated") {
		t.Errorf("a follower exports the under-replicated streams: %v", s)
	}
	v.raft.leader = true
	if s = collected(t, c.Collect); !has(s, "dmnode_jetstream_streams_underreplicated{} 2") || !has(s, "dmnode_raft_leader{} 1") {
		t.Errorf("leader: %v", s)
	}
}

// The task series come from the leader with its catalog loaded: the
// members by health, and once JetStream is open each task's state (error
// when a source's actor failed), each source's stage and its quarantined
// tables; a task gone from the catalog drops its remaining-time samples.
func TestMetricsTaskCollector(t *testing.T) {
	tc := seeded(t)
	tc.exec(
		catalog.Command{Op: catalog.OpAddMember, Member: &catalog.Member{ID: "n1"}},
		catalog.Command{Op: catalog.OpAddMember, Member: &catalog.Member{ID: "n2"}},
		catalog.Command{Op: catalog.OpAddMember, Member: &catalog.Member{ID: "n3"}},
	)
	v := &fakeMetricsView{tc: tc, live: map[string]bool{"n1": true, "n2": true}, raftOK: true, raft: raftStats{leaderKnown: true}}
	c := newTaskCollector(v)
	if s := collected(t, c.Collect); len(s) != 0 {
		t.Errorf("a follower exports task series: %v", s)
	}
	v.raft.leader = true
	if s := collected(t, c.Collect); len(s) != 0 {
		t.Errorf("a leader with its catalog not loaded exports: %v", s)
	}
	v.loaded = true
	s := collected(t, c.Collect)
	if len(s) != 2 || !has(s, "dmnode_cluster_members{state=healthy} 2") || !has(s, "dmnode_cluster_members{state=unhealthy} 1") {
		t.Errorf("before JetStream opened: %v, want only the members", s)
	}

	v.opened = true
	c.eta[etaKey{task: "gone", source: "s9"}] = &etaSample{}
	s = collected(t, c.Collect)
	for _, want := range []string{
		"dmnode_task_state{state=running,task=t} 1",
		"dmnode_task_state{state=error,task=t} 0",
		"dmnode_task_stage{source=s1,stage=sync,task=t} 1",
		"dmnode_task_stage{source=s2,stage=load,task=t} 1",
		"dmnode_quarantined_tables{source=s1,task=t} 0",
	} {
		if !has(s, want) {
			t.Errorf("no %s in\n%s", want, strings.Join(s, "\n"))
		}
	}
	if _, ok := c.eta[etaKey{task: "gone", source: "s9"}]; ok {
		t.Error("the sample of a task gone from the catalog was kept")
	}

	tc.progress.put(jetstream.ErrorKey(catalog.KindLoad, "t", "s2"), ActorError{Actor: "load/t/s2", Error: "access denied", Permanent: true, Time: time.Now()})
	s = collected(t, c.Collect)
	if !has(s, "dmnode_task_state{state=error,task=t} 1") || !has(s, "dmnode_task_state{state=running,task=t} 0") {
		t.Errorf("a failed actor does not make the task's state error:\n%s", strings.Join(s, "\n"))
	}
	var _ prometheus.Collector = c
}

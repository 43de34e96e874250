package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/dmnode/dmnode/core/catalog"
)

// testCluster is three Raft members in one process, on Raft's in-memory
// transport and stores, each with the node's FSM: the Node of each holds
// just what placement needs (no NATS, no JetStream, dev mode).
type testCluster struct {
	nodes []*Node
}

func newTestCluster(t *testing.T, size int) *testCluster {
	t.Helper()
	c := &testCluster{}
	var trans []*raft.InmemTransport
	var servers []raft.Server
	for i := range size {
		id := fmt.Sprintf("n%d", i+1)
		addr, tr := raft.NewInmemTransport(raft.ServerAddress(id))
		trans = append(trans, tr)
		servers = append(servers, raft.Server{ID: raft.ServerID(id), Address: addr})
	}
	for _, a := range trans {
		for _, b := range trans {
			a.Connect(b.LocalAddr(), b)
		}
	}
	for i, s := range servers {
		conf := raft.DefaultConfig()
		conf.LocalID = s.ID
		conf.HeartbeatTimeout = 100 * time.Millisecond
		conf.ElectionTimeout = 100 * time.Millisecond
		conf.LeaderLeaseTimeout = 100 * time.Millisecond
		conf.CommitTimeout = 5 * time.Millisecond
		conf.Logger = hclog.New(&hclog.LoggerOptions{Output: io.Discard})
		f := newFSM()
		n := &Node{
			id:    string(s.ID),
			cfg:   Config{Dev: true},
			log:   slog.New(slog.NewTextHandler(io.Discard, nil)),
			fsm:   f,
			beats: newHeartbeats(time.Hour),
			self:  catalog.Member{ID: string(s.ID), Control: "nats://" + string(s.ID)},
		}
		n.health = newHealth(n)
		n.schedKick = f.watch()
		n.storeReady.Store(true)
		store := raft.NewInmemStore()
		r, err := raft.NewRaft(conf, f, store, store, raft.NewInmemSnapshotStore(), trans[i])
		if err != nil {
			t.Fatal(err)
		}
		n.raft = r
		n.wire()
		c.nodes = append(c.nodes, n)
		t.Cleanup(func() { r.Shutdown().Error() })
	}
	if err := c.nodes[0].raft.BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil {
		t.Fatal(err)
	}
	return c
}

// leader waits for a leader that every member agrees on.
func (c *testCluster) leader(t *testing.T) *Node {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for _, n := range c.nodes {
			if n.raft.State() == raft.Leader {
				return n
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("no leader elected")
	return nil
}

// converge waits until every member applied the leader's last entry and
// returns the members' catalogs.
func (c *testCluster) converge(t *testing.T) []*catalog.State {
	t.Helper()
	l := c.leader(t)
	if err := l.raft.Barrier(10 * time.Second).Error(); err != nil {
		t.Fatal(err)
	}
	want := l.raft.AppliedIndex()
	deadline := time.Now().Add(20 * time.Second)
	for _, n := range c.nodes {
		for n.raft.AppliedIndex() < want {
			if time.Now().After(deadline) {
				t.Fatalf("%s applied %d of %d entries", n.id, n.raft.AppliedIndex(), want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	var out []*catalog.State
	for _, n := range c.nodes {
		out = append(out, n.fsm.State())
	}
	return out
}

// seed gives the catalog every member and a task in incremental mode, which
// wants a tailer and an applier of source s1.
func (c *testCluster) seed(t *testing.T) {
	t.Helper()
	l := c.leader(t)
	cmds := []catalog.Command{
		{Op: catalog.OpAddSource, Source: &catalog.Source{ID: "s1", YAML: "s1"}},
		{Op: catalog.OpSubmitTask, Task: &catalog.Task{Name: "t", YAML: "t", Mode: catalog.ModeIncremental,
			Sources: map[string]*catalog.TaskSource{"s1": {}}}},
	}
	for _, n := range c.nodes {
		m := n.self
		cmds = append(cmds, catalog.Command{Op: catalog.OpAddMember, Member: &m})
	}
	for _, cmd := range cmds {
		if err := l.sched.proposeLeading(context.Background(), 0, cmd); err != nil {
			t.Fatalf("seed %s: %v", cmd.Op, err)
		}
	}
}

type won struct {
	n    *Node
	term uint64
	ctx  context.Context
}

// A leader deposed in the middle of a placement cannot make it take
// effect: its leadership context is cancelled the moment it loses, its own
// proposal fails, and the decision, forwarded to its successor as a
// proposal of a non-leader would be, is refused by every replica's catalog
// before and after the successor placed; the successor's placement stands.
func TestDeposedLeaderCannotPlace(t *testing.T) {
	c := newTestCluster(t, 3)
	c.seed(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wins := make(chan won, 16)
	for _, n := range c.nodes {
		go whileLeading(ctx, n.raft, func(lctx context.Context, term uint64) {
			wins <- won{n, term, lctx}
			<-lctx.Done()
		})
	}
	first := <-wins
	if first.n != c.leader(t) {
		t.Fatalf("leadership of %s reported, %s leads", first.n.id, c.leader(t).id)
	}
	// The leader decides...
	st := first.n.fsm.State()
	stale := first.n.sched.placement(first.ctx, st, first.n.members.liveMembers(st))
	if len(stale) != 2 {
		t.Fatalf("placement of an empty cluster: %v", stale)
	}
	// ...and is deposed before it writes.
	if err := first.n.raft.LeadershipTransfer().Error(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-first.ctx.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("the deposed leader's context was not cancelled")
	}
	var second won
	select {
	case second = <-wins:
	case <-time.After(20 * time.Second):
		t.Fatal("no new leader reported")
	}
	if second.n == first.n || second.term <= first.term {
		t.Fatalf("new leadership %s term %d after %s term %d", second.n.id, second.term, first.n.id, first.term)
	}
	cmd := catalog.Command{Op: catalog.OpAssign, Assign: stale}
	if err := first.n.sched.proposeLeading(first.ctx, first.term, cmd); err == nil {
		t.Fatal("the deposed leader wrote its placement")
	}
	forward := func() error {
		cmd.Term = first.term
		data, err := json.Marshal(cmd)
		if err != nil {
			t.Fatal(err)
		}
		_, err = second.n.applyLocal(cmd.Op, data)
		return err
	}
	if err := forward(); !errors.Is(err, catalog.ErrStale) {
		t.Fatalf("stale placement forwarded to the new leader: %v", err)
	}
	// The new leader places, on a view it barriered to...
	if err := second.n.raft.Barrier(10 * time.Second).Error(); err != nil {
		t.Fatal(err)
	}
	st = second.n.fsm.State()
	fresh := second.n.sched.placement(second.ctx, st, second.n.members.liveMembers(st))
	if err := second.n.sched.proposeLeading(second.ctx, second.term, catalog.Command{Op: catalog.OpAssign, Assign: fresh}); err != nil {
		t.Fatal(err)
	}
	// ...and the stale decision, arriving late, changes nothing.
	if err := forward(); !errors.Is(err, catalog.ErrStale) {
		t.Fatalf("stale placement after the new one: %v", err)
	}
	for _, s := range c.converge(t) {
		if s.AssignTerm != second.term || len(s.Assign) != len(fresh) {
			t.Fatalf("catalog: term %d, assign %v; want term %d, %v", s.AssignTerm, s.Assign, second.term, fresh)
		}
		for id, node := range fresh {
			if s.Assign[id].Node != node {
				t.Fatalf("%s on %s, the new leader placed it on %s", id, s.Assign[id].Node, node)
			}
		}
	}
}

// The placement loop follows leadership: the leader places every desired
// actor with its term; after a transfer the successor places with its own,
// and every replica holds the same assignments.
func TestScheduleFollowsLeadership(t *testing.T) {
	c := newTestCluster(t, 3)
	c.seed(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, n := range c.nodes {
		go n.sched.schedule(ctx)
	}
	placed := func() *catalog.State {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			// The loop may write between the reads of two replicas:
			// they agree once it is done.
			states := c.converge(t)
			agree := true
			for _, o := range states[1:] {
				agree = agree && fmt.Sprint(o.Assign) == fmt.Sprint(states[0].Assign)
			}
			if s := states[0]; agree && len(s.Assign) == 2 {
				return s
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatal("actors not placed, or the replicas disagree")
		return nil
	}
	l := c.leader(t)
	s := placed()
	if s.AssignTerm != l.raft.CurrentTerm() {
		t.Fatalf("assignments of term %d, the leader's is %d", s.AssignTerm, l.raft.CurrentTerm())
	}
	if err := l.raft.LeadershipTransfer().Error(); err != nil {
		t.Fatal(err)
	}
	// The new leader places again when the task pauses (its applier
	// goes) and resumes (it comes back), with its own term.
	l2 := c.leader(t)
	for l2 == l {
		time.Sleep(10 * time.Millisecond)
		l2 = c.leader(t)
	}
	for _, desired := range []string{catalog.Paused, catalog.Running} {
		if err := l2.sched.proposeLeading(ctx, 0, catalog.Command{Op: catalog.OpSetDesired, Name: "t", Desired: desired}); err != nil {
			t.Fatal(err)
		}
		want := 2
		if desired == catalog.Paused {
			want = 1
		}
		deadline := time.Now().Add(20 * time.Second)
		for s = c.converge(t)[0]; len(s.Assign) != want; s = c.converge(t)[0] {
			if time.Now().After(deadline) {
				t.Fatalf("task %s: assignments %v", desired, s.Assign)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	s = placed()
	if s.AssignTerm != l2.raft.CurrentTerm() {
		t.Fatalf("assignments of term %d after the transfer, the leader's is %d", s.AssignTerm, l2.raft.CurrentTerm())
	}
}

// whileLeading ends with its context, and the leadership's context with it.
func TestWhileLeadingEndsWithContext(t *testing.T) {
	c := newTestCluster(t, 1)
	n := c.leader(t)
	ctx, cancel := context.WithCancel(context.Background())
	led := make(chan context.Context, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		whileLeading(ctx, n.raft, func(lctx context.Context, term uint64) {
			led <- lctx
			<-lctx.Done()
		})
	}()
	lctx := <-led
	cancel()
	<-done
	if lctx.Err() == nil {
		t.Fatal("leadership context alive after whileLeading returned")
	}
}

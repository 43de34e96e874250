package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dmnode/dmnode/actors"
	"github.com/dmnode/dmnode/core/catalog"
	"github.com/dmnode/dmnode/jetstream"
)

// fakeRecords is the JetStream the host writes: the actors' errors by key
// and the streams' replication.
type fakeRecords struct {
	mu       sync.Mutex
	puts     map[string]any
	deleted  []string
	replicas []int
	putErr   error
}

func (r *fakeRecords) Put(_ context.Context, key string, v any) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.putErr != nil {
		return r.putErr
	}
	r.puts[key] = v
	return nil
}

func (r *fakeRecords) Delete(_ context.Context, keys ...string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range keys {
		delete(r.puts, k)
		r.deleted = append(r.deleted, k)
	}
	return nil
}

func (r *fakeRecords) SetReplicas(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.replicas = append(r.replicas, n)
}

func (r *fakeRecords) get(key string) (any, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, ok := r.puts[key]
	return v, ok
}

// fakeActorHealth is the node's health as the host uses it; its wake
// channel is closed, so an actor that failed starts again at once.
type fakeActorHealth struct {
	mu   sync.Mutex
	down bool
	kept map[string]ActorError
	wake chan struct{}
}

func newFakeActorHealth() *fakeActorHealth {
	w := make(chan struct{})
	close(w)
	return &fakeActorHealth{kept: map[string]ActorError{}, wake: w}
}

func (h *fakeActorHealth) woken() <-chan struct{} { return h.wake }
func (h *fakeActorHealth) available() (bool, time.Time, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return !h.down, time.Time{}, "down"
}
func (h *fakeActorHealth) keepError(key string, e ActorError) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.kept[key] = e
}
func (h *fakeActorHealth) forget(key string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.kept, key)
}

type fakePeers struct {
	mu    sync.Mutex
	live  []string
	saved int
}

func (p *fakePeers) savePeers(*catalog.State) {
	p.mu.Lock()
	p.saved++
	p.mu.Unlock()
}
func (p *fakePeers) liveMembers(*catalog.State) []string { return p.live }

// fakeActors runs the actors: each incarnation does what plan says for
// its run number (1, 2, ...): return an error, return nil, or (a nil
// plan, or errBlock) run until cancelled.
type fakeActors struct {
	mu     sync.Mutex
	runs   map[string]int
	epochs map[string][]uint64
	active map[string]int
	plan   func(id string, run int) error
}

var errBlock = errors.New("run until cancelled")

func (a *fakeActors) start(ctx context.Context, spec catalog.ActorSpec, env actors.Env) error {
	id := spec.ID()
	a.mu.Lock()
	a.runs[id]++
	run := a.runs[id]
	a.epochs[id] = append(a.epochs[id], env.Epoch)
	plan := a.plan
	a.mu.Unlock()
	err := errBlock
	if plan != nil {
		err = plan(id, run)
	}
	if err != errBlock {
		return err
	}
	a.mu.Lock()
	a.active[id]++
	a.mu.Unlock()
	<-ctx.Done()
	a.mu.Lock()
	a.active[id]--
	a.mu.Unlock()
	return ctx.Err()
}

func (a *fakeActors) count(id string) (runs, active int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.runs[id], a.active[id]
}

type testHost struct {
	*host
	cmd     *fakeCommander
	records *fakeRecords
	health  *fakeActorHealth
	peers   *fakePeers
	actors  *fakeActors
}

func newTestHost() *testHost {
	f := newFSM()
	th := &testHost{
		cmd:     &fakeCommander{f: f},
		records: &fakeRecords{puts: map[string]any{}},
		health:  newFakeActorHealth(),
		peers:   &fakePeers{live: []string{"n1", "n2"}},
		actors:  &fakeActors{runs: map[string]int{}, epochs: map[string][]uint64{}, active: map[string]int{}},
	}
	th.host = newHost(&hostDeps{
		id: "n1", cfg: &Config{}, log: slog.New(slog.DiscardHandler), self: catalog.Member{ID: "n1", Control: "nats://new:4222"},
		fsm: f, cmd: th.cmd, records: th.records, metrics: newMetrics(&Node{}), health: th.health, members: th.peers,
		replicas: func(live int) int { return live },
	})
	th.start = th.actors.start
	return th
}

func (th *testHost) assign(m map[string]string) {
	if _, err := th.cmd.request(context.Background(), catalog.Command{Op: catalog.OpAssign, Assign: m}); err != nil {
		panic(err)
	}
}

// The host runs the actors the catalog places on this node, each with its
// epoch; a new epoch restarts the actor, a move elsewhere stops it; the
// streams get the replication the live members allow (not in dev mode).
func TestHostReconcile(t *testing.T) {
	th := newTestHost()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	th.assign(map[string]string{"tail/s1": "n1", "apply/t/s1": "n2", "dump/t/s1": "n1"})
	th.reconcile(ctx)
	if len(th.running) != 2 || th.running["tail/s1"] == nil || th.running["dump/t/s1"] == nil {
		t.Fatalf("running %v, want tail/s1 and dump/t/s1", th.running)
	}
	waitFor(t, "the tailer running", func() bool { _, a := th.actors.count("tail/s1"); return a == 1 })
	if th.records.replicas[0] != 2 || th.peers.saved != 1 {
		t.Errorf("replicas set %v, peers saved %d times", th.records.replicas, th.peers.saved)
	}
	first := th.running["tail/s1"].epoch

	th.assign(map[string]string{"tail/s1": "n1"}) // a new epoch, same node
	th.reconcile(ctx)
	waitFor(t, "the tailer restarted", func() bool { r, a := th.actors.count("tail/s1"); return r == 2 && a == 1 })
	if e := th.running["tail/s1"].epoch; e <= first {
		t.Errorf("epoch %d after a reassignment, before %d", e, first)
	}
	if got := th.actors.epochs["tail/s1"]; len(got) != 2 || got[1] != th.running["tail/s1"].epoch {
		t.Errorf("incarnations ran with epochs %v", got)
	}
	if r, _ := th.actors.count("dump/t/s1"); r != 1 {
		t.Errorf("the dumper, not reassigned, started %d times", r)
	}

	th.assign(map[string]string{"tail/s1": "n2"})
	th.reconcile(ctx)
	if _, ok := th.running["tail/s1"]; ok {
		t.Error("an actor moved elsewhere still runs here")
	}
	if _, a := th.actors.count("tail/s1"); a != 0 {
		t.Error("the moved tailer was not stopped")
	}
	th.stopAll()
	if _, a := th.actors.count("dump/t/s1"); a != 0 || len(th.running) != 0 {
		t.Errorf("after stopAll: %d dumpers active, running %v", a, th.running)
	}

	dev := newTestHost()
	dev.n.cfg.Dev = true
	dev.reconcile(ctx)
	if len(dev.records.replicas) != 0 {
		t.Errorf("a dev node set replicas %v", dev.records.replicas)
	}
}

// An actor that fails with a recoverable error is recorded and started
// again; once it runs, its error stays until it recovers for good. A
// permanent error is recorded as such and parks the actor. An actor that
// finishes has its record cleared and is not started again.
func TestHostSupervise(t *testing.T) {
	for _, c := range []struct {
		name      string
		plan      func(run int) error
		runs      int
		record    string
		permanent bool
	}{
		{"recoverable", func(run int) error {
			if run == 1 {
				return errors.New("connection refused")
			}
			return errBlock
		}, 2, "connection refused", false},
		{"permanent", func(int) error { return actors.Permanent(errors.New("access denied")) }, 1, "access denied", true},
		{"finished", func(int) error { return nil }, 1, "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			th := newTestHost()
			th.assign(map[string]string{"tail/s1": "n1"})
			th.actors.plan = func(_ string, run int) error { return c.plan(run) }
			spec, _ := catalog.ParseActorID("tail/s1")
			key := jetstream.ErrorKey(spec.Kind, spec.Task, spec.Source)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); th.supervise(ctx, spec, th.fsm().Assign["tail/s1"].Epoch) }()
			waitFor(t, "the runs", func() bool { r, _ := th.actors.count("tail/s1"); return r == c.runs })
			if c.record != "" {
				waitFor(t, "the recorded error", func() bool { _, ok := th.records.get(key); return ok })
				v, _ := th.records.get(key)
				e := v.(ActorError)
				if e.Actor != "tail/s1" || !strings.Contains(e.Error, c.record) || e.Permanent != c.permanent {
					t.Errorf("recorded %+v", e)
				}
			} else {
				waitFor(t, "the cleared record", func() bool {
					th.records.mu.Lock()
					defer th.records.mu.Unlock()
					return len(th.records.deleted) >= 2
				})
			}
			cancel()
			<-done
			if r, _ := th.actors.count("tail/s1"); r != c.runs {
				t.Errorf("%d runs, want %d", r, c.runs)
			}
		})
	}
}

// A fenced write is permanent for a stale incarnation; for the one the
// catalog still names, what fenced it was an older one, and it starts
// again.
func TestHostSuperviseFenced(t *testing.T) {
	th := newTestHost()
	th.assign(map[string]string{"tail/s1": "n1"})
	th.actors.plan = func(_ string, run int) error {
		if run == 1 {
			return fmt.Errorf("write checkpoint: %w", jetstream.ErrFenced)
		}
		return errBlock
	}
	spec, _ := catalog.ParseActorID("tail/s1")
	epoch := th.fsm().Assign["tail/s1"].Epoch
	if !th.assigned(spec, epoch) || th.assigned(spec, epoch+1) {
		t.Fatal("assigned")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); th.supervise(ctx, spec, epoch) }()
	waitFor(t, "the fenced incarnation started again", func() bool { _, a := th.actors.count("tail/s1"); return a == 1 })
	cancel()
	<-done
	v, _ := th.records.get(jetstream.ErrorKey(spec.Kind, spec.Task, spec.Source))
	if e, ok := v.(ActorError); !ok || e.Permanent {
		t.Errorf("recorded %+v, want a recoverable error", v)
	}
}

func (th *testHost) fsm() *catalog.State { return th.n.fsm.State() }

// While JetStream is down an actor's error is kept in memory (status shows
// it), not written; a write the bucket refuses is kept too; a written or
// cleared error is no longer kept.
func TestHostRecordError(t *testing.T) {
	th := newTestHost()
	spec, _ := catalog.ParseActorID("apply/t/s1")
	key := jetstream.ErrorKey(spec.Kind, spec.Task, spec.Source)
	th.health.down = true
	th.recordError(spec, errors.New("relay down"), false)
	if _, ok := th.records.get(key); ok || th.health.kept[key].Error != "relay down" {
		t.Errorf("JetStream down: written %v, kept %+v", ok, th.health.kept)
	}
	th.health.down = false
	th.records.putErr = errors.New("no quorum")
	th.recordError(spec, errors.New("relay still down"), true)
	if e := th.health.kept[key]; e.Error != "relay still down" || !e.Permanent {
		t.Errorf("write refused: kept %+v", e)
	}
	th.records.putErr = nil
	th.recordError(spec, errors.New("target gone"), false)
	if _, ok := th.health.kept[key]; ok {
		t.Error("a written error is still kept")
	}
	if v, _ := th.records.get(key); v.(ActorError).Error != "target gone" {
		t.Errorf("written %+v", v)
	}
	th.health.keepError(key, ActorError{Error: "x"})
	th.recordError(spec, nil, false)
	if _, ok := th.records.get(key); ok || len(th.health.kept) != 0 {
		t.Error("a cleared error is still recorded or kept")
	}
}

// A node restarted with other addresses updates its member record, at
// most once a minute; a leaving node never does.
func TestHostRefreshSelf(t *testing.T) {
	th := newTestHost()
	th.cmd.request(context.Background(), catalog.Command{Op: catalog.OpAddMember, Member: &catalog.Member{ID: "n1", Control: "nats://old:4222"}})
	ctx := context.Background()
	th.reconcile(ctx)
	waitFor(t, "the new address in the catalog", func() bool { return th.fsm().Members["n1"].Control == "nats://new:4222" })
	th.cmd.request(ctx, catalog.Command{Op: catalog.OpAddMember, Member: &catalog.Member{ID: "n1", Control: "nats://other:4222"}})
	th.reconcile(ctx)
	if got := th.fsm().Members["n1"].Control; got != "nats://other:4222" {
		t.Errorf("refreshed twice within a minute: %s", got)
	}
	th.selfAsked = time.Time{}
	th.cmd.request(ctx, catalog.Command{Op: catalog.OpLeaveMember, Name: "n1"})
	th.reconcile(ctx)
	if n := len(th.cmd.ops()); n != 4 {
		t.Errorf("a leaving node proposed its addresses: %v", th.cmd.ops())
	}
}

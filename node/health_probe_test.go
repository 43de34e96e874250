package node

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	js "github.com/dmnode/dmnode/jetstream"
)

// fakeHealthDeps is NATS, JetStream and the checkpoint bucket as a test
// sets them; it records what health wrote and asked.
type fakeHealthDeps struct {
	mu        sync.Mutex
	up        bool
	state     string
	open      bool
	infoErr   error
	putErr    error
	puts      map[string]any
	under     []string
	repairErr error
	repairs   []int
	want      int
	lead      bool
}

func newFakeHealthDeps() *fakeHealthDeps {
	return &fakeHealthDeps{up: true, state: "CONNECTED", puts: map[string]any{}, want: 3}
}

func (f *fakeHealthDeps) connStatus() (bool, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.up, f.state
}
func (f *fakeHealthDeps) storeOpen() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.open
}
func (f *fakeHealthDeps) accountInfo(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.infoErr
}
func (f *fakeHealthDeps) put(_ context.Context, key string, v any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.putErr != nil {
		return f.putErr
	}
	f.puts[key] = v
	return nil
}
func (f *fakeHealthDeps) repair(_ context.Context, want int) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.repairs = append(f.repairs, want)
	return append([]string(nil), f.under...), f.repairErr
}
func (f *fakeHealthDeps) wantReplicas() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.want
}
func (f *fakeHealthDeps) leading() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lead
}
func (f *fakeHealthDeps) set(fn func(f *fakeHealthDeps)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func newProbedHealth(d *fakeHealthDeps) *health {
	h := newHealthOn("n1", slog.New(slog.DiscardHandler), d)
	h.natsUp = true
	return h
}

// Before the store opens, a probe only asks JetStream whether it answers:
// it never makes it available, and two failures make it unavailable with
// the cause. A lost connection makes it unavailable at once.
func TestHealthProbeBeforeStore(t *testing.T) {
	ctx := context.Background()
	d := newFakeHealthDeps()
	h := newProbedHealth(d)
	h.probe(ctx)
	if up, _, cause := h.available(); up || cause != "not opened yet" {
		t.Errorf("a store not open: up %v, cause %q", up, cause)
	}
	d.set(func(f *fakeHealthDeps) { f.infoErr = errors.New("no responders") })
	h.probe(ctx)
	h.probe(ctx)
	if up, _, cause := h.available(); up || cause != "jetstream does not answer: no responders" {
		t.Errorf("jetstream not answering: up %v, cause %q", up, cause)
	}
	if len(d.puts) != 0 {
		t.Errorf("a probe wrote to a store not open: %v", d.puts)
	}

	d.set(func(f *fakeHealthDeps) { f.infoErr, f.open = nil, true })
	h.probe(ctx)
	if up, _, _ := h.available(); !up {
		t.Fatal("not available after a good probe of an open store")
	}
	if _, ok := d.puts[js.HealthKey("n1")].(time.Time); !ok {
		t.Errorf("the probe wrote no health key: %v", d.puts)
	}
	h.natsUp = false
	d.set(func(f *fakeHealthDeps) { f.up, f.state = false, "RECONNECTING" })
	h.probe(ctx)
	if up, _, cause := h.available(); up || cause != "nats is not connected: RECONNECTING" {
		t.Errorf("connection down: up %v, cause %q", up, cause)
	}
}

// With the store open, a JetStream without a metadata leader or a bucket
// that refuses writes turns it unavailable after two probes, each with its
// own cause; its return wakes the actors and writes the errors kept while
// it was down, which status showed meanwhile.
func TestHealthProbeOpenStore(t *testing.T) {
	ctx := context.Background()
	d := newFakeHealthDeps()
	d.open = true
	h := newProbedHealth(d)
	h.probe(ctx)
	if up, _, _ := h.available(); !up {
		t.Fatal("not available")
	}
	d.set(func(f *fakeHealthDeps) { f.infoErr = errors.New("timeout") })
	h.probe(ctx)
	if up, _, _ := h.available(); !up {
		t.Fatal("one failed probe made it unavailable")
	}
	h.probe(ctx)
	if up, _, cause := h.available(); up || !strings.Contains(cause, "no metadata leader") || !strings.HasSuffix(cause, "timeout") {
		t.Errorf("no metadata leader: up %v, cause %q", up, cause)
	}
	d.set(func(f *fakeHealthDeps) { f.infoErr, f.putErr = nil, errors.New("no quorum") })
	h.probe(ctx)
	if up, _, cause := h.available(); up || !strings.Contains(cause, "the checkpoint bucket refuses writes") || !strings.HasSuffix(cause, "no quorum") {
		t.Errorf("bucket refusing writes: up %v, cause %q", up, cause)
	}

	e1 := ActorError{Actor: "tail/s1", Error: "relay down", Time: time.Now()}
	e2 := ActorError{Actor: "apply/t/s1", Error: "relay down", Time: time.Now()}
	h.keepError("k1", e1)
	h.keepError("k2", e2)
	h.keepError("k3", e2)
	h.forget("k3")
	if r := h.report(); len(r.Unrecorded) != 2 || r.Unrecorded[0].Actor != "apply/t/s1" || r.Unrecorded[1].Actor != "tail/s1" {
		t.Errorf("report while down: %+v, want the two kept errors by actor", r.Unrecorded)
	}
	woken := h.woken()
	d.set(func(f *fakeHealthDeps) { f.putErr = nil })
	h.probe(ctx)
	select {
	case <-woken:
	default:
		t.Error("the actors were not woken when JetStream returned")
	}
	if r := h.report(); len(r.Unrecorded) != 0 || !r.JetStream {
		t.Errorf("report after the return: %+v, want the kept errors written", r)
	}
	if !reflect.DeepEqual(d.puts["k1"], e1) || !reflect.DeepEqual(d.puts["k2"], e2) {
		t.Errorf("kept errors written: %v", d.puts)
	}
	if _, ok := d.puts["k3"]; ok {
		t.Error("a forgotten error was written")
	}
}

// An error kept while the bucket still refuses writes stays kept; a
// newer error for the same key, kept while the older was being written,
// is not dropped.
func TestHealthFlushKeepsWhatItCannotWrite(t *testing.T) {
	d := newFakeHealthDeps()
	h := newProbedHealth(d)
	e := ActorError{Actor: "tail/s1", Error: "x", Time: time.Now()}
	h.keepError("k", e)
	h.flushUnrecorded()
	if len(h.report().Unrecorded) != 1 || len(d.puts) != 0 {
		t.Errorf("flushed into a store not open: %v", d.puts)
	}
	d.open, d.putErr = true, errors.New("no quorum")
	h.flushUnrecorded()
	if len(h.report().Unrecorded) != 1 {
		t.Error("an error the bucket refused was dropped")
	}
	d.putErr = nil
	h.flushUnrecorded()
	if len(h.report().Unrecorded) != 0 || !reflect.DeepEqual(d.puts["k"], e) {
		t.Errorf("after a good write: kept %v, written %v", h.report().Unrecorded, d.puts)
	}
}

// The leader raises the streams' replicas to what the live cluster can
// give and keeps those it could not raise for status and the metrics; a
// failed check is listed as such.
func TestHealthCheckReplicas(t *testing.T) {
	ctx := context.Background()
	d := newFakeHealthDeps()
	h := newProbedHealth(d)
	h.checkReplicas(ctx)
	if len(d.repairs) != 1 || d.repairs[0] != 3 || len(h.underReplicated()) != 0 {
		t.Errorf("repairs %v, under %v", d.repairs, h.underReplicated())
	}
	d.set(func(f *fakeHealthDeps) { f.under, f.want = []string{"relay-s1"}, 2 })
	h.checkReplicas(ctx)
	if got := h.underReplicated(); !reflect.DeepEqual(got, []string{"relay-s1"}) || d.repairs[1] != 2 {
		t.Errorf("under %v, repairs %v", got, d.repairs)
	}
	if r := h.report(); !reflect.DeepEqual(r.UnderReplicated, []string{"relay-s1"}) {
		t.Errorf("report: %v", r.UnderReplicated)
	}
	if _, js := h.report().State(); !strings.Contains(js, "(1 streams under-replicated)") {
		t.Errorf("state %q", js)
	}
	d.set(func(f *fakeHealthDeps) { f.under, f.repairErr = nil, errors.New("stream info: timeout") })
	h.checkReplicas(ctx)
	if got := h.underReplicated(); len(got) != 1 || got[0] != "check replicas: stream info: timeout" {
		t.Errorf("a failed check: %v", got)
	}
}

// run probes at once and on every kick, and on the leader checks the
// streams' replicas; a follower never does. It stops with its context.
func TestHealthRun(t *testing.T) {
	d := newFakeHealthDeps()
	d.open = true
	h := newProbedHealth(d)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); h.run(ctx) }()
	waitFor(t, "a first probe", func() bool { up, _, _ := h.available(); return up })
	d.set(func(f *fakeHealthDeps) { f.putErr = errors.New("no quorum") })
	waitFor(t, "the kicked probes", func() bool { h.kick(); up, _, _ := h.available(); return !up })
	d.mu.Lock()
	n := len(d.repairs)
	d.mu.Unlock()
	if n != 0 {
		t.Errorf("a follower checked the replicas %d times", n)
	}
	cancel()
	<-done

	d2 := newFakeHealthDeps()
	d2.open, d2.lead = true, true
	h2 := newProbedHealth(d2)
	ctx2, cancel2 := context.WithCancel(context.Background())
	done2 := make(chan struct{})
	go func() { defer close(done2); h2.run(ctx2) }()
	waitFor(t, "the leader's replica check", func() bool { d2.mu.Lock(); defer d2.mu.Unlock(); return len(d2.repairs) == 1 })
	cancel2()
	<-done2
}

// waitFor polls cond for up to ten seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A node is ready to serve once it knows a Raft leader, has loaded its
// catalog, has opened JetStream and JetStream answers; notReady names what
// is missing first. Only the leader with its catalog loaded and its store
// open checks the streams' replicas, as many as the live members allow.
func TestNodeNotReady(t *testing.T) {
	c := newTestCluster(t, 3)
	c.seed(t)
	l := c.leader(t)
	l.cfg.Dev, l.cfg.Replicas = false, 3
	if why := l.notReady(); why != "catalog not loaded yet" {
		t.Errorf("before the catalog loaded: %q", why)
	}
	d := nodeHealth{l}
	if d.leading() {
		t.Error("leading with its catalog not loaded")
	}
	l.ready.Store(true)
	if why := l.notReady(); !strings.HasPrefix(why, "jetstream unavailable since ") || !strings.HasSuffix(why, ": not opened yet") {
		t.Errorf("before JetStream answered: %q", why)
	}
	l.health.setJetStream(true, "")
	if why := l.notReady(); why != "" {
		t.Errorf("ready node: %q", why)
	}
	if !d.leading() || !d.storeOpen() {
		t.Error("the loaded leader does not lead")
	}
	// The other members have not beaten yet but count as alive during the
	// first heartbeat timeout: three live members, three replicas.
	if got := d.wantReplicas(); got != 3 {
		t.Errorf("replicas %d, want 3", got)
	}
	l.storeReady.Store(false)
	if why := l.notReady(); why != "jetstream not opened yet" {
		t.Errorf("store closed: %q", why)
	}
	for _, n := range c.nodes {
		n.ready.Store(true)
		if n != l && (nodeHealth{n}).leading() {
			t.Errorf("follower %s leads", n.id)
		}
	}
}

package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dmnode/dmnode/core/catalog"
	"github.com/dmnode/dmnode/jetstream"
	"github.com/dmnode/dmnode/tests/harness"
	"github.com/nats-io/nats.go"
)

// A data dir keeps the identity it was created with.
func TestNodeIDIsKeptInTheDataDir(t *testing.T) {
	dir := t.TempDir()
	id, err := nodeID(dir, "node1")
	if err != nil || id != "node1" {
		t.Fatalf("first start: %q, %v", id, err)
	}
	if id, err := nodeID(dir, ""); err != nil || id != "node1" {
		t.Fatalf("restart without a name: %q, %v", id, err)
	}
	if _, err := nodeID(dir, "node2"); err == nil || !strings.Contains(err.Error(), "belongs to node \"node1\"") {
		t.Fatalf("restart under another name: %v", err)
	}
	if _, err := nodeID(t.TempDir(), "bad name"); err == nil {
		t.Fatal("a name with a space was accepted")
	}
	generated, err := nodeID(t.TempDir(), "")
	if err != nil || generated == "" {
		t.Fatalf("generated id: %q, %v", generated, err)
	}
}

func TestMemberMarker(t *testing.T) {
	dir := t.TempDir()
	if ok, err := isMember(dir); ok || err != nil {
		t.Fatalf("fresh dir is a member: %v, %v", ok, err)
	}
	if err := markMember(dir); err != nil {
		t.Fatal(err)
	}
	if ok, err := isMember(dir); !ok || err != nil {
		t.Fatalf("marked dir is not a member: %v, %v", ok, err)
	}
	if started, err := hasRaftState(dir); started || err != nil {
		t.Fatalf("no raft log yet, got %v, %v", started, err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "raft", "wal"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "raft", "wal", "00001.wal"), nil, 0o640); err != nil {
		t.Fatal(err)
	}
	if started, err := hasRaftState(dir); !started || err != nil {
		t.Fatalf("raft log not seen: %v, %v", started, err)
	}
}

// A node is live while it beats within the timeout; one never heard from
// gets the benefit of the doubt only during the first timeout after this
// node started listening or first asked about it (a node that just joined).
func TestHeartbeats(t *testing.T) {
	h := newHeartbeats(time.Hour)
	if !h.alive("unheard") {
		t.Fatal("a node not heard from yet counts as dead during the grace period")
	}
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	h = newHeartbeats(5 * time.Second)
	h.now = func() time.Time { return clock }
	h.since = clock.Add(-time.Minute)
	if !h.alive("joined") {
		t.Fatal("a node that just joined counts as dead before it could beat")
	}
	clock = clock.Add(4 * time.Second)
	if !h.alive("joined") {
		t.Fatal("a node that joined 4s ago counts as dead within a 5s timeout")
	}
	clock = clock.Add(2 * time.Second)
	if h.alive("joined") {
		t.Fatal("a node never heard from counts as alive after the grace period")
	}
	h.beat("n1")
	clock = clock.Add(4 * time.Second)
	if !h.alive("n1") {
		t.Fatal("a node that beat 4s ago counts as dead")
	}
	clock = clock.Add(time.Second)
	if h.alive("n1") {
		t.Fatal("a node silent for the timeout counts as alive")
	}
	// A node started listening late gives everyone a grace period from
	// then on.
	h.since = clock
	clock = clock.Add(time.Second)
	if !h.alive("late") {
		t.Fatal("a node unheard since this node started listening counts as dead")
	}
}

// Leaving members and silent ones get no actors.
func TestLiveMembers(t *testing.T) {
	n := &membership{id: "n1", beats: newHeartbeats(time.Hour), storeReady: new(atomic.Bool)}
	n.storeReady.Store(true)
	n.beats.since = time.Now().Add(-2 * time.Hour)
	n.beats.asked["n3"] = time.Now().Add(-2 * time.Hour) // known, silent ever since
	n.beats.beat("n2")
	st := catalog.New()
	for _, id := range []string{"n1", "n2", "n3", "n4"} {
		st.Members[id] = &catalog.Member{ID: id}
	}
	st.Members["n4"].Leaving = true
	n.beats.beat("n4")
	got := n.liveMembers(st)
	if strings.Join(got, ",") != "n1,n2" {
		t.Fatalf("live members %v, want n1,n2", got)
	}
	n.storeReady.Store(false)
	if got := n.liveMembers(st); strings.Join(got, ",") != "n2" {
		t.Fatalf("a node without JetStream placed actors on itself: %v", got)
	}
}

// An asynchronous error of the node's NATS connection, such as a
// subscription that fell behind and lost messages, goes to the node's log
// with the subscription's subject.
func TestNATSErrorsAreLogged(t *testing.T) {
	var buf syncBuffer
	n := &Node{id: "n1", log: slog.New(slog.NewTextHandler(&buf, nil))}
	srv, _ := harness.StartNATS(t, "")
	nc, err := nats.Connect(srv.ClientURL(), nats.ErrorHandler(n.natsError))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	release := make(chan struct{})
	sub, err := nc.Subscribe("slow.sub", func(*nats.Msg) { <-release })
	if err != nil {
		t.Fatal(err)
	}
	defer close(release)
	if err := sub.SetPendingLimits(1, -1); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if err := nc.Publish("slow.sub", []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(buf.String(), "slow consumer") {
		if time.Now().After(deadline) {
			t.Fatalf("no slow consumer in the node's log: %q", buf.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if log := buf.String(); !strings.Contains(log, "subject=slow.sub") || !strings.Contains(log, "level=WARN") {
		t.Errorf("log line: %q", log)
	}
}

// A stream reader whose buffer is full when the server sends it a status
// message or a heartbeat recovers by itself: its inbox's slow-consumer
// errors are one warning a minute, counting the ones between, each at
// debug level; any other subscription's stay a warning each.
func TestNATSReaderDropsPaced(t *testing.T) {
	var buf syncBuffer
	n := &Node{id: "n1", log: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	srv, _ := harness.StartNATS(t, "")
	nc, err := nats.Connect(srv.ClientURL(), nats.CustomInboxPrefix("_DMNODE_n1"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	inbox, err := nc.SubscribeSync(nc.NewInbox())
	if err != nil {
		t.Fatal(err)
	}
	other, err := nc.SubscribeSync("_INBOX.not.this.conn")
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		n.natsError(nc, inbox, nats.ErrSlowConsumer)
		n.natsError(nc, other, nats.ErrSlowConsumer)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	var warnInbox, debugInbox, warnOther int
	for _, l := range lines {
		switch {
		case strings.Contains(l, "subject="+inbox.Subject) && strings.Contains(l, "level=WARN"):
			warnInbox++
			if !strings.Contains(l, "since_last_warning=1") || !strings.Contains(l, "recovers by itself") {
				t.Errorf("warning: %q", l)
			}
		case strings.Contains(l, "subject="+inbox.Subject) && strings.Contains(l, "level=DEBUG"):
			debugInbox++
		case strings.Contains(l, "subject=_INBOX.not.this.conn") && strings.Contains(l, "level=WARN"):
			warnOther++
		}
	}
	if warnInbox != 1 || debugInbox != 2 || warnOther != 3 {
		t.Fatalf("inbox: %d warnings, %d debug lines (want 1, 2); another subject: %d warnings (want 3):\n%s", warnInbox, debugInbox, warnOther, buf.String())
	}

	var e everyMinute
	at := time.Unix(1000, 0)
	for i, tc := range []struct {
		after  time.Duration
		since  int
		report bool
	}{{0, 1, true}, {10 * time.Second, 1, false}, {50 * time.Second, 2, false}, {61 * time.Second, 3, true}, {62 * time.Second, 1, false}, {121 * time.Second, 2, true}} {
		since, report := e.note(at.Add(tc.after))
		if report != tc.report || (report && since != tc.since) {
			t.Errorf("event %d at +%v: report %v with %d, want %v with %d", i, tc.after, report, since, tc.report, tc.since)
		}
	}
}

// syncBuffer is a bytes.Buffer for a logger written from another goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A command forwarded to a leader that received it and died before it
// answered fails after forwardTimeout, whatever the caller's context: an
// actor whose context has no deadline then retries instead of waiting for
// a reply that never comes.
func TestForwardToSilentLeader(t *testing.T) {
	srv, _ := harness.StartNATS(t, "")
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	got := make(chan struct{}, 1)
	if _, err := nc.Subscribe(proposeSubject("gone"), func(*nats.Msg) { got <- struct{}{} }); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	defer func(d time.Duration) { forwardTimeout = d }(forwardTimeout)
	forwardTimeout = 200 * time.Millisecond
	n := &Node{id: "n1", nc: nc}
	done := make(chan error, 1)
	go func() {
		_, err := n.forward(context.Background(), catalog.OpShardDDL, "gone", []byte("{}"))
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "leader gone") {
			t.Fatalf("forward to a silent leader: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("forward to a leader that never answers did not return")
	}
	select {
	case <-got:
	default:
		t.Fatal("the leader never received the command")
	}
}

// Nodes started together on an external NATS: the one that claimed the
// founding answers "still loading its catalog" until its Raft elects it.
// A node that asks meanwhile waits for it and joins, rather than stopping
// with that answer as its error.
func TestFoundOrJoinWaitsForTheFounder(t *testing.T) {
	srv, _ := harness.StartNATS(t, "")
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx := t.Context()
	store, err := jetstream.Open(ctx, nc, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Save(ctx, founderKey, "nc1", 0); err != nil {
		t.Fatal(err)
	}
	asked := 0
	if _, err := nc.Subscribe(apiPrefix()+"cluster.status", func(m *nats.Msg) {
		asked++
		resp := Response{Error: notReadyError}
		if asked > 3 {
			resp = Response{Members: []MemberStatus{{Member: catalog.Member{ID: "nc1"}, Leader: true}}}
		}
		data, _ := json.Marshal(resp)
		_ = m.Respond(data)
	}); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	n := &Node{id: "nc2", nc: nc, store: store, log: slog.New(slog.DiscardHandler), cfg: Config{NATSURL: srv.ClientURL()}}
	n.storeReady.Store(true)
	join, err := n.foundOrJoin(ctx, false)
	if err != nil || !join {
		t.Fatalf("foundOrJoin while the founder loads its catalog: join %v, %v", join, err)
	}
	if asked < 4 {
		t.Fatalf("the founder was asked %d times, want it asked until it answered", asked)
	}
}

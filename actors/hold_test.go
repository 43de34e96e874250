package actors

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/jetstream"
	"github.com/dmnode/dmnode/jetstream/memstore"
	"github.com/dmnode/dmnode/tests/harness"
)

// The hold protocol between a verifier (Holds) and an applier (holdBefore,
// holdIdle), over a real embedded JetStream KV bucket and over the
// in-memory stores. The applier here has nothing pending, so its commits
// are no-ops: the test drives the protocol's states one at a time.
func TestHoldProtocol(t *testing.T) {
	t.Run("jetstream", func(t *testing.T) { testHoldProtocol(t, testStore(t)) })
	t.Run("memory", func(t *testing.T) { testHoldProtocol(t, memstore.New()) })
}

func testHoldProtocol(t *testing.T, store jetstream.Stores) {
	ctx := t.Context()
	pos := func(n uint32) dmnode.Position { return dmnode.Position{File: "bin.000001", Pos: n} }
	env := Env{Store: store, Log: slog.New(slog.DiscardHandler)}
	r := &applyRun{applied: pos(100)}
	r.hold = openHold(ctx, env, "t", "s1", env.Log)
	defer r.hold.stop()
	hs := Holds{Store: store, Task: "t"}

	// Nothing asked: the applier goes on at once.
	if err := r.holdBefore(ctx, pos(150)); err != nil {
		t.Fatal(err)
	}

	// Phase 1: the applier, about to apply a transaction ending at 150,
	// stops before it and says it applied 100.
	applier := make(chan error, 1)
	stopped := make(chan dmnode.Position, 1)
	go func() {
		p, err := hs.Stop(ctx, "s1", "h1")
		if err != nil {
			t.Error(err)
		}
		stopped <- p
	}()
	seen(t, r.hold, "h1")
	go func() { applier <- r.holdBefore(ctx, pos(150)) }()
	if p := <-stopped; p != pos(100) {
		t.Fatalf("stopped at %s, want %s", p, pos(100))
	}
	select {
	case err := <-applier:
		t.Fatalf("the applier went on while stopped: %v", err)
	default:
	}

	// Phase 2 with a position past the transaction: it goes on.
	held := make(chan error, 1)
	since := time.Now()
	go func() { held <- hs.HoldAt(ctx, "s1", "h1", pos(200), since) }()
	if err := <-applier; err != nil {
		t.Fatal(err)
	}
	r.applied = pos(150) // it applied the transaction
	// The next one ends beyond 200: the applier holds before it, and the
	// verifier learns that everything up to 200 is applied.
	go func() { applier <- r.holdBefore(ctx, pos(260)) }()
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-applier:
		t.Fatalf("the applier passed the hold position: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	var ans ApplyHeld
	if _, err := store.Load(ctx, heldKey("t", "s1"), &ans); err != nil || !ans.Beyond || ans.Applied != pos(150) || ans.At != pos(200) {
		t.Fatalf("answer %+v, %v", ans, err)
	}

	// Released: it goes on.
	if err := hs.Release(ctx, "h1", "s1"); err != nil {
		t.Fatal(err)
	}
	if err := <-applier; err != nil {
		t.Fatal(err)
	}

	// An idle applier that applied exactly the position holds in the
	// read loop, and a new hold finds it there.
	r.applied = pos(300)
	go func() {
		if _, err := hs.Stop(ctx, "s1", "h2"); err != nil {
			t.Error(err)
		}
		held <- hs.HoldAt(ctx, "s1", "h2", pos(300), time.Now())
	}()
	seen(t, r.hold, "h2")
	idle := make(chan error, 1)
	go func() {
		// The read loop: holdIdle after every commit.
		for r.hold.cur != nil {
			if err := r.holdIdle(ctx); err != nil {
				idle <- err
				return
			}
		}
		idle <- nil
	}()
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	// Another verifier cannot take the applier meanwhile: it waits for the
	// hold to be lifted and, when its own time is up first, says why.
	wctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	_, err := hs.Stop(wctx, "s1", "other")
	cancel()
	if err == nil || !strings.Contains(err.Error(), "another verification") {
		t.Fatalf("a second hold: %v", err)
	}
	if err := hs.Release(ctx, "h2", "s1"); err != nil {
		t.Fatal(err)
	}
	if err := <-idle; err != nil {
		t.Fatal(err)
	}
}

// seen waits until the applier's watch has delivered the hold id.
func seen(t *testing.T, h *applyHold, id string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for h.cur == nil || h.cur.ID != id {
		if time.Now().After(deadline) {
			t.Fatalf("hold %s not seen", id)
		}
		if err := h.poll(t.Context(), time.After(10*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}
}

func testStore(t *testing.T) *jetstream.Store {
	t.Helper()
	_, nc := harness.StartNATS(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	store, err := jetstream.Open(ctx, nc, 1)
	if err != nil {
		t.Fatal(err)
	}
	return store
}

// endingWatches is a store whose hold watches can be ended, as a watch's
// subscription closes when its consumer cannot be reset on a loaded
// server; fail makes opening a watch fail.
type endingWatches struct {
	jetstream.Stores
	mu      sync.Mutex
	watches []*endingWatch
	fail    bool
}

type endingWatch struct {
	jetstream.KeyWatch
	out   chan jetstream.KeyUpdate
	ended chan struct{}
	once  sync.Once
}

func (w *endingWatch) Updates() <-chan jetstream.KeyUpdate { return w.out }
func (w *endingWatch) end()                                { w.once.Do(func() { close(w.ended) }) }

func (s *endingWatches) Watch(ctx context.Context, key string) (jetstream.KeyWatch, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail {
		return nil, errors.New("no responders")
	}
	inner, err := s.Stores.Watch(ctx, key)
	if err != nil {
		return nil, err
	}
	w := &endingWatch{KeyWatch: inner, out: make(chan jetstream.KeyUpdate), ended: make(chan struct{})}
	go func() {
		defer close(w.out)
		for {
			select {
			case u := <-inner.Updates():
				select {
				case w.out <- u:
				case <-w.ended:
					return
				}
			case <-w.ended:
				return
			}
		}
	}()
	s.watches = append(s.watches, w)
	return w, nil
}

func (s *endingWatches) endAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, w := range s.watches {
		w.end()
	}
}

// A hold watch that ends does not stop the applier: it watches again
// (at once, or after retryHold when that fails) and obeys the hold
// requests put in the meantime.
func TestHoldWatchEnds(t *testing.T) {
	ctx := t.Context()
	store := &endingWatches{Stores: memstore.New()}
	env := Env{Store: store, Log: slog.New(slog.DiscardHandler)}
	r := &applyRun{applied: dmnode.Position{File: "bin.000001", Pos: 100}}
	r.hold = openHold(ctx, env, "t", "s1", env.Log)
	defer r.hold.stop()
	ask := func(id string) {
		if err := store.Put(ctx, holdKey("t", "s1"), ApplyHold{ID: id}); err != nil {
			t.Fatal(err)
		}
	}

	first := r.hold.w
	store.endAll()
	for deadline := time.Now().Add(10 * time.Second); r.hold.w == first; {
		if time.Now().After(deadline) {
			t.Fatal("the end of the hold watch went unnoticed")
		}
		if err := r.holdIdle(ctx); err != nil {
			t.Fatalf("a hold watch that ended stopped the applier: %v", err)
		}
	}
	if r.hold.w == nil {
		t.Fatal("the hold watch was not opened again")
	}
	ask("h1")
	seen(t, r.hold, "h1")

	ask("") // lifted
	for r.hold.cur != nil {
		if err := r.hold.poll(ctx, time.After(10*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}

	// Opening it again fails: no holds until a later attempt works.
	store.fail = true
	store.endAll()
	for deadline := time.Now().Add(10 * time.Second); r.hold.w != nil; {
		if time.Now().After(deadline) {
			t.Fatal("the end of the hold watch went unnoticed")
		}
		if err := r.holdIdle(ctx); err != nil {
			t.Fatalf("a hold watch that ended and could not be opened again stopped the applier: %v", err)
		}
	}
	store.fail = false
	r.hold.retryAt = time.Now().Add(-time.Millisecond)
	if err := r.holdIdle(ctx); err != nil || r.hold.w == nil {
		t.Fatalf("watch %v, err %v: the hold watch was not opened again after retryHold", r.hold.w, err)
	}
	ask("h2")
	seen(t, r.hold, "h2")
}

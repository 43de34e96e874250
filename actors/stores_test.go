package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/catalog"
	"github.com/dmnode/dmnode/core/config"
	"github.com/dmnode/dmnode/jetstream"
	"github.com/dmnode/dmnode/jetstream/memstore"
)

// The actors' store-facing logic on the in-memory stores (memstore), with
// the faults a deployment sees: no NATS server, no database.

// A tailer whose publish fails, or whose publish is stored but its reply
// lost, dies; the next incarnation continues after what the relay holds,
// and the relay ends up exactly as a tailer that never died leaves it. A
// publish the client sends twice is stored once (its message id).
func TestTailerPublishFaults(t *testing.T) {
	script := tailScript{rowsEvents: 30, bigValue: 600 << 10} // parts of one rows event each
	clean := memstore.New()
	if !script.run(t, clean, "s", -1) {
		t.Fatal("the tailer died without a fault")
	}
	want := readRelay(t, clean, "s")
	publishes := clean.Calls(memstore.RelayPublish)
	if publishes < 10 {
		t.Fatalf("%d publishes; the script should make many", publishes)
	}
	for _, f := range []struct {
		name string
		f    memstore.Fault
		dies bool
	}{
		{"failed", memstore.Fault{Err: errInjected}, true},
		{"reply lost", memstore.Fault{Drop: true}, true},
		{"sent twice", memstore.Fault{Duplicate: true}, false},
	} {
		for _, n := range []int{1, 2, publishes / 2, publishes - 1, publishes} {
			st := memstore.New()
			f.f.Op, f.f.Nth = memstore.RelayPublish, n
			st.Inject(f.f)
			if done := script.run(t, st, "s", -1); done == f.dies {
				t.Fatalf("%s at publish %d: the tailer finished %v, want %v", f.name, n, done, !f.dies)
			}
			st.Clear()
			if f.dies && !script.run(t, st, "s", -1) {
				t.Fatalf("%s at publish %d: the next incarnation died", f.name, n)
			}
			got := readRelay(t, st, "s")
			if len(got) != len(want) {
				t.Fatalf("%s at publish %d: %d messages, want %d", f.name, n, len(got), len(want))
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("%s at publish %d: message %d differs: %+v, want %+v", f.name, n, i, got[i].h, want[i].h)
				}
			}
		}
	}
}

// A stale tailer incarnation cannot append once its successor has: the
// relay fences it, permanently.
func TestTailerFencedByRelay(t *testing.T) {
	st := memstore.New()
	ctx := t.Context()
	old, _, _, _ := scriptTailer(t, st, "s")
	cur, _, _, _ := scriptTailer(t, st, "s")
	b := dmnode.Batch{Txns: []dmnode.Txn{{End: pos("mysql-bin.000001", 100), Time: 1}}}
	if err := cur.publish(ctx, []byte("x"), jetstream.BatchHeaders(&b)); err != nil {
		t.Fatal(err)
	}
	b.Txns[0].End = pos("mysql-bin.000001", 200)
	err := old.publish(ctx, []byte("y"), jetstream.BatchHeaders(&b))
	if !errors.Is(err, jetstream.ErrFenced) || !IsPermanent(err) {
		t.Fatalf("stale publish: %v, want a permanent ErrFenced", err)
	}
	if got := readRelay(t, st, "s"); len(got) != 1 || got[0].data != "x" {
		t.Fatalf("relay holds %+v, want the successor's message only", got)
	}
}

// relayOf publishes one batch per end position and returns the relay.
func relayOf(t *testing.T, st *memstore.Store, source string, ends ...uint32) jetstream.Relay {
	t.Helper()
	r, err := st.Relay(t.Context(), source)
	if err != nil {
		t.Fatal(err)
	}
	last, _, err := r.Last(t.Context())
	for _, e := range ends {
		b := dmnode.Batch{Txns: []dmnode.Txn{{End: pos("mysql-bin.000001", e), Time: e}}}
		seq, perr := r.Publish(t.Context(), []byte(fmt.Sprint(e)), jetstream.BatchHeaders(&b), last.Seq)
		if perr != nil {
			t.Fatal(perr)
		}
		last.Seq = seq
	}
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// The applier and the validator start reading at the first message that
// ends after their position (firstAfter), on any relay, purged or not.
func TestFirstAfterOnRelay(t *testing.T) {
	ctx := t.Context()
	st := memstore.New()
	r := relayOf(t, st, "s", 100, 200, 300, 400, 500, 600, 700)
	for _, c := range []struct {
		after uint32
		want  uint64
	}{{0, 1}, {99, 1}, {100, 2}, {150, 2}, {650, 7}, {700, 8}, {900, 8}} {
		if got, err := firstAfter(ctx, r, pos("mysql-bin.000001", c.after)); err != nil || got != c.want {
			t.Errorf("firstAfter(%d) = %d, %v; want %d", c.after, got, err, c.want)
		}
	}
	if err := r.PurgeBelow(ctx, 4); err != nil {
		t.Fatal(err)
	}
	if got, err := firstAfter(ctx, r, pos("mysql-bin.000001", 100)); err != nil || got != 4 {
		t.Errorf("firstAfter on a purged relay = %d, %v; want its first message, 4", got, err)
	}
	empty := relayOf(t, st, "empty")
	if got, err := firstAfter(ctx, empty, pos("mysql-bin.000001", 100)); err != nil || got != 1 {
		t.Errorf("firstAfter on an empty relay = %d, %v; want 1", got, err)
	}
}

// retentionOn is a retention loop of source s whose only task, t, needs
// the binlog after start (the loader's stage: no target to read).
func retentionOn(st *memstore.Store, r jetstream.Relay, start dmnode.Position) *retention {
	state := &catalog.State{Tasks: map[string]*catalog.Task{"t": {Name: "t", Mode: "all",
		Sources: map[string]*catalog.TaskSource{"s": {Stage: catalog.StageLoad, Start: start}}}}}
	env := Env{Store: st, Log: slog.New(slog.DiscardHandler), Catalog: func() *catalog.State { return state }}
	return newRetention(env, "s", &config.Source{RelayMaxBytes: 1 << 30}, r, env.Log)
}

// Retention purges what no task needs, recording first where the relay
// now starts; an applier that needs what was purged is refused, one that
// does not goes on. When the record cannot be written nothing is purged.
func TestRetentionPurgeDecisions(t *testing.T) {
	ctx := t.Context()
	st := memstore.New()
	r := relayOf(t, st, "s", 100, 200, 300, 400, 500, 600)
	k := retentionOn(st, r, pos("mysql-bin.000001", 350))
	k.tailPos = pos("mysql-bin.000001", 600)

	st.Inject(memstore.Fault{Op: memstore.Put, Nth: 1, Err: errInjected})
	if err := k.pass(ctx); !errors.Is(err, errInjected) {
		t.Fatalf("pass with the relay start unwritable: %v", err)
	}
	if info, _ := r.Info(ctx); info.FirstSeq != 1 || info.Msgs != 6 {
		t.Fatalf("purged though the relay start was not recorded: %+v", info)
	}

	if err := k.pass(ctx); err != nil {
		t.Fatal(err)
	}
	// Task t needs what ends after 350: from message 4 (400) on.
	if info, _ := r.Info(ctx); info.FirstSeq != 4 || info.Msgs != 3 {
		t.Fatalf("after the pass the relay is %+v, want messages 4..6", info)
	}
	if k.prog.Purged != 3 || k.prog.HeldBy != "task t" || k.prog.Msgs != 3 {
		t.Fatalf("progress %+v", k.prog)
	}
	var start dmnode.Position
	if _, err := st.Load(ctx, relayStartKey("s"), &start); err != nil || start != pos("mysql-bin.000001", 300) {
		t.Fatalf("relay start %s, %v; want the end of the last purged message", start, err)
	}
	var gap *RelayGapError
	if err := checkRelayHolds(ctx, st, "late", "s", pos("mysql-bin.000001", 250)); !errors.As(err, &gap) || !IsPermanent(err) {
		t.Fatalf("an applier from 250: %v, want a permanent RelayGapError", err)
	}
	if err := checkRelayHolds(ctx, st, "t", "s", pos("mysql-bin.000001", 350)); err != nil {
		t.Fatalf("an applier from 350: %v", err)
	}

	// A task with no position yet holds the whole relay.
	k = retentionOn(st, r, dmnode.Position{})
	if err := k.pass(ctx); err != nil {
		t.Fatal(err)
	}
	if info, _ := r.Info(ctx); info.FirstSeq != 4 || !k.prog.Oldest.IsZero() {
		t.Fatalf("a task without a position did not hold the relay: %+v, %+v", info, k.prog)
	}
}

// queueBatches publishes n one-row batches of source s to task t's
// snapshot queue and returns their encodings.
func queueBatches(t *testing.T, st *memstore.Store, n int) []string {
	t.Helper()
	q, err := st.SnapshotQueue(t.Context(), "t")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := range n {
		rb := &jetstream.RowBatch{Source: "s", Table: dmnode.TableID{Schema: "db", Table: "t"}, Columns: []string{"id"},
			Chunk: i, Last: true, Rows: [][]any{{int64(i)}}}
		data, err := jetstream.EncodeRowBatch(nil, rb)
		if err != nil {
			t.Fatal(err)
		}
		if err := q.Publish(t.Context(), "s", "", data); err != nil {
			t.Fatal(err)
		}
		out = append(out, string(data))
	}
	return out
}

// loaderOn is a loader of task t, source s, whose dump finishes when done
// is set.
func loaderOn(st *memstore.Store, done *atomic.Bool) *loadRun {
	env := Env{Store: st, Log: slog.New(slog.DiscardHandler), Catalog: func() *catalog.State {
		stage := catalog.StageDump
		if done.Load() {
			stage = catalog.StageLoad
		}
		return &catalog.State{Tasks: map[string]*catalog.Task{"t": {Name: "t",
			Sources: map[string]*catalog.TaskSource{"s": {Stage: stage}}}}}
	}}
	return &loadRun{l: &Loader{env: env, task: "t", source: "s"}}
}

// drainLoad runs a loader incarnation's fetch and acknowledgements, with
// apply standing in for the target; it returns fetch's result and the
// acker's error.
func drainLoad(ctx context.Context, t *testing.T, st *memstore.Store, ld *loadRun, epoch uint64, apply func([]byte)) (fetchErr, ackErr error) {
	t.Helper()
	q, err := st.SnapshotQueue(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	cons, err := q.Consume(ctx, "s", epoch, loadMaxAckPending(2)+jetstream.MaxFragments, loadPrefetch(2))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Stop()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	out := make(chan snapMsg)
	res := make(chan error, 1)
	go func() {
		defer close(out)
		res <- ld.fetch(ctx, cons, out)
	}()
	for m := range out {
		if ackErr != nil {
			continue
		}
		apply(m.data)
		if ackErr = ld.ack(ctx, loaded{m: m, rows: 1}); ackErr != nil {
			cancel() // as the loader's errgroup does
		}
	}
	return <-res, ackErr
}

// The loader consumes the snapshot queue to its end, through a message
// delivered twice, a failed acknowledgement and a lost delivery: every
// message is applied (a duplicate again, which the target's REPLACE makes
// harmless), the queue is left empty, and the load is declared done only
// once nothing is left unacknowledged.
func TestLoaderQueueFaults(t *testing.T) {
	ctx := t.Context()
	for _, c := range []struct {
		name   string
		fault  memstore.Fault
		deaths int // incarnations that die before one finishes
	}{
		{"no fault", memstore.Fault{}, 0},
		{"delivered twice", memstore.Fault{Op: memstore.QueueDeliver, Nth: 3, Duplicate: true}, 0},
		{"ack fails", memstore.Fault{Op: memstore.QueueAck, Nth: 2, Err: errInjected}, 1},
		// A lost confirmation is a timeout: the ack is made again.
		{"ack's reply lost", memstore.Fault{Op: memstore.QueueAck, Nth: 4, Drop: true}, 0},
		{"delivery lost", memstore.Fault{Op: memstore.QueueDeliver, Nth: 2, Drop: true}, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := memstore.New()
			want := queueBatches(t, st, 6)
			if c.fault.Op != "" {
				st.Inject(c.fault)
			}
			var done atomic.Bool
			done.Store(true)
			target := map[string]int{} // REPLACE: a row written twice is there once
			apply := func(d []byte) { target[string(d)]++ }
			deaths := 0
			for epoch := uint64(1); ; epoch++ {
				if epoch > 5 {
					t.Fatalf("no incarnation finished the load")
				}
				ld := loaderOn(st, &done)
				// A lost delivery leaves the message unacknowledged with
				// this incarnation: it must not declare the load done,
				// and waits until it is replaced.
				ictx, cancel := context.WithTimeout(ctx, 2*time.Second)
				fetchErr, ackErr := drainLoad(ictx, t, st, ld, epoch, apply)
				cancel()
				if errors.Is(fetchErr, errLoadDone) && ackErr == nil {
					break
				}
				if ackErr == nil && !errors.Is(fetchErr, context.DeadlineExceeded) {
					t.Fatalf("incarnation %d: fetch %v", epoch, fetchErr)
				}
				deaths++
			}
			if deaths != c.deaths {
				t.Errorf("%d incarnations died, want %d", deaths, c.deaths)
			}
			if q := st.Queued("t", "s"); len(q) != 0 {
				t.Errorf("%d messages left in the queue", len(q))
			}
			for _, w := range want {
				if target[w] == 0 {
					t.Errorf("a message was never applied")
				}
			}
			if len(target) != len(want) {
				t.Errorf("%d distinct messages applied, want %d", len(target), len(want))
			}
		})
	}
}

// A loader whose dump is not finished never declares the load done, even
// with the queue empty.
func TestLoaderWaitsForTheDump(t *testing.T) {
	st := memstore.New()
	var done atomic.Bool
	ctx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
	defer cancel()
	fetchErr, _ := drainLoad(ctx, t, st, loaderOn(st, &done), 1, func([]byte) {})
	if !errors.Is(fetchErr, context.DeadlineExceeded) {
		t.Fatalf("fetch with the dump running: %v, want it waiting until the deadline", fetchErr)
	}
}

// A delivery lost on the way (as in a server's failover) is noticed once
// the loader has gone stallAfter without one: the consumer counts more
// messages delivered and unacknowledged than the loader holds, so the
// incarnation ends with an error instead of waiting out the ten-minute
// AckWait, and the next one loads what was lost. A loader that merely
// waits for the dump, with nothing lost, goes on waiting.
func TestLoaderNoticesLostDelivery(t *testing.T) {
	ctx := t.Context()
	st := memstore.New()
	want := queueBatches(t, st, 4)
	st.Inject(memstore.Fault{Op: memstore.QueueDeliver, Nth: 2, Drop: true})
	var done atomic.Bool
	done.Store(true)
	target := map[string]int{}
	apply := func(d []byte) { target[string(d)]++ }

	ld := loaderOn(st, &done)
	ld.stallAfter = 300 * time.Millisecond
	ictx, cancel := context.WithTimeout(ctx, 20*time.Second)
	fetchErr, ackErr := drainLoad(ictx, t, st, ld, 1, apply)
	cancel()
	if ackErr != nil || fetchErr == nil || !strings.Contains(fetchErr.Error(), "deliveries were lost") {
		t.Fatalf("first incarnation: fetch %v, ack %v; want the lost delivery noticed", fetchErr, ackErr)
	}
	ld = loaderOn(st, &done)
	ld.stallAfter = 300 * time.Millisecond
	ictx, cancel = context.WithTimeout(ctx, 20*time.Second)
	fetchErr, ackErr = drainLoad(ictx, t, st, ld, 2, apply)
	cancel()
	if !errors.Is(fetchErr, errLoadDone) || ackErr != nil {
		t.Fatalf("second incarnation: fetch %v, ack %v", fetchErr, ackErr)
	}
	if len(target) != len(want) || len(st.Queued("t", "s")) != 0 {
		t.Fatalf("%d of %d messages applied, %d left queued", len(target), len(want), len(st.Queued("t", "s")))
	}

	// Nothing lost, the dump still running: no error, the wait goes on.
	done.Store(false)
	ld = loaderOn(st, &done)
	ld.stallAfter = 100 * time.Millisecond
	ictx, cancel = context.WithTimeout(ctx, time.Second)
	fetchErr, _ = drainLoad(ictx, t, st, ld, 3, apply)
	cancel()
	if !errors.Is(fetchErr, context.DeadlineExceeded) {
		t.Fatalf("a loader waiting for the dump: %v, want it waiting until the deadline", fetchErr)
	}
}

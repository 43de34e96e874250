// Package storetest is the conformance suite of jetstream.Stores: what the
// interfaces of package jetstream promise, checked against an
// implementation. It runs against the JetStream implementation (on an
// embedded NATS server) and against memstore, so that the in-memory stores
// the actors' unit tests use are proven to behave as the real ones.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/jetstream"
)

// Run runs the suite on s. Every test uses names of its own, so s may be
// shared with other tests.
func Run(t *testing.T, s jetstream.Stores) {
	t.Run("checkpoints", func(t *testing.T) { checkpoints(t, s) })
	t.Run("watch", func(t *testing.T) { watch(t, s) })
	t.Run("relay", func(t *testing.T) { relay(t, s) })
	t.Run("relay-read", func(t *testing.T) { relayRead(t, s) })
	t.Run("relay-reader", func(t *testing.T) { relayReader(t, s) })
	t.Run("snapshot-queue", func(t *testing.T) { snapshotQueue(t, s) })
	t.Run("snapshot-drop", func(t *testing.T) { snapshotDrop(t, s) })
	t.Run("snapshot-long-names", func(t *testing.T) { snapshotLongNames(t, s) })
}

func ctxOf(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

type value struct {
	N int `json:"n"`
}

func checkpoints(t *testing.T, s jetstream.Stores) {
	ctx := ctxOf(t)
	key := "conf.cp.a"
	var v value
	if rev, err := s.Load(ctx, key, &v); err != nil || rev != 0 || v.N != 0 {
		t.Fatalf("Load of a missing key = %d, %+v, %v; want 0, untouched, nil", rev, v, err)
	}
	r1, err := s.Save(ctx, key, value{1}, 0)
	if err != nil || r1 == 0 {
		t.Fatalf("Save at 0 = %d, %v", r1, err)
	}
	if _, err := s.Save(ctx, key, value{9}, 0); !errors.Is(err, jetstream.ErrFenced) {
		t.Fatalf("second Save at 0: %v, want ErrFenced", err)
	}
	r2, err := s.Save(ctx, key, value{2}, r1)
	if err != nil || r2 <= r1 {
		t.Fatalf("Save at %d = %d, %v", r1, r2, err)
	}
	if _, err := s.Save(ctx, key, value{9}, r1); !errors.Is(err, jetstream.ErrFenced) {
		t.Fatalf("Save at a stale revision: %v, want ErrFenced", err)
	}
	if rev, err := s.Load(ctx, key, &v); err != nil || rev != r2 || v.N != 2 {
		t.Fatalf("Load = %d, %+v, %v; want %d, 2", rev, v, err, r2)
	}
	if err := s.Put(ctx, key, value{3}); err != nil {
		t.Fatal(err)
	}
	e, ok, err := s.Get(ctx, key)
	if err != nil || !ok || e.Rev <= r2 || string(e.Value) != `{"n":3}` || e.Created.IsZero() {
		t.Fatalf("Get after Put = %+v, %v, %v", e, ok, err)
	}
	if _, err := s.Save(ctx, key, value{9}, r2); !errors.Is(err, jetstream.ErrFenced) {
		t.Fatalf("Save at the revision before a Put: %v, want ErrFenced", err)
	}
	if err := s.DeleteIf(ctx, key, r2); !errors.Is(err, jetstream.ErrFenced) {
		t.Fatalf("DeleteIf at a stale revision: %v, want ErrFenced", err)
	}
	if err := s.DeleteIf(ctx, key, e.Rev); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.Get(ctx, key); ok || err != nil {
		t.Fatalf("Get after DeleteIf = %v, %v", ok, err)
	}
	if err := s.DeleteIf(ctx, key, e.Rev); !errors.Is(err, jetstream.ErrFenced) {
		t.Fatalf("DeleteIf of a deleted key: %v, want ErrFenced", err)
	}
	// Saved at 0 again once deleted.
	if _, err := s.Save(ctx, key, value{4}, 0); err != nil {
		t.Fatalf("Save at 0 after a delete: %v", err)
	}
	if err := s.Delete(ctx, key, "conf.cp.missing"); err != nil {
		t.Fatal(err)
	}
	if rev, err := s.Load(ctx, key, &v); err != nil || rev != 0 {
		t.Fatalf("Load after Delete = %d, %v", rev, err)
	}

	// Prefixes: keys at any depth under prefix., not a longer name.
	for _, k := range []string{"conf.pre.x.a", "conf.pre.x.b.c", "conf.pre.xy.a", "conf.pre.x"} {
		if err := s.Put(ctx, k, value{len(k)}); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]string{}
	if err := s.LoadPrefix(ctx, "conf.pre.x", func(k string, rev uint64, v []byte) error {
		if rev == 0 {
			t.Errorf("key %s with revision 0", k)
		}
		got[k] = string(v)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"conf.pre.x.a": `{"n":12}`, "conf.pre.x.b.c": `{"n":14}`}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("LoadPrefix = %v, want %v", got, want)
	}
	stop := errors.New("stop")
	if err := s.LoadPrefix(ctx, "conf.pre.x", func(string, uint64, []byte) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("LoadPrefix with fn failing = %v", err)
	}
	if err := s.DeletePrefix(ctx, "conf.pre.x"); err != nil {
		t.Fatal(err)
	}
	n := 0
	if err := s.LoadPrefix(ctx, "conf.pre", func(k string, _ uint64, _ []byte) error { n++; return nil }); err != nil || n != 2 {
		t.Fatalf("after DeletePrefix %d keys under conf.pre (%v), want 2 (conf.pre.x and conf.pre.xy.a)", n, err)
	}
}

func next(t *testing.T, w jetstream.KeyWatch) jetstream.KeyUpdate {
	t.Helper()
	select {
	case u, ok := <-w.Updates():
		if !ok {
			t.Fatal("watch ended")
		}
		return u
	case <-time.After(30 * time.Second):
		t.Fatal("no update within 30s")
	}
	panic("unreachable")
}

func watch(t *testing.T, s jetstream.Stores) {
	ctx := ctxOf(t)
	key := "conf.watch.a"
	if err := s.Put(ctx, key, value{1}); err != nil {
		t.Fatal(err)
	}
	w, err := s.Watch(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if u := next(t, w); u.Initial || u.Deleted || string(u.Value) != `{"n":1}` || u.Key != key {
		t.Fatalf("first update %+v, want the current value", u)
	}
	if u := next(t, w); !u.Initial {
		t.Fatalf("second update %+v, want the end of the initial values", u)
	}
	if err := s.Put(ctx, key, value{2}); err != nil {
		t.Fatal(err)
	}
	if u := next(t, w); u.Deleted || string(u.Value) != `{"n":2}` {
		t.Fatalf("update after Put %+v", u)
	}
	if err := s.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	if u := next(t, w); !u.Deleted {
		t.Fatalf("update after Delete %+v, want Deleted", u)
	}
	w.Stop()
	for range w.Updates() {
	}

	// A watch of a missing key starts with the end of the initial values.
	w, err = s.Watch(ctx, "conf.watch.none")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if u := next(t, w); !u.Initial {
		t.Fatalf("first update of a missing key %+v, want Initial", u)
	}
}

func header(id string) jetstream.Header {
	h := jetstream.Header{"Test": {"x"}}
	if id != "" {
		h.Set(jetstream.HeaderMsgID, id)
	}
	return h
}

func relay(t *testing.T, s jetstream.Stores) {
	ctx := ctxOf(t)
	source := "conf-relay"
	r, err := s.Relay(ctx, source)
	if err != nil {
		t.Fatal(err)
	}
	if r.Source() != source {
		t.Fatalf("Source = %q", r.Source())
	}
	if _, ok, err := r.Last(ctx); ok || err != nil {
		t.Fatalf("Last of an empty relay: %v, %v", ok, err)
	}
	if info, err := r.Info(ctx); err != nil || info.Msgs != 0 || info.LastSeq != 0 {
		t.Fatalf("Info of an empty relay = %+v, %v", info, err)
	}
	seq, err := r.Publish(ctx, []byte("one"), header("a"), 0)
	if err != nil || seq != 1 {
		t.Fatalf("first Publish = %d, %v", seq, err)
	}
	if _, err := r.Publish(ctx, []byte("other"), header("b"), 0); !errors.Is(err, jetstream.ErrFenced) {
		t.Fatalf("Publish expecting an empty relay: %v, want ErrFenced", err)
	}
	// A re-publish of the same message id: the earlier message.
	if seq, err := r.Publish(ctx, []byte("one"), header("a"), 1); err != nil || seq != 1 {
		t.Fatalf("re-Publish of id a = %d, %v; want 1", seq, err)
	}
	for i, d := range []string{"two", "three", "four"} {
		seq, err := r.Publish(ctx, []byte(d), header(d), uint64(i+1))
		if err != nil || seq != uint64(i+2) {
			t.Fatalf("Publish %s = %d, %v", d, seq, err)
		}
	}
	last, ok, err := r.Last(ctx)
	if err != nil || !ok || last.Seq != 4 || string(last.Data) != "four" || last.Header.Get("Test") != "x" || last.Time.IsZero() {
		t.Fatalf("Last = %+v, %v, %v", last, ok, err)
	}
	m, err := r.Get(ctx, 2)
	if err != nil || string(m.Data) != "two" || m.Header.Get(jetstream.HeaderMsgID) != "two" || m.Seq != 2 {
		t.Fatalf("Get(2) = %+v, %v", m, err)
	}
	if _, err := r.Get(ctx, 9); !errors.Is(err, jetstream.ErrNotFound) {
		t.Fatalf("Get of a sequence never published: %v, want ErrNotFound", err)
	}
	info, err := r.Info(ctx)
	if err != nil || info.FirstSeq != 1 || info.LastSeq != 4 || info.Msgs != 4 || info.Bytes == 0 {
		t.Fatalf("Info = %+v, %v", info, err)
	}
	if err := r.PurgeBelow(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if info, err = r.Info(ctx); err != nil || info.FirstSeq != 3 || info.LastSeq != 4 || info.Msgs != 2 {
		t.Fatalf("Info after PurgeBelow(3) = %+v, %v", info, err)
	}
	if _, err := r.Get(ctx, 2); !errors.Is(err, jetstream.ErrNotFound) {
		t.Fatalf("Get of a purged sequence: %v, want ErrNotFound", err)
	}
	// Another handle on the same relay sees the same log.
	r2, err := s.Relay(ctx, source)
	if err != nil {
		t.Fatal(err)
	}
	if seq, err := r2.Publish(ctx, []byte("five"), header("five"), 4); err != nil || seq != 5 {
		t.Fatalf("Publish through a second handle = %d, %v", seq, err)
	}
	if err := s.DeleteRelay(ctx, source); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRelay(ctx, source); err != nil {
		t.Fatalf("DeleteRelay of a missing relay: %v", err)
	}
	r, err = s.Relay(ctx, source)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := r.Last(ctx); ok || err != nil {
		t.Fatalf("Last of a relay deleted and created again: %v, %v", ok, err)
	}
}

func relayRead(t *testing.T, s jetstream.Stores) {
	ctx := ctxOf(t)
	r, err := s.Relay(ctx, "conf-read")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := r.Publish(ctx, []byte{byte(i)}, header(fmt.Sprint(i)), uint64(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.PurgeBelow(ctx, 2); err != nil {
		t.Fatal(err)
	}
	// From a purged sequence: the first message after it.
	c, err := r.Read(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	for want := uint64(2); want <= 5; want++ {
		m, pending, ok, err := c.Next(10 * time.Second)
		if err != nil || !ok || m.Seq != want || !bytes.Equal(m.Data, []byte{byte(want - 1)}) || pending != 5-want {
			t.Fatalf("Next = seq %d data %v pending %d, %v, %v; want seq %d pending %d", m.Seq, m.Data, pending, ok, err, want, 5-want)
		}
	}
	if _, _, ok, err := c.Next(100 * time.Millisecond); ok || err != nil {
		t.Fatalf("Next at the end: %v, %v; want nothing", ok, err)
	}
	// A message published while a reader waits reaches it.
	go func() {
		time.Sleep(50 * time.Millisecond)
		_, _ = r.Publish(context.Background(), []byte{5}, header("5"), 5)
	}()
	m, _, ok, err := c.Next(20 * time.Second)
	if err != nil || !ok || m.Seq != 6 {
		t.Fatalf("Next while publishing = %d, %v, %v", m.Seq, ok, err)
	}
	c.Stop()
	if _, _, _, err := c.Next(time.Second); err == nil {
		t.Fatal("Next after Stop succeeded")
	}
}

func snapshotQueue(t *testing.T, s jetstream.Stores) {
	ctx := ctxOf(t)
	q, err := s.SnapshotQueue(ctx, "conf-task")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"a1", "a2", "a3"} {
		if err := q.Publish(ctx, "a", "id-"+d, []byte(d)); err != nil {
			t.Fatal(err)
		}
	}
	// A message published again under its id (a retry after a lost
	// reply) is confirmed and not stored twice: source a holds a1-a3.
	if err := q.Publish(ctx, "a", "id-a2", []byte("a2 again")); err != nil {
		t.Fatalf("publishing a message again under its id: %v", err)
	}
	if err := q.Publish(ctx, "b", "", []byte("b1")); err != nil {
		t.Fatal(err)
	}
	c1, err := q.Consume(ctx, "a", 1, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	m1 := nextMsg(t, c1, "a1")
	m2 := nextMsg(t, c1, "a2")
	// maxAckPending 2: nothing more until one is acknowledged.
	if m, ok, err := c1.Next(300 * time.Millisecond); ok || err != nil {
		t.Fatalf("Next beyond maxAckPending = %v, %v, %v", m, ok, err)
	}
	if p, a, err := c1.Pending(ctx); err != nil || p != 1 || a != 2 {
		t.Fatalf("Pending = %d, %d, %v; want 1, 2", p, a, err)
	}
	if err := m1.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	// The third may already be on its way to the client, counted then
	// as delivered.
	if p, a, err := c1.Pending(ctx); err != nil || p+a != 2 || a < 1 {
		t.Fatalf("Pending after an ack = %d, %d, %v; want 2 in all, 1 or 2 delivered", p, a, err)
	}
	_ = nextMsg(t, c1, "a3")
	c1.Stop()
	// The next incarnation gets what the first did not acknowledge, in
	// order, and the first can no longer acknowledge.
	c2, err := q.Consume(ctx, "a", 2, 10, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Stop()
	if err := m2.Ack(ctx); err == nil {
		t.Fatal("an earlier incarnation acknowledged a message")
	}
	n2 := nextMsg(t, c2, "a2")
	n3 := nextMsg(t, c2, "a3")
	for _, m := range []jetstream.SnapshotMsg{n2, n3} {
		if err := m.Ack(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if m, ok, err := c2.Next(300 * time.Millisecond); ok || err != nil {
		t.Fatalf("Next on a drained source = %v, %v, %v", m, ok, err)
	}
	if p, a, err := c2.Pending(ctx); err != nil || p != 0 || a != 0 {
		t.Fatalf("Pending of a drained source = %d, %d, %v", p, a, err)
	}
	// The other source's message is untouched.
	cb, err := q.Consume(ctx, "b", 1, 10, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer cb.Stop()
	if err := nextMsg(t, cb, "b1").Ack(ctx); err != nil {
		t.Fatal(err)
	}
	// Deleting the queue removes what it still holds, of every source,
	// and nothing of another task whose name begins the same.
	if err := q.Publish(ctx, "b", "", []byte("b2")); err != nil {
		t.Fatal(err)
	}
	other, err := s.SnapshotQueue(ctx, "conf-task2")
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Publish(ctx, "b", "", []byte("other b1")); err != nil {
		t.Fatal(err)
	}
	cb.Stop()
	if err := s.DeleteSnapshotQueue(ctx, "conf-task"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSnapshotQueue(ctx, "conf-task"); err != nil {
		t.Fatalf("DeleteSnapshotQueue of a missing queue: %v", err)
	}
	if q, err = s.SnapshotQueue(ctx, "conf-task"); err != nil {
		t.Fatal(err)
	}
	for _, source := range []string{"a", "b"} {
		c, err := q.Consume(ctx, source, 3, 10, 2)
		if err != nil {
			t.Fatal(err)
		}
		if m, ok, err := c.Next(300 * time.Millisecond); ok || err != nil {
			t.Fatalf("Next of source %s in a deleted queue = %v, %v, %v", source, m, ok, err)
		}
		c.Stop()
	}
	co, err := other.Consume(ctx, "b", 1, 10, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer co.Stop()
	if err := nextMsg(t, co, "other b1").Ack(ctx); err != nil {
		t.Fatal(err)
	}
	for _, task := range []string{"conf-task", "conf-task2"} {
		if err := s.DeleteSnapshotQueue(ctx, task); err != nil {
			t.Fatal(err)
		}
	}
}

// nextMsg is c's next message, which must hold want.
func nextMsg(t *testing.T, c jetstream.SnapshotConsumer, want string) jetstream.SnapshotMsg {
	t.Helper()
	m, ok, err := c.Next(10 * time.Second)
	if err != nil || !ok || string(m.Data()) != want {
		var got string
		if m != nil {
			got = string(m.Data())
		}
		t.Fatalf("Next = %q, %v, %v; want %q", got, ok, err, want)
	}
	return m
}

// Dropping a source's part of a queue removes what it holds and nothing of
// the other sources'; the source can then be published to and consumed
// again.
func snapshotDrop(t *testing.T, s jetstream.Stores) {
	ctx := ctxOf(t)
	q, err := s.SnapshotQueue(ctx, "drop-task")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := s.DeleteSnapshotQueue(ctx, "drop-task"); err != nil {
			t.Error(err)
		}
	}()
	for _, m := range [][2]string{{"a", "a1"}, {"b", "b1"}} {
		if err := q.Publish(ctx, m[0], "", []byte(m[1])); err != nil {
			t.Fatal(err)
		}
	}
	ca, err := q.Consume(ctx, "a", 1, 10, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Stop()
	if err := q.Drop(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := q.Drop(ctx, "a"); err != nil {
		t.Fatalf("Drop of a source already dropped: %v", err)
	}
	next := func(source string, want string) {
		t.Helper()
		c, err := q.Consume(ctx, source, 2, 10, 2)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Stop()
		if want != "" {
			if err := nextMsg(t, c, want).Ack(ctx); err != nil {
				t.Fatal(err)
			}
			return
		}
		if m, ok, err := c.Next(time.Second); ok || err != nil {
			t.Fatalf("Next of dropped source %s = %v, %v, %v", source, m, ok, err)
		}
	}
	next("a", "")
	next("b", "b1")
	if err := q.Publish(ctx, "a", "", []byte("a2")); err != nil {
		t.Fatalf("publish to a dropped source: %v", err)
	}
	next("a", "a2")
}

// A task and a source whose names are long (here 200 and 250 bytes, the
// dots escaped to three each) have their queue like any other.
func snapshotLongNames(t *testing.T, s jetstream.Stores) {
	ctx := ctxOf(t)
	task, source := strings.Repeat("t.", 100), strings.Repeat("s.", 125)
	q, err := s.SnapshotQueue(ctx, task)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Publish(ctx, source, "id-1", []byte("long")); err != nil {
		t.Fatal(err)
	}
	c, err := q.Consume(ctx, source, 1, 10, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	if err := nextMsg(t, c, "long").Ack(ctx); err != nil {
		t.Fatal(err)
	}
	if err := q.Drop(ctx, source); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSnapshotQueue(ctx, task); err != nil {
		t.Fatal(err)
	}
}

// The validator's reader parses each message's position and counts what
// was purged before it was read.
func relayReader(t *testing.T, s jetstream.Stores) {
	ctx := ctxOf(t)
	r, err := s.Relay(ctx, "conf-reader")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		b := dmnode.Batch{Txns: []dmnode.Txn{{End: dmnode.Position{File: "bin.000001", Pos: uint32(100 * (i + 1))}, Time: 7}}}
		if _, err := r.Publish(ctx, []byte{byte(i)}, jetstream.BatchHeaders(&b), uint64(i)); err != nil {
			t.Fatal(err)
		}
	}
	rd, err := jetstream.OpenRelayReader(ctx, r, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Stop()
	if err := r.PurgeBelow(ctx, 3); err != nil {
		t.Fatal(err)
	}
	h, data, skipped, ok, err := rd.Next(10 * time.Second)
	if err != nil || !ok {
		t.Fatalf("Next: %v, %v", ok, err)
	}
	// Purged before it was read, or already on its way: either the
	// third message after two skipped, or the first.
	switch {
	case skipped == 2 && h.End.Pos == 300 && data[0] == 2:
	case skipped == 0 && h.End.Pos == 100 && data[0] == 0:
	default:
		t.Fatalf("first message: end %s, data %v, %d skipped", h.End, data, skipped)
	}
	if !h.Last || h.Time != 7 {
		t.Fatalf("headers %+v", h)
	}
}

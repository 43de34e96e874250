package memstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/dmnode/dmnode/jetstream"
)

// The fault hooks do what they say; the behaviour without faults is the
// conformance suite's (jetstream/conformance_test.go).
func TestFaults(t *testing.T) {
	ctx := context.Background()
	boom := errors.New("boom")

	t.Run("the nth call fails without effect", func(t *testing.T) {
		s := New()
		s.Inject(Fault{Op: Save, Nth: 2, Err: boom})
		r1, err := s.Save(ctx, "k", 1, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Save(ctx, "k", 2, r1); !errors.Is(err, boom) {
			t.Fatalf("second Save: %v, want boom", err)
		}
		var v int
		if rev, err := s.Load(ctx, "k", &v); rev != r1 || v != 1 || err != nil {
			t.Fatalf("after the failed Save: %d, %d, %v", rev, v, err)
		}
		if _, err := s.Save(ctx, "k", 3, r1); err != nil {
			t.Fatalf("third Save: %v (the fault hits once)", err)
		}
		if s.Calls(Save) != 3 {
			t.Fatalf("Calls(Save) = %d", s.Calls(Save))
		}
	})

	t.Run("a lost reply: the write took effect", func(t *testing.T) {
		s := New()
		s.Inject(Fault{Op: Save, Nth: 1, Drop: true})
		if _, err := s.Save(ctx, "k", 1, 0); !errors.Is(err, ErrLostReply) {
			t.Fatalf("Save: %v, want ErrLostReply", err)
		}
		if _, err := s.Save(ctx, "k", 1, 0); !errors.Is(err, jetstream.ErrFenced) {
			t.Fatalf("Save again at 0: %v, want ErrFenced", err)
		}
	})

	t.Run("a duplicated relay publish is deduplicated by its id", func(t *testing.T) {
		s := New()
		r, _ := s.Relay(ctx, "src")
		s.Inject(Fault{Op: RelayPublish, Duplicate: true})
		h := jetstream.Header{}
		h.Set(jetstream.HeaderMsgID, "a")
		if seq, err := r.Publish(ctx, []byte("x"), h, 0); seq != 1 || err != nil {
			t.Fatalf("Publish = %d, %v", seq, err)
		}
		if seq, err := r.Publish(ctx, []byte("y"), jetstream.Header{}, 1); seq != 3 || err != nil {
			t.Fatalf("Publish without id = %d, %v; want 3 (stored twice)", seq, err)
		}
	})

	t.Run("a duplicated delivery and a lost ack", func(t *testing.T) {
		s := New()
		q, _ := s.SnapshotQueue(ctx, "t")
		_ = q.Publish(ctx, "a", "", []byte("m1"))
		s.Inject(Fault{Op: QueueDeliver, Nth: 1, Duplicate: true})
		s.Inject(Fault{Op: QueueAck, Nth: 2, Drop: true})
		c, _ := q.Consume(ctx, "a", 1, 4, 1)
		m1, ok, err := c.Next(time.Second)
		m2, ok2, err2 := c.Next(time.Second)
		if !ok || !ok2 || err != nil || err2 != nil || string(m1.Data()) != "m1" || string(m2.Data()) != "m1" {
			t.Fatalf("want m1 twice: %v %v %v %v", ok, ok2, err, err2)
		}
		if err := m1.Ack(ctx); err != nil {
			t.Fatal(err)
		}
		if err := m2.Ack(ctx); !errors.Is(err, ErrLostReply) {
			t.Fatalf("ack of the duplicate, its reply lost: %v", err)
		}
		_ = q.Publish(ctx, "a", "", []byte("m2"))
		_ = q.Publish(ctx, "a", "", []byte("m3"))
		m, _, _ := c.Next(time.Second)
		if err := m.Ack(ctx); err != nil {
			t.Fatal(err)
		}
		m, _, _ = c.Next(time.Second)
		s.Inject(Fault{Op: QueueAck, Nth: 1, Err: boom})
		if err := m.Ack(ctx); !errors.Is(err, boom) {
			t.Fatalf("ack: %v, want boom", err)
		}
		if got := s.Queued("t", "a"); len(got) != 1 || string(got[0]) != "m3" {
			t.Fatalf("queued %q, want m3 (its ack failed)", got)
		}
		c2, _ := q.Consume(ctx, "a", 2, 4, 1)
		if m, ok, err := c2.Next(time.Second); !ok || err != nil || string(m.Data()) != "m3" {
			t.Fatalf("the next incarnation got %v %v, want m3 again", ok, err)
		}
	})

	t.Run("a delay honours the context", func(t *testing.T) {
		s := New()
		s.Inject(Fault{Op: Put, Delay: time.Hour})
		ctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		defer cancel()
		if err := s.Put(ctx, "k", 1); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Put: %v", err)
		}
	})
}

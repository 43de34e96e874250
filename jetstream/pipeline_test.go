package jetstream

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// readAll returns the data of every message of stream, in order.
func readAll(t *testing.T, st jetstream.Stream, first, last uint64) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out []string
	for seq := first; seq <= last; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("message %d: %v", seq, err)
		}
		out = append(out, string(m.Data))
	}
	return out
}

func TestPipelineOrderAndAcks(t *testing.T) {
	s := openTestStore(t, startTestNATS(t, t.TempDir()))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := s.BinlogStream(ctx, "p1")
	must(t, err)
	subj := BinlogSubject("p1")
	// Three messages, all purged: the subject is empty, the stream's
	// sequence is not.
	for i := range 3 {
		_, err := s.JS.Publish(ctx, subj, fmt.Appendf(nil, "old %d", i))
		must(t, err)
	}
	must(t, st.Purge(ctx))

	p := NewPipeline(s.JS, subj, 0, 4, 1<<20)
	var acked []int
	maxPending := 0
	const n = 40
	for i := range n {
		must(t, p.Publish(ctx, fmt.Appendf(nil, "m%d", i), nats.Header{}, func() { acked = append(acked, i) }))
		maxPending = max(maxPending, p.Pending())
		for j, a := range acked {
			if a != j {
				t.Fatalf("acks out of order: %v", acked)
			}
		}
	}
	must(t, p.Drain(ctx))
	if len(acked) != n || p.Pending() != 0 {
		t.Fatalf("%d acks, %d pending after Drain; want %d, 0", len(acked), p.Pending(), n)
	}
	if maxPending > 4 {
		t.Errorf("%d messages unacknowledged at once, window 4", maxPending)
	}
	if p.LastSeq() != 3+n {
		t.Errorf("LastSeq %d, want %d (after the 3 purged)", p.LastSeq(), 3+n)
	}
	got := readAll(t, st, 4, 3+n)
	for i, d := range got {
		if d != fmt.Sprintf("m%d", i) {
			t.Fatalf("message %d of the stream is %q, want m%d", i+4, d, i)
		}
	}

	// A pipeline that starts after the last message continues it.
	q := NewPipeline(s.JS, subj, p.LastSeq(), 8, 1<<20)
	for i := range 5 {
		must(t, q.Publish(ctx, fmt.Appendf(nil, "q%d", i), nil, nil))
	}
	must(t, q.Drain(ctx))
	if q.LastSeq() != 3+n+5 {
		t.Errorf("second pipeline's LastSeq %d, want %d", q.LastSeq(), 3+n+5)
	}
}

func TestPipelineFenced(t *testing.T) {
	s := openTestStore(t, startTestNATS(t, t.TempDir()))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := s.BinlogStream(ctx, "p2")
	must(t, err)
	subj := BinlogSubject("p2")
	a := NewPipeline(s.JS, subj, 0, 8, 1<<20)
	must(t, a.Publish(ctx, []byte("a0"), nil, nil))
	must(t, a.Drain(ctx))

	// Two writers from the same point: the second to send is refused,
	// and so is every message it sends after the refused one.
	stale := NewPipeline(s.JS, subj, a.LastSeq(), 8, 1<<20)
	must(t, a.Publish(ctx, []byte("a1"), nil, nil))
	must(t, a.Drain(ctx))
	acks := 0
	for i := range 5 {
		if err := stale.Publish(ctx, fmt.Appendf(nil, "stale%d", i), nil, func() { acks++ }); err != nil {
			break
		}
	}
	err = stale.Drain(ctx)
	if !errors.Is(err, ErrFenced) {
		t.Fatalf("stale writer's error: %v, want ErrFenced", err)
	}
	if acks != 0 {
		t.Errorf("%d messages of the stale writer acknowledged", acks)
	}
	if err := stale.Publish(ctx, []byte("again"), nil, nil); !errors.Is(err, ErrFenced) {
		t.Errorf("publish after the refusal: %v, want the refusal again", err)
	}
	info, err := st.Info(ctx)
	must(t, err)
	if info.State.Msgs != 2 {
		t.Errorf("stream holds %d messages, want the writer's 2", info.State.Msgs)
	}
	if got := readAll(t, st, 1, 2); got[0] != "a0" || got[1] != "a1" {
		t.Errorf("stream holds %q", got)
	}
}

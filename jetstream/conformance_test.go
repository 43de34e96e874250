package jetstream_test

import (
	"context"
	"errors"
	"testing"
	"time"

	js "github.com/nats-io/nats.go/jetstream"

	"github.com/dmnode/dmnode/jetstream"
	"github.com/dmnode/dmnode/jetstream/memstore"
	"github.com/dmnode/dmnode/jetstream/storetest"
	"github.com/dmnode/dmnode/tests/harness"
)

// The conformance suite of the boundary (boundary.go), against JetStream
// on an embedded server and against the in-memory stores the actors'
// unit tests use: the fake is held to what the real thing does.
func TestConformance(t *testing.T) {
	t.Run("jetstream", func(t *testing.T) {
		st, _ := openStore(t)
		storetest.Run(t, st)
	})
	t.Run("memory", func(t *testing.T) {
		storetest.Run(t, memstore.New())
	})
}

// openStore opens the stores on an embedded NATS server of the test's own,
// with a context that ends a minute on or with the test.
func openStore(t *testing.T) (*jetstream.Store, context.Context) {
	t.Helper()
	_, nc := harness.StartNATS(t, "")
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	st, err := jetstream.Open(ctx, nc, 1)
	if err != nil {
		t.Fatal(err)
	}
	return st, ctx
}

// A copy begun by an earlier release, whose chunks sit in one stream for
// the whole task (subjects dmnode.snapshot.<task>.*), goes on in that
// stream: its loaders read what it holds, its dumpers write into it, a
// source's Drop keeps it, and deleting the task's queue removes it.
func TestSnapshotQueueOfAnEarlierRelease(t *testing.T) {
	st, ctx := openStore(t)
	old, err := st.JS.CreateStream(ctx, js.StreamConfig{
		Name:      jetstream.TaskSnapshotStream("t-old"),
		Subjects:  []string{jetstream.SnapshotSubjects("t-old")},
		Retention: js.WorkQueuePolicy,
		Storage:   js.FileStorage,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.JS.Publish(ctx, jetstream.SnapshotSubject("t-old", "s1"), []byte("before")); err != nil {
		t.Fatal(err)
	}
	q, err := st.SnapshotQueue(ctx, "t-old")
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Publish(ctx, "s1", "", []byte("after")); err != nil {
		t.Fatalf("publish into the task's stream of an earlier release: %v", err)
	}
	// The stream is the whole task's: a source's Drop leaves it alone.
	if err := q.Drop(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	c, err := q.Consume(ctx, "s1", 1, 10, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	for _, want := range []string{"before", "after"} {
		m, ok, err := c.Next(10 * time.Second)
		if err != nil || !ok || string(m.Data()) != want {
			t.Fatalf("Next = %v, %v; want %q", ok, err, want)
		}
		if err := m.Ack(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.JS.Stream(ctx, jetstream.SnapshotStream("t-old", "s1")); !errors.Is(err, js.ErrStreamNotFound) {
		t.Fatalf("a stream of the source's own was made beside the task's: %v", err)
	}
	if err := st.DeleteSnapshotQueue(ctx, "t-old"); err != nil {
		t.Fatal(err)
	}
	if _, err := old.Info(ctx); !errors.Is(err, js.ErrStreamNotFound) {
		t.Fatalf("the task's stream of an earlier release after DeleteSnapshotQueue: %v", err)
	}
}

package jetstream_test

import (
	"errors"
	"testing"
	"time"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/jetstream"
	"github.com/dmnode/dmnode/jetstream/memstore"
)

// The first claim of a relay's start wins; every later one gets it back.
// A failed write is an error, not a claim lost.
func TestClaimSourceStart(t *testing.T) {
	ctx := t.Context()
	st := memstore.New()
	if _, ok, err := jetstream.LoadSourceStart(ctx, st, "s"); ok || err != nil {
		t.Fatalf("a start before any claim: %v", err)
	}
	first := jetstream.SourceStart{Pos: dmnode.Position{File: "b.1", Pos: 4}, Flavor: "mysql", Task: "t1"}
	second := jetstream.SourceStart{Pos: dmnode.Position{File: "b.1", Pos: 900}, Flavor: "mysql"}
	if got, err := jetstream.ClaimSourceStart(ctx, st, "s", first); err != nil || got != first {
		t.Fatalf("first claim: %+v, %v", got, err)
	}
	if got, err := jetstream.ClaimSourceStart(ctx, st, "s", second); err != nil || got != first {
		t.Fatalf("second claim: %+v, %v; want the first", got, err)
	}
	if got, ok, err := jetstream.LoadSourceStart(ctx, st, "s"); !ok || err != nil || got != first {
		t.Fatalf("recorded %+v (%v), %v", got, ok, err)
	}
	boom := errors.New("boom")
	st.Inject(memstore.Fault{Op: memstore.Save, Nth: 1, Err: boom})
	if _, err := jetstream.ClaimSourceStart(ctx, st, "s2", first); !errors.Is(err, boom) {
		t.Fatalf("failed write: %v", err)
	}
	if _, ok, _ := jetstream.LoadSourceStart(ctx, st, "s2"); ok {
		t.Fatal("a failed claim recorded a start")
	}
}

// The published records read back as written; a missing one reads as
// its zero value.
func TestPublishedRecords(t *testing.T) {
	ctx := t.Context()
	st := memstore.New()
	if p, err := jetstream.LoadTailProgress(ctx, st, "s"); err != nil || p != (jetstream.TailProgress{}) {
		t.Fatalf("no progress: %+v, %v", p, err)
	}
	now := time.Unix(1_700_000_000, 0).UTC()
	want := jetstream.TailProgress{Published: dmnode.Position{File: "b.2", Pos: 7}, Upstream: dmnode.Position{File: "b.2", Pos: 9},
		EventTime: 1_699_999_999, CaughtUp: now, Updated: now}
	if err := st.Put(ctx, jetstream.TailProgressKey("s"), want); err != nil {
		t.Fatal(err)
	}
	if p, err := jetstream.LoadTailProgress(ctx, st, "s"); err != nil || p != want {
		t.Fatalf("progress %+v, %v", p, err)
	}
	if p, err := jetstream.LoadRelayStart(ctx, st, "s"); err != nil || !p.IsZero() {
		t.Fatalf("nothing purged: %v, %v", p, err)
	}
	end := dmnode.Position{File: "b.1", Pos: 400}
	if err := st.Put(ctx, jetstream.RelayStartKey("s"), end); err != nil {
		t.Fatal(err)
	}
	if p, err := jetstream.LoadRelayStart(ctx, st, "s"); err != nil || p != end {
		t.Fatalf("purged to %v, %v", p, err)
	}
}

// A dump's schemas record: missing until written; a newer or the same
// epoch replaces it, an older one is fenced and leaves it; the record
// of one task and source is not another's.
func TestDumpSchemasRecord(t *testing.T) {
	ctx := t.Context()
	st := memstore.New()
	if _, ok, err := jetstream.LoadDumpSchemas(ctx, st, "t", "s"); ok || err != nil {
		t.Fatalf("a record before any dump: %v, %v", ok, err)
	}
	first := jetstream.DumpSchemas{Pos: dmnode.Position{File: "b.1", Pos: 4}, Epoch: 2}
	again := jetstream.DumpSchemas{Pos: dmnode.Position{File: "b.1", Pos: 90}, Epoch: 2}
	newer := jetstream.DumpSchemas{Pos: dmnode.Position{File: "b.2", Pos: 4}, Epoch: 3}
	for _, d := range []jetstream.DumpSchemas{first, again, newer} {
		if err := jetstream.RecordDumpSchemas(ctx, st, "t", "s", d); err != nil {
			t.Fatal(err)
		}
		if got, ok, err := jetstream.LoadDumpSchemas(ctx, st, "t", "s"); err != nil || !ok || got != d {
			t.Fatalf("after recording %+v: %+v, %v, %v", d, got, ok, err)
		}
	}
	if err := jetstream.RecordDumpSchemas(ctx, st, "t", "s", first); !errors.Is(err, jetstream.ErrFenced) {
		t.Fatalf("an older epoch's record: %v, want ErrFenced", err)
	}
	if got, _, _ := jetstream.LoadDumpSchemas(ctx, st, "t", "s"); got != newer {
		t.Fatalf("after the older epoch's attempt: %+v, want %+v", got, newer)
	}
	if _, ok, _ := jetstream.LoadDumpSchemas(ctx, st, "t", "s2"); ok {
		t.Fatal("another source's record")
	}
}

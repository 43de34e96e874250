package actors

import (
	"context"
	"database/sql"
	"encoding/json"
	"testing"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/catalog"
	"github.com/dmnode/dmnode/core/config"
	"github.com/dmnode/dmnode/core/schema"
	"github.com/dmnode/dmnode/jetstream"
	"github.com/dmnode/dmnode/jetstream/memstore"
)

// Where a tailer starts: the hand-over of a dump's snapshot through the
// relay's start record (jetstream.SourceStart), and the checkpoints an
// earlier version left in the bucket, on the in-memory stores.

var snapPos = dmnode.Position{File: "mysql-bin.000003", Pos: 1234, GTID: "3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5"}

// snapshotTracker is the schemas of db.t and db.u as a dump's snapshot
// reads them.
func snapshotTracker(t *testing.T) *schema.Tracker {
	t.Helper()
	tr := schema.NewTracker()
	tr.SetFlavor("mysql")
	for _, name := range []string{"t", "u"} {
		tbl, err := schema.ParseCreateTable("db", dumpCreates[name])
		if err != nil {
			t.Fatal(err)
		}
		tr.Put(tbl)
	}
	return tr
}

// noSource makes opening any source fail: a tailer that resumes or
// starts at a recorded start must not need the source to decide where.
func noSource(t *testing.T) {
	standIns(t, map[int][]*sql.DB{})
}

// startTailer runs what Tailer.Run does before it reads the binlog: the
// checkpoint (made when there is none) and the schemas in force there.
func startTailer(t *testing.T, st *memstore.Store, epoch uint64) (TailCheckpoint, *schema.Tracker) {
	t.Helper()
	env := taskEnvAt(st, epoch, catalog.StageSync, new([]catalog.Command))
	tl := &Tailer{env: env, source: "s"}
	src, err := loadSource(env.Catalog(), "s")
	if err != nil {
		t.Fatal(err)
	}
	cp, rev, err := tl.checkpoint(t.Context(), src, env.Catalog().Sources["s"].TailFrom)
	if err != nil {
		t.Fatal(err)
	}
	if rev == 0 {
		t.Fatal("no checkpoint revision")
	}
	tr, _, err := tl.loadTracker(t.Context(), st.Schemas(), &cp)
	if err != nil {
		t.Fatal(err)
	}
	return cp, tr
}

// A bucket written by the version before the relay's start record: the
// dumper wrote the tailer's first checkpoint itself, as JSON of this form,
// or a tailer wrote its own. A tailer resumes at exactly that position,
// with that flavor and the snapshot's schemas, without asking the source,
// and a later dump's hand-over does not move it.
func TestTailerResumesCheckpointOfEarlierVersion(t *testing.T) {
	for _, c := range []struct {
		name, stored string
	}{
		{"written by a dumper", `{"pos":{"file":"mysql-bin.000003","pos":1234,"gtid":"3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5"},"flavor":"mysql","epoch":0}`},
		{"written by a tailer", `{"pos":{"file":"mysql-bin.000003","pos":1234,"gtid":"3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5"},"flavor":"mysql","epoch":7}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			st := memstore.New()
			noSource(t)
			if err := st.Put(ctx, "tail.s", json.RawMessage(c.stored)); err != nil {
				t.Fatal(err)
			}
			if err := putTracker(ctx, st.Schemas(), "s", snapPos, snapshotTracker(t), jetstream.OriginSnapshot, "mysql"); err != nil {
				t.Fatal(err)
			}
			// A task submitted after the upgrade dumps later.
			later := dmnode.Position{File: "mysql-bin.000004", Pos: 4}
			if err := handOverSnapshot(ctx, st, "t2", "s", "mysql", later, snapshotTracker(t)); err != nil {
				t.Fatal(err)
			}

			cp, tr := startTailer(t, st, 9)
			if cp.Pos != snapPos || cp.Flavor != "mysql" {
				t.Fatalf("resumed at %+v, want %s (mysql)", cp, snapPos)
			}
			if got := len(tr.Tables()); got != 2 || tr.Flavor() != "mysql" {
				t.Errorf("tracker: %d tables, flavor %q", got, tr.Flavor())
			}
			if p, err := TailPosition(ctx, st, "s"); err != nil || p != snapPos {
				t.Errorf("TailPosition %v, %v", p, err)
			}
		})
	}
}

// A dump's snapshot, handed over before the tailer ever ran, is where the
// tailer starts: its own checkpoint, of its own epoch, made from the
// record, and the schemas the dumper wrote there.
func TestTailerStartsAtDumpSnapshot(t *testing.T) {
	ctx := t.Context()
	st := memstore.New()
	noSource(t)
	if err := handOverSnapshot(ctx, st, "t", "s", "mysql", snapPos, snapshotTracker(t)); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := st.Get(ctx, jetstream.TailKey("s")); ok {
		t.Fatal("the dumper wrote the tailer's checkpoint")
	}
	cp, tr := startTailer(t, st, 3)
	if cp.Pos != snapPos || cp.Flavor != "mysql" || cp.Epoch != 3 {
		t.Fatalf("checkpoint %+v, want at %s, epoch 3", cp, snapPos)
	}
	if v := versionAt(t, st, snapPos, "t"); v.Origin != jetstream.OriginSnapshot || v.Guess() {
		t.Errorf("db.t at the snapshot: %+v", v)
	}
	if len(tr.Tables()) != 2 {
		t.Errorf("tracker holds %d tables", len(tr.Tables()))
	}
	// A second dump (another task) starts the relay nowhere else, but its
	// schemas are in the history at its snapshot.
	later := dmnode.Position{File: "mysql-bin.000004", Pos: 4}
	if err := handOverSnapshot(ctx, st, "t2", "s", "mysql", later, snapshotTracker(t)); err != nil {
		t.Fatal(err)
	}
	if ss, ok, err := jetstream.LoadSourceStart(ctx, st, "s"); err != nil || !ok || ss.Pos != snapPos || ss.Task != "t" {
		t.Errorf("start %+v (%v), %v; want the first dump's", ss, ok, err)
	}
	if v := versionAt(t, st, later, "u"); v.Pos != later || v.Origin != jetstream.OriginSnapshot {
		t.Errorf("db.u at the second snapshot: %+v", v)
	}
}

// A tailer that starts before any dump claims the source's current
// position; a dump that comes later does not move it. A dump that claims
// the start while the tailer is asking the source wins: the tailer starts
// at the snapshot, as it did when both raced for the tailer's checkpoint.
func TestTailerAndDumpClaimTheStart(t *testing.T) {
	now := dmnode.Position{File: "mysql-bin.000005", Pos: 500}
	t.Run("tailer first", func(t *testing.T) {
		ctx := t.Context()
		st := memstore.New()
		src, mock := newSourceMock(t)
		standIns(t, map[int][]*sql.DB{3306: {src}})
		expectMaster(mock, now.File, int(now.Pos))
		expectSchemas(mock, dumpCreates)
		cp, _ := startTailer(t, st, 1)
		if cp.Pos != now {
			t.Fatalf("tailer at %s, want %s", cp.Pos, now)
		}
		if err := handOverSnapshot(ctx, st, "t", "s", "mysql", snapPos, snapshotTracker(t)); err != nil {
			t.Fatal(err)
		}
		if ss, _, _ := jetstream.LoadSourceStart(ctx, st, "s"); ss.Pos != now || ss.Task != "" {
			t.Errorf("start %+v, want the tailer's %s", ss, now)
		}
		if p, _ := TailPosition(ctx, st, "s"); p != now {
			t.Errorf("tailer moved to %s", p)
		}
	})
	t.Run("dump while the tailer asks the source", func(t *testing.T) {
		st := memstore.New()
		src, mock := newSourceMock(t)
		expectMaster(mock, now.File, int(now.Pos))
		expectSchemas(mock, dumpCreates)
		old := tailOpenDB
		tailOpenDB = func(ctx context.Context, _ config.DBConfig, _ int) (*sql.DB, error) {
			if err := handOverSnapshot(ctx, st, "t", "s", "mysql", snapPos, snapshotTracker(t)); err != nil {
				t.Error(err)
			}
			return src, nil
		}
		t.Cleanup(func() { tailOpenDB = old })
		cp, _ := startTailer(t, st, 1)
		if cp.Pos != snapPos {
			t.Fatalf("tailer at %s, want the dump's snapshot %s", cp.Pos, snapPos)
		}
	})
}

// Removing a source removes the record of where its relay starts: a
// source added again under its id starts afresh.
func TestPurgeSourceRemovesStart(t *testing.T) {
	ctx := t.Context()
	st := memstore.New()
	if err := handOverSnapshot(ctx, st, "t", "s", "mysql", snapPos, snapshotTracker(t)); err != nil {
		t.Fatal(err)
	}
	if err := PurgeSource(ctx, st, "s"); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := jetstream.LoadSourceStart(ctx, st, "s"); ok || err != nil {
		t.Errorf("start still recorded: %v", err)
	}
}

package actors

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/schema"
	"github.com/dmnode/dmnode/jetstream"
)

// The starting versions written from a tracker give back the same tracker
// (tables, database charsets, flavor) at any later position, and DDL
// versions written as the tailer writes them take over from theirs.
func TestTrackerThroughSchemaHistory(t *testing.T) {
	ctx := context.Background()
	tr := schema.NewTracker()
	tr.SetFlavor("mariadb")
	tr.SetDatabaseCharset("", "utf8mb4", "utf8mb4_general_ci")
	tr.SetDatabaseCharset("shop", "latin1", "")
	for _, q := range []string{
		"CREATE TABLE orders (id bigint PRIMARY KEY, note varchar(20), doc json)",
		"CREATE TABLE items (id int PRIMARY KEY, order_id bigint)",
	} {
		if _, err := tr.Apply("shop", q); err != nil {
			t.Fatal(err)
		}
	}
	store := jetstream.NewMemSchemas()
	start := dmnode.Position{File: "mysql-bin.000002", Pos: 4}
	if err := putTracker(ctx, store, "s1", start, tr, jetstream.OriginSnapshot, "mariadb"); err != nil {
		t.Fatal(err)
	}
	set, err := store.At(ctx, "s1", dmnode.Position{File: "mysql-bin.000002", Pos: 100})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(tr)
	got, _ := json.Marshal(set.Tracker())
	if string(got) != string(want) {
		t.Fatalf("tracker from the history:\n%s\nwant\n%s", got, want)
	}

	// A DDL as the tailer records it: the tracker applies it, the tables
	// it names get versions at its end position.
	r := &tailRun{t: &Tailer{source: "s1"}, tracker: tr, schemas: store, guessed: map[schema.TableRef]bool{}}
	ddlEnd := dmnode.Position{File: "mysql-bin.000002", Pos: 500}
	d, err := tr.Apply("shop", "RENAME TABLE items TO order_items")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.recordDDL(ctx, d, ddlEnd); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		at        uint32
		items, oi bool
	}{{499, true, false}, {500, false, true}} {
		set, err := store.At(ctx, "s1", dmnode.Position{File: "mysql-bin.000002", Pos: c.at})
		if err != nil {
			t.Fatal(err)
		}
		_, items := set.Version("shop", "items")
		_, oi := set.Version("shop", "order_items")
		if items != c.items || oi != c.oi {
			t.Errorf("at %d: items %v order_items %v, want %v %v", c.at, items, oi, c.items, c.oi)
		}
	}
	// DROP DATABASE: its tables and its charset end.
	if d, err = tr.Apply("", "DROP DATABASE shop"); err != nil {
		t.Fatal(err)
	}
	if err := r.recordDDL(ctx, d, dmnode.Position{File: "mysql-bin.000003", Pos: 4}); err != nil {
		t.Fatal(err)
	}
	set, err = store.At(ctx, "s1", dmnode.Position{File: "mysql-bin.000003", Pos: 4})
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Tables) != 0 || len(set.Databases) != 1 || set.Databases[0].Name != "" {
		t.Errorf("after DROP DATABASE: %+v", set)
	}
}

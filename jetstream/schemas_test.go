package jetstream

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/schema"
	"github.com/dmnode/dmnode/tests/harness"
)

// The same contract runs against every SchemaStore implementation.
func TestSchemaStore(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		m := NewMemSchemas()
		testSchemaStore(t, func(t *testing.T) SchemaStore { return m })
	})
	t.Run("kv", func(t *testing.T) {
		dir := t.TempDir()
		srv, nc := harness.StartNATS(t, dir)
		store := openTestStore(t, nc)
		testSchemaStore(t, func(t *testing.T) SchemaStore {
			// A restart: the server and the connection go away and come
			// back on the same data.
			srv.Shutdown()
			srv.WaitForShutdown()
			srv, nc = harness.StartNATS(t, dir)
			store = openTestStore(t, nc)
			return store.Schemas()
		}, store.Schemas())
	})
}

func openTestStore(t *testing.T, nc *nats.Conn) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := Open(ctx, nc, 1)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustTable(t *testing.T, db, create string) *schema.Table {
	t.Helper()
	tbl, err := schema.ParseCreateTable(db, create)
	if err != nil {
		t.Fatal(err)
	}
	return tbl
}

func pos(file string, p uint32) dmnode.Position { return dmnode.Position{File: file, Pos: p} }

// testSchemaStore checks versions by position and lookups at any position;
// reopen returns the store after a restart (the same one for memory). With
// a store given, it is used before the restart.
func testSchemaStore(t *testing.T, reopen func(*testing.T) SchemaStore, first ...SchemaStore) {
	ctx := context.Background()
	var s SchemaStore
	if len(first) > 0 {
		s = first[0]
	} else {
		s = reopen(t)
	}
	v1 := mustTable(t, "db", "CREATE TABLE t (id int PRIMARY KEY, a int)")
	v2 := mustTable(t, "db", "CREATE TABLE t (id int PRIMARY KEY, b varchar(10), a int)")
	v3 := mustTable(t, "db", "CREATE TABLE t (id int PRIMARY KEY, b varchar(10))")
	other := mustTable(t, "db", "CREATE TABLE `t.x` (k bigint PRIMARY KEY)")
	start := pos("bin.000009", 4)
	must(t, s.PutDatabases(ctx, "src-1", []DatabaseVersion{
		{Pos: start, Name: "", Charset: "latin1", Flavor: "mariadb"},
		{Pos: start, Name: "db", Charset: "utf8mb4", Collation: "utf8mb4_general_ci"},
	}))
	must(t, s.PutTables(ctx, "src-1", []TableVersion{
		{Pos: start, Schema: "db", Name: "t", Table: v1, Origin: OriginSnapshot},
		{Pos: start, Schema: "db", Name: "t.x", Table: other, Origin: OriginSnapshot},
	}))
	// Versions across a file boundary: bin.000010 sorts after bin.000009.
	must(t, s.PutTables(ctx, "src-1", []TableVersion{{Pos: pos("bin.000009", 900), Schema: "db", Name: "t", Table: v2, Origin: OriginDDL}}))
	must(t, s.PutTables(ctx, "src-1", []TableVersion{{Pos: pos("bin.000010", 120), Schema: "db", Name: "t", Table: v3, Origin: OriginDDL}}))
	must(t, s.PutTables(ctx, "src-1", []TableVersion{{Pos: pos("bin.000010", 500), Schema: "db", Name: "t.x", Origin: OriginDDL}})) // dropped
	must(t, s.PutDatabases(ctx, "src-1", []DatabaseVersion{{Pos: pos("bin.000010", 700), Name: "db", Dropped: true}}))
	// Another source's history stays apart.
	must(t, s.PutTables(ctx, "src-2", []TableVersion{{Pos: start, Schema: "db", Name: "t", Table: v3, Origin: OriginSnapshot}}))

	check := func(t *testing.T, s SchemaStore) {
		t.Helper()
		cases := []struct {
			at   dmnode.Position
			want *schema.Table // nil: no version in force
		}{
			{pos("bin.000008", 999999), nil},
			{pos("bin.000009", 3), nil},
			{start, v1},
			{pos("bin.000009", 899), v1},
			{pos("bin.000009", 900), v2},
			{pos("bin.000010", 4), v2},
			{pos("bin.000010", 120), v3},
			{pos("bin.000123", 1), v3},
		}
		for _, c := range cases {
			v, ok, err := s.Table(ctx, "src-1", "db", "t", c.at)
			must(t, err)
			if (c.want == nil) != !ok || (ok && v.Table.CreateSQL != c.want.CreateSQL) {
				t.Errorf("Table at %s = %v %v, want %v", c.at, ok, v.Table, c.want)
			}
		}
		h, err := s.History(ctx, "src-1", "db", "t")
		must(t, err)
		if len(h) != 3 || h[0].Origin != OriginSnapshot || h[2].Pos != pos("bin.000010", 120) {
			t.Errorf("History = %+v", h)
		}
		set, err := s.At(ctx, "src-1", pos("bin.000010", 200))
		must(t, err)
		if len(set.Tables) != 2 || set.Tables[0].Name != "t" || set.Tables[1].Name != "t.x" {
			t.Errorf("At bin.000010:200 tables = %+v", set.Tables)
		}
		tr := set.Tracker()
		if got, ok := tr.Get("db", "t"); !ok || got.CreateSQL != v3.CreateSQL {
			t.Errorf("tracker at bin.000010:200 has db.t = %v", got)
		}
		if len(set.Databases) != 2 || set.Databases[0].Flavor != "mariadb" || set.Databases[1].Charset != "utf8mb4" {
			t.Errorf("At bin.000010:200 databases = %+v", set.Databases)
		}
		set, err = s.At(ctx, "src-1", pos("bin.000011", 4))
		must(t, err)
		if len(set.Tables) != 1 || len(set.Databases) != 1 {
			t.Errorf("At bin.000011:4 = %+v, want t.x and db gone", set)
		}
		if _, ok := set.Version("db", "t"); !ok {
			t.Errorf("Version(db, t) not found")
		}
		for _, c := range []struct {
			at   dmnode.Position
			want bool
		}{{pos("bin.000009", 3), false}, {start, true}} {
			got, err := s.HasAny(ctx, "src-1", c.at)
			must(t, err)
			if got != c.want {
				t.Errorf("HasAny at %s = %v", c.at, got)
			}
		}
	}
	check(t, s)
	s = reopen(t)
	check(t, s)
	must(t, s.DeleteSource(ctx, "src-1"))
	if ok, err := s.HasAny(ctx, "src-1", pos("bin.999999", 4)); err != nil || ok {
		t.Errorf("after DeleteSource: HasAny = %v, %v", ok, err)
	}
	if v, ok, err := s.Table(ctx, "src-2", "db", "t", start); err != nil || !ok || v.Table.CreateSQL != v3.CreateSQL {
		t.Errorf("src-2 after deleting src-1: %v %v %v", v, ok, err)
	}
	// A source with no history: empty answers, not errors (nor a wait).
	if set, err := s.At(ctx, "none", start); err != nil || len(set.Tables) != 0 || len(set.Databases) != 0 {
		t.Errorf("At of an unknown source: %+v, %v", set, err)
	}
	if h, err := s.History(ctx, "none", "db", "t"); err != nil || len(h) != 0 {
		t.Errorf("History of an unknown source: %+v, %v", h, err)
	}
	if _, ok, err := s.Table(ctx, "none", "db", "t", start); err != nil || ok {
		t.Errorf("Table of an unknown source: %v, %v", ok, err)
	}
}

// Many tables: the starting versions of a large estate are written and
// read back in one pass.
func TestSchemaStoreManyTables(t *testing.T) {
	n := 3000
	_, nc := harness.StartNATS(t, "")
	s := openTestStore(t, nc).Schemas()
	ctx := context.Background()
	start := pos("bin.000001", 4)
	vs := make([]TableVersion, n)
	for i := range vs {
		name := fmt.Sprintf("t%05d", i)
		vs[i] = TableVersion{Pos: start, Schema: "shard", Name: name, Origin: OriginSnapshot,
			Table: mustTable(t, "shard", "CREATE TABLE "+name+" (id bigint PRIMARY KEY, c varchar(64), d datetime)")}
	}
	began := time.Now()
	must(t, s.PutTables(ctx, "big", vs))
	must(t, s.PutTables(ctx, "big", []TableVersion{{Pos: pos("bin.000002", 4), Schema: "shard", Name: "t00007", Origin: OriginDDL}}))
	wrote := time.Since(began)
	set, err := s.At(ctx, "big", pos("bin.000002", 4))
	must(t, err)
	if len(set.Tables) != n-1 {
		t.Fatalf("At: %d tables, want %d", len(set.Tables), n-1)
	}
	set, err = s.At(ctx, "big", start)
	must(t, err)
	if len(set.Tables) != n {
		t.Fatalf("At start: %d tables, want %d", len(set.Tables), n)
	}
	t.Logf("%d tables: written in %s, read in %s", n, wrote, time.Since(began)-wrote)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

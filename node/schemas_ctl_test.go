package node

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/DATA-DOG/go-sqlmock"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/catalog"
	"github.com/dmnode/dmnode/core/config"
	"github.com/dmnode/dmnode/core/schema"
	"github.com/dmnode/dmnode/jetstream"
	"github.com/dmnode/dmnode/jetstream/memstore"
)

// binlog-schema list, show and update on the control layer, with the
// schema history and the tailer's checkpoint in the in-memory store.

var (
	schemaStart = dmnode.Position{File: "bin.000001", Pos: 4}
	tailAt      = dmnode.Position{File: "bin.000002", Pos: 400}
	alterAt     = dmnode.Position{File: "bin.000003", Pos: 100}
)

func mustTable(t *testing.T, db, create string) *schema.Table {
	t.Helper()
	tbl, err := schema.ParseCreateTable(db, create)
	if err != nil {
		t.Fatal(err)
	}
	return tbl
}

// withHistory gives the seeded control layer a store whose history of
// source s1 holds db.a (a column added at alterAt), db.b and other.c, and
// whose tailer of s1 resumes at tailAt; s2's tailer never ran.
func withHistory(t *testing.T) (*testControl, *memstore.Store) {
	t.Helper()
	tc := seeded(t)
	st := memstore.New()
	tc.store = st
	ctx := t.Context()
	vs := []jetstream.TableVersion{
		{Pos: schemaStart, Schema: "db", Name: "a", Origin: jetstream.OriginSnapshot, Table: mustTable(t, "db", "CREATE TABLE a (id INT PRIMARY KEY, v TEXT)")},
		{Pos: alterAt, Schema: "db", Name: "a", Origin: jetstream.OriginDDL, Table: mustTable(t, "db", "CREATE TABLE a (id INT PRIMARY KEY, v TEXT, w INT)")},
		{Pos: schemaStart, Schema: "db", Name: "b", Origin: jetstream.OriginSnapshot, Table: mustTable(t, "db", "CREATE TABLE b (k INT PRIMARY KEY)")},
		{Pos: schemaStart, Schema: "other", Name: "c", Origin: jetstream.OriginSnapshot, Table: mustTable(t, "other", "CREATE TABLE c (k INT PRIMARY KEY)")},
	}
	if err := st.Schemas().PutTables(ctx, "s1", vs); err != nil {
		t.Fatal(err)
	}
	cp := `{"pos":{"file":"bin.000002","pos":400},"flavor":"mysql","epoch":3}`
	if err := st.Put(ctx, jetstream.TailKey("s1"), json.RawMessage(cp)); err != nil {
		t.Fatal(err)
	}
	return tc, st
}

func names(vs []SchemaVersion) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.Schema+"."+v.Table+"@"+v.Pos.String())
	}
	return out
}

// list answers at the tailer's position unless a position is given, with
// the version in force there of every table, and filters by database.
func TestBinlogSchemaList(t *testing.T) {
	tc, _ := withHistory(t)
	ctx := t.Context()
	resp, err := tc.apiBinlogSchemaList(ctx, &Request{Schema: &SchemaRequest{Name: "s1"}})
	if err != nil {
		t.Fatal(err)
	}
	if a := resp.Schemas; a.Source != "s1" || a.Pos != tailAt || len(a.Versions) != 3 {
		t.Fatalf("at the tailer: %+v", a)
	}
	if a := resp.Schemas.Versions[0]; a.Table != "a" || strings.Join(a.Columns, ",") != "id,v" || a.CreateSQL != "" {
		t.Errorf("db.a at the tailer: %+v, want its first version, without its CREATE TABLE", a)
	}
	resp, err = tc.apiBinlogSchemaList(ctx, &Request{Schema: &SchemaRequest{Name: "t", Source: "s1", Schema: "db", Pos: "bin.000004:4"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(resp.Schemas.Versions); !slices.Equal(got, []string{"db.a@bin.000003:100", "db.b@bin.000001:4"}) {
		t.Errorf("db at bin.000004:4: %v", got)
	}
	_, err = tc.apiBinlogSchemaList(ctx, &Request{Schema: &SchemaRequest{Name: "s2"}})
	wantErr(t, "a source whose tailer never ran", err, "source s2 has no tailer checkpoint yet: give --pos")
}

// show gives a table's whole history with its CREATE TABLE, marking the
// version in force at the position; a table with no history is named.
func TestBinlogSchemaShow(t *testing.T) {
	tc, _ := withHistory(t)
	ctx := t.Context()
	for _, c := range []struct {
		pos     string
		inForce int
	}{{"", 0}, {"bin.000003:100", 1}, {"bin.000000:4", -1}} {
		resp, err := tc.apiBinlogSchemaShow(ctx, &Request{Schema: &SchemaRequest{Name: "s1", Schema: "db", Table: "a", Pos: c.pos}})
		if err != nil {
			t.Fatal(err)
		}
		vs := resp.Schemas.Versions
		if len(vs) != 2 || vs[0].Origin != jetstream.OriginSnapshot || vs[1].Origin != jetstream.OriginDDL || vs[1].CreateSQL == "" {
			t.Fatalf("history of db.a: %+v", vs)
		}
		for i, v := range vs {
			if v.InForce != (i == c.inForce) {
				t.Errorf("at %q: version %d in force %v, want version %d", c.pos, i, v.InForce, c.inForce)
			}
		}
	}
	_, err := tc.apiBinlogSchemaShow(ctx, &Request{Schema: &SchemaRequest{Name: "s1", Schema: "db", Table: "zz"}})
	wantErr(t, "a table without history", err, "source s1 has no schema history of db.zz")
	_, err = tc.apiBinlogSchemaShow(ctx, &Request{Schema: &SchemaRequest{Name: "s1", Schema: "db"}})
	wantErr(t, "no table named", err, "name the table: DATABASE TABLE")
}

// update writes the operator's version at the tailer's position, named as
// the table asked about, and restarts the tailer by a new assignment of
// its actor; a tailer that is placed nowhere is left alone, and a restart
// the cluster refuses is an error after the version was written.
func TestBinlogSchemaUpdate(t *testing.T) {
	tc, st := withHistory(t)
	ctx := t.Context()
	tail := catalog.ActorSpec{Kind: catalog.KindTail, Source: "s1"}.ID()
	req := &Request{Schema: &SchemaRequest{Name: "t", Source: "s1", Schema: "db", Table: "a",
		CreateSQL: "CREATE TABLE renamed (id INT PRIMARY KEY, v TEXT, x DATE)"}}

	resp, err := tc.apiBinlogSchemaUpdate(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Report) != 1 || !strings.Contains(resp.Report[0], "schema of db.a on source s1 set from bin.000002:400 on: (id, v, x)") {
		t.Errorf("report %q", resp.Report)
	}
	if slices.Contains(tc.cmd.ops(), catalog.OpAssign) {
		t.Error("a tailer placed nowhere was reassigned")
	}
	v, ok, err := st.Schemas().Table(ctx, "s1", "db", "a", tailAt)
	if err != nil || !ok || v.Origin != jetstream.OriginOperator || v.Pos != tailAt || v.Table.Name != "a" ||
		strings.Join(v.Table.ColumnNames(), ",") != "id,v,x" {
		t.Fatalf("version in force at the tailer: %+v (%v), %v", v, ok, err)
	}

	tc.exec(catalog.Command{Op: catalog.OpAssign, Assign: map[string]string{tail: "n1"}})
	epoch := tc.fsm.State().Assign[tail].Epoch
	resp, err = tc.apiBinlogSchemaUpdate(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if a := tc.fsm.State().Assign[tail]; a.Node != "n1" || a.Epoch <= epoch {
		t.Errorf("tailer's assignment %+v, want a new epoch on n1 (was %d)", a, epoch)
	}
	if len(resp.Report) != 2 || resp.Report[1] != "the tailer of source s1 restarts with it" {
		t.Errorf("report %q", resp.Report)
	}

	tc.cmd.fail = errTest
	resp, err = tc.apiBinlogSchemaUpdate(ctx, req)
	wantErr(t, "a restart refused", err, "restart the tailer of source s1: test failure")
	if resp == nil || len(resp.Report) != 1 {
		t.Errorf("after a refused restart the report says what was written: %+v", resp)
	}
	tc.cmd.fail = nil

	_, err = tc.apiBinlogSchemaUpdate(ctx, &Request{Schema: &SchemaRequest{Name: "s1", Table: "a", CreateSQL: "CREATE TABLE a (id INT)"}})
	wantErr(t, "no database named", err, "name the table: DATABASE TABLE")
	_, err = tc.apiBinlogSchemaUpdate(ctx, &Request{Schema: &SchemaRequest{Name: "s1", Schema: "db", Table: "a", CreateSQL: "CREATE TABLE a ("}})
	wantErr(t, "a bad statement", err, "the schema file:")
}

// --from-source reads the table's CREATE TABLE from the source as it is
// now; a source that cannot be opened is named with the cause.
func TestBinlogSchemaFromSource(t *testing.T) {
	tc, _ := withHistory(t)
	ctx := t.Context()
	db, mock, err := sqlmock.New()
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mock.ExpectQuery("SHOW CREATE TABLE `db`.`a`").WillReturnRows(sqlmock.NewRows([]string{"Table", "Create Table"}).
		AddRow("a", "CREATE TABLE `a` (\n  `id` int NOT NULL,\n  `z` int DEFAULT NULL,\n  PRIMARY KEY (`id`)\n)"))
	var port int
	tc.openDB = func(_ context.Context, c config.DBConfig, _ int) (*sql.DB, error) {
		port = c.Port
		return db, nil
	}
	resp, err := tc.apiBinlogSchemaUpdate(ctx, &Request{Schema: &SchemaRequest{Name: "s1", Schema: "db", Table: "a", From: "source", Pos: "bin.000005:4"}})
	if err != nil {
		t.Fatal(err)
	}
	if v := resp.Schemas.Versions; len(v) != 1 || strings.Join(v[0].Columns, ",") != "id,z" || v[0].Pos != (dmnode.Position{File: "bin.000005", Pos: 4}) {
		t.Errorf("versions %+v", v)
	}
	if port != 1 {
		t.Errorf("opened port %d, want s1's", port)
	}
	tc.openDB = func(context.Context, config.DBConfig, int) (*sql.DB, error) {
		return nil, errors.New("connection refused")
	}
	_, err = tc.apiBinlogSchemaUpdate(ctx, &Request{Schema: &SchemaRequest{Name: "s1", Schema: "db", Table: "a", From: "source"}})
	wantErr(t, "an unreachable source", err, "source s1: connection refused")
}

// The schemas at an incremental task's start, for task check: a lookup
// when the history reaches back there, none otherwise.
func TestStartSchema(t *testing.T) {
	tc, _ := withHistory(t)
	ctx := t.Context()
	at := tc.startSchema(ctx, "s1", alterAt)
	if at == nil {
		t.Fatal("no lookup where the history reaches")
	}
	if a := at("db", "a"); a == nil || len(a.Columns) != 3 {
		t.Errorf("db.a at %s: %+v", alterAt, a)
	}
	if at("db", "zz") != nil {
		t.Error("a table never seen")
	}
	if tc.startSchema(ctx, "s1", dmnode.Position{File: "bin.000000", Pos: 4}) != nil {
		t.Error("a lookup before the history")
	}
	if tc.startSchema(ctx, "s2", alterAt) != nil {
		t.Error("a lookup for a source without history")
	}
}

package node

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/jetstream"
)

func TestParsePosition(t *testing.T) {
	for _, c := range []struct {
		in   string
		want dmnode.Position
		ok   bool
	}{
		{"mysql-bin.000003:4", dmnode.Position{File: "mysql-bin.000003", Pos: 4}, true},
		{" binlog.000010:123456 ", dmnode.Position{File: "binlog.000010", Pos: 123456}, true},
		{"mysql-bin.000003", dmnode.Position{}, false},
		{":4", dmnode.Position{}, false},
		{"mysql-bin.000003:-1", dmnode.Position{}, false},
		{"mysql-bin.000003:99999999999", dmnode.Position{}, false},
	} {
		got, err := ParsePosition(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("ParsePosition(%q) = %v, %v", c.in, got, err)
		}
	}
}

// A binlog-schema request names a task or a source; a task of several
// sources needs --source; each refusal says what to give.
func TestSchemaTarget(t *testing.T) {
	tc := seeded(t)
	ctx := context.Background()
	for _, c := range []struct {
		req  *SchemaRequest
		want string
	}{
		{nil, "name a task or a source"},
		{&SchemaRequest{Name: "nope"}, `"nope" is neither a task nor a source`},
		{&SchemaRequest{Name: "t"}, "task t has sources s1, s2: say which with --source"},
		{&SchemaRequest{Name: "t", Source: "s3"}, "task t has no source s3 (it has s1, s2)"},
		{&SchemaRequest{Name: "s1", Pos: "bin.000001"}, "want binlog-file:offset"},
	} {
		_, _, _, err := tc.schemaTarget(ctx, c.req)
		wantErr(t, fmt.Sprintf("%+v", c.req), err, c.want)
	}
	src, task, pos, err := tc.schemaTarget(ctx, &SchemaRequest{Name: "t", Source: "s2", Pos: "bin.000003:120"})
	if err != nil || src != "s2" || task != "t" || pos != (dmnode.Position{File: "bin.000003", Pos: 120}) {
		t.Errorf("task t, source s2: %s %s %v %v", src, task, pos, err)
	}
	src, task, _, err = tc.schemaTarget(ctx, &SchemaRequest{Name: "s3", Pos: "bin.000003:4"})
	if err != nil || src != "s3" || task != "" {
		t.Errorf("source s3: %s %q %v", src, task, err)
	}
	tc.storeReady.Store(false)
	_, _, _, err = tc.schemaTarget(ctx, &SchemaRequest{Name: "s1"})
	wantErr(t, "before jetstream", err, "JetStream store is not open yet")
	if tc.startSchema(ctx, "s1", dmnode.Position{}) != nil {
		t.Error("a start schema without jetstream")
	}

	// binlog-schema update from a CREATE TABLE statement.
	tbl, err := tc.schemaFrom(ctx, &SchemaRequest{Schema: "db", CreateSQL: "CREATE TABLE a (id INT PRIMARY KEY, v TEXT)"}, "s1", "")
	if err != nil || tbl.Name != "a" || strings.Join(tbl.ColumnNames(), ",") != "id,v" {
		t.Errorf("from SQL: %+v, %v", tbl, err)
	}
	for _, c := range []struct {
		r    *SchemaRequest
		task string
		want string
	}{
		{&SchemaRequest{Schema: "db"}, "", "give the table's CREATE TABLE"},
		{&SchemaRequest{Schema: "db", CreateSQL: "CREATE TABLE ("}, "", "the schema file"},
		{&SchemaRequest{Schema: "db", From: "target"}, "", "--from-target needs a task name"},
		{&SchemaRequest{Schema: "db", From: "cache"}, "", `unknown schema origin "cache"`},
	} {
		_, err := tc.schemaFrom(ctx, c.r, "s1", c.task)
		wantErr(t, fmt.Sprintf("%+v", c.r), err, c.want)
	}
	v := versionOf("s1", jetstream.TableVersion{Schema: "db", Name: "a", Pos: dmnode.Position{File: "b", Pos: 4}, Table: tbl, Origin: jetstream.OriginOperator}, true)
	if v.Dropped || strings.Join(v.Columns, ",") != "id,v" || v.CreateSQL == "" {
		t.Errorf("version %+v", v)
	}
	if v := versionOf("s1", jetstream.TableVersion{Schema: "db", Name: "a"}, false); !v.Dropped || v.Columns != nil {
		t.Errorf("a dropped table's version %+v", v)
	}
}

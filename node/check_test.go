package node

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/DATA-DOG/go-sqlmock"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/config"
	"github.com/dmnode/dmnode/jetstream/memstore"
)

// task check against stand-in servers (go-sqlmock): what it reports of
// each table's plan, and the start of an incremental task.

const checkTaskYAML = `name: c
task-mode: incremental
target-database: {host: 127.0.0.1, port: 2, user: root, password: ""}
mysql-instances:
  - source-id: s1
    block-allow-list: ba
    route-rules: [rb]
    meta: {binlog-name: bin.000007, binlog-pos: 0}
block-allow-list:
  ba:
    do-dbs: ["db"]
routes:
  rb:
    schema-pattern: db
    table-pattern: b
    target-schema: db2
    target-table: bb
`

// sourceWith is a stand-in source (MariaDB) holding db.a, db.b, db.t00…
// db.t<n-1> and other.c, whose schemas task check reads on several
// connections at once.
func sourceWith(t *testing.T, n int) (*sql.DB, sqlmock.Sqlmock) {
	t.Helper()
	db, mock, err := sqlmock.New(sqlmock.QueryMatcherOption(sqlmock.QueryMatcherEqual))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	mock.MatchExpectationsInOrder(false)
	mock.ExpectQuery("SELECT VERSION()").WillReturnRows(sqlmock.NewRows([]string{"v"}).AddRow("10.11.6-MariaDB"))
	mock.ExpectQuery("SELECT @@character_set_server, @@collation_server").WillReturnRows(
		sqlmock.NewRows([]string{"cs", "coll"}).AddRow("utf8mb4", "utf8mb4_general_ci"))
	mock.ExpectQuery("SELECT SCHEMA_NAME, DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA").WillReturnRows(
		sqlmock.NewRows([]string{"SCHEMA_NAME", "cs", "coll"}).AddRow("db", "utf8mb4", "utf8mb4_general_ci"))
	ids := [][2]string{{"db", "a"}, {"db", "b"}}
	for i := range n {
		ids = append(ids, [2]string{"db", fmt.Sprintf("t%02d", i)})
	}
	ids = append(ids, [2]string{"other", "c"})
	list := sqlmock.NewRows([]string{"TABLE_SCHEMA", "TABLE_NAME"})
	for _, id := range ids {
		list.AddRow(id[0], id[1])
		mock.ExpectQuery("SHOW CREATE TABLE `" + id[0] + "`.`" + id[1] + "`").WillReturnRows(sqlmock.NewRows([]string{"Table", "Create Table"}).
			AddRow(id[1], "CREATE TABLE `"+id[1]+"` (\n  `id` int NOT NULL,\n  PRIMARY KEY (`id`)\n)"))
	}
	mock.ExpectQuery("SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES\n\t\tWHERE TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_SCHEMA, TABLE_NAME").WillReturnRows(list)
	return db, mock
}

// The report names every routed table with its target and the first
// tables copied to the same name, then counts the rest; a task whose rules
// match no table says so. A target that cannot be opened fails the check,
// naming the file and the cause, with the report of what was found; and
// nothing is submitted.
func TestTaskCheckReport(t *testing.T) {
	tc := seeded(t)
	tc.store = memstore.New()
	ctx := t.Context()
	var opened []int
	tc.openDB = func(_ context.Context, c config.DBConfig, _ int) (*sql.DB, error) {
		opened = append(opened, c.Port)
		db, _ := sourceWith(t, 52)
		return db, nil
	}
	tc.openTarget = func(_ context.Context, c config.DBConfig, _ int) (*sql.DB, error) {
		opened = append(opened, c.Port)
		return nil, errors.New("connection refused")
	}
	before := len(tc.cmd.ops())
	for _, h := range []handler{tc.apiTaskCheck, tc.apiTaskSubmit} {
		opened = nil
		resp, err := h(ctx, &Request{Files: []File{{Name: "c.yaml", Data: checkTaskYAML}}})
		wantErr(t, "an unreachable target", err, "c.yaml: target-database: connection refused")
		if !slices.Equal(opened, []int{1, 2}) {
			t.Errorf("opened ports %v, want the source's then the target's", opened)
		}
		if resp == nil {
			t.Fatal("no report")
		}
		r := resp.Report
		if len(r) != 51 || r[0] != "s1: db.a → db.a" || r[1] != "s1: db.b → db2.bb" || r[49] != "s1: db.t47 → db.t47" ||
			r[50] != "s1: and 4 more tables, each to the same name" {
			t.Errorf("report of %d lines: %q … %q", len(r), r[:min(3, len(r))], r[max(0, len(r)-2):])
		}
	}
	if len(tc.cmd.ops()) != before {
		t.Errorf("proposed %v after a failed check", tc.cmd.ops()[before:])
	}

	none := strings.Replace(checkTaskYAML, `do-dbs: ["db"]`, `do-dbs: ["nope"]`, 1)
	resp, _ := tc.apiTaskCheck(ctx, &Request{Files: []File{{Name: "c.yaml", Data: none}}})
	if resp == nil || !slices.Equal(resp.Report, []string{"s1: no table matches the task's rules"}) {
		t.Errorf("rules matching nothing: %+v", resp)
	}

	_, err := tc.apiTaskCheck(ctx, &Request{})
	wantErr(t, "no file", err, "give exactly one task file")
	_, err = tc.apiTaskSubmit(ctx, &Request{Files: []File{{Name: "a.yaml"}, {Name: "b.yaml"}}})
	wantErr(t, "two files", err, "give exactly one task file")
	resp, err = tc.apiTaskCheck(ctx, &Request{Files: []File{{Name: "bad.yaml", Data: "name: [\n"}}})
	wantErr(t, "a file that does not decode", err, "bad.yaml")
	if resp != nil {
		t.Errorf("a report of an undecodable file: %+v", resp)
	}
}

// A task whose prechecks pass (here: all ignored) passes the check, and
// each source of an incremental task starts at its meta position,
// replaying idempotently up to where the source is now.
func TestTaskCheckPasses(t *testing.T) {
	tc := seeded(t)
	tc.store = memstore.New()
	standIns := func() {
		src, mock := sourceWith(t, 0)
		// incrementalStart asks the source's flavor again and where it is.
		expectVersion(mock, "10.11.6-MariaDB")
		expectPosition(mock, dmnode.Position{File: "bin.000009", Pos: 4}, "@@GLOBAL.gtid_binlog_pos")
		tgt, _ := newMock(t)
		tc.openDB = func(context.Context, config.DBConfig, int) (*sql.DB, error) { return src, nil }
		tc.openTarget = func(context.Context, config.DBConfig, int) (*sql.DB, error) { return tgt, nil }
	}
	yaml := checkTaskYAML + "ignore-checking-items: [\"all\"]\n"
	standIns()
	ct, err := tc.checkTask(t.Context(), File{Name: "c.yaml", Data: yaml})
	if err != nil {
		t.Fatal(err)
	}
	want := dmnode.Position{File: "bin.000007", Pos: 4}
	if ts := ct.sources["s1"]; ts == nil || ts.Start != want || ts.SafeUntil != (dmnode.Position{File: "bin.000009", Pos: 4}) {
		t.Errorf("s1 starts %+v, want at %s", ts, want)
	}
	standIns()
	resp, err := tc.apiTaskCheck(t.Context(), &Request{Files: []File{{Name: "c.yaml", Data: yaml}}})
	if err != nil {
		t.Fatal(err)
	}
	if r := resp.Report; len(r) != 3 || r[2] != "task c: check passed" || len(resp.Findings) != 0 {
		t.Errorf("report %q, findings %+v", r, resp.Findings)
	}
}

// A source's schemas that cannot be read fail the check naming the file,
// the source and the cause.
func TestTaskCheckSourceSchemas(t *testing.T) {
	tc := seeded(t)
	tc.store = memstore.New()
	db, mock, err := sqlmock.New()
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mock.ExpectQuery("SELECT VERSION").WillReturnRows(sqlmock.NewRows([]string{"v"}).AddRow("8.0.36"))
	mock.ExpectQuery("SELECT @@character_set_server").WillReturnError(errors.New("Access denied"))
	tc.openDB = func(context.Context, config.DBConfig, int) (*sql.DB, error) { return db, nil }
	tc.openTarget = func(context.Context, config.DBConfig, int) (*sql.DB, error) { return nil, errors.New("refused") }
	_, err = tc.apiTaskCheck(t.Context(), &Request{Files: []File{{Name: "c.yaml", Data: checkTaskYAML}}})
	wantErr(t, "schemas not readable", err, "c.yaml: source s1: read server character set: Access denied")
}

// An incremental task starts at its meta position (offset at least 4)
// and replays idempotently up to where the source is now; without meta
// it starts now. A GTID set alone is refused, saying what to give.
func TestIncrementalStart(t *testing.T) {
	ctx := t.Context()
	now := dmnode.Position{File: "bin.000009", Pos: 777}
	src := &config.Source{Flavor: "mysql"}
	for _, c := range []struct {
		name        string
		meta        *config.Meta
		start, safe dmnode.Position
		err         string
	}{
		{"no meta", nil, now, now, ""},
		{"empty meta", &config.Meta{}, now, now, ""},
		{"file and offset", &config.Meta{BinlogName: "bin.000002", BinlogPos: 120}, dmnode.Position{File: "bin.000002", Pos: 120}, now, ""},
		{"offset below 4", &config.Meta{BinlogName: "bin.000002"}, dmnode.Position{File: "bin.000002", Pos: 4}, now, ""},
		{"gtid alone", &config.Meta{BinlogGTID: "3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5"}, dmnode.Position{}, dmnode.Position{}, "binlog-gtid without meta.binlog-name"},
	} {
		t.Run(c.name, func(t *testing.T) {
			db, mock, err := sqlmock.New()
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			mock.ExpectQuery("SHOW MASTER STATUS").WillReturnRows(sqlmock.NewRows([]string{"File", "Position"}).AddRow(now.File, fmt.Sprint(now.Pos)))
			mock.ExpectQuery("SELECT @@GLOBAL.gtid_executed").WillReturnRows(sqlmock.NewRows([]string{"g"}).AddRow(""))
			start, safe, err := incrementalStart(ctx, db, src, &config.Instance{Meta: c.meta})
			if c.err != "" {
				wantErr(t, c.name, err, c.err)
				return
			}
			if err != nil || start != c.start || safe != c.safe {
				t.Errorf("start %v, safe until %v, %v; want %v, %v", start, safe, err, c.start, c.safe)
			}
		})
	}
	db, mock, err := sqlmock.New()
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mock.ExpectQuery("SHOW MASTER STATUS").WillReturnRows(sqlmock.NewRows([]string{"File", "Position"}))
	_, _, err = incrementalStart(ctx, db, src, &config.Instance{})
	wantErr(t, "binary logging off", err, "binary logging is off")
}

// Source add reads the source's binlog settings before it adds it: one
// that cannot be replicated is refused with every reason, naming file and
// source; one that can is added (its password sealed) and reported with
// its address.
func TestSourceAddChecksBinlog(t *testing.T) {
	tc := seeded(t)
	ctx := t.Context()
	vars := func(logBin, format, image string) *sql.DB {
		db, mock := newMock(t)
		mock.ExpectQuery("SHOW GLOBAL VARIABLES WHERE Variable_name IN\n\t\t('version', 'log_bin', 'binlog_format', 'binlog_row_image', 'server_id')").
			WillReturnRows(sqlmock.NewRows([]string{"Variable_name", "Value"}).AddRow("version", "10.11.6-MariaDB").
				AddRow("log_bin", logBin).AddRow("binlog_format", format).AddRow("binlog_row_image", image).AddRow("server_id", "1"))
		return db
	}
	file := File{Name: "s4.yaml", Data: strings.Replace(ctlSourceYAML, "SRC", "s4", 1)}

	src := vars("ON", "MIXED", "MINIMAL")
	tc.openDB = func(context.Context, config.DBConfig, int) (*sql.DB, error) { return src, nil }
	before := len(tc.cmd.ops())
	_, err := tc.apiSourceAdd(ctx, &Request{Files: []File{file}})
	wantErr(t, "mixed format", err, "s4.yaml: source s4: binlog_format: binlog_format is MIXED")
	wantErr(t, "mixed format", err, "fix: run SET GLOBAL binlog_format = 'ROW'")
	wantErr(t, "minimal row image", err, "binlog_row_image: binlog_row_image is MINIMAL")
	if len(tc.cmd.ops()) != before {
		t.Errorf("proposed %v", tc.cmd.ops()[before:])
	}

	src = vars("ON", "ROW", "FULL")
	resp, err := tc.apiSourceAdd(ctx, &Request{Files: []File{file}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(resp.Report, []string{"source s4 added (127.0.0.1:1)"}) {
		t.Errorf("report %q", resp.Report)
	}
	if s, ok := tc.fsm.State().Sources["s4"]; !ok || s.File != "s4.yaml" {
		t.Errorf("source s4 in the catalog: %+v", s)
	}
}

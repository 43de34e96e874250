package actors

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/DATA-DOG/go-sqlmock"
	"github.com/go-sql-driver/mysql"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/catalog"
	"github.com/dmnode/dmnode/core/config"
	"github.com/dmnode/dmnode/core/schema"
	"github.com/dmnode/dmnode/core/tidb"
	"github.com/dmnode/dmnode/jetstream"
	"github.com/dmnode/dmnode/jetstream/memstore"
)

// The tailer's schema history, the purge of a task, and the target's
// dialect, against stand-in servers (go-sqlmock) and the in-memory stores.

// standIns makes tailOpenDB and purgeOpenTarget open the stand-ins of the
// server on each port, for the test: one per open (the opener closes
// it), the last one again once the others are used.
func standIns(t *testing.T, byPort map[int][]*sql.DB) {
	t.Helper()
	var mu sync.Mutex
	open := func(_ context.Context, c config.DBConfig, _ int) (*sql.DB, error) {
		mu.Lock()
		defer mu.Unlock()
		dbs := byPort[c.Port]
		if len(dbs) == 0 {
			return nil, fmt.Errorf("no server on port %d", c.Port)
		}
		if len(dbs) > 1 {
			byPort[c.Port] = dbs[1:]
		}
		return dbs[0], nil
	}
	oldTail, oldPurge := tailOpenDB, purgeOpenTarget
	tailOpenDB, purgeOpenTarget = open, open
	t.Cleanup(func() { tailOpenDB, purgeOpenTarget = oldTail, oldPurge })
}

// expectSchemas answers LoadSchemas: the character sets and the CREATE
// TABLE of db.t and db.u as creates has them.
func expectSchemas(mock sqlmock.Sqlmock, creates map[string]string) {
	mock.ExpectQuery(q("SELECT @@character_set_server, @@collation_server")).WillReturnRows(
		sqlmock.NewRows([]string{"cs", "coll"}).AddRow("latin1", "latin1_swedish_ci"))
	mock.ExpectQuery(q("FROM information_schema.SCHEMATA")).WillReturnRows(
		sqlmock.NewRows([]string{"SCHEMA_NAME", "cs", "coll"}).AddRow("db", "utf8mb4", "utf8mb4_general_ci"))
	mock.ExpectQuery(q("SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES")).WillReturnRows(
		sqlmock.NewRows([]string{"TABLE_SCHEMA", "TABLE_NAME"}).AddRow("db", "t").AddRow("db", "u"))
	for _, name := range []string{"t", "u"} {
		mock.ExpectQuery(q("SHOW CREATE TABLE `db`.`" + name + "`")).WillReturnRows(
			sqlmock.NewRows([]string{"Table", "Create Table"}).AddRow(name, creates[name]))
	}
}

func expectMaster(mock sqlmock.Sqlmock, file string, pos int) {
	mock.ExpectQuery(q("SHOW MASTER STATUS")).WillReturnRows(
		sqlmock.NewRows([]string{"File", "Position"}).AddRow(file, fmt.Sprint(pos)))
	mock.ExpectQuery(q("SELECT @@GLOBAL.gtid_executed")).WillReturnError(errors.New("no GTIDs here"))
}

func versionAt(t *testing.T, st *memstore.Store, pos dmnode.Position, name string) jetstream.TableVersion {
	t.Helper()
	set, err := st.Schemas().At(t.Context(), "s", pos)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range set.Tables {
		if v.Schema == "db" && v.Name == name {
			return v
		}
	}
	t.Fatalf("no version of db.%s at %s", name, pos)
	return jetstream.TableVersion{}
}

// A tailer that starts where the source is now takes the source's schemas
// as they are, as certain.
func TestTailerInitCheckpointNow(t *testing.T) {
	ctx := t.Context()
	st := memstore.New()
	src, mock := newSourceMock(t)
	standIns(t, map[int][]*sql.DB{3306: {src}})
	expectMaster(mock, "mysql-bin.000005", 500)
	expectSchemas(mock, dumpCreates)
	env := taskEnvAt(st, 4, catalog.StageSync, new([]catalog.Command))
	tl := &Tailer{env: env, source: "s"}
	cfg, err := loadSource(env.Catalog(), "s")
	if err != nil {
		t.Fatal(err)
	}
	cp, rev, err := tl.initCheckpoint(ctx, cfg, dmnode.Position{})
	if err != nil {
		t.Fatal(err)
	}
	if err := mock.ExpectationsWereMet(); err != nil {
		t.Fatal(err)
	}
	now := dmnode.Position{File: "mysql-bin.000005", Pos: 500}
	if cp.Pos != now || cp.Flavor != "mysql" || cp.Epoch != 4 || rev == 0 {
		t.Fatalf("checkpoint %+v rev %d", cp, rev)
	}
	if p, err := TailPosition(ctx, st, "s"); err != nil || p != now {
		t.Errorf("TailPosition %v, %v", p, err)
	}
	if v := versionAt(t, st, now, "t"); v.Origin != jetstream.OriginSource || v.Guess() || len(v.Table.Columns) != 2 {
		t.Errorf("db.t version %+v", v)
	}
	tr, guessed, err := tl.loadTracker(ctx, st.Schemas(), &cp)
	if err != nil {
		t.Fatal(err)
	}
	if len(guessed) != 0 || len(tr.Tables()) != 2 || tr.Flavor() != "mysql" {
		t.Errorf("tracker: %d tables, flavor %q, guessed %v", len(tr.Tables()), tr.Flavor(), guessed)
	}
	if cs, _, _ := tr.DatabaseCharset("db"); cs != "utf8mb4" {
		t.Errorf("db's charset %q", cs)
	}
}

const incTaskYAML = `name: inc
task-mode: incremental
target-database: {host: 127.0.0.1, port: 4000, user: root, password: ""}
mysql-instances:
  - source-id: s
    block-allow-list: only
block-allow-list:
  only:
    do-dbs: [db]
`

// A tailer that starts in the past guesses the schemas there: the
// target's table, loaded at that position, where its columns differ from
// the source's now; the source's now for the rest. Both are guesses.
func TestTailerInitCheckpointPast(t *testing.T) {
	ctx := t.Context()
	st := memstore.New()
	src, smock := newSourceMock(t)
	tgt, tmock := newSourceMock(t)
	standIns(t, map[int][]*sql.DB{3306: {src}, 4000: {tgt}})
	from := dmnode.Position{File: "mysql-bin.000002", Pos: 4}
	expectMaster(smock, "mysql-bin.000005", 500)
	// The source's db.t has a column w added since from.
	now := map[string]string{
		"t": "CREATE TABLE `t` (\n  `id` int NOT NULL,\n  `v` varchar(20) DEFAULT NULL,\n  `w` int DEFAULT NULL,\n  PRIMARY KEY (`id`)\n)",
		"u": dumpCreates["u"],
	}
	expectSchemas(smock, now)
	tmock.MatchExpectationsInOrder(false)
	tmock.ExpectQuery(q("SHOW CREATE TABLE `db`.`t`")).WillReturnRows(
		sqlmock.NewRows([]string{"Table", "Create Table"}).AddRow("t", dumpCreates["t"]))
	tmock.ExpectQuery(q("SHOW CREATE TABLE `db`.`u`")).WillReturnError(&mysql.MySQLError{Number: 1146, Message: "Table 'db.u' doesn't exist"})

	env := taskEnvAt(st, 1, catalog.StageSync, new([]catalog.Command))
	state := env.Catalog()
	state.Tasks["inc"] = &catalog.Task{Name: "inc", File: "inc.yaml", YAML: incTaskYAML, Mode: catalog.ModeIncremental,
		Sources: map[string]*catalog.TaskSource{"s": {Stage: catalog.StageSync, Start: from}}}
	tl := &Tailer{env: env, source: "s"}
	cfg, _ := loadSource(state, "s")
	cp, _, err := tl.initCheckpoint(ctx, cfg, from)
	if err != nil {
		t.Fatal(err)
	}
	if err := smock.ExpectationsWereMet(); err != nil {
		t.Fatal(err)
	}
	if err := tmock.ExpectationsWereMet(); err != nil {
		t.Fatal(err)
	}
	if cp.Pos != from {
		t.Fatalf("checkpoint at %s, want %s", cp.Pos, from)
	}
	if v := versionAt(t, st, from, "t"); v.Origin != jetstream.OriginTarget || !slices.Equal(v.Table.ColumnNames(), []string{"id", "v"}) {
		t.Errorf("db.t at %s: %s %v, want the target's columns", from, v.Origin, v.Table.ColumnNames())
	}
	if v := versionAt(t, st, from, "u"); v.Origin != jetstream.OriginSourceNow {
		t.Errorf("db.u at %s: %s, want the source's now", from, v.Origin)
	}
	_, guessed, err := tl.loadTracker(ctx, st.Schemas(), &cp)
	if err != nil {
		t.Fatal(err)
	}
	if !guessed[schema.TableRef{Schema: "db", Name: "t"}] || !guessed[schema.TableRef{Schema: "db", Name: "u"}] {
		t.Errorf("guessed %v, want both tables", guessed)
	}
}

// A source that cannot be reached, or has no binary log, stops the tailer
// before it writes a checkpoint.
func TestTailerInitCheckpointFails(t *testing.T) {
	ctx := t.Context()
	st := memstore.New()
	src, mock := newSourceMock(t)
	standIns(t, map[int][]*sql.DB{3306: {src}})
	env := taskEnvAt(st, 1, catalog.StageSync, new([]catalog.Command))
	tl := &Tailer{env: env, source: "s"}
	cfg, _ := loadSource(env.Catalog(), "s")
	mock.ExpectQuery(q("SHOW MASTER STATUS")).WillReturnRows(sqlmock.NewRows([]string{"File", "Position"}))
	if _, _, err := tl.initCheckpoint(ctx, cfg, dmnode.Position{}); err == nil || !IsPermanent(err) || !strings.Contains(err.Error(), "binary logging is off") {
		t.Fatalf("no binlog: %v", err)
	}
	cfg.From.Port = 1
	if _, _, err := tl.initCheckpoint(ctx, cfg, dmnode.Position{}); err == nil || !strings.Contains(err.Error(), "source s") {
		t.Fatalf("no server: %v", err)
	}
	if p, err := TailPosition(ctx, st, "s"); err != nil || !p.IsZero() {
		t.Errorf("a checkpoint was written: %v, %v", p, err)
	}
}

// A checkpoint of before the schema history carries the schemas: they
// move into the history at its position.
func TestLoadTrackerMovesOldSchemas(t *testing.T) {
	ctx := t.Context()
	st := memstore.New()
	tr := schema.NewTracker()
	tbl, err := schema.ParseCreateTable("db", dumpCreates["t"])
	if err != nil {
		t.Fatal(err)
	}
	tr.Put(tbl)
	old, err := json.Marshal(tr)
	if err != nil {
		t.Fatal(err)
	}
	pos := dmnode.Position{File: "mysql-bin.000001", Pos: 120}
	cp := TailCheckpoint{Pos: pos, Flavor: "mariadb", Schemas: old}
	tl := &Tailer{env: Env{Store: st, Log: slog.New(slog.DiscardHandler)}, source: "s"}
	got, guessed, err := tl.loadTracker(ctx, st.Schemas(), &cp)
	if err != nil {
		t.Fatal(err)
	}
	if cp.Schemas != nil {
		t.Error("the checkpoint keeps its schemas")
	}
	if g, ok := got.Get("db", "t"); !ok || len(g.Columns) != 2 || len(guessed) != 0 || got.Flavor() != "mariadb" {
		t.Errorf("tracker: %+v %v, flavor %q, guessed %v", g, ok, got.Flavor(), guessed)
	}
	if v := versionAt(t, st, pos, "t"); v.Origin != jetstream.OriginSource {
		t.Errorf("moved version %+v", v)
	}
	cp.Schemas = json.RawMessage(`{"broken"`)
	if _, _, err := tl.loadTracker(ctx, st.Schemas(), &cp); err == nil || !IsPermanent(err) {
		t.Errorf("corrupt schemas: %v", err)
	}
}

// The schema of an upstream table as the target has it.
func TestTableFromTarget(t *testing.T) {
	ctx := t.Context()
	tgt, mock := newSourceMock(t)
	tgt2, mock2 := newSourceMock(t)
	standIns(t, map[int][]*sql.DB{4000: {tgt, tgt2}})
	mock.ExpectQuery(q("SHOW CREATE TABLE `db`.`t`")).WillReturnRows(
		sqlmock.NewRows([]string{"Table", "Create Table"}).AddRow("t", dumpCreates["t"]))
	env := taskEnvAt(memstore.New(), 1, catalog.StageSync, new([]catalog.Command))
	tbl, err := TableFromTarget(ctx, env, "t", "s", "db", "t")
	if err != nil {
		t.Fatal(err)
	}
	if tbl.Schema != "db" || tbl.Name != "t" || !slices.Equal(tbl.ColumnNames(), []string{"id", "v"}) {
		t.Errorf("table %s.%s %v", tbl.Schema, tbl.Name, tbl.ColumnNames())
	}
	mock2.ExpectQuery(q("SHOW CREATE TABLE `db`.`u`")).WillReturnError(&mysql.MySQLError{Number: 1146, Message: "no such table"})
	if _, err := TableFromTarget(ctx, env, "t", "s", "db", "u"); err == nil || !strings.Contains(err.Error(), "no such table") {
		t.Errorf("a table not on the target: %v", err)
	}
	if _, err := TableFromTarget(ctx, env, "nope", "s", "db", "t"); err == nil || !IsPermanent(err) {
		t.Errorf("a task not in the catalog: %v", err)
	}
}

// Purging a task removes its keys, its snapshot queue and its rows in the
// target's meta tables, and nothing of another task.
func TestPurgeTask(t *testing.T) {
	ctx := t.Context()
	st := memstore.New()
	tgt, mock := newSourceMock(t)
	standIns(t, map[int][]*sql.DB{4000: {tgt}})
	target := config.DBConfig{Host: "127.0.0.1", Port: 4000}
	for _, task := range []string{"t", "other"} {
		for _, k := range []string{dumpKey(task, "s"), jetstream.DumpSchemasKey(task, "s"), loadProgKey(task, "s"), ValidatorKey(task, "s"),
			dumpTableKey(task, "s", dmnode.TableID{Schema: "db", Table: "t"}), loadIndexKey(task, "s", "db", "t")} {
			if err := st.Put(ctx, k, 1); err != nil {
				t.Fatal(err)
			}
		}
		q, _ := st.SnapshotQueue(ctx, task)
		q.Publish(ctx, "s", "", []byte("rows"))
	}
	for _, tbl := range metaTables {
		e := mock.ExpectExec(q("DELETE FROM dmnode_meta." + tbl + " WHERE task = ?")).WithArgs("t")
		if tbl == "shard_resync" {
			e.WillReturnError(&mysql.MySQLError{Number: 1146, Message: "Table 'dmnode_meta.shard_resync' doesn't exist"})
		} else {
			e.WillReturnResult(sqlmock.NewResult(0, 1))
		}
	}
	if err := PurgeTask(ctx, st, target, "t", []string{"s"}); err != nil {
		t.Fatal(err)
	}
	if err := mock.ExpectationsWereMet(); err != nil {
		t.Fatal(err)
	}
	for _, task := range []string{"t", "other"} {
		for _, k := range []string{dumpKey(task, "s"), jetstream.DumpSchemasKey(task, "s"), loadProgKey(task, "s"), ValidatorKey(task, "s"),
			dumpTableKey(task, "s", dmnode.TableID{Schema: "db", Table: "t"}), loadIndexKey(task, "s", "db", "t")} {
			if _, ok, _ := st.Get(ctx, k); ok != (task == "other") {
				t.Errorf("key %s there after the purge of t: %v", k, ok)
			}
		}
	}
	if len(st.Queued("t", "s")) != 0 || len(st.Queued("other", "s")) != 1 {
		t.Errorf("queues after the purge: t %d, other %d", len(st.Queued("t", "s")), len(st.Queued("other", "s")))
	}

	// A meta table the target cannot delete from: the error names it.
	tgt2, mock2 := newSourceMock(t)
	standIns(t, map[int][]*sql.DB{4000: {tgt2}})
	mock2.ExpectExec(q("DELETE FROM dmnode_meta.checkpoint")).WillReturnError(&mysql.MySQLError{Number: 1142, Message: "DELETE command denied"})
	if err := PurgeTask(ctx, st, target, "t", []string{"s"}); err == nil || !strings.Contains(err.Error(), "dmnode_meta.checkpoint") {
		t.Errorf("purge with DELETE denied: %v", err)
	}
	// The store failing: the purge stops there, before the target.
	st.Inject(memstore.Fault{Op: memstore.Delete, Nth: 1, Err: errInjected})
	if err := PurgeTask(ctx, st, target, "other", []string{"s"}); !errors.Is(err, errInjected) {
		t.Errorf("purge with the store failing: %v", err)
	}
}

func TestTargetCheckpoints(t *testing.T) {
	ctx := t.Context()
	target := config.DBConfig{Host: "127.0.0.1", Port: 4000}
	count := q("SELECT COUNT(*) FROM dmnode_meta.checkpoint WHERE task = ?")
	db1, m1 := newSourceMock(t)
	db2, m2 := newSourceMock(t)
	db3, m3 := newSourceMock(t)
	standIns(t, map[int][]*sql.DB{4000: {db1, db2, db3}})
	m1.ExpectQuery(count).WithArgs("t").WillReturnRows(sqlmock.NewRows([]string{"n"}).AddRow(3))
	m2.ExpectQuery(count).WillReturnError(&mysql.MySQLError{Number: 1049, Message: "Unknown database 'dmnode_meta'"})
	m3.ExpectQuery(count).WillReturnError(&mysql.MySQLError{Number: 1045, Message: "Access denied"})
	if n, err := TargetCheckpoints(ctx, target, "t"); err != nil || n != 3 {
		t.Errorf("checkpoints %d, %v; want 3", n, err)
	}
	if n, err := TargetCheckpoints(ctx, target, "t"); err != nil || n != 0 {
		t.Errorf("no meta schema: %d, %v; want 0", n, err)
	}
	if _, err := TargetCheckpoints(ctx, target, "t"); err == nil || !strings.Contains(err.Error(), "read checkpoints on the target") {
		t.Errorf("denied: %v", err)
	}
	if _, err := TargetCheckpoints(ctx, config.DBConfig{Port: 1}, "t"); err == nil {
		t.Error("no error from a target that cannot be opened")
	}
}

// The target's dialect: read once; on TiDB, statements adapted or refused
// with the reason, and only the session settings the server knows.
func TestTargetDialect(t *testing.T) {
	ctx := t.Context()
	log := slog.New(slog.DiscardHandler)
	db, mock := newSourceMock(t)
	mock.ExpectQuery(q("SELECT VERSION()")).WillReturnRows(sqlmock.NewRows([]string{"v"}).AddRow("5.7.25-TiDB-v5.4.0"))
	var d targetDialect
	multi := "ALTER TABLE `db`.`t` ADD COLUMN `a` int, ADD COLUMN `b` int"
	refused := "ALTER TABLE `db`.`t` ADD COLUMN `g` geometry"
	if _, err := d.adapt(ctx, db, log, refused); err == nil || !IsPermanent(err) || !strings.Contains(err.Error(), "v5.4.0") {
		t.Fatalf("a type TiDB lacks: %v", err)
	}
	run, err := d.adapt(ctx, db, log, multi)
	if err != nil || len(run) != 2 {
		t.Fatalf("several changes in one ALTER on TiDB 5.4: %q, %v; want one ALTER each", run, err)
	}
	if err := mock.ExpectationsWereMet(); err != nil {
		t.Fatal(err) // the version was read once
	}
	// The applier names where the refused statement is.
	m := &mariaTarget{db: db, log: log}
	m.dialect.checked, m.dialect.tidb, m.dialect.version = true, true, d.version
	r := &applyRun{target: m, log: log, pending: dmnode.Position{File: "mysql-bin.000007", Pos: 42}}
	if _, err := r.forTarget(ctx, refused); err == nil || !IsPermanent(err) || !strings.Contains(err.Error(), "mysql-bin.000007") {
		t.Errorf("forTarget: %v", err)
	}

	// Not TiDB: every statement as it is.
	db2, mock2 := newSourceMock(t)
	mock2.ExpectQuery(q("SELECT VERSION()")).WillReturnRows(sqlmock.NewRows([]string{"v"}).AddRow("8.0.36"))
	var d2 targetDialect
	if run, err := d2.adapt(ctx, db2, log, multi); err != nil || !slices.Equal(run, []string{multi}) {
		t.Errorf("on MySQL: %v, %v", run, err)
	}
	db3, mock3 := newSourceMock(t)
	mock3.ExpectQuery(q("SELECT VERSION()")).WillReturnError(errors.New("connection refused"))
	var d3 targetDialect
	if _, err := d3.adapt(ctx, db3, log, multi); err == nil || !strings.Contains(err.Error(), "read target version") {
		t.Errorf("version unreadable: %v", err)
	}

	// Session settings: sent only when the server has the variable.
	v, _ := tidb.ParseVersion("5.7.25-TiDB-v7.5.1")
	db4, mock4 := newSourceMock(t)
	mock4.ExpectQuery(q("SHOW VARIABLES LIKE ?")).WithArgs("tidb_txn_mode").WillReturnRows(
		sqlmock.NewRows([]string{"Variable_name", "Value"}).AddRow("tidb_txn_mode", "pessimistic"))
	mock4.ExpectQuery(q("SHOW VARIABLES LIKE ?")).WithArgs("tidb_txn_mode").WillReturnRows(sqlmock.NewRows([]string{"Variable_name", "Value"}))
	mock4.ExpectQuery(q("SHOW VARIABLES LIKE ?")).WithArgs("tidb_txn_mode").WillReturnError(errors.New("gone"))
	if got, err := tidbSession(ctx, db4, v, nil); err != nil || got["tidb_txn_mode"] != "'optimistic'" {
		t.Errorf("session on TiDB: %v, %v", got, err)
	}
	if got, err := tidbSession(ctx, db4, v, nil); err != nil || len(got) != 0 {
		t.Errorf("session on a stand-in without the variable: %v, %v", got, err)
	}
	if _, err := tidbSession(ctx, db4, v, nil); err == nil || !strings.Contains(err.Error(), "tidb_txn_mode") {
		t.Errorf("variable unreadable: %v", err)
	}
	if got, err := tidbSession(ctx, db4, v, map[string]string{"TIDB_TXN_MODE": "pessimistic"}); err != nil || len(got) != 0 {
		t.Errorf("a setting the task sets itself: %v, %v", got, err)
	}
}

// The row digest both sides compute: text columns in hex of utf8mb4,
// binary ones in hex, numbers as they are, and the NULL bitmap.
func TestRowDigestExpr(t *testing.T) {
	cols := []schema.Column{{Name: "id", Type: "int"}, {Name: "name", Type: "varchar"}, {Name: "raw", Type: "blob"},
		{Name: "bin", Type: "char", Charset: "binary"}}
	want := "MD5(CONCAT_WS(',', `id`, HEX(CONVERT(`name` USING utf8mb4)), HEX(`raw`), HEX(`bin`), " +
		"CONCAT(ISNULL(`id`), ISNULL(`name`), ISNULL(`raw`), ISNULL(`bin`))))"
	if got := RowDigestExpr(cols); got != want {
		t.Errorf("digest\n got %s\nwant %s", got, want)
	}
	if got := RowDigestExpr(nil); got != "MD5('')" {
		t.Errorf("digest of no columns: %s", got)
	}
}

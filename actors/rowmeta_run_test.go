package actors

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"

	"github.com/DATA-DOG/go-sqlmock"
	gmysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/catalog"
	"github.com/dmnode/dmnode/core/config"
	"github.com/dmnode/dmnode/core/schema"
	"github.com/dmnode/dmnode/jetstream"
	"github.com/dmnode/dmnode/jetstream/memstore"
)

// The tailer's correction of a guessed schema from the binlog's row
// metadata, and its refusal when a certain schema disagrees.
func TestTailerRowMetadata(t *testing.T) {
	ctx := t.Context()
	st := memstore.New()
	r, hdr, _, _ := scriptTailer(t, st, "s")
	r.schemas = st.Schemas()
	r.cp.Pos = dmnode.Position{File: "mysql-bin.000001", Pos: 4}
	id := dmnode.TableID{Schema: "db", Table: "t"}
	ref := schema.TableRef{Schema: "db", Name: "t"}
	tracked, _ := r.tracker.Get("db", "t")
	// The binlog names only id: a certain schema with two columns is wrong.
	tm := &replication.TableMapEvent{Schema: []byte("db"), Table: []byte("t"), ColumnCount: 1, ColumnName: [][]byte{[]byte("id")}}
	_, err := r.rowMetadata(ctx, hdr(replication.TABLE_MAP_EVENT), id, tracked, tm)
	if err == nil || !IsPermanent(err) || !strings.Contains(err.Error(), "binlog-schema update s db t") {
		t.Fatalf("a certain schema that disagrees: %v", err)
	}
	// A guessed one is corrected to the binlog's columns, and recorded.
	r.guessed = map[schema.TableRef]bool{ref: true}
	fixed, err := r.rowMetadata(ctx, hdr(replication.TABLE_MAP_EVENT), id, tracked, tm)
	if err != nil {
		t.Fatal(err)
	}
	if got := fixed.ColumnNames(); len(got) != 1 || got[0] != "id" || r.guessed[ref] {
		t.Fatalf("corrected to %v, still guessed %v", got, r.guessed[ref])
	}
	set, err := st.Schemas().At(ctx, "s", r.cp.Pos)
	if err != nil || len(set.Tables) != 1 || set.Tables[0].Origin != jetstream.OriginRowMetadata {
		t.Fatalf("versions %+v, %v", set, err)
	}
	// No schema at all: read from full row metadata, else refused.
	full := &replication.TableMapEvent{Schema: []byte("db"), Table: []byte("n"), ColumnCount: 2,
		ColumnType: []byte{gmysql.MYSQL_TYPE_LONG, gmysql.MYSQL_TYPE_VARCHAR}, ColumnMeta: []uint16{0, 40},
		ColumnName: [][]byte{[]byte("id"), []byte("name")}, ColumnCharset: []uint64{45}, SignednessBitmap: []byte{0},
		NullBitmap: []byte{0x02}, PrimaryKey: []uint64{0}}
	n, err := r.rowMetadata(ctx, hdr(replication.TABLE_MAP_EVENT), dmnode.TableID{Schema: "db", Table: "n"}, nil, full)
	if err != nil || len(n.Columns) != 2 || len(n.Key) != 1 {
		t.Fatalf("from full row metadata: %+v, %v", n, err)
	}
	bare := &replication.TableMapEvent{Schema: []byte("db"), Table: []byte("m"), ColumnCount: 1, ColumnType: []byte{gmysql.MYSQL_TYPE_LONG}, ColumnMeta: []uint16{0}}
	if _, err := r.rowMetadata(ctx, hdr(replication.TABLE_MAP_EVENT), dmnode.TableID{Schema: "db", Table: "m"}, nil, bare); err == nil || !IsPermanent(err) {
		t.Fatalf("no schema and no names: %v", err)
	}
}

// ReadSchemas reads on as many connections as it gets.
func TestReadSchemas(t *testing.T) {
	db, mock := newSourceMock(t)
	expectSchemas(mock, dumpCreates)
	tr, err := ReadSchemas(t.Context(), db, "mariadb", 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Tables()) != 2 || tr.Flavor() != "mariadb" {
		t.Errorf("%d tables, flavor %q", len(tr.Tables()), tr.Flavor())
	}
	mock.ExpectQuery(q("SELECT @@character_set_server")).WillReturnRows(sqlmock.NewRows([]string{"a", "b"}).AddRow("utf8mb4", "utf8mb4_bin"))
	mock.ExpectQuery(q("information_schema.SCHEMATA")).WillReturnRows(sqlmock.NewRows([]string{"a", "b", "c"}))
	mock.ExpectQuery(q("SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES")).WillReturnRows(
		sqlmock.NewRows([]string{"a", "b"}).AddRow("db", "t"))
	mock.ExpectQuery(q("SHOW CREATE TABLE `db`.`t`")).WillReturnError(errInjected)
	if _, err := ReadSchemas(t.Context(), db, "mariadb", 1); err == nil || !strings.Contains(err.Error(), "show create table db.t") {
		t.Errorf("a schema unreadable: %v", err)
	}
}

// The target table a rejected DDL would quarantine: one replicated table
// created or altered; nothing for others.
func TestQuarantineTarget(t *testing.T) {
	env := taskEnvAt(memstore.New(), 1, catalog.StageSync, new([]catalog.Command))
	te, err := loadTask(env, "t", "s")
	if err != nil {
		t.Fatal(err)
	}
	r := &applyRun{te: te}
	one := []schema.TableRef{{Schema: "db", Name: "t"}}
	for _, c := range []struct {
		d    schema.DDL
		want string
	}{
		{schema.DDL{Kind: schema.AlterTable, Tables: one}, "db.t"},
		{schema.DDL{Kind: schema.CreateIndex, Tables: one}, "db.t"},
		{schema.DDL{Kind: schema.AlterTable, Tables: []schema.TableRef{{Schema: "other", Name: "x"}}}, ""},
		{schema.DDL{Kind: schema.AlterTable, Tables: append(one, schema.TableRef{Schema: "db", Name: "u"})}, ""},
		{schema.DDL{Kind: schema.DropTable, Tables: one}, ""},
	} {
		if got := r.quarantineTarget(c.d); got != c.want {
			t.Errorf("%+v: %q, want %q", c.d, got, c.want)
		}
	}
	if r.targetName("db", "") != "" {
		t.Error("a target for no table")
	}
}

// An applier's adaptive limit starts at four connections, or fewer when
// the task allows fewer.
func TestApplyLimitStart(t *testing.T) {
	for workers, want := range map[int]int{1: 1, 3: 3, 16: 4} {
		if n, _ := applyLimit(workers).Current(); n != want {
			t.Errorf("%d workers: starts at %d, want %d", workers, n, want)
		}
	}
}

// A tailer that stops for room checkpoints what it read and reports its
// progress first, so that it reads on from there.
func TestTailerPauseForRoom(t *testing.T) {
	ctx := t.Context()
	st := memstore.New()
	r, _, _, _ := scriptTailer(t, st, "s")
	r.read = dmnode.Position{File: "mysql-bin.000001", Pos: 900}
	r.published = r.read
	if err := r.pauseForRoom(ctx); !errors.Is(err, errRelayFull) {
		t.Fatalf("pause: %v", err)
	}
	if p, err := TailPosition(ctx, st, "s"); err != nil || p != r.read {
		t.Errorf("checkpoint %s, %v; want %s", p, err, r.read)
	}
	var tp jetstream.TailProgress
	if _, err := st.Load(ctx, tailProgKey("s"), &tp); err != nil || tp.Published != r.read {
		t.Errorf("progress %+v, %v", tp, err)
	}
	st.Inject(memstore.Fault{Op: memstore.Save, Nth: 1, Err: errInjected})
	r.read.Pos = 1000
	if err := r.pauseForRoom(ctx); !errors.Is(err, errInjected) {
		t.Errorf("pause with the store failing: %v", err)
	}
}

// The binlog position of the snapshot: a source without binary logging,
// a position that is no number, MariaDB's GTID variable.
func TestMasterPosition(t *testing.T) {
	ctx := t.Context()
	db, mock := newSourceMock(t)
	mock.ExpectQuery(q("SHOW MASTER STATUS")).WillReturnRows(sqlmock.NewRows([]string{"File", "Position"}).AddRow("mariadb-bin.000002", "77"))
	mock.ExpectQuery(q("SELECT @@GLOBAL.gtid_binlog_pos")).WillReturnRows(sqlmock.NewRows([]string{"g"}).AddRow("0-1-5"))
	p, err := MasterPosition(ctx, db, "mariadb")
	if err != nil || p != (dmnode.Position{File: "mariadb-bin.000002", Pos: 77, GTID: "0-1-5"}) {
		t.Errorf("position %+v, %v", p, err)
	}
	mock.ExpectQuery(q("SHOW MASTER STATUS")).WillReturnRows(sqlmock.NewRows([]string{"File", "Position"}).AddRow("b.000001", "x"))
	if _, err := MasterPosition(ctx, db, "mysql"); err == nil || !strings.Contains(err.Error(), `position "x"`) {
		t.Errorf("position no number: %v", err)
	}
	mock.ExpectQuery(q("SHOW MASTER STATUS")).WillReturnError(errInjected)
	if _, err := MasterPosition(ctx, db, "mysql"); err == nil || !strings.Contains(err.Error(), "show master status") {
		t.Errorf("status unreadable: %v", err)
	}
}

// The dump's plan reads fail with errors naming what they read.
func TestDumpPlanReadErrors(t *testing.T) {
	ctx := t.Context()
	db, mock := newSourceMock(t)
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	mock.ExpectQuery(q("TABLE_ROWS FROM information_schema.TABLES")).WillReturnError(errInjected)
	if _, err := estimateRows(ctx, c); err == nil || !strings.Contains(err.Error(), "read row estimates") {
		t.Errorf("estimates: %v", err)
	}
	dt := &DumpTable{Schema: intTable(false), KeyCol: 0}
	mock.ExpectQuery(q("SELECT MIN(")).WillReturnError(errInjected)
	if err := planChunks(ctx, c, dt, 10); err == nil || !strings.Contains(err.Error(), "key range of") {
		t.Errorf("key range unreadable: %v", err)
	}
	// An empty table is one chunk.
	mock.ExpectQuery(q("SELECT MIN(")).WillReturnRows(sqlmock.NewRows([]string{"lo", "hi"}).AddRow(nil, nil))
	if err := planChunks(ctx, c, dt, 10); err != nil || dt.Chunks != 1 {
		t.Errorf("empty table: %d chunks, %v", dt.Chunks, err)
	}
	mock.ExpectQuery(q("SELECT MIN(")).WillReturnRows(sqlmock.NewRows([]string{"lo", "hi"}).AddRow("a", "b"))
	if err := planChunks(ctx, c, dt, 10); err == nil || !IsPermanent(err) {
		t.Errorf("a key range that is no number: %v", err)
	}
}

// Actors whose task is past (or not at) their stage end at once, without
// opening a server.
func TestActorsOutOfStage(t *testing.T) {
	ctx := t.Context()
	st := memstore.New()
	env := taskEnvAt(st, 1, catalog.StageSync, new([]catalog.Command))
	opened := false
	d := &Dumper{env: env, task: "t", source: "s", openSource: func(context.Context, config.DBConfig, int) (*sql.DB, error) {
		opened = true
		return nil, errInjected
	}}
	if err := d.Run(ctx); err != nil || opened {
		t.Errorf("dumper in stage sync: %v, opened %v", err, opened)
	}
	if err := (&Loader{env: env, task: "t", source: "s"}).Run(ctx); err != nil {
		t.Errorf("loader in stage sync: %v", err)
	}
	// dumpTaskYAML has no validator: mode none.
	if err := (&Validator{env: env, task: "t", source: "s"}).Run(ctx); err != nil {
		t.Errorf("validator without a mode: %v", err)
	}
	for _, a := range []Actor{&Dumper{env: env, task: "gone", source: "s"}, &Loader{env: env, task: "gone", source: "s"},
		&Validator{env: env, task: "gone", source: "s"}} {
		if err := a.Run(ctx); err == nil || !IsPermanent(err) {
			t.Errorf("%T of a task not in the catalog: %v", a, err)
		}
	}
	if len(st.Queued("t", "s")) != 0 {
		t.Error("something was dumped")
	}
}

// A tailer whose source's schemas at its start are in the history already
// (a dump or a submission wrote them) does not read them again.
func TestTailerInitCheckpointKnown(t *testing.T) {
	ctx := t.Context()
	st := memstore.New()
	at := dmnode.Position{File: "mysql-bin.000005", Pos: 500}
	tr := schema.NewTracker()
	tbl, _ := schema.ParseCreateTable("db", dumpCreates["t"])
	tr.Put(tbl)
	if err := putTracker(ctx, st.Schemas(), "s", at, tr, jetstream.OriginSnapshot, "mysql"); err != nil {
		t.Fatal(err)
	}
	src, mock := newSourceMock(t)
	standIns(t, map[int][]*sql.DB{3306: {src}})
	expectMaster(mock, "mysql-bin.000009", 4)
	env := taskEnvAt(st, 2, catalog.StageSync, new([]catalog.Command))
	cfg, _ := loadSource(env.Catalog(), "s")
	cp, _, err := (&Tailer{env: env, source: "s"}).initCheckpoint(ctx, cfg, at)
	if err != nil {
		t.Fatal(err)
	}
	if err := mock.ExpectationsWereMet(); err != nil {
		t.Fatal(err) // no schema read
	}
	if cp.Pos != at {
		t.Errorf("checkpoint at %s, want %s", cp.Pos, at)
	}
	if v := versionAt(t, st, at, "t"); v.Origin != jetstream.OriginSnapshot {
		t.Errorf("the snapshot's version was replaced: %+v", v)
	}
}

package actors

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/DATA-DOG/go-sqlmock"
	"github.com/go-sql-driver/mysql"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/catalog"
	"github.com/dmnode/dmnode/core/config"
	"github.com/dmnode/dmnode/core/schema"
	"github.com/dmnode/dmnode/jetstream"
	"github.com/dmnode/dmnode/jetstream/memstore"
)

// The dumper against a stand-in source (go-sqlmock: the exact statements
// it sends, in order, with the rows a server would return) and the
// in-memory stores: the snapshot, the plan, the rows published, the
// checkpoints, the commands proposed, a resumed dump and a fenced one.

const dumpTaskYAML = `name: t
task-mode: all
target-database: {host: 127.0.0.1, port: 4000, user: root, password: ""}
mysql-instances:
  - source-id: s
    block-allow-list: only
    mydumper-config-name: d
block-allow-list:
  only:
    do-dbs: [db]
mydumpers:
  d:
    threads: 1
    rows: 10
`

// dumpEnv is the environment of task t's dumper of source s, in stage
// dump, on st; proposed collects the commands it proposes.
func dumpEnv(st *memstore.Store, epoch uint64, proposed *[]catalog.Command) Env {
	return taskEnvAt(st, epoch, catalog.StageDump, proposed)
}

// taskEnvAt is dumpEnv with task t's source s in the given stage.
func taskEnvAt(st *memstore.Store, epoch uint64, stage string, proposed *[]catalog.Command) Env {
	state := &catalog.State{
		Sources: map[string]*catalog.Source{"s": {ID: "s", File: "s.yaml",
			YAML: "source-id: s\nflavor: mysql\nfrom: {host: 127.0.0.1, port: 3306, user: root, password: \"\"}\n"}},
		Tasks: map[string]*catalog.Task{"t": {Name: "t", File: "t.yaml", YAML: dumpTaskYAML, Mode: "all",
			Sources: map[string]*catalog.TaskSource{"s": {Stage: stage}}}},
	}
	var mu sync.Mutex
	return Env{Node: "n1", Epoch: epoch, Store: st, Log: slog.New(slog.DiscardHandler),
		Catalog: func() *catalog.State { return state },
		Propose: func(_ context.Context, c catalog.Command) error {
			mu.Lock()
			defer mu.Unlock()
			*proposed = append(*proposed, c)
			return nil
		}}
}

// The source's tables: db.t splits on its integer key (ids 1..25, 10 per
// chunk: 3 chunks), db.u has a text key (one chunk), other.x is not
// replicated by the task, mysql.user is a system table.
var dumpCreates = map[string]string{
	"t": "CREATE TABLE `t` (\n  `id` int NOT NULL,\n  `v` varchar(20) DEFAULT NULL,\n  PRIMARY KEY (`id`)\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
	"u": "CREATE TABLE `u` (\n  `k` varchar(10) NOT NULL,\n  `n` bigint DEFAULT NULL,\n  PRIMARY KEY (`k`)\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
	"x": "CREATE TABLE `x` (\n  `id` int NOT NULL,\n  PRIMARY KEY (`id`)\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
}

// newSourceMock is a stand-in source whose pool keeps its connections
// (sqlmock forgets a source whose connections all close).
func newSourceMock(t *testing.T) (*sql.DB, sqlmock.Sqlmock) {
	t.Helper()
	db, mock, err := sqlmock.New()
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxIdleConns(10)
	t.Cleanup(func() { db.Close() })
	return db, mock
}

func q(s string) string { return regexp.QuoteMeta(s) }

// expectSnapshot is what the dumper sends to take its snapshot with one
// reader: the global read lock, the reader's transaction, the position,
// the character sets and every table's schema, and the unlock.
func expectSnapshot(mock sqlmock.Sqlmock, file string, pos uint32) {
	mock.ExpectExec(q("FLUSH TABLES WITH READ LOCK")).WillReturnResult(sqlmock.NewResult(0, 0))
	mock.ExpectExec(q("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")).WillReturnResult(sqlmock.NewResult(0, 0))
	mock.ExpectExec(q("START TRANSACTION WITH CONSISTENT SNAPSHOT")).WillReturnResult(sqlmock.NewResult(0, 0))
	mock.ExpectQuery(q("SHOW MASTER STATUS")).WillReturnRows(
		sqlmock.NewRows([]string{"File", "Position", "Binlog_Do_DB", "Binlog_Ignore_DB", "Executed_Gtid_Set"}).
			AddRow(file, strconv.Itoa(int(pos)), "", "", "3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5"))
	mock.ExpectQuery(q("SELECT @@GLOBAL.gtid_executed")).WillReturnRows(
		sqlmock.NewRows([]string{"g"}).AddRow("3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5"))
	mock.ExpectQuery(q("SELECT @@character_set_server, @@collation_server")).WillReturnRows(
		sqlmock.NewRows([]string{"cs", "coll"}).AddRow("utf8mb4", "utf8mb4_general_ci"))
	mock.ExpectQuery(q("FROM information_schema.SCHEMATA")).WillReturnRows(
		sqlmock.NewRows([]string{"SCHEMA_NAME", "cs", "coll"}).
			AddRow("db", "utf8mb4", "utf8mb4_general_ci").AddRow("mysql", "utf8mb4", "utf8mb4_general_ci"))
	mock.ExpectQuery(q("SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES")).WillReturnRows(
		sqlmock.NewRows([]string{"TABLE_SCHEMA", "TABLE_NAME"}).
			AddRow("db", "t").AddRow("db", "u").AddRow("mysql", "user").AddRow("other", "x"))
	for _, id := range []dmnode.TableID{{Schema: "db", Table: "t"}, {Schema: "db", Table: "u"}, {Schema: "other", Table: "x"}} {
		mock.ExpectQuery(q("SHOW CREATE TABLE `" + id.Schema + "`.`" + id.Table + "`")).WillReturnRows(
			sqlmock.NewRows([]string{"Table", "Create Table"}).AddRow(id.Table, dumpCreates[id.Table]))
	}
	mock.ExpectExec(q("UNLOCK TABLES")).WillReturnResult(sqlmock.NewResult(0, 0))
}

// tChunk is the query of db.t's chunk n of 3 (10 ids each from 1) and
// its rows.
func expectTChunk(mock sqlmock.Sqlmock, n int) *sqlmock.ExpectedQuery {
	sel := "SELECT `id`, `v` FROM `db`.`t`"
	rows := sqlmock.NewRows([]string{"id", "v"})
	lo, hi := 1+10*n, 11+10*n
	if n == 2 {
		hi = 26
	}
	for id := lo; id < hi; id++ {
		rows.AddRow(strconv.Itoa(id), fmt.Sprintf("v%d", id))
	}
	var e *sqlmock.ExpectedQuery
	switch n {
	case 0:
		e = mock.ExpectQuery(q(sel + " WHERE `id` < ? ORDER BY `id`")).WithArgs("11")
	case 1:
		e = mock.ExpectQuery(q(sel+" WHERE `id` >= ? AND `id` < ? ORDER BY `id`")).WithArgs("11", "21")
	default:
		e = mock.ExpectQuery(q(sel + " WHERE `id` >= ? ORDER BY `id`")).WithArgs("21")
	}
	return e.WillReturnRows(rows)
}

func expectUChunk(mock sqlmock.Sqlmock) {
	mock.ExpectQuery("^" + q("SELECT `k`, `n` FROM `db`.`u`") + "$").WillReturnRows(
		sqlmock.NewRows([]string{"k", "n"}).AddRow("a", "1").AddRow("b", nil))
}

// queuedRows decodes what the dump left in the queue: the rows by table,
// and the (table, chunk) of each message marked last.
func queuedRows(t *testing.T, st *memstore.Store) (map[string][][]any, []string) {
	t.Helper()
	rows := map[string][][]any{}
	var last []string
	for _, m := range st.Queued("t", "s") {
		rb, err := jetstream.DecodeRowBatch(m)
		if err != nil {
			t.Fatal(err)
		}
		if rb.Source != "s" {
			t.Errorf("message of source %q", rb.Source)
		}
		id := rb.Table.Schema + "." + rb.Table.Table
		rows[id] = append(rows[id], rb.Rows...)
		if rb.Last {
			last = append(last, fmt.Sprintf("%s#%d", id, rb.Chunk))
		}
	}
	slices.Sort(last)
	return rows, last
}

func storedTable(t *testing.T, st *memstore.Store, table string) DumpTable {
	t.Helper()
	var dt DumpTable
	if _, err := st.Load(t.Context(), dumpTableKey("t", "s", dmnode.TableID{Schema: "db", Table: table}), &dt); err != nil {
		t.Fatal(err)
	}
	return dt
}

func TestDumperRun(t *testing.T) {
	ctx := t.Context()
	st := memstore.New()
	db, mock := newSourceMock(t)
	expectSnapshot(mock, "mysql-bin.000003", 1234)
	mock.ExpectQuery(q("SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_ROWS FROM information_schema.TABLES")).WillReturnRows(
		sqlmock.NewRows([]string{"TABLE_SCHEMA", "TABLE_NAME", "TABLE_ROWS"}).
			AddRow("db", "t", "24").AddRow("db", "u", "2").AddRow("mysql", "user", "3").AddRow("other", "x", nil))
	mock.ExpectQuery(q("SELECT MIN(`id`), MAX(`id`) FROM `db`.`t`")).WillReturnRows(
		sqlmock.NewRows([]string{"lo", "hi"}).AddRow("1", "25"))
	for n := range 3 {
		expectTChunk(mock, n)
	}
	expectUChunk(mock)

	var proposed []catalog.Command
	var opened int
	d := &Dumper{env: dumpEnv(st, 1, &proposed), task: "t", source: "s",
		openSource: func(_ context.Context, c config.DBConfig, maxConns int) (*sql.DB, error) {
			opened = maxConns
			if c.Port != 3306 {
				t.Errorf("opened port %d, want the source's 3306", c.Port)
			}
			return db, nil
		}}
	if err := d.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if err := mock.ExpectationsWereMet(); err != nil {
		t.Fatal(err)
	}
	if opened != 2 {
		t.Errorf("opened %d connections, want the reader and the lock's", opened)
	}

	// The commands: the snapshot's position, then the stage done.
	want := dmnode.Position{File: "mysql-bin.000003", Pos: 1234, GTID: "3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5"}
	if len(proposed) != 2 || proposed[0].Op != catalog.OpSnapshotTaken || proposed[0].Pos != want ||
		proposed[1].Op != catalog.OpStageDone || proposed[1].Stage != catalog.StageDump {
		t.Fatalf("proposed %+v", proposed)
	}
	// The tailer starts at the snapshot, with its schemas.
	if ss, ok, err := jetstream.LoadSourceStart(ctx, st, "s"); err != nil || !ok || ss.Pos != want || ss.Flavor != "mysql" || ss.Task != "t" {
		t.Fatalf("start of the relay %+v (%v), %v", ss, ok, err)
	}

	// The rows, every one once, each chunk closed by a last message.
	rows, last := queuedRows(t, st)
	if len(rows["db.t"]) != 25 {
		t.Fatalf("db.t: %d rows, want 25", len(rows["db.t"]))
	}
	for i, r := range rows["db.t"] {
		if r[0] != int64(i+1) || r[1] != fmt.Sprintf("v%d", i+1) {
			t.Fatalf("db.t row %d: %v", i, r)
		}
	}
	if u := rows["db.u"]; len(u) != 2 || u[0][0] != "a" || u[0][1] != int64(1) || u[1][1] != nil {
		t.Fatalf("db.u rows %v", u)
	}
	if len(rows) != 2 {
		t.Errorf("tables dumped: %v; other.x is not replicated, mysql.user is a system table", rows)
	}
	if !slices.Equal(last, []string{"db.t#0", "db.t#1", "db.t#2", "db.u#0"}) {
		t.Errorf("last messages %v", last)
	}

	// The checkpoints: the plan complete, every chunk done, rows counted.
	var cp DumpCheckpoint
	if _, err := st.Load(ctx, dumpKey("t", "s"), &cp); err != nil || !cp.Planned || cp.Tables != 2 || cp.Epoch != 1 {
		t.Fatalf("summary %+v, %v", cp, err)
	}
	dt := storedTable(t, st, "t")
	if dt.Chunks != 3 || dt.KeyCol != 0 || dt.ChunksDone() != 3 || dt.Rows != 25 || dt.Estimate != 24 {
		t.Errorf("db.t checkpoint %+v", dt)
	}
	if du := storedTable(t, st, "u"); du.Chunks != 1 || du.KeyCol != -1 || du.ChunksDone() != 1 || du.Rows != 2 {
		t.Errorf("db.u checkpoint %+v", du)
	}
	var p DumpProgress
	if _, err := st.Load(ctx, dumpProgKey("t", "s"), &p); err != nil || p.Tables != 2 || p.ChunksTotal != 4 || p.ChunksDone != 4 || p.RowsDumped != 27 {
		t.Errorf("progress %+v, %v", p, err)
	}
	// The upstream schema as the dump recorded it, for the loader.
	if s, err := dumpSchema(ctx, d.env, "t", "s", dmnode.TableID{Schema: "db", Table: "u"}); err != nil || s == nil || s.Name != "u" || len(s.Columns) != 2 {
		t.Errorf("dumpSchema: %+v, %v", s, err)
	}
}

// A chunk that cannot be read fails the dump, which proposes nothing more;
// the chunks read before it stay done.
func TestDumperChunkFails(t *testing.T) {
	ctx := t.Context()
	st := memstore.New()
	db, mock := newSourceMock(t)
	expectSnapshot(mock, "mysql-bin.000003", 1234)
	mock.ExpectQuery(q("information_schema.TABLES")).WillReturnRows(sqlmock.NewRows([]string{"s", "t", "n"}))
	mock.ExpectQuery(q("SELECT MIN(`id`), MAX(`id`) FROM `db`.`t`")).WillReturnRows(
		sqlmock.NewRows([]string{"lo", "hi"}).AddRow("1", "25"))
	expectTChunk(mock, 0)
	expectTChunk(mock, 1)
	mock.ExpectQuery(q("SELECT `id`, `v` FROM `db`.`t` WHERE `id` >= ?")).WillReturnError(errors.New("connection lost"))
	var proposed []catalog.Command
	d := &Dumper{env: dumpEnv(st, 1, &proposed), task: "t", source: "s",
		openSource: func(context.Context, config.DBConfig, int) (*sql.DB, error) { return db, nil }}
	if err := d.Run(ctx); err == nil || !regexp.MustCompile(`read db\.t chunk 2: .*connection lost`).MatchString(err.Error()) {
		t.Fatalf("run with chunk 2 failing: %v", err)
	}
	if len(proposed) != 1 || proposed[0].Op != catalog.OpSnapshotTaken {
		t.Fatalf("a failed dump proposed %+v", proposed)
	}
	if dt := storedTable(t, st, "t"); dt.ChunksDone() != 2 || !dt.IsDone(0) || !dt.IsDone(1) || dt.Rows != 20 {
		t.Fatalf("db.t after the failure: %+v", dt)
	}
	if rows, last := queuedRows(t, st); len(rows["db.t"]) != 20 || len(last) != 2 {
		t.Errorf("queue after the failure: %d rows of db.t, chunks closed %v", len(rows["db.t"]), last)
	}
}

// storeDumpPlan stores a complete plan of epoch 1 with db.t's first two
// chunks done and their 20 rows in the queue, as a dumper that died in
// db.t's last chunk leaves it.
func storeDumpPlan(t *testing.T, st *memstore.Store) {
	t.Helper()
	ctx := t.Context()
	tt, err := schema.ParseCreateTable("db", dumpCreates["t"])
	if err != nil {
		t.Fatal(err)
	}
	tu, err := schema.ParseCreateTable("db", dumpCreates["u"])
	if err != nil {
		t.Fatal(err)
	}
	dt := &DumpTable{Schema: tt, KeyCol: 0, Min: "1", Step: 10, Chunks: 3, Epoch: 1}
	dt.markDone(0, 10)
	dt.markDone(1, 10)
	du := &DumpTable{Schema: tu, KeyCol: -1, Chunks: 1, Epoch: 1}
	for _, x := range []*DumpTable{dt, du} {
		if err := st.Put(ctx, dumpTableKey("t", "s", x.ID()), x); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Put(ctx, dumpKey("t", "s"), DumpCheckpoint{Epoch: 1, Planned: true, Tables: 2}); err != nil {
		t.Fatal(err)
	}
	sq, _ := st.SnapshotQueue(ctx, "t")
	for n := range 2 {
		rb := &jetstream.RowBatch{Source: "s", Table: dt.ID(), Columns: []string{"id", "v"}, Key: []int{0}, Chunk: n, Last: true}
		for id := 1 + 10*n; id < 11+10*n; id++ {
			rb.Rows = append(rb.Rows, []any{int64(id), fmt.Sprintf("v%d", id)})
		}
		data, err := jetstream.EncodeRowBatch(nil, rb)
		if err != nil {
			t.Fatal(err)
		}
		if err := sq.Publish(ctx, "s", "", data); err != nil {
			t.Fatal(err)
		}
	}
}

// A dumper that dies in the middle is followed by one that takes a new
// snapshot, keeps the stored plan and dumps only the chunks not done.
func TestDumperResumes(t *testing.T) {
	ctx := t.Context()
	st := memstore.New()
	storeDumpPlan(t, st)
	before := len(st.Queued("t", "s"))

	db, mock := newSourceMock(t)
	expectSnapshot(mock, "mysql-bin.000004", 99)
	expectTChunk(mock, 2) // no estimates, no key range: the plan is kept
	expectUChunk(mock)
	var proposed []catalog.Command
	d := &Dumper{env: dumpEnv(st, 2, &proposed), task: "t", source: "s",
		openSource: func(context.Context, config.DBConfig, int) (*sql.DB, error) { return db, nil }}
	if err := d.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if err := mock.ExpectationsWereMet(); err != nil {
		t.Fatal(err)
	}
	if len(proposed) != 2 || proposed[0].Pos.File != "mysql-bin.000004" || proposed[1].Op != catalog.OpStageDone {
		t.Fatalf("proposed %+v", proposed)
	}
	rows, _ := queuedRows(t, st)
	if len(rows["db.t"]) != 25 || len(rows["db.u"]) != 2 {
		t.Fatalf("rows in the queue: db.t %d, db.u %d; want 25 and 2", len(rows["db.t"]), len(rows["db.u"]))
	}
	if n := len(st.Queued("t", "s")) - before; n != 2 {
		t.Errorf("the second incarnation published %d messages, want db.t's last chunk and db.u", n)
	}
	if dt := storedTable(t, st, "t"); dt.ChunksDone() != 3 || dt.Rows != 25 || dt.Epoch != 2 {
		t.Errorf("db.t checkpoint %+v", dt)
	}
}

// A resumed dump whose plan holds a table the source no longer has
// (dropped or renamed since the dump began) stops the task, saying so and
// how to go on, instead of reading it again for ever.
func TestDumperResumesOnDroppedTable(t *testing.T) {
	ctx := t.Context()
	st := memstore.New()
	storeDumpPlan(t, st)
	db, mock := newSourceMock(t)
	expectSnapshot(mock, "mysql-bin.000004", 99)
	mock.ExpectQuery(q("SELECT `id`, `v` FROM `db`.`t`")).WillReturnError(&mysql.MySQLError{Number: 1146, Message: "Table 'db.t' doesn't exist"})
	mock.MatchExpectationsInOrder(false)
	expectUChunk(mock)
	var proposed []catalog.Command
	d := &Dumper{env: dumpEnv(st, 2, &proposed), task: "t", source: "s",
		openSource: func(context.Context, config.DBConfig, int) (*sql.DB, error) { return db, nil }}
	err := d.Run(ctx)
	if !IsPermanent(err) || !strings.Contains(err.Error(), "db.t chunk 2: the table was dropped or renamed on the source") ||
		!strings.Contains(err.Error(), "dmnode task stop t && dmnode task delete t && dmnode task start --remove-meta") {
		t.Fatalf("run: %v; want a permanent error naming db.t and the way out", err)
	}
}

// A dumper whose summary another incarnation claims stops, fenced, and
// leaves the claim as it is.
func TestDumperFenced(t *testing.T) {
	ctx := t.Context()
	st := memstore.New()
	db, mock := newSourceMock(t)
	expectSnapshot(mock, "mysql-bin.000003", 1234)
	mock.ExpectQuery(q("information_schema.TABLES")).WillReturnRows(sqlmock.NewRows([]string{"s", "t", "n"}))
	mock.ExpectQuery(q("SELECT MIN(`id`), MAX(`id`) FROM `db`.`t`")).WillReturnRows(
		sqlmock.NewRows([]string{"lo", "hi"}).AddRow("1", "25"))
	expectTChunk(mock, 0).WillDelayFor(time.Minute) // until the fence stops it
	var proposed []catalog.Command
	d := &Dumper{env: dumpEnv(st, 1, &proposed), task: "t", source: "s",
		openSource: func(context.Context, config.DBConfig, int) (*sql.DB, error) { return db, nil }}
	go func() {
		// Once the plan is written, a newer incarnation claims the dump.
		for ctx.Err() == nil {
			var cp DumpCheckpoint
			if _, err := st.Load(ctx, dumpKey("t", "s"), &cp); err == nil && cp.Planned {
				cp.Epoch = 7
				st.Put(ctx, dumpKey("t", "s"), cp)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err := d.Run(rctx)
	if !errors.Is(err, jetstream.ErrFenced) || !IsPermanent(err) {
		t.Fatalf("run: %v, want fenced", err)
	}
	var cp DumpCheckpoint
	if _, err := st.Load(ctx, dumpKey("t", "s"), &cp); err != nil || cp.Epoch != 7 {
		t.Errorf("summary %+v, %v", cp, err)
	}
	if len(proposed) != 1 {
		t.Errorf("a fenced dump proposed %+v", proposed)
	}
}

// A dump whose chunk checkpoint another writer changed merges with it
// instead of overwriting its chunks.
func TestDumpChunkDoneMerges(t *testing.T) {
	ctx := t.Context()
	st := memstore.New()
	var proposed []catalog.Command
	d := &Dumper{env: dumpEnv(st, 3, &proposed), task: "t", source: "s"}
	dt := &DumpTable{Schema: intTable(false), KeyCol: 0, Min: "0", Step: 10, Chunks: 3, Epoch: 3}
	key := dumpTableKey("t", "s", dt.ID())
	rev, err := st.Save(ctx, key, dt, 0)
	if err != nil {
		t.Fatal(err)
	}
	stState := &dumpTableState{key: key, rev: rev, t: dt, ready: make(chan struct{})}
	w := newDumpWriter(d, &DumpCheckpoint{}, 0)
	// Someone else records chunk 2 meanwhile.
	other := *dt
	other.markDone(2, 7)
	if _, err := st.Save(ctx, key, &other, rev); err != nil {
		t.Fatal(err)
	}
	if err := w.chunkDone(ctx, chunkRef{state: stState, table: dt, n: 0}, 10); err != nil {
		t.Fatal(err)
	}
	got := storedTable2(t, st, key)
	if !got.IsDone(0) || !got.IsDone(2) || got.IsDone(1) || got.Rows != 17 {
		t.Fatalf("merged checkpoint %+v", got)
	}
	if w.chunksDone.Load() != 1 {
		t.Errorf("chunks done %d", w.chunksDone.Load())
	}
	// A store that fails the save: the error, not a retry forever.
	st.Inject(memstore.Fault{Op: memstore.Save, Nth: 1, Err: errInjected})
	if err := w.chunkDone(ctx, chunkRef{state: stState, table: dt, n: 1}, 5); !errors.Is(err, errInjected) {
		t.Fatalf("chunkDone on a failing store: %v", err)
	}
}

func storedTable2(t *testing.T, st *memstore.Store, key string) DumpTable {
	t.Helper()
	var dt DumpTable
	if _, err := st.Load(t.Context(), key, &dt); err != nil {
		t.Fatal(err)
	}
	return dt
}

// A publish whose reply is lost (the stream's leader killed holding it)
// is made again under the message's id: the dump goes on, and the queue
// holds every row once, as it does when the client itself sends a publish
// twice.
func TestDumperPublishReplyLost(t *testing.T) {
	ctx := t.Context()
	st := memstore.New()
	st.Inject(memstore.Fault{Op: memstore.QueuePublish, Nth: 2, Drop: true})
	st.Inject(memstore.Fault{Op: memstore.QueuePublish, Nth: 4, Duplicate: true})
	db, mock := newSourceMock(t)
	expectDumpTU(mock)
	var proposed []catalog.Command
	d := &Dumper{env: dumpEnv(st, 1, &proposed), task: "t", source: "s",
		openSource: func(context.Context, config.DBConfig, int) (*sql.DB, error) { return db, nil }}
	if err := d.Run(ctx); err != nil {
		t.Fatalf("dump with a lost publish reply: %v", err)
	}
	rows, last := queuedRows(t, st)
	if len(rows["db.t"]) != 25 || len(rows["db.u"]) != 2 {
		t.Fatalf("queued %d rows of db.t and %d of db.u, want 25 and 2", len(rows["db.t"]), len(rows["db.u"]))
	}
	for i, r := range rows["db.t"] {
		if r[0] != int64(i+1) {
			t.Fatalf("db.t row %d: %v", i, r)
		}
	}
	if !slices.Equal(last, []string{"db.t#0", "db.t#1", "db.t#2", "db.u#0"}) {
		t.Errorf("last messages %v", last)
	}
	if n := st.Calls(memstore.QueuePublish); n != 5 {
		t.Errorf("%d publish calls, want 5: four messages and the one made again", n)
	}
}

// expectDumpTU expects a whole dump of db.t (25 rows in 3 chunks) and
// db.u (2 rows, no key), from the snapshot on.
func expectDumpTU(mock sqlmock.Sqlmock) {
	expectSnapshot(mock, "mysql-bin.000003", 1234)
	mock.ExpectQuery(q("SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_ROWS FROM information_schema.TABLES")).WillReturnRows(
		sqlmock.NewRows([]string{"TABLE_SCHEMA", "TABLE_NAME", "TABLE_ROWS"}).AddRow("db", "t", "24").AddRow("db", "u", "2"))
	mock.ExpectQuery(q("SELECT MIN(`id`), MAX(`id`) FROM `db`.`t`")).WillReturnRows(
		sqlmock.NewRows([]string{"lo", "hi"}).AddRow("1", "25"))
	for n := range 3 {
		expectTChunk(mock, n)
	}
	expectUChunk(mock)
}

package actors

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
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

// The loader's writes against a stand-in target (go-sqlmock: the
// statements in order, the server's answers and errors) and the queue of
// the in-memory stores: LOAD DATA and the ways it falls back to INSERT,
// REPLACE over rows already there, the fence, a whole run to the end of
// the queue, and the secondary indexes added after the load.

// newLoadRun is a loader of task t (dumpTaskYAML), source s in stage, on
// st and the target db, loading with LOAD DATA.
func newLoadRun(t *testing.T, st *memstore.Store, db *sql.DB, stage string, proposed *[]catalog.Command) *loadRun {
	t.Helper()
	env := taskEnvAt(st, 1, stage, proposed)
	te, err := loadTask(env, "t", "s")
	if err != nil {
		t.Fatal(err)
	}
	queue, err := st.SnapshotQueue(t.Context(), "t")
	if err != nil {
		t.Fatal(err)
	}
	ld := &loadRun{l: &Loader{env: env, task: "t", source: "s"}, queue: queue, tables: newTargetTables(db, te.rules, env.Log)}
	ld.loadData.Store(true)
	return ld
}

// tRows is a message of db.t's rows 1..n.
func tRows(t *testing.T, chunk, n int) []byte {
	t.Helper()
	rb := &jetstream.RowBatch{Source: "s", Table: dmnode.TableID{Schema: "db", Table: "t"}, Columns: []string{"id", "v"},
		Key: []int{0}, Chunk: chunk, Last: true}
	for i := 1; i <= n; i++ {
		rb.Rows = append(rb.Rows, []any{int64(i), "v" + string(rune('0'+i))})
	}
	data, err := jetstream.EncodeRowBatch(nil, rb)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// expectTargetColumns answers the read of db.t's columns on the target.
func expectTargetColumns(mock sqlmock.Sqlmock) {
	mock.ExpectQuery(q(targetColumnsQuery)).
		WithArgs("db", "t").WillReturnRows(sqlmock.NewRows([]string{"c", "e", "k", "d"}).
		AddRow("id", "", "", "int").AddRow("v", "", "utf8mb4_general_ci", "varchar"))
}

// expectFence opens a target transaction whose fence holds epoch.
func expectFence(mock sqlmock.Sqlmock, epoch int) {
	mock.ExpectBegin()
	mock.ExpectQuery(q("SELECT epoch FROM dmnode_meta.fence WHERE task = ? AND source = ? LOCK IN SHARE MODE")).
		WithArgs("t", "s").WillReturnRows(sqlmock.NewRows([]string{"epoch"}).AddRow(epoch))
}

const loadDataStmt = "LOAD DATA LOCAL INFILE 'Reader::dmnode-load-"

func TestLoaderApply(t *testing.T) {
	insert := "INSERT INTO `db`.`t` (`id`,`v`) VALUES (?,?),(?,?)"
	replace := "REPLACE INTO `db`.`t` (`id`,`v`) VALUES (?,?),(?,?)"
	args := []driver.Value{int64(1), "v1", int64(2), "v2"}
	for _, c := range []struct {
		name     string
		loadData bool
		expect   func(sqlmock.Sqlmock)
		err      func(error) bool // nil: no error
		loadLeft bool             // LOAD DATA still used after
	}{
		{"load data", true, func(m sqlmock.Sqlmock) {
			expectFence(m, 1)
			m.ExpectExec(q(loadDataStmt)).WillReturnResult(sqlmock.NewResult(0, 2))
			m.ExpectQuery(q("SELECT @@warning_count")).WillReturnRows(sqlmock.NewRows([]string{"w"}).AddRow(0))
			m.ExpectCommit()
		}, nil, true},
		{"load data warns: insert", true, func(m sqlmock.Sqlmock) {
			expectFence(m, 1)
			m.ExpectExec(q(loadDataStmt)).WillReturnResult(sqlmock.NewResult(0, 2))
			m.ExpectQuery(q("SELECT @@warning_count")).WillReturnRows(sqlmock.NewRows([]string{"w"}).AddRow(1))
			m.ExpectRollback()
			expectFence(m, 1)
			m.ExpectExec(q(insert)).WithArgs(args...).WillReturnResult(sqlmock.NewResult(0, 2))
			m.ExpectCommit()
		}, nil, true},
		{"load data refused: insert from then on", true, func(m sqlmock.Sqlmock) {
			expectFence(m, 1)
			m.ExpectExec(q(loadDataStmt)).WillReturnError(&mysql.MySQLError{Number: 1148, Message: "The used command is not allowed"})
			m.ExpectRollback()
			expectFence(m, 1)
			m.ExpectExec(q(insert)).WithArgs(args...).WillReturnResult(sqlmock.NewResult(0, 2))
			m.ExpectCommit()
		}, nil, false},
		{"load data deadlock: an error", true, func(m sqlmock.Sqlmock) {
			expectFence(m, 1)
			m.ExpectExec(q(loadDataStmt)).WillReturnError(&mysql.MySQLError{Number: 1213, Message: "Deadlock found"})
			m.ExpectRollback()
		}, func(err error) bool { return strings.Contains(err.Error(), "load db.t chunk 0: target: load data") }, true},
		{"rows already there: replace", false, func(m sqlmock.Sqlmock) {
			expectFence(m, 1)
			m.ExpectExec(q(insert)).WithArgs(args...).WillReturnError(&mysql.MySQLError{Number: 1062, Message: "Duplicate entry '1' for key 'PRIMARY'"})
			m.ExpectRollback()
			expectFence(m, 1)
			m.ExpectExec(q(replace)).WithArgs(args...).WillReturnResult(sqlmock.NewResult(0, 4))
			m.ExpectCommit()
		}, nil, false},
		{"fence taken over", true, func(m sqlmock.Sqlmock) {
			expectFence(m, 2)
			m.ExpectRollback()
		}, func(err error) bool { return errors.Is(err, jetstream.ErrFenced) }, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			db, mock := newSourceMock(t)
			ld := newLoadRun(t, memstore.New(), db, catalog.StageLoad, new([]catalog.Command))
			ld.loadData.Store(c.loadData)
			expectTargetColumns(mock)
			c.expect(mock)
			n, err := ld.apply(t.Context(), tRows(t, 0, 2))
			switch {
			case c.err == nil && err != nil:
				t.Fatal(err)
			case c.err != nil && (err == nil || !c.err(err)):
				t.Fatalf("apply: %v", err)
			case c.err == nil && n != 2:
				t.Errorf("applied %d rows, want 2", n)
			}
			if err := mock.ExpectationsWereMet(); err != nil {
				t.Fatal(err)
			}
			if ld.loadData.Load() != c.loadLeft {
				t.Errorf("LOAD DATA in use after: %v, want %v", ld.loadData.Load(), c.loadLeft)
			}
		})
	}
}

// A message the loader cannot decode, or whose rows the task's table has
// no target for, is a permanent error.
func TestLoaderApplyRefuses(t *testing.T) {
	db, mock := newSourceMock(t)
	ld := newLoadRun(t, memstore.New(), db, catalog.StageLoad, new([]catalog.Command))
	if _, err := ld.apply(t.Context(), []byte{0xff, 1, 2}); err == nil || !IsPermanent(err) {
		t.Fatalf("apply of garbage: %v, want a permanent error", err)
	}
	// db.gone is not on the target and the dump recorded no schema of it.
	mock.ExpectQuery(q("information_schema.COLUMNS")).WithArgs("db", "gone").WillReturnRows(sqlmock.NewRows([]string{"c", "e", "k"}))
	rb := &jetstream.RowBatch{Source: "s", Table: dmnode.TableID{Schema: "db", Table: "gone"}, Columns: []string{"id"}, Rows: [][]any{{int64(1)}}}
	data, _ := jetstream.EncodeRowBatch(nil, rb)
	if _, err := ld.apply(t.Context(), data); err == nil || !IsPermanent(err) || !strings.Contains(err.Error(), "db.gone") {
		t.Fatalf("apply to a table with no target and no schema: %v", err)
	}
	if err := mock.ExpectationsWereMet(); err != nil {
		t.Fatal(err)
	}
}

// The loader runs to the end of the queue once the dump is done: every
// message loaded and acknowledged, the rows counted, the deferred indexes
// added, then the stage recorded done.
func TestLoaderRun(t *testing.T) {
	ctx := t.Context()
	st := memstore.New()
	sq, _ := st.SnapshotQueue(ctx, "t")
	for chunk := range 2 {
		if err := sq.Publish(ctx, "s", "", tRows(t, chunk, 3)); err != nil {
			t.Fatal(err)
		}
	}
	idx := loadIndexes{Schema: "db", Table: "t", Indexes: []schema.SecondaryIndex{{Name: "kv", Clause: "ADD INDEX `kv`(`v`)"}}}
	if err := st.Put(ctx, loadIndexKey("t", "s", "db", "t"), idx); err != nil {
		t.Fatal(err)
	}
	db, mock := newSourceMock(t)
	expectTargetColumns(mock)
	for range 2 {
		expectFence(mock, 1)
		mock.ExpectExec(q(loadDataStmt)).WillReturnResult(sqlmock.NewResult(0, 3))
		mock.ExpectQuery(q("SELECT @@warning_count")).WillReturnRows(sqlmock.NewRows([]string{"w"}).AddRow(0))
		mock.ExpectCommit()
	}
	// The indexes: those on the table, the target's kind, the ALTER.
	expectTargetColumns(mock)
	mock.ExpectQuery(q("SELECT DISTINCT INDEX_NAME FROM information_schema.STATISTICS")).WithArgs("db", "t").
		WillReturnRows(sqlmock.NewRows([]string{"n"}).AddRow("PRIMARY"))
	mock.ExpectQuery(q("SELECT VERSION()")).WillReturnRows(sqlmock.NewRows([]string{"v"}).AddRow("10.11.6-MariaDB"))
	mock.ExpectExec(q("ALTER TABLE `db`.`t` ADD INDEX `kv`(`v`)")).WillReturnResult(sqlmock.NewResult(0, 0))

	var proposed []catalog.Command
	ld := newLoadRun(t, st, db, catalog.StageLoad, &proposed)
	defer ld.adapt("t", config.DBConfig{Host: "127.0.0.1", Port: 4000}, 1)()
	cons, err := sq.Consume(ctx, "s", 1, loadMaxAckPending(1)+jetstream.MaxFragments, loadPrefetch(1))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Stop()
	if err := ld.run(ctx, cons, 1); err != nil {
		t.Fatal(err)
	}
	if err := mock.ExpectationsWereMet(); err != nil {
		t.Fatal(err)
	}
	if len(proposed) != 1 || proposed[0].Op != catalog.OpStageDone || proposed[0].Stage != catalog.StageLoad {
		t.Fatalf("proposed %+v", proposed)
	}
	var p LoadProgress
	if _, err := st.Load(ctx, loadProgKey("t", "s"), &p); err != nil || p.RowsLoaded != 6 || !p.Loaded || p.Connections != 1 {
		t.Errorf("progress %+v, %v", p, err)
	}
	if q := st.Queued("t", "s"); len(q) != 0 {
		t.Errorf("%d messages left in the queue", len(q))
	}
	// The source's part of the queue is dropped, its consumer with it.
	if _, _, err := cons.Next(10 * time.Millisecond); err == nil {
		t.Error("the source's consumer is left after the load")
	}
	if e, ok, _ := st.Get(ctx, loadIndexKey("t", "s", "db", "t")); ok {
		t.Errorf("the index record is left after the indexes were added: %s", e.Value)
	}
	if n, _ := ld.connections(); n != 1 {
		t.Errorf("connections %d, want the pool's 1", n)
	}
}

// A loader that dropped its source's stream but could not record its load
// done (its node died, or the leader was lost) leaves no stream behind; the
// next incarnation finds the stream empty, loads nothing and records the
// load done.
func TestLoaderRunAfterDrop(t *testing.T) {
	ctx := t.Context()
	st := memstore.New()
	sq, _ := st.SnapshotQueue(ctx, "t")
	if err := sq.Publish(ctx, "s", "", tRows(t, 0, 3)); err != nil {
		t.Fatal(err)
	}
	db, mock := newSourceMock(t)
	expectTargetColumns(mock)
	expectFence(mock, 1)
	mock.ExpectExec(q(loadDataStmt)).WillReturnResult(sqlmock.NewResult(0, 3))
	mock.ExpectQuery(q("SELECT @@warning_count")).WillReturnRows(sqlmock.NewRows([]string{"w"}).AddRow(0))
	mock.ExpectCommit()

	var proposed []catalog.Command
	for epoch, lost := range []bool{true, false} {
		ld := newLoadRun(t, st, db, catalog.StageLoad, &proposed)
		defer ld.adapt(fmt.Sprintf("t-drop-%d", epoch), config.DBConfig{Host: "127.0.0.1", Port: 4000}, 1)()
		if lost {
			ld.l.env.Propose = func(context.Context, catalog.Command) error { return errors.New("leadership lost") }
		}
		cons, err := sq.Consume(ctx, "s", uint64(epoch+1), loadMaxAckPending(1)+jetstream.MaxFragments, loadPrefetch(1))
		if err != nil {
			t.Fatal(err)
		}
		err = ld.run(ctx, cons, 1)
		if lost && (err == nil || !strings.Contains(err.Error(), "record load done")) {
			t.Fatalf("run with the record lost: %v", err)
		}
		if !lost && err != nil {
			t.Fatal(err)
		}
		// Dropped: the source's messages and its consumer are gone.
		if _, _, err := cons.Next(10 * time.Millisecond); err == nil {
			t.Errorf("epoch %d: the source's consumer is left", epoch+1)
		}
		cons.Stop()
		if q := st.Queued("t", "s"); len(q) != 0 {
			t.Errorf("epoch %d: %d messages left", epoch+1, len(q))
		}
	}
	if err := mock.ExpectationsWereMet(); err != nil {
		t.Fatal(err)
	}
	if len(proposed) != 1 || proposed[0].Op != catalog.OpStageDone || proposed[0].Stage != catalog.StageLoad {
		t.Fatalf("proposed %+v", proposed)
	}
}

// A load whose target rejects a message stops with the error and records
// nothing done; the message stays in the queue for the next incarnation.
func TestLoaderRunFails(t *testing.T) {
	ctx := t.Context()
	st := memstore.New()
	sq, _ := st.SnapshotQueue(ctx, "t")
	if err := sq.Publish(ctx, "s", "", tRows(t, 0, 2)); err != nil {
		t.Fatal(err)
	}
	db, mock := newSourceMock(t)
	expectTargetColumns(mock)
	expectFence(mock, 5)
	mock.ExpectRollback()
	var proposed []catalog.Command
	ld := newLoadRun(t, st, db, catalog.StageLoad, &proposed)
	defer ld.adapt("t-fails", config.DBConfig{Host: "127.0.0.1", Port: 4000}, 2)()
	cons, err := sq.Consume(ctx, "s", 1, loadMaxAckPending(2)+jetstream.MaxFragments, loadPrefetch(2))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Stop()
	if err := ld.run(ctx, cons, 2); !errors.Is(err, jetstream.ErrFenced) {
		t.Fatalf("run: %v, want fenced", err)
	}
	if len(proposed) != 0 {
		t.Errorf("proposed %+v", proposed)
	}
	if q := st.Queued("t", "s"); len(q) != 1 {
		t.Errorf("%d messages in the queue, want the one not loaded", len(q))
	}
}

// The loader's hook on table creation records the secondary indexes and
// creates the table without them; a table without any is left as it is.
func TestDeferIndexes(t *testing.T) {
	ctx := t.Context()
	st := memstore.New()
	ld := newLoadRun(t, st, nil, catalog.StageLoad, new([]catalog.Command))
	create := "CREATE TABLE `db`.`t` (\n  `id` int NOT NULL,\n  `v` varchar(20) DEFAULT NULL,\n  PRIMARY KEY (`id`),\n  KEY `kv` (`v`)\n)"
	bare, err := ld.deferIndexes(ctx, "db", "t", create)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(bare, "kv") || !strings.Contains(bare, "PRIMARY KEY") {
		t.Errorf("created as %s", bare)
	}
	var rec loadIndexes
	if _, err := st.Load(ctx, loadIndexKey("t", "s", "db", "t"), &rec); err != nil || len(rec.Indexes) != 1 || rec.Indexes[0].Name != "kv" {
		t.Fatalf("record %+v, %v", rec, err)
	}
	plain := "CREATE TABLE `db`.`u` (\n  `id` int NOT NULL,\n  PRIMARY KEY (`id`)\n)"
	if got, err := ld.deferIndexes(ctx, "db", "u", plain); err != nil || got != plain {
		t.Errorf("a table without secondary indexes: %q, %v", got, err)
	}
	if _, ok, _ := st.Get(ctx, loadIndexKey("t", "s", "db", "u")); ok {
		t.Errorf("a record for a table without secondary indexes")
	}
	// The store failing: the table is not created without its indexes.
	st.Inject(memstore.Fault{Op: memstore.Put, Nth: 1, Err: errInjected})
	if _, err := ld.deferIndexes(ctx, "db", "t", create); !errors.Is(err, errInjected) {
		t.Errorf("with the store failing: %v", err)
	}
}

// The indexes wait for the task's last loader; adding them copes with a
// table gone and with an index another loader added meanwhile.
func TestFinishIndexes(t *testing.T) {
	ctx := t.Context()
	idx := loadIndexes{Schema: "db", Table: "t", Indexes: []schema.SecondaryIndex{
		{Name: "kv", Clause: "ADD INDEX `kv`(`v`)"}, {Name: "kid", Clause: "ADD INDEX `kid`(`id`, `v`)"}}}

	t.Run("another source still loading", func(t *testing.T) {
		st := memstore.New()
		st.Put(ctx, loadIndexKey("t", "s", "db", "t"), idx)
		db, mock := newSourceMock(t)
		ld := newLoadRun(t, st, db, catalog.StageLoad, new([]catalog.Command))
		ld.l.env.Catalog().Tasks["t"].Sources["s2"] = &catalog.TaskSource{Stage: catalog.StageDump}
		ld.l.env.Catalog().Tasks["t"].Sources["s3"] = &catalog.TaskSource{Stage: catalog.StageLoad}
		st.Put(ctx, loadProgKey("t", "s3"), LoadProgress{Loaded: true})
		waiting, err := ld.sourcesLoading(ctx)
		if err != nil || len(waiting) != 1 || waiting[0] != "s2" {
			t.Fatalf("sources loading %v, %v; want s2 (s3 is loaded)", waiting, err)
		}
		if err := ld.finishIndexes(ctx); err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := st.Get(ctx, loadIndexKey("t", "s", "db", "t")); !ok {
			t.Error("the record went before the last loader added the indexes")
		}
		var p LoadProgress
		if _, err := st.Load(ctx, loadProgKey("t", "s"), &p); err != nil || !p.Loaded {
			t.Errorf("progress %+v, %v: the source should be marked loaded", p, err)
		}
		if err := mock.ExpectationsWereMet(); err != nil {
			t.Fatal(err) // nothing sent to the target
		}
	})

	t.Run("table gone", func(t *testing.T) {
		st := memstore.New()
		st.Put(ctx, loadIndexKey("t", "s", "db", "t"), idx)
		db, mock := newSourceMock(t)
		mock.ExpectQuery(q("information_schema.COLUMNS")).WithArgs("db", "t").WillReturnRows(sqlmock.NewRows([]string{"c", "e", "k"}))
		ld := newLoadRun(t, st, db, catalog.StageLoad, new([]catalog.Command))
		if err := ld.finishIndexes(ctx); err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := st.Get(ctx, loadIndexKey("t", "s", "db", "t")); ok {
			t.Error("the record of a table gone is kept")
		}
		if err := mock.ExpectationsWereMet(); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("one added meanwhile", func(t *testing.T) {
		st := memstore.New()
		st.Put(ctx, loadIndexKey("t", "s", "db", "t"), idx)
		db, mock := newSourceMock(t)
		ld := newLoadRun(t, st, db, catalog.StageLoad, new([]catalog.Command))
		// kv is there already: only kid is added, and fails as another
		// loader added it meanwhile; the second look finds both.
		expectTargetColumns(mock)
		mock.ExpectQuery(q("information_schema.STATISTICS")).WillReturnRows(sqlmock.NewRows([]string{"n"}).AddRow("PRIMARY").AddRow("KV"))
		mock.ExpectQuery(q("SELECT VERSION()")).WillReturnRows(sqlmock.NewRows([]string{"v"}).AddRow("8.0.36"))
		mock.ExpectExec("^" + q("ALTER TABLE `db`.`t` ADD INDEX `kid`(`id`, `v`)") + "$").
			WillReturnError(&mysql.MySQLError{Number: 1061, Message: "Duplicate key name 'kid'"})
		expectTargetColumns(mock)
		mock.ExpectQuery(q("information_schema.STATISTICS")).WillReturnRows(sqlmock.NewRows([]string{"n"}).AddRow("PRIMARY").AddRow("kv").AddRow("kid"))
		if err := ld.finishIndexes(ctx); err != nil {
			t.Fatal(err)
		}
		if err := mock.ExpectationsWereMet(); err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := st.Get(ctx, loadIndexKey("t", "s", "db", "t")); ok {
			t.Error("the record is kept after the indexes are all there")
		}
	})

	t.Run("the target refuses", func(t *testing.T) {
		st := memstore.New()
		st.Put(ctx, loadIndexKey("t", "s", "db", "t"), idx)
		db, mock := newSourceMock(t)
		ld := newLoadRun(t, st, db, catalog.StageLoad, new([]catalog.Command))
		expectTargetColumns(mock)
		mock.ExpectQuery(q("information_schema.STATISTICS")).WillReturnRows(sqlmock.NewRows([]string{"n"}).AddRow("PRIMARY"))
		mock.ExpectQuery(q("SELECT VERSION()")).WillReturnRows(sqlmock.NewRows([]string{"v"}).AddRow("8.0.36"))
		mock.ExpectExec(q("ALTER TABLE `db`.`t` ADD INDEX `kv`(`v`), ADD INDEX `kid`(`id`, `v`)")).
			WillReturnError(&mysql.MySQLError{Number: 1071, Message: "Specified key was too long"})
		err := ld.finishIndexes(ctx)
		if err == nil || !strings.Contains(err.Error(), "add the secondary indexes of db.t after the load") {
			t.Fatalf("finish: %v", err)
		}
		if _, ok, _ := st.Get(ctx, loadIndexKey("t", "s", "db", "t")); !ok {
			t.Error("the record went with the indexes not added")
		}
	})

	t.Run("a record unreadable", func(t *testing.T) {
		st := memstore.New()
		ld := newLoadRun(t, st, nil, catalog.StageLoad, new([]catalog.Command))
		st.Put(ctx, loadIndexKey("t", "s", "db", "t"), "not a record")
		if err := ld.finishIndexes(ctx); err == nil || !strings.Contains(err.Error(), loadIndexKey("t", "s", "db", "t")) {
			t.Fatalf("finish with a corrupt record: %v", err)
		}
	})
}

// Rows with a value LOAD DATA has no form for (bytes, whose charset it
// would convert) are INSERTed; LOAD DATA stays in use for the next.
func TestLoaderApplyBytesInsert(t *testing.T) {
	db, mock := newSourceMock(t)
	ld := newLoadRun(t, memstore.New(), db, catalog.StageLoad, new([]catalog.Command))
	rb := &jetstream.RowBatch{Source: "s", Table: dmnode.TableID{Schema: "db", Table: "t"}, Columns: []string{"id", "v"},
		Key: []int{0}, Last: true, Rows: [][]any{{int64(1), []byte{0xff, 0x00}}}}
	data, err := jetstream.EncodeRowBatch(nil, rb)
	if err != nil {
		t.Fatal(err)
	}
	expectTargetColumns(mock)
	expectFence(mock, 1)
	mock.ExpectExec(q("INSERT INTO `db`.`t` (`id`,`v`) VALUES (?,?)")).WithArgs(int64(1), []byte{0xff, 0x00}).WillReturnResult(sqlmock.NewResult(0, 1))
	mock.ExpectCommit()
	if n, err := ld.apply(t.Context(), data); err != nil || n != 1 {
		t.Fatalf("apply: %d, %v", n, err)
	}
	if err := mock.ExpectationsWereMet(); err != nil {
		t.Fatal(err)
	}
	if !ld.loadData.Load() {
		t.Error("LOAD DATA given up for a row it declined")
	}
}

// slowAck is a snapshot message whose first acknowledgements get no
// confirmation (they wait until their context ends), as when the
// consumer's leader dies holding one.
type slowAck struct {
	lost  int // attempts that get no confirmation
	err   error
	calls int
}

func (m *slowAck) Data() []byte    { return nil }
func (m *slowAck) Pending() uint64 { return 0 }
func (m *slowAck) Ack(ctx context.Context) error {
	m.calls++
	if m.calls <= m.lost {
		<-ctx.Done()
		return fmt.Errorf("acknowledge dumped rows: %w", ctx.Err())
	}
	return m.err
}

// An acknowledgement whose confirmation is lost is made again after one
// attempt's wait, not after the whole minute; an error that is not a
// timeout ends it at once.
func TestLoaderAckAttempts(t *testing.T) {
	defer func(d time.Duration) { loadAckAttempt = d }(loadAckAttempt)
	loadAckAttempt = 50 * time.Millisecond
	var done atomic.Bool
	ld := loaderOn(memstore.New(), &done)
	m := &slowAck{lost: 2}
	began := time.Now()
	if err := ld.ack(t.Context(), loaded{m: snapMsg{ms: []jetstream.SnapshotMsg{m}}, rows: 5}); err != nil {
		t.Fatalf("ack after two lost confirmations: %v", err)
	}
	if m.calls != 3 || ld.acked.Load() != 1 || ld.rows != 5 {
		t.Fatalf("%d attempts, %d acknowledged, %d rows; want 3, 1, 5", m.calls, ld.acked.Load(), ld.rows)
	}
	if took := time.Since(began); took > loadAckWait/2 {
		t.Fatalf("took %v: the lost confirmations were waited for to the end", took)
	}
	refused := &slowAck{err: errors.New("nats: no responders available for request")}
	if err := ld.ack(t.Context(), loaded{m: snapMsg{ms: []jetstream.SnapshotMsg{refused}}, rows: 5}); err == nil || refused.calls != 1 {
		t.Fatalf("an ack refused outright: err %v after %d attempts, want the error after 1", err, refused.calls)
	}
}

package actors

import (
	"context"
	"database/sql"
	"testing"

	"github.com/DATA-DOG/go-sqlmock"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/catalog"
	"github.com/dmnode/dmnode/core/config"
	"github.com/dmnode/dmnode/core/schema"
	"github.com/dmnode/dmnode/jetstream"
	"github.com/dmnode/dmnode/jetstream/memstore"
)

// The schemas of a dump's tables cross from the dumper to the loader as a
// store record (jetstream.DumpSchemas) pointing into the schema history;
// a bucket written before the record existed still gives the loader its
// schemas from the dump's table keys.

// A dumper records where its plan's schemas are; the loader finds every
// planned table's schema there without the dumper's table keys.
func TestDumpSchemasRecorded(t *testing.T) {
	ctx := t.Context()
	st := memstore.New()
	db, mock := newSourceMock(t)
	expectDumpTU(mock)
	d := &Dumper{env: dumpEnv(st, 4, new([]catalog.Command)), task: "t", source: "s",
		openSource: func(context.Context, config.DBConfig, int) (*sql.DB, error) { return db, nil }}
	if err := d.Run(ctx); err != nil {
		t.Fatal(err)
	}
	rec, ok, err := jetstream.LoadDumpSchemas(ctx, st, "t", "s")
	snap := dmnode.Position{File: "mysql-bin.000003", Pos: 1234, GTID: "3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5"}
	if err != nil || !ok || rec.Pos != snap || rec.Epoch != 4 {
		t.Fatalf("record %+v (%v), %v; want the snapshot %s at epoch 4", rec, ok, err, snap)
	}
	// The loader reads none of the dumper's checkpoint.
	if err := st.DeletePrefix(ctx, jetstream.DumpTablesPrefix("t", "s")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		table string
		cols  int
	}{{"t", 2}, {"u", 2}} {
		s, err := dumpSchema(ctx, d.env, "t", "s", dmnode.TableID{Schema: "db", Table: c.table})
		if err != nil || s == nil || s.Name != c.table || len(s.Columns) != c.cols {
			t.Errorf("schema of db.%s: %+v, %v", c.table, s, err)
		}
	}
	if s, err := dumpSchema(ctx, d.env, "t", "s", dmnode.TableID{Schema: "db", Table: "none"}); s != nil || err != nil {
		t.Errorf("a table the dump does not know: %+v, %v", s, err)
	}
}

// oldDumpTable is a dump's table key as a dumper before the record wrote
// it: the table's schema, chunk plan and chunks done.
func oldDumpTable(t *testing.T, st *memstore.Store, task, source string, tbl *schema.Table) {
	t.Helper()
	v := map[string]any{"schema": tbl, "key_col": 0, "min": "1", "step": 10, "chunks": 3, "done": []byte{3}, "rows": 20, "epoch": 1}
	if err := st.Put(t.Context(), jetstream.DumpTableKey(task, source, tbl.Schema, tbl.Name), v); err != nil {
		t.Fatal(err)
	}
}

// A loader resuming on a bucket of a version before the record (only the
// dump's table keys) finds its schemas there; once a dumper recorded
// where its schemas are, the record is read, not the table keys.
func TestDumpSchemaOfOldBucket(t *testing.T) {
	ctx := t.Context()
	st := memstore.New()
	env := taskEnvAt(st, 1, catalog.StageLoad, new([]catalog.Command))
	old, err := schema.ParseCreateTable("db", dumpCreates["t"])
	if err != nil {
		t.Fatal(err)
	}
	oldDumpTable(t, st, "t", "s", old)
	s, err := dumpSchema(ctx, env, "t", "s", dmnode.TableID{Schema: "db", Table: "t"})
	if err != nil || s == nil || s.Name != "t" || len(s.Columns) != 2 || s.Columns[0].Name != "id" {
		t.Fatalf("schema from the old bucket: %+v, %v", s, err)
	}
	if s, err := dumpSchema(ctx, env, "t", "s", dmnode.TableID{Schema: "db", Table: "u"}); s != nil || err != nil {
		t.Fatalf("a table the old bucket does not hold: %+v, %v", s, err)
	}

	// A new dump: its schemas at its snapshot, and the record.
	pos := dmnode.Position{File: "mysql-bin.000009", Pos: 4}
	wider, err := schema.ParseCreateTable("db", "CREATE TABLE `t` (`id` int NOT NULL, `v` varchar(20), `w` int, PRIMARY KEY (`id`))")
	if err != nil {
		t.Fatal(err)
	}
	tr := schema.NewTracker()
	tr.Put(wider)
	if err := putTracker(ctx, st.Schemas(), "s", pos, tr, jetstream.OriginSnapshot, "mysql"); err != nil {
		t.Fatal(err)
	}
	if err := recordDumpSchemas(ctx, env, "t", "s", pos); err != nil {
		t.Fatal(err)
	}
	s, err = dumpSchema(ctx, env, "t", "s", dmnode.TableID{Schema: "db", Table: "t"})
	if err != nil || s == nil || len(s.Columns) != 3 {
		t.Fatalf("schema with the record: %+v, %v; want the one at the record's snapshot, 3 columns", s, err)
	}
}

// The loader creates a missing target table from the schema of an old
// bucket's table key, as before the record.
func TestLoaderCreatesTableFromOldBucket(t *testing.T) {
	st := memstore.New()
	old, err := schema.ParseCreateTable("db", dumpCreates["t"])
	if err != nil {
		t.Fatal(err)
	}
	oldDumpTable(t, st, "t", "s", old)
	db, mock := newSourceMock(t)
	ld := newLoadRun(t, st, db, catalog.StageLoad, new([]catalog.Command))
	mock.ExpectQuery(q(targetColumnsQuery)).WithArgs("db", "t").WillReturnRows(sqlmock.NewRows([]string{"c", "e", "k", "d"}))
	mock.ExpectExec(q("CREATE DATABASE IF NOT EXISTS `db`")).WillReturnResult(sqlmock.NewResult(0, 1))
	mock.ExpectQuery(q("SELECT VERSION()")).WillReturnRows(sqlmock.NewRows([]string{"v"}).AddRow("10.11.6-MariaDB"))
	// The table as the old table key gives it.
	mock.ExpectExec(q("CREATE TABLE IF NOT EXISTS `db`.`t` (`id` INT NOT NULL,`v` VARCHAR(20) DEFAULT NULL,PRIMARY KEY(`id`))")).
		WillReturnResult(sqlmock.NewResult(0, 0))
	expectTargetColumns(mock)
	expectFence(mock, 1)
	mock.ExpectExec(q(loadDataStmt)).WillReturnResult(sqlmock.NewResult(0, 2))
	mock.ExpectQuery(q("SELECT @@warning_count")).WillReturnRows(sqlmock.NewRows([]string{"w"}).AddRow(0))
	mock.ExpectCommit()
	if n, err := ld.apply(t.Context(), tRows(t, 0, 2)); err != nil || n != 2 {
		t.Fatalf("apply: %d rows, %v", n, err)
	}
	if err := mock.ExpectationsWereMet(); err != nil {
		t.Fatal(err)
	}
}

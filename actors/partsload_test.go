package actors

import (
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/apply"
	"github.com/dmnode/dmnode/core/config"
	"github.com/dmnode/dmnode/core/rules"
	"github.com/dmnode/dmnode/tests/harness"
)

// A transaction in parts writes its runs of inserts with LOAD DATA on
// MariaDB, and gets what its INSERT statements would have given: rows
// already on the target are an INSERT's duplicate key outside safe mode
// (the load is undone and declined, the transaction goes on) and replaced
// in safe mode; a value the target rejects is declined, not warned about
// and cut; a table with an ENUM column is never loaded so.
func TestPartsLoad(t *testing.T) {
	ctx := t.Context()
	db := loadTestTarget(t, "CREATE TABLE d.t (id int PRIMARY KEY, v varchar(5), e enum('0','1') DEFAULT NULL)")
	traits, err := targetColumns(ctx, db, "d", "t")
	if err != nil {
		t.Fatal(err)
	}
	plan := (&rules.TablePlan{TargetSchema: "d", TargetTable: "t", Columns: []string{"id", "v"}}).WithTarget(traits)
	enumPlan := (&rules.TablePlan{TargetSchema: "d", TargetTable: "t", Columns: []string{"id", "e"}}).WithTarget(traits)
	if !plan.Text() || enumPlan.Text() {
		t.Fatalf("Text: int and varchar %v, with an enum %v; want true, false", plan.Text(), enumPlan.Text())
	}
	if _, ok := apply.LoadFile(nil, []apply.Change{{Plan: enumPlan, Kind: dmnode.Insert, After: []any{int64(9), int64(2)}}}); ok {
		t.Fatal("LoadFile wrote an ENUM's index as text")
	}

	m := &mariaTarget{db: db, task: "t", source: "s", log: slog.Default()}
	// load runs one Load of rows in a transaction, then the INSERT of
	// after in it, and commits.
	load := func(safe bool, after string, rows ...[]any) bool {
		t.Helper()
		var changes []apply.Change
		for _, r := range rows {
			changes = append(changes, apply.Change{Plan: plan, Key: []int{0}, Kind: dmnode.Insert, After: r, Safe: safe})
		}
		file, ok := apply.LoadFile(nil, changes)
		if !ok {
			t.Fatalf("LoadFile declined %v", rows)
		}
		ptx, err := m.BeginParts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer ptx.Rollback()
		done, err := ptx.Load(ctx, plan, file, len(rows), safe)
		if err != nil {
			t.Fatal(err)
		}
		if err := ptx.Exec(ctx, stmt{query: "INSERT INTO d.t (id, v) VALUES " + after}); err != nil {
			t.Fatalf("the transaction after Load: %v", err)
		}
		if err := ptx.Commit(); err != nil {
			t.Fatal(err)
		}
		return done
	}
	if !load(false, "(4, 'd')", []any{int64(2), "b\tc"}, []any{int64(3), nil}) {
		t.Error("new rows declined")
	}
	if load(false, "(6, 'f')", []any{int64(5), "e"}, []any{int64(1), "new"}) {
		t.Error("a row already on the target loaded outside safe mode")
	}
	if !load(true, "(7, 'g')", []any{int64(5), "e"}, []any{int64(1), "new"}) {
		t.Error("safe mode declined rows already on the target")
	}
	if load(false, "(9, 'i')", []any{int64(8), "toolong"}) {
		t.Error("a value longer than its column loaded")
	}
	m.noLoad.Store(true)
	if load(false, "(11, 'k')", []any{int64(10), "j"}) {
		t.Error("loaded on a target that refused LOAD DATA")
	}

	got, err := harness.QueryRows(db, "SELECT id, COALESCE(v, 'NULL') FROM d.t ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"1", "new"}, {"2", "b\tc"}, {"3", "NULL"}, {"4", "d"}, {"5", "e"}, {"6", "f"}, {"7", "g"}, {"9", "i"}, {"11", "k"}}
	if len(got) != len(want) {
		t.Fatalf("target rows %q, want %q", got, want)
	}
	for i := range want {
		if got[i][0] != want[i][0] || got[i][1] != want[i][1] {
			t.Fatalf("target rows %q, want %q", got, want)
		}
	}

	// Where the session's sql_mode is not strict, the target cuts the
	// value with a warning: declined, and nothing of the load stays.
	m.noLoad.Store(false)
	ptx, err := m.BeginParts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer ptx.Rollback()
	if err := ptx.Exec(ctx, stmt{query: "SET SESSION sql_mode = ''"}); err != nil {
		t.Fatal(err)
	}
	file, _ := apply.LoadFile(nil, []apply.Change{{Plan: plan, Kind: dmnode.Insert, After: []any{int64(12), "toolong"}}})
	if done, err := ptx.Load(ctx, plan, file, 1, false); err != nil || done {
		t.Errorf("a value cut with a warning: Load = %v, %v; want false, nil", done, err)
	}
	if err := ptx.Exec(ctx, stmt{query: "SET SESSION sql_mode = DEFAULT"}); err != nil {
		t.Fatal(err)
	}
	if err := ptx.Commit(); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM d.t WHERE id = 12").Scan(&n); err != nil || n != 0 {
		t.Errorf("rows of the declined load: %d, %v", n, err)
	}

	// A latin1 column gets its characters, converted from the file's
	// utf8mb4 as an INSERT's literal is from the connection's; one latin1
	// has no form for is declined (a warning), not stored as '?'.
	if _, err := db.ExecContext(ctx, "CREATE TABLE d.l (id int PRIMARY KEY, v varchar(8) CHARACTER SET latin1)"); err != nil {
		t.Fatal(err)
	}
	ltraits, err := targetColumns(ctx, db, "d", "l")
	if err != nil {
		t.Fatal(err)
	}
	lplan := (&rules.TablePlan{TargetSchema: "d", TargetTable: "l", Columns: []string{"id", "v"}}).WithTarget(ltraits)
	for _, tc := range []struct {
		v    string
		done bool
	}{{"café", true}, {"日本", false}} {
		ptx, err := m.BeginParts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		file, ok := apply.LoadFile(nil, []apply.Change{{Plan: lplan, Kind: dmnode.Insert, After: []any{int64(len(tc.v)), tc.v}}})
		if !ok {
			t.Fatalf("LoadFile declined a latin1 column")
		}
		done, err := ptx.Load(ctx, lplan, file, 1, false)
		if err != nil || done != tc.done {
			t.Errorf("latin1 %q: Load = %v, %v; want %v", tc.v, done, err, tc.done)
		}
		if err := ptx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	var hexed string
	if err := db.QueryRowContext(ctx, "SELECT GROUP_CONCAT(HEX(v)) FROM d.l").Scan(&hexed); err != nil || hexed != "636166E9" {
		t.Errorf("latin1 column holds %q, %v; want 636166E9 (café)", hexed, err)
	}
}

// A unit of at least bigLoadMinRows inserts into one table commits as one
// LOAD DATA with its checkpoint; outside safe mode a row already on the
// target makes it fall back to its INSERTs, which fail as they would have
// (a permanent error naming the INSERT, nothing of the unit written); in
// safe mode the row is replaced; fewer rows go as INSERTs.
func TestCommitLoad(t *testing.T) {
	ctx := t.Context()
	db := loadTestTarget(t, "CREATE TABLE d.t (id int PRIMARY KEY, v varchar(8))")
	if err := prepareMeta(ctx, db); err != nil {
		t.Fatal(err)
	}
	if err := claimFence(ctx, db, "t", "s", 1); err != nil {
		t.Fatal(err)
	}
	traits, err := targetColumns(ctx, db, "d", "t")
	if err != nil {
		t.Fatal(err)
	}
	plan := (&rules.TablePlan{TargetSchema: "d", TargetTable: "t", Columns: []string{"id", "v"}}).WithTarget(traits)
	m := &mariaTarget{db: db, task: "t", source: "s", epoch: 1, log: slog.Default(), crashAt: func(string) error { return nil }}
	r := &applyRun{target: m}
	ops := func(safe bool, ids ...int) []apply.Change {
		var out []apply.Change
		for _, id := range ids {
			out = append(out, apply.Change{Plan: plan, Key: []int{0}, Kind: dmnode.Insert, After: []any{int64(id), fmt.Sprintf("r%d", id)}, Safe: safe})
		}
		return out
	}
	span := func(from, to int) []int {
		var ids []int
		for id := from; id <= to; id++ {
			ids = append(ids, id)
		}
		return ids
	}
	commit := func(ops []apply.Change, pos uint32) ([]stmt, error) {
		stmts := r.withLoad(ctx, ops, statements(ops, nil, loadRowsPerStmt))
		return stmts, m.Commit(ctx, targetTxn{Stmts: stmts, Pos: dmnode.Position{File: "mysql-bin.000001", Pos: pos}})
	}
	if stmts, err := commit(ops(false, span(2, 201)...), 100); err != nil || len(stmts) != 1 || stmts[0].load == nil {
		t.Fatalf("200 new rows: %d statements, load %v, %v", len(stmts), len(stmts) == 1 && stmts[0].load != nil, err)
	}
	_, err = commit(ops(false, append(span(202, 351), 1)...), 200)
	var ae *ApplyError
	if !IsPermanent(err) || !errors.As(err, &ae) || !strings.HasPrefix(ae.Statement, "INSERT INTO `d`.`t`") || !strings.Contains(err.Error(), "Duplicate entry '1'") {
		t.Fatalf("a row already there outside safe mode: %v", err)
	}
	if _, err := commit(ops(true, append(span(202, 351), 1)...), 300); err != nil {
		t.Fatalf("the same in safe mode: %v", err)
	}
	if stmts, err := commit(ops(false, span(352, 450)...), 400); err != nil || len(stmts) == 0 || stmts[0].load != nil {
		t.Fatalf("99 rows: a load %v, %v", len(stmts) > 0 && stmts[0].load != nil, err)
	}

	want := [][]string{}
	for id := 1; id <= 450; id++ {
		want = append(want, []string{fmt.Sprint(id), fmt.Sprintf("r%d", id)})
	}
	got, err := harness.QueryRows(db, "SELECT id, v FROM d.t ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	if diff := harness.SameRows(want, got); diff != "" {
		t.Fatalf("target rows: %s", diff)
	}
	var pos uint32
	if err := db.QueryRowContext(ctx, "SELECT binlog_pos FROM "+MetaSchema+".checkpoint WHERE task = 't' AND source = 's'").Scan(&pos); err != nil || pos != 400 {
		t.Fatalf("checkpoint at %d, %v; want 400", pos, err)
	}
}

// loadTestTarget starts a MariaDB target with database d holding the table
// ddl creates and its row (1, 'old'), and opens it as the appliers do.
func loadTestTarget(t *testing.T, ddl string) *sql.DB {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a MariaDB server: skipped under -short")
	}
	tgt := harness.StartMariaDB(t, harness.Options{ServerID: 100})
	db, err := openWriteTarget(t.Context(), config.DBConfig{Host: "127.0.0.1", Port: tgt.Port, User: "root"}, 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	tgt.Exec(t, "CREATE DATABASE d", ddl, "INSERT INTO d.t (id, v) VALUES (1, 'old')")
	return db
}

// dmnode_meta is created binary, whatever the server's default collation:
// rows of task names that differ only in case, or of names in any script,
// stay apart.
func TestMetaSchemaBinary(t *testing.T) {
	ctx := t.Context()
	db := loadTestTarget(t, "CREATE TABLE d.t (id int PRIMARY KEY, v varchar(8))")
	if err := prepareMeta(ctx, db); err != nil {
		t.Fatal(err)
	}
	names := []string{"orders", "Orders", "迁移", "复制", "café", "cafe"}
	for i, name := range names {
		if err := claimFence(ctx, db, name, "s", uint64(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	for i, name := range names {
		var epoch uint64
		if err := db.QueryRowContext(ctx, "SELECT epoch FROM "+MetaSchema+".fence WHERE task = ? AND source = 's'", name).Scan(&epoch); err != nil || epoch != uint64(i+1) {
			t.Errorf("fence of %q: epoch %d, %v; want %d", name, epoch, err, i+1)
		}
	}
	var collation string
	if err := db.QueryRowContext(ctx, "SELECT DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", MetaSchema).Scan(&collation); err != nil || collation != "utf8mb4_bin" {
		t.Errorf("%s collation %q, %v", MetaSchema, collation, err)
	}
}

package node

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/DATA-DOG/go-sqlmock"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/catalog"
	"github.com/dmnode/dmnode/core/config"
	"github.com/dmnode/dmnode/jetstream"
	"github.com/dmnode/dmnode/jetstream/memstore"
)

// The cutover's steps against stand-in sources and targets (go-sqlmock):
// the freeze and its undoing, the wait for the appliers, the
// AUTO_INCREMENT raised on the target.

func newMock(t *testing.T) (*sql.DB, sqlmock.Sqlmock) {
	t.Helper()
	db, mock, err := sqlmock.New(sqlmock.QueryMatcherOption(sqlmock.QueryMatcherEqual))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, mock
}

func met(t *testing.T, name string, mock sqlmock.Sqlmock) {
	t.Helper()
	if err := mock.ExpectationsWereMet(); err != nil {
		t.Errorf("%s: %v", name, err)
	}
}

// syncTask adds task w, running, both its sources (s1, s2) in sync, and
// makes the control layer open the stand-ins given, one per open in turn.
func syncTask(t *testing.T, dbs ...*sql.DB) *testControl {
	t.Helper()
	tc := seeded(t)
	tc.store = memstore.New()
	tc.exec(catalog.Command{Op: catalog.OpSubmitTask, Task: &catalog.Task{Name: "w", File: "w.yaml", YAML: strings.Replace(ctlTaskYAML, "name: t\n", "name: w\n", 1),
		Mode: catalog.ModeAll, Sources: map[string]*catalog.TaskSource{"s1": {Stage: catalog.StageSync}, "s2": {Stage: catalog.StageSync}}}})
	tc.openDB = func(context.Context, config.DBConfig, int) (*sql.DB, error) {
		if len(dbs) == 0 {
			return nil, errors.New("no more stand-ins")
		}
		db := dbs[0]
		dbs = dbs[1:]
		return db, nil
	}
	return tc
}

func expectVersion(mock sqlmock.Sqlmock, v string) {
	mock.ExpectQuery("SELECT VERSION()").WillReturnRows(sqlmock.NewRows([]string{"v"}).AddRow(v))
}

func expectGrants(mock sqlmock.Sqlmock, grants ...string) {
	rows := sqlmock.NewRows([]string{"Grants"})
	for _, g := range grants {
		rows.AddRow(g)
	}
	mock.ExpectQuery("SHOW GRANTS").WillReturnRows(rows)
}

func expectExec(mock sqlmock.Sqlmock, stmts ...string) {
	for _, s := range stmts {
		mock.ExpectExec(s).WillReturnResult(sqlmock.NewResult(0, 0))
	}
}

func expectPosition(mock sqlmock.Sqlmock, p dmnode.Position, gtidVar string) {
	mock.ExpectQuery("SHOW MASTER STATUS").WillReturnRows(sqlmock.NewRows([]string{"File", "Position"}).AddRow(p.File, p.Pos))
	mock.ExpectQuery("SELECT " + gtidVar).WillReturnRows(sqlmock.NewRows([]string{"g"}).AddRow(""))
}

// A freeze that fails on one source is undone on every source frozen so
// far and on the one that failed, in the order each flavor needs (MySQL's
// super_read_only first); the report says why and that the sources are
// writable, and the task keeps running.
func TestCutoverUndoesAFailedFreeze(t *testing.T) {
	s1, m1 := newMock(t)
	s2, m2 := newMock(t)
	final := dmnode.Position{File: "bin.000004", Pos: 900}
	expectVersion(m1, "8.0.36")
	expectVersion(m2, "10.11.6-MariaDB")
	expectGrants(m1, "GRANT SELECT, SUPER, REPLICATION SLAVE ON *.* TO `dm`@`%`")
	expectGrants(m2, "GRANT SELECT, READ_ONLY ADMIN ON *.* TO `dm`@`%`")
	expectExec(m1, "SET GLOBAL read_only = ON", "SET GLOBAL super_read_only = ON")
	expectPosition(m1, final, "@@GLOBAL.gtid_executed")
	m2.ExpectExec("SET GLOBAL read_only = ON").WillReturnError(errors.New("Error 1227: Access denied"))
	expectExec(m1, "SET GLOBAL super_read_only = OFF", "SET GLOBAL read_only = OFF")
	expectExec(m2, "SET GLOBAL read_only = OFF")

	tc := syncTask(t, s1, s2)
	resp, err := tc.apiTaskCutover(t.Context(), &Request{Name: "w"})
	wantErr(t, "a failed freeze", err, "freeze source s2: SET GLOBAL read_only = ON: Error 1227: Access denied")
	met(t, "s1", m1)
	met(t, "s2", m2)
	rep := resp.Cutover
	if !rep.Unfrozen || !strings.Contains(rep.Failed, "Access denied") || rep.Sources[0].Final != final.String() {
		t.Errorf("report %+v", rep)
	}
	if d := tc.fsm.State().Tasks["w"].Desired; d != catalog.Running {
		t.Errorf("task w is %s after a failed cutover", d)
	}
}

// A source whose user may not set read_only is refused before anything is
// frozen, naming the source and the two ways out.
func TestCutoverRefusesWithoutReadOnlyGrant(t *testing.T) {
	s1, m1 := newMock(t)
	s2, m2 := newMock(t)
	expectVersion(m1, "8.0.36")
	expectVersion(m2, "8.0.36")
	expectGrants(m1, "GRANT ALL PRIVILEGES ON *.* TO `root`@`%`")
	expectGrants(m2, "GRANT SELECT, REPLICATION SLAVE ON *.* TO `dm`@`%`")
	tc := syncTask(t, s1, s2)
	resp, err := tc.apiTaskCutover(t.Context(), &Request{Name: "w"})
	wantErr(t, "no grant", err, "source s2: the user cannot SET GLOBAL read_only")
	wantErr(t, "no grant", err, "use --freeze=none")
	if strings.Contains(err.Error(), "source s1") {
		t.Errorf("s1 may freeze: %v", err)
	}
	met(t, "s1", m1)
	met(t, "s2", m2)
	if resp.Cutover.Unfrozen {
		t.Error("unfrozen what was never frozen")
	}
}

// --abort makes every source writable again, and does nothing else.
func TestCutoverAbort(t *testing.T) {
	s1, m1 := newMock(t)
	s2, m2 := newMock(t)
	expectVersion(m1, "8.0.36")
	expectVersion(m2, "10.11.6-MariaDB")
	expectExec(m1, "SET GLOBAL super_read_only = OFF", "SET GLOBAL read_only = OFF")
	expectExec(m2, "SET GLOBAL read_only = OFF")
	tc := syncTask(t, s1, s2)
	before := len(tc.cmd.ops())
	resp, err := tc.apiTaskCutover(t.Context(), &Request{Name: "w", Cutover: &Cutover{Abort: true}})
	if err != nil {
		t.Fatal(err)
	}
	met(t, "s1", m1)
	met(t, "s2", m2)
	if r := resp.Cutover; !r.Abort || !r.Unfrozen || r.Next != "the sources are writable again" {
		t.Errorf("report %+v", r)
	}
	if len(tc.cmd.ops()) != before {
		t.Errorf("an abort proposed %v", tc.cmd.ops()[before:])
	}

	// A source that stays read-only is named; the other is unfrozen all
	// the same.
	s1, m1 = newMock(t)
	s2, m2 = newMock(t)
	expectVersion(m1, "8.0.36")
	expectVersion(m2, "10.11.6-MariaDB")
	m1.ExpectExec("SET GLOBAL super_read_only = OFF").WillReturnError(errors.New("gone away"))
	expectExec(m2, "SET GLOBAL read_only = OFF")
	tc = syncTask(t, s1, s2)
	resp, err = tc.apiTaskCutover(t.Context(), &Request{Name: "w", Cutover: &Cutover{Abort: true}})
	wantErr(t, "a source that stays frozen", err, "unfreeze source s1: gone away")
	met(t, "s2", m2)
	if resp.Cutover.Unfrozen {
		t.Error("reported unfrozen")
	}
}

// cutoverOf is a cutover of task w of syncTask on stand-ins.
func cutoverOf(tc *testControl, opt Cutover, dbs map[string]*sql.DB) *cutover {
	in, err := tc.verifyInput("w")
	if err != nil {
		panic(err)
	}
	c := &cutover{n: tc.control, opt: opt, task: tc.fsm.State().Tasks["w"], in: in, dbs: dbs,
		flavor: map[string]string{"s1": "mysql", "s2": "mariadb"}, finals: map[string]dmnode.Position{},
		rep: &CutoverReport{Task: "w", Sources: []CutoverSource{{Source: "s1"}, {Source: "s2"}}}, log: slog.New(slog.DiscardHandler)}
	return c
}

func expectCheckpoint(mock sqlmock.Sqlmock, source string, p dmnode.Position) {
	q := mock.ExpectQuery("SELECT binlog_file, binlog_pos FROM dmnode_meta.checkpoint WHERE task = ? AND source = ?").WithArgs("w", source)
	if p.IsZero() {
		q.WillReturnRows(sqlmock.NewRows([]string{"binlog_file", "binlog_pos"}))
		return
	}
	q.WillReturnRows(sqlmock.NewRows([]string{"binlog_file", "binlog_pos"}).AddRow(p.File, p.Pos))
}

// The wait for the appliers ends for a source once its applier committed
// the final position, or, on an idle source, once it applied all the
// tailer relayed and the tailer heard the source caught up after the
// freeze. One that does not get there is named with where it is.
func TestCutoverWaitApplied(t *testing.T) {
	tgt, mt := newMock(t)
	tc := syncTask(t, tgt)
	ctx := t.Context()
	final1 := dmnode.Position{File: "bin.000004", Pos: 900}
	final2 := dmnode.Position{File: "bin.000002", Pos: 300}
	applied2 := dmnode.Position{File: "bin.000002", Pos: 250}
	frozenAt := time.Now().Add(-time.Minute)
	if err := tc.store.Put(ctx, jetstream.TailProgressKey("s2"), jetstream.TailProgress{
		Published: applied2, Upstream: final2, CaughtUp: time.Now()}); err != nil {
		t.Fatal(err)
	}
	c := cutoverOf(tc, Cutover{Freeze: FreezeReadOnly}, nil)
	c.finals["s1"], c.finals["s2"] = final1, final2
	c.rep.Sources[0].Final, c.rep.Sources[1].Final = final1.String(), final2.String()
	expectCheckpoint(mt, "s1", dmnode.Position{File: "bin.000004", Pos: 100}) // not yet
	expectCheckpoint(mt, "s1", final1)
	expectCheckpoint(mt, "s2", applied2)
	if err := c.waitApplied(ctx, frozenAt); err != nil {
		t.Fatal(err)
	}
	met(t, "target", mt)
	if c.rep.Sources[0].Applied != final1.String() || c.rep.Sources[1].Applied != applied2.String() {
		t.Errorf("applied %+v", c.rep.Sources)
	}

	// The tailer heard nothing since the freeze: s2's applier has not
	// reached its final position when the time is up.
	if err := tc.store.Put(ctx, jetstream.TailProgressKey("s2"), jetstream.TailProgress{
		Published: applied2, Upstream: final2, CaughtUp: frozenAt.Add(-time.Second)}); err != nil {
		t.Fatal(err)
	}
	tgt, mt = newMock(t)
	tc.openDB = func(context.Context, config.DBConfig, int) (*sql.DB, error) { return tgt, nil }
	expectCheckpoint(mt, "s1", final1)
	for range 1000 {
		expectCheckpoint(mt, "s2", dmnode.Position{})
	}
	wctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	err := c.waitApplied(wctx, frozenAt)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "s2") {
		t.Fatalf("an applier behind: %v, want the deadline's error naming s2", err)
	}
	// The deadline may end a read of the target or of the store instead
	// of the wait between two: then that read's error names the source.
	if strings.Contains(err.Error(), "the applier of") {
		wantErr(t, "an applier behind", err, "the applier of source s2 has committed -, not yet the final position bin.000002:300")
	}
}

// With --freeze=none the final positions are where the sources are when
// the wait starts.
func TestCutoverWaitAppliedUnfrozen(t *testing.T) {
	s1, m1 := newMock(t)
	s2, m2 := newMock(t)
	tgt, mt := newMock(t)
	tc := syncTask(t, tgt)
	p1 := dmnode.Position{File: "bin.000004", Pos: 900}
	p2 := dmnode.Position{File: "bin.000002", Pos: 300}
	expectPosition(m1, p1, "@@GLOBAL.gtid_executed")
	expectPosition(m2, p2, "@@GLOBAL.gtid_binlog_pos")
	expectCheckpoint(mt, "s1", p1)
	expectCheckpoint(mt, "s2", dmnode.Position{File: "bin.000003", Pos: 4})
	c := cutoverOf(tc, Cutover{Freeze: FreezeNone}, map[string]*sql.DB{"s1": s1, "s2": s2})
	if err := c.waitApplied(t.Context(), time.Time{}); err != nil {
		t.Fatal(err)
	}
	for _, m := range []sqlmock.Sqlmock{m1, m2, mt} {
		met(t, "stand-in", m)
	}
	if c.rep.Sources[0].Final != p1.String() || c.rep.Sources[1].Final != p2.String() || c.rep.Sources[1].Applied != "bin.000003:4" {
		t.Errorf("sources %+v", c.rep.Sources)
	}
	tc.openDB = func(context.Context, config.DBConfig, int) (*sql.DB, error) { return nil, errors.New("refused") }
	wantErr(t, "a target down", c.waitApplied(t.Context(), time.Now()), "target: refused")
}

// Every target table with an AUTO_INCREMENT column gets an AUTO_INCREMENT
// above its largest value (or the larger one the target keeps); a dry run
// computes it without changing the table; a value that is not a number
// names table and column. A table is found by its exact schema and name
// (a dot in a database name is no separator); a report stored before
// they were recorded is read by its display name.
func TestCutoverRaiseAutoIncrement(t *testing.T) {
	const (
		findCol  = "SELECT COLUMN_NAME FROM information_schema.COLUMNS\n\t\t\tWHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND EXTRA LIKE '%auto_increment%'"
		readBack = "SELECT AUTO_INCREMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?"
	)
	for _, dry := range []bool{false, true} {
		tgt, mt := newMock(t)
		tc := syncTask(t, tgt)
		c := cutoverOf(tc, Cutover{DryRun: dry}, nil)
		c.rep.Tables = []CutoverTable{{Target: "shop.eu.a", Schema: "shop.eu", Table: "a"}, {Target: "db.b"}, {Target: "db.e", Schema: "db", Table: "e"}}
		mt.ExpectQuery(findCol).WithArgs("shop.eu", "a").WillReturnRows(sqlmock.NewRows([]string{"c"}).AddRow("id"))
		mt.ExpectQuery("SELECT CAST(MAX(`id`) AS CHAR) FROM `shop.eu`.`a`").WillReturnRows(sqlmock.NewRows([]string{"m"}).AddRow("41"))
		if !dry {
			expectExec(mt, "ALTER TABLE `shop.eu`.`a` AUTO_INCREMENT = 42")
			mt.ExpectQuery(readBack).WithArgs("shop.eu", "a").WillReturnRows(sqlmock.NewRows([]string{"n"}).AddRow(50))
		}
		mt.ExpectQuery(findCol).WithArgs("db", "b").WillReturnRows(sqlmock.NewRows([]string{"c"}))
		mt.ExpectQuery(findCol).WithArgs("db", "e").WillReturnRows(sqlmock.NewRows([]string{"c"}).AddRow("n"))
		mt.ExpectQuery("SELECT CAST(MAX(`n`) AS CHAR) FROM `db`.`e`").WillReturnRows(sqlmock.NewRows([]string{"m"}).AddRow(nil))
		if !dry {
			expectExec(mt, "ALTER TABLE `db`.`e` AUTO_INCREMENT = 1")
			mt.ExpectQuery(readBack).WithArgs("db", "e").WillReturnRows(sqlmock.NewRows([]string{"n"}).AddRow(1))
		}
		if err := c.raiseAutoIncrement(t.Context()); err != nil {
			t.Fatal(err)
		}
		met(t, "target", mt)
		want := []CutoverTable{
			{Target: "shop.eu.a", Schema: "shop.eu", Table: "a", AutoIncColumn: "id", MaxID: 41, AutoIncrement: 42},
			{Target: "db.b"},
			{Target: "db.e", Schema: "db", Table: "e", AutoIncColumn: "n", AutoIncrement: 1},
		}
		if !dry {
			want[0].AutoIncrement = 50
		}
		if !slices.Equal(c.rep.Tables, want) {
			t.Errorf("dry run %v: tables %+v, want %+v", dry, c.rep.Tables, want)
		}
	}

	tgt, mt := newMock(t)
	tc := syncTask(t, tgt)
	c := cutoverOf(tc, Cutover{}, nil)
	c.rep.Tables = []CutoverTable{{Target: "db.a"}}
	mt.ExpectQuery(findCol).WithArgs("db", "a").WillReturnRows(sqlmock.NewRows([]string{"c"}).AddRow("id"))
	mt.ExpectQuery("SELECT CAST(MAX(`id`) AS CHAR) FROM `db`.`a`").WillReturnRows(sqlmock.NewRows([]string{"m"}).AddRow("1e9"))
	wantErr(t, "not a number", c.raiseAutoIncrement(t.Context()), `the largest id of db.a, "1e9"`)
}

package actors

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/catalog"
	"github.com/dmnode/dmnode/core/config"
	"github.com/dmnode/dmnode/core/rules"
	"github.com/dmnode/dmnode/core/schema"
	"github.com/dmnode/dmnode/jetstream"
)

// shardRun is an applier run of a task that merges db.t_1 and db.t_2 of
// source s into db.t with shard-mode pessimistic, over f and the
// catalog's state machine, opened as Run opens it: the resync state read
// from the target, the tables registered with the task's locks.
func shardRun(t *testing.T, f *fakeTarget, cat *catalog.State, applied dmnode.Position) *applyRun {
	t.Helper()
	return shardModeRun(t, f, cat, applied, config.ShardPessimistic)
}

// shardModeRun is shardRun with the given shard-mode.
func shardModeRun(t *testing.T, f *fakeTarget, cat *catalog.State, applied dmnode.Position, mode string) *applyRun {
	t.Helper()
	task := &config.Task{Name: "t", ShardMode: mode,
		Routes:         map[string]*config.RouteRule{"r": {SchemaPattern: "db", TablePattern: "t_*", TargetSchema: "db", TargetTable: "t"}},
		MySQLInstances: []config.Instance{{SourceID: "s", RouteRules: []string{"r"}}}}
	rl, err := rules.Compile(task, &task.MySQLInstances[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	f.rules = rl
	r := ddlRun(t, f, cat, applied)
	r.te.task, r.te.rules = task, rl
	ctx := context.Background()
	var vs []jetstream.TableVersion
	for _, name := range []string{"t_1", "t_2"} {
		tbl, err := schema.ParseCreateTable("db", "CREATE TABLE "+name+" (id BIGINT PRIMARY KEY, v VARCHAR(20))")
		if err != nil {
			t.Fatal(err)
		}
		vs = append(vs, jetstream.TableVersion{Pos: loopAt(0), Schema: "db", Name: name, Table: tbl})
	}
	if err := r.a.env.Store.Schemas().PutTables(ctx, "s", vs); err != nil {
		t.Fatal(err)
	}
	if err := r.openShard(ctx); err != nil {
		t.Fatal(err)
	}
	return r
}

func shardRow(table string, id int64, v string) dmnode.Change {
	return loopIns(table, loopRow(id, v))
}

// Shard DDL coordination, pessimistic: the first shard's ALTER waits for
// the other's, its later rows are held back and the checkpoint stays
// before its DDL, with the resync state committed beside it; a restart
// reads that state and holds the shard again. The second shard's ALTER
// runs the statement on the target once; the applier rewinds, the held
// rows are applied in safe mode and the others are not applied twice;
// the resync state is deleted once nothing is held.
func TestApplyShardPessimistic(t *testing.T) {
	ctx := context.Background()
	f := newFakeTarget(t)
	cat := ddlCatalog()
	r := shardRun(t, f, cat, loopAt(0))
	if st := cat.ShardDDL["t"]; st == nil || len(st.Registered) != 1 {
		t.Fatalf("shard tables not registered: %+v", st)
	}
	first := []dmnode.Txn{
		{Changes: []dmnode.Change{shardRow("t_1", 1, "t1-before"), shardRow("t_2", 101, "t2-before")}, End: loopAt(1), Time: 1},
		{Changes: []dmnode.Change{{DDL: "ALTER TABLE t_1 ADD COLUMN c INT", DDLSchema: "db", Table: dmnode.TableID{Schema: "db", Table: "t_1"}}}, End: loopAt(2), Time: 2},
		{Changes: []dmnode.Change{shardRow("t_1", 2, "t1-held"), shardRow("t_2", 102, "t2-goes-on")}, End: loopAt(3), Time: 3},
	}
	if err := feed(ctx, r, [][]dmnode.Txn{first}); err != nil {
		t.Fatal(err)
	}
	committed := func() string { return strings.Join(f.statements(), "\n") }
	if len(f.ddls) != 0 || f.checkpoint() != loopAt(1) || strings.Contains(committed(), "t1-held") || !strings.Contains(committed(), "t2-goes-on") {
		t.Fatalf("waiting: ran %q, checkpoint %s, committed\n%s", f.ddls, f.checkpoint(), committed())
	}
	if !strings.Contains(f.resync, `"held":true`) || !strings.Contains(f.resync, "t_1") {
		t.Fatalf("resync state %q: want t_1 held", f.resync)
	}

	// A restart reads the state, replays from the floor and holds t_1
	// again; t_2's rows are not applied twice.
	r = shardRun(t, f, cat, f.checkpoint())
	if h := r.shard.Holds[r.shard.members["db\x00t_1"].String()]; h == nil || h.Held || r.safeUntil != loopAt(3) {
		t.Fatalf("restart: hold %+v, safe until %s; want t_1's hold, not held until its DDL is read, safe mode up to %s", h, r.safeUntil, loopAt(3))
	}
	n := len(f.statements())
	if err := feed(ctx, r, [][]dmnode.Txn{first}); err != nil {
		t.Fatal(err)
	}
	if got := f.statements()[n:]; len(got) != 0 || f.checkpoint() != loopAt(1) {
		t.Fatalf("replay after restart: committed %q, checkpoint %s", got, f.checkpoint())
	}

	// t_2 reaches the DDL: it runs on the target.
	second := []dmnode.Txn{
		{Changes: []dmnode.Change{{DDL: "ALTER TABLE t_2 ADD COLUMN c INT", DDLSchema: "db", Table: dmnode.TableID{Schema: "db", Table: "t_2"}}}, End: loopAt(4), Time: 4},
	}
	if err := feed(ctx, r, [][]dmnode.Txn{second}); err != nil {
		t.Fatal(err)
	}
	if want := "ALTER TABLE `db`.`t` ADD COLUMN `c` INT"; strings.Join(f.ddls, "\n") != want {
		t.Fatalf("ran %q, want %q once", f.ddls, want)
	}
	if err := r.pollHolds(); !errors.Is(err, errRewind) {
		t.Fatalf("poll holds after the lock ran: %v, want a rewind", err)
	}
	// The rewind, as Run does it.
	r.shard.rewind()
	r.lastEnd = r.applied
	r.safeUntil = r.shard.Reached
	third := []dmnode.Txn{{Changes: []dmnode.Change{shardRow("t_2", 103, "t2-after")}, End: loopAt(5), Time: 5}}
	n = len(f.statements())
	if err := feed(ctx, r, [][]dmnode.Txn{first, second, third}); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(f.statements()[n:], "\n")
	if len(f.ddls) != 1 || f.checkpoint() != loopAt(5) || f.resync != "" {
		t.Fatalf("after re-sync: ran %q, checkpoint %s, resync state %q", f.ddls, f.checkpoint(), f.resync)
	}
	if !strings.Contains(got, "REPLACE") || !strings.Contains(got, "t1-held") || !strings.Contains(got, "t2-after") ||
		strings.Contains(got, "t2-goes-on") || strings.Contains(got, "before") {
		t.Fatalf("after re-sync committed\n%s\nwant t_1's held row in safe mode and t_2's new row, nothing twice", got)
	}
}

// Shard DDL of other kinds: a table created upstream joins the group, a
// dropped one leaves it (the target table stays), TRUNCATE is ignored, a
// RENAME cannot be coordinated and stops the source.
func TestApplyShardOtherDDL(t *testing.T) {
	ctx := context.Background()
	f := newFakeTarget(t)
	cat := ddlCatalog()
	r := shardRun(t, f, cat, loopAt(0))
	batch := []dmnode.Txn{
		ddlTxn(1, "t_3", "CREATE TABLE t_3 (id BIGINT PRIMARY KEY, v VARCHAR(20))"),
		ddlTxn(2, "t_1", "TRUNCATE TABLE t_1"),
		ddlTxn(3, "t_2", "DROP TABLE t_2"),
	}
	if err := feed(ctx, r, [][]dmnode.Txn{batch}); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.shard.members["db\x00t_3"]; !ok {
		t.Error("the created table did not join its group")
	}
	if _, ok := r.shard.members["db\x00t_2"]; ok {
		t.Error("the dropped table is still a member")
	}
	if len(f.ddls) != 0 || f.checkpoint() != loopAt(3) {
		t.Fatalf("ran %q, checkpoint %s; want nothing run on the merged table, checkpoint %s", f.ddls, f.checkpoint(), loopAt(3))
	}
	err := feed(ctx, r, [][]dmnode.Txn{{ddlTxn(4, "t_1", "RENAME TABLE t_1 TO t_9")}})
	if !IsPermanent(err) || !strings.Contains(err.Error(), "shard-mode") {
		t.Fatalf("rename of a shard table: %v", err)
	}
}

// Optimistic mode: the first shard's ADD COLUMN runs on the merged table
// at once, the other's is skipped; partition maintenance of a merged
// table, which optimistic mode does not coordinate, pauses the source with
// the command that runs it once.
func TestApplyShardOptimistic(t *testing.T) {
	ctx := context.Background()
	f := newFakeTarget(t)
	cat := ddlCatalog()
	r := shardModeRun(t, f, cat, loopAt(0), config.ShardOptimistic)
	batch := []dmnode.Txn{
		ddlTxn(1, "t_1", "ALTER TABLE t_1 ADD COLUMN c INT"),
		ddlTxn(2, "t_2", "ALTER TABLE t_2 ADD COLUMN c INT"),
	}
	if err := feed(ctx, r, [][]dmnode.Txn{batch}); err != nil {
		t.Fatal(err)
	}
	if want := "ALTER TABLE `db`.`t` ADD COLUMN `c` int NULL"; strings.Join(f.ddls, "\n") != want || f.checkpoint() != loopAt(2) {
		t.Fatalf("ran %q, checkpoint %s; want %q once, checkpoint %s", f.ddls, f.checkpoint(), want, loopAt(2))
	}
	if len(r.shard.Holds) != 0 || f.resync != "" {
		t.Fatalf("holds %v, resync state %q", r.shard.Holds, f.resync)
	}
	err := feed(ctx, r, [][]dmnode.Txn{{ddlTxn(3, "t_1", "ALTER TABLE t_1 COALESCE PARTITION 2")}})
	if !IsPermanent(err) || !strings.Contains(err.Error(), "shard-mode optimistic") ||
		!strings.Contains(err.Error(), "dmnode task replace t --source s --sql 'ALTER TABLE `db`.`t` COALESCE PARTITION 2'") {
		t.Fatalf("partition maintenance in optimistic mode: %v", err)
	}
	if len(f.ddls) != 1 || f.checkpoint() != loopAt(2) || cat.Rejections["t"] == nil {
		t.Fatalf("ran %q, checkpoint %s, rejection %+v", f.ddls, f.checkpoint(), cat.Rejections["t"])
	}
}

// A DDL the target rejects on one merged table quarantines that table
// instead of pausing the source: the run goes on, the rejection is
// recorded for the table, its rows are held from the DDL on, and the
// resync state says so.
func TestApplyShardQuarantine(t *testing.T) {
	ctx := context.Background()
	f := newFakeTarget(t)
	cat := ddlCatalog()
	r := shardRun(t, f, cat, loopAt(0))
	f.answer = func(stmt string) error {
		return classifyTargetError(&mysql.MySQLError{Number: 1062, Message: "Duplicate entry '1' for key 'uk'"})
	}
	batch := []dmnode.Txn{
		ddlTxn(1, "t_1", "ALTER TABLE t_1 ADD UNIQUE KEY uk (v)"),
		ddlTxn(2, "t_2", "ALTER TABLE t_2 ADD UNIQUE KEY uk (v)"),
		{Changes: []dmnode.Change{shardRow("t_1", 5, "t1-after")}, End: loopAt(3), Time: 3},
	}
	if err := feed(ctx, r, [][]dmnode.Txn{batch}); err != nil {
		t.Fatal(err)
	}
	if len(f.ddls) != 0 || strings.Contains(strings.Join(f.statements(), "\n"), "t1-after") {
		t.Fatalf("ran %q, committed %q", f.ddls, f.statements())
	}
	if !strings.Contains(f.resync, `"target":"db.t"`) {
		t.Fatalf("resync state %q: want db.t quarantined", f.resync)
	}
	rej := cat.Rejections["t"]
	if rej == nil || rej.Rejected[catalog.RejectionKey("s", "db.t")] == nil {
		t.Fatalf("rejections %+v: want db.t's", rej)
	}
}

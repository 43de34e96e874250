package actors

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/catalog"
	"github.com/dmnode/dmnode/core/config"
	"github.com/dmnode/dmnode/core/rules"
	"github.com/dmnode/dmnode/core/tidb"
	"github.com/dmnode/dmnode/jetstream/memstore"
)

// The applier's DDL, shard and part-sequence paths over the fake Target
// (applyloop_test.go) and the catalog's state machine: no MariaDB, no
// NATS, no Raft. fakeDB is the fake's schema side: the DDL statements it
// ran, what it says of its tables, and dmnode's records that a real
// target keeps in dmnode_meta.

type fakeDB struct {
	// ddls are the DDL statements the target ran, in order.
	ddls []string
	// answer, when set, is the target's answer to a DDL statement before
	// it runs it: an error refuses it.
	answer func(stmt string) error
	// ran, when set, is what running a DDL does to the fake's tables.
	ran func(stmt string)
	// creates holds the CREATE TABLE of target tables, by schema.table.
	creates map[string]string
	rowsFP  map[string]string // RowsFingerprint, by schema.table
	// inflightPos and inflightFP are the ddl_inflight record.
	inflightPos, inflightFP string
	// resync is the resync state row, "" when there is none.
	resync  string
	window  dmnode.Position
	forgets int
	// maxArgs, when set, is the most arguments a PartsTxn takes before
	// the target refuses it for its size.
	maxArgs int
	// tidb makes the target TiDB; partitioning is PartitionMethod's
	// answer, by schema.table.
	tidb         bool
	partitioning map[string]string
	// kept is dmnode_meta.online_ddl, by schema.table.
	kept map[string][]keptDDL
}

func (f *fakeTarget) Forget(schemaName, table string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.forgets++
	for k := range f.plans {
		if strings.HasPrefix(k, schemaName+"."+table+"\x00") {
			delete(f.plans, k)
		}
	}
}

func (f *fakeTarget) ForgetAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.forgets++
	clear(f.plans)
}

func (f *fakeDB) Dialect(ctx context.Context) (tidb.Version, bool, error) {
	if f.tidb {
		v, _ := tidb.ParseVersion("8.0.11-TiDB-v7.5.1")
		return v, true, nil
	}
	return tidb.Version{}, false, nil
}

func (f *fakeDB) AdaptDDL(ctx context.Context, stmt string) ([]string, error) {
	return []string{stmt}, nil
}

func (f *fakeDB) ExecDDL(ctx context.Context, stmt string) error {
	if f.answer != nil {
		if err := f.answer(stmt); err != nil {
			return err
		}
	}
	f.ddls = append(f.ddls, stmt)
	if f.ran != nil {
		f.ran(stmt)
	}
	return nil
}

func (f *fakeDB) CreateSchema(ctx context.Context, name string) error { return nil }

func (f *fakeDB) TableExists(ctx context.Context, schemaName, table string) (bool, error) {
	_, ok := f.creates[schemaName+"."+table]
	return ok, nil
}

func (f *fakeDB) ShowCreateTable(ctx context.Context, schemaName, table string) (string, bool, error) {
	c, ok := f.creates[schemaName+"."+table]
	return c, ok, nil
}

func (f *fakeDB) PartitionMethod(ctx context.Context, schemaName, table string) (string, error) {
	return f.partitioning[schemaName+"."+table], nil
}

func (f *fakeDB) PartitionsFingerprint(ctx context.Context, schemaName, table string) (string, error) {
	return "", nil
}

func (f *fakeDB) RowsFingerprint(ctx context.Context, schemaName, table string) (string, error) {
	return f.rowsFP[schemaName+"."+table], nil
}

func (f *fakeDB) InflightDDL(ctx context.Context) (string, string, error) {
	return f.inflightPos, f.inflightFP, nil
}

func (f *fakeDB) RecordInflightDDL(ctx context.Context, pos, fingerprint string) error {
	f.inflightPos, f.inflightFP = pos, fingerprint
	return nil
}

func (f *fakeDB) KeptOnlineDDL(ctx context.Context, schemaName, table string) ([]keptDDL, error) {
	return f.kept[schemaName+"."+table], nil
}

func (f *fakeDB) CreateMarker(ctx context.Context, name string) error {
	f.create(MetaSchema+"."+name, "CREATE TABLE "+name+" (x int)")
	return nil
}

func (f *fakeDB) DropMarker(ctx context.Context, name string) error {
	delete(f.creates, MetaSchema+"."+name)
	return nil
}

// create records a table of the target.
func (f *fakeDB) create(table, createSQL string) {
	if f.creates == nil {
		f.creates = map[string]string{}
	}
	f.creates[table] = createSQL
}

func (f *fakeDB) ResyncState(ctx context.Context) (string, bool, error) {
	return f.resync, f.resync != "", nil
}

// committed applies what a committed target transaction does to
// dmnode's records: the statements on dmnode_meta the applier adds.
// Called with fakeTarget.mu held.
func (f *fakeDB) committed(txn targetTxn) {
	for _, s := range append(append([]stmt(nil), txn.Stmts...), txn.State...) {
		switch {
		case strings.HasPrefix(s.query, "DELETE FROM "+MetaSchema+".ddl_inflight"):
			f.inflightPos, f.inflightFP = "", ""
		case strings.HasPrefix(s.query, "DELETE FROM "+MetaSchema+".shard_resync"):
			f.resync = ""
		case strings.HasPrefix(s.query, "INSERT INTO "+MetaSchema+".shard_resync"):
			f.resync = s.args[2].(string)
		case strings.HasPrefix(s.query, "INSERT INTO "+MetaSchema+".online_ddl"):
			if f.kept == nil {
				f.kept = map[string][]keptDDL{}
			}
			k := s.args[2].(string) + "." + s.args[3].(string)
			f.kept[k] = append(f.kept[k], keptDDL{DB: s.args[4].(string), Query: s.args[5].(string)})
		case strings.HasPrefix(s.query, "DELETE FROM "+MetaSchema+".online_ddl"):
			delete(f.kept, s.args[2].(string)+"."+s.args[3].(string))
		}
	}
}

func (f *fakeTarget) BeginParts(ctx context.Context) (PartsTxn, error) {
	return &fakePartsTxn{f: f}, nil
}

// CommitPiece commits a piece as the fake commits any transaction; a
// piece without a checkpoint leaves the target's where it was.
func (f *fakeTarget) CommitPiece(ctx context.Context, txn targetTxn) error {
	if txn.Pos.IsZero() {
		txn.Pos = f.checkpoint()
	}
	return f.Commit(ctx, txn)
}

func (f *fakeTarget) RecordWindow(ctx context.Context, pos dmnode.Position) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.window = pos
	return nil
}

// fakePartsTxn holds its statements until Commit; it refuses a statement
// that takes it past the target's maxArgs, as a target refuses a
// transaction for its size.
type fakePartsTxn struct {
	f     *fakeTarget
	stmts []stmt
	args  int
	txn   targetTxn
}

func (p *fakePartsTxn) Exec(ctx context.Context, s stmt) error {
	p.args += len(s.args)
	if p.f.maxArgs > 0 && p.args > p.f.maxArgs {
		return fmt.Errorf("target: %s: %w", abbreviate(s.query), &mysql.MySQLError{Number: 8004, Message: "Transaction is too large"})
	}
	p.stmts = append(p.stmts, s)
	return nil
}

// Load declines: the fake takes the rows as INSERT statements.
func (p *fakePartsTxn) Load(context.Context, *rules.TablePlan, []byte, int, bool) (bool, error) {
	return false, nil
}

func (p *fakePartsTxn) Checkpoint(ctx context.Context, txn targetTxn) error {
	if p.f.refuseCheckpoint {
		return fmt.Errorf("write checkpoint: %w", &mysql.MySQLError{Number: 1197, Message: "Multi-statement transaction required more than 'max_binlog_cache_size' bytes of storage"})
	}
	p.txn = txn
	return nil
}

func (p *fakePartsTxn) Commit() error {
	p.txn.Stmts = p.stmts
	return p.f.Commit(context.Background(), p.txn)
}

func (p *fakePartsTxn) Rollback() {}

// ddlRun is an applier run of task t, source s over f, as Run builds it,
// with the catalog's state machine answering its requests.
func ddlRun(t *testing.T, f *fakeTarget, cat *catalog.State, applied dmnode.Position) *applyRun {
	r := loopRun(t, f, config.SyncSettings{WorkerCount: 1}, applied, dmnode.Position{})
	r.a.env.Catalog = func() *catalog.State { return cat }
	r.a.env.Request = func(ctx context.Context, c catalog.Command) (catalog.Result, error) { return cat.Exec(c) }
	r.a.env.Store = memstore.New()
	return r
}

// ddlCatalog is a catalog that knows task t with source s.
func ddlCatalog() *catalog.State {
	cat := catalog.New()
	cat.Tasks["t"] = &catalog.Task{Name: "t", Sources: map[string]*catalog.TaskSource{"s": {}}}
	return cat
}

// ddlTxn is a transaction of one DDL run in database db on table, as the
// tailer relays it: the change names the statement's first table.
func ddlTxn(n int, table, ddl string) dmnode.Txn {
	id := dmnode.TableID{Schema: "db", Table: table}
	if s, t, ok := strings.Cut(table, "."); ok {
		id = dmnode.TableID{Schema: s, Table: t}
	}
	return dmnode.Txn{Changes: []dmnode.Change{{DDL: ddl, DDLSchema: "db", Table: id}}, End: loopAt(n), Time: uint32(n)}
}

// alterBetweenRows is one batch: a row of db.t, an ALTER of db.t at
// position 2, another row.
func alterBetweenRows() [][]dmnode.Txn {
	return [][]dmnode.Txn{{
		{Changes: []dmnode.Change{loopIns("t", loopRow(int64(1), "a"))}, End: loopAt(1), Time: 1},
		ddlTxn(2, "t", "ALTER TABLE t ADD COLUMN c INT"),
		{Changes: []dmnode.Change{loopIns("t", loopRow(int64(2), "b"))}, End: loopAt(3), Time: 3},
	}}
}

// A DDL commits what was read before it, runs on the target, and the
// checkpoint after it commits: the statement routed, once. Run again
// after a crash before its checkpoint, the target's "already there" is
// taken as applied.
func TestApplyDDLRunsOnce(t *testing.T) {
	ctx := context.Background()
	f := newFakeTarget(t)
	cat := ddlCatalog()
	batch := alterBetweenRows()
	f.crashExec = 2 // the checkpoint after the DDL
	if err := feed(ctx, ddlRun(t, f, cat, loopAt(0)), batch); !errors.Is(err, errCrash) {
		t.Fatalf("crash after the DDL: %v", err)
	}
	want := "ALTER TABLE `db`.`t` ADD COLUMN `c` INT"
	if strings.Join(f.ddls, "\n") != want || f.checkpoint() != loopAt(1) {
		t.Fatalf("ran %q, checkpoint %s; want %q, checkpoint %s", f.ddls, f.checkpoint(), want, loopAt(1))
	}
	// The replay: the column is there.
	f.crashExec = 0
	f.answer = func(stmt string) error {
		return classifyTargetError(&ddlRefusal{kind: errDDLPresent, Message: "Duplicate column name 'c'",
			err: &mysql.MySQLError{Number: 1060, Message: "Duplicate column name 'c'"}})
	}
	r := ddlRun(t, f, cat, f.checkpoint())
	if err := feed(ctx, r, batch); err != nil {
		t.Fatal(err)
	}
	if len(f.ddls) != 1 || f.checkpoint() != loopAt(3) || r.applied != loopAt(3) {
		t.Fatalf("ran %q, checkpoint %s; want the DDL once, checkpoint %s", f.ddls, f.checkpoint(), loopAt(3))
	}
	var ckpts []dmnode.Position
	for _, c := range f.commits {
		ckpts = append(ckpts, c.pos)
	}
	if fmt.Sprint(ckpts) != fmt.Sprint([]dmnode.Position{loopAt(1), loopAt(2), loopAt(3)}) {
		t.Errorf("checkpoints %v: want one before the DDL, one after it, one after the rows", ckpts)
	}
	if f.forgets == 0 {
		t.Error("the plans of the altered table were kept")
	}
}

// A DDL the target rejects pauses the source there: a permanent error
// naming the statement, the target's answer and the way out, the
// rejection recorded in the catalog, the checkpoint before the DDL. The
// operator's skip then lets the applier go on without it, and the
// rejection is forgotten.
func TestApplyDDLRejected(t *testing.T) {
	ctx := context.Background()
	f := newFakeTarget(t)
	cat := ddlCatalog()
	batch := alterBetweenRows()
	f.answer = func(stmt string) error {
		return classifyTargetError(&mysql.MySQLError{Number: 1118, Message: "Row size too large"})
	}
	err := feed(ctx, ddlRun(t, f, cat, loopAt(0)), batch)
	routed := "ALTER TABLE `db`.`t` ADD COLUMN `c` INT"
	if !IsPermanent(err) {
		t.Fatalf("rejected DDL: %v, want a permanent error", err)
	}
	for _, s := range []string{routed, "Row size too large", "dmnode task skip t --source s", "dmnode task replace t --source s"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not say %q", err, s)
		}
	}
	if f.checkpoint() != loopAt(1) || len(f.ddls) != 0 {
		t.Fatalf("checkpoint %s, ran %q; want the checkpoint before the DDL, nothing run", f.checkpoint(), f.ddls)
	}
	rej := cat.Rejections["t"].Rejected[catalog.RejectionKey("s", "")]
	if rej == nil || rej.Pos != loopAt(2) || strings.Join(rej.Stmts, ";") != routed || !strings.Contains(rej.Error, "Row size too large") {
		t.Fatalf("recorded rejection %+v", rej)
	}
	// task skip: the next incarnation passes the DDL over.
	if _, err := cat.Exec(catalog.Command{Op: catalog.OpShardDDL, Shard: &catalog.ShardOp{Kind: catalog.ShardDecide, Task: "t", Source: "s",
		Decision: &catalog.Decision{Action: catalog.DecideSkip}}}); err != nil {
		t.Fatal(err)
	}
	if err := feed(ctx, ddlRun(t, f, cat, f.checkpoint()), batch); err != nil {
		t.Fatal(err)
	}
	if len(f.ddls) != 0 || f.checkpoint() != loopAt(3) {
		t.Fatalf("after skip: ran %q, checkpoint %s", f.ddls, f.checkpoint())
	}
	if cat.Rejections["t"] != nil {
		t.Errorf("rejection kept after the DDL was skipped: %+v", cat.Rejections["t"])
	}
}

// EXCHANGE PARTITION swaps rows both ways, so a replay must not run it
// again: the in-flight record, written before the statement with the
// exchanged table's fingerprint and deleted with the checkpoint after
// it, tells a restart whether it ran. It runs once when the crash came
// after it, and again when the crash came before it ran.
func TestApplyDDLInflight(t *testing.T) {
	ctx := context.Background()
	exchange := ddlTxn(1, "t", "ALTER TABLE t EXCHANGE PARTITION p0 WITH TABLE x")
	batch := [][]dmnode.Txn{{exchange, {Changes: []dmnode.Change{loopIns("t", loopRow(int64(1), "a"))}, End: loopAt(2), Time: 2}}}
	for _, tc := range []struct {
		name string
		ran  bool // the statement ran before the crash
	}{{"crash after the statement", true}, {"crash before it ran", false}} {
		f := newFakeTarget(t)
		cat := ddlCatalog()
		f.rowsFP = map[string]string{"db.x": "rows of x"}
		f.ran = func(stmt string) { f.rowsFP["db.x"] = "rows of p0" }
		if tc.ran {
			f.crashExec = 1 // the checkpoint after the DDL
		} else {
			f.answer = func(stmt string) error { return errors.New("connection lost") }
		}
		err := feed(ctx, ddlRun(t, f, cat, loopAt(0)), batch)
		if err == nil || IsPermanent(err) {
			t.Fatalf("%s: %v, want a crash", tc.name, err)
		}
		if f.inflightPos != loopAt(1).String() || f.inflightFP != "rows of x" {
			t.Fatalf("%s: in-flight record %q %q, want the position and the fingerprint before", tc.name, f.inflightPos, f.inflightFP)
		}
		f.crashExec, f.answer = 0, nil
		if err := feed(ctx, ddlRun(t, f, cat, loopAt(0)), batch); err != nil {
			t.Fatalf("%s: restart: %v", tc.name, err)
		}
		if len(f.ddls) != 1 || !strings.Contains(f.ddls[0], "EXCHANGE PARTITION") {
			t.Errorf("%s: ran %q, want the exchange once", tc.name, f.ddls)
		}
		if f.checkpoint() != loopAt(2) || f.inflightPos != "" {
			t.Errorf("%s: checkpoint %s, in-flight record %q: want %s and none", tc.name, f.checkpoint(), f.inflightPos, loopAt(2))
		}
	}
}

// Statements on tables outside the task, and statements the task's
// filters drop, move the checkpoint without running.
func TestApplyDDLOutOfScope(t *testing.T) {
	ctx := context.Background()
	f := newFakeTarget(t)
	task := &config.Task{Name: "t", BAList: map[string]*config.BAListRule{"l": {DoDBs: []string{"db"}}},
		Filters:        map[string]*config.FilterRule{"f": {SchemaPattern: "db", TablePattern: "*", Events: []string{"drop index"}, Action: "Ignore"}},
		MySQLInstances: []config.Instance{{SourceID: "s", BAListName: "l", FilterRules: []string{"f"}}}}
	rl, err := rules.Compile(task, &task.MySQLInstances[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	f.rules = rl
	r := ddlRun(t, f, ddlCatalog(), loopAt(0))
	r.te.rules = rl
	batch := [][]dmnode.Txn{{
		ddlTxn(1, "other.t", "ALTER TABLE other.t ADD COLUMN c INT"),
		ddlTxn(2, "t", "DROP INDEX k ON t"),
	}}
	if err := feed(ctx, r, batch); err != nil {
		t.Fatal(err)
	}
	if len(f.ddls) != 0 || f.checkpoint() != loopAt(2) {
		t.Fatalf("ran %q, checkpoint %s; want nothing run, checkpoint %s", f.ddls, f.checkpoint(), loopAt(2))
	}
}

// A RENAME TABLE of several tables (a swap) runs with a marker table
// renamed by the same statement: after a crash before its checkpoint the
// marker says it ran, and it does not run again (it would swap the tables
// back). A plain rename already on the target is passed over.
func TestApplyDDLRename(t *testing.T) {
	ctx := context.Background()
	f := newFakeTarget(t)
	cat := ddlCatalog()
	f.create("db.a", "CREATE TABLE a (id BIGINT PRIMARY KEY)")
	f.create("db.b", "CREATE TABLE b (id BIGINT PRIMARY KEY)")
	marker := regexp.MustCompile(`(` + MetaSchema + `\.rename_\w+) TO (` + MetaSchema + `\.renamed_\w+)$`)
	f.ran = func(stmt string) {
		// The marker's rename, the last of the statement.
		if m := marker.FindStringSubmatch(stmt); m != nil {
			f.create(m[2], f.creates[m[1]])
			delete(f.creates, m[1])
		}
	}
	swap := [][]dmnode.Txn{{ddlTxn(1, "a", "RENAME TABLE a TO a_old, b TO a, a_old TO b")}}
	f.crashExec = 1
	if err := feed(ctx, ddlRun(t, f, cat, loopAt(0)), swap); !errors.Is(err, errCrash) {
		t.Fatalf("crash after the swap: %v", err)
	}
	if len(f.ddls) != 1 || !strings.HasPrefix(f.ddls[0], "RENAME TABLE `db`.`a` TO `db`.`a_old`, `db`.`b` TO `db`.`a`, `db`.`a_old` TO `db`.`b`, "+MetaSchema+".rename_") {
		t.Fatalf("ran %q", f.ddls)
	}
	f.crashExec = 0
	if err := feed(ctx, ddlRun(t, f, cat, loopAt(0)), swap); err != nil {
		t.Fatal(err)
	}
	if len(f.ddls) != 1 || f.checkpoint() != loopAt(1) {
		t.Fatalf("replay: ran %q, checkpoint %s; want the swap once", f.ddls, f.checkpoint())
	}
	for k := range f.creates {
		if strings.Contains(k, "renamed_") {
			t.Errorf("marker %s left after the checkpoint", k)
		}
	}
	// RENAME TABLE a TO c where c exists and a does not: applied before.
	delete(f.creates, "db.a")
	f.create("db.c", "CREATE TABLE c (id BIGINT PRIMARY KEY)")
	if err := feed(ctx, ddlRun(t, f, cat, loopAt(1)), [][]dmnode.Txn{{ddlTxn(2, "a", "RENAME TABLE a TO c")}}); err != nil {
		t.Fatal(err)
	}
	if len(f.ddls) != 1 || f.checkpoint() != loopAt(2) {
		t.Fatalf("rename on the target already: ran %q, checkpoint %s", f.ddls, f.checkpoint())
	}
}

// gh-ost's online schema change: the ALTER of its shadow table is kept in
// dmnode_meta with the checkpoint, and run on the real target table when
// the tool swaps the shadow table in; the tool's own tables are not
// created, renamed or dropped on the target.
func TestApplyDDLOnlineSchemaChange(t *testing.T) {
	ctx := context.Background()
	f := newFakeTarget(t)
	task := &config.Task{Name: "t", OnlineDDL: true, MySQLInstances: []config.Instance{{SourceID: "s"}}}
	rl, err := rules.Compile(task, &task.MySQLInstances[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	f.rules = rl
	r := ddlRun(t, f, ddlCatalog(), loopAt(0))
	r.te.task, r.te.rules = task, rl
	batch := [][]dmnode.Txn{
		{ddlTxn(1, "_t_gho", "CREATE TABLE _t_gho LIKE t")},
		{ddlTxn(2, "_t_gho", "ALTER TABLE _t_gho ADD COLUMN c INT")},
		{ddlTxn(3, "t", "RENAME TABLE t TO _t_del, _t_gho TO t")},
		{ddlTxn(4, "_t_del", "DROP TABLE _t_del")},
	}
	if err := feed(ctx, r, batch[:2]); err != nil {
		t.Fatal(err)
	}
	if len(f.ddls) != 0 || len(f.kept["db.t"]) != 1 {
		t.Fatalf("before the swap: ran %q, kept %v", f.ddls, f.kept)
	}
	if err := feed(ctx, r, batch[2:]); err != nil {
		t.Fatal(err)
	}
	if want := "ALTER TABLE `db`.`t` ADD COLUMN `c` INT"; strings.Join(f.ddls, "\n") != want || len(f.kept) != 0 || f.checkpoint() != loopAt(4) {
		t.Fatalf("ran %q, kept %v, checkpoint %s; want %q, nothing kept", f.ddls, f.kept, f.checkpoint(), want)
	}
}

// A created table gets its target table from the statement's definition,
// a CREATE TABLE ... LIKE from the definition of the table it copies,
// read from the target when the applier does not know it.
func TestApplyDDLCreateTable(t *testing.T) {
	ctx := context.Background()
	f := newFakeTarget(t)
	f.create("db.t", "CREATE TABLE `t` (`id` bigint NOT NULL, `v` varchar(20), `w` int, PRIMARY KEY (`id`))")
	batch := [][]dmnode.Txn{{
		ddlTxn(1, "n", "CREATE TABLE n (id BIGINT PRIMARY KEY, name VARCHAR(20))"),
		ddlTxn(2, "m", "CREATE TABLE m LIKE t"),
	}}
	if err := feed(ctx, ddlRun(t, f, ddlCatalog(), loopAt(0)), batch); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"db.n\x00id\x00name", "db.m\x00id\x00v\x00w"} {
		if _, ok := f.plans[want]; !ok {
			t.Errorf("no plan %q: the target table was not prepared (plans %v)", want, f.plans)
		}
	}
	if len(f.ddls) != 0 || f.checkpoint() != loopAt(2) {
		t.Fatalf("ran %q, checkpoint %s", f.ddls, f.checkpoint())
	}
}

// On TiDB, DROP or TRUNCATE PARTITION of a table partitioned by KEY would
// remove other rows than upstream: the source pauses there with the way
// out, and nothing runs.
func TestApplyDDLPartitionRowsDiffer(t *testing.T) {
	ctx := context.Background()
	f := newFakeTarget(t)
	cat := ddlCatalog()
	f.tidb = true
	f.partitioning = map[string]string{"db.t": "KEY"}
	err := feed(ctx, ddlRun(t, f, cat, loopAt(0)), [][]dmnode.Txn{{ddlTxn(1, "t", "ALTER TABLE t TRUNCATE PARTITION p0")}})
	if !IsPermanent(err) || !strings.Contains(err.Error(), "partitioned by KEY") || !strings.Contains(err.Error(), "dmnode task replace t --source s --sql 'DELETE FROM ...'") {
		t.Fatalf("truncate partition of a KEY-partitioned table on TiDB: %v", err)
	}
	if len(f.ddls) != 0 || cat.Rejections["t"] == nil {
		t.Fatalf("ran %q, rejection %+v", f.ddls, cat.Rejections["t"])
	}
	// Partitioned by RANGE: the same rows go.
	f.partitioning["db.t"] = "RANGE"
	if err := feed(ctx, ddlRun(t, f, cat, loopAt(0)), [][]dmnode.Txn{{ddlTxn(1, "t", "ALTER TABLE t TRUNCATE PARTITION p0")}}); err != nil {
		t.Fatal(err)
	}
	if len(f.ddls) != 1 || f.checkpoint() != loopAt(1) {
		t.Fatalf("RANGE: ran %q, checkpoint %s", f.ddls, f.checkpoint())
	}
}

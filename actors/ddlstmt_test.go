package actors

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/pingcap/tidb/pkg/parser/ast"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/config"
	"github.com/dmnode/dmnode/core/filter"
	"github.com/dmnode/dmnode/core/rules"
	"github.com/dmnode/dmnode/core/schema"
	"github.com/dmnode/dmnode/core/tidb"
)

// copyTracker returns a copy of tr, for measuring what applying a DDL to
// it costs apart.
func copyTracker(t *testing.T, tr *schema.Tracker) *schema.Tracker {
	t.Helper()
	c := schema.NewTracker()
	if tr == nil {
		return c
	}
	j, err := json.Marshal(tr)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(j, c); err != nil {
		t.Fatal(err)
	}
	return c
}

// tidbFake is a fake TiDB 8.5 target that adapts DDL as mariaTarget does
// on TiDB: from the text (AdaptDDL), or from the applier's parse
// (AdaptParsedDDL).
type tidbFake struct{ *fakeTarget }

var tidb85 = tidb.Version{Major: 8, Minor: 5}

func (f tidbFake) Dialect(ctx context.Context) (tidb.Version, bool, error) { return tidb85, true, nil }

func (f tidbFake) AdaptDDL(ctx context.Context, stmt string) ([]string, error) {
	a, err := tidb.AdaptDDL(tidb85, stmt)
	return a.Statements, err
}

func (f tidbFake) AdaptParsedDDL(ctx context.Context, stmt string, node ast.StmtNode) ([]string, error) {
	a, err := tidb.AdaptParsed(tidb85, stmt, node)
	return a.Statements, err
}

// stageRun is an applier run on a fake TiDB 8.5 target, for driving its
// DDL reading stage by stage; the target has no table to read a
// definition from.
func stageRun(t *testing.T, filters map[string]*config.FilterRule, names []string) *applyRun {
	t.Helper()
	task := &config.Task{Name: "t", Filters: filters, MySQLInstances: []config.Instance{{SourceID: "s", FilterRules: names}}}
	rl, err := rules.Compile(task, &task.MySQLInstances[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	f := newFakeTarget(t)
	f.rules = rl
	r := loopRun(t, f, config.SyncSettings{WorkerCount: 1}, dmnode.Position{}, dmnode.Position{})
	r.te = &taskEnv{task: task, inst: &task.MySQLInstances[0], rules: rl}
	r.target = tidbFake{f}
	return r
}

// readDDLAsApplier takes a DDL through the applier's stages that read the
// statement, in ddl's order: what it is, the event filter, the record of
// upstream schemas, then, when the filter lets it through, the route, the
// adaptation to TiDB, and in shard mode the locks' text and the member's
// schema after it (schemaAfter's tracker, here a copy of the record).
// It returns the parses of the DDL text: those of stored definitions
// (the trackers reading the CREATE TABLE of a table an ALTER changes) are
// measured apart on copies and left out.
func readDDLAsApplier(t *testing.T, r *applyRun, c *dmnode.Change, shard bool) (parses uint64, filtered bool) {
	t.Helper()
	ctx := t.Context()
	// Which trackers apply the DDL, asked apart (outside the count), and
	// their own parses of stored definitions, on copies.
	pre := copyTracker(t, r.upSchemas)
	probe := &ddlText{c: c}
	d0, _, _ := probe.describe()
	follows := !r.filteredUnparsed(probe, d0)
	skip0, _ := probe.filter(r.te.rules)
	var stored uint64
	trackerParses := func() uint64 {
		st := schema.ParseDDL(c.DDLSchema, c.DDL)
		mark := schema.Parses()
		copyTracker(t, pre).ApplyStmt(st)
		return schema.Parses() - mark
	}
	if follows {
		stored += trackerParses()
	}
	if shard && !skip0 {
		stored += trackerParses()
	}

	mark := schema.Parses()
	x := &ddlText{c: c}
	r.ddlNow = x
	defer func() { r.ddlNow = nil }()
	d, _, err := x.describe()
	if err != nil {
		t.Fatalf("%q: %v", c.DDL, err)
	}
	if r.filteredUnparsed(x, d) {
		r.forgetFiltered(d)
	} else if err := r.follow(ctx, c, d); err != nil {
		t.Fatalf("%q: follow: %v", c.DDL, err)
	}
	skip, err := x.filter(r.te.rules)
	if err != nil {
		t.Fatalf("%q: filter: %v", c.DDL, err)
	}
	if !skip {
		routed, err := r.routeDDL(c)
		if err != nil {
			t.Fatalf("%q: route: %v", c.DDL, err)
		}
		if _, err := r.forTarget(ctx, routed); err != nil {
			t.Fatalf("%q: adapt: %v", c.DDL, err)
		}
		if shard {
			norm, _, err := r.normalizeRouted(c, routed)
			if err != nil {
				t.Fatalf("%q: normalize: %v", c.DDL, err)
			}
			if _, err := r.forTarget(ctx, norm); err != nil { // the lock's statement to execute
				t.Fatalf("%q: adapt: %v", c.DDL, err)
			}
			if _, err := r.applyDDLTo(copyTracker(t, pre), c); err != nil && d.Kind == schema.AlterTable {
				t.Errorf("%q: schema after: %v", c.DDL, err)
			}
		}
	}
	return schema.Parses() - mark - stored, skip
}

// relayed is a DDL as the tailer relays it, with its typed form.
func relayed(db, q string) *dmnode.Change {
	return &dmnode.Change{DDL: q, DDLSchema: db, DDLInfo: relayedDDL(schema.ParseDDL(db, q))}
}

// The applier parses a DDL at most once, for every DDL kind of the
// end-to-end DDL tests, on its plain and its shard-mode paths; a DDL the
// event filter skips is not parsed. A change relayed by an older version,
// without its typed form, is parsed once too.
func TestApplierParsesDDLAtMostOnce(t *testing.T) {
	for _, shard := range []bool{false, true} {
		r := stageRun(t, nil, nil)
		for _, q := range ddlKinds {
			if n, _ := readDDLAsApplier(t, r, relayed("k", q), shard); n != 1 {
				t.Errorf("shard %v: %q: %d parses of the DDL, want 1", shard, q, n)
			}
		}
		r = stageRun(t, nil, nil)
		for _, q := range ddlKinds {
			if n, _ := readDDLAsApplier(t, r, &dmnode.Change{DDL: q, DDLSchema: "k"}, shard); n != 1 {
				t.Errorf("shard %v: untyped %q: %d parses of the DDL, want 1", shard, q, n)
			}
		}
	}

	filters := map[string]*config.FilterRule{
		"keep-rows": {SchemaPattern: "k", Events: []string{"truncate table", "drop table", "drop table partition",
			"truncate table partition", "drop database"}, Action: "Ignore"},
	}
	r := stageRun(t, filters, []string{"keep-rows"})
	skipped := 0
	for _, q := range ddlKinds {
		n, skip := readDDLAsApplier(t, r, relayed("k", q), false)
		skipped += checkParses(t, q, int(n), skip)
	}
	if skipped < 5 {
		t.Errorf("only %d DDLs filtered", skipped)
	}
}

// An ALTER kept for a shadow table is parsed once when the swap runs it:
// its adaptation to the target reads the parse its route made.
func TestKeptOnlineDDLParsedOnce(t *testing.T) {
	r := stageRun(t, nil, nil)
	r.ddlNow = &ddlText{c: relayed("k", "RENAME TABLE t TO _t_old, _t_gho TO t")}
	mark := schema.Parses()
	text, err := r.routeKept("k", "ALTER TABLE _t_gho ADD COLUMN c int, ADD FULLTEXT KEY f (v)", func(db, table string) (string, string, error) {
		return db, "t", nil
	})
	if err != nil {
		t.Fatal(err)
	}
	run, err := r.forTarget(t.Context(), text)
	if n := schema.Parses() - mark; err != nil || n != 1 {
		t.Fatalf("%d parses, %v", n, err)
	}
	if want := "ALTER TABLE `k`.`t` ADD COLUMN `c` INT"; len(run) != 1 || run[0] != want {
		t.Errorf("run %q, want %q", run, want)
	}
}

// A DDL the filter skips is not followed in the record of upstream
// schemas: the tables it names are forgotten (read again from the target
// when a statement needs them), except after a TRUNCATE, which changes no
// definition.
func TestFilteredDDLForgotten(t *testing.T) {
	filters := map[string]*config.FilterRule{
		"f": {SchemaPattern: "k*", Events: []string{"truncate table", "drop table", "add column", "drop database"}, Action: "Ignore"},
	}
	r := stageRun(t, filters, []string{"f"})
	r.upSchemas = schema.NewTracker()
	for _, q := range []string{"CREATE TABLE t (id int PRIMARY KEY)", "CREATE TABLE u (id int PRIMARY KEY)", "CREATE TABLE k3.w (id int PRIMARY KEY)"} {
		if _, err := r.upSchemas.Apply("k", q); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		q          string
		table      string
		remembered bool
	}{
		{"TRUNCATE TABLE t", "k.t", true},
		{"DROP TABLE u", "k.u", false},
		{"ALTER TABLE t ADD COLUMN c int", "k.t", false},
		{"DROP DATABASE k3", "k3.w", false},
	} {
		if n, skip := readDDLAsApplier(t, r, relayed("k", c.q), false); !skip || n != 0 {
			t.Fatalf("%q: skipped %v, %d parses", c.q, skip, n)
		}
		db, table, _ := strings.Cut(c.table, ".")
		if _, ok := r.upSchemas.Get(db, table); ok != c.remembered {
			t.Errorf("after %q: %s remembered %v, want %v", c.q, c.table, ok, c.remembered)
		}
	}
}

// The applier's whole DDL path (ddl, through a fake TiDB target) parses
// each DDL of the end-to-end DDL tests once, relayed with its typed form
// or not; the record of upstream schemas' own reading of stored
// definitions is measured apart on a copy.
func TestApplyDDLParsesOnce(t *testing.T) {
	ctx := t.Context()
	for _, typed := range []bool{true, false} {
		f := newFakeTarget(t)
		r := ddlRun(t, f, ddlCatalog(), loopAt(0))
		r.target = tidbFake{f}
		for i, q := range ddlKinds {
			txn := ddlTxn(i+1, "t", q)
			if typed {
				txn.Changes[0].DDLInfo = relayedDDL(schema.ParseDDL("db", q))
			}
			st := schema.ParseDDL("db", q)
			mark := schema.Parses()
			copyTracker(t, r.upSchemas).ApplyStmt(st)
			stored := schema.Parses() - mark

			mark = schema.Parses()
			if err := feed(ctx, r, [][]dmnode.Txn{{txn}}); err != nil {
				t.Fatalf("%q: %v", q, err)
			}
			if n := schema.Parses() - mark - stored; n != 1 {
				t.Errorf("typed %v: %q: %d parses of the DDL, want 1", typed, q, n)
			}
		}
		// Every DDL but the six CREATE TABLEs (created with their plans).
		if len(f.ddls) != len(ddlKinds)-6 {
			t.Errorf("the target ran %d DDL statements: %q", len(f.ddls), f.ddls)
		}
	}
}

// Through the whole DDL path, a DDL the event filter skips is not parsed,
// and the others once.
func TestApplyFilteredDDLNotParsed(t *testing.T) {
	ctx := t.Context()
	task := &config.Task{Name: "t", Filters: map[string]*config.FilterRule{
		"keep-rows": {SchemaPattern: "db", Events: []string{"truncate table", "drop table", "drop table partition",
			"truncate table partition"}, Action: "Ignore"},
	}, MySQLInstances: []config.Instance{{SourceID: "s", FilterRules: []string{"keep-rows"}}}}
	rl, err := rules.Compile(task, &task.MySQLInstances[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	f := newFakeTarget(t)
	f.rules = rl
	r := ddlRun(t, f, ddlCatalog(), loopAt(0))
	r.te.rules = rl
	r.target = tidbFake{f}
	skipped := 0
	for i, q := range ddlKinds {
		txn := ddlTxn(i+1, "t", q)
		txn.Changes[0].DDLInfo = relayedDDL(schema.ParseDDL("db", q))
		parts, _ := filter.RelayedEvents(txn.Changes[0].DDLInfo)
		skip, _ := rl.FilterDDLEvents(q, parts)
		var stored uint64
		if !skip {
			st := schema.ParseDDL("db", q)
			mark := schema.Parses()
			copyTracker(t, r.upSchemas).ApplyStmt(st)
			stored = schema.Parses() - mark
		}
		mark := schema.Parses()
		if err := feed(ctx, r, [][]dmnode.Txn{{txn}}); err != nil {
			t.Fatalf("%q: %v", q, err)
		}
		skipped += checkParses(t, q, int(schema.Parses()-mark-stored), skip)
	}
	if skipped < 4 {
		t.Errorf("only %d DDLs filtered", skipped)
	}
}

// checkParses checks that DDL q was parsed n times by the applier: none
// when the filter skips it, once otherwise. It returns 1 when skipped.
func checkParses(t *testing.T, q string, n int, skip bool) int {
	t.Helper()
	switch {
	case skip && n != 0:
		t.Errorf("filtered %q: %d parses, want 0", q, n)
	case !skip && n != 1:
		t.Errorf("%q: %d parses of the DDL, want 1", q, n)
	}
	if skip {
		return 1
	}
	return 0
}

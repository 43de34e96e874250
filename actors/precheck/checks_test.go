package precheck

import (
	"strings"
	"testing"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/config"
	"github.com/dmnode/dmnode/core/rules"
	"github.com/dmnode/dmnode/core/schema"
)

// items renders findings as "severity item" for compact comparisons.
func items(fs []Finding) string {
	var out []string
	for _, f := range fs {
		out = append(out, string(f.Severity)+" "+f.Item)
	}
	return strings.Join(out, ", ")
}

func TestVersionFindings(t *testing.T) {
	for _, tc := range []struct{ version, want string }{
		{"10.11.19-MariaDB-0+deb12u1-log", ""},
		{"5.5.5-10.1.48-MariaDB", ""},
		{"10.1.1-MariaDB", "warning version"},
		{"10.0.38-MariaDB-log", "warning version"},
		{"5.6.51-log", ""},
		{"5.7.44", ""},
		{"8.0.36", ""},
		{"8.4.3", ""},
		{"5.5.62", "warning version"},
		{"9.1.0", "warning version"},
		{"8.0.11-TiDB-v7.5.0", "error version"},
	} {
		if got := items(versionFindings(tc.version)); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.version, got, tc.want)
		}
	}
	if got := parseVersion("10.5.2-MariaDB").binlogMonitor(); got != "BINLOG MONITOR" {
		t.Errorf("MariaDB 10.5.2: %s", got)
	}
	if got := parseVersion("10.4.30-MariaDB").binlogMonitor(); got != "REPLICATION CLIENT" {
		t.Errorf("MariaDB 10.4: %s", got)
	}
	if got := parseVersion("8.0.36").binlogMonitor(); got != "REPLICATION CLIENT" {
		t.Errorf("MySQL 8: %s", got)
	}
}

func TestBinlogFindings(t *testing.T) {
	good := serverVars{logBin: "ON", format: "ROW", rowImage: "FULL", serverID: "1"}
	for _, tc := range []struct {
		name string
		v    serverVars
		sync bool
		want string
	}{
		{"good", good, true, ""},
		{"old server without binlog_row_image", serverVars{logBin: "1", format: "row"}, true, ""},
		{"off", serverVars{logBin: "OFF", format: "STATEMENT"}, true, "error binlog_enable"},
		{"off, full mode", serverVars{logBin: "OFF"}, false, "error binlog_enable"},
		{"statement, full mode", serverVars{logBin: "ON", format: "STATEMENT", rowImage: "MINIMAL"}, false, ""},
		{"statement and minimal", serverVars{logBin: "ON", format: "MIXED", rowImage: "MINIMAL"}, true, "error binlog_format, error binlog_row_image"},
	} {
		if got := items(binlogFindings(tc.v, tc.sync)); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	fs := binlogFindings(serverVars{logBin: "ON", format: "STATEMENT", rowImage: "FULL"}, true)
	if len(fs) != 1 || !strings.Contains(fs[0].Message, "binlog_format is STATEMENT") || !strings.HasPrefix(fs[0].Fix, "run SET GLOBAL binlog_format = 'ROW'") {
		t.Errorf("binlog_format finding: %+v", fs)
	}
	if got := items(serverIDFindings(serverVars{serverID: "0"})); got != "error server_id" {
		t.Errorf("server_id 0: %q", got)
	}
	if got := items(serverIDFindings(good)); got != "" {
		t.Errorf("server_id 1: %q", got)
	}
}

func TestSourcePrivilegeFindings(t *testing.T) {
	mariadb := parseVersion("10.11.6-MariaDB")
	acct := account{"dm", "%"}
	tables := []table{{"shop", "orders"}, {"shop", "users"}, {"logs", "l"}}
	grants := func(lines ...string) *Grants {
		g, err := ParseGrants(lines)
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	full := grants("GRANT RELOAD, REPLICATION SLAVE, BINLOG MONITOR ON *.* TO `dm`@`%`", "GRANT SELECT ON `shop`.* TO `dm`@`%`", "GRANT SELECT ON `logs`.* TO `dm`@`%`")
	for _, mode := range []string{config.ModeFull, config.ModeIncremental, config.ModeAll} {
		if fs := sourcePrivilegeFindings(full, acct, mariadb, mode, tables); len(fs) != 0 {
			t.Errorf("%s, every privilege: %v", mode, fs)
		}
	}

	g := grants("GRANT REPLICATION SLAVE ON *.* TO `dm`@`%`", "GRANT SELECT ON `shop`.`orders` TO `dm`@`%`")
	fs := sourcePrivilegeFindings(g, acct, mariadb, config.ModeAll, tables)
	want := []string{
		"dump_privilege GRANT RELOAD ON *.* TO 'dm'@'%';",
		"dump_privilege GRANT SELECT ON `logs`.* TO 'dm'@'%';",
		"dump_privilege GRANT SELECT ON `shop`.* TO 'dm'@'%';",
		"replication_privilege GRANT BINLOG MONITOR ON *.* TO 'dm'@'%';",
	}
	if len(fs) != len(want) {
		t.Fatalf("findings: %v", fs)
	}
	for i, f := range fs {
		if got := f.Item + " " + f.Fix; got != want[i] || f.Severity != Error {
			t.Errorf("finding %d: %s %q, want %q", i, f.Severity, got, want[i])
		}
	}
	if !strings.Contains(fs[2].Message, "lacks SELECT on shop (users)") {
		t.Errorf("select message: %s", fs[2].Message)
	}

	// Mode full needs SHOW MASTER STATUS under dump_privilege; SUPER allows it.
	fs = sourcePrivilegeFindings(grants("GRANT SELECT, RELOAD ON *.* TO 'dm'@'%'"), acct, parseVersion("8.0.36"), config.ModeFull, tables)
	if len(fs) != 1 || fs[0].Fix != "GRANT REPLICATION CLIENT ON *.* TO 'dm'@'%';" {
		t.Errorf("full mode on MySQL: %v", fs)
	}
	if fs := sourcePrivilegeFindings(grants("GRANT SELECT, RELOAD, SUPER ON *.* TO 'dm'@'%'"), acct, mariadb, config.ModeFull, tables); len(fs) != 0 {
		t.Errorf("SUPER: %v", fs)
	}
	// Incremental needs no dump privileges.
	fs = sourcePrivilegeFindings(grants("GRANT USAGE ON *.* TO 'dm'@'%'"), acct, mariadb, config.ModeIncremental, tables)
	if len(fs) != 1 || fs[0].Fix != "GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO 'dm'@'%';" {
		t.Errorf("incremental: %v", fs)
	}
}

func TestTargetPrivilegeFindings(t *testing.T) {
	g, err := ParseGrants([]string{
		"GRANT SELECT, INSERT, UPDATE, DELETE ON `merged`.* TO `w`@`%`",
		"GRANT ALL PRIVILEGES ON `dmnode_meta`.* TO `w`@`%`",
	})
	if err != nil {
		t.Fatal(err)
	}
	fs := targetPrivilegeFindings(g, account{"w", "%"}, []string{"merged"}, true)
	if items(fs) != "error target_privilege, warning target_privilege" {
		t.Fatalf("findings: %v", fs)
	}
	if fs[0].Fix != "GRANT CREATE ON `merged`.* TO 'w'@'%';" || fs[1].Fix != "GRANT ALTER, DROP, INDEX ON `merged`.* TO 'w'@'%';" {
		t.Errorf("fixes: %q, %q", fs[0].Fix, fs[1].Fix)
	}
	if fs := targetPrivilegeFindings(g, account{"w", "%"}, []string{"merged"}, false); items(fs) != "error target_privilege" {
		t.Errorf("full mode needs no DDL privileges: %v", fs)
	}
}

func TestConnFindings(t *testing.T) {
	acct := account{"dm", "%"}
	if fs := connFindings(connLimits{maxConnections: 151, connected: 5, userConnected: 1}, 6, acct, "x", Error, false); len(fs) != 0 {
		t.Errorf("enough: %v", fs)
	}
	fs := connFindings(connLimits{maxConnections: 151, connected: 5, maxUser: 2, userConnected: 1}, 6, acct, "x", Error, false)
	if len(fs) != 1 || fs[0].Fix != "run ALTER USER 'dm'@'%' WITH MAX_USER_CONNECTIONS 6 (0 lifts the limit), or lower the task's threads" {
		t.Errorf("user limit: %v", fs)
	}
	fs = connFindings(connLimits{maxConnections: 10, connected: 9}, 6, acct, "x", Warning, true)
	if len(fs) != 1 || fs[0].Severity != Warning || !strings.HasPrefix(fs[0].Fix, "run SET GLOBAL max_connections = 14 ") {
		t.Errorf("server limit: %v", fs)
	}
	inst := &config.Instance{Dump: config.DumpSettings{Threads: 4}}
	if n, _ := sourceConns(config.ModeAll, inst); n != 6 {
		t.Errorf("mode all needs %d connections, want 6", n)
	}
}

func TestMetaFindings(t *testing.T) {
	files := []binlogFile{{"mysql-bin.000003", 385}, {"mysql-bin.000004", 1000}}
	for _, tc := range []struct {
		meta *config.Meta
		want string
	}{
		{&config.Meta{BinlogName: "mysql-bin.000003", BinlogPos: 4}, ""},
		{&config.Meta{BinlogName: "mysql-bin.000004", BinlogPos: 1000}, ""},
		{&config.Meta{BinlogName: "mysql-bin.000001", BinlogPos: 4}, "has been purged from the source: its oldest binlog file is mysql-bin.000003"},
		{&config.Meta{BinlogName: "mysql-bin.000009", BinlogPos: 4}, "is not a binlog file of the source"},
		{&config.Meta{BinlogName: "mysql-bin.000003", BinlogPos: 999}, "past the end of mysql-bin.000003"},
		{&config.Meta{BinlogName: "mysql-bin.000004", BinlogPos: 1001}, "past the current end of mysql-bin.000004"},
	} {
		fs := metaFindings(tc.meta, files)
		switch {
		case tc.want == "" && len(fs) != 0:
			t.Errorf("%+v: %v", tc.meta, fs)
		case tc.want != "" && (len(fs) != 1 || !strings.Contains(fs[0].Message, tc.want)):
			t.Errorf("%+v: %v, want %q", tc.meta, fs, tc.want)
		}
	}
}

// shardPlans plans t_1 and t_2 of schema s on two sources, routed to db.t.
func shardPlans(t *testing.T) []*rules.TablePlan {
	task := &config.Task{
		Routes: map[string]*config.RouteRule{"r": {SchemaPattern: "s", TablePattern: "t_*", TargetSchema: "db", TargetTable: "t"}},
		MySQLInstances: []config.Instance{
			{SourceID: "a", RouteRules: []string{"r"}},
			{SourceID: "b", RouteRules: []string{"r"}},
		},
	}
	var plans []*rules.TablePlan
	for i := range task.MySQLInstances {
		r, err := rules.Compile(task, &task.MySQLInstances[i], nil)
		if err != nil {
			t.Fatal(err)
		}
		p, err := r.Plan("s", "t_1", []string{"id", "v"})
		if err != nil {
			t.Fatal(err)
		}
		plans = append(plans, p)
	}
	return plans
}

func TestShardSchemaAndAutoIncrement(t *testing.T) {
	plans := shardPlans(t)
	a := &tableInfo{schema: "s", name: "t_1", primary: []string{"id"},
		columns: []columnInfo{{name: "id", typ: "bigint(20)", autoInc: true}, {name: "v", typ: "varchar(10)", nullable: true}}}
	b := &tableInfo{schema: "s", name: "t_1", primary: []string{"id"},
		columns: []columnInfo{{name: "id", typ: "bigint(20)", autoInc: true}, {name: "v", typ: "varchar(20)", nullable: true}}}
	infos := map[string]*tableInfo{"a": a, "b": b}
	up := func(p *rules.TablePlan) *tableInfo { return infos[p.Source] }

	fs := shardSchemaFindings(plans, up, "")
	if len(fs) != 1 || fs[0].Source != "b" ||
		fs[0].Message != "s.t_1 differs from s.t_1 of source a, both merged into db.t: column v is varchar(20) here and varchar(10) there" ||
		!strings.HasPrefix(fs[0].Fix, "ALTER TABLE `s`.`t_1` MODIFY COLUMN `v` varchar(10)") {
		t.Errorf("shard schema: %+v", fs)
	}
	if fs := shardSchemaFindings(plans, up, config.ShardOptimistic); len(fs) != 1 {
		t.Errorf("optimistic, conflicting types: %v", fs)
	}
	b.columns[1].typ = "varchar(10)"
	b.columns = append(b.columns, columnInfo{name: "w", typ: "int(11)"})
	if fs := shardSchemaFindings(plans, up, config.ShardOptimistic); len(fs) != 0 {
		t.Errorf("optimistic, an extra column: %v", fs)
	}
	if fs := shardSchemaFindings(plans, up, config.ShardPessimistic); len(fs) != 1 || !strings.Contains(fs[0].Message, "extra column w int(11)") {
		t.Errorf("pessimistic, an extra column: %v", fs)
	}

	fs = autoIncrementFindings(plans, up, nil)
	if len(fs) != 1 || fs[0].Table != "db.t" || !strings.Contains(fs[0].Message, "a s.t_1 (id), b s.t_1 (id)") ||
		!strings.Contains(fs[0].Fix, `"partition id"`) {
		t.Errorf("auto-increment: %+v", fs)
	}
	a.columns[0].autoInc, b.columns[0].autoInc = false, false
	if fs := autoIncrementFindings(plans, up, nil); len(fs) != 0 {
		t.Errorf("no auto-increment: %v", fs)
	}
	a.primary = nil
	if got := items(noKeyFindings(plans[:1], map[table]*tableInfo{{"s", "t_1"}: a})); got != "warning table_schema" {
		t.Errorf("no key: %q", got)
	}
	a.uniques = [][]string{{"v"}}
	if got := items(noKeyFindings(plans[:1], map[table]*tableInfo{{"s", "t_1"}: a})); got != "warning table_schema" {
		t.Errorf("unique key over a NULL column: %q", got)
	}
	a.uniques = [][]string{{"id"}}
	if got := items(noKeyFindings(plans[:1], map[table]*tableInfo{{"s", "t_1"}: a})); got != "" {
		t.Errorf("unique key over NOT NULL columns: %q", got)
	}
}

// A task starting in the past: the target is compared against the schema
// at the start position, and the fix says so.
func TestTargetColumnsAtPastStart(t *testing.T) {
	plans := shardPlans(t)[:1] // s.t_1 (id, v) now, into db.t
	up := func(*rules.TablePlan) *tableInfo {
		return &tableInfo{schema: "s", name: "t_1", columns: []columnInfo{{name: "id", typ: "bigint(20)"}, {name: "v", typ: "varchar(10)"}}}
	}
	targets := map[table]*tableInfo{{"db", "t"}: {schema: "db", name: "t", columns: []columnInfo{{name: "id", typ: "bigint(20)"}}}}
	start := dmnode.Position{File: "mysql-bin.000001", Pos: 4}

	// Starting now: v is missing, an error whose fix adds it.
	fs := targetColumnFindings(plans, up, targets, nil)
	if len(fs) != 1 || fs[0].Severity != Error || fs[0].Fix != "ALTER TABLE `db`.`t` ADD COLUMN `v` varchar(10);" {
		t.Errorf("current start: %+v", fs)
	}
	// In the past, with no history there: the target is the schema at the
	// start, v is probably added later by the binlog.
	fs = targetColumnFindings(plans, up, targets, map[string]*pastStart{"a": {pos: start}})
	if len(fs) != 1 || fs[0].Severity != Warning || !strings.Contains(fs[0].Message, "the task starts at mysql-bin.000001:4, in the past") ||
		!strings.HasPrefix(fs[0].Fix, "nothing, if the source added the column after mysql-bin.000001:4") {
		t.Errorf("past start, schema not known: %+v", fs)
	}
	// In the past, with the history saying the table had only id there.
	at := func(db, table string) *schema.Table {
		tbl, err := schema.ParseCreateTable(db, "CREATE TABLE t_1 (id bigint PRIMARY KEY)")
		if err != nil {
			t.Fatal(err)
		}
		return tbl
	}
	if fs := targetColumnFindings(plans, up, targets, map[string]*pastStart{"a": {pos: start, schema: at}}); len(fs) != 0 {
		t.Errorf("past start, the target matches the schema there: %+v", fs)
	}
	// ... and with it saying the table had a column w the target lacks.
	at = func(db, table string) *schema.Table {
		tbl, _ := schema.ParseCreateTable(db, "CREATE TABLE t_1 (id bigint PRIMARY KEY, w int)")
		return tbl
	}
	fs = targetColumnFindings(plans, up, targets, map[string]*pastStart{"a": {pos: start, schema: at}})
	if len(fs) != 1 || fs[0].Severity != Error || !strings.Contains(fs[0].Message, "no column w, which rows of s.t_1 (source a) carry at the start position") {
		t.Errorf("past start, the target lacks a column of the schema there: %+v", fs)
	}
}

// MariaDB types TiDB lacks are named with the type they get; sequences are
// refused with the way out.
func TestTypeAndSequenceFindings(t *testing.T) {
	plans := []*rules.TablePlan{{Schema: "s", Table: "t", TargetSchema: "s", TargetTable: "t"}}
	info := &tableInfo{schema: "s", name: "t", columns: []columnInfo{{name: "id", typ: "int(11)"}, {name: "u", typ: "uuid"}, {name: "ip", typ: "inet6"}}}
	fs := typeFindings(plans, map[table]*tableInfo{{"s", "t"}: info})
	if len(fs) != 2 || fs[0].Severity != Warning || !strings.Contains(fs[0].Message, "UUID") || !strings.Contains(fs[0].Message, "CHAR(36)") ||
		!strings.Contains(fs[1].Fix, "VARCHAR(39)") {
		t.Errorf("type findings: %+v", fs)
	}
	fs = sequenceFindings([]table{{"s", "seq"}})
	if len(fs) != 1 || fs[0].Severity != Error || fs[0].Table != "s.seq" || !strings.Contains(fs[0].Fix, "CREATE SEQUENCE") {
		t.Errorf("sequence findings: %+v", fs)
	}
}

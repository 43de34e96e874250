package tests

import (
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dmnode/dmnode/tests/harness"
)

// typeTable is one table of the type matrix: its columns (after the id
// primary key) and rows of edge values, one SQL literal per column. Row i
// is inserted as is, then updated to row i+1's values (every column to
// another edge), so each table needs at least two rows.
type typeTable struct {
	name    string
	columns string // column definitions after "id int PRIMARY KEY, "
	options string // table options
	names   []string
	rows    [][]string
}

// typeTables covers every column type at its edges, every charset the
// README lists in table defaults and per-column overrides, generated and
// invisible columns, and binary, case-sensitive and case-insensitive keys.
var typeTables = []typeTable{
	{name: "ints", columns: "ti tinyint, tu tinyint unsigned, si smallint, su smallint unsigned, mi mediumint, mu mediumint unsigned, " +
		"i int, iu int unsigned, bi bigint, bu bigint unsigned, y year",
		names: []string{"ti", "tu", "si", "su", "mi", "mu", "i", "iu", "bi", "bu", "y"},
		rows: [][]string{
			{"-128", "255", "-32768", "65535", "-8388608", "16777215", "-2147483648", "4294967295", "-9223372036854775808", "18446744073709551615", "1901"},
			{"127", "0", "32767", "0", "8388607", "0", "2147483647", "0", "9223372036854775807", "0", "2155"},
			{"0", "128", "-1", "32768", "-1", "8388608", "-1", "2147483648", "-1", "9223372036854775808", "0"},
			{"NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL"},
		}},
	{name: "nums", columns: "d65 decimal(65,30), du decimal(20,0) unsigned, f float, dbl double, b1 bit(1), b64 bit(64)",
		names: []string{"d65", "du", "f", "dbl", "b1", "b64"},
		rows: [][]string{
			{"'99999999999999999999999999999999999.999999999999999999999999999999'", "99999999999999999999", "3.40282e38", "1.7976931348623157e308", "b'1'", "b'1111111111111111111111111111111111111111111111111111111111111111'"},
			{"'-99999999999999999999999999999999999.999999999999999999999999999999'", "0", "-1.17549e-38", "-2.2250738585072014e-308", "b'0'", "b'0'"},
			{"'0.000000000000000000000000000001'", "1", "0.1", "0.1", "NULL", "b'1000000000000000000000000000000000000000000000000000000000000001'"},
		}},
	{name: "times", columns: "d date, dt datetime(6), ts timestamp(6) NULL, t time(6), dt0 datetime",
		names: []string{"d", "dt", "ts", "t", "dt0"},
		rows: [][]string{
			{"'1000-01-01'", "'1000-01-01 00:00:00.000000'", "'1970-01-01 00:00:01.000000'", "'-838:59:59.000000'", "'0000-00-00 00:00:00'"},
			{"'9999-12-31'", "'9999-12-31 23:59:59.999999'", "'2038-01-19 03:14:07.999999'", "'838:59:59.000000'", "'2024-02-29 12:00:00'"},
			{"'0000-00-00'", "'2024-03-31 02:30:00.5'", "'2024-03-31 01:30:00.000001'", "'00:00:00.000001'", "NULL"},
			{"NULL", "NULL", "NULL", "NULL", "'1999-12-31 23:59:59'"},
		}},
	{name: "strs", columns: "c char(10), vc varchar(255), tt tinytext, tx text, mt mediumtext, lt longtext, " +
		"bn binary(8), vb varbinary(64), bl blob, e enum('a','b','c'), s set('x','y','z'), j json",
		names: []string{"c", "vc", "tt", "tx", "mt", "lt", "bn", "vb", "bl", "e", "s", "j"},
		rows: [][]string{
			{"''", "'😀 ñ \\' \\\\ \\t\\n'", "'tiny'", "REPEAT('t', 1000)", "'𝄞 mid'", "REPEAT('😀', 5000)",
				"X'00FF'", "X'00'", "X'00010203FF00'", "'a'", "'x,z'", "'{\"e\": \"😀\", \"n\": [1, 2.5, null]}'"},
			{"'abcdefghij'", "''", "''", "''", "''", "''", "X'FFFFFFFFFFFFFFFF'", "X''", "X''", "'c'", "''", "'[]'"},
			{"NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL"},
		}},
	{name: "cs_mixed", columns: "l1 varchar(32) CHARACTER SET latin1, u3 varchar(32) CHARACTER SET utf8mb3, u4 varchar(32), " +
		"bin varbinary(32), asc1 varchar(32) CHARACTER SET ascii, gb varchar(32) CHARACTER SET gbk, " +
		"cy varchar(32) CHARACTER SET cp1251, u2 varchar(32) CHARACTER SET ucs2, u16 text CHARACTER SET utf16, " +
		"l1t text CHARACTER SET latin1, l1c char(8) CHARACTER SET latin1, l1e enum('é','ü') CHARACTER SET latin1, " +
		"u2c char(5) CHARACTER SET ucs2, u16c char(4) CHARACTER SET utf16, u32c char(3) CHARACTER SET utf32, gbc char(4) CHARACTER SET gbk",
		options: "DEFAULT CHARSET=utf8mb4",
		names:   []string{"l1", "u3", "u4", "bin", "asc1", "gb", "cy", "u2", "u16", "l1t", "l1c", "l1e", "u2c", "u16c", "u32c", "gbc"},
		rows: [][]string{
			{"'café ÿ € Š'", "'Ω≈ç'", "'😀𝄞'", "X'E9FF00'", "'plain'", "'中文汉字'", "'Привет'", "'Ωmega'", "'😀 utf16'", "'naïve'", "'Zoë'", "'é'",
				"'a'", "'😀'", "'x'", "'中'"},
			{"'ÀÉÎõü'", "'ñ'", "'ok'", "X''", "'~'", "'数据迁移'", "'Ёж'", "'ÆØÅ'", "'𝄞clef'", "CONVERT(X'8081909D' USING latin1)", "''", "'ü'",
				"'Ω b'", "'ab'", "'😀'", "'a'"},
			{"NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "''", "''", "''", "''"},
		}},
	{name: "cs_latin1", columns: "k varchar(20) NOT NULL, v text, KEY (k)", options: "DEFAULT CHARSET=latin1",
		names: []string{"k", "v"},
		rows:  [][]string{{"'clé'", "'été'"}, {"'Ärger'", "'¿qué?'"}, {"'x'", "NULL"}}},
	{name: "cs_gbk", columns: "v varchar(20), t text", options: "DEFAULT CHARSET=gbk",
		names: []string{"v", "t"},
		rows:  [][]string{{"'汉字'", "'简体中文'"}, {"'abc'", "'中'"}}},
	{name: "cs_cp1251", columns: "v varchar(20), t text", options: "DEFAULT CHARSET=cp1251",
		names: []string{"v", "t"},
		rows:  [][]string{{"'Москва'", "'Щ'"}, {"'Київ'", "''"}}},
	{name: "cs_ucs2", columns: "v varchar(20), t text", options: "DEFAULT CHARSET=ucs2",
		names: []string{"v", "t"},
		rows:  [][]string{{"'Ωmega'", "'ÆØÅ'"}, {"'a'", "'b'"}}},
	{name: "geo", columns: "p point, g geometry, ls linestring, pg polygon",
		names: []string{"p", "g", "ls", "pg"},
		rows: [][]string{
			{"ST_GeomFromText('POINT(1 2)')", "ST_GeomFromText('POINT(-180 90)')", "ST_GeomFromText('LINESTRING(0 0,1 1,2 1)')",
				"ST_GeomFromText('POLYGON((0 0,10 0,10 10,0 10,0 0))')"},
			{"ST_GeomFromText('POINT(0 0)')", "ST_GeomFromText('LINESTRING(1.5 2.25,3 4)')", "ST_GeomFromText('LINESTRING(5 5,6 6)')", "NULL"},
		}},
	// MariaDB's own types: the target holds their text (README).
	{name: "mdb", columns: "u uuid, i4 inet4, i6 inet6, KEY (u)",
		names: []string{"u", "i4", "i6"},
		rows: [][]string{
			{"'6ccd780c-baba-1026-9564-5b8c656024db'", "'1.2.3.4'", "'::ffff:1.2.3.4'"},
			{"'123e4567-e89b-42d3-a456-426614174000'", "'0.0.0.0'", "'::1.2.3.4'"},
			{"'00000000-0000-0000-0000-000000000000'", "'255.255.255.255'", "'2001:db8::1:0:0:1'"},
			{"NULL", "NULL", "'::'"},
		}},
	{name: "gen", columns: "d date, b bit(8), v int, g int AS (v * 2) VIRTUAL, gs varchar(40) AS (CONCAT('x', v, d)) STORED, " +
		"inv int INVISIBLE DEFAULT 7",
		names: []string{"d", "b", "v", "g", "gs", "inv"},
		rows: [][]string{
			{"'0000-00-00'", "b'10101010'", "1", "DEFAULT", "DEFAULT", "70"},
			{"'2024-01-01'", "b'0'", "NULL", "DEFAULT", "DEFAULT", "NULL"},
			{"NULL", "NULL", "-5", "DEFAULT", "DEFAULT", "8"},
		}},
}

// keyTables have string keys compared by different collations; keyTxns
// changes them in transactions whose keys differ only in case, accents or
// trailing spaces.
var keyTables = []string{
	"CREATE TABLE ty.k_bin (k varbinary(16) PRIMARY KEY, v int)",
	"CREATE TABLE ty.k_cs (k varchar(16) COLLATE utf8mb4_bin PRIMARY KEY, v int)",
	"CREATE TABLE ty.k_ci (k varchar(16) PRIMARY KEY, v int)",
	"CREATE TABLE ty.k_l1 (k varchar(16) CHARACTER SET latin1 PRIMARY KEY, v int)",
}

var keySeed = []string{
	"INSERT INTO ty.k_bin VALUES ('a', 1), ('A', 2), (X'00', 3), (X'0000', 4)",
	"INSERT INTO ty.k_cs VALUES ('a', 1), ('A', 2), ('é', 3), ('e', 4)",
	"INSERT INTO ty.k_ci VALUES ('abc', 1), ('é', 2)",
	"INSERT INTO ty.k_l1 VALUES ('abc', 1), ('Été', 2)",
}

var keyTxns = [][]string{
	{"DELETE FROM ty.k_bin WHERE k = 'a'", "UPDATE ty.k_bin SET v = 20 WHERE k = 'A'", "INSERT INTO ty.k_bin VALUES ('a', 10)", "DELETE FROM ty.k_bin WHERE k = X'00'", "INSERT INTO ty.k_bin VALUES (X'0000000000', 5)"},
	{"DELETE FROM ty.k_cs WHERE k = 'a'", "INSERT INTO ty.k_cs VALUES ('a', 10)", "UPDATE ty.k_cs SET v = 30 WHERE k = 'é'", "DELETE FROM ty.k_cs WHERE k = 'e'", "INSERT INTO ty.k_cs VALUES ('E', 40)"},
	{"DELETE FROM ty.k_ci WHERE k = 'abc'", "INSERT INTO ty.k_ci VALUES ('ABC', 10)", "UPDATE ty.k_ci SET v = 11 WHERE k = 'abc'", "DELETE FROM ty.k_ci WHERE k = 'é'", "INSERT INTO ty.k_ci VALUES ('E', 12)", "UPDATE ty.k_ci SET k = 'Abc' WHERE k = 'ABC'"},
	{"DELETE FROM ty.k_l1 WHERE k = 'ABC'", "INSERT INTO ty.k_l1 VALUES ('Abc', 10)", "UPDATE ty.k_l1 SET k = 'été', v = 20 WHERE k = 'ÉTÉ'"},
}

// sameRows waits until the target query returns the source query's rows,
// then compares them one final time, row by row.
func sameRows(t *testing.T, name string, sdb *sql.DB, sq string, tdb *sql.DB, tq string) {
	t.Helper()
	want := harness.Rows(t, sdb, sq)
	err := harness.Within(90*time.Second, func() error {
		got, err := queryRows(tdb, tq)
		if err != nil {
			return err
		}
		if diff := harness.SameRows(want, got); diff != "" {
			return fmt.Errorf("target not caught up yet: %s", diff)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%s: not within 90s: %v", name, err)
	}
	sum := harness.CompareRows(t, name, want, harness.Rows(t, tdb, tq))
	t.Logf("%s: %d rows identical, checksum %s", name, len(want), sum)
}

// convertedTables are pre-created on the target with other charsets than
// upstream: their values are converted, and compared as characters.
var convertedTables = map[string]bool{"cs_conv": true}

// convTable has columns in several charsets upstream; the target table is
// created beforehand in utf8mb4 (convTarget).
var convTable = typeTable{name: "cs_conv",
	columns: "l1 varchar(20) CHARACTER SET latin1, gb varchar(20) CHARACTER SET gbk, cy text CHARACTER SET cp1251, u2 varchar(20) CHARACTER SET ucs2, " +
		"u2c char(5) CHARACTER SET ucs2, u32c char(3) CHARACTER SET utf32, l1c char(4) CHARACTER SET latin1",
	names: []string{"l1", "gb", "cy", "u2", "u2c", "u32c", "l1c"},
	rows: [][]string{
		{"'déjà vu'", "'迁移'", "'Щука'", "'Ωμέγα'", "'a'", "'😀'", "'é'"},
		{"'Œuvre €'", "'数据'", "'ёлка'", "'ÆØÅ'", "' Ω'", "'x y'", "''"},
	}}

const convTarget = "(id int PRIMARY KEY, l1 varchar(20), gb varchar(20), cy text, u2 varchar(20), u2c char(5), u32c char(3), l1c char(4)) DEFAULT CHARSET=utf8mb4"

// lateTable is created upstream while the task replicates, in latin1 with
// a gbk column; an ALTER adds a cp1251 column: the binlog path knows each
// column's charset from the DDL it tracked.
var lateDDL = []string{
	"CREATE TABLE ty.late (id int PRIMARY KEY, v varchar(20), g varchar(20) CHARACTER SET gbk) DEFAULT CHARSET=latin1",
	"INSERT INTO ty.late (id, v, g) VALUES (1, 'Ünïcödé', '汉字'), (2, CONVERT(X'8081909D' USING latin1), NULL)",
	"ALTER TABLE ty.late ADD COLUMN cy varchar(20) CHARACTER SET cp1251",
	"INSERT INTO ty.late VALUES (3, 'ÿ', '中', 'Жж')",
	"UPDATE ty.late SET v = 'Ça', cy = 'Ё' WHERE id = 1",
}

func (tt typeTable) create() string {
	return fmt.Sprintf("CREATE TABLE ty.%s (id int PRIMARY KEY, %s) %s", tt.name, tt.columns, tt.options)
}

// insert inserts row r with id id.
func (tt typeTable) insert(id, r int) string {
	return fmt.Sprintf("INSERT INTO ty.%s (id, %s) VALUES (%d, %s)", tt.name, strings.Join(tt.names, ", "), id, strings.Join(tt.rows[r], ", "))
}

// update sets every column of row id to row r's values.
func (tt typeTable) update(id, r int) string {
	set := make([]string, len(tt.names))
	for i, n := range tt.names {
		set[i] = n + " = " + tt.rows[r][i]
	}
	return fmt.Sprintf("UPDATE ty.%s SET %s WHERE id = %d", tt.name, strings.Join(set, ", "), id)
}

// compareExpr selects a column so that two servers print the same text
// for the same value: strings in hex of their bytes (so a wrong charset
// shows), TIMESTAMPs as their instant, everything else as the server
// prints it.
func compareExpr(name, dataType string) string {
	q := "`" + name + "`"
	switch dataType {
	case "char", "varchar", "tinytext", "text", "mediumtext", "longtext", "binary", "varbinary",
		"tinyblob", "blob", "mediumblob", "longblob", "enum", "set", "json", "bit",
		"geometry", "point", "linestring", "polygon":
		return "HEX(" + q + ")"
	case "timestamp":
		return "UNIX_TIMESTAMP(" + q + ")"
	}
	return q
}

// compareQuery selects every column of db.table (invisible and generated
// ones included) by compareExpr, as information_schema of the source lists
// them for ty.table.
func compareQuery(t *testing.T, source *sql.DB, db, table string) string {
	t.Helper()
	rows := harness.Rows(t, source, fmt.Sprintf(`SELECT COLUMN_NAME, DATA_TYPE FROM information_schema.COLUMNS
		WHERE TABLE_SCHEMA = 'ty' AND TABLE_NAME = '%s' ORDER BY ORDINAL_POSITION`, table))
	if len(rows) == 0 {
		t.Fatalf("no columns for ty.%s", table)
	}
	var sel []string
	for _, r := range rows {
		e := compareExpr(r[0], r[1])
		if convertedTables[table] && strings.HasPrefix(e, "HEX(") {
			// the target column has another charset: compare characters
			e = "HEX(CONVERT(`" + r[0] + "` USING utf8mb4))"
		}
		sel = append(sel, e)
	}
	return fmt.Sprintf("SELECT %s FROM `%s`.`%s`", strings.Join(sel, ", "), db, table)
}

// TestTypesMatrix: every column type at its edges, every charset in table
// defaults and per-column overrides, generated and invisible columns and
// keys under binary, case-sensitive and case-insensitive collations, through
// the full copy and the binlog (insert, update of every column to another
// edge, delete), once with parallel apply and once in safe mode, from a
// source in one time zone to a target in another; compared column by column
// and by `task verify`.
func TestTypesMatrix(t *testing.T) {
	source := harness.StartMariaDB(t, harness.Options{ServerID: 1, ExtraArgs: []string{"--default-time-zone=+05:30"}})
	target := harness.StartMariaDB(t, harness.Options{ServerID: 100, ExtraArgs: []string{"--default-time-zone=-08:00"}})
	c := newClusterOn(t, []*harness.Server{source}, target)

	// The test's own statements give TIMESTAMPs in UTC.
	setup := []string{"SET time_zone = '+00:00'", "CREATE DATABASE ty"}
	for _, tt := range typeTables {
		setup = append(setup, tt.create())
		for r := range tt.rows {
			setup = append(setup, tt.insert(r+1, r))
		}
	}
	setup = append(append(setup, keyTables...), keySeed...)
	setup = append(setup, convTable.create(), convTable.insert(1, 0))
	source.Exec(t, setup...)
	for _, db := range []string{"ty", "tysafe"} {
		target.Exec(t, "CREATE DATABASE "+db, "CREATE TABLE "+db+".cs_conv "+convTarget)
	}

	c.addSources()
	tasks := map[string]string{"types": "ty", "types-safe": "tysafe"}
	for name, db := range tasks {
		safe := name == "types-safe"
		task := c.writeFile(name+".yaml", fmt.Sprintf(`name: %s
task-mode: all
target-database:
  host: 127.0.0.1
  port: %d
  user: root
  password: ""
mysql-instances:
  - source-id: %q
    block-allow-list: only
    route-rules: [to]
    syncer-config-name: sync
block-allow-list:
  only:
    do-dbs: [ty]
routes:
  to:
    schema-pattern: ty
    target-schema: %s
syncers:
  sync:
    worker-count: 4
    safe-mode: %v
`, name, target.Port, sourceID(0), db, safe))
		c.dmnode("task", "submit", task)
	}
	for name := range tasks {
		c.dmnode("task", "wait", name, "--stage", "sync", "--timeout", "2m")
	}
	// One pool per server for the many comparisons.
	sdb, tdb := source.DB(t), target.DB(t)
	late := false
	compareAll := func(phase string) {
		t.Helper()
		var tables []string
		for _, tt := range typeTables {
			tables = append(tables, tt.name)
		}
		tables = append(tables, "k_bin", "k_cs", "k_ci", "k_l1", "cs_conv")
		if late {
			tables = append(tables, "late")
		}
		for _, db := range tasks {
			for _, table := range tables {
				sameRows(t, fmt.Sprintf("%s: %s.%s", phase, db, table), sdb, compareQuery(t, sdb, "ty", table),
					tdb, compareQuery(t, sdb, db, table))
			}
		}
	}
	compareAll("full copy")

	// Binlog: the same edge rows inserted again, one transaction per table.
	const offset = 100
	var stmts []string
	for _, tt := range typeTables {
		stmts = append(stmts, "BEGIN")
		for r := range tt.rows {
			stmts = append(stmts, tt.insert(offset+r+1, r))
		}
		stmts = append(stmts, "COMMIT")
	}
	stmts = append(stmts, convTable.insert(2, 1), convTable.update(1, 1))
	stmts = append(stmts, lateDDL...)
	source.Exec(t, append([]string{"SET time_zone = '+00:00'"}, stmts...)...)
	late = true
	compareAll("binlog insert")

	// Every column of every row to another edge, dumped and replicated
	// rows alike.
	stmts = []string{"SET time_zone = '+00:00'"}
	for _, tt := range typeTables {
		for r := range tt.rows {
			next := (r + 1) % len(tt.rows)
			stmts = append(stmts, tt.update(r+1, next), tt.update(offset+r+1, next))
		}
	}
	for _, txn := range keyTxns {
		stmts = append(append(append(stmts, "BEGIN"), txn...), "COMMIT")
	}
	source.Exec(t, stmts...)
	compareAll("binlog update")

	stmts = nil
	for _, tt := range typeTables {
		stmts = append(stmts, fmt.Sprintf("DELETE FROM ty.%s WHERE id IN (1, %d)", tt.name, offset+2))
	}
	stmts = append(stmts, "DELETE FROM ty.k_bin WHERE k = 'A'", "DELETE FROM ty.k_ci WHERE k = 'abc'")
	source.Exec(t, stmts...)
	compareAll("binlog delete")

	// verify reads both sides by the columns' charsets and includes the
	// generated columns.
	for name := range tasks {
		var rep *verifyReport
		harness.Eventually(t, 90*time.Second, func() error {
			var code int
			rep, code = c.verify(name)
			if code != 0 || !rep.Equal {
				return fmt.Errorf("task verify %s: exit %d:\n%s", name, code, rep.raw)
			}
			return nil
		})
		for _, tr := range rep.Tables {
			if tr.Missing+tr.Extra+tr.Different != 0 {
				t.Errorf("verify %s: %s: %s %s", name, tr.Target, tr.Status, tr.Reason)
			}
		}
	}
	compareAll("end")
}

// TestTypesRejectedChangePauses: a row change the target rejects (a value
// too long for a pre-created target column) parks the applier after its
// bounded retries, and task status, the log and the metrics name the
// table, the statement and the error; once the target table is fixed, a
// pause and resume applies the change, and the rows match.
func TestTypesRejectedChangePauses(t *testing.T) {
	c := newCluster(t, 1)
	source := c.sources[0]
	source.Exec(t, "CREATE DATABASE rj", "CREATE TABLE rj.t (id int PRIMARY KEY, v varchar(20) CHARACTER SET latin1)",
		"INSERT INTO rj.t VALUES (1, 'été'), (2, 'ok')")
	c.target.Exec(t, "CREATE DATABASE rj", "CREATE TABLE rj.t (id int PRIMARY KEY, v varchar(3) CHARACTER SET latin1)")
	c.addSources()
	task := c.oneSourceTask("rj", "rj")
	c.dmnode("task", "submit", task)
	c.dmnode("task", "wait", "rj", "--stage", "sync", "--timeout", "2m")
	query := func(int) string { return "SELECT id, HEX(v) FROM rj.t" }
	c.expectEqual("before", query, "SELECT id, HEX(v) FROM rj.t")

	source.Exec(t, "INSERT INTO rj.t VALUES (3, 'naïveté')", "INSERT INTO rj.t VALUES (4, 'ok')")
	var status string
	harness.Eventually(t, 90*time.Second, func() error {
		status = c.dmnode("task", "status", "rj", "-o", "json")
		for _, want := range []string{`"stage": "error"`, "rj.t", "Data too long", "INSERT INTO", "resume"} {
			if !strings.Contains(status, want) {
				return fmt.Errorf("status lacks %q:\n%s", want, status)
			}
		}
		return nil
	})
	t.Logf("status of the parked task:\n%s", status)
	if log := c.node.Log(); !strings.Contains(log, "the target rejects a change of table rj.t") {
		t.Errorf("the node's log does not name the rejected change")
	}
	if n := c.scrape().sum("dmnode_actor_errors_total", "task", "rj"); n < 1 {
		t.Errorf("dmnode_actor_errors_total for task rj = %v, want at least 1", n)
	}

	c.target.Exec(t, "ALTER TABLE rj.t MODIFY v varchar(20) CHARACTER SET latin1")
	c.dmnode("task", "pause", "rj")
	c.dmnode("task", "resume", "rj")
	c.expectEqual("after the fix", query, "SELECT id, HEX(v) FROM rj.t")
}

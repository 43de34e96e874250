package schema

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// state prints every tracked table as "schema.name: describe", one a line.
func state(t *testing.T, tr *Tracker) string {
	t.Helper()
	var lines []string
	for _, tbl := range tr.Tables() {
		checkRoundTrip(t, tbl)
		lines = append(lines, tbl.Schema+"."+tbl.Name+": "+describe(tbl))
	}
	return strings.Join(lines, "\n")
}

func refs(d DDL) string {
	var s []string
	for _, r := range d.Tables {
		s = append(s, r.String())
	}
	return strings.Join(s, " ")
}

// step is one statement given to Apply in database db, and what it is.
type step struct {
	sql    string
	kind   DDLKind
	tables string // DDL.Tables as "schema.name ..."
	err    error  // sentinel the error must wrap, nil for none
}

func runSteps(t *testing.T, tr *Tracker, db string, steps []step) {
	t.Helper()
	for _, s := range steps {
		d, err := tr.Apply(db, s.sql)
		if s.err == nil && err != nil || !errors.Is(err, s.err) {
			t.Fatalf("%s: error %v, want %v", s.sql, err, s.err)
		}
		if d.Kind != s.kind || refs(d) != s.tables {
			t.Fatalf("%s: got %v [%s], want %v [%s]", s.sql, d.Kind, refs(d), s.kind, s.tables)
		}
	}
}

func TestApply(t *testing.T) {
	const base = "CREATE TABLE t (id int NOT NULL, a int, b varchar(3) NOT NULL, PRIMARY KEY (id), UNIQUE KEY ub (b), KEY ka (a))"
	tests := []struct {
		name  string
		steps []step
		want  string
	}{{
		name: "add columns",
		steps: []step{
			{base, CreateTable, "db.t", nil},
			{"ALTER TABLE t ADD COLUMN f int FIRST, ADD g bigint AFTER id, ADD COLUMN (h int, i int), ADD j char(1) NOT NULL", AlterTable, "db.t", nil},
			{"ALTER TABLE t ADD COLUMN IF NOT EXISTS a int, ADD COLUMN IF NOT EXISTS k int", AlterTable, "db.t", nil},
		},
		want: "db.t: f int null, id int, g bigint null, a int null, b varchar, h int null, i int null, j char, k int null | key id",
	}, {
		name: "drop columns and their index parts",
		steps: []step{
			{"CREATE TABLE t (a int NOT NULL, b int NOT NULL, c int, UNIQUE KEY u (a, b), KEY k (c))", CreateTable, "db.t", nil},
			{"ALTER TABLE t DROP COLUMN b", AlterTable, "db.t", nil},
			{"ALTER TABLE t DROP IF EXISTS nope, DROP c", AlterTable, "db.t", nil},
		},
		want: "db.t: a int | key a",
	}, {
		name: "dropping the last key column drops the key",
		steps: []step{
			{"CREATE TABLE t (a int NOT NULL, b int, UNIQUE KEY u (a))", CreateTable, "db.t", nil},
			{"ALTER TABLE t DROP a", AlterTable, "db.t", nil},
		},
		want: "db.t: b int null | key",
	}, {
		name: "modify and change columns",
		steps: []step{
			{base, CreateTable, "db.t", nil},
			{"ALTER TABLE t MODIFY a bigint unsigned NOT NULL FIRST", AlterTable, "db.t", nil},
			{"ALTER TABLE t CHANGE COLUMN id pk bigint NOT NULL AFTER b, CHANGE b bb varchar(9)", AlterTable, "db.t", nil},
			{"ALTER TABLE t MODIFY COLUMN IF EXISTS nope int", AlterTable, "db.t", nil},
		},
		want: "db.t: a bigint unsigned, bb varchar null, pk bigint | key pk",
	}, {
		name: "rename column follows indexes",
		steps: []step{
			{base, CreateTable, "db.t", nil},
			{"ALTER TABLE t DROP PRIMARY KEY, RENAME COLUMN b TO c", AlterTable, "db.t", nil},
		},
		want: "db.t: id int, a int null, c varchar | key c",
	}, {
		name: "primary key added and dropped",
		steps: []step{
			{"CREATE TABLE t (a int, b int NOT NULL, UNIQUE KEY (b))", CreateTable, "db.t", nil},
			{"ALTER TABLE t ADD PRIMARY KEY (a)", AlterTable, "db.t", nil},
			{"ALTER TABLE t ADD CONSTRAINT x UNIQUE KEY (a, b)", AlterTable, "db.t", nil},
			{"ALTER TABLE t DROP PRIMARY KEY", AlterTable, "db.t", nil},
		},
		want: "db.t: a int, b int | key b",
	}, {
		name: "indexes",
		steps: []step{
			{"CREATE TABLE t (a int NOT NULL, b int NOT NULL)", CreateTable, "db.t", nil},
			{"CREATE UNIQUE INDEX ub ON t (b)", CreateIndex, "db.t", nil},
			{"ALTER TABLE t ADD UNIQUE INDEX ua (a)", AlterTable, "db.t", nil},
			{"DROP INDEX ub ON t", DropIndex, "db.t", nil},
			{"ALTER TABLE t ADD UNIQUE KEY (b), RENAME INDEX ua TO ua2, DROP INDEX IF EXISTS nope", AlterTable, "db.t", nil},
			{"ALTER TABLE t DROP INDEX ua2", AlterTable, "db.t", nil},
			{"CREATE INDEX IF NOT EXISTS b ON t (a)", CreateIndex, "db.t", nil},
		},
		want: "db.t: a int, b int | key b",
	}, {
		name: "drop index primary",
		steps: []step{
			{base, CreateTable, "db.t", nil},
			{"DROP INDEX `PRIMARY` ON t", DropIndex, "db.t", nil},
		},
		want: "db.t: id int, a int null, b varchar | key b",
	}, {
		name: "alter table rename",
		steps: []step{
			{base, CreateTable, "db.t", nil},
			{"ALTER TABLE t ADD x int, RENAME TO other.t2", AlterTable, "db.t other.t2", nil},
			{"ALTER TABLE other.t2 RENAME t3", AlterTable, "other.t2 db.t3", nil},
		},
		want: "db.t3: id int, a int null, b varchar, x int null | key id",
	}, {
		name: "rename table pairs",
		steps: []step{
			{"CREATE TABLE x (a int)", CreateTable, "db.x", nil},
			{"CREATE TABLE y (b int)", CreateTable, "db.y", nil},
			{"RENAME TABLE x TO tmp, y TO x, tmp TO db2.y", RenameTable, "db.x db.tmp db.y db.x db.tmp db2.y", nil},
		},
		want: "db.x: b int null | key\ndb2.y: a int null | key",
	}, {
		name: "create table variants",
		steps: []step{
			{base, CreateTable, "db.t", nil},
			{"CREATE TABLE IF NOT EXISTS t (z int)", CreateTable, "db.t", nil},
			{"CREATE TABLE `db2`.`copy` LIKE t", CreateTable, "db2.copy db.t", nil},
			{"CREATE OR REPLACE TABLE u (z int)", CreateTable, "db.u", nil},
			{"CREATE OR REPLACE TABLE u (y int)", CreateTable, "db.u", nil},
		},
		want: "db.t: id int, a int null, b varchar | key id\ndb.u: y int null | key\ndb2.copy: id int, a int null, b varchar | key id",
	}, {
		name: "drop and truncate",
		steps: []step{
			{"CREATE TABLE a (x int)", CreateTable, "db.a", nil},
			{"CREATE TABLE b (x int)", CreateTable, "db.b", nil},
			{"CREATE TABLE c (x int)", CreateTable, "db.c", nil},
			{"TRUNCATE TABLE c", TruncateTable, "db.c", nil},
			{"DROP TABLE IF EXISTS a, `b`, nope /* generated by server */", DropTable, "db.a db.b db.nope", nil},
		},
		want: "db.c: x int null | key",
	}, {
		name: "databases",
		steps: []step{
			{"CREATE DATABASE d1", CreateDatabase, "", nil},
			{"CREATE TABLE d1.a (x int)", CreateTable, "d1.a", nil},
			{"CREATE TABLE d1.b (x int)", CreateTable, "d1.b", nil},
			{"CREATE TABLE d2.a (x int)", CreateTable, "d2.a", nil},
			{"CREATE TABLE d3.a (x int)", CreateTable, "d3.a", nil},
			{"DROP DATABASE IF EXISTS d1", DropDatabase, "d1.a d1.b", nil},
			{"CREATE OR REPLACE DATABASE d3", CreateDatabase, "d3.a", nil},
		},
		want: "d2.a: x int null | key",
	}, {
		name: "mariadb alter syntax",
		steps: []step{
			{base, CreateTable, "db.t", nil},
			{"ALTER ONLINE TABLE t ADD COLUMN IF NOT EXISTS c int", AlterTable, "db.t", nil},
			{"ALTER TABLE t WAIT 5 ADD COLUMN u uuid NOT NULL, ADD g point, ALGORITHM=INSTANT, LOCK=NONE", AlterTable, "db.t", nil},
			{"ALTER TABLE t NOWAIT DROP COLUMN IF EXISTS nope", AlterTable, "db.t", nil},
		},
		want: "db.t: id int, a int null, b varchar, c int null, u uuid, g geometry null | key id",
	}, {
		name: "statements without effect on columns",
		steps: []step{
			{base, CreateTable, "db.t", nil},
			{"ALTER TABLE t ENGINE=InnoDB, COMMENT 'c', ALGORITHM=INPLACE, LOCK=NONE", AlterTable, "db.t", nil},
			{"ALTER TABLE t ALTER COLUMN a SET DEFAULT 3, ALTER COLUMN b DROP DEFAULT", AlterTable, "db.t", nil},
			{"ALTER TABLE t ADD CONSTRAINT fk FOREIGN KEY (a) REFERENCES p (id)", AlterTable, "db.t", nil},
			{"ALTER TABLE t DROP FOREIGN KEY fk, DROP FOREIGN KEY nope", AlterTable, "db.t", nil},
			{"ALTER TABLE t PARTITION BY HASH (id) PARTITIONS 2", AlterTable, "db.t", nil},
			{"ALTER TABLE t ADD PARTITION PARTITIONS 2", AlterTable, "db.t", nil},
			{"ALTER TABLE t REMOVE PARTITIONING", AlterTable, "db.t", nil},
		},
		want: "db.t: id int, a int null, b varchar | key id",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := NewTracker()
			runSteps(t, tr, "db", tt.steps)
			if got := state(t, tr); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestApplyKeepsCreateSQLCurrent(t *testing.T) {
	tr := NewTracker()
	runSteps(t, tr, "db", []step{
		{"CREATE TABLE t (id int PRIMARY KEY, a int DEFAULT 1, b int, s varchar(3) CHARACTER SET latin1) ENGINE=MyISAM DEFAULT CHARSET=latin1 COLLATE=latin1_swedish_ci", CreateTable, "db.t", nil},
		{"ALTER TABLE t ALTER COLUMN a DROP DEFAULT, ALTER COLUMN b SET DEFAULT 7, ENGINE=InnoDB, COMMENT='hi'", AlterTable, "db.t", nil},
		{"ALTER TABLE t CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_bin", AlterTable, "db.t", nil},
	})
	tbl, _ := tr.Get("db", "t")
	if cs := tbl.Columns[3].Charset; cs != "utf8mb4" {
		t.Errorf("charset after CONVERT TO: %q", cs)
	}
	want := "CREATE TABLE `t` (`id` INT NOT NULL,`a` INT,`b` INT DEFAULT 7,`s` VARCHAR(3) CHARACTER SET UTF8MB4 COLLATE utf8mb4_bin,PRIMARY KEY(`id`)) ENGINE = InnoDB DEFAULT CHARACTER SET = UTF8MB4 DEFAULT COLLATE = UTF8MB4_BIN COMMENT = 'hi'"
	if tbl.CreateSQL != want {
		t.Errorf("got  %s\nwant %s", tbl.CreateSQL, want)
	}
}

func TestApplyDefaultCharsetChange(t *testing.T) {
	tr := NewTracker()
	runSteps(t, tr, "db", []step{
		{"CREATE TABLE t (a varchar(3), b varchar(3) CHARACTER SET utf8mb4, c enum('x'), d int) DEFAULT CHARSET=latin1 COLLATE=latin1_bin", CreateTable, "db.t", nil},
		{"ALTER TABLE t DEFAULT CHARACTER SET utf8mb4", AlterTable, "db.t", nil},
		{"ALTER TABLE t ADD e text", AlterTable, "db.t", nil},
	})
	tbl, _ := tr.Get("db", "t")
	var got []string
	for _, c := range tbl.Columns {
		got = append(got, c.Name+" "+c.Charset)
	}
	if want := []string{"a latin1", "b utf8mb4", "c latin1", "d ", "e utf8mb4"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q\n%s", got, want, tbl.CreateSQL)
	}
	if !strings.Contains(tbl.CreateSQL, "`a` VARCHAR(3) CHARACTER SET LATIN1 COLLATE latin1_bin") {
		t.Errorf("charset not pinned in CreateSQL: %s", tbl.CreateSQL)
	}
}

func TestApplySkips(t *testing.T) {
	for _, sql := range []string{
		"BEGIN", "COMMIT", "ROLLBACK", "XA START X'31',X'',1", "XA END X'31'", "SAVEPOINT s",
		"GRANT SELECT ON db.* TO 'u'@'%'", "REVOKE ALL ON *.* FROM u", "FLUSH PRIVILEGES", "FLUSH BINARY LOGS",
		"CREATE USER 'u'@'%' IDENTIFIED BY 'p'", "ALTER USER u IDENTIFIED BY 'x'", "DROP USER u",
		"RENAME USER a TO b", "CREATE ROLE r", "SET PASSWORD FOR 'u'@'%' = 'x'", "SET @a = 1",
		"CREATE DEFINER=`root`@`localhost` TRIGGER tr BEFORE INSERT ON t FOR EACH ROW BEGIN SET NEW.a = 1; DROP TABLE t; END",
		"CREATE DEFINER=`root`@`%` PROCEDURE p() BEGIN DROP TABLE t; END",
		"CREATE DEFINER=CURRENT_USER() FUNCTION f() RETURNS int RETURN 1",
		"CREATE OR REPLACE DEFINER=root@localhost AGGREGATE FUNCTION f(x int) RETURNS int BEGIN RETURN 1; END",
		"CREATE EVENT e ON SCHEDULE EVERY 1 DAY DO DELETE FROM t",
		"ALTER EVENT e DISABLE", "DROP TRIGGER IF EXISTS tr", "DROP PROCEDURE p", "DROP FUNCTION f", "DROP EVENT e",
		"CREATE ALGORITHM=UNDEFINED DEFINER=`root`@`localhost` SQL SECURITY DEFINER VIEW v AS SELECT 1",
		"CREATE OR REPLACE VIEW v AS SELECT 1", "ALTER VIEW v AS SELECT 2", "DROP VIEW IF EXISTS v",
		"ANALYZE TABLE t", "OPTIMIZE TABLE t", "REPAIR TABLE t", "CHECK TABLE t",
		"DROP TEMPORARY TABLE IF EXISTS t", "DROP /*!40005 TEMPORARY */ TABLE IF EXISTS `t`",
		"CREATE TEMPORARY TABLE tmp (a int)", "CREATE SPATIAL REFERENCE SYSTEM 4120 NAME 'x' DEFINITION 'y'",
		"# Dummy event replacing event type 160 that slave cannot handle.", "/* nothing */", ";", "",
		"USE db", "LOCK TABLES t WRITE", "UNLOCK TABLES", "CREATE SERVER s FOREIGN DATA WRAPPER mysql OPTIONS (USER 'x')",
		"INSTALL PLUGIN p SONAME 'p.so'", "LOAD INDEX INTO CACHE t",
	} {
		t.Run(sql, func(t *testing.T) {
			tr := NewTracker()
			runSteps(t, tr, "db", []step{{"CREATE TABLE t (a int)", CreateTable, "db.t", nil}, {sql, Skip, "", nil}})
			if got := state(t, tr); got != "db.t: a int null | key" {
				t.Errorf("state changed: %s", got)
			}
		})
	}
}

func TestApplyOther(t *testing.T) {
	tests := []struct{ sql, schema string }{
		{"INSERT INTO t VALUES (1)", ""},
		{"UPDATE t SET a = 1", ""},
		{"DELETE FROM t", ""},
		{"LOAD DATA INFILE 'x' INTO TABLE t", ""},
		{"CALL p()", ""},
		{"CREATE SEQUENCE s", ""},
		{"ALTER DATABASE d2 CHARACTER SET utf8mb4", "d2"},
		{"ALTER DATABASE CHARACTER SET utf8mb4", "db"},
	}
	for _, tt := range tests {
		tr := NewTracker()
		d, err := tr.Apply("db", tt.sql)
		if err != nil || d.Kind != Other || d.Schema != tt.schema || d.SQL != tt.sql {
			t.Errorf("%s: got %+v, %v", tt.sql, d, err)
		}
	}
}

func TestApplyErrors(t *testing.T) {
	const base = "CREATE TABLE t (id int PRIMARY KEY, a int)"
	const unchanged = "db.t: id int, a int null | key id"
	tests := []struct {
		name  string
		steps []step
		want  string
	}{{
		name:  "alter unknown table",
		steps: []step{{"ALTER TABLE nope ADD x int, RENAME TO nope2", AlterTable, "db.nope db.nope2", ErrUnknownTable}},
	}, {
		name:  "create index on unknown table",
		steps: []step{{"CREATE INDEX i ON nope (a)", CreateIndex, "db.nope", ErrUnknownTable}},
	}, {
		name:  "like unknown table",
		steps: []step{{"CREATE TABLE x LIKE other.nope", CreateTable, "db.x other.nope", ErrUnknownTable}},
	}, {
		name:  "create table select",
		steps: []step{{"CREATE TABLE x SELECT 1 AS a", CreateTable, "db.x", ErrUnsupported}},
	}, {
		name:  "syntax",
		steps: []step{{"CREATE TABLE (", Skip, "", ErrSyntax}},
	}, {
		name: "drop missing column",
		steps: []step{
			{base, CreateTable, "db.t", nil},
			{"ALTER TABLE t ADD b int, DROP COLUMN nope", AlterTable, "db.t", ErrMismatch},
		},
		want: unchanged,
	}, {
		name: "add existing column",
		steps: []step{
			{base, CreateTable, "db.t", nil},
			{"ALTER TABLE t ADD COLUMN A int", AlterTable, "db.t", ErrMismatch},
		},
		want: unchanged,
	}, {
		name: "after missing column",
		steps: []step{
			{base, CreateTable, "db.t", nil},
			{"ALTER TABLE t ADD COLUMN b int AFTER nope", AlterTable, "db.t", ErrMismatch},
		},
		want: unchanged,
	}, {
		name: "second primary key",
		steps: []step{
			{base, CreateTable, "db.t", nil},
			{"ALTER TABLE t ADD PRIMARY KEY (a)", AlterTable, "db.t", ErrMismatch},
		},
		want: unchanged,
	}, {
		name: "change to existing name",
		steps: []step{
			{base, CreateTable, "db.t", nil},
			{"ALTER TABLE t CHANGE a id int", AlterTable, "db.t", ErrMismatch},
		},
		want: unchanged,
	}, {
		name: "index on missing column",
		steps: []step{
			{base, CreateTable, "db.t", nil},
			{"CREATE INDEX i ON t (nope)", CreateIndex, "db.t", ErrMismatch},
		},
		want: unchanged,
	}, {
		name: "rename goes on past an unknown table",
		steps: []step{
			{base, CreateTable, "db.t", nil},
			{"RENAME TABLE nope TO x, t TO t2", RenameTable, "db.nope db.x db.t db.t2", ErrUnknownTable},
		},
		want: "db.t2: id int, a int null | key id",
	}, {
		name: "statements go on past an unknown table",
		steps: []step{
			{base, CreateTable, "db.t", nil},
			{"ALTER TABLE nope ADD x int; ALTER TABLE t ADD y int", AlterTable, "db.nope db.t", ErrUnknownTable},
		},
		want: "db.t: id int, a int null, y int null | key id",
	}, {
		name: "statements stop at a mismatch",
		steps: []step{
			{base, CreateTable, "db.t", nil},
			{"ALTER TABLE t DROP nope; ALTER TABLE t ADD y int", AlterTable, "db.t", ErrMismatch},
		},
		want: unchanged,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := NewTracker()
			runSteps(t, tr, "db", tt.steps)
			if got := state(t, tr); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestApplyNeedsDatabase(t *testing.T) {
	var tr Tracker // the zero value is usable
	if _, err := tr.Apply("", "CREATE TABLE t (a int)"); err == nil || !strings.Contains(err.Error(), "no database selected") {
		t.Fatalf("got %v", err)
	}
	if _, err := tr.Apply("", "CREATE TABLE d.t (a int)"); err != nil {
		t.Fatal(err)
	}
	if _, ok := tr.Get("d", "t"); !ok {
		t.Fatal("d.t not tracked")
	}
}

func TestApplyAll(t *testing.T) {
	tr := NewTracker()
	ddls, err := tr.ApplyAll("db", "CREATE TABLE a (x int); BEGIN; DROP TABLE a; CREATE TABLE a (y int);")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range ddls {
		got = append(got, d.Kind.String()+" "+refs(d)+" "+strings.TrimSpace(d.SQL))
	}
	want := []string{
		"create-table db.a CREATE TABLE a (x int)",
		"skip  BEGIN",
		"drop-table db.a DROP TABLE a",
		"create-table db.a CREATE TABLE a (y int)",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
	d, err := tr.Apply("db", "CREATE TABLE b (x int); CREATE TABLE c (x int)")
	if err != nil || d.Kind != CreateTable || refs(d) != "db.b db.c" {
		t.Errorf("same kinds: got %+v, %v", d, err)
	}
	d, err = tr.Apply("db", "BEGIN; DROP TABLE b; CREATE TABLE b (z int)")
	if err != nil || d.Kind != Other || refs(d) != "db.b db.b" {
		t.Errorf("mixed kinds: got %+v, %v", d, err)
	}
	if got := state(t, tr); got != "db.a: y int null | key\ndb.b: z int null | key\ndb.c: x int null | key" {
		t.Errorf("state %s", got)
	}
}

func TestTablesAreNotModified(t *testing.T) {
	tr := NewTracker()
	src, err := ParseCreateTable("db", "CREATE TABLE t (a int)")
	if err != nil {
		t.Fatal(err)
	}
	tr.Put(src)
	src.Columns[0].Name = "changed"
	before, _ := tr.Get("db", "t")
	if before.Columns[0].Name != "a" {
		t.Fatal("Put did not copy the table")
	}
	if _, err := tr.Apply("db", "ALTER TABLE t ADD b int"); err != nil {
		t.Fatal(err)
	}
	after, _ := tr.Get("db", "t")
	if len(before.Columns) != 1 || len(after.Columns) != 2 {
		t.Errorf("before %d columns, after %d", len(before.Columns), len(after.Columns))
	}
}

func TestSnapshot(t *testing.T) {
	tr := NewTracker()
	tr.SetFlavor("mariadb")
	tr.SetDatabaseCharset("", "latin1", "")
	for _, sql := range []string{
		"CREATE TABLE a (id bigint unsigned PRIMARY KEY, s varchar(3))",
		"CREATE TABLE d2.b (u uuid NOT NULL, UNIQUE KEY (u))",
	} {
		if _, err := tr.Apply("db", sql); err != nil {
			t.Fatal(err)
		}
	}
	b, err := json.Marshal(tr)
	if err != nil {
		t.Fatal(err)
	}
	var back Tracker
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	var want []*Table
	for _, tbl := range tr.Tables() {
		w := *tbl
		w.Def = nil // not stored: parsed again when asked for
		want = append(want, &w)
	}
	if !reflect.DeepEqual(back.Tables(), want) || !reflect.DeepEqual(back.charsets, tr.charsets) || back.flavor != "mariadb" {
		t.Errorf("snapshot does not round-trip: %s", b)
	}
	if _, err := back.Apply("db", "ALTER TABLE a DROP s"); err != nil {
		t.Fatal(err)
	}
	empty, _ := json.Marshal(NewTracker())
	if string(empty) != `{"version":1,"tables":[]}` {
		t.Errorf("empty snapshot %s", empty)
	}
	for _, bad := range []string{`{"version":2,"tables":[]}`, `{"version":1,"tables":[null]}`, `[]`} {
		if err := json.Unmarshal([]byte(bad), &back); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

func TestDatabaseCharsets(t *testing.T) {
	tr := NewTracker()
	tr.SetDatabaseCharset("", "latin1", "latin1_swedish_ci")
	tr.SetDatabaseCharset("old", "", "cp1251_bin")
	for _, sql := range []string{
		"CREATE DATABASE d1",
		"CREATE DATABASE d2 CHARACTER SET utf8mb4",
		"CREATE TABLE d1.t (a varchar(3))",
		"CREATE TABLE d2.t (a varchar(3))",
		"CREATE TABLE old.t (a varchar(3))",
		"CREATE TABLE nodb.t (a varchar(3))",
		"CREATE TABLE d2.own (a varchar(3)) COLLATE latin2_bin",
		"ALTER DATABASE d2 COLLATE koi8r_bin",
		"CREATE TABLE d2.later (a varchar(3))",
		"CREATE DATABASE IF NOT EXISTS d2",
		"CREATE TABLE d2.again (a varchar(3))",
		"DROP DATABASE d1",
		"CREATE TABLE d1.gone (a varchar(3))",
	} {
		if _, err := tr.Apply("db", sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	var got []string
	for _, tbl := range tr.Tables() {
		checkRoundTrip(t, tbl)
		got = append(got, tbl.Schema+"."+tbl.Name+" "+tbl.Columns[0].Charset)
	}
	want := []string{"d1.gone ", "d2.again koi8r", "d2.later koi8r", "d2.own latin2", "d2.t utf8mb4", "nodb.t ", "old.t cp1251"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	tbl, _ := tr.Get("old", "t")
	if want := "DEFAULT CHARACTER SET = CP1251 DEFAULT COLLATE = CP1251_BIN"; !strings.HasSuffix(tbl.CreateSQL, want) {
		t.Errorf("CreateSQL %s lacks %s", tbl.CreateSQL, want)
	}
}

func TestFlavorMariaDB(t *testing.T) {
	for _, flavor := range []string{"mysql", "MariaDB"} {
		tr := NewTracker()
		tr.SetFlavor(flavor)
		runSteps(t, tr, "db", []step{
			{"CREATE TABLE t (a json, b int)", CreateTable, "db.t", nil},
			{"ALTER TABLE t MODIFY b json, ADD c json", AlterTable, "db.t", nil},
		})
		tbl, _ := tr.Get("db", "t")
		want := "a json null, b json null, c json null | key"
		if flavor == "MariaDB" {
			want = "a longtext null, b longtext null, c longtext null | key"
			if tbl.Columns[0].Charset != "utf8mb4" {
				t.Errorf("charset %q", tbl.Columns[0].Charset)
			}
		}
		if got := describe(tbl); got != want {
			t.Errorf("%s: got %s, want %s", flavor, got, want)
		}
	}
}

// The partition clause follows partition maintenance, so that a table
// created later from the tracked schema (on the target, or by CREATE TABLE
// ... LIKE) has the partitions the upstream table has at that point.
func TestApplyFollowsPartitions(t *testing.T) {
	tests := []struct {
		name, create string
		alters       []string
		want         string // the partition clause of CreateSQL
	}{{
		name:   "range add drop reorganize",
		create: "CREATE TABLE t (id int PRIMARY KEY) PARTITION BY RANGE (id) (PARTITION p0 VALUES LESS THAN (10), PARTITION p1 VALUES LESS THAN (20))",
		alters: []string{
			"ALTER TABLE t ADD PARTITION (PARTITION p2 VALUES LESS THAN (30), PARTITION p3 VALUES LESS THAN (40))",
			"ALTER TABLE t DROP PARTITION p0",
			"ALTER TABLE t REORGANIZE PARTITION p1, p2 INTO (PARTITION p12 VALUES LESS THAN (30))",
			"ALTER TABLE t TRUNCATE PARTITION p3",
			"ALTER TABLE t ADD PARTITION (PARTITION pmax VALUES LESS THAN MAXVALUE)",
			"ALTER TABLE t REORGANIZE PARTITION pmax INTO (PARTITION p4 VALUES LESS THAN (50), PARTITION pmax VALUES LESS THAN MAXVALUE)",
		},
		want: "PARTITION BY RANGE (`id`) (PARTITION `p12` VALUES LESS THAN (30),PARTITION `p3` VALUES LESS THAN (40),PARTITION `p4` VALUES LESS THAN (50),PARTITION `pmax` VALUES LESS THAN (MAXVALUE))",
	}, {
		name:   "list",
		create: "CREATE TABLE t (id int, r int, PRIMARY KEY (id, r)) PARTITION BY LIST (r) (PARTITION a VALUES IN (1, 2), PARTITION b VALUES IN (3))",
		alters: []string{"ALTER TABLE t ADD PARTITION (PARTITION c VALUES IN (4, 5))", "ALTER TABLE t DROP PARTITION a"},
		want:   "PARTITION BY LIST (`r`) (PARTITION `b` VALUES IN (3),PARTITION `c` VALUES IN (4, 5))",
	}, {
		name:   "hash add and coalesce",
		create: "CREATE TABLE t (id int PRIMARY KEY) PARTITION BY HASH (id) PARTITIONS 4",
		alters: []string{"ALTER TABLE t ADD PARTITION PARTITIONS 2", "ALTER TABLE t COALESCE PARTITION 3"},
		want:   "PARTITION BY HASH (`id`) PARTITIONS 3",
	}, {
		name:   "key repartitioned then removed",
		create: "CREATE TABLE t (id int PRIMARY KEY)",
		alters: []string{"ALTER TABLE t PARTITION BY KEY (id) PARTITIONS 2", "ALTER TABLE t REMOVE PARTITIONING"},
		want:   "",
	}, {
		name:   "maintenance that does not fit is left to the target",
		create: "CREATE TABLE t (id int PRIMARY KEY)",
		alters: []string{"ALTER TABLE t ADD PARTITION (PARTITION p9 VALUES LESS THAN (9))", "ALTER TABLE t EXCHANGE PARTITION p WITH TABLE u"},
		want:   "",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := NewTracker()
			for _, q := range append([]string{tt.create}, tt.alters...) {
				if _, err := tr.Apply("db", q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			tbl, _ := tr.Get("db", "t")
			got := ""
			if i := strings.Index(tbl.CreateSQL, " PARTITION BY"); i >= 0 {
				got = tbl.CreateSQL[i+1:]
			}
			if got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

// partitioningOfText reads what a text does to partitions as the tailer
// does, from its one parse.
func partitioningOfText(currentDB, stmt string) Partitioning {
	_, p, _ := ParseDDL(currentDB, stmt).Describe()
	return p
}

func TestPartitionMaintenance(t *testing.T) {
	for stmt, want := range map[string]bool{
		"ALTER TABLE t ADD PARTITION (PARTITION p9 VALUES LESS THAN (9))": true,
		"ALTER TABLE t DROP PARTITION p0":                                 true,
		"ALTER TABLE t TRUNCATE PARTITION p0, p1":                         true,
		"ALTER TABLE t REORGANIZE PARTITION p0 INTO (PARTITION a VALUES LESS THAN (5), PARTITION b VALUES LESS THAN (10))": true,
		"ALTER TABLE t EXCHANGE PARTITION p0 WITH TABLE u":                                                                 true,
		"ALTER TABLE t COALESCE PARTITION 2":                                                                               true,
		"ALTER TABLE t PARTITION BY HASH (id) PARTITIONS 2":                                                                true,
		"ALTER TABLE t REMOVE PARTITIONING":                                                                                true,
		"ALTER TABLE t ADD COLUMN c int":                                                                                   false,
		"TRUNCATE TABLE t":                                                                                                 false,
		"not sql":                                                                                                          false,
	} {
		if got := partitioningOfText("", stmt).Maintenance; got != want {
			t.Errorf("PartitionMaintenance(%q) = %v, want %v", stmt, got, want)
		}
	}
}

func TestRemovesPartitionRows(t *testing.T) {
	for stmt, want := range map[string]bool{
		"ALTER TABLE t DROP PARTITION p0":                                 true,
		"ALTER TABLE t TRUNCATE PARTITION p0, p1":                         true,
		"ALTER TABLE t TRUNCATE PARTITION ALL":                            true,
		"ALTER TABLE t ADD PARTITION (PARTITION p9 VALUES LESS THAN (9))": false,
		"ALTER TABLE t COALESCE PARTITION 2":                              false,
		"TRUNCATE TABLE t":                                                false,
	} {
		if got := partitioningOfText("", stmt).RemovesRows; got != want {
			t.Errorf("RemovesPartitionRows(%q) = %v, want %v", stmt, got, want)
		}
	}
}

func TestExchangedTable(t *testing.T) {
	for stmt, want := range map[string]string{
		"ALTER TABLE t EXCHANGE PARTITION p0 WITH TABLE u":                   "db.u",
		"ALTER TABLE t EXCHANGE PARTITION p0 WITH TABLE o.u WITH VALIDATION": "o.u",
		"ALTER TABLE t TRUNCATE PARTITION p0":                                "",
		"RENAME TABLE a TO b, b TO a":                                        "",
	} {
		got := ""
		if ref := partitioningOfText("db", stmt).Exchanged; ref != nil {
			got = ref.String()
		}
		if got != want {
			t.Errorf("ExchangedTable(%q) = %q, want %q", stmt, got, want)
		}
	}
}

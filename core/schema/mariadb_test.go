package schema

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"testing"

	_ "github.com/go-sql-driver/mysql"

	"github.com/dmnode/dmnode/tests/harness"
)

// columnsOf prints a table's columns with every field the tracker derives.
func columnsOf(tbl *Table) string {
	s := describe(tbl) + " |"
	for _, c := range tbl.Columns {
		s += fmt.Sprintf(" %s:%s:%d:%v", c.Name, c.Charset, c.Bits, c.Generated)
	}
	return s
}

// mariaDBSteps are run on MariaDB and applied to a tracker; after each, the
// tracker must agree with SHOW CREATE TABLE on every table of database p.
var mariaDBSteps = []string{
	"CREATE TABLE a (id bigint unsigned NOT NULL AUTO_INCREMENT, c char(32) DEFAULT NULL, port int(11) DEFAULT NULL, PRIMARY KEY (id)) ENGINE=InnoDB AUTO_INCREMENT=257 DEFAULT CHARSET=latin1",
	"CREATE TABLE b (a tinyint, b smallint unsigned, c mediumint zerofill, d int, e bigint, f bool, g decimal(10,2) unsigned," +
		" h float, i double, j bit(3), k serial, l char(2) binary, m varchar(3) CHARACTER SET utf8mb3 COLLATE utf8mb3_swedish_ci," +
		" n tinytext, o text CHARACTER SET binary, p blob, q json, r enum('x','y') CHARACTER SET latin1 COLLATE latin1_bin," +
		" s set('a','b'), t date, u datetime(6) DEFAULT current_timestamp(6) ON UPDATE current_timestamp(6), v timestamp NULL," +
		" w time(3), x year, y uuid, z inet6, aa inet4, bb point NOT NULL, cc geometry, dd int AS (d+1) VIRTUAL," +
		" ee varchar(10) AS (concat(m, 'x')) PERSISTENT, ff int INVISIBLE, gg blob COMPRESSED," +
		" hh varchar(5) DEFAULT 'a''b\\\\c' COMMENT 'it''s', ii varchar(10) COLLATE utf8mb4_uca1400_ai_ci," +
		" jj varchar(10) CHARACTER SET cp1251, UNIQUE KEY (a, b), SPATIAL KEY (bb), KEY ke (e) IGNORED, FULLTEXT (n)," +
		" CONSTRAINT chk CHECK (d > 0))",
	"CREATE TABLE c (a int NOT NULL, b varchar(20) NOT NULL, UNIQUE KEY ub (b), KEY (a)) ENGINE=Aria PAGE_CHECKSUM=1 ROW_FORMAT=PAGE TRANSACTIONAL=1",
	"CREATE TABLE d (a int, b int) ROW_FORMAT=DYNAMIC",
	"CREATE TABLE e LIKE c",
	"CREATE OR REPLACE TABLE e (x int PRIMARY KEY, y int UNIQUE)",
	"ALTER TABLE b ADD COLUMN nn int NOT NULL FIRST, ADD COLUMN (oo int, pp int), DROP COLUMN t, MODIFY c bigint NOT NULL AFTER e, CHANGE s ss set('a','b','c') NOT NULL",
	"ALTER TABLE b ADD PRIMARY KEY (nn), DROP INDEX ke, ADD UNIQUE INDEX uo (oo), RENAME COLUMN pp TO qq",
	"ALTER TABLE b DROP PRIMARY KEY",
	"ALTER TABLE c CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
	"ALTER TABLE c DEFAULT CHARSET latin1, ADD COLUMN t text",
	"ALTER IGNORE TABLE c ADD COLUMN IF NOT EXISTS u int, DROP COLUMN IF EXISTS nope, ADD INDEX IF NOT EXISTS (u)",
	"ALTER TABLE c ALTER COLUMN u SET DEFAULT 5, RENAME INDEX ub TO ub2",
	"CREATE INDEX iu ON c (u, a)",
	"DROP INDEX ub2 ON c",
	"ALTER TABLE e DROP COLUMN x",
	"ALTER TABLE d ADD COLUMN c int AFTER a",
	"RENAME TABLE d TO d2, e TO e2",
	"ALTER TABLE d2 RENAME TO d3",
	"CREATE TABLE f (id int PRIMARY KEY, p bigint unsigned, CONSTRAINT fkp FOREIGN KEY (p) REFERENCES a (id)) ENGINE=InnoDB",
	"CREATE TABLE g (a int NULL, b int NOT NULL, PRIMARY KEY (b, a))",
	"ALTER TABLE g DROP PRIMARY KEY, ADD UNIQUE (a)",
	"ALTER TABLE g MODIFY a varchar(3), ADD e enum('q') DEFAULT 'q'",
	"CREATE DATABASE l CHARACTER SET latin1",
	"CREATE TABLE l.t (a varchar(3), b text)",
	"ALTER TABLE l.t RENAME TO p.h",
	"DROP TABLE d3, e2",
}

// TestMariaDB runs DDL on a real MariaDB 10.11 and checks, after every
// statement, that the tracker agrees with SHOW CREATE TABLE; then that the
// target tables derived from the tracked ones can be created.
func TestMariaDB(t *testing.T) {
	if testing.Short() {
		t.Skip("needs mariadbd")
	}
	srv := harness.StartMariaDB(t, harness.Options{})
	ctx := context.Background()
	conn, err := srv.DB(t).Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	tr := NewTracker()
	tr.SetFlavor("mariadb")
	var cs, co string
	if err := conn.QueryRowContext(ctx, "SELECT @@character_set_server, @@collation_server").Scan(&cs, &co); err != nil {
		t.Fatal(err)
	}
	tr.SetDatabaseCharset("", cs, co)
	for _, stmt := range append([]string{"CREATE DATABASE p", "USE p"}, mariaDBSteps...) {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
		if _, err := tr.Apply("p", stmt); err != nil {
			t.Fatalf("apply %s: %v", stmt, err)
		}
		compareWithServer(t, ctx, conn, tr, stmt)
	}
	if _, err := conn.ExecContext(ctx, "CREATE DATABASE q"); err != nil {
		t.Fatal(err)
	}
	for _, tbl := range tr.Tables() {
		ddl, err := TargetCreateTable(tbl, "q", tbl.Name, []string{"c_source"})
		if err != nil {
			t.Fatalf("target of %s: %v", tbl.Name, err)
		}
		if _, err := conn.ExecContext(ctx, ddl); err != nil {
			t.Fatalf("create target of %s: %v\n%s", tbl.Name, err, ddl)
		}
		target := showCreate(t, ctx, conn, "q", tbl.Name)
		if got, want := target.ColumnNames(), append(tbl.ColumnNames(), "c_source"); !slices.Equal(got, want) {
			t.Errorf("target %s columns %v, want %v", tbl.Name, got, want)
		}
	}
}

func showCreate(t *testing.T, ctx context.Context, conn *sql.Conn, db, name string) *Table {
	t.Helper()
	var n, create string
	if err := conn.QueryRowContext(ctx, "SHOW CREATE TABLE `"+db+"`.`"+name+"`").Scan(&n, &create); err != nil {
		t.Fatal(err)
	}
	tbl, err := ParseCreateTable(db, create)
	if err != nil {
		t.Fatalf("parse SHOW CREATE TABLE %s.%s: %v\n%s", db, name, err, create)
	}
	checkRoundTrip(t, tbl)
	return tbl
}

func compareWithServer(t *testing.T, ctx context.Context, conn *sql.Conn, tr *Tracker, after string) {
	t.Helper()
	rows, err := conn.QueryContext(ctx, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'p' ORDER BY 1")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	var tracked []string
	for _, tbl := range tr.Tables() {
		if tbl.Schema == "p" {
			tracked = append(tracked, tbl.Name)
		}
	}
	if !slices.Equal(names, tracked) {
		t.Fatalf("after %.80s: server has tables %v, tracker %v", after, names, tracked)
	}
	for _, n := range names {
		server := showCreate(t, ctx, conn, "p", n)
		mine, _ := tr.Get("p", n)
		if got, want := columnsOf(mine), columnsOf(server); got != want {
			t.Errorf("after %.80s: table %s\ntracker %s\nserver  %s", after, n, got, want)
		}
	}
}

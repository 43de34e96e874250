package schema

import (
	"reflect"
	"strings"
	"testing"
)

func TestSplitStatements(t *testing.T) {
	classNames := map[stmtClass]string{classParse: "parse", classSkip: "skip", classSkipRest: "skip-rest"}
	tests := []struct {
		name, sql string
		want      []string // class, "|", text trimmed; "+replace" when OR REPLACE was cut
	}{
		{"empty", " ; ;", nil},
		{"one", "DROP TABLE t", []string{"parse|DROP TABLE t"}},
		{"two", "CREATE TABLE a (x int); DROP TABLE a;", []string{"parse|CREATE TABLE a (x int)", "parse|DROP TABLE a"}},
		{"semicolons in strings and comments", "ALTER TABLE t COMMENT 'a;b' /* ; */ -- ;\n, COMMENT \"c;\"; BEGIN # ;",
			[]string{"parse|ALTER TABLE t COMMENT 'a;b' /* ; */ -- ;\n, COMMENT \"c;\"", "skip|BEGIN # ;"}},
		{"escaped quotes", `INSERT INTO t VALUES ('a\';', 'b'';'); COMMIT`,
			[]string{`parse|INSERT INTO t VALUES ('a\';', 'b'';')`, "skip|COMMIT"}},
		{"stored program swallows the rest", "DROP TABLE a; CREATE PROCEDURE p() BEGIN DROP TABLE b; END; DROP TABLE c",
			[]string{"parse|DROP TABLE a", "skip-rest|CREATE PROCEDURE p() BEGIN DROP TABLE b; END; DROP TABLE c"}},
		{"drop of a stored program does not", "DROP PROCEDURE p; DROP TABLE c",
			[]string{"skip|DROP PROCEDURE p", "parse|DROP TABLE c"}},
		{"definer", "CREATE DEFINER = 'root'@'%' SQL SECURITY INVOKER VIEW v AS SELECT 1", []string{"skip|CREATE DEFINER = 'root'@'%' SQL SECURITY INVOKER VIEW v AS SELECT 1"}},
		{"executable comment", "/*!50003 CREATE*/ /*!50017 DEFINER=`u`@`h`*/ /*!50003 TRIGGER tr AFTER INSERT ON t FOR EACH ROW SET @a = 1 */",
			[]string{"skip-rest|/*!50003 CREATE*/ /*!50017 DEFINER=`u`@`h`*/ /*!50003 TRIGGER tr AFTER INSERT ON t FOR EACH ROW SET @a = 1 */"}},
		{"or replace", "CREATE OR REPLACE TABLE t (a int)", []string{"parse+replace|CREATE     TABLE t (a int)"}},
		{"alter online", "ALTER ONLINE IGNORE TABLE t ADD a int", []string{"parse|ALTER     TABLE t ADD a int"}},
		{"create unique index", "CREATE UNIQUE INDEX i ON t (a)", []string{"parse|CREATE UNIQUE INDEX i ON t (a)"}},
		{"begin not atomic", "BEGIN NOT ATOMIC DROP TABLE t; END", []string{"skip-rest|BEGIN NOT ATOMIC DROP TABLE t; END"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, c := range splitStatements(tt.sql) {
				s := classNames[c.class]
				if c.orReplace {
					s += "+replace"
				}
				got = append(got, s+"|"+strings.TrimSpace(c.text))
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestCompatRewrite(t *testing.T) {
	tests := []struct{ in, want string }{
		{"CREATE TABLE t (a int INVISIBLE, KEY k (a) IGNORED)", "CREATE TABLE t (a int  , KEY k (a)  )"},
		{"CREATE TABLE t (a int) WITH SYSTEM VERSIONING", "CREATE TABLE t (a int)  "},
		{"CREATE TABLE t (a blob COMPRESSED, b text COMPRESSED=zlib) ROW_FORMAT=COMPRESSED", "CREATE TABLE t (a blob  , b text  ) ROW_FORMAT=COMPRESSED"},
		{"CREATE TABLE t (a int) ROW_FORMAT=PAGE", "CREATE TABLE t (a int)  "},
		{"ALTER TABLE t WAIT 10 ADD x int", "ALTER TABLE t   ADD x int"},
		{"CREATE TABLE t (`g` point NOT NULL /*!80003 SRID 4326 */, SPATIAL KEY (g))",
			"CREATE TABLE t (`g`  LONGBLOB SECONDARY_ENGINE_ATTRIBUTE 'dmnode:type:point'  NOT NULL /*!80003   */,   KEY (g))"},
		{"ALTER TABLE t ADD COLUMN point int, ADD x inet6, DROP COLUMN polygon, ADD KEY point (x)",
			"ALTER TABLE t ADD COLUMN point int, ADD x  LONGBLOB SECONDARY_ENGINE_ATTRIBUTE 'dmnode:type:inet6' , DROP COLUMN polygon, ADD KEY point (x)"},
		{"CREATE TABLE t (a varchar(3) DEFAULT _cp1251'x')", "CREATE TABLE t (a varchar(3) DEFAULT  'x')"},
	}
	for _, tt := range tests {
		got, changed := compatRewrite(tt.in)
		if got != tt.want || !changed {
			t.Errorf("%s:\n got  %q\n want %q", tt.in, got, tt.want)
		}
	}
	if _, changed := compatRewrite("CREATE TABLE t (a int)"); changed {
		t.Error("rewrote a plain statement")
	}
}

package schema

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// describe prints a table compactly: its columns, then its key.
func describe(t *Table) string {
	var b strings.Builder
	for i, c := range t.Columns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(c.Name + " " + c.Type)
		if c.Unsigned {
			b.WriteString(" unsigned")
		}
		if c.Nullable {
			b.WriteString(" null")
		}
	}
	b.WriteString(" | key")
	for _, k := range t.Key {
		b.WriteString(" " + t.Columns[k].Name)
	}
	return b.String()
}

// checkRoundTrip checks that CreateSQL parses back into the same table and
// prints the same, and that Bits follows Type.
func checkRoundTrip(t *testing.T, tbl *Table) {
	t.Helper()
	again, err := ParseCreateTable(tbl.Schema, tbl.CreateSQL)
	if err != nil {
		t.Fatalf("parse CreateSQL of %s.%s: %v\n%s", tbl.Schema, tbl.Name, err, tbl.CreateSQL)
	}
	if !reflect.DeepEqual(again, tbl) {
		t.Errorf("CreateSQL does not round-trip:\n got %+v\nwant %+v", again, tbl)
	}
	for _, c := range tbl.Columns {
		if c.Bits != intBits[c.Type] {
			t.Errorf("column %s %s: bits %d", c.Name, c.Type, c.Bits)
		}
	}
}

func TestParseCreateTable(t *testing.T) {
	tests := []struct {
		name, sql, want string
	}{{
		name: "primary key",
		sql:  "CREATE TABLE t1 (id bigint unsigned NOT NULL AUTO_INCREMENT, c char(32) DEFAULT NULL, port int(11) DEFAULT NULL, PRIMARY KEY (id)) ENGINE=InnoDB AUTO_INCREMENT=257 DEFAULT CHARSET=latin1",
		want: "id bigint unsigned, c char null, port int null | key id",
	}, {
		name: "integer and numeric types",
		sql:  "CREATE TABLE t (a tinyint, b smallint unsigned, c mediumint, d int zerofill, e bigint, f bool, g decimal(10,2) unsigned, h float, i double, j real, k bit(3), l serial)",
		want: "a tinyint null, b smallint unsigned null, c mediumint null, d int unsigned null, e bigint null, f tinyint null, g decimal unsigned null, h float null, i double null, j double null, k bit null, l bigint unsigned | key l",
	}, {
		name: "string types",
		sql:  "CREATE TABLE t (a char(1), b varchar(2), c binary(3), d varbinary(4), e tinytext, f text, g mediumtext, h longtext, i tinyblob, j blob, k mediumblob, l longblob, m text charset binary, n varchar(3) binary, o enum('x','y'), p set('x','y'), q json)",
		want: "a char null, b varchar null, c binary null, d varbinary null, e tinytext null, f text null, g mediumtext null, h longtext null, i tinyblob null, j blob null, k mediumblob null, l longblob null, m blob null, n varchar null, o enum null, p set null, q json null | key",
	}, {
		name: "temporal types",
		sql:  "CREATE TABLE t (a date, b datetime(6), c timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP, d time(3), e year)",
		want: "a date null, b datetime null, c timestamp, d time null, e year null | key",
	}, {
		name: "inline primary key",
		sql:  "CREATE TABLE t (a int primary key, b int)",
		want: "a int, b int null | key a",
	}, {
		name: "primary key columns become not null",
		sql:  "CREATE TABLE t (a int NULL, b int, PRIMARY KEY (b, a))",
		want: "a int, b int | key b a",
	}, {
		name: "first unique key on not null columns",
		sql:  "CREATE TABLE t (a int, b int NOT NULL, c int NOT NULL, UNIQUE KEY ua (a), UNIQUE KEY ub (b, c), UNIQUE KEY uc (c))",
		want: "a int null, b int, c int | key b c",
	}, {
		name: "inline unique key",
		sql:  "CREATE TABLE t (a int NOT NULL UNIQUE, b int)",
		want: "a int, b int null | key a",
	}, {
		name: "unique key on nullable column is no key",
		sql:  "CREATE TABLE t (a int, b int, UNIQUE KEY (a), KEY (b))",
		want: "a int null, b int null | key",
	}, {
		name: "functional unique key is no key",
		sql:  "CREATE TABLE t (a varchar(3) NOT NULL, UNIQUE KEY f ((lower(a))))",
		want: "a varchar | key",
	}, {
		name: "mariadb 10.11",
		sql: "CREATE TABLE `orders` (\n" +
			"  `id` int(11) NOT NULL AUTO_INCREMENT,\n" +
			"  `ts` timestamp NOT NULL DEFAULT current_timestamp() ON UPDATE current_timestamp(),\n" +
			"  `doc` longtext CHARACTER SET utf8mb4 COLLATE utf8mb4_bin DEFAULT NULL CHECK (json_valid(`doc`)),\n" +
			"  `name` varchar(64) CHARACTER SET utf8mb3 COLLATE utf8mb3_general_ci NOT NULL DEFAULT 'it''s',\n" +
			"  `nick` varchar(64) COLLATE utf8mb4_uca1400_ai_ci DEFAULT NULL COMMENT 'a\\\\b',\n" +
			"  `state` enum('new','done') CHARACTER SET latin1 COLLATE latin1_bin NOT NULL DEFAULT 'new',\n" +
			"  `u` uuid NOT NULL,\n" +
			"  `ip` inet6 DEFAULT NULL,\n" +
			"  `hidden` int(11) DEFAULT NULL INVISIBLE,\n" +
			"  PRIMARY KEY (`id`),\n" +
			"  UNIQUE KEY `u` (`u`),\n" +
			"  KEY `name` (`name`) IGNORED\n" +
			") ENGINE=Aria AUTO_INCREMENT=5 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_uca1400_ai_ci PAGE_CHECKSUM=1 ROW_FORMAT=PAGE",
		want: "id int, ts timestamp, doc longtext null, name varchar, nick varchar null, state enum, u uuid, ip inet6 null, hidden int null | key id",
	}, {
		name: "mysql 8",
		sql: "CREATE TABLE `geo` (\n" +
			"  `id` int unsigned NOT NULL,\n" +
			"  `g` point NOT NULL /*!80003 SRID 4326 */,\n" +
			"  `c` varchar(10) CHARACTER SET cp1251 DEFAULT NULL,\n" +
			"  `v` int DEFAULT NULL /*!80023 INVISIBLE */,\n" +
			"  `d` varchar(36) DEFAULT (uuid()),\n" +
			"  UNIQUE KEY `id` (`id`),\n" +
			"  SPATIAL KEY `g` (`g`),\n" +
			"  KEY `f` ((lower(`c`))) /*!80000 INVISIBLE */,\n" +
			"  CONSTRAINT `chk` CHECK ((`id` > 0))\n" +
			") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci\n" +
			"/*!50100 PARTITION BY HASH (`id`) PARTITIONS 4 */",
		want: "id int unsigned, g geometry, c varchar null, v int null, d varchar null | key id",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tbl, err := ParseCreateTable("db", tt.sql)
			if err != nil {
				t.Fatal(err)
			}
			if got := describe(tbl); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
			if tbl.Schema != "db" {
				t.Errorf("schema %q", tbl.Schema)
			}
			checkRoundTrip(t, tbl)
		})
	}
}

func TestParseCreateTableKeepsAttributes(t *testing.T) {
	tbl, err := ParseCreateTable("db", "CREATE TABLE `t` (`e` enum('a','b') CHARACTER SET latin1 COLLATE latin1_bin DEFAULT 'a', `p` point NOT NULL, `s` varchar(3) DEFAULT 'x\\\\y''z', `c` int COMMENT 'héllo')")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"ENUM('a','b') CHARACTER SET latin1 COLLATE latin1_bin DEFAULT 'a'",
		"`p` POINT NOT NULL",
		`DEFAULT 'x\\y''z'`,
		"COMMENT 'héllo'",
	} {
		if !strings.Contains(tbl.CreateSQL, want) {
			t.Errorf("CreateSQL lacks %q:\n%s", want, tbl.CreateSQL)
		}
	}
}

func TestParseCreateTableErrors(t *testing.T) {
	tests := []struct {
		name, sql string
		want      error
	}{
		{"garbage", "CREATE TABLE (", ErrSyntax},
		{"not create table", "DROP TABLE t", ErrSyntax},
		{"two statements", "CREATE TABLE a (x int); CREATE TABLE b (x int)", ErrSyntax},
		{"like", "CREATE TABLE a LIKE b", ErrUnsupported},
		{"select", "CREATE TABLE a AS SELECT 1", ErrUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseCreateTable("db", tt.sql)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestSyntaxErrorTruncatesStatement(t *testing.T) {
	long := "CREATE TABLE t (" + strings.Repeat("a int, ", 100) + "oops oops oops)"
	_, err := ParseCreateTable("db", long)
	if !errors.Is(err, ErrSyntax) {
		t.Fatalf("got %v", err)
	}
	if !strings.Contains(err.Error(), long[:200]+"...") || strings.Contains(err.Error(), long[:201]) {
		t.Errorf("statement not truncated to 200 characters: %v", err)
	}
}

func TestColumnCharsetAndGenerated(t *testing.T) {
	tests := []struct {
		name, sql string
		want      []string // per column: "name charset [generated]"
	}{{
		name: "table default",
		sql:  "CREATE TABLE t (a varchar(3), b int, c blob, d binary(2), e json) DEFAULT CHARSET=latin1",
		want: []string{"a latin1", "b ", "c binary", "d binary", "e "},
	}, {
		name: "column charsets and collations",
		sql: "CREATE TABLE t (a varchar(3) CHARACTER SET utf8mb3, b text COLLATE utf8mb4_bin, c enum('x') CHARACTER SET cp1251," +
			" d set('y') COLLATE latin1_bin, e char(1) CHARACTER SET latin2 COLLATE latin2_bin, f varchar(3) COLLATE utf8mb4_uca1400_ai_ci) COLLATE=koi8r_general_ci",
		want: []string{"a utf8", "b utf8mb4", "c cp1251", "d latin1", "e latin2", "f utf8mb4"},
	}, {
		name: "unknown database default",
		sql:  "CREATE TABLE t (a varchar(3))",
		want: []string{"a "},
	}, {
		name: "generated",
		sql:  "CREATE TABLE t (a int, b int AS (a + 1) VIRTUAL, c varchar(9) GENERATED ALWAYS AS (concat(a)) STORED) CHARSET utf8mb4",
		want: []string{"a ", "b  generated", "c utf8mb4 generated"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tbl, err := ParseCreateTable("db", tt.sql)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range tbl.Columns {
				s := c.Name + " " + c.Charset
				if c.Generated {
					s += " generated"
				}
				got = append(got, s)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
			checkRoundTrip(t, tbl)
		})
	}
}

// TestParseConcurrently parses statements naming collations the parser
// must register while other goroutines parse; run with -race.
func TestParseConcurrently(t *testing.T) {
	const n = 8
	errs := make(chan error, n)
	for i := range n {
		go func() {
			names := []string{"utf8mb4_uca1400_swedish_ai_ci", "utf8mb3_danish_ci", "latin1_nopad_bin", "ucs2_general_mysql500_ci"}
			sql := "CREATE TABLE t (a varchar(3) COLLATE " + names[i%len(names)] + ", b int)"
			_, err := ParseCreateTable("db", sql)
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

package filter

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// render prints parts as "event schema.table [also...]" lines.
func render(parts []DDLEvent) string {
	var lines []string
	for _, p := range parts {
		s := fmt.Sprintf("%s %s.%s", p.Event, p.Schema, p.Table)
		if len(p.Also) > 0 {
			var also []string
			for _, a := range p.Also {
				also = append(also, string(a))
			}
			s += " [" + strings.Join(also, ", ") + "]"
		}
		lines = append(lines, s)
	}
	return strings.Join(lines, "\n")
}

func TestClassifyDDL(t *testing.T) {
	tests := []struct{ stmt, want string }{
		{"CREATE DATABASE d2", "create database d2."},
		{"CREATE SCHEMA IF NOT EXISTS d2", "create database d2."},
		{"DROP DATABASE d2", "drop database d2."},
		{"ALTER DATABASE CHARACTER SET utf8mb4", "alter database db. [modify schema charset and collate]"},
		{"ALTER SCHEMA d2 COLLATE utf8mb4_bin", "alter database d2. [modify schema charset and collate]"},
		{"CREATE TABLE t (a int)", "create table db.t"},
		{"CREATE TABLE IF NOT EXISTS d2.t LIKE t0", "create table d2.t\ncreate table db.t0"},
		{"CREATE TEMPORARY TABLE t (a int)", ""},
		{"DROP TABLE a, d2.b", "drop table db.a\ndrop table d2.b"},
		{"DROP TEMPORARY TABLE IF EXISTS a", ""},
		{"DROP VIEW v", "drop view db.v"},
		{"CREATE VIEW v AS SELECT 1", "create view db.v"},
		{"TRUNCATE TABLE t", "truncate table db.t"},
		{"RENAME TABLE a TO b, d2.c TO d3.c", "rename table db.a\nrename table db.b\nrename table d2.c\nrename table d3.c"},
		{"CREATE UNIQUE INDEX i ON t (a)", "create index db.t"},
		{"DROP INDEX i ON d2.t", "drop index d2.t"},
		{"ALTER TABLE t ADD COLUMN c int, DROP COLUMN d", "alter table db.t [alter table, add column]\ndrop column db.t [alter table]"},
		{"ALTER TABLE t ADD INDEX i (a), ADD UNIQUE u (b), ADD PRIMARY KEY (c)",
			"modify constraint db.t [alter table, create index]\nmodify constraint db.t [alter table, create index]\n" +
				"modify constraint db.t [alter table, add primary key, create index]"},
		{"ALTER TABLE t ADD CONSTRAINT fk FOREIGN KEY (a) REFERENCES p (id), ADD CHECK (a > 0)",
			"modify constraint db.t [alter table, add foreign key]\nmodify constraint db.t [alter table]"},
		{"ALTER TABLE t DROP FOREIGN KEY fk, DROP CHECK c", "alter table db.t [alter table, drop foreign key]\nalter table db.t [alter table, modify constraint]"},
		{"ALTER TABLE t DROP PRIMARY KEY, DROP INDEX i", "drop primary key db.t [alter table]\ndrop index db.t [alter table]"},
		{"ALTER TABLE t MODIFY c bigint", "modify column db.t [alter table]"},
		{"ALTER TABLE t CHANGE c d int", "modify column db.t [alter table]"},
		{"ALTER TABLE t RENAME COLUMN a TO b, RENAME INDEX i TO j", "rename column db.t [alter table]\nrename index db.t [alter table]"},
		{"ALTER TABLE t RENAME TO d2.u", "rename table db.t [alter table]\nrename table d2.u [alter table]"},
		{"ALTER TABLE t ALTER COLUMN c SET DEFAULT 1", "modify default value db.t [alter table, set default value]"},
		{"ALTER TABLE t CONVERT TO CHARACTER SET latin1", "modify charset db.t [alter table, modify table charset and collate]"},
		{"ALTER TABLE t ENGINE = MyISAM COMMENT = 'x'", "modify storage engine db.t [alter table, modify table comment]"},
		{"ALTER TABLE t ENGINE = MyISAM, COMMENT = 'x'", "modify storage engine db.t [alter table]\nalter table db.t [alter table, modify table comment]"},
		{"ALTER TABLE t COMMENT = 'x' COLLATE utf8mb4_bin", "modify collation db.t [alter table, modify table comment, modify table charset and collate]"},
		{"ALTER TABLE t AUTO_INCREMENT = 5", "alter table db.t [alter table, rebase auto id]"},
		{"ALTER TABLE t ALGORITHM = INPLACE, LOCK = NONE, ADD c int", "alter table db.t [alter table, add column]"},
		{"ALTER TABLE t FORCE", "alter table db.t [alter table]"},
		{"ALTER TABLE t ALTER INDEX i INVISIBLE", "alter table db.t [alter table, alter index visibility]"},
		{"ALTER TABLE t ADD PARTITION (PARTITION p2 VALUES LESS THAN (10))", "alter table db.t [alter table, add table partition]"},
		{"ALTER TABLE t DROP PARTITION p1", "drop table partition db.t [alter table]"},
		{"ALTER TABLE t TRUNCATE PARTITION p1", "truncate table partition db.t [alter table]"},
		{"ALTER TABLE t REORGANIZE PARTITION p1 INTO (PARTITION p2 VALUES LESS THAN (5))", "reorganize table partition db.t [alter table]"},
		{"ALTER TABLE t REBUILD PARTITION p1", "rebuild table partition db.t [alter table]"},
		{"ALTER TABLE t COALESCE PARTITION 2", "coalesce table partition db.t [alter table]"},
		{"ALTER TABLE t EXCHANGE PARTITION p1 WITH TABLE t2", "exchange table partition db.t [alter table]"},
		{"ALTER TABLE t PARTITION BY HASH(a) PARTITIONS 4", "alter table db.t [alter table, alter table partitioning]"},
		{"ALTER TABLE t REMOVE PARTITIONING", "alter table db.t [alter table, remove table partitioning]"},
		{"GRANT ALL ON *.* TO u", ""},
		{"CREATE SEQUENCE s", ""},
		{"INSERT INTO t VALUES (1)", ""},
		// MariaDB and MySQL 8 spellings the tidb parser lacks
		{"ALTER ONLINE TABLE t ADD c int", "alter table db.t [alter table, add column]"},
		{"CREATE OR REPLACE TABLE t (a uuid, b inet6, g geometry)", "create table db.t"},
		{"ALTER TABLE t WAIT 5 ADD c int INVISIBLE", "alter table db.t [alter table, add column]"},
		{"ALTER TABLE t NOWAIT DROP COLUMN c", "drop column db.t [alter table]"},
		{"CREATE TABLE t (a int, b int AS (a + 1) PERSISTENT) WITH SYSTEM VERSIONING ROW_FORMAT=PAGE", "create table db.t"},
		{"ALTER TABLE t MODIFY c varchar(10) COMPRESSED", "modify column db.t [alter table]"},
		{"DROP TABLE IF EXISTS t WAIT 2", "drop table db.t"},
		{"RENAME TABLE IF EXISTS a TO b", "rename table db.a\nrename table db.b"},
		{"ALTER TABLE t ALTER INDEX i IGNORED, ALTER INDEX j NOT IGNORED", "alter table db.t [alter table, alter index visibility]\nalter table db.t [alter table, alter index visibility]"},
		{"CREATE TABLE t (a int, KEY k (a) IGNORED)", "create table db.t"},
		{"/*!40000 ALTER TABLE t DISABLE KEYS */", "alter table db.t [alter table]"},
		{"CREATE TABLE t (a varchar(3) CHARACTER SET cp1251) DEFAULT CHARSET = koi8u COLLATE utf8mb4_uca1400_ai_ci", "create table db.t"},
		{"ALTER TABLE t COLLATE = 'uca1400_ai_ci', ALGORITHM = INSTANT", "modify collation db.t [alter table, modify table charset and collate]"},
	}
	for _, tt := range tests {
		parts, err := ClassifyDDL("db", tt.stmt)
		if err != nil {
			t.Errorf("%s: %v", tt.stmt, err)
			continue
		}
		if got := render(parts); got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.stmt, strings.ReplaceAll(got, "\n", "\n     "), strings.ReplaceAll(tt.want, "\n", "\n     "))
		}
	}
	if _, err := ClassifyDDL("db", "ALTER TABLE t FROB"); !errors.Is(err, ErrSyntax) {
		t.Errorf("unparsable statement: %v", err)
	}
}

// oldTable is the table ModifyColumn cases start from.
const oldTable = "CREATE TABLE `t` (" +
	"`id` int unsigned NOT NULL AUTO_INCREMENT, `tiny` tinyint, `big` bigint, `amount` decimal(10,2), " +
	"`e` enum('a','b'), `s` set('x','y'), `c` char(10), `bin` binary(4), `v` varchar(20), `txt` text, " +
	"`d` int DEFAULT '0', `cs` varchar(5) CHARACTER SET latin1, `dt` datetime(6), `f` float, " +
	"PRIMARY KEY (`id`)) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci"

func TestClassifyModifyColumn(t *testing.T) {
	lookup := func(schema, table string) (string, bool) {
		if schema == "db" && table == "t" {
			return oldTable, true
		}
		return "", false
	}
	tests := []struct {
		spec string
		want Event
	}{
		{"MODIFY big int", ValueRangeDecrease},
		{"MODIFY tiny bigint", AlterTable},
		{"MODIFY tiny tinyint unsigned", PrecisionDecrease},
		{"MODIFY big int unsigned", ValueRangeDecrease},
		{"MODIFY amount decimal(12,2)", PrecisionDecrease},
		{"MODIFY amount decimal(10,2)", AlterTable},
		{"MODIFY e enum('a','b','c')", AlterTable},
		{"MODIFY e enum('b','a')", ValueRangeDecrease},
		{"MODIFY s set('x')", ValueRangeDecrease},
		{"MODIFY c char(5)", AlterTable},
		{"MODIFY bin binary(8)", PrecisionDecrease},
		{"MODIFY v varchar(10)", ValueRangeDecrease},
		{"MODIFY v varchar(30)", AlterTable},
		{"MODIFY v char(20)", ModifyColumn},
		{"MODIFY v text", AlterTable},
		{"MODIFY txt varchar(100)", ModifyColumn},
		{"MODIFY txt mediumtext", AlterTable},
		{"MODIFY dt datetime", ValueRangeDecrease},
		{"MODIFY f double", ModifyColumn},
		{"MODIFY v int", ModifyColumn},
		{"MODIFY id int unsigned NOT NULL", RemoveAutoIncrement},
		{"MODIFY id int unsigned NOT NULL AUTO_INCREMENT", AlterTable},
		{"MODIFY d int DEFAULT 1", ModifyDefaultValue},
		{"MODIFY d int DEFAULT 0", AlterTable},
		{"MODIFY d int", ModifyDefaultValue},
		{"MODIFY big bigint DEFAULT NULL", AlterTable},
		{"MODIFY cs varchar(5) CHARACTER SET utf8mb4", ModifyCharset},
		{"MODIFY v varchar(20) CHARACTER SET utf8mb4", AlterTable},
		{"MODIFY v varchar(20) COLLATE utf8mb4_bin", ModifyCollation},
		{"MODIFY big bigint FIRST", ModifyColumnsOrder},
		{"MODIFY big bigint AFTER id", ModifyColumnsOrder},
		{"CHANGE big large bigint", RenameColumn},
		{"CHANGE big large int", ValueRangeDecrease},
		{"MODIFY missing int", ModifyColumn},
	}
	for _, tt := range tests {
		parts, err := ClassifyDDLWith("db", "ALTER TABLE t "+tt.spec, lookup)
		if err != nil {
			t.Fatalf("%s: %v", tt.spec, err)
		}
		if len(parts) != 1 || parts[0].Event != tt.want {
			t.Errorf("%s: got %s, want %s", tt.spec, render(parts), tt.want)
		}
	}
	parts, err := ClassifyDDLWith("db", "ALTER TABLE other MODIFY big int", lookup)
	if err != nil || parts[0].Event != ModifyColumn {
		t.Errorf("unknown table: %s, %v", render(parts), err)
	}
}

func TestParseEvent(t *testing.T) {
	for in, want := range map[string]Event{
		"Insert": Insert, "CREATE SCHEMA": CreateDatabase, "drop schema": DropDatabase,
		"alter schema": AlterDatabase, " all DDL ": AllDDL, "Incompatible DDL Changes": IncompatibleDDLChanges,
	} {
		if got, err := ParseEvent(in); err != nil || got != want {
			t.Errorf("ParseEvent(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "inserts", "drop columns", "truncate"} {
		if _, err := ParseEvent(in); err == nil {
			t.Errorf("ParseEvent(%q): no error", in)
		}
	}
	for e := range events {
		if Note(e) != "" && (e == Insert || e == AlterTable) {
			t.Errorf("Note(%q) = %q", e, Note(e))
		}
	}
}

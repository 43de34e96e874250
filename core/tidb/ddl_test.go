package tidb

import (
	"errors"
	"strings"
	"testing"
)

var (
	v5  = Version{Major: 5, Minor: 3}
	v61 = Version{Major: 6, Minor: 1}
	v65 = Version{Major: 6, Minor: 5}
	v85 = Version{Major: 8, Minor: 5}
)

// Each entry of the table in ddl.go, at a version on each side of it.
func TestAdaptDDL(t *testing.T) {
	for _, tc := range []struct {
		name    string
		v       Version
		stmt    string
		want    []string // statements to run; nil with refused
		refused string   // part of the refusal's reason
		note    string   // part of a note
	}{
		{name: "plain statement unchanged", v: v85, stmt: "ALTER TABLE `d`.`t` ADD COLUMN `c` INT",
			want: []string{"ALTER TABLE `d`.`t` ADD COLUMN `c` INT"}},
		{name: "unparseable passes to the target", v: v85, stmt: "FROB TABLE x", want: []string{"FROB TABLE x"}},
		{name: "multi-change ALTER kept from v6.2", v: v65, stmt: "ALTER TABLE `d`.`t` ADD COLUMN `a` INT, ADD INDEX `ia`(`a`)",
			want: []string{"ALTER TABLE `d`.`t` ADD COLUMN `a` INT, ADD INDEX `ia`(`a`)"}},
		{name: "multi-change ALTER split before v6.2", v: v61, stmt: "ALTER TABLE `d`.`t` ADD COLUMN `a` INT, ADD INDEX `ia`(`a`), DROP COLUMN `b`",
			want: []string{"ALTER TABLE `d`.`t` ADD COLUMN `a` INT", "ALTER TABLE `d`.`t` ADD INDEX `ia`(`a`)", "ALTER TABLE `d`.`t` DROP COLUMN `b`"},
			note: "split"},
		{name: "dependent renames not split", v: v61, stmt: "ALTER TABLE `d`.`t` CHANGE COLUMN `a` `b` INT, CHANGE COLUMN `b` `a` INT",
			refused: "depend on each other"},
		{name: "FULLTEXT index left out of CREATE TABLE", v: v85, stmt: "CREATE TABLE `d`.`t` (`id` INT PRIMARY KEY, `body` TEXT, FULLTEXT KEY `ft`(`body`))",
			want: []string{"CREATE TABLE `d`.`t` (`id` INT PRIMARY KEY,`body` TEXT)"}, note: "FULLTEXT"},
		{name: "ADD FULLTEXT left out", v: v85, stmt: "ALTER TABLE `d`.`t` ADD FULLTEXT INDEX `ft`(`body`)", want: nil, note: "FULLTEXT"},
		{name: "CREATE FULLTEXT INDEX left out", v: v85, stmt: "CREATE FULLTEXT INDEX `ft` ON `d`.`t` (`body`)", want: nil, note: "FULLTEXT"},
		{name: "spatial type refused", v: v85, stmt: "CREATE TABLE `d`.`t` (`id` INT PRIMARY KEY, `g` POINT NOT NULL)", refused: "POINT"},
		{name: "UUID type refused", v: v85, stmt: "ALTER TABLE `d`.`t` ADD COLUMN `u` UUID", refused: "UUID"},
		{name: "INET6 type refused", v: v85, stmt: "CREATE TABLE `d`.`t` (`id` INT PRIMARY KEY, `ip` INET6)", refused: "INET6"},
		{name: "add AUTO_INCREMENT column refused", v: v85, stmt: "ALTER TABLE `d`.`t` ADD COLUMN `n` BIGINT AUTO_INCREMENT", refused: "AUTO_INCREMENT"},
		{name: "cp1251 table refused", v: v85, stmt: "CREATE TABLE `d`.`t` (`id` INT PRIMARY KEY) DEFAULT CHARSET=cp1251", refused: "cp1251"},
		{name: "cp1251 column refused", v: v85, stmt: "ALTER TABLE `d`.`t` MODIFY COLUMN `s` VARCHAR(10) CHARACTER SET cp1251", refused: "cp1251"},
		{name: "latin1 kept", v: v85, stmt: "CREATE TABLE `d`.`t` (`id` INT PRIMARY KEY,`s` VARCHAR(10) CHARACTER SET latin1)",
			want: []string{"CREATE TABLE `d`.`t` (`id` INT PRIMARY KEY,`s` VARCHAR(10) CHARACTER SET latin1)"}},
		{name: "gbk before v5.4 refused", v: v5, stmt: "CREATE TABLE `d`.`t` (`id` INT PRIMARY KEY) DEFAULT CHARSET=gbk", refused: "gbk"},
		{name: "gbk from v5.4 kept", v: v65, stmt: "CREATE TABLE `d`.`t` (`id` INT PRIMARY KEY) DEFAULT CHARSET=gbk",
			want: []string{"CREATE TABLE `d`.`t` (`id` INT PRIMARY KEY) DEFAULT CHARSET=gbk"}},
		{name: "KEY partitioning before v7.0 refused", v: v65, stmt: "CREATE TABLE `d`.`t` (`id` INT PRIMARY KEY) PARTITION BY KEY (`id`) PARTITIONS 4", refused: "KEY partitioning"},
		{name: "KEY partitioning from v7.0 kept", v: v85, stmt: "CREATE TABLE `d`.`t` (`id` INT PRIMARY KEY) PARTITION BY KEY (`id`) PARTITIONS 4",
			want: []string{"CREATE TABLE `d`.`t` (`id` INT PRIMARY KEY) PARTITION BY KEY (`id`) PARTITIONS 4"}},
		{name: "CREATE SPATIAL INDEX refused", v: v85, stmt: "CREATE SPATIAL INDEX `sp` ON `d`.`t` (`g`)", refused: "SPATIAL"},
		{name: "ADD SPATIAL INDEX refused", v: v85, stmt: "ALTER TABLE `d`.`t` ADD SPATIAL INDEX `sp`(`g`)", refused: "SPATIAL"},
		{name: "add PRIMARY KEY column refused", v: v85, stmt: "ALTER TABLE `d`.`t` ADD COLUMN `k` INT PRIMARY KEY", refused: "PRIMARY KEY"},
		{name: "CHANGE COLUMN to cp1251 refused", v: v85, stmt: "ALTER TABLE `d`.`t` CHANGE COLUMN `s` `s2` VARCHAR(10) CHARACTER SET cp1251", refused: "cp1251"},
		{name: "table charset cp1251 by ALTER refused", v: v85, stmt: "ALTER TABLE `d`.`t` DEFAULT CHARSET=cp1251", refused: "cp1251"},
		{name: "gb18030 before v7.4 refused", v: v65, stmt: "CREATE TABLE `d`.`t` (`id` INT PRIMARY KEY) DEFAULT CHARSET=gb18030", refused: "gb18030"},
		{name: "gb18030 from v7.4 kept", v: v85, stmt: "CREATE TABLE `d`.`t` (`id` INT PRIMARY KEY) DEFAULT CHARSET=gb18030",
			want: []string{"CREATE TABLE `d`.`t` (`id` INT PRIMARY KEY) DEFAULT CHARSET=gb18030"}},
		{name: "ALTER PARTITION BY KEY before v7.0 refused", v: v65, stmt: "ALTER TABLE `d`.`t` PARTITION BY KEY (`id`) PARTITIONS 4", refused: "KEY partitioning"},
		{name: "subpartitions refused", v: v85, stmt: "CREATE TABLE `d`.`t` (`id` INT, `y` INT) PARTITION BY RANGE (`y`) SUBPARTITION BY HASH (`id`) SUBPARTITIONS 2 (PARTITION p0 VALUES LESS THAN (2000))",
			refused: "subpartitions"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := AdaptDDL(tc.v, tc.stmt)
			if tc.refused != "" {
				var r *Refusal
				if !errors.As(err, &r) || !errors.Is(err, ErrRefused) {
					t.Fatalf("AdaptDDL(%s, %q) = %+v, %v; want a refusal", tc.v, tc.stmt, got, err)
				}
				if !strings.Contains(r.Reason, tc.refused) || r.Fix == "" {
					t.Errorf("refusal %q (fix %q) does not name %q or has no fix", r.Reason, r.Fix, tc.refused)
				}
				return
			}
			if err != nil {
				t.Fatalf("AdaptDDL(%s, %q): %v", tc.v, tc.stmt, err)
			}
			if strings.Join(got.Statements, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("AdaptDDL(%s, %q) statements:\n%s\nwant:\n%s", tc.v, tc.stmt, strings.Join(got.Statements, "\n"), strings.Join(tc.want, "\n"))
			}
			if tc.note != "" && !strings.Contains(strings.Join(got.Notes, "\n"), tc.note) {
				t.Errorf("notes %q do not mention %q", got.Notes, tc.note)
			}
		})
	}
}

// The error TiDB answers to each refused entry of the table, as the
// tests' TiDB-shaped target sends it (Refuses).
func TestRefuses(t *testing.T) {
	for _, tc := range []struct {
		v    Version
		stmt string
		code uint16
		msg  string // prefix of TiDB's message; "" when TiDB accepts it
	}{
		{v85, "ALTER TABLE `d`.`t` ADD COLUMN `c` INT", 0, ""},
		{v61, "ALTER TABLE `d`.`t` ADD COLUMN `a` INT, ADD INDEX `ia`(`a`)", ErrUnsupportedDDLOperation, "Unsupported multi schema change"},
		{v65, "ALTER TABLE `d`.`t` ADD COLUMN `a` INT, ADD INDEX `ia`(`a`)", 0, ""},
		{v61, "ALTER TABLE `d`.`t` CHANGE COLUMN `a` `b` INT, CHANGE COLUMN `b` `a` INT", ErrUnsupportedDDLOperation, "Unsupported multi schema change"},
		{v85, "CREATE TABLE `d`.`t` (`id` INT PRIMARY KEY, `g` POINT NOT NULL)", ErrParse, "You have an error in your SQL syntax"},
		{v85, "ALTER TABLE `d`.`t` ADD COLUMN `u` UUID", ErrParse, "You have an error in your SQL syntax"},
		{v85, "ALTER TABLE `d`.`t` ADD COLUMN `n` BIGINT AUTO_INCREMENT", ErrUnsupportedDDLOperation, "Unsupported add column 'n'"},
		{v85, "CREATE TABLE `d`.`t` (`id` INT PRIMARY KEY) DEFAULT CHARSET=cp1251", ErrUnknownCharacterSet, "Unknown character set: 'cp1251'"},
		{v85, "ALTER TABLE `d`.`t` ADD COLUMN `s` VARCHAR(10) CHARACTER SET cp1251", ErrUnknownCharacterSet, "Unknown character set: 'cp1251'"},
		{v5, "CREATE TABLE `d`.`t` (`id` INT PRIMARY KEY) DEFAULT CHARSET=gbk", ErrUnknownCharacterSet, "Unknown character set: 'gbk'"},
		{v65, "CREATE TABLE `d`.`t` (`id` INT PRIMARY KEY) PARTITION BY KEY (`id`) PARTITIONS 4", ErrUnsupportedDDLOperation, "Unsupported partition type KEY"},
		{v85, "CREATE TABLE `d`.`t` (`id` INT, `y` INT) PARTITION BY RANGE (`y`) SUBPARTITION BY HASH (`id`) SUBPARTITIONS 2 (PARTITION p0 VALUES LESS THAN (2000))",
			ErrUnsupportedDDLOperation, "Unsupported subpartitioning"},
		{v85, "CREATE SPATIAL INDEX `sp` ON `d`.`t` (`g`)", ErrUnsupportedDDLOperation, "Unsupported SPATIAL index"},
		{v85, "ALTER TABLE `d`.`t` ADD FULLTEXT INDEX `ft`(`body`)", 0, ""}, // left out by dmnode, not refused
	} {
		r := Refuses(tc.v, tc.stmt)
		switch {
		case tc.msg == "" && r != nil:
			t.Errorf("Refuses(%s, %q) = %d %q; want accepted", tc.v, tc.stmt, r.Code, r.Message)
		case tc.msg != "" && (r == nil || r.Code != tc.code || !strings.HasPrefix(r.Message, tc.msg)):
			t.Errorf("Refuses(%s, %q) = %+v; want %d %q", tc.v, tc.stmt, r, tc.code, tc.msg)
		}
	}
}

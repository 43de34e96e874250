package schema

import (
	"strings"
	"testing"
)

func TestDeferIndexes(t *testing.T) {
	for _, tc := range []struct {
		name, create string
		table        string   // substrings the CREATE TABLE left keeps
		gone         []string // substrings it no longer holds
		indexes      []string // the clauses split off
	}{
		{
			name: "sbtest",
			create: "CREATE TABLE IF NOT EXISTS `d`.`t` (`id` INT NOT NULL,`k` INT NOT NULL DEFAULT 0,`c` CHAR(120) NOT NULL DEFAULT '',`src` VARCHAR(255) NOT NULL DEFAULT ''," +
				"PRIMARY KEY(`id`,`src`),KEY `k_1`(`k`),UNIQUE KEY `u`(`c`,`src`),KEY `kc`(`k`,`c`(10)))",
			table:   "PRIMARY KEY(`id`, `src`),UNIQUE `u`(`c`, `src`))",
			gone:    []string{"`k_1`", "`kc`"},
			indexes: []string{"ADD INDEX `k_1`(`k`)", "ADD INDEX `kc`(`k`, `c`(10))"},
		},
		{
			name:    "auto increment leads a key",
			create:  "CREATE TABLE `d`.`t` (`id` INT NOT NULL,`n` BIGINT NOT NULL AUTO_INCREMENT,`v` INT,PRIMARY KEY(`id`),KEY `n`(`n`),KEY `v`(`v`,`n`))",
			table:   "INDEX `n`(`n`)",
			gone:    []string{"`v`(`v`"},
			indexes: []string{"ADD INDEX `v`(`v`, `n`)"},
		},
		{
			name:   "fulltext and unique stay",
			create: "CREATE TABLE `d`.`t` (`id` INT NOT NULL,`b` TEXT,PRIMARY KEY(`id`),FULLTEXT KEY `f`(`b`),UNIQUE KEY `u`(`b`(20)))",
			table:  "FULLTEXT",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			table, idx, err := DeferIndexes(tc.create)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(table, tc.table) {
				t.Errorf("CREATE TABLE %s: want it to hold %s", table, tc.table)
			}
			for _, g := range tc.gone {
				if strings.Contains(table, g) {
					t.Errorf("CREATE TABLE %s: want %s split off", table, g)
				}
			}
			var got []string
			for _, ix := range idx {
				got = append(got, ix.Clause)
				if _, err := parseStatement(AddIndexes("d", "t", []SecondaryIndex{ix})); err != nil {
					t.Errorf("%s: %v", ix.Clause, err)
				}
			}
			if strings.Join(got, "; ") != strings.Join(tc.indexes, "; ") {
				t.Errorf("indexes %q, want %q", got, tc.indexes)
			}
			if _, err := parseCreate(table); err != nil {
				t.Errorf("%s: %v", table, err)
			}
		})
	}
	idx := []SecondaryIndex{{Name: "k_1"}, {Name: "b"}}
	if got := MissingIndexes(idx, []string{"PRIMARY", "K_1"}); len(got) != 1 || got[0].Name != "b" {
		t.Errorf("MissingIndexes: %v", got)
	}
	if got := AddIndexes("d`x", "t", []SecondaryIndex{{"a", "ADD INDEX `a`(`x`)"}, {"b", "ADD INDEX `b`(`y`)"}}); got != "ALTER TABLE `d``x`.`t` ADD INDEX `a`(`x`), ADD INDEX `b`(`y`)" {
		t.Errorf("AddIndexes: %s", got)
	}
}

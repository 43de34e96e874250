package schema

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// TestTargetCreateTable compares TargetCreateTable with the golden files
// testdata/target/<name>.golden; run with -update to rewrite them.
func TestTargetCreateTable(t *testing.T) {
	tests := []struct {
		name, sql string
		extra     []string
	}{{
		name:  "sharded_pk",
		sql:   "CREATE TABLE t1 (id bigint unsigned NOT NULL AUTO_INCREMENT, c char(32) DEFAULT NULL, port int(11) DEFAULT NULL, PRIMARY KEY (id)) ENGINE=InnoDB AUTO_INCREMENT=257 DEFAULT CHARSET=latin1",
		extra: []string{"c_source"},
	}, {
		name: "no_extra_columns",
		sql:  "CREATE TABLE t1 (id bigint unsigned NOT NULL AUTO_INCREMENT, c char(32) DEFAULT NULL, port int(11) DEFAULT NULL, PRIMARY KEY (id)) ENGINE=InnoDB AUTO_INCREMENT=257 DEFAULT CHARSET=latin1",
	}, {
		name: "keys_foreign_keys_partitions",
		sql: "CREATE TABLE `orders` (\n" +
			"  `id` int(11) NOT NULL AUTO_INCREMENT,\n" +
			"  `customer` int(11) NOT NULL,\n" +
			"  `code` varchar(20) COLLATE utf8mb4_unicode_ci NOT NULL,\n" +
			"  `note` text COLLATE utf8mb4_unicode_ci DEFAULT 'it''s \\\\ here',\n" +
			"  `state` enum('new','done') CHARACTER SET latin1 NOT NULL DEFAULT 'new',\n" +
			"  PRIMARY KEY (`id`,`customer`),\n" +
			"  UNIQUE KEY `code` (`code`),\n" +
			"  KEY `customer` (`customer`),\n" +
			"  CONSTRAINT `orders_ibfk_1` FOREIGN KEY (`customer`) REFERENCES `customers` (`id`) ON DELETE CASCADE\n" +
			") ENGINE=InnoDB AUTO_INCREMENT=1001 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci COMMENT='orders'\n" +
			" PARTITION BY HASH (`customer`) PARTITIONS 8",
		extra: []string{"c_source", "c_schema"},
	}, {
		name: "range_partitions_mariadb",
		sql: "CREATE TABLE `p` (\n" +
			"  `id` int(11) NOT NULL,\n" +
			"  `v` varchar(20) DEFAULT NULL,\n" +
			"  PRIMARY KEY (`id`)\n" +
			") ENGINE=InnoDB DEFAULT CHARSET=latin1 COLLATE=latin1_swedish_ci\n" +
			" PARTITION BY RANGE (`id`)\n" +
			"(PARTITION `p0` VALUES LESS THAN (100) ENGINE = InnoDB,\n" +
			" PARTITION `p1` VALUES LESS THAN (200) ENGINE = InnoDB,\n" +
			" PARTITION `pmax` VALUES LESS THAN MAXVALUE ENGINE = InnoDB)",
		extra: []string{"c_source"},
	}, {
		name: "list_columns_partitions",
		sql: "CREATE TABLE `l` (`id` int NOT NULL, `region` varchar(10) NOT NULL, PRIMARY KEY (`id`,`region`))" +
			" /*!50500 PARTITION BY LIST  COLUMNS(`region`)\n" +
			"(PARTITION `east` VALUES IN ('e1','e2') ENGINE = InnoDB,\n" +
			" PARTITION `west` VALUES IN ('w1') ENGINE = InnoDB) */",
	}, {
		name: "key_partitions",
		sql:  "CREATE TABLE `k` (`id` int NOT NULL, PRIMARY KEY (`id`)) PARTITION BY KEY (`id`) PARTITIONS 3",
	}, {
		name:  "unique_key_without_pk",
		sql:   "CREATE TABLE `t` (`a` int NOT NULL, `b` int, `u` uuid DEFAULT NULL, UNIQUE KEY `a` (`a`), UNIQUE KEY `b` (`b`))",
		extra: []string{"c_source"},
	}, {
		name:  "no_keys",
		sql:   "CREATE TABLE `log` (`msg` varchar(200) DEFAULT NULL, KEY `msg` (`msg`))",
		extra: []string{"c_source"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tbl, err := ParseCreateTable("up", tt.sql)
			if err != nil {
				t.Fatal(err)
			}
			got, err := TargetCreateTable(tbl, "down", "merged", tt.extra)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", "target", tt.name+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if got != strings.TrimSuffix(string(want), "\n") {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
			if _, err := ParseCreateTable("", got); err != nil {
				t.Errorf("output does not parse: %v", err)
			}
		})
	}
}

func TestTargetCreateTableExtraColumnClash(t *testing.T) {
	tbl, err := ParseCreateTable("up", "CREATE TABLE t (id int PRIMARY KEY, C_Source int)")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := TargetCreateTable(tbl, "down", "t", []string{"c_source"}); err == nil {
		t.Fatal("no error for an extra column named like a column")
	}
}

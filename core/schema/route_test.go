package schema

import (
	"strings"
	"testing"
)

func TestRouteDDL(t *testing.T) {
	route := func(db, table string) (string, string, error) {
		if table == "" {
			return "tgt_" + db, "", nil
		}
		if strings.HasPrefix(table, "t") {
			return "merged", "t", nil
		}
		return "tgt_" + db, table, nil
	}
	cases := []struct{ db, in, want string }{
		{"shop", "ALTER TABLE t1 ADD COLUMN age INT",
			"ALTER TABLE `merged`.`t` ADD COLUMN `age` INT"},
		{"shop", "create table t2 (id int primary key)",
			"CREATE TABLE IF NOT EXISTS `merged`.`t` (`id` INT PRIMARY KEY)"},
		{"", "DROP TABLE shop.orders",
			"DROP TABLE IF EXISTS `tgt_shop`.`orders`"},
		{"x", "CREATE DATABASE shop", "CREATE DATABASE IF NOT EXISTS `tgt_shop`"},
		{"x", "RENAME TABLE shop.a TO shop.b", "RENAME TABLE `tgt_shop`.`a` TO `tgt_shop`.`b`"},
		{"shop", "TRUNCATE TABLE t9", "TRUNCATE TABLE `merged`.`t`"},
		{"shop", "CREATE INDEX k ON orders (c)", "CREATE INDEX IF NOT EXISTS `k` ON `tgt_shop`.`orders` (`c`)"},
	}
	for _, c := range cases {
		got, err := RouteDDL(c.db, c.in, route)
		if err != nil {
			t.Errorf("%s: %v", c.in, err)
			continue
		}
		if got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.in, got, c.want)
		}
	}
	if _, err := RouteDDL("", "ALTER TABLE t ADD c INT", route); err == nil {
		t.Error("unqualified table without a current database accepted")
	}
}

package precheck

import (
	"reflect"
	"testing"
)

// Lines as MariaDB 10.11 and MySQL 5.7/8.0 print them.
func TestParseGrants(t *testing.T) {
	type check struct {
		priv, schema, table string // schema "" asks Global, table "" asks Schema
		want                bool
	}
	cases := []struct {
		name   string
		lines  []string
		checks []check
		roles  []string
	}{
		{"all privileges on *.*", []string{
			"GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` WITH GRANT OPTION",
			"GRANT PROXY ON ``@`%` TO `root`@`localhost` WITH GRANT OPTION",
		}, []check{
			{"RELOAD", "", "", true},
			{"REPLICATION SLAVE", "", "", true},
			{"BINLOG MONITOR", "", "", true},
			{"SELECT", "any", "t", true},
		}, nil},
		{"mariadb replication user", []string{
			"GRANT RELOAD, REPLICATION SLAVE, BINLOG MONITOR ON *.* TO `dm`@`%` IDENTIFIED BY PASSWORD '*ABC'",
			"GRANT SELECT ON `shop\\_%`.* TO `dm`@`%`",
			"GRANT SELECT (`a`, `b`), INSERT ON `db1`.`t` TO `dm`@`%`",
		}, []check{
			{"RELOAD", "", "", true},
			{"replication client", "", "", true}, // the alias of BINLOG MONITOR
			{"REPLICATION REPLICA", "", "", true},
			{"SELECT", "", "", false},
			{"SELECT", "shop_a", "", true},
			{"SELECT", "shop_a", "orders", true},
			{"SELECT", "shopxa", "", false}, // \_ is a literal underscore
			{"SELECT", "db1", "t", false},   // column-level only
			{"INSERT", "db1", "t", true},
			{"INSERT", "db1", "u", false},
			{"INSERT", "db1", "", false},
		}, nil},
		{"mysql replication client", []string{
			"GRANT SELECT, RELOAD, LOCK TABLES, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO 'dm'@'%'",
		}, []check{
			{"BINLOG MONITOR", "", "", true},
			{"REPLICATION CLIENT", "", "", true},
			{"LOCK TABLES", "", "", true},
			{"SELECT", "x", "y", true},
			{"SUPER", "", "", false},
		}, nil},
		{"mariadb 10.5 split privileges", []string{
			"GRANT BINLOG MONITOR, REPLICATION SLAVE ADMIN, SLAVE MONITOR ON *.* TO `u3`@`%`",
			"GRANT ALL PRIVILEGES ON `db1`.* TO `u3`@`%`",
		}, []check{
			{"REPLICATION SLAVE", "", "", false}, // not REPLICATION SLAVE ADMIN
			{"REPLICATION SLAVE ADMIN", "", "", true},
			{"REPLICA MONITOR", "", "", true},
			{"SELECT", "db1", "", true},
			{"DROP", "db1", "t", true},
			{"SELECT", "db2", "", false},
			{"SELECT", "db12", "", false},
		}, nil},
		{"default role", []string{
			"GRANT `r1` TO `u2`@`%`",
			"GRANT SUPER ON *.* TO `u2`@`%` WITH MAX_USER_CONNECTIONS 2",
			"GRANT SELECT, REPLICATION SLAVE ON *.* TO `r1`",
			"SET DEFAULT ROLE `r1` FOR `u2`@`%`",
		}, []check{
			{"SUPER", "", "", true},
			{"REPLICATION SLAVE", "", "", true},
			{"SELECT", "a", "b", true},
			{"RELOAD", "", "", false},
		}, []string{"r1"}},
		{"mysql 8 dynamic privileges and roles", []string{
			"GRANT USAGE ON *.* TO `u`@`%`",
			"GRANT BACKUP_ADMIN,REPLICATION_SLAVE_ADMIN ON *.* TO `u`@`%`",
			"GRANT `reader`@`%`,`writer`@`%` TO `u`@`%`",
			"GRANT EXECUTE ON PROCEDURE `db`.`p` TO `u`@`%`",
			"GRANT SELECT ON TABLE `we``ird`.`t` TO `u`@`%`",
			"GRANT INSERT ON plain.* TO 'u'@'%'",
		}, []check{
			{"BACKUP_ADMIN", "", "", true},
			{"USAGE", "", "", true},
			{"SELECT", "we`ird", "t", true},
			{"INSERT", "plain", "", true},
			{"EXECUTE", "db", "", false},
		}, []string{"reader@%", "writer@%"}},
		{"database pattern with wildcards", []string{
			"GRANT SELECT, INSERT ON `shard_%`.* TO `u`@`%`",
		}, []check{
			{"SELECT", "shard_01", "", true},
			{"SELECT", "shardX01", "", true}, // an unescaped _ is a wildcard
			{"SELECT", "shard", "", false},
		}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g, err := ParseGrants(tc.lines)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range tc.checks {
				var got bool
				switch {
				case c.schema == "":
					got = g.Global(c.priv)
				case c.table == "":
					got = g.Schema(c.priv, c.schema)
				default:
					got = g.Table(c.priv, c.schema, c.table)
				}
				if got != c.want {
					t.Errorf("%s on %s.%s = %v, want %v", c.priv, c.schema, c.table, got, c.want)
				}
			}
			if !reflect.DeepEqual(g.Roles, tc.roles) {
				t.Errorf("roles = %q, want %q", g.Roles, tc.roles)
			}
		})
	}
}

func TestParseGrantsErrors(t *testing.T) {
	for _, line := range []string{
		"GRANT SELECT ON `db TO `u`@`%`",
		"GRANT SELECT ON db TO `u`@`%`",
		"GRANT SELECT",
		"GRANT , ON *.* TO u",
	} {
		if _, err := ParseGrants([]string{line}); err == nil {
			t.Errorf("%q: no error", line)
		}
	}
}

package shardddl

import (
	"strings"
	"testing"

	"github.com/dmnode/dmnode/core/schema"
)

// col reads one column definition.
func col(t *testing.T, def string) schema.ColumnDef {
	t.Helper()
	tbl, err := fromCreateSQL("CREATE TABLE x (" + def + ") DEFAULT CHARSET=utf8mb4")
	if err != nil {
		t.Fatal(err)
	}
	return tbl.Columns[0]
}

func TestJoinColumn(t *testing.T) {
	tests := []struct {
		a, b string
		want string // definition of the join, or "error: <substring>"
	}{
		{"c int", "c bigint", "`c` bigint NULL"},
		{"c tinyint NOT NULL", "c mediumint", "`c` mediumint NULL"},
		{"c int unsigned", "c bigint unsigned NOT NULL", "`c` bigint unsigned NULL"},
		{"c int unsigned", "c bigint", "error: signedness"},
		{"c varchar(10)", "c varchar(20)", "`c` varchar(20) CHARACTER SET utf8mb4 NULL"},
		{"c char(30)", "c varchar(20)", "`c` varchar(30) CHARACTER SET utf8mb4 NULL"},
		{"c varbinary(4)", "c binary(8)", "`c` varbinary(8) NULL"},
		{"c varchar(10)", "c text", "error: different types"},
		{"c text", "c mediumtext", "`c` mediumtext CHARACTER SET utf8mb4 NULL"},
		{"c blob", "c longblob", "`c` longblob NULL"},
		{"c decimal(10,2)", "c decimal(8,4)", "`c` decimal(12,4) NULL"},
		{"c float", "c double", "`c` double NULL"},
		{"c enum('a','b')", "c enum('a','b','c')", "`c` enum('a','b','c') CHARACTER SET utf8mb4 NULL"},
		{"c enum('a','b')", "c enum('b','a','c')", "error: prefix"},
		{"c datetime", "c datetime(6)", "`c` datetime(6) NULL"},
		{"c varchar(10) CHARACTER SET utf8", "c varchar(10) CHARACTER SET utf8mb4", "`c` varchar(10) CHARACTER SET utf8mb4 NULL"},
		{"c varchar(10) CHARACTER SET latin1", "c varchar(10)", "error: charsets latin1 and utf8mb4"},
		{"c varchar(10) COLLATE utf8mb4_bin", "c varchar(10) COLLATE utf8mb4_general_ci", "error: collations"},
		{"c int NOT NULL DEFAULT 1", "c int NOT NULL", "`c` int NOT NULL DEFAULT 1"},
		{"c int DEFAULT 1", "c int DEFAULT 2", "error: defaults 1 and 2 differ"},
		{"c int NOT NULL AUTO_INCREMENT", "c int NOT NULL", "error: AUTO_INCREMENT"},
		{"c json", "c json", "`c` json NULL"},
		{"c date", "c datetime", "error: different types"},
	}
	for _, tc := range tests {
		a, b := col(t, tc.a), col(t, tc.b)
		j, cl := joinColumn(a, b)
		got := ""
		if cl != nil {
			got = "error: " + cl.Error()
		} else {
			got = columnSQL(j)
		}
		if want, ok := strings.CutPrefix(tc.want, "error: "); ok {
			if cl == nil || !strings.Contains(cl.Error(), want) {
				t.Errorf("join(%s, %s) = %s, want an error saying %q", tc.a, tc.b, got, want)
			}
			continue
		}
		if got != tc.want {
			t.Errorf("join(%s, %s) = %s, want %s", tc.a, tc.b, got, tc.want)
		}
		// The join is symmetric and at least as wide as both sides.
		if j2, cl := joinColumn(b, a); cl != nil || columnSQL(j2) != got {
			t.Errorf("join(%s, %s) = %v %v, not symmetric", tc.b, tc.a, columnSQL(j2), cl)
		}
		if !widens(a, j) || !widens(b, j) {
			t.Errorf("join(%s, %s) = %s does not widen both", tc.a, tc.b, got)
		}
	}
}

func TestWidens(t *testing.T) {
	tests := []struct {
		before, after string
		want          bool
	}{
		{"c int", "c bigint", true},
		{"c bigint", "c int", false},
		{"c varchar(10)", "c varchar(20) NOT NULL", true},
		{"c varchar(20)", "c varchar(10)", false},
		{"c int", "c varchar(20)", false},
		{"c int NOT NULL", "c int", true},
		{"c int", "c int NOT NULL", true}, // nullability is the join's business
		{"c decimal(10,2)", "c decimal(12,2)", true},
		{"c decimal(10,2)", "c decimal(10,4)", false},
	}
	for _, tc := range tests {
		if got := widens(col(t, tc.before), col(t, tc.after)); got != tc.want {
			t.Errorf("widens(%s, %s) = %v, want %v", tc.before, tc.after, got, tc.want)
		}
	}
}

func TestJoinTables(t *testing.T) {
	read := func(sql string) *schema.Definition {
		tbl, err := fromCreateSQL(sql)
		if err != nil {
			t.Fatal(err)
		}
		return tbl
	}
	a := read("CREATE TABLE a (id int NOT NULL, x int NOT NULL, y varchar(10), PRIMARY KEY (id), KEY kx (x), KEY ky (y))")
	b := read("CREATE TABLE b (id int NOT NULL, y varchar(20), z int DEFAULT 0, PRIMARY KEY (id), KEY ky (y))")
	j, err := joinTables(a, []shard{{"a", a}, {"b", b}}, false)
	if err != nil {
		t.Fatal(err)
	}
	got := diff("`t`", a, j, nil)
	want := []string{
		"ALTER TABLE `t` DROP INDEX `kx`",            // b lacks it
		"ALTER TABLE `t` MODIFY COLUMN `x` int NULL", // b lacks x, NOT NULL without default
		"ALTER TABLE `t` MODIFY COLUMN `y` varchar(20) NULL",
		"ALTER TABLE `t` ADD COLUMN `z` int NULL DEFAULT 0",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("diff:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	c := read("CREATE TABLE c (id int NOT NULL, y varchar(20), PRIMARY KEY (id), KEY ky (id, y))")
	if _, err := joinTables(nil, []shard{{"a", a}, {"b", b}, {"c", c}}, false); err == nil ||
		!strings.Contains(err.Error(), "index ky") || strings.Join(err.against, ",") != "a,b" {
		t.Errorf("index clash: %v", err)
	}
	if j, err := joinTables(nil, []shard{{"a", a}, {"c", c}}, true); err != nil || len(j.Indexes) != 1 {
		t.Errorf("clashing index dropped: %+v, %v", j, err)
	}
}

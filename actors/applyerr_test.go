package actors

import (
	"errors"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
)

func TestStmtTable(t *testing.T) {
	for q, want := range map[string]string{
		"INSERT INTO `db`.`t` (`a`) VALUES (?)":                  "db.t",
		"REPLACE INTO `d``b`.`t.x` (`a`) VALUES (?)":             "d`b.t.x",
		"UPDATE `db`.`t` SET `a` = ? WHERE `id` = ? LIMIT 1":     "db.t",
		"DELETE FROM `db`.`t` WHERE `id` IN (?)":                 "db.t",
		"LOAD DATA LOCAL INFILE 'x' REPLACE INTO TABLE `db`.`t`": "db.t",
		"SELECT 1": "",
	} {
		if got := stmtTable(q); got != want {
			t.Errorf("stmtTable(%q) = %q, want %q", q, got, want)
		}
	}
}

// A statement the target rejects is permanent and names its table; a lock
// conflict is retryable.
func TestClassifyTargetError(t *testing.T) {
	rejected := classifyTargetError(&stmtError{query: "INSERT INTO `d`.`t` VALUES (?)", err: &mysql.MySQLError{Number: 1406, Message: "Data too long"}})
	if !IsPermanent(rejected) || isRetryable(rejected) {
		t.Errorf("a rejected row: permanent %v, retryable %v", IsPermanent(rejected), isRetryable(rejected))
	}
	for _, code := range []uint16{1205, 1213, 9007, 8028} {
		err := classifyTargetError(&stmtError{query: "x", err: &mysql.MySQLError{Number: code}})
		if IsPermanent(err) || !isRetryable(err) {
			t.Errorf("error %d: permanent %v, retryable %v", code, IsPermanent(err), isRetryable(err))
		}
	}
	ae := &ApplyError{Table: "d.t", Statement: "INSERT INTO `d`.`t` VALUES (?)", Err: &mysql.MySQLError{Number: 1406, Message: "Data too long"}}
	var me *mysql.MySQLError
	if !errors.As(Permanent(ae), &me) || me.Number != 1406 || !strings.Contains(ae.Error(), "d.t") || !strings.Contains(ae.Error(), "resume") {
		t.Errorf("ApplyError: %v", ae)
	}
}

// Target columns' traits come from information_schema.COLUMNS as MySQL,
// MariaDB and TiDB print EXTRA, COLLATION_NAME and DATA_TYPE.
func TestColumnTraits(t *testing.T) {
	for _, tc := range []struct {
		extra, collation, dataType string
		gen, fold, text            bool
	}{
		{"VIRTUAL GENERATED", "", "int", true, false, true},
		{"STORED GENERATED", "utf8mb4_general_ci", "varchar", true, true, true},
		{"ROW START INVISIBLE", "", "timestamp", true, false, true},
		{"INVISIBLE", "latin1_swedish_ci", "text", false, true, true},
		{"auto_increment", "", "bigint", false, false, true},
		{"", "utf8mb4_bin", "longtext", false, false, true},
		{"", "utf8mb4_0900_as_cs", "char", false, false, true},
		{"", "utf8mb4_0900_ai_ci", "VARCHAR", false, true, true},
		{"", "", "decimal", false, false, true},
		{"", "", "json", false, false, true},
		{"", "utf8mb4_general_ci", "enum", false, true, false},
		{"", "utf8mb4_general_ci", "set", false, true, false},
		{"", "", "bit", false, false, false},
		{"", "", "varbinary", false, false, false},
		{"", "", "blob", false, false, false},
		{"", "binary", "char", false, false, false},
		{"", "", "geometry", false, false, false},
	} {
		got := columnTraits(tc.extra, tc.collation, tc.dataType)
		if got.Generated != tc.gen || got.FoldCase != tc.fold || got.Text != tc.text {
			t.Errorf("columnTraits(%q, %q, %q) = %+v, want generated %v, fold %v, text %v", tc.extra, tc.collation, tc.dataType, got, tc.gen, tc.fold, tc.text)
		}
	}
}

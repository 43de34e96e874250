package filter

import (
	"errors"
	"strings"
	"testing"

	"github.com/dmnode/dmnode"
)

func mustNew(t *testing.T, rules ...Rule) *Filter {
	t.Helper()
	f, err := New(rules)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestDML(t *testing.T) {
	f := mustNew(t,
		Rule{Name: "no-deletes", SchemaPattern: "shop", TablePattern: "order*", Events: []string{"delete"}, Action: "Ignore"},
		Rule{Name: "stop-truncates", SchemaPattern: "shop", Events: []string{"truncate table", "update"}, Action: "Error"},
		Rule{Name: "only-inserts", SchemaPattern: "logs", Events: []string{"insert"}, Action: "Do"},
		Rule{Name: "all-but", SchemaPattern: "arch*", Events: []string{"none dml", "insert"}, Action: "Ignore"},
		Rule{Name: "dml-then-none", SchemaPattern: "arch2", Events: []string{"insert", "none dml"}, Action: "Ignore"},
		Rule{Name: "Cased", SchemaPattern: "Big", Events: []string{"all dml"}, Action: "Ignore", CaseSensitive: true},
	)
	tests := []struct {
		schema, table string
		kind          dmnode.ChangeKind
		want          Action
		rule          string
	}{
		{"shop", "orders", dmnode.Delete, Ignore, "no-deletes"},
		{"SHOP", "ORDERS", dmnode.Delete, Ignore, "no-deletes"},
		{"shop", "orders", dmnode.Insert, Do, ""},
		{"shop", "orders", dmnode.Update, Error, "stop-truncates"},
		{"shop", "items", dmnode.Delete, Do, ""},
		{"logs", "l1", dmnode.Insert, Do, ""},
		{"logs", "l1", dmnode.Update, Ignore, "only-inserts"},
		{"logs", "l1", dmnode.Delete, Ignore, "only-inserts"},
		{"archive", "t", dmnode.Insert, Do, ""},                // "none dml" comes first and decides
		{"arch2", "t", dmnode.Insert, Ignore, "dml-then-none"}, // "insert" comes first
		{"Big", "t", dmnode.Insert, Ignore, "Cased"},
		{"big", "t", dmnode.Insert, Do, ""},
		{"other", "t", dmnode.Delete, Do, ""},
	}
	for _, tt := range tests {
		a, rule := f.DML(tt.schema, tt.table, tt.kind)
		if a != tt.want || rule != tt.rule {
			t.Errorf("DML(%s, %s, %s) = %s %q, want %s %q", tt.schema, tt.table, tt.kind, a, rule, tt.want, tt.rule)
		}
	}
	var none *Filter
	if a, _ := none.DML("s", "t", dmnode.Insert); a != Do {
		t.Errorf("nil filter: %s", a)
	}
}

// TestPrecedence checks that Ignore beats Error beats Do, whatever the order.
func TestPrecedence(t *testing.T) {
	do := Rule{Name: "do", SchemaPattern: "s", Events: []string{"all"}, Action: "Do"}
	errRule := Rule{Name: "error", SchemaPattern: "s", Events: []string{"delete"}, Action: "Error"}
	ignore := Rule{Name: "ignore", SchemaPattern: "s", TablePattern: "t", Events: []string{"delete"}, Action: "Ignore"}
	for _, rules := range [][]Rule{{do, errRule, ignore}, {ignore, errRule, do}, {errRule, do, ignore}} {
		f := mustNew(t, rules...)
		if a, name := f.DML("s", "t", dmnode.Delete); a != Ignore || name != "ignore" {
			t.Errorf("%v: t: %s %s", rules, a, name)
		}
		if a, name := f.DML("s", "u", dmnode.Delete); a != Error || name != "error" {
			t.Errorf("%v: u: %s %s", rules, a, name)
		}
		if a, _ := f.DML("s", "u", dmnode.Insert); a != Do {
			t.Errorf("%v: insert: %s", rules, a)
		}
	}
}

func TestDDL(t *testing.T) {
	f := mustNew(t,
		Rule{Name: "keep-data", SchemaPattern: "shop", Events: []string{"incompatible ddl changes"}, Action: "Error"},
		Rule{Name: "no-truncate", SchemaPattern: "shop", TablePattern: "t*", Events: []string{"truncate table"}, Action: "Ignore"},
		Rule{Name: "no-alter", SchemaPattern: "logs", Events: []string{"alter table"}, Action: "Ignore"},
		Rule{Name: "no-procs", SchemaPattern: "*", SQLPattern: []string{`^FLUSH\s`, `^ALTER\s+TABLE\s+\S+\s+FROB`}, Action: "Ignore"},
		Rule{Name: "creates-only", SchemaPattern: "stage", Events: []string{"create table", "create database"}, Action: "Do"},
		Rule{Name: "tmp-sql", SchemaPattern: "stage", TablePattern: "*", Events: []string{"create table"},
			SQLPattern: []string{"tmp_"}, Action: "Do"},
		Rule{Name: "star-schema", SchemaPattern: "srv", TablePattern: "*", Events: []string{"drop database"}, Action: "Ignore"},
		Rule{Name: "t-schema", SchemaPattern: "srv", TablePattern: "t*", Events: []string{"create database"}, Action: "Ignore"},
	)
	tests := []struct {
		db, stmt string
		want     Action
		rule     string
	}{
		{"shop", "ALTER TABLE t ADD c int", Do, ""},
		{"shop", "ALTER TABLE t ADD c int, DROP COLUMN d", Error, "keep-data"},
		{"shop", "TRUNCATE TABLE t1", Ignore, "no-truncate"}, // Ignore beats Error
		{"shop", "TRUNCATE TABLE x1", Error, "keep-data"},
		{"shop", "DROP TABLE a, t1", Error, "keep-data"},
		{"shop", "RENAME TABLE shop.a TO other.b", Error, "keep-data"},
		{"other", "RENAME TABLE a TO shop.b", Error, "keep-data"},   // the new name counts too
		{"logs", "ALTER TABLE l DROP COLUMN c", Ignore, "no-alter"}, // dmnode: alter table selects every ALTER
		{"logs", "CREATE INDEX i ON l (a)", Do, ""},
		{"x", "ALTER TABLE t FROB", Ignore, "no-procs"}, // unparsable, caught by a global sql-pattern
		{"stage", "CREATE TABLE tmp_a (a int)", Do, ""},
		{"stage", "CREATE TABLE a (a int)", Ignore, "tmp-sql"}, // the Do rule's sql-pattern does not match
		{"stage", "DROP TABLE tmp_a", Ignore, "creates-only"},  // not listed by the Do rule
		{"stage", "CREATE DATABASE stage", Ignore, "tmp-sql"},  // table-pattern "*" covers the schema
		{"srv", "DROP DATABASE srv", Ignore, "star-schema"},    // table-pattern "*" covers the schema
		{"srv", "CREATE DATABASE srv", Do, ""},                 // t* does not
		{"shop", "GRANT ALL ON *.* TO u", Do, ""},              // no part: global sql-patterns only
		{"shop", "/* nothing */", Do, ""},
	}
	for _, tt := range tests {
		a, rule, err := f.DDL(tt.db, tt.stmt)
		if err != nil || a != tt.want || rule != tt.rule {
			t.Errorf("DDL(%s, %s) = %s %q %v, want %s %q", tt.db, tt.stmt, a, rule, err, tt.want, tt.rule)
		}
	}
	if a, _, err := f.DDL("x", "ALTER TABLE t BOGUS"); a != Do || !errors.Is(err, ErrSyntax) {
		t.Errorf("unparsable, not caught: %s %v", a, err)
	}
}

// TestDDLWithoutDDLRules checks that rules about rows alone do not parse
// statements at all.
func TestDDLWithoutDDLRules(t *testing.T) {
	f := mustNew(t, Rule{Name: "r", SchemaPattern: "*", Events: []string{"delete", "all dml"}, Action: "Ignore"})
	if a, _, err := f.DDL("x", "THIS IS NOT SQL"); a != Do || err != nil {
		t.Errorf("DDL = %s %v", a, err)
	}
	if a, name := f.MatchSQL("DROP TABLE t"); a != Do || name != "" {
		t.Errorf("MatchSQL = %s %s", a, name)
	}
}

func TestDDLWithLookup(t *testing.T) {
	f := mustNew(t, Rule{Name: "narrowing", SchemaPattern: "db", Events: []string{"value range decrease"}, Action: "Error"})
	lookup := func(schema, table string) (string, bool) { return oldTable, true }
	if a, _, err := f.DDLWith("db", "ALTER TABLE t MODIFY big int", lookup); a != Error || err != nil {
		t.Errorf("narrowing: %s %v", a, err)
	}
	if a, _, err := f.DDLWith("db", "ALTER TABLE t MODIFY tiny int", lookup); a != Do || err != nil {
		t.Errorf("widening: %s %v", a, err)
	}
	if a, _, err := f.DDL("db", "ALTER TABLE t MODIFY big int"); a != Do || err != nil {
		t.Errorf("without lookup (modify column): %s %v", a, err)
	}
}

func TestNewErrors(t *testing.T) {
	_, err := New([]Rule{
		{Name: "a", Events: []string{"insert", "upsert"}, SQLPattern: []string{"(", "ok"}, Action: "ignore"},
		{Name: "b", SchemaPattern: "s[", TablePattern: "~(", Action: ""},
		{Name: "c", SchemaPattern: "s", Action: "Do"},
	})
	want := []string{
		`filter rule "a": schema-pattern is required`,
		`filter rule "a": events[1]: unknown event "upsert"`,
		`filter rule "a": sql-pattern[0]: error parsing regexp: missing closing ): ` + "`(`",
		`filter rule "a": invalid action "ignore": must be Do, Ignore or Error (capitalized, as in DM)`,
		`filter rule "b": schema-pattern: pattern "s["`,
		`filter rule "b": table-pattern: pattern "~("`,
		`filter rule "b": action is required: Do, Ignore or Error`,
	}
	if err == nil {
		t.Fatal("no error")
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not say %q:\n%v", w, err)
		}
	}
	if strings.Contains(err.Error(), `"c"`) {
		t.Errorf("valid rule c reported: %v", err)
	}
}

func TestCompileSQLPatterns(t *testing.T) {
	re, err := CompileSQLPatterns([]string{`^drop\s+table`, `truncate`})
	if err != nil {
		t.Fatal(err)
	}
	for s, want := range map[string]bool{"DROP TABLE t": true, "x TRUNCATE y": true, "ALTER TABLE t DROP TABLE": false} {
		if re.MatchString(s) != want {
			t.Errorf("%q: got %v", s, !want)
		}
	}
	if re, err := CompileSQLPatterns(nil); re != nil || err != nil {
		t.Errorf("empty list: %v %v", re, err)
	}
}

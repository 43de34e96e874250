package rules

import (
	"reflect"
	"strings"
	"testing"

	"github.com/dmnode/dmnode/core/config"
)

// compileOne compiles task for its instance with source id source.
func compileOne(t *testing.T, task *config.Task, source string) *Rules {
	t.Helper()
	for i := range task.MySQLInstances {
		if task.MySQLInstances[i].SourceID == source {
			r, err := Compile(task, &task.MySQLInstances[i], nil)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			return r
		}
	}
	t.Fatalf("no instance %q", source)
	return nil
}

func baTask(ba *config.BAListRule) *config.Task {
	return &config.Task{
		Name:           "t",
		BAList:         map[string]*config.BAListRule{"ba": ba},
		MySQLInstances: []config.Instance{{SourceID: "s1", BAListName: "ba"}},
	}
}

func TestAllowed(t *testing.T) {
	type check struct {
		schema, table string
		want          bool
	}
	tests := []struct {
		name   string
		ba     *config.BAListRule // nil: no block/allow list
		checks []check
	}{
		{"no list: all but system schemas", nil, []check{
			{"app", "t", true}, {"mysql", "user", false}, {"INFORMATION_SCHEMA", "tables", false},
			{"performance_schema", "x", false}, {"sys", "x", false}, {"mysql_app", "t", true},
		}},
		{"system schemas even when listed", &config.BAListRule{DoDBs: []string{"*"}}, []check{
			{"app", "t", true}, {"mysql", "user", false}, {"sys", "x", false},
		}},
		{"do-dbs wins over ignore-dbs", &config.BAListRule{
			DoDBs: []string{"shard_*"}, IgnoreDBs: []string{"shard_1"},
		}, []check{
			{"shard_1", "t", true}, // ignore-dbs is not consulted when do-dbs is set
			{"other", "t", false},
		}},
		{"ignore-dbs alone", &config.BAListRule{IgnoreDBs: []string{"tmp*", "~^bak_"}}, []check{
			{"tmp", "t", false}, {"tmp1", "t", false}, {"bak_2020", "t", false}, {"app", "t", true}, {"app_bak_1", "t", true},
		}},
		{"do-tables must match", &config.BAListRule{
			DoTables: []config.TableRef{{DBName: "shard_*", TblName: "orders_*"}},
		}, []check{
			{"shard_1", "orders_01", true}, {"shard_1", "users", false}, {"other", "orders_01", false},
		}},
		{"do-tables wins over ignore-tables", &config.BAListRule{
			DoTables:     []config.TableRef{{DBName: "s", TblName: "t*"}},
			IgnoreTables: []config.TableRef{{DBName: "s", TblName: "t1"}},
		}, []check{
			{"s", "t1", true}, {"s", "t2", true}, {"s", "u", false},
		}},
		{"ignore-tables alone", &config.BAListRule{
			IgnoreTables: []config.TableRef{{DBName: "s", TblName: "~_bak$"}},
		}, []check{
			{"s", "t", true}, {"s", "t_bak", false}, {"other", "t_bak", true},
		}},
		{"schema level before table level", &config.BAListRule{
			DoDBs:    []string{"a"},
			DoTables: []config.TableRef{{DBName: "b", TblName: "t"}},
		}, []check{
			{"b", "t", false}, // do-tables cannot bring back a schema excluded by do-dbs
			{"a", "t", false}, // schema passes, but do-tables does not match
		}},
		{"ignore-dbs then do-tables", &config.BAListRule{
			IgnoreDBs: []string{"b"},
			DoTables:  []config.TableRef{{DBName: "*", TblName: "t"}},
		}, []check{
			{"a", "t", true}, {"b", "t", false}, {"a", "u", false},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			task := baTask(tt.ba)
			if tt.ba == nil {
				task.MySQLInstances[0].BAListName = ""
			}
			r := compileOne(t, task, "s1")
			for _, c := range tt.checks {
				if got := r.Allowed(c.schema, c.table); got != c.want {
					t.Errorf("Allowed(%q, %q) = %v, want %v", c.schema, c.table, got, c.want)
				}
			}
		})
	}
}

func TestAllowedCaseSensitive(t *testing.T) {
	ba := &config.BAListRule{DoDBs: []string{"App"}}
	r := compileOne(t, baTask(ba), "s1")
	if !r.Allowed("app", "t") || !r.Allowed("APP", "t") {
		t.Error("case-insensitive task: app should be allowed")
	}
	task := baTask(ba)
	task.CaseSensitive = true
	r = compileOne(t, task, "s1")
	if r.Allowed("app", "t") || !r.Allowed("App", "t") {
		t.Error("case-sensitive task: only App should be allowed")
	}
}

func TestAllowedSchema(t *testing.T) {
	tests := []struct {
		ba     *config.BAListRule
		schema string
		want   bool
	}{
		{nil, "app", true},
		{nil, "mysql", false},
		{&config.BAListRule{DoDBs: []string{"app*"}}, "app1", true},
		{&config.BAListRule{DoDBs: []string{"app*"}}, "x", false},
		{&config.BAListRule{IgnoreDBs: []string{"x"}}, "x", false},
		{&config.BAListRule{IgnoreDBs: []string{"x"}}, "y", true},
		{&config.BAListRule{DoTables: []config.TableRef{{DBName: "s_*", TblName: "t"}}}, "s_1", true},
		{&config.BAListRule{DoTables: []config.TableRef{{DBName: "s_*", TblName: "t"}}}, "u", false},
		{&config.BAListRule{IgnoreTables: []config.TableRef{{DBName: "s", TblName: "*"}}}, "s", true},
	}
	for _, tt := range tests {
		task := baTask(tt.ba)
		if tt.ba == nil {
			task.MySQLInstances[0].BAListName = ""
		}
		r := compileOne(t, task, "s1")
		if got := r.AllowedSchema(tt.schema); got != tt.want {
			t.Errorf("%+v: AllowedSchema(%q) = %v, want %v", tt.ba, tt.schema, got, tt.want)
		}
	}
}

func routeTask(names []string, routes map[string]*config.RouteRule) *config.Task {
	return &config.Task{
		Name:           "t",
		Routes:         routes,
		MySQLInstances: []config.Instance{{SourceID: "mysql-replica-01", RouteRules: names}},
	}
}

func TestRoute(t *testing.T) {
	routes := map[string]*config.RouteRule{
		"schema":   {SchemaPattern: "shard_*", TargetSchema: "merged"},
		"orders":   {SchemaPattern: "shard_*", TablePattern: "orders_*", TargetSchema: "merged", TargetTable: "orders"},
		"keepname": {SchemaPattern: "shard_*", TablePattern: "users", TargetSchema: "people"},
		"dupA":     {SchemaPattern: "dup", TablePattern: "t*", TargetSchema: "a"},
		"dupB":     {SchemaPattern: "dup", TablePattern: "*", TargetSchema: "b"},
		"dupS1":    {SchemaPattern: "dups*", TargetSchema: "a"},
		"dupS2":    {SchemaPattern: "dups", TargetSchema: "b"},
	}
	r := compileOne(t, routeTask([]string{"schema", "orders", "keepname", "dupA", "dupB", "dupS1", "dupS2"}, routes), "mysql-replica-01")
	tests := []struct {
		schema, table string
		wantS, wantT  string
		wantErr       string
	}{
		{"shard_1", "orders_01", "merged", "orders", ""}, // table rule beats schema rule
		{"SHARD_1", "ORDERS_01", "merged", "orders", ""}, // case-insensitive
		{"shard_1", "items", "merged", "items", ""},      // schema rule keeps the table name
		{"shard_1", "users", "people", "users", ""},      // empty target-table keeps the name
		{"other", "orders_01", "other", "orders_01", ""}, // no rule: same names
		{"shard_1", "", "merged", "", ""},                // a schema alone
		{"other", "", "other", "", ""},                   //
		{"dup", "t1", "", "", `matches route rules "dupA" and "dupB"`},
		{"dup", "x", "b", "x", ""},
		{"dups", "x", "", "", `table ` + "`dups`.`x`" + ` matches route rules "dupS1" and "dupS2"`},
		{"dups", "", "", "", "schema `dups` matches route rules \"dupS1\" and \"dupS2\""},
	}
	for _, tt := range tests {
		s, tb, err := r.Route(tt.schema, tt.table)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Route(%q, %q) err = %v, want containing %q", tt.schema, tt.table, err, tt.wantErr)
			}
			continue
		}
		if err != nil || s != tt.wantS || tb != tt.wantT {
			t.Errorf("Route(%q, %q) = %q, %q, %v; want %q, %q", tt.schema, tt.table, s, tb, err, tt.wantS, tt.wantT)
		}
	}
}

func TestExtract(t *testing.T) {
	routes := map[string]*config.RouteRule{
		"r": {
			SchemaPattern: "shard_*", TablePattern: "t_*", TargetSchema: "db", TargetTable: "t",
			ExtractSource: &config.Extractor{SourceRegexp: "mysql-(.*)-([0-9]+)", TargetColumn: "c_source"},
			ExtractSchema: &config.Extractor{SchemaRegexp: "shard_(.*)", TargetColumn: "c_schema"},
			ExtractTable:  &config.Extractor{TableRegexp: "t_(.*)", TargetColumn: "c_table"},
		},
		"nomatch": {
			SchemaPattern: "other", TargetSchema: "db",
			ExtractTable: &config.Extractor{TableRegexp: "^x_([0-9]+)", TargetColumn: "c_table"},
		},
	}
	r := compileOne(t, routeTask([]string{"r", "nomatch"}, routes), "mysql-replica-01")
	p, err := r.Plan("shard_eu", "t_07", []string{"id", "v"})
	if err != nil {
		t.Fatal(err)
	}
	// always in the order table, schema, source
	if want := []string{"c_table", "c_schema", "c_source"}; !reflect.DeepEqual(p.Extra, want) {
		t.Errorf("Extra = %v, want %v", p.Extra, want)
	}
	if want := []any{"07", "eu", "replica01"}; !reflect.DeepEqual(p.ExtraValues, want) {
		t.Errorf("ExtraValues = %v, want %v", p.ExtraValues, want)
	}
	if want := []string{"id", "v", "c_table", "c_schema", "c_source"}; !reflect.DeepEqual(p.Columns, want) {
		t.Errorf("Columns = %v, want %v", p.Columns, want)
	}
	// no match gives ""
	p, err = r.Plan("other", "t_1", []string{"id"})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p.ExtraValues, []any{""}) {
		t.Errorf("no-match ExtraValues = %#v", p.ExtraValues)
	}
	// an upstream column with an extracted name is an error
	_, err = r.Plan("shard_eu", "t_07", []string{"id", "C_Source"})
	if err == nil || !strings.Contains(err.Error(), `extracts column "c_source", but the upstream table already has column "C_Source"`) {
		t.Errorf("clash err = %v", err)
	}
}

func TestExtractOnWinningRuleOnly(t *testing.T) {
	routes := map[string]*config.RouteRule{
		"schema": {SchemaPattern: "s", TargetSchema: "db",
			ExtractSchema: &config.Extractor{SchemaRegexp: "(.*)", TargetColumn: "c_schema"}},
		"table": {SchemaPattern: "s", TablePattern: "t", TargetSchema: "db",
			ExtractTable: &config.Extractor{TableRegexp: "(.*)", TargetColumn: "c_table"}},
	}
	r := compileOne(t, routeTask([]string{"schema", "table"}, routes), "mysql-replica-01")
	p, err := r.Plan("s", "t", []string{"id"})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p.Extra, []string{"c_table"}) {
		t.Errorf("table rule wins: Extra = %v", p.Extra)
	}
	p, err = r.Plan("s", "u", []string{"id"})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p.Extra, []string{"c_schema"}) || !reflect.DeepEqual(p.ExtraValues, []any{"s"}) {
		t.Errorf("schema rule: Extra = %v %v", p.Extra, p.ExtraValues)
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name    string
		task    *config.Task
		wantErr []string
	}{
		{"undefined names", &config.Task{Name: "t", MySQLInstances: []config.Instance{{
			SourceID: "s1", BAListName: "nope", RouteRules: []string{"r"}, ColumnMappingRules: []string{"c"},
		}}}, []string{
			`compile rules of task "t" for source "s1"`, `block-allow-list "nope" is not defined`,
			`route rule "r" is not defined`, `column mapping rule "c" is not defined`,
		}},
		{"route keys", routeTask([]string{"r", "r"}, map[string]*config.RouteRule{
			"r": {TablePattern: "t_[", ExtractTable: &config.Extractor{SchemaRegexp: "x", TargetColumn: "c"}},
		}), []string{
			`route rule "r": schema-pattern is required`, `route rule "r": target-schema is required`,
			`route rule "r": table-pattern: pattern "t_["`, `extract-table: schema-regexp is not allowed here, use table-regexp`,
			`route rule "r" is listed twice`,
		}},
		{"extractors", routeTask([]string{"r"}, map[string]*config.RouteRule{
			"r": {SchemaPattern: "s", TargetSchema: "d",
				ExtractTable:  &config.Extractor{TableRegexp: "t_[0-9]+", TargetColumn: "c"},
				ExtractSchema: &config.Extractor{SchemaRegexp: "(", TargetColumn: "c2"},
				ExtractSource: &config.Extractor{SourceRegexp: "(.*)"}},
		}), []string{
			`extract-table: table-regexp "t_[0-9]+" has no capture group`,
			`extract-schema: schema-regexp: error parsing regexp`,
			`extract-source: target-column is required`,
		}},
		{"duplicate extract column", routeTask([]string{"r"}, map[string]*config.RouteRule{
			"r": {SchemaPattern: "s", TargetSchema: "d",
				ExtractTable:  &config.Extractor{TableRegexp: "(.*)", TargetColumn: "c"},
				ExtractSource: &config.Extractor{SourceRegexp: "(.*)", TargetColumn: "C"}},
		}), []string{`extract-source: target-column "C" is already extracted`}},
		{"column mappings", &config.Task{Name: "t",
			ColumnMappings: map[string]*config.ColumnMappingRule{
				"expr":  {SchemaPattern: "s", TargetColumn: "id", Expression: "hash"},
				"col":   {SchemaPattern: "s", Expression: "partition id", Arguments: []string{"1", "", "t"}},
				"nargs": {SchemaPattern: "s", TargetColumn: "id", Expression: "partition id", Arguments: []string{"1", ""}},
				"inst":  {SchemaPattern: "s", TargetColumn: "id", Expression: "partition id", Arguments: []string{"16", "", "t"}},
				"instx": {SchemaPattern: "s", TargetColumn: "id", Expression: "partition id", Arguments: []string{"a", "", "t"}},
				"affix": {SchemaPattern: "s", TargetColumn: "id", Expression: "add prefix", Arguments: []string{"a", "b"}},
				"nopat": {TargetColumn: "id", Expression: "add suffix", Arguments: []string{"a"}},
			},
			MySQLInstances: []config.Instance{{SourceID: "s1",
				ColumnMappingRules: []string{"expr", "col", "nargs", "inst", "instx", "affix", "nopat"}}},
		}, []string{
			`column mapping rule "expr": expression "hash" is not one of`,
			`column mapping rule "col": target-column is required`,
			`column mapping rule "nargs": partition id needs 3 or 4 arguments`,
			`column mapping rule "inst": instance id "16" is not an integer in [0, 15]`,
			`column mapping rule "instx": instance id "a"`,
			`column mapping rule "affix": expression needs exactly 1 argument, got 2`,
			`column mapping rule "nopat": schema-pattern is required`,
		}},
		{"block-allow-list", baTask(&config.BAListRule{
			DoDBs: []string{"[x"}, DoTables: []config.TableRef{{DBName: "s"}},
		}), []string{
			`block-allow-list "ba" do-dbs[0]: pattern "[x"`,
			`block-allow-list "ba" do-tables[0]: db-name and tbl-name are both required`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(tt.task, &tt.task.MySQLInstances[0], nil)
			if err == nil {
				t.Fatal("no error")
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q\ndoes not contain %q", err, want)
				}
			}
		})
	}
	if _, err := Compile(nil, nil, nil); err == nil {
		t.Error("Compile(nil, nil, nil): no error")
	}
}

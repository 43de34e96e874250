package rules

import (
	"errors"
	"strings"
	"testing"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/config"
	"github.com/dmnode/dmnode/core/filter"
)

// filterTask has event filters, expression filters and online DDL rules.
func filterTask() *config.Task {
	return &config.Task{
		Name: "f",
		Filters: map[string]*config.FilterRule{
			"no-delete":   {SchemaPattern: "shop", TablePattern: "orders", Events: []string{"delete"}, Action: "Ignore"},
			"keep-data":   {SchemaPattern: "shop", Events: []string{"incompatible ddl changes"}, Action: "Error"},
			"no-truncate": {SchemaPattern: "shop", Events: []string{"truncate table"}, Action: "Ignore"},
		},
		ExpressionFilters: map[string]*config.ExpressionFilter{
			"test-rows":  {Schema: "shop", Table: "orders", InsertValueExpr: "customer LIKE 'test%'"},
			"cancelled":  {Schema: "shop", Table: "orders", UpdateOldValueExpr: "state <> 'cancelled'", UpdateNewValueExpr: "state = 'cancelled'"},
			"old-purge":  {Schema: "shop", Table: "orders", DeleteValueExpr: "created < '2020-01-01'"},
			"other":      {Schema: "shop", Table: "items", InsertValueExpr: "price > 100"},
			"unused-col": {Schema: "shop", Table: "log", InsertValueExpr: "missing = 1"},
		},
		OnlineDDL:        true,
		ShadowTableRules: []string{config.DefaultShadowTableRule},
		MySQLInstances: []config.Instance{
			{SourceID: "s1", FilterRules: []string{"no-delete", "keep-data", "no-truncate"},
				ExpressionFilters: []string{"test-rows", "cancelled", "old-purge", "other", "unused-col"}},
			{SourceID: "s2"},
		},
	}
}

func TestFilterDML(t *testing.T) {
	r := compileOne(t, filterTask(), "s1")
	for _, tt := range []struct {
		schema, table string
		kind          dmnode.ChangeKind
		skip          bool
	}{
		{"shop", "orders", dmnode.Delete, true},
		{"SHOP", "Orders", dmnode.Delete, true},
		{"shop", "orders", dmnode.Insert, false},
		{"shop", "items", dmnode.Delete, false},
	} {
		skip, err := r.FilterDML(tt.schema, tt.table, tt.kind)
		if err != nil || skip != tt.skip {
			t.Errorf("FilterDML(%s, %s, %s) = %v, %v", tt.schema, tt.table, tt.kind, skip, err)
		}
	}
	task := filterTask()
	task.Filters["no-delete"].Action = "Error"
	r = compileOne(t, task, "s1")
	_, err := r.FilterDML("shop", "orders", dmnode.Delete)
	const want = "source \"s1\" table `shop`.`orders`: delete forbidden by a binlog event filter rule \"no-delete\""
	if !errors.Is(err, ErrForbidden) || err.Error() != want {
		t.Errorf("Error action: %v\nwant %s", err, want)
	}
	// Without filter rules nothing is filtered.
	r = compileOne(t, filterTask(), "s2")
	if skip, err := r.FilterDML("shop", "orders", dmnode.Delete); skip || err != nil {
		t.Errorf("no rules: %v %v", skip, err)
	}
	if skip, err := r.FilterDDL("shop", "DROP TABLE orders"); skip || err != nil {
		t.Errorf("no rules: %v %v", skip, err)
	}
}

func TestFilterDDL(t *testing.T) {
	r := compileOne(t, filterTask(), "s1")
	for _, tt := range []struct {
		db, stmt string
		skip     bool
		err      string
	}{
		{"shop", "ALTER TABLE orders ADD note text", false, ""},
		{"shop", "TRUNCATE TABLE orders", true, ""},
		{"shop", "ALTER TABLE orders DROP COLUMN note", false,
			"source \"s1\": drop column on table `shop`.`orders` forbidden by a binlog event filter rule \"keep-data\": ALTER TABLE orders DROP COLUMN note"},
		{"other", "ALTER TABLE orders DROP COLUMN note", false, ""},
		{"shop", "ALTER TABLE orders FROB", false, "source \"s1\": filter DDL: syntax error"},
	} {
		skip, err := r.FilterDDL(tt.db, tt.stmt)
		switch {
		case tt.err == "" && err != nil, tt.err != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.err)):
			t.Errorf("FilterDDL(%s): error %v, want %q", tt.stmt, err, tt.err)
		case skip != tt.skip:
			t.Errorf("FilterDDL(%s) = %v", tt.stmt, skip)
		}
	}
	_, err := r.FilterDDL("shop", "DROP TABLE orders")
	if !errors.Is(err, ErrForbidden) {
		t.Errorf("drop table: %v", err)
	}
	if _, err := r.FilterDDL("shop", "ALTER TABLE orders FROB"); !errors.Is(err, filter.ErrSyntax) {
		t.Errorf("unparsable: %v", err)
	}
	// With the old definition, a widening MODIFY is compatible.
	before := func(schema, table string) (string, bool) {
		return "CREATE TABLE orders (id int, note varchar(10))", true
	}
	if skip, err := r.FilterDDLWith("shop", "ALTER TABLE orders MODIFY note varchar(20)", before); skip || err != nil {
		t.Errorf("widening: %v %v", skip, err)
	}
	if _, err := r.FilterDDLWith("shop", "ALTER TABLE orders MODIFY note varchar(5)", before); !errors.Is(err, ErrForbidden) {
		t.Errorf("narrowing: %v", err)
	}
	if _, err := r.FilterDDL("shop", "ALTER TABLE orders MODIFY note varchar(20)"); !errors.Is(err, ErrForbidden) {
		t.Errorf("without lookup: %v", err)
	}
}

func TestSourceFilters(t *testing.T) {
	task := filterTask()
	src := &config.Source{SourceID: "s2", CaseSensitive: true, Filters: []*config.FilterRule{
		{SchemaPattern: "Shop", Events: []string{"update"}, Action: "Error"},
	}}
	r, err := Compile(task, &task.MySQLInstances[1], src)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.FilterDML("Shop", "t", dmnode.Update); !errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), `"source filters[0]"`) {
		t.Errorf("source rule: %v", err)
	}
	if _, err := r.FilterDML("shop", "t", dmnode.Update); err != nil {
		t.Errorf("source rule is case-sensitive: %v", err)
	}
	if _, err := Compile(task, &task.MySQLInstances[0], src); err == nil || !strings.Contains(err.Error(), `given source file of "s2"`) {
		t.Errorf("mismatched source: %v", err)
	}
	src.Filters[0].Events = []string{"upsert"}
	if _, err := Compile(task, &task.MySQLInstances[1], src); err == nil || !strings.Contains(err.Error(), `filter rule "source filters[0]": events[0]: unknown event "upsert"`) {
		t.Errorf("bad source rule: %v", err)
	}
}

func TestOnlineTable(t *testing.T) {
	task := filterTask()
	r := compileOne(t, task, "s1")
	for _, tt := range []struct {
		table string
		kind  OnlineKind
		real  string
	}{
		{"orders", OnlineReal, "orders"}, {"_orders_gho", OnlineShadow, "orders"}, {"_orders_new", OnlineShadow, "orders"},
		{"_orders_ghc", OnlineTrash, "orders"}, {"_orders_del", OnlineTrash, "orders"}, {"_orders_old", OnlineTrash, "orders"},
		{"orders_gho", OnlineReal, "orders_gho"}, {"__gho", OnlineReal, "__gho"}, {"_a_b_gho", OnlineShadow, "a_b"},
	} {
		if kind, real := r.OnlineTable(tt.table); kind != tt.kind || real != tt.real {
			t.Errorf("OnlineTable(%s) = %s %s, want %s %s", tt.table, kind, real, tt.kind, tt.real)
		}
	}
	task.ShadowTableRules = []string{`(.+)_shadow`} // anchored as in DM
	task.TrashTableRules = []string{`^(.+)_(?:trash|bak)$`}
	r = compileOne(t, task, "s1")
	if kind, real := r.OnlineTable("t_shadow"); kind != OnlineShadow || real != "t" {
		t.Errorf("custom shadow: %s %s", kind, real)
	}
	if kind, real := r.OnlineTable("t_bak"); kind != OnlineTrash || real != "t" {
		t.Errorf("custom trash: %s %s", kind, real)
	}
	if kind, _ := r.OnlineTable("_t_gho"); kind != OnlineReal {
		t.Errorf("custom rules replace the defaults: %s", kind)
	}
	if kind, _ := r.OnlineTable("t_shadow_2"); kind != OnlineReal {
		t.Errorf("rules are anchored: %s", kind)
	}
	task.OnlineDDL = false
	r = compileOne(t, task, "s1")
	if kind, real := r.OnlineTable("_t_gho"); kind != OnlineReal || real != "_t_gho" {
		t.Errorf("online-ddl false: %s %s", kind, real)
	}
	task.OnlineDDL = true
	task.ShadowTableRules = []string{`_gho$`, `(`}
	if _, err := Compile(task, &task.MySQLInstances[1], nil); err == nil ||
		!strings.Contains(err.Error(), "shadow-table-rules[0] \"_gho$\": must have exactly one capture group") ||
		!strings.Contains(err.Error(), "shadow-table-rules[1]: error parsing regexp") {
		t.Errorf("bad online rules: %v", err)
	}
}

func TestDropRow(t *testing.T) {
	r := compileOne(t, filterTask(), "s1")
	p, err := r.Plan("Shop", "ORDERS", []string{"id", "customer", "state", "created"})
	if err != nil {
		t.Fatal(err)
	}
	if !p.FiltersRows() {
		t.Fatal("FiltersRows = false")
	}
	row := func(customer, state, created any) []any { return []any{int64(1), customer, state, created} }
	for _, tt := range []struct {
		kind          dmnode.ChangeKind
		before, after []any
		drop          bool
	}{
		{dmnode.Insert, nil, row("test-1", "new", "2024-01-01"), true},
		{dmnode.Insert, nil, row("Test-2", "new", "2024-01-01"), true}, // LIKE is case-insensitive
		{dmnode.Insert, nil, row("alice", "new", "2024-01-01"), false},
		{dmnode.Insert, nil, row(nil, "new", "2024-01-01"), false}, // NULL is not true
		{dmnode.Update, row("alice", "new", "x"), row("alice", "cancelled", "x"), true},
		{dmnode.Update, row("alice", "cancelled", "x"), row("alice", "cancelled", "x"), false},
		{dmnode.Update, row("test-1", "new", "x"), row("test-1", "paid", "x"), false}, // the insert rule does not apply
		{dmnode.Delete, row("alice", "paid", "2019-05-01 10:00:00"), nil, true},
		{dmnode.Delete, row("alice", "paid", "2021-05-01 10:00:00"), nil, false},
	} {
		drop, err := p.DropRow(tt.kind, tt.before, tt.after)
		if err != nil || drop != tt.drop {
			t.Errorf("DropRow(%s, %v, %v) = %v, %v; want %v", tt.kind, tt.before, tt.after, drop, err, tt.drop)
		}
	}
	if _, err := p.DropRow(dmnode.Insert, nil, []any{int64(1)}); err == nil || !strings.Contains(err.Error(), `expression filter "test-rows"`) {
		t.Errorf("short row: %v", err)
	}
	// A table without expression filters drops nothing.
	q, err := r.Plan("shop", "payments", []string{"id"})
	if err != nil || q.FiltersRows() {
		t.Fatalf("payments: %v", err)
	}
	if drop, err := q.DropRow(dmnode.Insert, nil, []any{int64(1)}); drop || err != nil {
		t.Errorf("payments: %v %v", drop, err)
	}
	// A rule reading a column the table lacks fails the plan.
	_, err = r.Plan("shop", "log", []string{"id"})
	if err == nil || !strings.Contains(err.Error(), `expression filter "unused-col" insert-value-expr: unknown column "missing"`) {
		t.Errorf("missing column: %v", err)
	}
}

func TestCompileFilterErrors(t *testing.T) {
	task := filterTask()
	task.MySQLInstances[0].FilterRules = append(task.MySQLInstances[0].FilterRules, "nope", "no-delete")
	task.MySQLInstances[0].ExpressionFilters = append(task.MySQLInstances[0].ExpressionFilters, "gone", "other")
	task.ExpressionFilters["other"].InsertValueExpr = "DATE_ADD(a, INTERVAL 1 DAY) > 0"
	task.Filters["keep-data"].SQLPattern = []string{"("}
	_, err := Compile(task, &task.MySQLInstances[0], nil)
	for _, want := range []string{
		`filter rule "nope" is not defined`, `filter rule "no-delete" is listed twice`,
		`expression filter "gone" is not defined`, `expression filter "other" is listed twice`,
		`expression filter "other" insert-value-expr: not supported yet: function DATE_ADD`,
		`filter rule "keep-data": sql-pattern[0]: error parsing regexp`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q: %v", want, err)
		}
	}
}

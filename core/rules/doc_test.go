package rules

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/dmnode/dmnode/core/config"
)

// This file checks that every number, value and message quoted in
// docs/column-mapping.md is what the code produces.

const docPath = "../../docs/column-mapping.md"

func readDoc(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func requireDoc(t *testing.T, doc, s string) {
	t.Helper()
	if !strings.Contains(doc, s) {
		t.Errorf("%s does not contain\n%s", docPath, s)
	}
}

// groupBits renders v in binary, split into fields of the given widths.
func groupBits(v int64, widths ...int) string {
	bits := fmt.Sprintf("%064b", uint64(v))
	var fields []string
	for _, w := range widths {
		fields = append(fields, bits[:w])
		bits = bits[w:]
	}
	return strings.Join(fields, " ")
}

func TestDocArithmetic(t *testing.T) {
	doc := readDoc(t)
	tests := []struct {
		formula          string
		inst, sch, tab   int64
		useI, useS, useT bool
		original         int64
		widths           []int
	}{
		{"1<<59 | 1<<51 | 5", 1, 0, 1, true, false, true, 5, []int{1, 4, 8, 7, 44}},
		{"3<<59 | 42", 3, 0, 0, true, false, false, 42, []int{1, 4, 15, 44}},
		{"2<<59 | 3<<52 | 7<<44 | 1000", 2, 3, 7, true, true, true, 1000, []int{1, 4, 7, 8, 44}},
		{"3<<56 | 7<<48 | 1000", 0, 3, 7, false, true, true, 1000, []int{1, 7, 8, 4, 44}},
	}
	for _, tt := range tests {
		v, err := PartitionID(tt.inst, tt.sch, tt.tab, tt.useI, tt.useS, tt.useT, tt.original)
		if err != nil {
			t.Fatal(err)
		}
		requireDoc(t, doc, fmt.Sprintf("    %s = %d\n", tt.formula, v))
		requireDoc(t, doc, "    "+groupBits(v, tt.widths...)+"\n")
	}
	requireDoc(t, doc, fmt.Sprintf("2^44 = %d", maxOriginal))
}

// docTask is the task of the doc's first worked example.
func docTask(args ...string) *config.Task {
	return &config.Task{
		Name: "shop-merge",
		Routes: map[string]*config.RouteRule{
			"merge-t": {SchemaPattern: "shop", TablePattern: "t*", TargetSchema: "shop", TargetTable: "t"},
		},
		ColumnMappings: map[string]*config.ColumnMappingRule{
			"instance-1": {SchemaPattern: "shop", TablePattern: "t*", SourceColumn: "id", TargetColumn: "id",
				Expression: "partition id", Arguments: args},
		},
		MySQLInstances: []config.Instance{{SourceID: "mysql-01", RouteRules: []string{"merge-t"}, ColumnMappingRules: []string{"instance-1"}}},
	}
}

func TestDocPartitionExample(t *testing.T) {
	doc := readDoc(t)
	r := compileOne(t, docTask("1", "", "t"), "mysql-01")
	cols := []string{"id", "v"}
	t1, err := r.Plan("shop", "t1", cols)
	if err != nil {
		t.Fatal(err)
	}
	requireDoc(t, doc, "    "+t1.Mapping()+"\n")
	out, err := t1.Apply([]any{int64(5), "x"})
	if err != nil || out[0] != int64(578712552117108741) {
		t.Fatalf("Apply = %v, %v", out, err)
	}

	planErr := func(schema, table string) string {
		_, err := r.Plan(schema, table, cols)
		if err == nil {
			t.Fatalf("Plan(%s, %s): no error", schema, table)
		}
		return err.Error()
	}
	requireDoc(t, doc, "``"+planErr("shop", "tx")+"``")
	requireDoc(t, doc, "`"+after(planErr("shop", "t_1"), `name "`)+"`")
	requireDoc(t, doc, "`"+after(planErr("shop", "t256"), `name "`)+"`")

	_, err = t1.Apply([]any{int64(1) << 44, "x"})
	requireDoc(t, doc, "``"+err.Error()+"``")
	_, err = t1.Apply([]any{int64(-1), "x"})
	requireDoc(t, doc, "`"+after(err.Error(), "value ")+"`")

	task := docTask("16", "", "t")
	_, err = Compile(task, &task.MySQLInstances[0], nil)
	requireDoc(t, doc, "`"+after(err.Error(), "instance id ")+"`")

	task = docTask("", "shard", "", "_")
	task.ColumnMappings["instance-1"].SchemaPattern = "shard_*"
	_, err = compileOne(t, task, "mysql-01").Plan("shard_128", "t1", cols)
	requireDoc(t, doc, "`"+after(err.Error(), `name "`)+"`")

	task = docTask("1", "", "t")
	task.ColumnMappings = map[string]*config.ColumnMappingRule{
		"a": {SchemaPattern: "shop", TablePattern: "t*", TargetColumn: "id", Expression: "partition id", Arguments: []string{"1", "", "t"}},
		"b": {SchemaPattern: "shop", TablePattern: "t1", TargetColumn: "id", Expression: "partition id", Arguments: []string{"2", "", "t"}},
	}
	task.MySQLInstances[0].ColumnMappingRules = []string{"a", "b"}
	_, err = compileOne(t, task, "mysql-01").Plan("shop", "t1", cols)
	requireDoc(t, doc, "``"+after(err.Error(), "table `")+"``")

	t01, err := r.Plan("shop", "t01", cols)
	if err != nil {
		t.Fatal(err)
	}
	err = CheckCollisions([]*TablePlan{t01, t1})
	if err == nil {
		t.Fatal("no collision")
	}
	requireDoc(t, doc, "    "+err.Error()+"\n")
}

// after returns the suffix of s that starts at the first marker, including it.
func after(s, marker string) string {
	if i := strings.Index(s, marker); i >= 0 {
		return s[i:]
	}
	return s
}

func TestDocExtractExample(t *testing.T) {
	doc := readDoc(t)
	task := &config.Task{
		Name: "shop-merge",
		Routes: map[string]*config.RouteRule{
			"merge-orders": {SchemaPattern: "shop", TablePattern: "orders", TargetSchema: "shop", TargetTable: "orders",
				ExtractSource: &config.Extractor{SourceRegexp: "mysql-(.*)-([0-9]+)", TargetColumn: "c_source"}},
			"all-three": {SchemaPattern: "shard_*", TablePattern: "orders_*", TargetSchema: "shop", TargetTable: "orders",
				ExtractSource: &config.Extractor{SourceRegexp: "mysql-(.*)-([0-9]+)", TargetColumn: "c_source"},
				ExtractSchema: &config.Extractor{SchemaRegexp: "shard_(.*)", TargetColumn: "c_schema"},
				ExtractTable:  &config.Extractor{TableRegexp: "orders_(.*)", TargetColumn: "c_table"}},
		},
		MySQLInstances: []config.Instance{
			{SourceID: "mysql-replica-01", RouteRules: []string{"merge-orders", "all-three"}},
			{SourceID: "mysql-replica-02", RouteRules: []string{"merge-orders"}},
		},
	}
	rows := map[string][]any{"mysql-replica-01": {int64(1), "widget"}, "mysql-replica-02": {int64(1), "gadget"}}
	for source, row := range rows {
		p, err := compileOne(t, task, source).Plan("shop", "orders", []string{"id", "item"})
		if err != nil {
			t.Fatal(err)
		}
		out, err := p.Apply(row)
		if err != nil {
			t.Fatal(err)
		}
		requireDoc(t, doc, fmt.Sprintf("| %s | `%s` | `%s` |", source, sqlTuple(row), sqlTuple(out)))
	}
	p, err := compileOne(t, task, "mysql-replica-01").Plan("shard_eu", "orders_07", []string{"id", "item"})
	if err != nil {
		t.Fatal(err)
	}
	requireDoc(t, doc, "columns `"+strings.Join(p.Extra, ", ")+"` with the")
	requireDoc(t, doc, "values `"+strings.TrimSuffix(strings.TrimPrefix(sqlTuple(p.ExtraValues), "("), ")")+"`")
}

// sqlTuple renders a row as a SQL tuple: (1, 'widget').
func sqlTuple(row []any) string {
	parts := make([]string, len(row))
	for i, v := range row {
		if s, ok := v.(string); ok {
			parts[i] = "'" + s + "'"
		} else {
			parts[i] = fmt.Sprint(v)
		}
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

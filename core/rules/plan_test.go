package rules

import (
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/dmnode/dmnode/core/config"
)

// shardTask merges shard_*.t_* of two sources into db.t with a partition id
// rule (instance from the rule) and extract-source.
func shardTask() *config.Task {
	return &config.Task{
		Name: "merge",
		Routes: map[string]*config.RouteRule{
			"r": {
				SchemaPattern: "shard_*", TablePattern: "t_*", TargetSchema: "db", TargetTable: "t",
				ExtractSource: &config.Extractor{SourceRegexp: "mysql-(.*)-([0-9]+)", TargetColumn: "c_source"},
			},
		},
		ColumnMappings: map[string]*config.ColumnMappingRule{
			"pid1": {SchemaPattern: "shard_*", TablePattern: "t_*", TargetColumn: "id",
				Expression: "partition id", Arguments: []string{"1", "shard", "t", "_"}},
			"pid2": {SchemaPattern: "shard_*", TablePattern: "t_*", TargetColumn: "id",
				Expression: "partition id", Arguments: []string{"2", "shard", "t", "_"}},
		},
		MySQLInstances: []config.Instance{
			{SourceID: "mysql-replica-01", RouteRules: []string{"r"}, ColumnMappingRules: []string{"pid1"}},
			{SourceID: "mysql-replica-02", RouteRules: []string{"r"}, ColumnMappingRules: []string{"pid2"}},
		},
	}
}

func TestPlanApply(t *testing.T) {
	r := compileOne(t, shardTask(), "mysql-replica-01")
	p, err := r.Plan("shard_3", "t_07", []string{"ID", "name"})
	if err != nil {
		t.Fatal(err)
	}
	want := TablePlan{
		Source: "mysql-replica-01", Schema: "shard_3", Table: "t_07",
		TargetSchema: "db", TargetTable: "t",
		Columns: []string{"ID", "name", "c_source"}, Extra: []string{"c_source"}, ExtraValues: []any{"replica01"},
	}
	got := *p
	got.upstream, got.extra, got.mapping = 0, nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("plan = %+v\nwant %+v", got, want)
	}
	const prefix = 1<<59 | 3<<52 | 7<<44
	row := []any{int64(42), "alice"}
	out, err := p.Apply(row)
	if err != nil {
		t.Fatal(err)
	}
	if wantRow := []any{int64(prefix | 42), "alice", "replica01"}; !reflect.DeepEqual(out, wantRow) {
		t.Fatalf("Apply = %v, want %v", out, wantRow)
	}
	if !reflect.DeepEqual(row, []any{int64(42), "alice"}) {
		t.Fatalf("Apply modified its input: %v", row)
	}
	if got, want := p.Mapping(), "ID: partition id instance 1, schema id 3, table id 7: ids map to [590094696487845888, 590112288673890303]"; got != want {
		t.Errorf("Mapping() = %q\nwant %q", got, want)
	}
	if int64(590094696487845888) != prefix {
		t.Fatal("doc string prefix mismatch")
	}

	_, err = p.Apply([]any{int64(1) << 44, "bob"})
	wantErr := "apply plan of source \"mysql-replica-01\" table `shard_3`.`t_07` column `ID`: column mapping rule \"pid1\": value 17592186044416 out of range for partition id: must be in [0, 17592186044415]"
	if err == nil || err.Error() != wantErr {
		t.Errorf("out of range err = %v\nwant %s", err, wantErr)
	}
	if _, err = p.Apply([]any{int64(1)}); err == nil || !strings.Contains(err.Error(), "row has 1 values, the table has 2 columns") {
		t.Errorf("short row err = %v", err)
	}
}

func TestPlanNoRules(t *testing.T) {
	r := compileOne(t, &config.Task{Name: "t", MySQLInstances: []config.Instance{{SourceID: "s"}}}, "s")
	p, err := r.Plan("a", "b", []string{"x", "y"})
	if err != nil {
		t.Fatal(err)
	}
	if p.TargetSchema != "a" || p.TargetTable != "b" || p.Mapping() != "" || len(p.Extra) != 0 || len(p.ExtraValues) != 0 {
		t.Fatalf("plan = %+v", p)
	}
	out, err := p.Apply([]any{nil, []byte("v")})
	if err != nil || !reflect.DeepEqual(out, []any{nil, []byte("v")}) {
		t.Fatalf("Apply = %v, %v", out, err)
	}
}

func mappingTask(names []string, maps map[string]*config.ColumnMappingRule) *config.Task {
	return &config.Task{
		Name:           "t",
		ColumnMappings: maps,
		MySQLInstances: []config.Instance{{SourceID: "s1", ColumnMappingRules: names}},
	}
}

func TestPlanColumnMappingRules(t *testing.T) {
	maps := map[string]*config.ColumnMappingRule{
		"schema": {SchemaPattern: "s*", TargetColumn: "id", Expression: "partition id", Arguments: []string{"1", "", ""}},
		"table":  {SchemaPattern: "s*", TablePattern: "t*", TargetColumn: "id", Expression: "partition id", Arguments: []string{"", "", "t"}},
		"tab2":   {SchemaPattern: "s*", TablePattern: "tt*", TargetColumn: "name", Expression: "add prefix", Arguments: []string{"x-"}},
		"sch2":   {SchemaPattern: "sx", TargetColumn: "name", Expression: "add suffix", Arguments: []string{"-x"}},
		"strict": {SchemaPattern: "u*", TablePattern: "*", TargetColumn: "id", Expression: "partition id", Arguments: []string{"", "u", "t", "_"}},
	}
	r := compileOne(t, mappingTask([]string{"schema", "table", "tab2", "sch2", "strict"}, maps), "s1")
	cols := []string{"id", "name"}
	tests := []struct {
		schema, table string
		wantMapping   string
		wantErr       string
	}{
		{"s", "t1", "id: partition id instance -, schema id -, table id 1: ids map to [36028797018963968, 36046389205008383]", ""}, // table rule beats schema rule
		{"s", "x", "id: partition id instance 1, schema id -, table id -: ids map to [576460752303423488, 576478344489467903]", ""},
		{"s", "tt1", "", `table ` + "`s`.`tt1`" + ` matches column mapping rules "table" and "tab2"; only one may apply`},
		{"sx", "x", "", `table ` + "`sx`.`x`" + ` matches column mapping rules "schema" and "sch2"; only one may apply`},
		{"s", "tx", "", "plan source \"s1\" table `s`.`tx`: column mapping rule \"table\": table prefix \"t\": name \"tx\": suffix \"x\" after \"t\" is not an unsigned decimal number"},
		{"u", "t_256", "", `column mapping rule "strict": table prefix "t": name "t_256": id 256 out of range [0, 255]`},
		{"ux", "t_1", "", `column mapping rule "strict": schema prefix "u": name "ux" does not start with "u_"`},
		{"u", "t", "id: partition id instance -, schema id 0, table id 0: ids map to [0, 17592186044415]", ""},
		{"v", "x", "", ""},
	}
	for _, tt := range tests {
		schema := tt.schema
		p, err := r.Plan(schema, tt.table, cols)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Plan(%q, %q) err = %v\nwant containing %s", schema, tt.table, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("Plan(%q, %q): %v", schema, tt.table, err)
			continue
		}
		if got := p.Mapping(); got != tt.wantMapping {
			t.Errorf("Plan(%q, %q).Mapping() = %q\nwant %q", schema, tt.table, got, tt.wantMapping)
		}
	}
}

func TestPlanSchemaIDZero(t *testing.T) {
	// Names equal to their prefix are id 0; without an instance part the
	// layout is [0][schema 7][table 8][original 48 bits, values < 2^44].
	maps := map[string]*config.ColumnMappingRule{
		"m": {SchemaPattern: "u*", TablePattern: "*", TargetColumn: "id", Expression: "partition id", Arguments: []string{"", "u", "t", "_"}},
	}
	r := compileOne(t, mappingTask([]string{"m"}, maps), "s1")
	p, err := r.Plan("u", "t", []string{"id"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.Mapping(), "id: partition id instance -, schema id 0, table id 0: ids map to [0, 17592186044415]"; got != want {
		t.Errorf("Mapping() = %q, want %q", got, want)
	}
	p, err = r.Plan("u_3", "t_01", []string{"id"})
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Apply([]any{"9"})
	if want := "216454257090494473"; err != nil || out[0] != want { // 3<<56 | 1<<48 | 9
		t.Errorf("Apply = %v, %v; want %s", out, err, want)
	}
}

func TestPlanMappingColumnMissing(t *testing.T) {
	maps := map[string]*config.ColumnMappingRule{
		"m": {SchemaPattern: "s", TargetColumn: "uid", Expression: "partition id", Arguments: []string{"1", "", ""}},
	}
	r := compileOne(t, mappingTask([]string{"m"}, maps), "s1")
	_, err := r.Plan("s", "t", []string{"id"})
	if err == nil || !strings.Contains(err.Error(), `column mapping rule "m": target-column "uid" is not a column of the table`) {
		t.Errorf("err = %v", err)
	}
}

func TestPlanAffix(t *testing.T) {
	maps := map[string]*config.ColumnMappingRule{
		"m": {SchemaPattern: "s", TargetColumn: "code", SourceColumn: "ignored", Expression: "add suffix", Arguments: []string{"@eu"}},
	}
	r := compileOne(t, mappingTask([]string{"m"}, maps), "s1")
	p, err := r.Plan("s", "t", []string{"id", "code"})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Mapping(); got != `code: add suffix "@eu"` {
		t.Errorf("Mapping() = %q", got)
	}
	out, err := p.Apply([]any{int64(1), "abc"})
	if err != nil || !reflect.DeepEqual(out, []any{int64(1), "abc@eu"}) {
		t.Errorf("Apply = %v, %v", out, err)
	}
	_, err = p.Apply([]any{int64(1), int64(2)})
	if err == nil || !strings.Contains(err.Error(), "column `code`: column mapping rule \"m\": value 2 of type int64 is not a string") {
		t.Errorf("err = %v", err)
	}
}

func TestPlanConcurrentApply(t *testing.T) {
	r := compileOne(t, shardTask(), "mysql-replica-02")
	p, err := r.Plan("shard_1", "t_1", []string{"id", "v"})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				out, err := p.Apply([]any{int64(i), g})
				if err != nil || out[0] != int64(2<<59|1<<52|1<<44|i) || out[2] != "replica02" {
					t.Errorf("Apply = %v, %v", out, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// The target's generated columns are matched but never written, and its
// case-insensitive columns are marked for key comparison.
func TestPlanWithTarget(t *testing.T) {
	r := compileOne(t, &config.Task{Name: "t", MySQLInstances: []config.Instance{{SourceID: "s"}}}, "s")
	p, err := r.Plan("a", "b", []string{"id", "G", "name", "gs"})
	if err != nil {
		t.Fatal(err)
	}
	q := p.WithTarget(map[string]ColumnTraits{"g": {Generated: true}, "name": {FoldCase: true}, "gs": {Generated: true}})
	if got := q.WriteColumns(); !reflect.DeepEqual(got, []string{"id", "name"}) {
		t.Fatalf("WriteColumns = %v", got)
	}
	if got := q.WriteRow([]any{int64(1), "x", "n", "y"}); !reflect.DeepEqual(got, []any{int64(1), "n"}) {
		t.Fatalf("WriteRow = %v", got)
	}
	if got := q.WriteKey([]int{0, 1, 2}); !reflect.DeepEqual(got, []int{0, 1}) {
		t.Fatalf("WriteKey = %v", got)
	}
	if !reflect.DeepEqual(q.Fold, []bool{false, false, true, false}) || q.Written(1) || !q.Written(2) {
		t.Fatalf("Fold = %v, Written(1) = %v", q.Fold, q.Written(1))
	}
	if p.WriteColumns() == nil || len(p.WriteColumns()) != 4 || p.Fold != nil {
		t.Fatalf("WithTarget changed its receiver")
	}
	plain := p.WithTarget(map[string]ColumnTraits{})
	if row := []any{1, 2, 3, 4}; &plain.WriteRow(row)[0] != &row[0] || len(plain.Fold) != 4 {
		t.Fatalf("a plan without generated columns copies rows")
	}
}

package rules

import (
	"reflect"
	"testing"

	"github.com/dmnode/dmnode/core/config"
)

func TestUnapply(t *testing.T) {
	const prefix = 1<<59 | 3<<52 | 7<<44 // instance 1, shard_3, t_07
	pid, err := compileOne(t, shardTask(), "mysql-replica-01").Plan("shard_3", "t_07", []string{"id", "name"})
	if err != nil {
		t.Fatal(err)
	}
	maps := map[string]*config.ColumnMappingRule{
		"pre": {SchemaPattern: "p", TargetColumn: "code", Expression: "add prefix", Arguments: []string{"eu-"}},
		"suf": {SchemaPattern: "s", TargetColumn: "code", Expression: "add suffix", Arguments: []string{"@eu"}},
	}
	r := compileOne(t, mappingTask([]string{"pre", "suf"}, maps), "s1")
	pre, err := r.Plan("p", "t", []string{"code", "v"})
	if err != nil {
		t.Fatal(err)
	}
	suf, err := r.Plan("s", "t", []string{"code", "v"})
	if err != nil {
		t.Fatal(err)
	}
	none, err := r.Plan("x", "t", []string{"id", "v"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		plan   *TablePlan
		target []any
		want   []any // nil: not owned
	}{
		{"partition int64", pid, []any{int64(prefix | 42), nil, "replica01"}, []any{int64(42), nil}},
		{"partition uint64", pid, []any{uint64(prefix | 42), "x", "replica01"}, []any{uint64(42), "x"}},
		{"partition string", pid, []any{"590094696487845930", nil, "replica01"}, []any{"42", nil}},
		{"partition bytes", pid, []any{[]byte("590094696487845930"), nil, []byte("replica01")}, []any{[]byte("42"), nil}},
		{"partition first", pid, []any{int64(prefix), nil, "replica01"}, []any{int64(0), nil}},
		{"partition last", pid, []any{int64(prefix | (1<<44 - 1)), nil, "replica01"}, []any{int64(1<<44 - 1), nil}},
		{"other table's id", pid, []any{int64(prefix + 1<<44), nil, "replica01"}, nil},
		{"below range", pid, []any{int64(prefix - 1), nil, "replica01"}, nil},
		{"unmapped id", pid, []any{int64(42), nil, "replica01"}, nil},
		{"other source", pid, []any{int64(prefix | 42), nil, "replica02"}, nil},
		{"extracted NULL", pid, []any{int64(prefix | 42), nil, nil}, nil},
		{"NULL id", pid, []any{nil, "x", "replica01"}, []any{nil, "x"}},
		{"short row", pid, []any{int64(prefix | 42), nil}, nil},
		{"prefix", pre, []any{"eu-abc", int64(1)}, []any{"abc", int64(1)}},
		{"prefix bytes", pre, []any{[]byte("eu-abc"), nil}, []any{[]byte("abc"), nil}},
		{"prefix missing", pre, []any{"us-abc", nil}, nil},
		{"prefix not a string", pre, []any{int64(1), nil}, nil},
		{"suffix", suf, []any{"abc@eu", nil}, []any{"abc", nil}},
		{"suffix missing", suf, []any{"abc@us", nil}, nil},
		{"no rules", none, []any{int64(7), "v"}, []any{int64(7), "v"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := append([]any(nil), tt.target...)
			got, ok := tt.plan.Unapply(tt.target)
			if !reflect.DeepEqual(tt.target, in) {
				t.Fatalf("Unapply modified its input: %v", tt.target)
			}
			if tt.want == nil {
				if ok {
					t.Fatalf("Unapply(%v) = %v, true; want not owned", tt.target, got)
				}
				return
			}
			if !ok || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Unapply(%v) = %v, %v; want %v", tt.target, got, ok, tt.want)
			}
			// Apply undoes Unapply on every column it knows.
			back, err := tt.plan.Apply(got)
			if err != nil {
				t.Fatal(err)
			}
			for i := range back {
				if tt.target[i] != nil && !reflect.DeepEqual(back[i], tt.target[i]) && !sameText(tt.target[i], back[i]) {
					t.Errorf("Apply(Unapply(row))[%d] = %#v, want %#v", i, back[i], tt.target[i])
				}
			}
		})
	}
	if pid.MappedColumn() != 0 || pre.MappedColumn() != 0 || none.MappedColumn() != -1 {
		t.Errorf("MappedColumn = %d, %d, %d; want 0, 0, -1", pid.MappedColumn(), pre.MappedColumn(), none.MappedColumn())
	}
}

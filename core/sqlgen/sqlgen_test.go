package sqlgen

import (
	"database/sql"
	"reflect"
	"strings"
	"testing"
)

func TestQuote(t *testing.T) {
	tests := []struct{ schema, table, ident, table2 string }{
		{"db", "t", "`t`", "`db`.`t`"},
		{"", "t", "`t`", "`t`"},
		{"d`b", "a``b", "`a````b`", "`d``b`.`a````b`"},
		{"db", "a.b", "`a.b`", "`db`.`a.b`"},
		{"", "", "``", "``"},
	}
	for _, tt := range tests {
		if got := QuoteIdent(tt.table); got != tt.ident {
			t.Errorf("QuoteIdent(%q) = %s, want %s", tt.table, got, tt.ident)
		}
		if got := QuoteTable(tt.schema, tt.table); got != tt.table2 {
			t.Errorf("QuoteTable(%q, %q) = %s, want %s", tt.schema, tt.table, got, tt.table2)
		}
	}
}

func TestIsNull(t *testing.T) {
	var nilString *string
	s := "x"
	tests := []struct {
		v    any
		want bool
	}{
		{nil, true}, {[]byte(nil), true}, {nilString, true}, {sql.NullString{}, true},
		{0, false}, {"", false}, {[]byte{}, false}, {&s, false}, {sql.NullString{Valid: true}, false},
	}
	for _, tt := range tests {
		if got := IsNull(tt.v); got != tt.want {
			t.Errorf("IsNull(%#v) = %v", tt.v, got)
		}
	}
}

// call is a generated statement with its arguments.
type call struct {
	sql  string
	args []any
}

func check(t *testing.T, name string, got, want call) {
	t.Helper()
	if got.sql != want.sql {
		t.Errorf("%s:\n got  %s\n want %s", name, got.sql, want.sql)
	}
	if !reflect.DeepEqual(got.args, want.args) {
		t.Errorf("%s: args %#v, want %#v", name, got.args, want.args)
	}
}

func TestInsert(t *testing.T) {
	cols := []string{"id", "na`me"}
	tests := []struct {
		name    string
		rows    [][]any
		replace bool
		want    call
	}{
		{"one row", [][]any{{1, "a"}}, false,
			call{"INSERT INTO `db`.`t` (`id`,`na``me`) VALUES (?,?)", []any{1, "a"}}},
		{"rows with NULL", [][]any{{1, nil}, {2, "b"}, {nil, "c"}}, false,
			call{"INSERT INTO `db`.`t` (`id`,`na``me`) VALUES (?,?),(?,?),(?,?)", []any{1, nil, 2, "b", nil, "c"}}},
		{"replace", [][]any{{1, "a"}, {2, "b"}}, true,
			call{"REPLACE INTO `db`.`t` (`id`,`na``me`) VALUES (?,?),(?,?)", []any{1, "a", 2, "b"}}},
		{"no rows", nil, false, call{"", nil}},
	}
	for _, tt := range tests {
		sql, args := Insert("db", "t", cols, tt.rows, tt.replace)
		check(t, tt.name, call{sql, args}, tt.want)
	}
}

func TestDelete(t *testing.T) {
	cols := []string{"a", "b", "c"}
	tests := []struct {
		name string
		key  []int
		row  []any
		want call
	}{
		{"primary key", []int{0}, []any{1, "x", nil},
			call{"DELETE FROM `db`.`t` WHERE `a` = ? LIMIT 1", []any{1}}},
		{"composite key in key order", []int{2, 0}, []any{1, "x", 3},
			call{"DELETE FROM `db`.`t` WHERE `c` = ? AND `a` = ? LIMIT 1", []any{3, 1}}},
		{"all columns with NULL", nil, []any{1, nil, []byte(nil)},
			call{"DELETE FROM `db`.`t` WHERE `a` = ? AND `b` IS NULL AND `c` IS NULL LIMIT 1", []any{1}}},
		{"all NULL", []int{}, []any{nil, nil, nil},
			call{"DELETE FROM `db`.`t` WHERE `a` IS NULL AND `b` IS NULL AND `c` IS NULL LIMIT 1", nil}},
	}
	for _, tt := range tests {
		sql, args := Delete("db", "t", cols, tt.key, tt.row)
		check(t, tt.name, call{sql, args}, tt.want)
	}
}

func TestUpdate(t *testing.T) {
	cols := []string{"id", "v", "w`"}
	tests := []struct {
		name          string
		key           []int
		before, after []any
		want          call
	}{
		{"primary key", []int{0}, []any{1, "a", nil}, []any{1, "b", 2},
			call{"UPDATE `db`.`t` SET `id` = ?, `v` = ?, `w``` = ? WHERE `id` = ? LIMIT 1", []any{1, "b", 2, 1}}},
		{"key changes", []int{0}, []any{1, "a", nil}, []any{5, "a", nil},
			call{"UPDATE `db`.`t` SET `id` = ?, `v` = ?, `w``` = ? WHERE `id` = ? LIMIT 1", []any{5, "a", nil, 1}}},
		{"no key, NULL in before image", nil, []any{1, nil, 3}, []any{1, "x", 3},
			call{"UPDATE `db`.`t` SET `id` = ?, `v` = ?, `w``` = ? WHERE `id` = ? AND `v` IS NULL AND `w``` = ? LIMIT 1", []any{1, "x", 3, 1, 3}}},
	}
	for _, tt := range tests {
		sql, args := Update("db", "t", cols, tt.key, tt.before, tt.after)
		check(t, tt.name, call{sql, args}, tt.want)
	}
}

func TestUpsert(t *testing.T) {
	q, args := Upsert("db", "t", []string{"id", "a", "b"}, []int{0}, [][]any{{1, "x", nil}, {2, "y", 3}})
	check(t, "upsert", call{q, args}, call{
		"INSERT INTO `db`.`t` (`id`,`a`,`b`) VALUES (?,?,?),(?,?,?) ON DUPLICATE KEY UPDATE `a` = VALUES(`a`), `b` = VALUES(`b`)",
		[]any{1, "x", nil, 2, "y", 3},
	})
	q, _ = Upsert("db", "t", []string{"a", "b"}, []int{0, 1}, [][]any{{1, 2}})
	if want := "INSERT INTO `db`.`t` (`a`,`b`) VALUES (?,?) ON DUPLICATE KEY UPDATE `a` = VALUES(`a`), `b` = VALUES(`b`)"; q != want {
		t.Fatalf("all-key upsert:\n%s\nwant\n%s", q, want)
	}
	if q, args := Upsert("db", "t", []string{"a"}, []int{0}, nil); q != "" || args != nil {
		t.Fatalf("no rows: %q %v", q, args)
	}
}

func TestDeleteMany(t *testing.T) {
	cols := []string{"a", "b", "c"}
	tests := []struct {
		name string
		key  []int
		rows [][]any
		want call
	}{
		{"one-column key", []int{1}, [][]any{{1, "x", nil}, {2, "y", nil}},
			call{"DELETE FROM `db`.`t` WHERE `b` IN (?,?)", []any{"x", "y"}}},
		{"one row", []int{0}, [][]any{{1, "x", nil}},
			call{"DELETE FROM `db`.`t` WHERE `a` IN (?)", []any{1}}},
		{"composite key", []int{2, 0}, [][]any{{1, "x", 3}, {4, "y", 6}},
			call{"DELETE FROM `db`.`t` WHERE (`c`,`a`) IN ((?,?),(?,?))", []any{3, 1, 6, 4}}},
		{"composite key, one row", []int{2, 0}, [][]any{{1, "x", 3}},
			call{"DELETE FROM `db`.`t` WHERE `c` = ? AND `a` = ?", []any{3, 1}}},
		{"all columns", nil, [][]any{{1, "x", 3}, {4, "y", 6}},
			call{"DELETE FROM `db`.`t` WHERE (`a`,`b`,`c`) IN ((?,?,?),(?,?,?))", []any{1, "x", 3, 4, "y", 6}}},
		{"all columns, one row", nil, [][]any{{1, "x", 3}},
			call{"DELETE FROM `db`.`t` WHERE `a` = ? AND `b` = ? AND `c` = ?", []any{1, "x", 3}}},
		{"no rows", []int{0}, nil, call{"", nil}},
	}
	for _, tt := range tests {
		sql, args := DeleteMany("db", "t", cols, tt.key, tt.rows)
		check(t, tt.name, call{sql, args}, tt.want)
	}
}

func TestPanics(t *testing.T) {
	cols := []string{"a", "b"}
	tests := []struct {
		name, want string
		f          func()
	}{
		{"DeleteMany NULL key", "NULL in key column b of row 1",
			func() { DeleteMany("db", "t", cols, []int{1}, [][]any{{1, 2}, {3, nil}}) }},
		{"DeleteMany NULL in a one-row composite key", "NULL in key column b of row 0",
			func() { DeleteMany("db", "t", cols, nil, [][]any{{1, nil}}) }},
		{"Insert short row", "row has 1 values for 2 columns",
			func() { Insert("db", "t", cols, [][]any{{1, 2}, {3}}, false) }},
		{"Update long row", "row has 3 values for 2 columns",
			func() { Update("db", "t", cols, nil, []any{1, 2}, []any{1, 2, 3}) }},
		{"Delete short row", "row has 1 values for 2 columns",
			func() { Delete("db", "t", cols, nil, []any{1}) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if s, _ := r.(string); !strings.Contains(s, tt.want) {
					t.Errorf("panic %v, want %q", r, tt.want)
				}
			}()
			tt.f()
		})
	}
}

func BenchmarkInsert500(b *testing.B) {
	cols := []string{"id", "k", "c", "pad"}
	rows := make([][]any, 500)
	for i := range rows {
		rows[i] = []any{int64(i), int64(i * 7), "a 120-character sysbench value", "a pad value"}
	}
	b.ReportAllocs()
	for b.Loop() {
		Insert("sbtest", "sbtest1", cols, rows, false)
	}
}

func BenchmarkUpdate(b *testing.B) {
	cols := []string{"id", "k", "c", "pad"}
	before := []any{int64(1), int64(7), "old", "pad"}
	after := []any{int64(1), int64(8), "new", "pad"}
	b.ReportAllocs()
	for b.Loop() {
		Update("sbtest", "sbtest1", cols, []int{0}, before, after)
	}
}

func BenchmarkUpsert500(b *testing.B) {
	cols := []string{"id", "k", "c", "pad"}
	rows := make([][]any, 500)
	for i := range rows {
		rows[i] = []any{int64(i), int64(i * 7), "a 120-character sysbench value", "a pad value"}
	}
	b.ReportAllocs()
	for b.Loop() {
		Upsert("sbtest", "sbtest1", cols, []int{0}, rows)
	}
}

func TestSplitRows(t *testing.T) {
	row := func(s string) []any { return []any{int64(1), s} } // RowSize = 3 + 21 + len(s)+3
	rows := func(lens ...int) [][]any {
		var out [][]any
		for _, n := range lens {
			out = append(out, row(strings.Repeat("x", n)))
		}
		return out
	}
	tests := []struct {
		name              string
		rows              [][]any
		maxRows, maxBytes int
		want              []int
	}{
		{"none", nil, 10, 100, nil},
		{"one group", rows(0, 0, 0), 10, 1000, []int{3}},
		{"by rows", rows(0, 0, 0, 0, 0), 2, 1000, []int{2, 4, 5}},
		{"by bytes", rows(3, 3, 3, 3), 0, 60, []int{2, 4}}, // 30 bytes a row
		{"exactly full", rows(3, 3, 3), 0, 90, []int{3}},   // 3 x 30 = 90 fits
		{"oversized row alone", rows(0, 200, 0), 0, 100, []int{1, 2, 3}},
		{"oversized first", rows(200, 0), 10, 100, []int{1, 2}},
		{"rows and bytes", rows(3, 3, 3, 3, 3), 2, 75, []int{2, 4, 5}},
	}
	for _, tt := range tests {
		if got := SplitRows(tt.rows, tt.maxRows, tt.maxBytes); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: SplitRows = %v, want %v", tt.name, got, tt.want)
		}
	}
	if got := RowSize(row("abc")); got != 30 {
		t.Errorf("RowSize = %d, want 30", got)
	}
	if got := RowSize([]any{nil, []byte("ab")}); got != 3+5+13 {
		t.Errorf("RowSize with NULL and bytes = %d", got)
	}
}

func TestAppendTSVRow(t *testing.T) {
	tests := []struct {
		row  []any
		want string
		ok   bool
	}{
		{[]any{int64(-1), uint64(1 << 63), "a", nil, ""}, "-1\t9223372036854775808\ta\t\\N\t\n", true},
		{[]any{float64(0.1), float32(2.5), float64(1e300)}, "0.1\t2.5\t1e+300\n", true},
		{[]any{"t\tn\nr\rz\x00b\\", `\N`}, `t\tn\nr\rz\0b\\` + "\t" + `\\N` + "\n", true},
		{[]any{"héllo 世界"}, "héllo 世界\n", true},
		{[]any{int64(1), []byte("x")}, "", false},
		{[]any{true}, "", false},
	}
	for _, tt := range tests {
		got, ok := AppendTSVRow([]byte("prev\n"), tt.row)
		if ok != tt.ok || (ok && string(got) != "prev\n"+tt.want) {
			t.Errorf("AppendTSVRow(%#v) = %q, %v; want %q, %v", tt.row, got, ok, "prev\n"+tt.want, tt.ok)
		}
	}
}

func TestLoadData(t *testing.T) {
	got := LoadData("Reader::x'y", "db", "t", []string{"a", "b`c"})
	want := "LOAD DATA LOCAL INFILE 'Reader::x''y' REPLACE INTO TABLE `db`.`t` CHARACTER SET utf8mb4 (`a`,`b``c`)"
	if got != want {
		t.Errorf("LoadData = %s\nwant %s", got, want)
	}
}

func TestUpdateColumnsSkipsUnset(t *testing.T) {
	q, args := UpdateColumns("d", "t", []string{"id", "v", "g"}, []int{0, 1}, []int{0},
		[]any{int64(1), "a", "A"}, []any{int64(1), "b", "B"})
	want := "UPDATE `d`.`t` SET `id` = ?, `v` = ? WHERE `id` = ? LIMIT 1"
	if q != want {
		t.Fatalf("query:\n got %s\nwant %s", q, want)
	}
	if len(args) != 3 || args[0] != int64(1) || args[1] != "b" || args[2] != int64(1) {
		t.Fatalf("args = %v", args)
	}
}

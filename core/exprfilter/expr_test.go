package exprfilter

import (
	"errors"
	"math"
	"os"
	"strings"
	"testing"
)

var testColumns = []string{"id", "name", "amount", "created", "u", "n", "b", "price"}

// testRow is a row of testColumns: id 7, name 'Alice ', amount 12.5,
// created '2024-03-15 10:20:30', u 18446744073709551615, n NULL, b 'AbC'
// as bytes, price '19.99' (a DECIMAL, as the binlog gives it).
func testRow() []any {
	return []any{int64(7), "Alice ", float64(12.5), "2024-03-15 10:20:30",
		uint64(math.MaxUint64), nil, []byte("AbC"), "19.99"}
}

// eval evaluates text on testRow and returns the value as text, "NULL" for
// NULL, so that tests can compare results of any type.
func eval(t *testing.T, text string) (string, error) {
	t.Helper()
	e, err := Parse(text)
	if err != nil {
		t.Fatalf("Parse(%q): %v", text, err)
	}
	c := &compiler{resolve: func(name string) (int, error) {
		for i, col := range testColumns {
			if strings.EqualFold(col, name) {
				return i, nil
			}
		}
		return 0, ErrUnknownColumn
	}}
	fn, err := c.expr(e.node)
	if err != nil {
		t.Fatalf("compile %q: %v", text, err)
	}
	v, err := fn(testRow())
	if v.k == kNull {
		return "NULL", err
	}
	return v.text(), err
}

func TestEval(t *testing.T) {
	tests := []struct{ expr, want string }{
		// comparison and NULL
		{"id = 7", "1"}, {"id <> 7", "0"}, {"id != 8", "1"}, {"id < 8", "1"}, {"id <= 6", "0"},
		{"id > 6.5", "1"}, {"id >= '7'", "1"}, {"n = 1", "NULL"}, {"n <> 1", "NULL"},
		{"n <=> NULL", "1"}, {"id <=> NULL", "0"}, {"id <=> 7", "1"}, {"NULL = NULL", "NULL"},
		{"u > id", "1"}, {"u = 18446744073709551615", "1"}, {"-1 < u", "1"},
		{"name = 'alice'", "1"}, {"name = 'ALICE   '", "1"}, {"name < 'bob'", "1"},
		{"BINARY name = 'alice'", "0"}, {"name COLLATE utf8mb4_bin = 'Alice '", "1"}, {"name COLLATE utf8mb4_bin = 'alice '", "0"},
		{"name COLLATE utf8mb4_general_ci = 'ALICE'", "1"}, {"b = 'abc'", "1"},
		{"'12abc' = 12", "1"}, {"'abc' = 0", "1"}, {"price > 19.5", "1"}, {"price = '19.99'", "1"},
		{"created >= '2024-03-01'", "1"}, {"created < '2024-03-15 10:20:31'", "1"},
		{"'é' = 'É'", "1"}, {"'é' = 'e'", "0"},
		// logic
		{"id = 7 AND name = 'x'", "0"}, {"id = 7 AND n = 1", "NULL"}, {"id = 8 AND n = 1", "0"},
		{"n = 1 AND id = 8", "0"}, {"id = 7 OR n = 1", "1"}, {"id = 8 OR n = 1", "NULL"},
		{"id = 7 XOR id = 7", "0"}, {"id = 7 XOR n", "NULL"}, {"NOT id = 8", "1"}, {"!(id = 7)", "0"},
		{"NOT n", "NULL"}, {"'abc' AND 1", "0"}, {"'1abc' AND 1", "1"}, {"0.0 OR 0", "0"},
		// arithmetic
		{"id + 1", "8"}, {"id - 10", "-3"}, {"id * 3", "21"}, {"id / 2", "3.5"}, {"id DIV 2", "3"},
		{"id % 4", "3"}, {"MOD(id, 4)", "3"}, {"-id % 4", "-3"}, {"id MOD 0", "NULL"}, {"id / 0", "NULL"},
		{"id DIV 0", "NULL"}, {"amount * 2", "25"}, {"amount DIV 5", "2"}, {"price + 0.01", "20"},
		{"'3' + '4'", "7"}, {"n + 1", "NULL"}, {"-(-id)", "7"}, {"+id", "7"},
		{"u - 18446744073709551614", "1"}, {"u % 10", "5"}, {"u DIV 2", "9223372036854775807"},
		{"-9223372036854775808", "-9223372036854775808"},
		{"5.5 % 2", "1.5"}, {"7 % -3", "1"}, {"-7 % 3", "-1"},
		// IN, BETWEEN, LIKE, IS
		{"id IN (1, 7)", "1"}, {"id IN (1, 2)", "0"}, {"id IN (1, NULL)", "NULL"}, {"id IN (7, NULL)", "1"},
		{"id NOT IN (1, 2)", "1"}, {"id NOT IN (1, NULL)", "NULL"}, {"n IN (1)", "NULL"},
		{"name IN ('ALICE', 'bob')", "1"}, {"id BETWEEN 1 AND 7", "1"}, {"id BETWEEN 8 AND 9", "0"},
		{"id NOT BETWEEN 8 AND 9", "1"}, {"id BETWEEN n AND 9", "NULL"}, {"id BETWEEN n AND 6", "0"},
		{"name LIKE 'al%'", "1"}, {"name LIKE 'AL_CE_'", "1"}, {"name LIKE 'al'", "0"},
		{"name NOT LIKE 'b%'", "1"}, {"BINARY name LIKE 'al%'", "0"}, {"n LIKE '%'", "NULL"},
		{"'50%' LIKE '50\\%'", "1"}, {"'50x' LIKE '50\\%'", "0"}, {"'a_b' LIKE 'a|_b' ESCAPE '|'", "1"},
		{"'axb' LIKE 'a|_b' ESCAPE '|'", "0"}, {"'abcbc' LIKE '%bc'", "1"}, {"'' LIKE '%'", "1"},
		{"'ünï' LIKE '_N_'", "1"}, {"name LIKE CONCAT('a', '%')", "1"}, {"id LIKE '7'", "1"},
		{"n IS NULL", "1"}, {"id IS NOT NULL", "1"}, {"id IS TRUE", "1"}, {"n IS TRUE", "0"},
		{"n IS NOT TRUE", "1"}, {"0 IS FALSE", "1"}, {"n IS NOT FALSE", "1"}, {"id IS NOT FALSE", "1"},
		// functions
		{"ABS(-3)", "3"}, {"ABS(id - 10)", "3"}, {"ABS(-2.5)", "2.5"}, {"ABS(n)", "NULL"},
		{"LENGTH('héllo')", "6"}, {"CHAR_LENGTH('héllo')", "5"}, {"CHARACTER_LENGTH(name)", "6"},
		{"OCTET_LENGTH(b)", "3"}, {"LOWER(name)", "alice "}, {"UPPER(b)", "ABC"}, {"LCASE('X')", "x"},
		{"UPPER(BINARY 'a')", "a"}, {"CONCAT(name, id)", "Alice 7"}, {"CONCAT('a', n)", "NULL"},
		{"SUBSTRING('héllo', 2)", "éllo"}, {"SUBSTRING('héllo', 2, 2)", "él"}, {"SUBSTR('hello', -3)", "llo"},
		{"SUBSTRING('hello' FROM 2 FOR 3)", "ell"}, {"SUBSTRING('hello', 0)", ""}, {"SUBSTRING('hello', 9)", ""},
		{"SUBSTRING('hello', 2, 0)", ""}, {"MID('hello', 2, 2)", "el"}, {"SUBSTRING(n, 1)", "NULL"},
		{"TRIM(name)", "Alice"}, {"TRIM('  x  ')", "x"}, {"TRIM(LEADING 'x' FROM 'xxaxx')", "axx"},
		{"TRIM(TRAILING 'x' FROM 'xxaxx')", "xxa"}, {"TRIM(BOTH 'xy' FROM 'xyaxy')", "a"},
		{"TRIM('x' FROM 'xax')", "a"}, {"LTRIM('  a ')", "a "}, {"RTRIM(' a  ')", " a"},
		{"IFNULL(n, 5)", "5"}, {"IFNULL(id, 5)", "7"}, {"COALESCE(n, NULL, 'z')", "z"}, {"COALESCE(n)", "NULL"},
		{"IF(id > 5, 'big', 'small')", "big"}, {"IF(n, 1, 2)", "2"}, {"NULLIF(id, 7)", "NULL"}, {"NULLIF(id, 8)", "7"},
		{"CAST('12.7' AS SIGNED)", "12"}, {"CAST(12.7 AS SIGNED)", "13"}, {"CAST(-1 AS UNSIGNED)", "18446744073709551615"},
		{"CAST(id AS CHAR)", "7"}, {"CAST('abcdef' AS CHAR(3))", "abc"}, {"CAST(price AS DECIMAL(10,1))", "20"},
		{"CAST('1.255' AS DECIMAL(10,2))", "1.26"}, {"CAST(-1.255 AS DECIMAL(10,2))", "-1.26"},
		{"CAST(9.995 AS DECIMAL(10,2))", "10"}, {"CAST(0.4 AS DECIMAL)", "0"}, {"CAST(12 AS DECIMAL(5,2))", "12"}, {"CAST(name AS BINARY) = 'alice '", "0"},
		{"CONVERT(price, SIGNED)", "19"}, {"CAST('3' AS DOUBLE) / 2", "1.5"}, {"CAST(n AS SIGNED)", "NULL"},
		{"CAST(u AS SIGNED)", "-1"}, {"CAST('18446744073709551615' AS UNSIGNED)", "18446744073709551615"},
		{"YEAR(created)", "2024"}, {"MONTH(created)", "3"}, {"DAY(created)", "15"}, {"DAYOFMONTH('2023-12-01')", "1"},
		{"YEAR('20240102')", "2024"}, {"MONTH(20240102)", "1"}, {"YEAR('not a date')", "NULL"}, {"MONTH('2024-13-01')", "NULL"},
		{"YEAR(n)", "NULL"},
		// CASE
		{"CASE WHEN id > 5 THEN 'a' ELSE 'b' END", "a"}, {"CASE id WHEN 1 THEN 'one' WHEN 7 THEN 'seven' END", "seven"},
		{"CASE n WHEN NULL THEN 1 ELSE 2 END", "2"}, {"CASE WHEN n THEN 1 END", "NULL"},
		// literals
		{"TRUE", "1"}, {"FALSE", "0"}, {"1e3", "1000"}, {"X'41' = 'A'", "1"}, {"X'61' = 'A'", "0"}, {"'a' 'b'", "ab"},
	}
	for _, tt := range tests {
		got, err := eval(t, tt.expr)
		if err != nil {
			t.Errorf("%s: %v", tt.expr, err)
			continue
		}
		if got != tt.want {
			t.Errorf("%s = %s, want %s", tt.expr, got, tt.want)
		}
	}
}

func TestEvalErrors(t *testing.T) {
	for _, expr := range []string{
		"9223372036854775807 + 1", "9223372036854775807 + 1 - 1 > 0", "-9223372036854775807 - 2", "4611686018427387904 * 2",
		"u + 1", "u * 2", "0 - u", "CAST(u AS UNSIGNED) - u - 1", "-u",
		"-(-9223372036854775808)", "-9223372036854775808 DIV -1", "1e300 DIV 1e-10", "ABS(-9223372036854775808)",
	} {
		if got, err := eval(t, expr); err == nil {
			t.Errorf("%s = %s, want an out-of-range error", expr, got)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		expr string
		is   error  // nil: a syntax error or another error
		msg  string // substring of the message
	}{
		{"JSON_EXTRACT(a)", nil, "function JSON_EXTRACT: wrong number of arguments: 1"},
		{"NOW(7) > a", nil, "function NOW: the precision must be an integer from 0 to 6"},
		{"UNIX_TIMESTAMP(a) > 0", nil, "function UNIX_TIMESTAMP: wrong number of arguments: 1"},
		{"a & 1", ErrUnsupported, "operator &"},
		{"a << 1", ErrUnsupported, "operator <<"},
		{"~a", ErrUnsupported, "operator ~"},
		{"a REGEXP 'x'", ErrUnsupported, "operator REGEXP"},
		{"a IN (SELECT 1)", ErrUnsupported, "subquery"},
		{"EXISTS (SELECT 1)", ErrUnsupported, "subquery"},
		{"@v = 1", ErrUnsupported, "user variable @v"},
		{"@@sql_mode = ''", ErrUnsupported, "system variable @@sql_mode"},
		{"(a, b) = (1, 2)", ErrUnsupported, "row constructor"},
		{"a = ?", ErrUnsupported, "parameter marker"},
		{"COUNT(a) > 1", ErrUnsupported, "aggregate function COUNT"},
		{"CAST(a AS DATE) = '2024-01-01'", ErrUnsupported, "CAST AS DATE"},
		{"DATE_ADD(a, INTERVAL 1 DAY)", ErrUnsupported, "function DATE_ADD"},
		{"db.f(a)", ErrUnsupported, "function F"},
		{"t.a = 1", nil, "qualified column name"},
		{"ABS(a, b)", nil, "function ABS: wrong number of arguments: 2"},
		{"a >", nil, "syntax error"},
		{"a = 1; DROP TABLE t", nil, "syntax error"},
		{"a FROM t", nil, "syntax error"},
		{"a AS x", nil, "alias"},
		{"", nil, "syntax error"},
	}
	for _, tt := range tests {
		_, err := Parse(tt.expr)
		switch {
		case err == nil:
			t.Errorf("Parse(%q): no error", tt.expr)
		case tt.is != nil && !errors.Is(err, tt.is):
			t.Errorf("Parse(%q): %v, want %v", tt.expr, err, tt.is)
		case !strings.Contains(err.Error(), tt.msg):
			t.Errorf("Parse(%q): %q does not say %q", tt.expr, err, tt.msg)
		}
	}
}

func TestBind(t *testing.T) {
	e, err := Parse("Amount > 10 AND name LIKE 'a%' AND amount < 100")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(e.Columns(), ","); got != "amount,name" {
		t.Errorf("Columns() = %s", got)
	}
	cond, err := e.Bind([]string{"id", "NAME", "amount"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		row  []any
		want bool
	}{
		{[]any{int64(1), "anna", int64(50)}, true},
		{[]any{int64(1), []byte("Anna"), float32(50)}, true},
		{[]any{int64(1), "bob", int64(50)}, false},
		{[]any{int64(1), "anna", nil}, false}, // NULL is not true
	} {
		got, err := cond(tt.row)
		if err != nil || got != tt.want {
			t.Errorf("cond(%v) = %v, %v; want %v", tt.row, got, err, tt.want)
		}
	}
	if _, err := cond([]any{int64(1), "anna"}); err == nil {
		t.Error("short row: no error")
	}
	if _, err := cond([]any{int64(1), "anna", struct{}{}}); err == nil {
		t.Error("value of a foreign type: no error")
	}
	if _, err := e.Bind([]string{"id", "name"}); !errors.Is(err, ErrUnknownColumn) || !strings.Contains(err.Error(), `"amount"`) {
		t.Errorf("Bind without the column: %v", err)
	}
	overflow, err := Parse("amount * 2 > 0")
	if err != nil {
		t.Fatal(err)
	}
	oc, err := overflow.Bind([]string{"amount"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := oc([]any{int64(math.MaxInt64)}); err == nil || !strings.Contains(err.Error(), "BIGINT value is out of range") {
		t.Errorf("overflow: %v", err)
	}
}

func TestLikeMatch(t *testing.T) {
	tests := []struct {
		pat, s string
		want   bool
	}{
		{"", "", true}, {"", "a", false}, {"%", "", true}, {"%%", "abc", true}, {"a%", "abc", true},
		{"%c", "abc", true}, {"%b%", "abc", true}, {"%x%", "abc", false}, {"a_c", "abc", true},
		{"a_c", "ac", false}, {"%a%a%", "banana", true}, {"%ana", "banana", true}, {"b%n_", "banana", true},
		{"\\%", "%", true}, {"\\%", "x", false}, {"a\\", "a\\", true}, {"_", "é", true},
	}
	for _, tt := range tests {
		if got := likeMatch(compileLike(tt.pat, '\\'), tt.s); got != tt.want {
			t.Errorf("%q LIKE %q = %v, want %v", tt.s, tt.pat, got, tt.want)
		}
	}
}

func TestCompareFold(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"a", "A", 0}, {"a ", "a", 0}, {"a", "b", -1}, {"B", "a", 1}, {"ab", "a", 1},
		{"Straße", "STRASSE", 1}, {"ÉTÉ", "été", 0}, {"", " ", 0},
	}
	for _, tt := range tests {
		if got := compareFold(tt.a, tt.b); got != tt.want {
			t.Errorf("compareFold(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func BenchmarkCond(b *testing.B) {
	e, err := Parse("amount > 10 AND name LIKE 'a%' AND id % 10 <> 3")
	if err != nil {
		b.Fatal(err)
	}
	cond, err := e.Bind([]string{"id", "name", "amount"})
	if err != nil {
		b.Fatal(err)
	}
	row := []any{int64(7), "alice", float64(50)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := cond(row); err != nil {
			b.Fatal(err)
		}
	}
}

// TestDocListsFunctions checks that docs/rules.md names every function.
func TestDocListsFunctions(t *testing.T) {
	doc, err := os.ReadFile("../../docs/rules.md")
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"trim"}
	for name := range functions {
		names = append(names, name)
	}
	for _, name := range names {
		if !strings.Contains(string(doc), "`"+strings.ToUpper(name)+"`") {
			t.Errorf("docs/rules.md does not name function %s", strings.ToUpper(name))
		}
	}
}

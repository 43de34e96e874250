package exprfilter

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/charset"
	"github.com/pingcap/tidb/pkg/parser/mysql"
	"github.com/pingcap/tidb/pkg/parser/types"
)

// function is a supported SQL function: its arity and an implementation
// over evaluated arguments. Functions that must not evaluate every argument
// (IF, IFNULL, COALESCE) have a lazy implementation instead.
type function struct {
	min, max int // max -1: any number
	eval     func(args []val) (val, error)
	lazy     func(args []evalFn) evalFn
}

var functions = map[string]function{
	"abs":              {min: 1, max: 1, eval: absFn},
	"length":           {min: 1, max: 1, eval: lengthFn},
	"octet_length":     {min: 1, max: 1, eval: lengthFn},
	"char_length":      {min: 1, max: 1, eval: charLengthFn},
	"character_length": {min: 1, max: 1, eval: charLengthFn},
	"lower":            {min: 1, max: 1, eval: caseFn(strings.ToLower)},
	"lcase":            {min: 1, max: 1, eval: caseFn(strings.ToLower)},
	"upper":            {min: 1, max: 1, eval: caseFn(strings.ToUpper)},
	"ucase":            {min: 1, max: 1, eval: caseFn(strings.ToUpper)},
	"concat":           {min: 1, max: -1, eval: concatFn},
	"substring":        {min: 2, max: 3, eval: substringFn},
	"substr":           {min: 2, max: 3, eval: substringFn},
	"mid":              {min: 3, max: 3, eval: substringFn},
	"ltrim":            {min: 1, max: 1, eval: trimFn(ast.TrimLeading)},
	"rtrim":            {min: 1, max: 1, eval: trimFn(ast.TrimTrailing)},
	"year":             {min: 1, max: 1, eval: datePart(0)},
	"month":            {min: 1, max: 1, eval: datePart(1)},
	"day":              {min: 1, max: 1, eval: datePart(2)},
	"dayofmonth":       {min: 1, max: 1, eval: datePart(2)},
	"nullif":           {min: 2, max: 2, eval: nullifFn},
	"ifnull":           {min: 2, max: 2, lazy: coalesceFn},
	"coalesce":         {min: 1, max: -1, lazy: coalesceFn},
	"if":               {min: 3, max: 3, lazy: ifFn},
	"json_extract":     {min: 2, max: -1, eval: jsonExtractFn},
	"json_unquote":     {min: 1, max: 1, eval: jsonUnquoteFn},
}

// clockFunctions read the current time; the value is the layout of the
// result ("unix" for UNIX_TIMESTAMP's integer).
var clockFunctions = map[string]string{
	"now": dateTimeLayout, "current_timestamp": dateTimeLayout, "localtime": dateTimeLayout,
	"localtimestamp": dateTimeLayout, "sysdate": dateTimeLayout, "utc_timestamp": dateTimeLayout,
	"curdate": "2006-01-02", "current_date": "2006-01-02", "utc_date": "2006-01-02",
	"curtime": "15:04:05", "current_time": "15:04:05", "utc_time": "15:04:05",
	"unix_timestamp": "unix",
}

const dateTimeLayout = "2006-01-02 15:04:05"

// clockFn compiles a clock function without arguments, or with the
// fractional seconds precision (0 to 6) of NOW(3). The time is the
// compiler's clock, read once per evaluation, as a string in MySQL's
// format (so that it compares with DATETIME values, which arrive as
// strings) or, for UNIX_TIMESTAMP(), the seconds since the epoch.
func (c *compiler) clockFn(upper, layout string, args []ast.ExprNode) (evalFn, error) {
	fsp := 0
	switch {
	case len(args) == 0:
	case len(args) == 1 && layout != "unix" && layout != "2006-01-02":
		v, ok := args[0].(ast.ValueExpr)
		n, isInt := 0, false
		if ok {
			switch d := v.GetValue().(type) {
			case int64:
				n, isInt = int(d), true
			case uint64:
				n, isInt = int(d), true
			}
		}
		if !isInt || n < 0 || n > 6 {
			return nil, fmt.Errorf("function %s: the precision must be an integer from 0 to 6", upper)
		}
		fsp = n
	default:
		return nil, fmt.Errorf("function %s: wrong number of arguments: %d", upper, len(args))
	}
	c.clock = true
	now := c.now
	if now == nil { // parsing only
		now = time.Now
	}
	if layout == "unix" {
		return func([]any) (val, error) { return intVal(now().Unix()), nil }, nil
	}
	if fsp > 0 {
		layout += "." + strings.Repeat("0", fsp)
	}
	return func([]any) (val, error) { return strVal(now().Format(layout)), nil }, nil
}

// call compiles a function call.
func (c *compiler) call(x *ast.FuncCallExpr) (evalFn, error) {
	name := x.FnName.L
	upper := strings.ToUpper(name)
	if format, ok := clockFunctions[name]; ok {
		return c.clockFn(upper, format, x.Args)
	}
	if name == "trim" {
		return c.trim(x)
	}
	f, ok := functions[name]
	if !ok || x.Schema.L != "" {
		return nil, unsupported("function %s", upper)
	}
	if len(x.Args) < f.min || (f.max >= 0 && len(x.Args) > f.max) {
		return nil, fmt.Errorf("function %s: wrong number of arguments: %d", upper, len(x.Args))
	}
	args, err := c.args(x.Args)
	if err != nil {
		return nil, err
	}
	if f.lazy != nil {
		return f.lazy(args), nil
	}
	eval := f.eval
	return evalArgs(args, eval), nil
}

func absFn(a []val) (val, error) {
	v := a[0]
	switch v.k {
	case kNull, kUint:
		return v, nil
	case kInt:
		if v.i >= 0 {
			return v, nil
		}
		return negate(v)
	}
	return floatVal(math.Abs(v.float())), nil
}

func lengthFn(a []val) (val, error) {
	if a[0].k == kNull {
		return null, nil
	}
	return intVal(int64(len(a[0].text()))), nil
}

// charLengthFn counts characters; a binary string counts bytes.
func charLengthFn(a []val) (val, error) {
	switch a[0].k {
	case kNull:
		return null, nil
	case kBin:
		return intVal(int64(len(a[0].s))), nil
	}
	return intVal(int64(utf8.RuneCountInString(a[0].text()))), nil
}

// caseFn maps the case of a character string; binary strings and NULL are
// returned as they are.
func caseFn(f func(string) string) func([]val) (val, error) {
	return func(a []val) (val, error) {
		switch a[0].k {
		case kNull, kBin:
			return a[0], nil
		}
		return strVal(f(a[0].text())), nil
	}
}

// concatFn joins its arguments; NULL if any is NULL, binary if any is.
func concatFn(a []val) (val, error) {
	var b strings.Builder
	k := kStr
	for _, v := range a {
		if v.k == kNull {
			return null, nil
		}
		if v.k == kBin {
			k = kBin
		}
		b.WriteString(v.text())
	}
	return val{k: k, s: b.String()}, nil
}

// substringFn is SUBSTRING(s, pos[, len]): pos counts from 1, or from the
// end when negative; pos 0 or len < 1 give "". Characters, or bytes of a
// binary string.
func substringFn(a []val) (val, error) {
	for _, v := range a {
		if v.k == kNull {
			return null, nil
		}
	}
	s := a[0].text()
	pos, err := toInt64(a[1])
	if err != nil {
		return null, err
	}
	length := int64(math.MaxInt64)
	if len(a) == 3 {
		if length, err = toInt64(a[2]); err != nil {
			return null, err
		}
	}
	k := a[0].k
	if k != kBin {
		k = kStr
	}
	var units []string // characters; nil for a binary string
	n := int64(len(s))
	if k == kStr {
		units = strings.Split(s, "")
		n = int64(len(units))
	}
	switch {
	case pos > 0:
		pos--
	case pos < 0:
		pos += n
	default:
		return val{k: k}, nil
	}
	if pos < 0 || pos >= n || length < 1 {
		return val{k: k}, nil
	}
	end := n
	if length < n-pos {
		end = pos + length
	}
	if units == nil {
		return val{k: k, s: s[pos:end]}, nil
	}
	return val{k: k, s: strings.Join(units[pos:end], "")}, nil
}

// trim compiles TRIM([[BOTH|LEADING|TRAILING] [remstr] FROM] s); the
// parser gives the arguments as s, remstr, direction.
func (c *compiler) trim(x *ast.FuncCallExpr) (evalFn, error) {
	dir := ast.TrimBothDefault
	nodes := x.Args
	if n := len(nodes); n == 3 {
		d, ok := nodes[2].(*ast.TrimDirectionExpr)
		if !ok {
			return nil, fmt.Errorf("function TRIM: unexpected argument %s", sqlText(nodes[2]))
		}
		dir, nodes = d.Direction, nodes[:2]
	}
	if len(nodes) < 1 || len(nodes) > 2 {
		return nil, fmt.Errorf("function TRIM: wrong number of arguments: %d", len(x.Args))
	}
	args, err := c.args(nodes)
	if err != nil {
		return nil, err
	}
	eval := trimFn(dir)
	return evalArgs(args, eval), nil
}

// trimFn removes every leading and/or trailing occurrence of remstr (a
// space by default) from s.
func trimFn(dir ast.TrimDirectionType) func([]val) (val, error) {
	return func(a []val) (val, error) {
		rem := " "
		if len(a) == 2 {
			if a[1].k == kNull {
				return null, nil
			}
			rem = a[1].text()
		}
		if a[0].k == kNull {
			return null, nil
		}
		s := a[0].text()
		if rem != "" {
			if dir != ast.TrimTrailing {
				for strings.HasPrefix(s, rem) {
					s = s[len(rem):]
				}
			}
			if dir != ast.TrimLeading {
				for strings.HasSuffix(s, rem) {
					s = s[:len(s)-len(rem)]
				}
			}
		}
		k := a[0].k
		if k != kBin {
			k = kStr
		}
		return val{k: k, s: s}, nil
	}
}

// datePart returns YEAR (0), MONTH (1) or DAY (2) of a date or datetime
// written 'YYYY-MM-DD[ hh:mm:ss]' or YYYYMMDD[hhmmss]; NULL when the value
// is not such a date.
func datePart(part int) func([]val) (val, error) {
	return func(a []val) (val, error) {
		if a[0].k == kNull {
			return null, nil
		}
		ymd, ok := parseDate(a[0].text())
		if !ok {
			return null, nil
		}
		return intVal(int64(ymd[part])), nil
	}
}

// parseDate reads the year, month and day at the start of s.
func parseDate(s string) ([3]int, bool) {
	var ymd [3]int
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, " T"); i >= 0 {
		s = s[:i]
	}
	var parts []string
	if strings.Contains(s, "-") {
		parts = strings.Split(s, "-")
	} else if len(s) == 8 || len(s) == 14 {
		parts = []string{s[:4], s[4:6], s[6:8]}
	}
	if len(parts) != 3 {
		return ymd, false
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || p == "" {
			return ymd, false
		}
		ymd[i] = n
	}
	ok := ymd[0] <= 9999 && ymd[1] <= 12 && ymd[2] <= 31
	return ymd, ok
}

func nullifFn(a []val) (val, error) {
	c, isNull := compare(a[0], a[1])
	if !isNull && c == 0 {
		return null, nil
	}
	return a[0], nil
}

// coalesceFn returns the first argument that is not NULL, evaluating no
// further.
func coalesceFn(args []evalFn) evalFn {
	return func(row []any) (val, error) {
		for _, fn := range args {
			v, err := fn(row)
			if err != nil || v.k != kNull {
				return v, err
			}
		}
		return null, nil
	}
}

// ifFn is IF(cond, then, else).
func ifFn(args []evalFn) evalFn {
	return func(row []any) (val, error) {
		cond, err := args[0](row)
		if err != nil {
			return null, err
		}
		if b, ok := cond.truth(); ok && b {
			return args[1](row)
		}
		return args[2](row)
	}
}

// cast compiles CAST(x AS type), CONVERT(x, type) and BINARY x.
func (c *compiler) cast(x *ast.FuncCastExpr) (evalFn, error) {
	inner, err := c.expr(x.Expr)
	if err != nil {
		return nil, err
	}
	conv, err := castTo(x)
	if err != nil {
		return nil, err
	}
	return func(row []any) (val, error) {
		v, err := inner(row)
		if err != nil || v.k == kNull {
			return null, err
		}
		return conv(v)
	}, nil
}

// castTo returns the conversion to the target type of x.
func castTo(x *ast.FuncCastExpr) (func(val) (val, error), error) {
	tp := x.Tp
	switch tp.GetType() {
	case mysql.TypeLonglong:
		if mysql.HasUnsignedFlag(tp.GetFlag()) {
			return toUnsigned, nil
		}
		return func(v val) (val, error) {
			i, err := toInt64(v)
			return intVal(i), err
		}, nil
	case mysql.TypeVarString, mysql.TypeString, mysql.TypeVarchar:
		k := kStr
		if tp.GetCharset() == charset.CharsetBin || x.FunctionType == ast.CastBinaryOperator {
			k = kBin
		}
		limit := tp.GetFlen()
		return func(v val) (val, error) { return val{k: k, s: truncateText(v.text(), limit, k)}, nil }, nil
	case mysql.TypeNewDecimal:
		scale := max(tp.GetDecimal(), 0)
		return func(v val) (val, error) { return floatVal(roundDecimal(v.float(), scale)), nil }, nil
	case mysql.TypeDouble, mysql.TypeFloat:
		return func(v val) (val, error) { return floatVal(v.float()), nil }, nil
	}
	return nil, unsupported("CAST AS %s", strings.ToUpper(types.TypeStr(tp.GetType())))
}

// roundDecimal rounds f half away from zero to scale decimal places, on
// its shortest decimal representation, so that 1.255 rounds to 1.26 as
// DECIMAL arithmetic does although the double is slightly below 1.255.
func roundDecimal(f float64, scale int) float64 {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return f
	}
	s := strconv.FormatFloat(math.Abs(f), 'f', -1, 64)
	intPart, frac, _ := strings.Cut(s, ".")
	if len(frac) <= scale {
		return f
	}
	digits := []byte(intPart + frac[:scale])
	if frac[scale] >= '5' { // carry
		i := len(digits) - 1
		for ; i >= 0 && digits[i] == '9'; i-- {
			digits[i] = '0'
		}
		if i < 0 {
			digits = append([]byte{'1'}, digits...)
		} else {
			digits[i]++
		}
	}
	n := len(digits) - scale
	r, _ := strconv.ParseFloat(string(digits[:n])+"."+string(digits[n:])+"0", 64)
	return math.Copysign(r, f)
}

// toUnsigned is CAST(v AS UNSIGNED): negative values wrap around.
func toUnsigned(v val) (val, error) {
	switch v.k {
	case kUint:
		return v, nil
	case kStr, kBin:
		s := strings.TrimLeft(v.s, " \t\n\r")
		if u, err := strconv.ParseUint(s[:numericPrefix(s)], 10, 64); err == nil {
			return uintVal(u), nil
		}
	case kFloat:
		if f := math.Round(v.f); f >= math.MaxInt64 && f < math.MaxUint64 {
			return uintVal(uint64(f)), nil
		}
	}
	i, err := toInt64(v)
	return uintVal(uint64(i)), err
}

// truncateText keeps the first limit characters (bytes for a binary
// string) of s; limit < 0 means no limit.
func truncateText(s string, limit int, k kind) string {
	if limit < 0 {
		return s
	}
	if k == kBin {
		if len(s) > limit {
			return s[:limit]
		}
		return s
	}
	for i := range s {
		if limit == 0 {
			return s[:i]
		}
		limit--
	}
	return s
}

// evalArgs evaluates a function's arguments on a row, then the function.
func evalArgs(args []evalFn, eval func([]val) (val, error)) evalFn {
	return func(row []any) (val, error) {
		var buf [3]val
		vals := buf[:0]
		for _, fn := range args {
			v, err := fn(row)
			if err != nil {
				return null, err
			}
			vals = append(vals, v)
		}
		return eval(vals)
	}
}

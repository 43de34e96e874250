package exprfilter

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// kind is the type of an intermediate value.
type kind uint8

const (
	kNull  kind = iota
	kInt        // signed integer: i
	kUint       // unsigned integer: u
	kFloat      // floating point (also DECIMAL, approximated): f
	kStr        // character string, compared case-insensitively: s
	kBin        // binary string, compared byte by byte: s
)

// val is an intermediate value. It is passed by value and never escapes an
// evaluation.
type val struct {
	k kind
	i int64
	u uint64
	f float64
	s string
}

var null = val{}

func intVal(i int64) val     { return val{k: kInt, i: i} }
func uintVal(u uint64) val   { return val{k: kUint, u: u} }
func floatVal(f float64) val { return val{k: kFloat, f: f} }
func strVal(s string) val    { return val{k: kStr, s: s} }

func boolVal(b bool) val {
	if b {
		return intVal(1)
	}
	return intVal(0)
}

// rowValue converts one value of a row event.
func rowValue(v any) (val, error) {
	switch x := v.(type) {
	case nil:
		return null, nil
	case int64:
		return intVal(x), nil
	case uint64:
		return uintVal(x), nil
	case float64:
		return floatVal(x), nil
	case float32:
		return floatVal(float64(x)), nil
	case string:
		return strVal(x), nil
	case []byte:
		// The binlog does not tell TEXT from BLOB: byte strings are text.
		return strVal(string(x)), nil
	case int:
		return intVal(int64(x)), nil
	case bool:
		return boolVal(x), nil
	}
	return null, fmt.Errorf("value %v of type %T is not a row value", v, v)
}

func (v val) isString() bool { return v.k == kStr || v.k == kBin }
func (v val) isInt() bool    { return v.k == kInt || v.k == kUint }

// text is the value as a string, as MySQL converts numbers to strings.
func (v val) text() string {
	switch v.k {
	case kInt:
		return strconv.FormatInt(v.i, 10)
	case kUint:
		return strconv.FormatUint(v.u, 10)
	case kFloat:
		return strconv.FormatFloat(v.f, 'g', -1, 64)
	}
	return v.s
}

// float is the value as a double, as MySQL converts for arithmetic and for
// comparisons between a string and a number.
func (v val) float() float64 {
	switch v.k {
	case kInt:
		return float64(v.i)
	case kUint:
		return float64(v.u)
	case kFloat:
		return v.f
	case kStr, kBin:
		return parseFloatPrefix(v.s)
	}
	return 0
}

// truth is the value as a condition: false for zero, true otherwise; ok is
// false for NULL.
func (v val) truth() (b, ok bool) {
	switch v.k {
	case kNull:
		return false, false
	case kInt:
		return v.i != 0, true
	case kUint:
		return v.u != 0, true
	}
	return v.float() != 0, true
}

// parseFloatPrefix reads the longest numeric prefix of s after leading
// spaces, as MySQL does when it uses a string as a number: "12abc" is 12,
// "abc" is 0.
func parseFloatPrefix(s string) float64 {
	s = strings.TrimLeft(s, " \t\n\r")
	end := numericPrefix(s)
	if end == 0 {
		return 0
	}
	f, _ := strconv.ParseFloat(s[:end], 64) // out of range: ±Inf
	return f
}

// numericPrefix returns the length of the number at the start of s:
// [sign] digits [. digits] [e [sign] digits].
func numericPrefix(s string) int {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits := 0
	for i < len(s) && isDigit(s[i]) {
		i++
		digits++
	}
	if i < len(s) && s[i] == '.' {
		j := i + 1
		for j < len(s) && isDigit(s[j]) {
			j++
			digits++
		}
		i = j
	}
	if digits == 0 {
		return 0
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		j := i + 1
		if j < len(s) && (s[j] == '+' || s[j] == '-') {
			j++
		}
		if j < len(s) && isDigit(s[j]) {
			for j < len(s) && isDigit(s[j]) {
				j++
			}
			i = j
		}
	}
	return i
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// compare orders a and b as MySQL does: two strings as strings (binary if
// either is binary, else case-insensitively with trailing spaces ignored),
// two integers as integers, anything else as doubles. null is true when
// either is NULL.
func compare(a, b val) (c int, isNull bool) {
	switch {
	case a.k == kNull || b.k == kNull:
		return 0, true
	case a.isString() && b.isString():
		if a.k == kBin || b.k == kBin {
			return strings.Compare(a.s, b.s), false
		}
		return compareFold(a.s, b.s), false
	case a.isInt() && b.isInt():
		return compareInts(a, b), false
	}
	x, y := a.float(), b.float()
	switch {
	case x < y:
		return -1, false
	case x > y:
		return 1, false
	}
	return 0, false
}

func compareInts(a, b val) int {
	switch {
	case a.k == kInt && b.k == kInt:
		return cmpOrdered(a.i, b.i)
	case a.k == kUint && b.k == kUint:
		return cmpOrdered(a.u, b.u)
	case a.k == kInt: // b unsigned
		if a.i < 0 {
			return -1
		}
		return cmpOrdered(uint64(a.i), b.u)
	}
	if b.i < 0 { // a unsigned, b signed
		return 1
	}
	return cmpOrdered(a.u, uint64(b.i))
}

func cmpOrdered[T int64 | uint64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// compareFold compares two strings as a case-insensitive PAD SPACE
// collation does: letters are compared by their simple lower-case mapping
// and trailing spaces do not count. Accents are significant.
func compareFold(a, b string) int {
	a, b = strings.TrimRight(a, " "), strings.TrimRight(b, " ")
	for a != "" && b != "" {
		ra, na := decodeRune(a)
		rb, nb := decodeRune(b)
		if ra != rb {
			la, lb := unicode.ToLower(ra), unicode.ToLower(rb)
			if la != lb {
				return cmpOrdered(int64(la), int64(lb))
			}
		}
		a, b = a[na:], b[nb:]
	}
	return cmpOrdered(int64(len(a)), int64(len(b)))
}

func decodeRune(s string) (rune, int) {
	if s[0] < utf8.RuneSelf {
		return rune(s[0]), 1
	}
	return utf8.DecodeRuneInString(s)
}

// toInt64 converts v to a signed integer as CAST(v AS SIGNED) does:
// doubles are rounded, strings read up to their first non-numeric
// character and truncated, unsigned values wrap.
func toInt64(v val) (int64, error) {
	switch v.k {
	case kInt:
		return v.i, nil
	case kUint:
		return int64(v.u), nil
	case kFloat:
		return floatToInt(math.Round(v.f))
	}
	s := strings.TrimLeft(v.s, " \t\n\r")
	if i, err := strconv.ParseInt(s[:numericPrefix(s)], 10, 64); err == nil {
		return i, nil
	}
	return floatToInt(math.Trunc(parseFloatPrefix(s)))
}

func floatToInt(f float64) (int64, error) {
	if f < math.MinInt64 || f >= math.MaxInt64 || math.IsNaN(f) {
		return 0, fmt.Errorf("%w: %g", errBigint, f)
	}
	return int64(f), nil
}

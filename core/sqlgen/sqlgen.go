// Package sqlgen builds the SQL text that applies row changes to a target:
// statements with ? placeholders and their arguments in order. It is pure:
// no database and no driver, only text.
//
// Identifiers are always backquoted. A key is a list of indexes into the
// row's columns; an empty key means all columns, for tables without a
// primary or unique key. Rows must have one value per column: a violation
// is a bug in the caller and panics.
package sqlgen

import (
	"database/sql/driver"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// QuoteIdent quotes an identifier with backquotes, doubling any backquote
// inside it, as MySQL requires.
func QuoteIdent(s string) string {
	return "`" + strings.ReplaceAll(s, "`", "``") + "`"
}

// QuoteTable quotes schema.table; an empty schema leaves the table
// unqualified.
func QuoteTable(schema, table string) string {
	if schema == "" {
		return QuoteIdent(table)
	}
	return QuoteIdent(schema) + "." + QuoteIdent(table)
}

// IsNull reports whether v is sent to the server as NULL: nil, a nil
// []byte, a nil pointer, or a driver.Valuer whose value is nil.
func IsNull(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case []byte:
		return x == nil
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer && rv.IsNil() {
		return true
	}
	if vr, ok := v.(driver.Valuer); ok {
		val, err := vr.Value()
		return err == nil && val == nil
	}
	return false
}

// Insert builds one INSERT (or REPLACE when replace is true) of all rows,
// which must each have one value per column; the arguments are the values
// in row-major order. With no rows it returns "" and nil.
func Insert(schema, table string, columns []string, rows [][]any, replace bool) (string, []any) {
	if len(rows) == 0 {
		return "", nil
	}
	var b strings.Builder
	if replace {
		b.WriteString("REPLACE INTO ")
	} else {
		b.WriteString("INSERT INTO ")
	}
	b.WriteString(QuoteTable(schema, table))
	b.WriteString(" (")
	writeColumns(&b, columns)
	b.WriteString(") VALUES ")
	group := placeholders(len(columns))
	args := make([]any, 0, len(rows)*len(columns))
	for i, row := range rows {
		checkWidth(columns, row)
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(group)
		args = append(args, row...)
	}
	return b.String(), args
}

// Upsert builds one INSERT of all rows that updates the rows already there
// instead: INSERT ... ON DUPLICATE KEY UPDATE c = VALUES(c) for every
// column outside key. It is right only on a table whose one unique key is
// key, since a collision on any other unique key would update another row.
// With no rows it returns "" and nil.
func Upsert(schema, table string, columns []string, key []int, rows [][]any) (string, []any) {
	q, args := Insert(schema, table, columns, rows, false)
	if q == "" {
		return "", nil
	}
	inKey := map[int]bool{}
	for _, k := range key {
		inKey[k] = true
	}
	var b strings.Builder
	b.WriteString(q)
	b.WriteString(" ON DUPLICATE KEY UPDATE ")
	n := 0
	for i, c := range columns {
		if inKey[i] && len(key) < len(columns) {
			continue
		}
		if n > 0 {
			b.WriteString(", ")
		}
		n++
		b.WriteString(QuoteIdent(c))
		b.WriteString(" = VALUES(")
		b.WriteString(QuoteIdent(c))
		b.WriteByte(')')
	}
	return b.String(), args
}

// Delete builds a DELETE of the one row whose key columns equal those of
// row, comparing NULL values with IS NULL.
func Delete(schema, table string, columns []string, key []int, row []any) (string, []any) {
	checkWidth(columns, row)
	var b strings.Builder
	b.WriteString("DELETE FROM ")
	b.WriteString(QuoteTable(schema, table))
	args := writeWhere(&b, columns, key, row, nil)
	b.WriteString(" LIMIT 1")
	return b.String(), args
}

// Update builds an UPDATE setting every column to its value in after, of
// the one row whose key columns equal those of before. The arguments are
// after's values, then before's non-NULL key values.
func Update(schema, table string, columns []string, key []int, before, after []any) (string, []any) {
	return UpdateColumns(schema, table, columns, nil, key, before, after)
}

// UpdateColumns is Update setting only the columns at the indexes in set
// (all columns when set is nil): a generated column is matched in the
// WHERE clause of a keyless table but never set. The arguments are the set
// columns' values in after, then before's non-NULL key values.
func UpdateColumns(schema, table string, columns []string, set, key []int, before, after []any) (string, []any) {
	checkWidth(columns, before)
	checkWidth(columns, after)
	set = keyOrAll(set, len(columns))
	var b strings.Builder
	b.WriteString("UPDATE ")
	b.WriteString(QuoteTable(schema, table))
	b.WriteString(" SET ")
	args := make([]any, 0, len(set)+len(columns))
	for i, c := range set {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(QuoteIdent(columns[c]))
		b.WriteString(" = ?")
		args = append(args, after[c])
	}
	args = writeWhere(&b, columns, key, before, args)
	b.WriteString(" LIMIT 1")
	return b.String(), args
}

// DeleteMany builds one DELETE of all rows by key: k IN (?,?) for a
// one-column key, (k1,k2) IN ((?,?),(?,?)) otherwise, and k1 = ? AND
// k2 = ? for one row of a composite key: MariaDB (10.11) plans a row
// constructor IN of one element as a scan of the whole table, which waits
// for every row it passes that another transaction holds (several
// elements get a range on the key). Every key value must be non-NULL,
// since NULL never matches IN; use Delete for the other rows. It panics on
// a NULL key value, and returns "" and nil with no rows.
func DeleteMany(schema, table string, columns []string, key []int, rows [][]any) (string, []any) {
	if len(rows) == 0 {
		return "", nil
	}
	key = keyOrAll(key, len(columns))
	for i, row := range rows {
		checkWidth(columns, row)
		for _, k := range key {
			if IsNull(row[k]) {
				panic(fmt.Sprintf("sqlgen: DeleteMany: NULL in key column %s of row %d", columns[k], i))
			}
		}
	}
	var b strings.Builder
	b.WriteString("DELETE FROM ")
	b.WriteString(QuoteTable(schema, table))
	if len(rows) == 1 && len(key) > 1 {
		args := writeWhere(&b, columns, key, rows[0], make([]any, 0, len(key)))
		return b.String(), args
	}
	b.WriteString(" WHERE ")
	group := placeholders(len(key))
	if len(key) == 1 {
		b.WriteString(QuoteIdent(columns[key[0]]))
		group = "?"
	} else {
		b.WriteByte('(')
		writeColumns(&b, pick(columns, key))
		b.WriteByte(')')
	}
	b.WriteString(" IN (")
	args := make([]any, 0, len(rows)*len(key))
	for i, row := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(group)
		for _, k := range key {
			args = append(args, row[k])
		}
	}
	b.WriteByte(')')
	return b.String(), args
}

// writeWhere writes " WHERE k1 = ? AND k2 IS NULL ..." for the key values
// of row and returns args with the non-NULL ones appended.
func writeWhere(b *strings.Builder, columns []string, key []int, row []any, args []any) []any {
	b.WriteString(" WHERE ")
	for i, k := range keyOrAll(key, len(columns)) {
		if i > 0 {
			b.WriteString(" AND ")
		}
		b.WriteString(QuoteIdent(columns[k]))
		if IsNull(row[k]) {
			b.WriteString(" IS NULL")
			continue
		}
		b.WriteString(" = ?")
		args = append(args, row[k])
	}
	return args
}

// keyOrAll returns key, or the indexes of all n columns when key is empty.
func keyOrAll(key []int, n int) []int {
	if len(key) > 0 {
		return key
	}
	all := make([]int, n)
	for i := range all {
		all[i] = i
	}
	return all
}

func pick(columns []string, key []int) []string {
	out := make([]string, len(key))
	for i, k := range key {
		out[i] = columns[k]
	}
	return out
}

func writeColumns(b *strings.Builder, columns []string) {
	for i, c := range columns {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(QuoteIdent(c))
	}
}

// placeholders returns "(?,?,...)" with n placeholders.
func placeholders(n int) string {
	if n == 0 {
		return "()"
	}
	return "(" + strings.Repeat("?,", n-1) + "?)"
}

func checkWidth(columns []string, row []any) {
	if len(row) != len(columns) {
		panic(fmt.Sprintf("sqlgen: row has %d values for %d columns", len(row), len(columns)))
	}
}

// LiteralSize estimates the bytes a value takes in a statement once the
// driver has interpolated it, with its separator: a string or byte slice
// its length plus quotes (and _binary for bytes), a number at most its
// digits. Escaping can make a value longer; the estimate is for sizing
// statements, not for bounding them exactly.
func LiteralSize(v any) int {
	switch x := v.(type) {
	case nil:
		return 5
	case string:
		return len(x) + 3
	case []byte:
		return len(x) + 11
	}
	return 21
}

// RowSize is the estimated size of a row's group in a multi-row INSERT:
// the LiteralSize of its values and the parentheses.
func RowSize(row []any) int {
	n := 3
	for _, v := range row {
		n += LiteralSize(v)
	}
	return n
}

// SplitRows divides rows into consecutive groups for multi-row statements
// and returns the end index of each group: a group holds at most maxRows
// rows and at most maxBytes bytes by RowSize, except that a row larger
// than maxBytes makes a group of its own. maxRows <= 0 means no row limit.
// With no rows it returns nil.
func SplitRows(rows [][]any, maxRows, maxBytes int) []int {
	var ends []int
	n, size := 0, 0
	for i, r := range rows {
		rs := RowSize(r)
		if n > 0 && ((maxRows > 0 && n >= maxRows) || size+rs > maxBytes) {
			ends = append(ends, i)
			n, size = 0, 0
		}
		n++
		size += rs
	}
	if n > 0 {
		ends = append(ends, len(rows))
	}
	return ends
}

// LoadData builds a LOAD DATA LOCAL INFILE of the rows in file, in the
// format AppendTSVRow writes, into columns of schema.table, with REPLACE:
// a row whose key exists replaces it. The file's fields and lines are
// MySQL's defaults (tab-separated, newline-terminated, backslash escapes),
// so the statement holds no escape of its own and means the same under
// any sql_mode. The file's bytes are read as utf8mb4.
func LoadData(file, schema, table string, columns []string) string {
	var b strings.Builder
	b.WriteString("LOAD DATA LOCAL INFILE '")
	b.WriteString(strings.ReplaceAll(file, "'", "''"))
	b.WriteString("' REPLACE INTO TABLE ")
	b.WriteString(QuoteTable(schema, table))
	b.WriteString(" CHARACTER SET utf8mb4 (")
	writeColumns(&b, columns)
	b.WriteByte(')')
	return b.String()
}

// AppendTSVRow appends row to dst as one line of LOAD DATA's default
// format: NULL as \N, numbers in Go's shortest exact form, strings with
// backslash, tab, newline, carriage return and NUL escaped. It reports
// false, and dst may hold part of the row, when a value is of another
// type ([]byte among them, whose charset LOAD DATA would convert).
func AppendTSVRow(dst []byte, row []any) ([]byte, bool) {
	for i, v := range row {
		if i > 0 {
			dst = append(dst, '\t')
		}
		var ok bool
		if dst, ok = AppendTSVValue(dst, v); !ok {
			return dst, false
		}
	}
	return append(dst, '\n'), true
}

// AppendTSVValue appends one field of AppendTSVRow's format, without a
// separator; false for a value of a type it has no form for.
func AppendTSVValue(dst []byte, v any) ([]byte, bool) {
	switch x := v.(type) {
	case nil:
		dst = append(dst, `\N`...)
	case int64:
		dst = strconv.AppendInt(dst, x, 10)
	case uint64:
		dst = strconv.AppendUint(dst, x, 10)
	case float64:
		dst = strconv.AppendFloat(dst, x, 'g', -1, 64)
	case float32:
		dst = strconv.AppendFloat(dst, float64(x), 'g', -1, 32)
	case string:
		dst = AppendTSVString(dst, x)
	default:
		return dst, false
	}
	return dst, true
}

// AppendTSVString appends the text s (a string, or its bytes) as one field
// of AppendTSVRow's format.
func AppendTSVString[S ~string | ~[]byte](dst []byte, s S) []byte {
	start := 0
	for i := 0; i < len(s); i++ {
		var esc byte
		switch s[i] {
		case '\\':
			esc = '\\'
		case '\t':
			esc = 't'
		case '\n':
			esc = 'n'
		case '\r':
			esc = 'r'
		case 0:
			esc = '0'
		default:
			continue
		}
		dst = append(dst, s[start:i]...)
		dst = append(dst, '\\', esc)
		start = i + 1
	}
	return append(dst, s[start:]...)
}

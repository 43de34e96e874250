package verify

import (
	"strconv"
	"strings"

	"github.com/dmnode/dmnode/actors"
	"github.com/dmnode/dmnode/core/schema"
	"github.com/dmnode/dmnode/core/sqlgen"
)

// digestExpr is the SQL expression of a row digest over cols
// (actors.RowDigestExpr, which the continuous validator shares).
func digestExpr(cols []schema.Column) string { return actors.RowDigestExpr(cols) }

// checksumQuery computes, on the target, the checksum of the rows with the
// given keys as chunk.checksum computes it from row digests.
func checksumQuery(table, digest string, keyCols []string, keys [][]any) (string, []any) {
	cond, args := inCond(keyCols, keys)
	return "SELECT COUNT(*), COALESCE(BIT_XOR(CAST(CONV(LEFT(" + digest + ", 16), 16, 10) AS UNSIGNED)), 0) FROM " +
		table + " WHERE " + cond, args
}

// chunkQuery reads the next limit rows after the key after (nil: from the
// start), in key order.
func chunkQuery(table string, sel, keyCols []string, after []any, limit int) (string, []any) {
	q := "SELECT " + strings.Join(sel, ", ") + " FROM " + table
	var args []any
	if after != nil {
		var cond string
		cond, args = afterCond(keyCols, after)
		q += " WHERE " + cond
	}
	quoted := make([]string, len(keyCols))
	for i, c := range keyCols {
		quoted[i] = sqlgen.QuoteIdent(c)
	}
	return q + " ORDER BY " + strings.Join(quoted, ", ") + " LIMIT " + strconv.Itoa(limit), args
}

// keysQuery reads the rows with the given keys.
func keysQuery(table string, sel, keyCols []string, keys [][]any) (string, []any) {
	cond, args := inCond(keyCols, keys)
	return "SELECT " + strings.Join(sel, ", ") + " FROM " + table + " WHERE " + cond, args
}

// afterCond selects the rows whose key is greater than after in key
// order, written as (a > ?) OR (a = ? AND b > ?) …, which MySQL, MariaDB
// and TiDB all turn into index ranges (a row constructor comparison is not
// optimized by every version).
func afterCond(cols []string, after []any) (string, []any) {
	var ors []string
	var args []any
	for i := range cols {
		ands := make([]string, 0, i+1)
		for j := range i {
			ands = append(ands, sqlgen.QuoteIdent(cols[j])+" = ?")
			args = append(args, after[j])
		}
		ands = append(ands, sqlgen.QuoteIdent(cols[i])+" > ?")
		args = append(args, after[i])
		ors = append(ors, "("+strings.Join(ands, " AND ")+")")
	}
	return "(" + strings.Join(ors, " OR ") + ")", args
}

// inCond selects the rows with one of the keys: a IN (…) for one column,
// (a = ? AND b = ?) OR … for several. keys must not be empty.
func inCond(cols []string, keys [][]any) (string, []any) {
	args := make([]any, 0, len(keys)*len(cols))
	if len(cols) == 1 {
		for _, k := range keys {
			args = append(args, k[0])
		}
		return sqlgen.QuoteIdent(cols[0]) + " IN (" + strings.TrimSuffix(strings.Repeat("?, ", len(keys)), ", ") + ")", args
	}
	eq := make([]string, len(cols))
	for i, c := range cols {
		eq[i] = sqlgen.QuoteIdent(c) + " = ?"
	}
	one := "(" + strings.Join(eq, " AND ") + ")"
	ors := make([]string, len(keys))
	for i, k := range keys {
		ors[i] = one
		args = append(args, k...)
	}
	return "(" + strings.Join(ors, " OR ") + ")", args
}

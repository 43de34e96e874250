package schema

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/charset"
)

// Project returns the table db.name with the columns of t named in cols,
// in that order (names compare without regard to case). Keys, indexes and
// constraints that use a column left out are dropped with it. It fails
// with ErrMismatch when t has no column of one of the names. It derives a
// table's schema at another position from one whose columns are known
// (the names a binlog's row metadata lists), and an upstream table from a
// target table that has extra columns.
func (t *Table) Project(db, name string, cols []string) (*Table, error) {
	ct, err := parseCreate(t.CreateSQL)
	if err != nil {
		return nil, fmt.Errorf("table %s.%s: %w", t.Schema, t.Name, err)
	}
	kept := make([]*ast.ColumnDef, 0, len(cols))
	for _, c := range cols {
		i := columnIndex(ct.Cols, strings.ToLower(c))
		if i < 0 {
			return nil, fmt.Errorf("table %s.%s has no column %s: %w", t.Schema, t.Name, c, ErrMismatch)
		}
		kept = append(kept, ct.Cols[i])
	}
	ct.Cols = kept
	ct.Constraints = slices.DeleteFunc(ct.Constraints, func(c *ast.Constraint) bool {
		for _, k := range c.Keys {
			if k.Column != nil && columnIndex(kept, k.Column.Name.L) < 0 {
				return true
			}
		}
		if c.Refer != nil { // a foreign key: the referenced table may differ
			return true
		}
		return c.Tp == ast.ConstraintCheck
	})
	ct.Partition = nil
	return buildTable(db, name, ct)
}

// SameColumns reports whether names are the table's column names, in order
// and without regard to case.
func (t *Table) SameColumns(names []string) bool {
	return slices.EqualFunc(t.Columns, names, func(c Column, n string) bool { return strings.EqualFold(c.Name, n) })
}

// Flavor returns the flavor SetFlavor recorded ("" for the default).
func (t *Tracker) Flavor() string { return t.flavor }

// DatabaseCharset returns the default charset and collation recorded for
// database db ("" for the server); ok is false when none is.
func (t *Tracker) DatabaseCharset(db string) (cs, collation string, ok bool) {
	d, ok := t.charsets[db]
	return d.Charset, d.Collation, ok
}

// Databases returns the databases whose charset is recorded, the server's
// ("") first, sorted.
func (t *Tracker) Databases() []string {
	out := make([]string, 0, len(t.charsets))
	for db := range t.charsets {
		out = append(out, db)
	}
	slices.Sort(out)
	return out
}

// CollationByID names the collation a binlog's row metadata gives by id,
// and its charset; ok is false for an id the parser does not know.
func CollationByID(id int) (cs, collation string, ok bool) {
	charsetMu.RLock()
	defer charsetMu.RUnlock()
	c, err := charset.GetCollationByID(id)
	if err != nil {
		return "", "", false
	}
	return c.CharsetName, c.Name, true
}

// CharsetMaxLen returns the most bytes one character of charset cs takes,
// 0 for a charset the parser does not know.
func CharsetMaxLen(cs string) int {
	charsetMu.RLock()
	defer charsetMu.RUnlock()
	info, err := charset.GetCharsetInfo(cs)
	if err != nil {
		return 0
	}
	return info.Maxlen
}

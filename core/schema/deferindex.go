package schema

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/format"

	"github.com/dmnode/dmnode/core/sqlgen"
)

// SecondaryIndex is one secondary index of a target table, split off its
// CREATE TABLE to be added once the table's rows are loaded
// (DeferIndexes).
type SecondaryIndex struct {
	Name string `json:"name"`
	// Clause is the ALTER TABLE clause that adds it: "ADD INDEX `k`(`c`)".
	Clause string `json:"clause"`
}

// DeferIndexes splits a target table's CREATE TABLE statement (as
// TargetCreateTable derives it) into the statement without its plain
// secondary indexes and those indexes, for a bulk load that adds them
// after the rows (one sort per index instead of a B-tree insert per row).
// The primary key, UNIQUE keys (they reject rows as they load), FULLTEXT
// and SPATIAL indexes, and any index whose first column is the
// AUTO_INCREMENT column (which must lead a key when the table is created)
// stay in the CREATE TABLE. Without a plain secondary index it returns
// the statement unchanged and none.
func DeferIndexes(create string) (string, []SecondaryIndex, error) {
	ct, err := parseCreate(create)
	if err != nil {
		return "", nil, err
	}
	auto := ""
	for _, cd := range ct.Cols {
		for _, o := range cd.Options {
			if o.Tp == ast.ColumnOptionAutoIncrement {
				auto = cd.Name.Name.L
			}
		}
	}
	var out []SecondaryIndex
	kept := ct.Constraints[:0:0]
	for _, c := range ct.Constraints {
		if !deferrable(c, auto) {
			kept = append(kept, c)
			continue
		}
		var b strings.Builder
		if err := c.Restore(format.NewRestoreCtx(restoreFlags, &b)); err != nil {
			return "", nil, fmt.Errorf("restore index %s: %w", c.Name, err)
		}
		out = append(out, SecondaryIndex{Name: c.Name, Clause: "ADD " + restoreMarkers(b.String())})
	}
	if len(out) == 0 {
		return create, nil, nil
	}
	ct.Constraints = kept
	table, err := restoreCreate(ct, ct.Table.Schema.O, ct.Table.Name.O, ct.IfNotExists)
	if err != nil {
		return "", nil, err
	}
	return table, out, nil
}

// deferrable reports whether an index of a CREATE TABLE may be added after
// the load (DeferIndexes).
func deferrable(c *ast.Constraint, autoCol string) bool {
	if c.Tp != ast.ConstraintIndex && c.Tp != ast.ConstraintKey || c.Name == "" {
		return false
	}
	if c.Option != nil && c.Option.Tp == ast.IndexTypeRtree {
		return false
	}
	if len(c.Keys) > 0 && c.Keys[0].Column != nil && autoCol != "" && c.Keys[0].Column.Name.L == autoCol {
		return false
	}
	return true
}

// AddIndexes returns the ALTER TABLE statement that adds indexes to
// schema.table, in one statement: one pass over the table's rows.
func AddIndexes(schemaName, table string, indexes []SecondaryIndex) string {
	clauses := make([]string, len(indexes))
	for i, ix := range indexes {
		clauses[i] = ix.Clause
	}
	return "ALTER TABLE " + sqlgen.QuoteIdent(schemaName) + "." + sqlgen.QuoteIdent(table) + " " + strings.Join(clauses, ", ")
}

// MissingIndexes returns the indexes whose names are not in have (a
// table's index names, compared case-insensitively, as MySQL does).
func MissingIndexes(indexes []SecondaryIndex, have []string) []SecondaryIndex {
	return slices.DeleteFunc(slices.Clone(indexes), func(ix SecondaryIndex) bool {
		return slices.ContainsFunc(have, func(h string) bool { return strings.EqualFold(h, ix.Name) })
	})
}

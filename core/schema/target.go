package schema

import (
	"fmt"
	"slices"

	"github.com/pingcap/tidb/pkg/parser/ast"
)

// extraColumnSQL is the definition of an extra column of a target table.
const extraColumnSQL = "CREATE TABLE t (c VARCHAR(255) NOT NULL DEFAULT '')"

// TargetCreateTable derives the CREATE TABLE IF NOT EXISTS statement of a
// target table from the upstream table t:
//
//   - the table is named targetSchema.targetTable;
//   - extraColumns are appended as VARCHAR(255) NOT NULL columns defaulting
//     to the empty string;
//     when there are any, they are appended to the primary key and to every
//     UNIQUE key, so that rows merged from different shards never clash (with
//     or without a primary key: a unique key alone would clash just the same);
//   - foreign keys, CHECK constraints and the AUTO_INCREMENT=N table option
//     are dropped: the target takes rows the upstream has already checked,
//     from many shards;
//   - the partitioning is kept (the tracker follows partition maintenance),
//     so that partition DDL replicated later (ADD, DROP, TRUNCATE,
//     REORGANIZE, EXCHANGE PARTITION) finds the same partitions and removes
//     the same rows on the target as upstream.
//
// An extra column named like an upstream column is an error.
func TargetCreateTable(t *Table, targetSchema, targetTable string, extraColumns []string) (string, error) {
	ct, err := parseCreate(t.CreateSQL)
	if err != nil {
		return "", fmt.Errorf("target table for %s.%s: %w", t.Schema, t.Name, err)
	}
	normalize(ct)
	dropForeignKeys(ct)
	dropChecks(ct)
	ct.Options = slices.DeleteFunc(ct.Options, func(o *ast.TableOption) bool {
		return o.Tp == ast.TableOptionAutoIncrement
	})
	extra := make([]*ast.IndexPartSpecification, 0, len(extraColumns))
	for _, name := range extraColumns {
		if findColumn(ct.Cols, ast.NewCIStr(name).L) != nil {
			return "", fmt.Errorf("target table for %s.%s: extra column %s: column exists", t.Schema, t.Name, name)
		}
		cd, err := extraColumn(name)
		if err != nil {
			return "", err
		}
		ct.Cols = append(ct.Cols, cd)
		extra = append(extra, keyParts(name)...)
	}
	if len(extra) > 0 {
		for _, c := range ct.Constraints {
			if c.Tp == ast.ConstraintPrimaryKey || isUnique(c.Tp) {
				c.Keys = append(c.Keys, extra...)
			}
		}
	}
	return restoreCreate(ct, targetSchema, targetTable, true)
}

// dropChecks removes CHECK constraints, of the table and of columns.
func dropChecks(ct *ast.CreateTableStmt) {
	dropConstraints(ct, func(c *ast.Constraint) bool { return c.Tp == ast.ConstraintCheck })
	for _, cd := range ct.Cols {
		cd.Options = slices.DeleteFunc(cd.Options, func(o *ast.ColumnOption) bool {
			return o.Tp == ast.ColumnOptionCheck
		})
	}
}

// extraColumn returns a fresh definition of an extra column.
func extraColumn(name string) (*ast.ColumnDef, error) {
	ct, err := parseCreate(extraColumnSQL)
	if err != nil {
		return nil, fmt.Errorf("extra column %s: %w", name, err)
	}
	cd := ct.Cols[0]
	cd.Name = &ast.ColumnName{Name: ast.NewCIStr(name)}
	return cd, nil
}

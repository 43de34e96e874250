package schema

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/mysql"
	"github.com/pingcap/tidb/pkg/parser/types"
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
//   - MariaDB's UUID, INET4 and INET6 columns, which TiDB lacks, become
//     CHAR(36), VARCHAR(15) and VARCHAR(39) in ascii_bin, holding the text
//     the server prints for the value (the dump reads it, the tailer renders
//     it from the binlog's bytes): the value is kept exactly, as text;
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
	textStandIns(ct)
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

// standInText is the target type of each MariaDB type the target lacks
// that has a text form which keeps its value.
var standInText = map[string]struct {
	tp   byte
	flen int
}{"uuid": {mysql.TypeString, 36}, "inet4": {mysql.TypeVarchar, 15}, "inet6": {mysql.TypeVarchar, 39}}

// textStandIns gives UUID, INET4 and INET6 columns their text type.
func textStandIns(ct *ast.CreateTableStmt) {
	for _, cd := range ct.Cols {
		for i, o := range cd.Options {
			name, ok := strings.CutPrefix(o.StrValue, standInPrefix)
			if o.Tp != ast.ColumnOptionSecondaryEngineAttribute || !ok {
				continue
			}
			to, ok := standInText[name]
			if !ok {
				break
			}
			ft := types.NewFieldType(to.tp)
			ft.SetFlen(to.flen)
			ft.SetCharset("ascii")
			ft.SetCollate("ascii_bin")
			cd.Tp = ft
			cd.Options = slices.Delete(cd.Options, i, i+1)
			break
		}
	}
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

package schema

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/charset"
)

// applySpecs applies the specifications of an ALTER TABLE to a normalized
// CREATE TABLE statement, in order, and normalizes the result. Renaming the
// table is left to the caller. Errors wrap ErrMismatch; ct may then be
// partly changed and must be dropped.
//
// Dropping an index or foreign key the table does not have is not an error:
// the tracker does not know the names the server gives to implicit ones.
// Partition maintenance is followed: PARTITION BY, REMOVE PARTITIONING,
// ADD, DROP, COALESCE and REORGANIZE PARTITION change the partition clause;
// TRUNCATE, EXCHANGE, REBUILD, OPTIMIZE, ANALYZE, CHECK and REPAIR
// PARTITION change rows, not the table's definition.
func applySpecs(ct *ast.CreateTableStmt, specs []*ast.AlterTableSpec) error {
	for _, s := range specs {
		if err := applySpec(ct, s); err != nil {
			return err
		}
	}
	normalize(ct)
	return nil
}

func applySpec(ct *ast.CreateTableStmt, s *ast.AlterTableSpec) error {
	switch s.Tp {
	case ast.AlterTableOption:
		setTableOptions(ct, s.Options)
	case ast.AlterTableAddColumns:
		return addColumns(ct, s)
	case ast.AlterTableAddConstraint:
		return addConstraint(ct, s.Constraint)
	case ast.AlterTableDropColumn:
		return dropColumn(ct, s.OldColumnName.Name.L, s.IfExists)
	case ast.AlterTableModifyColumn:
		return replaceColumn(ct, s.NewColumns[0].Name.Name.L, s.NewColumns[0], s.Position, s.IfExists)
	case ast.AlterTableChangeColumn:
		return replaceColumn(ct, s.OldColumnName.Name.L, s.NewColumns[0], s.Position, s.IfExists)
	case ast.AlterTableRenameColumn:
		cd := findColumn(ct.Cols, s.OldColumnName.Name.L)
		if cd == nil {
			return fmt.Errorf("%w: rename column %s: no such column", ErrMismatch, s.OldColumnName.Name.O)
		}
		return renameColumn(ct, cd, s.NewColumnName.Name)
	case ast.AlterTableAlterColumn:
		return alterColumnDefault(ct, s.NewColumns[0])
	case ast.AlterTableDropPrimaryKey:
		dropConstraints(ct, func(c *ast.Constraint) bool { return c.Tp == ast.ConstraintPrimaryKey })
	case ast.AlterTableDropIndex:
		name := strings.ToLower(s.Name)
		dropConstraints(ct, func(c *ast.Constraint) bool {
			return (isIndex(c.Tp) && strings.ToLower(c.Name) == name) ||
				(c.Tp == ast.ConstraintPrimaryKey && name == "primary")
		})
	case ast.AlterTableDropForeignKey:
		name := strings.ToLower(s.Name)
		dropConstraints(ct, func(c *ast.Constraint) bool {
			return c.Tp == ast.ConstraintForeignKey && strings.ToLower(c.Name) == name
		})
	case ast.AlterTableDropCheck:
		name := strings.ToLower(s.Constraint.Name)
		dropConstraints(ct, func(c *ast.Constraint) bool {
			return c.Tp == ast.ConstraintCheck && strings.ToLower(c.Name) == name
		})
	case ast.AlterTableRenameIndex:
		for _, c := range ct.Constraints {
			if isIndex(c.Tp) && strings.EqualFold(c.Name, s.FromKey.O) {
				c.Name = s.ToKey.O
			}
		}
	case ast.AlterTablePartition:
		ct.Partition = s.Partition
	case ast.AlterTableRemovePartitioning:
		ct.Partition = nil
	case ast.AlterTableAddPartitions, ast.AlterTableDropPartition, ast.AlterTableCoalescePartitions,
		ast.AlterTableReorganizePartition:
		alterPartitions(ct, s)
	}
	return nil // the rest does not change columns or keys
}

// alterPartitions applies partition maintenance to ct's partition clause.
// A statement that does not fit the tracked clause (the server accepted it,
// so the tracked clause is what is wrong) leaves the clause as it is: the
// statement still reaches the target, which accepts or rejects it.
func alterPartitions(ct *ast.CreateTableStmt, s *ast.AlterTableSpec) {
	p := ct.Partition
	if p == nil {
		return
	}
	switch s.Tp {
	case ast.AlterTableAddPartitions:
		if len(p.Definitions) > 0 || len(s.PartDefinitions) > 0 {
			p.Definitions = append(p.Definitions, s.PartDefinitions...)
			if p.Num > 0 {
				p.Num = uint64(len(p.Definitions))
			}
			return
		}
		p.Num += s.Num // ADD PARTITION PARTITIONS n of HASH or KEY
	case ast.AlterTableDropPartition:
		for _, name := range s.PartitionNames {
			i := partitionIndex(p.Definitions, name.L)
			if i >= 0 {
				p.Definitions = slices.Delete(p.Definitions, i, i+1)
			}
		}
	case ast.AlterTableCoalescePartitions:
		n := p.Num
		if len(p.Definitions) > 0 {
			n = uint64(len(p.Definitions))
		}
		if s.Num >= n {
			return
		}
		if len(p.Definitions) > 0 {
			p.Definitions = p.Definitions[:n-s.Num]
		}
		if p.Num > 0 {
			p.Num = n - s.Num
		}
	case ast.AlterTableReorganizePartition:
		if len(s.PartitionNames) == 0 {
			// REORGANIZE PARTITION without names rebuilds HASH or KEY
			// partitions as they are.
			return
		}
		first := -1
		for _, name := range s.PartitionNames {
			i := partitionIndex(p.Definitions, name.L)
			if i < 0 {
				return
			}
			if first < 0 || i < first {
				first = i
			}
		}
		kept := slices.DeleteFunc(slices.Clone(p.Definitions), func(d *ast.PartitionDefinition) bool {
			return slices.ContainsFunc(s.PartitionNames, func(n ast.CIStr) bool { return n.L == d.Name.L })
		})
		p.Definitions = slices.Insert(kept, min(first, len(kept)), s.PartDefinitions...)
		if p.Num > 0 {
			p.Num = uint64(len(p.Definitions))
		}
	}
}

func partitionIndex(defs []*ast.PartitionDefinition, name string) int {
	return slices.IndexFunc(defs, func(d *ast.PartitionDefinition) bool { return d.Name.L == name })
}

// setTableOptions merges table options into ct's. A charset without a
// collation resets the collation; CONVERT TO also converts the columns, and
// a new default charset is first pinned on the columns using the old one.
func setTableOptions(ct *ast.CreateTableStmt, opts []*ast.TableOption) {
	if slices.ContainsFunc(opts, func(o *ast.TableOption) bool {
		return o.Tp == ast.TableOptionCharset || o.Tp == ast.TableOptionCollate
	}) {
		pinCharsets(ct)
	}
	for _, o := range opts {
		if o.Tp == ast.TableOptionCharset && o.UintValue == ast.TableOptionCharsetWithConvertTo && !o.Default {
			convertColumns(ct, o.StrValue, collationIn(opts))
		}
		if o.Tp == ast.TableOptionCharset && collationIn(opts) == "" {
			ct.Options = slices.DeleteFunc(ct.Options, func(x *ast.TableOption) bool {
				return x.Tp == ast.TableOptionCollate
			})
		}
		c := *o
		if c.Tp == ast.TableOptionCharset {
			c.UintValue = ast.TableOptionCharsetWithoutConvertTo
		}
		i := slices.IndexFunc(ct.Options, func(x *ast.TableOption) bool { return x.Tp == o.Tp })
		if i >= 0 {
			ct.Options[i] = &c
		} else {
			ct.Options = append(ct.Options, &c)
		}
	}
}

// pinCharsets gives the table's default charset and collation to the
// character columns that inherit them, as they keep them when the default
// changes.
func pinCharsets(ct *ast.CreateTableStmt) {
	cs, co := tableCharset(ct.Options), ""
	for _, o := range ct.Options {
		if o.Tp == ast.TableOptionCollate {
			co = o.StrValue
		}
	}
	if cs == "" {
		return // the database default, unknown here
	}
	for _, cd := range ct.Cols {
		if !isTextual(cd) || cd.Tp.GetCharset() != "" || cd.Tp.GetCollate() != "" ||
			slices.ContainsFunc(cd.Options, func(o *ast.ColumnOption) bool {
				return o.Tp == ast.ColumnOptionCollate ||
					(o.Tp == ast.ColumnOptionSecondaryEngineAttribute && strings.HasPrefix(o.StrValue, attrPrefix))
			}) {
			continue
		}
		cd.Tp.SetCharset(cs)
		cd.Tp.SetCollate(co)
	}
}

func collationIn(opts []*ast.TableOption) string {
	for _, o := range opts {
		if o.Tp == ast.TableOptionCollate {
			return o.StrValue
		}
	}
	return ""
}

// convertColumns sets the charset of the character columns, as ALTER TABLE
// ... CONVERT TO CHARACTER SET does. MySQL also widens TEXT columns when
// the new charset has longer characters; the tracker does not.
func convertColumns(ct *ast.CreateTableStmt, cs, co string) {
	for _, cd := range ct.Cols {
		if cd.Tp.GetCharset() == charset.CharsetBin || !isTextual(cd) {
			continue
		}
		cd.Tp.SetCharset(cs)
		cd.Tp.SetCollate(co)
		cd.Options = slices.DeleteFunc(cd.Options, func(o *ast.ColumnOption) bool {
			return o.Tp == ast.ColumnOptionCollate ||
				(o.Tp == ast.ColumnOptionSecondaryEngineAttribute && strings.HasPrefix(o.StrValue, attrPrefix))
		})
	}
}

func isTextual(cd *ast.ColumnDef) bool {
	switch typeName(cd.Tp) {
	case "char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set":
		return true
	}
	return false
}

func addColumns(ct *ast.CreateTableStmt, s *ast.AlterTableSpec) error {
	for _, cd := range s.NewColumns {
		if findColumn(ct.Cols, cd.Name.Name.L) != nil {
			if s.IfNotExists {
				continue
			}
			return fmt.Errorf("%w: add column %s: column exists", ErrMismatch, cd.Name.Name.O)
		}
		at, err := position(ct, s.Position, len(ct.Cols))
		if err != nil {
			return err
		}
		ct.Cols = slices.Insert(ct.Cols, at, cd)
	}
	for _, c := range s.NewConstraints {
		if err := addConstraint(ct, c); err != nil {
			return err
		}
	}
	return nil
}

// position returns where a column goes: first, after another column, or at
// dflt when pos says nothing.
func position(ct *ast.CreateTableStmt, pos *ast.ColumnPosition, dflt int) (int, error) {
	if pos == nil {
		return dflt, nil
	}
	switch pos.Tp {
	case ast.ColumnPositionFirst:
		return 0, nil
	case ast.ColumnPositionAfter:
		i := columnIndex(ct.Cols, pos.RelativeColumn.Name.L)
		if i < 0 {
			return 0, fmt.Errorf("%w: after %s: no such column", ErrMismatch, pos.RelativeColumn.Name.O)
		}
		return i + 1, nil
	}
	return dflt, nil
}

func addConstraint(ct *ast.CreateTableStmt, c *ast.Constraint) error {
	for _, x := range ct.Constraints {
		switch {
		case c.Tp == ast.ConstraintPrimaryKey && x.Tp == ast.ConstraintPrimaryKey:
			return fmt.Errorf("%w: add primary key: table has one", ErrMismatch)
		case c.Name != "" && strings.EqualFold(c.Name, x.Name) && isIndex(c.Tp) && isIndex(x.Tp):
			if c.IfNotExists {
				return nil
			}
			return fmt.Errorf("%w: add index %s: index exists", ErrMismatch, c.Name)
		}
	}
	for _, part := range c.Keys {
		if part.Column != nil && findColumn(ct.Cols, part.Column.Name.L) == nil {
			return fmt.Errorf("%w: add index %s: no column %s", ErrMismatch, c.Name, part.Column.Name.O)
		}
	}
	ct.Constraints = append(ct.Constraints, c)
	return nil
}

// dropColumn removes a column and its parts of indexes, dropping indexes
// left without parts, as MySQL does.
func dropColumn(ct *ast.CreateTableStmt, lname string, ifExists bool) error {
	i := columnIndex(ct.Cols, lname)
	if i < 0 {
		if ifExists {
			return nil
		}
		return fmt.Errorf("%w: drop column %s: no such column", ErrMismatch, lname)
	}
	ct.Cols = slices.Delete(ct.Cols, i, i+1)
	for _, c := range ct.Constraints {
		c.Keys = slices.DeleteFunc(c.Keys, func(p *ast.IndexPartSpecification) bool {
			return p.Column != nil && p.Column.Name.L == lname
		})
	}
	dropConstraints(ct, func(c *ast.Constraint) bool {
		return len(c.Keys) == 0 && (isIndex(c.Tp) || c.Tp == ast.ConstraintPrimaryKey || c.Tp == ast.ConstraintForeignKey)
	})
	return nil
}

func dropConstraints(ct *ast.CreateTableStmt, drop func(*ast.Constraint) bool) {
	ct.Constraints = slices.DeleteFunc(ct.Constraints, drop)
}

// replaceColumn replaces the column lname by cd (MODIFY, CHANGE) and moves
// it when pos says so. Index parts follow a rename.
func replaceColumn(ct *ast.CreateTableStmt, lname string, cd *ast.ColumnDef, pos *ast.ColumnPosition, ifExists bool) error {
	i := columnIndex(ct.Cols, lname)
	if i < 0 {
		if ifExists {
			return nil
		}
		return fmt.Errorf("%w: change column %s: no such column", ErrMismatch, lname)
	}
	old := ct.Cols[i]
	if err := renameColumn(ct, old, cd.Name.Name); err != nil {
		return err
	}
	ct.Cols = slices.Delete(ct.Cols, i, i+1)
	at, err := position(ct, pos, i)
	if err != nil {
		return err
	}
	ct.Cols = slices.Insert(ct.Cols, at, cd)
	return nil
}

// renameColumn renames cd and the index parts naming it. Renaming to the
// name of another column is a mismatch.
func renameColumn(ct *ast.CreateTableStmt, cd *ast.ColumnDef, to ast.CIStr) error {
	from := cd.Name.Name
	if from.L == to.L {
		cd.Name = &ast.ColumnName{Name: to}
		return nil
	}
	if findColumn(ct.Cols, to.L) != nil {
		return fmt.Errorf("%w: rename column %s to %s: column exists", ErrMismatch, from.O, to.O)
	}
	cd.Name = &ast.ColumnName{Name: to}
	for _, c := range ct.Constraints {
		for _, p := range c.Keys {
			if p.Column != nil && p.Column.Name.L == from.L {
				p.Column = &ast.ColumnName{Name: to}
			}
		}
	}
	return nil
}

// alterColumnDefault applies ALTER COLUMN ... SET DEFAULT / DROP DEFAULT.
func alterColumnDefault(ct *ast.CreateTableStmt, spec *ast.ColumnDef) error {
	cd := findColumn(ct.Cols, spec.Name.Name.L)
	if cd == nil {
		return fmt.Errorf("%w: alter column %s: no such column", ErrMismatch, spec.Name.Name.O)
	}
	cd.Options = slices.DeleteFunc(slices.Clone(cd.Options), func(o *ast.ColumnOption) bool {
		return o.Tp == ast.ColumnOptionDefaultValue
	})
	for _, o := range spec.Options { // SET DEFAULT: one option of no type
		cd.Options = append(cd.Options, &ast.ColumnOption{Tp: ast.ColumnOptionDefaultValue, Expr: o.Expr})
	}
	return nil
}

// dropForeignKeys removes foreign keys and column REFERENCES clauses.
func dropForeignKeys(ct *ast.CreateTableStmt) {
	dropConstraints(ct, func(c *ast.Constraint) bool { return c.Tp == ast.ConstraintForeignKey })
	for _, cd := range ct.Cols {
		cd.Options = slices.DeleteFunc(cd.Options, func(o *ast.ColumnOption) bool {
			return o.Tp == ast.ColumnOptionReference
		})
	}
}

package tidb

import (
	"errors"
	"fmt"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"

	"github.com/dmnode/dmnode/core/schema"
)

// The DDL TiDB refuses or runs differently, by version. Each entry names
// where TiDB documents it. Sources:
//   - [compat] "MySQL Compatibility", docs.pingcap.com/tidb/stable/mysql-compatibility:
//     FULLTEXT syntax and indexes (#1793), SPATIAL functions, types and
//     indexes (#6347), character sets other than ascii, latin1, binary,
//     utf8, utf8mb4 and gbk are unsupported.
//   - [add-index] "ADD INDEX", sql-statement-add-index: TiDB parses FULLTEXT
//     but does not support FULLTEXT indexes; SPATIAL indexes are not
//     supported.
//   - [multi] "ALTER TABLE", sql-statement-alter-table: several changes in
//     one ALTER TABLE (multi-schema change) from v6.2.0; before, one change
//     per statement.
//   - [add-column] "ADD COLUMN", sql-statement-add-column: adding a column
//     that is AUTO_INCREMENT or a PRIMARY KEY is not supported.
//   - [partition] "Partitioning", partitioned-table: RANGE, RANGE COLUMNS,
//     LIST, LIST COLUMNS and HASH; KEY partitioning from v7.0.0;
//     subpartitioning is not supported.
//   - [charset] "Character Set and Collation", character-set-and-collation:
//     gbk from v5.4.0, gb18030 from v7.4.0.

// Refusal is a DDL TiDB would refuse, with the reason and the way out. The
// applier pauses the task with it rather than send the statement.
type Refusal struct {
	Statement string
	Reason    string
	Fix       string
}

func (r *Refusal) Error() string {
	return fmt.Sprintf("TiDB cannot run %q: %s; %s", abbreviate(r.Statement, 300), r.Reason, r.Fix)
}

// ErrRefused is what every *Refusal matches with errors.Is.
var ErrRefused = errors.New("TiDB refuses the DDL")

func (r *Refusal) Is(target error) bool { return target == ErrRefused }

// Adapted is what becomes of one DDL statement for a TiDB target.
type Adapted struct {
	// Statements to run in order instead of the one given: the statement
	// itself when nothing changes, several when it is split, none when
	// all of it is dropped.
	Statements []string
	// Notes say what was changed and why, for the log.
	Notes []string
}

// AdaptDDL returns what to run on a TiDB target of version v for one
// routed DDL statement, or a *Refusal. Changes are made only where they
// are exact for the rows (a FULLTEXT index TiDB cannot use is left out; an
// ALTER with several changes is split for TiDB before v6.2.0 when the
// changes do not depend on each other); everything else TiDB refuses is a
// Refusal.
func AdaptDDL(v Version, stmt string) (Adapted, error) {
	nodes, err := schema.ParseStatement(stmt)
	if err != nil || len(nodes) != 1 {
		// Not dmnode's to judge: the target answers for itself.
		return Adapted{Statements: []string{stmt}}, nil
	}
	refuse := func(reason, fix string) (Adapted, error) {
		return Adapted{}, &Refusal{Statement: stmt, Reason: reason, Fix: fix}
	}
	var notes []string
	changed := false
	switch n := nodes[0].(type) {
	case *ast.CreateTableStmt:
		if r, fix := unsupportedColumns(v, n.Cols); r != "" {
			return refuse(r, fix)
		}
		if r, fix := unsupportedOptions(v, n.Options); r != "" {
			return refuse(r, fix)
		}
		if r := unsupportedPartitioning(v, n.Partition); r != "" {
			return refuse(r, "create the table on the target with partitioning TiDB supports (or none), then resume the task with `dmnode task skip` for this statement")
		}
		var kept []*ast.Constraint
		for _, c := range n.Constraints {
			switch c.Tp {
			case ast.ConstraintFulltext:
				notes = append(notes, fmt.Sprintf("FULLTEXT index %s left out: TiDB does not support FULLTEXT indexes", c.Name))
				changed = true
				continue
			}
			kept = append(kept, c)
		}
		n.Constraints = kept
	case *ast.CreateIndexStmt:
		if n.KeyType == ast.IndexKeyTypeFulltext {
			return Adapted{Notes: []string{"CREATE FULLTEXT INDEX " + n.IndexName + " left out: TiDB does not support FULLTEXT indexes"}}, nil
		}
		if n.KeyType == ast.IndexKeyTypeSpatial {
			return refuse("TiDB does not support SPATIAL indexes", skipFix)
		}
	case *ast.AlterTableStmt:
		var kept []*ast.AlterTableSpec
		for _, s := range n.Specs {
			if s.Tp == ast.AlterTableAddConstraint && s.Constraint != nil && s.Constraint.Tp == ast.ConstraintFulltext {
				notes = append(notes, fmt.Sprintf("FULLTEXT index %s left out: TiDB does not support FULLTEXT indexes", s.Constraint.Name))
				changed = true
				continue
			}
			if r, fix := unsupportedSpec(v, s); r != "" {
				return refuse(r, fix)
			}
			kept = append(kept, s)
		}
		if len(kept) == 0 {
			return Adapted{Notes: notes}, nil
		}
		n.Specs = kept
		if len(kept) > 1 && !v.AtLeast(6, 2, 0) {
			if !independent(kept) {
				return refuse(fmt.Sprintf("TiDB %s runs one change per ALTER TABLE (several from v6.2.0), and these changes depend on each other", v),
					"run the changes on the target one by one, by hand, then `dmnode task skip` this statement; or upgrade TiDB to v6.2.0 or later")
			}
			out := Adapted{Notes: append(notes, fmt.Sprintf("ALTER TABLE with %d changes split into one statement per change: TiDB %s runs one change per ALTER TABLE", len(kept), v))}
			for _, s := range kept {
				one := *n
				one.Specs = []*ast.AlterTableSpec{s}
				text, err := restore(&one)
				if err != nil {
					return Adapted{Statements: []string{stmt}}, nil
				}
				out.Statements = append(out.Statements, text)
			}
			return out, nil
		}
	}
	if !changed {
		return Adapted{Statements: []string{stmt}, Notes: notes}, nil
	}
	text, err := restore(nodes[0])
	if err != nil {
		return Adapted{Statements: []string{stmt}}, nil
	}
	return Adapted{Statements: []string{text}, Notes: notes}, nil
}

const skipFix = "create what TiDB can hold on the target by hand, then `dmnode task skip` this statement (or `dmnode task replace` it with a statement TiDB accepts)"

// unsupportedColumns names the first column TiDB cannot create.
func unsupportedColumns(v Version, cols []*ast.ColumnDef) (reason, fix string) {
	for _, c := range cols {
		if t := standInType(c); t != "" {
			return fmt.Sprintf("column %s has type %s, which TiDB lacks", c.Name.Name.O, strings.ToUpper(t)), typeFix(t)
		}
		if c.Tp != nil && c.Tp.GetCharset() != "" && !charsetSupported(v, c.Tp.GetCharset()) {
			return fmt.Sprintf("column %s has character set %s, which TiDB %s lacks", c.Name.Name.O, c.Tp.GetCharset(), v),
				"create the table on the target with utf8mb4 for that column (dmnode converts the values exactly), then `dmnode task skip` this statement"
		}
	}
	return "", ""
}

func typeFix(t string) string {
	switch t {
	case "uuid", "inet4", "inet6":
		return "create the table on the target with a string column in its place (VARCHAR(36) for UUID, VARCHAR(15) for INET4, VARCHAR(39) for INET6), then `dmnode task skip` this statement"
	}
	return "TiDB has no spatial types; leave the table out of the task (block-allow-list) or create it on the target with a LONGBLOB column in its place, then `dmnode task skip` this statement"
}

// standInType returns the MariaDB or MySQL type that core/schema's parser
// stood in for, or "".
func standInType(c *ast.ColumnDef) string {
	for _, o := range c.Options {
		if o.Tp == ast.ColumnOptionSecondaryEngineAttribute {
			if t, ok := strings.CutPrefix(o.StrValue, "dmnode:type:"); ok {
				return t
			}
		}
	}
	return ""
}

func unsupportedOptions(v Version, opts []*ast.TableOption) (reason, fix string) {
	for _, o := range opts {
		if o.Tp == ast.TableOptionCharset && !charsetSupported(v, o.StrValue) {
			return fmt.Sprintf("the table's character set %s is one TiDB %s lacks", o.StrValue, v),
				"create the table on the target with utf8mb4 (dmnode converts the values exactly), then `dmnode task skip` this statement"
		}
	}
	return "", ""
}

func unsupportedPartitioning(v Version, p *ast.PartitionOptions) string {
	if p == nil {
		return ""
	}
	if p.Sub != nil {
		return "TiDB does not support subpartitions"
	}
	if p.Tp == ast.PartitionTypeKey && !v.AtLeast(7, 0, 0) {
		return fmt.Sprintf("TiDB %s does not support KEY partitioning (from v7.0.0)", v)
	}
	return ""
}

func unsupportedSpec(v Version, s *ast.AlterTableSpec) (reason, fix string) {
	switch s.Tp {
	case ast.AlterTableAddColumns:
		if r, fix := unsupportedColumns(v, s.NewColumns); r != "" {
			return r, fix
		}
		for _, c := range s.NewColumns {
			for _, o := range c.Options {
				switch o.Tp {
				case ast.ColumnOptionAutoIncrement, ast.ColumnOptionPrimaryKey:
					return fmt.Sprintf("TiDB cannot add column %s as AUTO_INCREMENT or PRIMARY KEY", c.Name.Name.O),
						"add the column on the target without that attribute (or rebuild the table there), then `dmnode task skip` this statement"
				}
			}
		}
	case ast.AlterTableModifyColumn, ast.AlterTableChangeColumn:
		return unsupportedColumns(v, s.NewColumns)
	case ast.AlterTableAddConstraint:
		if s.Constraint != nil && s.Constraint.Tp == ast.ConstraintIndex && s.Constraint.Option != nil && s.Constraint.Option.Tp == ast.IndexTypeRtree {
			return "TiDB does not support SPATIAL indexes", skipFix
		}
	case ast.AlterTableOption:
		return unsupportedOptions(v, s.Options)
	case ast.AlterTablePartition:
		if r := unsupportedPartitioning(v, s.Partition); r != "" {
			return r, skipFix
		}
	}
	return "", ""
}

// independent reports whether the changes of one ALTER can run one after
// the other with the same result: not when one renames a column (or
// changes one under another name) that another change names.
func independent(specs []*ast.AlterTableSpec) bool {
	renames := 0
	for _, s := range specs {
		switch s.Tp {
		case ast.AlterTableRenameColumn:
			renames++
		case ast.AlterTableChangeColumn:
			if len(s.NewColumns) == 1 && s.OldColumnName != nil && s.OldColumnName.Name.L != s.NewColumns[0].Name.Name.L {
				renames++
			}
		case ast.AlterTableRenameTable:
			return false
		}
	}
	return renames == 0 || (renames == 1 && len(specs) == 1)
}

// charsetSupported reports whether TiDB v has character set cs [charset].
func charsetSupported(v Version, cs string) bool {
	switch strings.ToLower(cs) {
	case "ascii", "latin1", "binary", "utf8", "utf8mb3", "utf8mb4":
		return true
	case "gbk":
		return v.AtLeast(5, 4, 0)
	case "gb18030":
		return v.AtLeast(7, 4, 0)
	}
	return false
}

func restore(n ast.Node) (string, error) { return schema.Restore(n) }

func abbreviate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

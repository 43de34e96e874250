package tidb

import (
	"errors"
	"fmt"
	"regexp"
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
// applier quarantines the table (or pauses the source) with it rather than
// send the statement. Code and Message are the error TiDB itself answers
// to the statement (its errno: 8200 ErrUnsupportedDDLOperation "Unsupported
// %s", 1115 ErrUnknownCharacterSet, 1064 for a type its parser lacks); the
// tests' TiDB-shaped target answers with them.
type Refusal struct {
	Statement string
	Reason    string
	Fix       string
	Code      uint16
	Message   string
}

// TiDB's error numbers the table answers with.
const (
	ErrParse                   = 1064
	ErrUnknownCharacterSet     = 1115
	ErrTxnTooLarge             = 8004
	ErrUnsupportedDDLOperation = 8200
)

// unsupported is one entry of the table that matched: why, the way out,
// and TiDB's own error.
type unsupported struct {
	reason, fix string
	code        uint16
	msg         string
}

func unsupportedDDL(reason, fix, what string) *unsupported {
	return &unsupported{reason: reason, fix: fix, code: ErrUnsupportedDDLOperation, msg: "Unsupported " + what}
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
	return AdaptParsed(v, stmt, nodes[0])
}

// AdaptParsed is AdaptDDL for a statement the caller has parsed already:
// node is stmt parsed (the applier's routed statement, schema.RouteStmt).
// It parses nothing and does not change node: what it leaves out, it
// leaves out of a copy of the statement's top.
func AdaptParsed(v Version, stmt string, node ast.StmtNode) (Adapted, error) {
	switch n := node.(type) {
	case *ast.CreateTableStmt:
		c := *n
		node = &c
	case *ast.AlterTableStmt:
		c := *n
		node = &c
	}
	refuse := func(u *unsupported) (Adapted, error) {
		return Adapted{}, &Refusal{Statement: stmt, Reason: u.reason, Fix: u.fix, Code: u.code, Message: u.msg}
	}
	var notes []string
	changed := false
	switch n := node.(type) {
	case *ast.CreateTableStmt:
		if u := unsupportedColumns(v, n.Cols); u != nil {
			return refuse(u)
		}
		if u := unsupportedOptions(v, n.Options); u != nil {
			return refuse(u)
		}
		if u := unsupportedPartitioning(v, n.Partition); u != nil {
			u.fix = "create the table on the target with partitioning TiDB supports (or none), then `dmnode task skip` this statement (or `dmnode task replace` it with that CREATE TABLE)"
			return refuse(u)
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
			return refuse(unsupportedDDL("TiDB does not support SPATIAL indexes", skipFix, "SPATIAL index"))
		}
	case *ast.AlterTableStmt:
		if spatialIndex.MatchString(stmt) {
			return refuse(unsupportedDDL("TiDB does not support SPATIAL indexes", skipFix, "SPATIAL index"))
		}
		var kept []*ast.AlterTableSpec
		for _, s := range n.Specs {
			if s.Tp == ast.AlterTableAddConstraint && s.Constraint != nil && s.Constraint.Tp == ast.ConstraintFulltext {
				notes = append(notes, fmt.Sprintf("FULLTEXT index %s left out: TiDB does not support FULLTEXT indexes", s.Constraint.Name))
				changed = true
				continue
			}
			if u := unsupportedSpec(v, s); u != nil {
				return refuse(u)
			}
			kept = append(kept, s)
		}
		if len(kept) == 0 {
			return Adapted{Notes: notes}, nil
		}
		n.Specs = kept
		if len(kept) > 1 && !v.AtLeast(6, 2, 0) {
			if !independent(kept) {
				return refuse(unsupportedDDL(fmt.Sprintf("TiDB %s runs one change per ALTER TABLE (several from v6.2.0), and these changes depend on each other", v),
					"run the changes on the target one by one, by hand, then `dmnode task skip` this statement; or upgrade TiDB to v6.2.0 or later",
					"multi schema change"))
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
	text, err := restore(node)
	if err != nil {
		return Adapted{Statements: []string{stmt}}, nil
	}
	return Adapted{Statements: []string{text}, Notes: notes}, nil
}

// spatialIndex finds a SPATIAL index in an ALTER TABLE, which the parser
// reads as a plain index.
var spatialIndex = regexp.MustCompile("(?i)\\bSPATIAL\\s+(INDEX|KEY)\\b")

const skipFix = "create what TiDB can hold on the target by hand, then `dmnode task skip` this statement (or `dmnode task replace` it with a statement TiDB accepts)"

// unsupportedColumns names the first column TiDB cannot create.
func unsupportedColumns(v Version, cols []*ast.ColumnDef) *unsupported {
	for _, c := range cols {
		if t := standInType(c); t != "" {
			// TiDB's parser has no such type: a syntax error.
			return &unsupported{reason: fmt.Sprintf("column %s has type %s, which TiDB lacks", c.Name.Name.O, strings.ToUpper(t)), fix: typeFix(t),
				code: ErrParse, msg: fmt.Sprintf("You have an error in your SQL syntax; check the manual that corresponds to your TiDB version for the right syntax to use near %q", strings.ToUpper(t))}
		}
		if c.Tp != nil && c.Tp.GetCharset() != "" && !charsetSupported(v, c.Tp.GetCharset()) {
			return charsetRefusal(fmt.Sprintf("column %s has character set %s, which TiDB %s lacks", c.Name.Name.O, c.Tp.GetCharset(), v), c.Tp.GetCharset())
		}
	}
	return nil
}

func charsetRefusal(reason, cs string) *unsupported {
	return &unsupported{reason: reason,
		fix:  "create the table on the target with utf8mb4 for it (dmnode converts the values exactly), then `dmnode task skip` this statement, or `dmnode task replace` it with the statement in utf8mb4",
		code: ErrUnknownCharacterSet, msg: fmt.Sprintf("Unknown character set: '%s'", cs)}
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

func unsupportedOptions(v Version, opts []*ast.TableOption) *unsupported {
	for _, o := range opts {
		if o.Tp == ast.TableOptionCharset && !charsetSupported(v, o.StrValue) {
			return charsetRefusal(fmt.Sprintf("the table's character set %s is one TiDB %s lacks", o.StrValue, v), o.StrValue)
		}
	}
	return nil
}

func unsupportedPartitioning(v Version, p *ast.PartitionOptions) *unsupported {
	if p == nil {
		return nil
	}
	if p.Sub != nil {
		return unsupportedDDL("TiDB does not support subpartitions", skipFix, "subpartitioning")
	}
	if p.Tp == ast.PartitionTypeKey && !v.AtLeast(7, 0, 0) {
		return unsupportedDDL(fmt.Sprintf("TiDB %s does not support KEY partitioning (from v7.0.0)", v), skipFix, "partition type KEY")
	}
	return nil
}

func unsupportedSpec(v Version, s *ast.AlterTableSpec) *unsupported {
	switch s.Tp {
	case ast.AlterTableAddColumns:
		if u := unsupportedColumns(v, s.NewColumns); u != nil {
			return u
		}
		for _, c := range s.NewColumns {
			for _, o := range c.Options {
				switch o.Tp {
				case ast.ColumnOptionAutoIncrement, ast.ColumnOptionPrimaryKey:
					return unsupportedDDL(fmt.Sprintf("TiDB cannot add column %s as AUTO_INCREMENT or PRIMARY KEY", c.Name.Name.O),
						"add the column on the target without that attribute (or rebuild the table there), then `dmnode task skip` this statement, or `dmnode task replace` it with that statement",
						fmt.Sprintf("add column '%s' constraint AUTO_INCREMENT or PRIMARY KEY", c.Name.Name.O))
				}
			}
		}
	case ast.AlterTableModifyColumn, ast.AlterTableChangeColumn:
		return unsupportedColumns(v, s.NewColumns)
	case ast.AlterTableOption:
		return unsupportedOptions(v, s.Options)
	case ast.AlterTablePartition:
		return unsupportedPartitioning(v, s.Partition)
	}
	return nil
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

// Refuses returns the error TiDB v answers when it is sent stmt as it is,
// by the table above: a Refusal, or, for an ALTER TABLE with several
// changes before v6.2.0 (which AdaptDDL splits), TiDB's "Unsupported
// multi schema change". Nil when the table has nothing against it. The
// tests' TiDB-shaped target refuses with it (actors/sqllog.go).
func Refuses(v Version, stmt string) *Refusal {
	a, err := AdaptDDL(v, stmt)
	var r *Refusal
	if errors.As(err, &r) {
		return r
	}
	if err == nil && len(a.Statements) > 1 {
		return &Refusal{Statement: stmt, Reason: fmt.Sprintf("TiDB %s runs one change per ALTER TABLE (several from v6.2.0)", v),
			Code: ErrUnsupportedDDLOperation, Message: "Unsupported multi schema change"}
	}
	return nil
}

package filter

import (
	"slices"

	"github.com/pingcap/tidb/pkg/parser/ast"
)

// DDLEvent is one part of a DDL statement as the event filter sees it: an
// event and the table (or, with Table empty, the database) it concerns.
type DDLEvent struct {
	// Event is DM's name for the part, as DM's replication classifies it;
	// it decides membership in "incompatible ddl changes".
	Event Event
	// Also lists further names a rule may list to select the part: "alter
	// table" for every part of an ALTER TABLE, and finer names such as
	// "add column" or "create index" (ALTER TABLE ... ADD INDEX).
	Also   []Event
	Schema string
	Table  string
}

// has reports whether the part is named e.
func (d *DDLEvent) has(e Event) bool {
	return d.Event == e || slices.Contains(d.Also, e)
}

// TableLookup returns the CREATE TABLE statement of an upstream table as it
// is before the statement being classified (for instance the schema
// tracker's Table.CreateSQL); ok is false when the table is unknown.
type TableLookup func(schema, table string) (createSQL string, ok bool)

// ClassifyDDL parses the text of a QUERY event, executed with default
// database currentDB, and returns the events of its parts, in order. It
// is ClassifyDDLWith without a table lookup, so every MODIFY or CHANGE
// COLUMN is classified as "modify column".
func ClassifyDDL(currentDB, stmt string) ([]DDLEvent, error) {
	return ClassifyDDLWith(currentDB, stmt, nil)
}

// ClassifyDDLWith is ClassifyDDL with the current definition of tables at
// hand: MODIFY and CHANGE COLUMN are then classified as DM does, by
// comparing the new column definition with the old one ("value range
// decrease", "precision decrease", "modify column", "rename column", ...,
// or "alter table" for a compatible change). Without the old definition
// (before nil, or the table or column unknown) they are "modify column".
//
// Each table a statement names yields its own part: DROP TABLE a, b two,
// RENAME TABLE a TO b the old and the new name, CREATE TABLE ... LIKE the
// new and the copied table. Each specification of an ALTER TABLE yields a
// part. Statements that are not DDL on tables or databases (GRANT,
// sequences, ...) yield none, as do DROP TEMPORARY TABLE and CREATE
// TEMPORARY TABLE. A statement the parser cannot read is an error wrapping
// ErrSyntax.
func ClassifyDDLWith(currentDB, stmt string, before TableLookup) ([]DDLEvent, error) {
	stmts, err := parse(stmt)
	if err != nil {
		return nil, err
	}
	return classifyNodes(currentDB, stmts, before), nil
}

// ClassifyNodes is ClassifyDDL for the statements a text was parsed into
// (core/schema.Stmt.Nodes, which are what ClassifyDDL parses), with no
// parse of its own. It does not change them.
func ClassifyNodes(currentDB string, stmts []ast.StmtNode) []DDLEvent {
	return classifyNodes(currentDB, stmts, nil)
}

func classifyNodes(currentDB string, stmts []ast.StmtNode, before TableLookup) []DDLEvent {
	var out []DDLEvent
	for _, s := range stmts {
		out = append(out, classifyStmt(currentDB, s, before)...)
	}
	return out
}

// classifyStmt classifies one statement, as DM's syncer does.
func classifyStmt(currentDB string, node ast.StmtNode, before TableLookup) []DDLEvent {
	table := func(e Event, tn *ast.TableName) DDLEvent {
		schema := tn.Schema.O
		if schema == "" {
			schema = currentDB
		}
		return DDLEvent{Event: e, Schema: schema, Table: tn.Name.O}
	}
	switch n := node.(type) {
	case *ast.CreateDatabaseStmt:
		return []DDLEvent{{Event: CreateDatabase, Schema: n.Name.O}}
	case *ast.DropDatabaseStmt:
		return []DDLEvent{{Event: DropDatabase, Schema: n.Name.O}}
	case *ast.AlterDatabaseStmt:
		d := DDLEvent{Event: AlterDatabase, Schema: n.Name.O}
		if n.AlterDefaultDatabase {
			d.Schema = currentDB
		}
		for _, o := range n.Options {
			if o.Tp == ast.DatabaseOptionCharset || o.Tp == ast.DatabaseOptionCollate {
				d.Also = []Event{ModifySchemaCharsetAndCollate}
			}
		}
		return []DDLEvent{d}
	case *ast.CreateTableStmt:
		if n.TemporaryKeyword != ast.TemporaryNone {
			return nil
		}
		out := []DDLEvent{table(CreateTable, n.Table)}
		if n.ReferTable != nil {
			out = append(out, table(CreateTable, n.ReferTable))
		}
		return out
	case *ast.DropTableStmt:
		if n.TemporaryKeyword != ast.TemporaryNone {
			return nil
		}
		e := DropTable
		if n.IsView {
			e = DropView
		}
		out := make([]DDLEvent, len(n.Tables))
		for i, tn := range n.Tables {
			out[i] = table(e, tn)
		}
		return out
	case *ast.TruncateTableStmt:
		return []DDLEvent{table(TruncateTable, n.Table)}
	case *ast.RenameTableStmt:
		var out []DDLEvent
		for _, tt := range n.TableToTables {
			out = append(out, table(RenameTable, tt.OldTable), table(RenameTable, tt.NewTable))
		}
		return out
	case *ast.CreateIndexStmt:
		return []DDLEvent{table(CreateIndex, n.Table)}
	case *ast.DropIndexStmt:
		return []DDLEvent{table(DropIndex, n.Table)}
	case *ast.CreateViewStmt:
		return []DDLEvent{table(CreateView, n.ViewName)}
	case *ast.AlterTableStmt:
		return classifyAlter(table(AlterTable, n.Table), n, before)
	}
	return nil
}

// classifyAlter classifies each specification of an ALTER TABLE; base is
// the table's plain "alter table" part.
func classifyAlter(base DDLEvent, n *ast.AlterTableStmt, before TableLookup) []DDLEvent {
	var out []DDLEvent
	for _, spec := range n.Specs {
		switch spec.Tp {
		case ast.AlterTableLock, ast.AlterTableAlgorithm:
			continue // clauses of the statement, not changes
		}
		d := base
		d.Event, d.Also = alterSpec(spec, base.Schema, base.Table, before)
		d.Also = append([]Event{AlterTable}, d.Also...)
		out = append(out, d)
		if spec.Tp == ast.AlterTableRenameTable && spec.NewTable != nil {
			to := d
			to.Schema, to.Table = spec.NewTable.Schema.O, spec.NewTable.Name.O
			if to.Schema == "" {
				to.Schema = base.Schema
			}
			out = append(out, to)
		}
	}
	if len(out) == 0 {
		out = append(out, base)
	}
	return out
}

// alterSpec returns DM's event for one ALTER TABLE specification and the
// further names dmnode gives it.
func alterSpec(spec *ast.AlterTableSpec, schema, table string, before TableLookup) (Event, []Event) {
	switch spec.Tp {
	case ast.AlterTableOption:
		return tableOptions(spec.Options)
	case ast.AlterTableAddColumns:
		return AlterTable, []Event{AddColumn}
	case ast.AlterTableAddConstraint:
		return ModifyConstraint, constraintNames(spec.Constraint)
	case ast.AlterTableModifyColumn, ast.AlterTableChangeColumn:
		return modifyColumn(spec, schema, table, before), nil
	case ast.AlterTableAlterColumn:
		return ModifyDefaultValue, []Event{SetDefaultValue}
	case ast.AlterTableDropForeignKey:
		return AlterTable, []Event{DropForeignKey}
	case ast.AlterTableAddPartitions:
		return AlterTable, []Event{AddTablePartition}
	case ast.AlterTablePartition:
		return AlterTable, []Event{AlterTablePartitioning}
	case ast.AlterTableRemovePartitioning:
		return AlterTable, []Event{RemovePartitioning}
	case ast.AlterTableIndexInvisible:
		return AlterTable, []Event{AlterIndexVisibility}
	case ast.AlterTableDropCheck, ast.AlterTableAlterCheck:
		return AlterTable, []Event{ModifyConstraint}
	}
	if e, ok := specEvents[spec.Tp]; ok {
		return e, nil
	}
	return AlterTable, nil
}

// specEvents are the specifications DM names by their type alone.
var specEvents = map[ast.AlterTableType]Event{
	ast.AlterTableDropColumn:          DropColumn,
	ast.AlterTableDropPrimaryKey:      DropPrimaryKey,
	ast.AlterTableDropIndex:           DropIndex,
	ast.AlterTableRenameColumn:        RenameColumn,
	ast.AlterTableRenameIndex:         RenameIndex,
	ast.AlterTableRenameTable:         RenameTable,
	ast.AlterTableDropPartition:       DropTablePartition,
	ast.AlterTableTruncatePartition:   TruncateTablePartition,
	ast.AlterTableReorganizePartition: ReorganizePartition,
	ast.AlterTableRebuildPartition:    RebuildPartition,
	ast.AlterTableCoalescePartitions:  CoalescePartition,
	ast.AlterTableExchangePartition:   ExchangePartition,
}

// tableOptions classifies ALTER TABLE table options: the first charset,
// collation or engine option decides, as in DM; other options are "alter
// table".
func tableOptions(opts []*ast.TableOption) (Event, []Event) {
	e := AlterTable
	var also []Event
	for _, o := range opts {
		var oe, extra Event
		switch o.Tp {
		case ast.TableOptionCharset:
			oe, extra = ModifyCharset, ModifyTableCharsetAndCollate
		case ast.TableOptionCollate:
			oe, extra = ModifyCollation, ModifyTableCharsetAndCollate
		case ast.TableOptionEngine:
			oe = ModifyStorageEngine
		case ast.TableOptionComment:
			extra = ModifyTableComment
		case ast.TableOptionAutoIncrement:
			extra = RebaseAutoID
		}
		if oe != "" && e == AlterTable {
			e = oe
		} else if oe != "" && !slices.Contains(also, oe) {
			also = append(also, oe)
		}
		if extra != "" && !slices.Contains(also, extra) {
			also = append(also, extra)
		}
	}
	return e, also
}

// constraintNames are the further names of ADD CONSTRAINT, which DM calls
// "modify constraint" whatever it adds.
func constraintNames(c *ast.Constraint) []Event {
	if c == nil {
		return nil
	}
	switch c.Tp {
	case ast.ConstraintPrimaryKey:
		return []Event{AddPrimaryKey, CreateIndex}
	case ast.ConstraintForeignKey:
		return []Event{AddForeignKey}
	case ast.ConstraintCheck:
		return nil
	}
	return []Event{CreateIndex} // KEY, INDEX, UNIQUE, FULLTEXT, SPATIAL
}

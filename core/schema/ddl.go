package schema

import (
	"fmt"

	"github.com/pingcap/tidb/pkg/parser/ast"
)

// DDLKind says what a statement given to Tracker.Apply is.
type DDLKind int

// Statement kinds. Skip is for statements that do not change data or table
// schemas (transactions, accounts, views, stored programs, table
// maintenance, temporary tables). Other is for statements the tracker does
// not model but that may change data or schemas: DML logged as a statement,
// ALTER DATABASE, sequences.
const (
	Skip DDLKind = iota
	CreateDatabase
	DropDatabase
	CreateTable
	DropTable
	TruncateTable
	RenameTable
	AlterTable
	CreateIndex
	DropIndex
	Other
)

var kindNames = [...]string{
	Skip: "skip", CreateDatabase: "create-database", DropDatabase: "drop-database",
	CreateTable: "create-table", DropTable: "drop-table", TruncateTable: "truncate-table",
	RenameTable: "rename-table", AlterTable: "alter-table", CreateIndex: "create-index",
	DropIndex: "drop-index", Other: "other",
}

func (k DDLKind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("DDLKind(%d)", int(k))
}

// TableRef names a table.
type TableRef struct {
	Schema string `json:"schema"`
	Name   string `json:"name"`
}

func (r TableRef) String() string { return r.Schema + "." + r.Name }

// DDL describes one applied statement.
type DDL struct {
	Kind DDLKind
	// Tables are the tables the statement affects, with the schema filled
	// in from the current database when the statement leaves it out:
	// RENAME TABLE lists old then new name for each pair, ALTER TABLE ...
	// RENAME the old then the new name, CREATE TABLE ... LIKE the new then
	// the source table, DROP DATABASE the tracked tables it dropped.
	Tables []TableRef
	// Schema is the database of CREATE/DROP/ALTER DATABASE.
	Schema string
	// SQL is the statement's text as given.
	SQL string
}

// Partitioning is what one ALTER TABLE does to partitions, read from one
// parse of its text: a caller that needs more than one of the answers
// below asks PartitioningOf once.
type Partitioning struct {
	// Maintenance: the statement maintains partitions (ADD, DROP,
	// TRUNCATE, COALESCE, REORGANIZE, EXCHANGE, REBUILD PARTITION,
	// PARTITION BY, REMOVE PARTITIONING).
	Maintenance bool
	// RemovesRows: DROP or TRUNCATE PARTITION, which remove rows without
	// row events in the binlog.
	RemovesRows bool
	// Exchanged is the table EXCHANGE PARTITION swaps rows with (run
	// twice, the statement swaps them back); nil for other statements.
	Exchanged *TableRef
}

// PartitioningOf reads what stmt, one ALTER TABLE executed with default
// database currentDB, does to partitions. Any other text does nothing to
// them.
func PartitioningOf(currentDB, stmt string) Partitioning {
	nodes, err := parseStatement(stmt)
	if err != nil {
		return Partitioning{}
	}
	return partitioningOf(currentDB, nodes)
}

// partitioningOf is PartitioningOf for the statements the text was parsed
// into, which it does not change.
func partitioningOf(currentDB string, nodes []ast.StmtNode) Partitioning {
	var p Partitioning
	if len(nodes) != 1 {
		return p
	}
	alter, ok := nodes[0].(*ast.AlterTableStmt)
	if !ok {
		return p
	}
	for _, s := range alter.Specs {
		switch s.Tp {
		case ast.AlterTableDropPartition, ast.AlterTableTruncatePartition:
			p.Maintenance, p.RemovesRows = true, true
		case ast.AlterTableExchangePartition:
			p.Maintenance = true
			if p.Exchanged == nil && len(s.NewTable.Name.O) > 0 {
				if ref, err := resolve(currentDB, s.NewTable); err == nil {
					p.Exchanged = &ref
				}
			}
		case ast.AlterTableAddPartitions, ast.AlterTableCoalescePartitions, ast.AlterTableReorganizePartition,
			ast.AlterTableRebuildPartition, ast.AlterTablePartition, ast.AlterTableRemovePartitioning:
			p.Maintenance = true
		}
	}
	return p
}

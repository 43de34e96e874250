package dmnode

// ChangeKind is the kind of a row change.
type ChangeKind uint8

const (
	Insert ChangeKind = iota + 1
	Update
	Delete
)

func (k ChangeKind) String() string {
	switch k {
	case Insert:
		return "insert"
	case Update:
		return "update"
	case Delete:
		return "delete"
	}
	return "unknown"
}

// RowChange is one changed row. Values are nil, int64, uint64, float32,
// float64, string or []byte; Before is empty for inserts and After for deletes.
type RowChange struct {
	Kind   ChangeKind
	Before []any
	After  []any
}

// TableID names an upstream table.
type TableID struct {
	Schema string
	Table  string
}

func (t TableID) String() string { return t.Schema + "." + t.Table }

// Change is one statement's effect inside a transaction: row changes of one
// table, or a DDL statement. It is self-describing: it carries the column
// names and key of the table at the moment of the change, so a reader needs
// no schema of its own.
type Change struct {
	Table   TableID
	Columns []string // column names, in row value order (DML only)
	Key     []int    // indexes into Columns identifying a row; empty: all columns
	Rows    []RowChange

	// DDL is the statement text for a schema change; Rows is then empty.
	// Table names the table it affects (Table.Table is empty for database
	// statements) and DDLSchema is the session's default database.
	DDL       string
	DDLSchema string
	// DDLInfo is the typed form of DDL, read once by the tailer where it
	// met the statement; nil on a change relayed by an older version, or
	// when the text could not be read (the reader then reads it itself).
	DDLInfo *DDLInfo
}

// DDLInfo says what a DDL statement is, as a reader that knows no table
// reads it (core/schema.Describe): later stages use it instead of parsing
// the text again.
type DDLInfo struct {
	Kind   string    // the statement's kind, core/schema.DDLKind's name
	Schema string    // the database of CREATE/DROP/ALTER DATABASE
	Tables []TableID // the tables it names, as core/schema.DDL.Tables
	// What an ALTER TABLE does to partitions (core/schema.Partitioning).
	PartitionMaintenance bool
	RemovesPartitionRows bool
	Exchanged            *TableID
	// Events are the statement's parts as the binlog event filter
	// classifies them (core/filter.ClassifyDDL); Classified says they
	// were read. A change relayed by an older version, or a text the
	// filter cannot read, has none: its reader classifies the text.
	Events     []DDLEvent
	Classified bool
}

// DDLEvent is one part of a DDL statement as the binlog event filter sees
// it (core/filter.DDLEvent): the event, further names a rule may select it
// by, and the table (or, with Table empty, the database) it concerns.
type DDLEvent struct {
	Event  string
	Also   []string
	Schema string
	Table  string
}

// Txn is one upstream transaction (or one DDL statement, which commits alone).
type Txn struct {
	Changes []Change
	// End is the position just after the transaction's commit event: a
	// reader that has applied this Txn resumes at End.
	End Position
	// Time is the upstream commit time, in Unix seconds.
	Time uint32
}

// Batch is the unit the tailer publishes to a source's stream: consecutive
// whole transactions. Batches never split a transaction.
type Batch struct {
	Txns []Txn
}

// End returns the position after the batch's last transaction.
func (b *Batch) End() Position {
	if len(b.Txns) == 0 {
		return Position{}
	}
	return b.Txns[len(b.Txns)-1].End
}

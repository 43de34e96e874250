package schema

// Column is one column of an upstream table as the tracker knows it.
type Column struct {
	Name     string `json:"name"`
	Type     string `json:"type"` // lower-case base type: "bigint", "varchar", "enum", ...
	Unsigned bool   `json:"unsigned,omitempty"`
	Nullable bool   `json:"nullable,omitempty"`
	// Bits is the storage width of integer types (8, 16, 24, 32, 64); 0 otherwise.
	Bits int `json:"bits,omitempty"`
	// Charset is the lower-case charset of character columns (char,
	// varchar, text types, enum, set), "binary" for binary strings and
	// blobs, and empty for other types or when the statement leaves it to
	// the database default, which the tracker does not know. The parser
	// calls utf8mb3 "utf8".
	Charset string `json:"charset,omitempty"`
	// Generated is set for columns computed by the server (GENERATED
	// ALWAYS AS ...): they cannot be written.
	Generated bool `json:"generated,omitempty"`
}

// Table is the tracked schema of one upstream table at some binlog
// position: dmnode's one model of a table. Columns and Key are what row
// events need; Def is the full definition; CreateSQL is the same table as
// a statement. All three are filled from one parse of a CREATE TABLE
// (ParseCreateTable, the Tracker).
type Table struct {
	Schema  string   `json:"schema"`
	Name    string   `json:"name"`
	Columns []Column `json:"columns"`
	// Key holds the indexes into Columns of the row identity: the primary
	// key, else the first unique key whose columns are all NOT NULL, else
	// empty (the row is identified by all its columns).
	Key []int `json:"key,omitempty"`
	// CreateSQL is a CREATE TABLE statement equivalent to the current schema.
	CreateSQL string `json:"create_sql"`
	// Def is the table's full definition (columns with their declared
	// types, defaults, charsets and collations; indexes), filled where
	// CreateSQL was parsed and never modified. It is not stored: a table
	// read back from a record has none, and Definition parses CreateSQL
	// once then. Storing it would double every stored table version
	// (a 4,096-column table would pass a megabyte, one NATS message).
	Def *Definition `json:"-"`
}

// ColumnNames returns the names of the table's columns in order.
func (t *Table) ColumnNames() []string {
	names := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		names[i] = c.Name
	}
	return names
}

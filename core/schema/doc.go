// Package schema tracks the schemas of upstream tables through the DDL of a
// binlog, and derives the CREATE TABLE statements of target tables.
//
// Table is dmnode's one model of a table. One parse of a CREATE TABLE
// (ParseCreateTable, or the Tracker applying DDL) fills all of it: the
// columns as row events need them (Columns, Key), the full definition as
// a comparison of two tables needs it (Def: declared types, lengths,
// charsets and collations, defaults, indexes; see Definition), and an
// equivalent statement (CreateSQL). core/shardddl's locks work on
// Definition, the schema history and the dump plans store Table without
// Def (it would double each record). A Table in memory carries the
// definition of the parse that made it; one decoded from a record reads
// it from CreateSQL once (Table.Definition).
//
// A Tracker starts from the tables' CREATE TABLE statements (ParseCreateTable
// on the output of SHOW CREATE TABLE, or a restored snapshot) and applies the
// text of every QUERY event with Apply, which says what the statement was
// (DDL) and keeps each Table current: its columns as row events need them,
// its row identity (Key) and an equivalent CREATE TABLE statement
// (CreateSQL). The tracker is a pure state machine: no database, no clock.
// Told the databases' default charsets (SetDatabaseCharset) and the server
// flavor (SetFlavor), it also knows the charset of every character column.
// TargetCreateTable derives the table a target creates for merged shards.
//
// Statements are parsed with the TiDB parser. What it lacks is smoothed over
// before parsing: statements that are not DDL on data (accounts, stored
// programs, XA, table maintenance...) are recognised from their first words
// and skipped unparsed; MariaDB's CREATE OR REPLACE and ALTER ONLINE are
// rewritten; charsets and collations TiDB does not support (cp1251,
// utf8mb4_uca1400_ai_ci...) are registered with the parser; and when a
// statement still fails, words that change no column or key (INVISIBLE,
// IGNORED, WITH SYSTEM VERSIONING, COMPRESSED...) are dropped and types the
// parser lacks (spatial types, UUID, INET4, INET6) are parsed through a
// stand-in, keeping their names in Column.Type and CreateSQL; the target
// table holds UUID, INET4 and INET6 values as their text.
//
// DecodeText turns a character value's bytes, in its column's charset, into
// the UTF-8 text a utf8mb4 connection reads for it (MySQL's latin1, the
// cp125x and ISO 8859 families, the CJK charsets, ucs2/utf16/utf32), or
// says it cannot do so exactly; EncodeText is its inverse.
package schema

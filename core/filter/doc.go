// Package filter is TiDB DM's binlog event filter: rules that let through,
// skip or stop on row changes and DDL statements of chosen tables, by
// event type (insert, drop column, incompatible ddl changes...) and, for
// DDL, by regular expressions over the statement text.
//
// New compiles the rules of one task for one source (the task's filters the
// instance lists, then the source's own). Filter.DML decides about a row
// change, Filter.DDL and DDLWith about the text of a QUERY event, which
// ClassifyDDL parses with the tidb parser and splits into parts, one per
// table and per ALTER TABLE specification, each named as DM's replication
// names it.
//
// # Decisions
//
// A rule covers a table when its schema-pattern and table-pattern match
// (patterns as in package pattern); a rule without table-pattern covers
// every table of the schema and the schema itself. Every covering rule
// gives a verdict:
//
//   - Do is an allow list: the event is skipped unless the rule's events
//     select it and, for DDL when the rule has a sql-pattern, the pattern
//     matches the statement;
//   - Ignore skips the event when its events select it or its sql-pattern
//     matches;
//   - Error stops the task on the same condition.
//
// Ignore beats Error, which beats Do. A DDL statement with several parts is
// stopped when a part is, else skipped as a whole when any part is: dmnode
// applies or skips a statement, it does not rewrite it (DM splits the
// statement and applies the parts that pass).
//
// The events list is read as DM reads it: "all", "all dml", "all ddl",
// "incompatible ddl changes" select groups, "none", "none dml" and "none
// ddl" select nothing of their group, and the first group word that applies
// decides. Each part has DM's name (Event) and, in dmnode only, further
// names (Also): "alter table" for every part of an ALTER TABLE, "create
// index" for ALTER TABLE ... ADD INDEX, "add column", and so on, so that a
// rule listing "alter table" selects every ALTER TABLE.
//
// Statements that change no table or database (transactions, accounts,
// stored programs, views, ...) are skipped by the schema tracker before the
// filter, as DM skips them before its filter; see core/schema.
//
// The package is pure; Filter values are immutable and safe for concurrent
// use.
package filter

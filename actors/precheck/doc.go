// Package precheck checks a task against its sources and its target before
// any data moves, with TiDB DM's precheck items (config.CheckingItems):
// binlog settings, server version and server_id, the privileges the
// dumper, the tailer and the applier use (read from SHOW GRANTS),
// connection limits, tables without a key, the schemas of merged tables
// and their auto-increment keys, the start position of an incremental task
// and the columns of pre-created target tables.
//
// The table checks read the tables as the servers report them now, from
// information_schema, in a few queries for the whole task (tableInfo);
// dmnode's model of a table definition is core/schema's Table, used here
// for a table's schema at a past start position.
//
// Every check returns Findings: an error blocks the task, a warning does
// not, and each says the exact fix (the GRANT to run, the variable to set
// and where). A task's ignore-checking-items skips items as in DM.
package precheck

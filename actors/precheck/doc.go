// Package precheck checks a task against its sources and its target before
// any data moves, with TiDB DM's precheck items (config.CheckingItems):
// binlog settings, server version and server_id, the privileges the
// dumper, the tailer and the applier use (read from SHOW GRANTS),
// connection limits, tables without a key, the schemas of merged tables
// and their auto-increment keys, the start position of an incremental task
// and the columns of pre-created target tables.
//
// Every check returns Findings: an error blocks the task, a warning does
// not, and each says the exact fix (the GRANT to run, the variable to set
// and where). A task's ignore-checking-items skips items as in DM.
package precheck

// Package dmnode holds the vocabulary shared by every part of dmnode: binlog
// positions, row-change events and the batches the tailer publishes.
//
// dmnode migrates MySQL/MariaDB estates into TiDB or any MySQL-protocol
// target: a consistent full copy, then continuous binlog replication, merging
// tables sharded across many upstream instances into one downstream table.
//
// A dmnode process (package node) embeds a NATS server with JetStream and a
// Raft member whose finite state machine holds the catalog: sources, tasks,
// their desired state and the placement of every actor. The leader turns
// tasks into actors (package actors):
//
//	dumper(task,source)  consistent snapshot, rows in primary-key chunks ──▶ stream SNAPSHOT_<task>__<source>
//	loader(task,source)  SNAPSHOT_<task>__<source> ──▶ target, idempotent REPLACE, chunk by chunk
//	tailer(source)       binlog ──▶ stream BINLOG_<source>, the relay log shared by tasks
//	applier(task,source) BINLOG_<source> ──▶ target, stream position committed with the rows
//
// Actors never call each other. They read and write JetStream streams and keep
// their checkpoints in a JetStream KV bucket (package jetstream), or, for the
// applier, in the target in the same transaction as the rows, so any actor
// can be restarted anywhere and continue where it stopped. The rules of a task
// (package core/...) are pure: configuration decoding, routing, column mapping,
// schema tracking and SQL generation have no I/O and no clock.
package dmnode

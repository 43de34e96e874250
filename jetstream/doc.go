// Package jetstream is the only part of dmnode that knows JetStream's API
// shapes: the names of streams, subjects and the checkpoint bucket, their
// definitions, the binary event codec, and fenced checkpoint reads and writes.
//
// Streams:
//
//	BINLOG_<source>   subject dmnode.binlog.<source>          the relay log of one source:
//	                                                          batches of whole transactions,
//	                                                          or one transaction's parts
//	SNAPSHOT_<task>__<source>  subject dmnode.snapshot.<task>.<source>
//	                  a work queue of one source's dumped row chunks (a copy
//	                  begun by an earlier release goes on in its stream
//	                  SNAPSHOT_<task>, subjects dmnode.snapshot.<task>.*)
//
// With a deployment name (SetDeployment, the CLI's --deployment) every
// stream and the bucket are named NAME_…, every subject NAME.…, so that
// deployments share a NATS account without collision.
//
// Nothing has a size limit: a transaction larger than a message travels as
// a sequence of parts, and a message larger than the payload limit as
// fragments (parts.go).
//
// Checkpoints live in the KV bucket dmnode_checkpoints. Every write is a
// compare-and-set on the key's revision, so a stale incarnation of an actor
// that lost its assignment gets ErrFenced instead of overwriting progress.
// Every key of the bucket is built in keys.go, which tables the key space.
// An actor's checkpoint is its own; what crosses from one actor to another
// is a record of records.go, kept readable across versions:
//
//	start.<source>               SourceStart   dumper → tailer: where the source's relay starts
//	progress.tail.<source>       TailProgress  tailer → appliers, status: how far the relay reaches
//	relaystart.<source>          Position      retention → appliers: the relay's first transaction
//	dumpschemas.<task>.<source>  DumpSchemas   dumper → loader: where the schemas of the dump's
//	                                           tables are (versions of the schema history)
//
// The actors see none of this: they use the interfaces of boundary.go
// (Relay, SnapshotQueue, CheckpointStore, SchemaStore, together Stores),
// which Store implements over JetStream (jsboundary.go) and package
// memstore in memory for unit tests. Package storetest is their contract,
// run against both.
//
// The schema history (SchemaStore, schemas.go) lives in the same bucket
// under keys of its own, one per table and version: the tailer records every
// table version as it tracks DDL, and each actor reads the version in force
// at its own position.
package jetstream

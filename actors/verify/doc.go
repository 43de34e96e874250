// Package verify compares the tables of a task's sources with its target,
// with the task's rules applied, and reports per target table the rows
// compared, missing, extra and different, with samples of their keys. It is
// `dmnode task verify` and the oracle of the end-to-end tests.
//
// # What is compared
//
// The upstream tables are those the dumper copies: every base table of
// every source that the block/allow list admits and that is not the
// shadow or trash table of an online schema change tool. They are grouped
// by the target table their route leads to; a merged target table is
// checked against the union of its shards. Tables are enumerated once,
// when a verification starts.
//
// Every upstream row is read in primary key order, chunk by chunk, and
// turned into the target row it should be with the table's plan (routes,
// extracted columns, column mapping): its key becomes the target key
// (mapped id, extracted values). The values of the other columns are not
// carried: each server computes an MD5 digest of them with the same SQL
// expression (text columns converted to utf8mb4, binary columns in hex,
// NULLs in a bitmap), so only keys and digests cross the network. The value
// of a mapped column outside the key is fetched and compared after mapping.
//
// For each chunk the target's rows for the expected keys are fetched and
// compared row by row (missing: no target row; different: another
// digest). With Options.Fast the target is asked first for one checksum
// over the expected keys, the row count and the XOR of the row digests,
// and its rows are fetched only when it differs, to name the keys.
//
// Extra target rows, which no upstream row maps to, are found by a second
// pass over the target table's keys: for each key, every upstream table of
// the target that could have produced it (Unapply: the extracted values
// match and the mapped id lies in the table's partition id range) is asked
// whether it holds the upstream key. A key no upstream table holds is
// extra. This works for every kind of merge, costs one read of every key
// on both sides, and keeps memory bounded by one chunk. Rows of the target
// table written by anything else than this task count as extra.
//
// Rows dropped by an insert expression filter are not compared on either
// side: the full copy keeps them, the binlog drops them, so the target may
// or may not hold them (they are counted as filtered). Binlog event filters
// and update or delete expression filters leave intended differences that
// verify cannot tell from real ones; the report notes them per table.
// Tables without a primary key or a unique key on NOT NULL columns are
// compared as multisets of rows (keyless.go); tables whose target table is
// missing are skipped, with the reason; a skipped table is not equal.
//
// Keys are compared byte for byte on their text form, so a target key that
// differs from the upstream one only in letter case or trailing spaces,
// which a case-insensitive collation treats as equal, shows as one missing
// and one extra row.
//
// # While replication runs: one position per step
//
// Each step reads every side at one point (snapshot.go): every applier of
// the task stops before its next transaction; each source's consistent
// snapshot is taken with the binlog position P it reflects; each applier
// applies up to P and holds there while the target's consistent snapshot
// is taken; then the appliers go on (a pause of milliseconds: see
// actors/hold.go for the protocol and why the applier, not the source's
// writes, is held). Every chunk of the step is read through these
// snapshots, so a row reported different, missing or extra differed at
// that position: no false alarm, no recheck. Chunks of different steps
// are compared at different positions; each is exact at its own. The
// report gives the positions of the last step. A paused or stopped task's
// appliers are not held: its target is compared as it stands, so
// changes the paused replication has not applied show as differences.
// Schema changes between steps make the digests of the affected tables
// differ until the target has them.
//
// # Resuming
//
// Verification proceeds in steps (Step): each works for about
// Options.StepTime, then returns a State holding the report so far and,
// per upstream table and per target table, the key of the last row
// verified. The caller keeps the state and passes it back; the CLI sends
// it with each request to whichever node answers and writes it to its
// --state file after every step, so a verification interrupted anywhere
// resumes after the last verified chunk. A state refuses to resume on
// another version of the task. Nothing is kept on the node.
package verify

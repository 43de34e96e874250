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
// For each chunk the target is asked first for one checksum over the
// expected keys: the row count and the XOR of the row digests. Only when it
// differs are the target's rows for those keys fetched, to tell missing
// keys (no target row) from different ones (another digest).
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
// skipped, with the reason, as are tables whose target table is missing;
// a skipped table is not equal.
//
// Keys are compared byte for byte on their text form, so a target key that
// differs from the upstream one only in letter case or trailing spaces,
// which a case-insensitive collation treats as equal, shows as one missing
// and one extra row.
//
// # While replication runs
//
// There is no single point in time at which source and target can be read:
// the target trails the source by the replication lag. Each chunk is read
// on the source first and then on the target, so a caught-up target
// matches. A chunk that differs is read again, Options.Rechecks times,
// Options.RecheckWait apart, and only the rows that still differ after the
// last re-read are reported; a chunk that came right counts as "converged
// after N rechecks". Candidate extra rows are rechecked the same way. So:
//
//   - a row reported equal was, at the moment it was read, what the source
//     held a moment earlier;
//   - a row reported different, missing or extra differed in every one of
//     Rechecks+1 reads over at least Rechecks × RecheckWait. Rows that change
//     faster than that, or a lag longer than that, can be reported although
//     replication would have caught up: a false alarm, never a false "equal".
//     For a verdict that cannot be a false alarm, stop writes to the sources
//     (or wait until the task's lag is 0 with writes paused) and verify then;
//   - rows inserted into a chunk's key range after the chunk was read are
//     not compared, and schema changes during a verification make the
//     digests of the affected tables differ until both sides have them.
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

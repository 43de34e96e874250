// Package bench is dmnode's side-by-side pipeline benchmark, run by
// `make bench`. It starts its own MariaDB servers on loopback ports (three
// sources and a target) and real dmnode processes, and measures, each on the
// same data for every contender:
//
//   - full: a full copy of three sysbench-shaped shards merged into one
//     target table, by dmnode (task-mode full), by mydumper then myloader,
//     and by a plain client's multi-row INSERTs (the target's ceiling);
//   - fanin: dmnode's full copy from one, two and three sources;
//   - incr: catch-up of a binlog backlog of mixed transactions, by dmnode
//     and by a MariaDB replica with optimistic parallel replication;
//   - bigtxn: one transaction of 300k rows (INSERT ... SELECT), by dmnode
//     (sent in parts, applied as one target transaction) and by a MariaDB
//     replica;
//   - steady: replication lag under a constant write rate;
//   - failover: a three-node cluster losing the node that runs a tailer.
//
// Every run ends by comparing per-table checksums of sources and target.
// The benchmark is a test (TestBench) that runs only when DMNODE_BENCH=1;
// the BENCH* environment variables in config_test.go select workloads and
// scale. Results are printed as a table and written as JSON to
// bench/results/ at the module root.
package bench

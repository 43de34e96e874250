// Package shardddl coordinates the DDL of sharded tables merged into one
// target table (a task's shard-mode), as TiDB DM's pessimistic and
// optimistic modes do. It is pure: no I/O, no clock; every method is
// deterministic and a Manager serialises to JSON, so the locks can live in
// the Raft catalog and survive a leader change or a restart.
//
// # Pieces
//
// Every upstream table (a Member: source, schema, table) routed to the
// same target table is in that table's group; the group's state is its
// lock, named LockID(task, target). A Manager holds the locks of one task.
//
// Pessimistic: a DDL from one member holds that member's changes to the
// target table (the others go on) until every member of the group has
// arrived at the same DDL; it is then executed once, by one member, and
// every member goes on. Members that arrive with a different DDL get a
// Conflict naming both DDLs. A member's later DDLs queue behind its first.
//
// Optimistic: DML is never held for compatible changes. The lock keeps each
// member's schema and the join of them all — the target's schema — and
// answers every DDL with the statements that move the target to the new
// join (often none). ADD COLUMN runs at once; DROP COLUMN when the last
// member has dropped the column; widening type changes run as the join;
// ADD INDEX when the last member has the index, DROP INDEX at once.
// Renames, narrowing or incompatible type changes, a column added with
// different types, a NOT NULL column without default added while other
// members lack it, primary key changes and adding back a partly dropped
// column are conflicts: the member is held at its DDL (a Conflict outcome
// naming members and columns) until every member makes the same change —
// the change then runs once — or an operator unlocks it. See join.go for
// the join rules.
//
// # How a caller drives it
//
// The Manager lives in the catalog; every mutating call below is a Raft
// command applied on every replica, and its return value is the command's
// response. Read-only calls (Locks) may run on any replica.
//
//  1. Registration. When an applier (task, source) starts replicating, it
//     calls Register with every upstream table of its source the task
//     routes to a merged target table, and, in optimistic mode, each
//     table's current definition from its schema tracker
//     (schema.Table.Definition). No DDL
//     is coordinated until every source given to NewManager has
//     registered: a lock must know its whole group. On CREATE TABLE of a
//     routed table the applier calls Join; on DROP TABLE (not executed on
//     the target) Leave. TRUNCATE TABLE is not coordinated: skip it. When a
//     source leaves the task, the leader calls Register(source, nil).
//
//  2. Arrive. When the applier meets a DDL on a member at a transaction
//     boundary, it routes each statement (schema.RouteDDL), normalises it
//     (Normalize) and calls Arrive with the event's position (and, in
//     optimistic mode, the member's definition after the DDL from its
//     tracker). The outcome says:
//
//     Wait: hold the member's changes to the target table at this DDL.
//     Conflict: the same, and report Outcome.Conflict (an error) in the
//     task's status; it ends when the other shards make the same change,
//     or by Unlock. Ask again, with the same position, later: when the
//     catalog's lock changes or on a short timer. The answer is the same
//     until the lock moves.
//     Execute: run Outcome.Exec on the target in order (a replay may meet
//     "duplicate column/key" or "can't drop": already done), then call Done
//     with the same position; then go on past the DDL.
//     Skip: run nothing; go on past the DDL.
//
//     Holding a member must not stop the applier's other tables: two
//     tables of one source can be in the same group, and the second one's
//     DDL comes later in the same binlog. The applier keeps reading,
//     drops the held member's later events (it may Arrive their DDLs:
//     they queue), and does not commit a checkpoint past the first held
//     position. When the member may go on, the applier rewinds to that
//     position and replays the skipped events of the released members
//     only, in safe mode, up to where it was (DM's re-sync). A restart
//     does the same from the checkpoint: Arrive is idempotent, so the
//     replay meets the same answers — a DDL already done is Skip, an
//     Execute not yet reported Done is Execute again.
//
//  3. Done. After the target accepted Outcome.Exec, the executing member
//     calls Done. In pessimistic mode that releases every member that
//     arrived: their next Arrive for the DDL answers Skip, so DML of a held
//     member resumes only after the DDL is on the target. In optimistic
//     mode another member's DDL waits (Wait) while one is being executed.
//
//  4. Ways out. Locks lists what every target table waits on (target, DDL,
//     members arrived, missing, conflicting) for `dmnode task ddl-locks`;
//     Unlock resolves a lock by hand for `dmnode task ddl-lock unlock`
//     (exec or skip, see Unlock).
//
// # Tables
//
// The locks keep and compare table definitions as core/schema models
// them (schema.Definition, the Def of a schema.Table, filled when the
// tracker parses the table's CREATE TABLE): this package has no table
// model of its own and parses no CREATE TABLE. model.go compares
// definitions and prints them as the clauses of the ALTER TABLE
// statements it hands out.
//
// Errors are permanent (errors.Is with ErrInvalid, ErrNotMember, ErrNoLock,
// ErrOutOfOrder, ErrMismatch, ErrNotOwner): the applier stops with them.
package shardddl

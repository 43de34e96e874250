package catalog

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/dmnode/dmnode/core/schema"
	"github.com/dmnode/dmnode/core/shardddl"
)

func shardCmd(op ShardOp) Command { return Command{Op: OpShardDDL, Shard: &op} }

func exec(t *testing.T, s *State, c Command) Result {
	t.Helper()
	r, err := s.Exec(c)
	if err != nil {
		t.Fatalf("exec %s %s: %v", c.Op, c.Shard.Kind, err)
	}
	return r
}

// roundTrip serialises the catalog as a snapshot does.
func roundTrip(t *testing.T, s *State) *State {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	n := New()
	if err := json.Unmarshal(b, n); err != nil {
		t.Fatal(err)
	}
	return n
}

// A pessimistic lock over two sources: held until both arrive, executed
// once, and it survives a snapshot and restore at every step.
func TestShardDDLPessimistic(t *testing.T) {
	s := newTaskState(t, ModeAll)
	target := schema.TableRef{Schema: "tgt", Name: "t"}
	for _, src := range []string{"s1", "s2"} {
		m := shardddl.Member{Source: src, Schema: "db", Table: "t1"}
		exec(t, s, shardCmd(ShardOp{Kind: ShardRegister, Task: "t", Source: src, Mode: shardddl.Pessimistic,
			Tables: []shardddl.Registration{{Member: m, Target: target}}}))
		s = roundTrip(t, s)
	}
	arrive := func(src string) *shardddl.Outcome {
		m := shardddl.Member{Source: src, Schema: "db", Table: "t1"}
		r := exec(t, s, shardCmd(ShardOp{Kind: ShardArrive, Task: "t", Member: m,
			Arrival: &shardddl.Arrival{Pos: shardddl.Position{Binlog: pos("bin.000001", 100)}, DDLs: []string{"ALTER TABLE `tgt`.`t` ADD COLUMN `c` INT"}}}))
		return r.Outcome
	}
	if o := arrive("s1"); o == nil || o.Action != shardddl.Wait {
		t.Fatalf("first arrival: %+v", o)
	}
	s = roundTrip(t, s)
	if locks := s.ShardDDL["t"].Manager.Locks(); len(locks) != 1 || len(locks[0].Missing) != 1 {
		t.Fatalf("locks: %+v", locks)
	}
	if o := arrive("s2"); o.Action != shardddl.Execute {
		t.Fatalf("second arrival: %+v", o)
	}
	exec(t, s, shardCmd(ShardOp{Kind: ShardDone, Task: "t", Member: shardddl.Member{Source: "s2", Schema: "db", Table: "t1"},
		Pos: shardddl.Position{Binlog: pos("bin.000001", 100)}}))
	if o := arrive("s1"); o.Action != shardddl.Skip {
		t.Fatalf("s1 after done: %+v", o)
	}
	// A failed command changes nothing.
	_, err := s.Exec(shardCmd(ShardOp{Kind: ShardArrive, Task: "t", Member: shardddl.Member{Source: "s3", Schema: "db", Table: "x"},
		Arrival: &shardddl.Arrival{Pos: shardddl.Position{Binlog: pos("bin.000001", 1)}, DDLs: []string{"x"}}}))
	if !errors.Is(err, shardddl.ErrNotMember) {
		t.Fatalf("unknown member: %v", err)
	}
}

// A rejected DDL: the decision needs a rejection, restarts the applier,
// and is consumed once.
func TestRejectedDDLDecision(t *testing.T) {
	s := newTaskState(t, ModeAll)
	mustApply(t, s, Command{Op: OpAssign, Assign: map[string]string{"apply/t/s1": "n1"}})
	epoch := s.Assign["apply/t/s1"].Epoch
	skip := shardCmd(ShardOp{Kind: ShardDecide, Task: "t", Source: "s1", Decision: &Decision{Action: DecideSkip}})
	if _, err := s.Exec(skip); !errors.Is(err, ErrNotFound) {
		t.Fatalf("decision without rejection: %v", err)
	}
	exec(t, s, shardCmd(ShardOp{Kind: ShardReject, Task: "t", Source: "s1",
		Rejected: &RejectedDDL{Pos: pos("bin.000001", 7), Stmts: []string{"ALTER x"}, Error: "no"}}))
	exec(t, s, skip)
	if d := s.Rejections["t"].Decisions["s1"]; d == nil || d.Pos != pos("bin.000001", 7) || s.Assign["apply/t/s1"].Epoch <= epoch {
		t.Fatalf("decision %+v, assignment %+v", d, s.Assign["apply/t/s1"])
	}
	s = roundTrip(t, s)
	exec(t, s, shardCmd(ShardOp{Kind: ShardConsume, Task: "t", Source: "s1", Pos: shardddl.Position{Binlog: pos("bin.000001", 7)}}))
	if len(s.Rejections) != 0 {
		t.Fatalf("rejections left: %+v", s.Rejections)
	}
}

// Quarantined tables: one rejection per table of a source, each decided
// on its own; a decision names the table.
func TestQuarantinedTableDecision(t *testing.T) {
	s := newTaskState(t, ModeAll)
	mustApply(t, s, Command{Op: OpAssign, Assign: map[string]string{"apply/t/s1": "n1"}})
	for i, tbl := range []string{"db.a", "db.b"} {
		exec(t, s, shardCmd(ShardOp{Kind: ShardReject, Task: "t", Source: "s1",
			Rejected: &RejectedDDL{Table: tbl, Pos: pos("bin.000001", uint32(10+i)), Stmts: []string{"ALTER x"}, Error: "no"}}))
	}
	if n := len(s.Rejections["t"].Rejected); n != 2 {
		t.Fatalf("want 2 quarantined tables, got %d", n)
	}
	if _, err := s.Exec(shardCmd(ShardOp{Kind: ShardDecide, Task: "t", Source: "s1", Decision: &Decision{Action: DecideSkip}})); !errors.Is(err, ErrNotFound) {
		t.Fatalf("decision naming no quarantined table: %v", err)
	}
	exec(t, s, shardCmd(ShardOp{Kind: ShardDecide, Task: "t", Source: "s1", Decision: &Decision{Table: "db.b", Action: DecideReplace, SQL: []string{"ALTER y"}}}))
	if d := s.Rejections["t"].Decisions[RejectionKey("s1", "db.b")]; d == nil || d.Pos != pos("bin.000001", 11) {
		t.Fatalf("decision %+v", d)
	}
	exec(t, s, shardCmd(ShardOp{Kind: ShardConsume, Task: "t", Source: "s1", Pos: shardddl.Position{Binlog: pos("bin.000001", 11)}}))
	rj := s.Rejections["t"]
	if len(rj.Rejected) != 1 || rj.Rejected[RejectionKey("s1", "db.a")] == nil || len(rj.Decisions) != 0 {
		t.Fatalf("after consuming db.b: %+v %+v", rj.Rejected, rj.Decisions)
	}
}

// An unlock retried with the same idempotency key applies once.
func TestShardUnlockOnce(t *testing.T) {
	s := newTaskState(t, ModeAll)
	target := schema.TableRef{Schema: "tgt", Name: "t"}
	for _, src := range []string{"s1", "s2"} {
		exec(t, s, shardCmd(ShardOp{Kind: ShardRegister, Task: "t", Source: src, Mode: shardddl.Pessimistic,
			Tables: []shardddl.Registration{{Member: shardddl.Member{Source: src, Schema: "db", Table: "t1"}, Target: target}}}))
	}
	exec(t, s, shardCmd(ShardOp{Kind: ShardArrive, Task: "t", Member: shardddl.Member{Source: "s1", Schema: "db", Table: "t1"},
		Arrival: &shardddl.Arrival{Pos: shardddl.Position{Binlog: pos("bin.000001", 100)}, DDLs: []string{"ALTER TABLE `tgt`.`t` ADD COLUMN `c` INT"}}}))
	id := shardddl.LockID("t", target)
	unlock := shardCmd(ShardOp{Kind: ShardUnlock, Task: "t", Lock: id, Unlock: &shardddl.UnlockOptions{Action: shardddl.UnlockSkip}})
	unlock.ID = "op-1"
	exec(t, s, unlock)
	if locks := s.ShardDDL["t"].Manager.Locks(); len(locks) != 0 {
		t.Fatalf("locks after unlock: %+v", locks)
	}
	exec(t, s, unlock) // a retry: no error although nothing is held any more
	unlock.ID = "op-2"
	if _, err := s.Exec(unlock); !errors.Is(err, shardddl.ErrNoLock) {
		t.Fatalf("a second unlock: %v", err)
	}
}

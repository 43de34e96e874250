package catalog

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/dmnode/dmnode/core/schema"
	"github.com/dmnode/dmnode/core/shardddl"
)

func shardTable(cols ...string) *schema.Definition {
	t := &schema.Definition{Indexes: []schema.Index{{Name: "PRIMARY", Kind: "primary", Columns: []schema.IndexCol{{Column: "id"}}}}}
	t.Columns = append(t.Columns, schema.ColumnDef{Name: "id", Type: "int"})
	for _, c := range cols {
		t.Columns = append(t.Columns, schema.ColumnDef{Name: c, Type: "int", Nullable: true})
	}
	return t
}

// cloneScript is a command of every kind, in an order in which each
// applies; failing ones are marked.
func cloneScript() []struct {
	c    Command
	fail bool
} {
	target := schema.TableRef{Schema: "tgt", Name: "t"}
	m1 := shardddl.Member{Source: "s1", Schema: "db", Table: "t1"}
	m2 := shardddl.Member{Source: "s2", Schema: "db", Table: "t1"}
	at := func(p uint32) shardddl.Position { return shardddl.Position{Binlog: pos("bin.000001", p)} }
	reg := func(m shardddl.Member) Command {
		return shardCmd(ShardOp{Kind: ShardRegister, Task: "t", Source: m.Source, Mode: shardddl.Optimistic,
			Tables:    []shardddl.Registration{{Member: m, Target: target, Schema: shardTable()}},
			CreateSQL: map[string]string{m.String(): "CREATE TABLE t1 (id int primary key)"}})
	}
	arrive := func(m shardddl.Member, p uint32, after *schema.Definition, ch *shardddl.Change, ddls ...string) Command {
		return shardCmd(ShardOp{Kind: ShardArrive, Task: "t", Member: m, Arrival: &shardddl.Arrival{Pos: at(p), DDLs: ddls, After: after, Change: ch},
			CreateSQL: map[string]string{m.String(): "CREATE TABLE t1 (...)"}})
	}
	rename := &shardddl.Change{Renames: []shardddl.Rename{{From: "a", To: "b"}}}
	task := &Task{Name: "t", YAML: "x", Mode: ModeAll, Sources: map[string]*TaskSource{"s1": {}, "s2": {}}}
	return []struct {
		c    Command
		fail bool
	}{
		{c: Command{Op: OpAddSource, Source: &Source{ID: "s1", YAML: "a"}}},
		{c: Command{Op: OpAddSource, Source: &Source{ID: "s2", YAML: "b"}}},
		{c: Command{Op: OpAddSource, Source: &Source{ID: "s2", YAML: "b2"}}},
		{c: Command{Op: OpSubmitTask, Task: task}},
		{c: Command{Op: OpSetDesired, Name: "t", Desired: Paused}},
		{c: Command{Op: OpSubmitTask, Task: task}},
		{c: Command{Op: OpSnapshotTaken, Name: "t", Src: "s1", Pos: pos("bin.000001", 4)}},
		{c: Command{Op: OpStageDone, Name: "t", Src: "s1", Stage: StageDump}},
		{c: Command{Op: OpStageDone, Name: "t", Src: "s1", Stage: StageLoad}},
		{c: Command{Op: OpStageDone, Name: "t", Src: "s2", Stage: StageLoad}, fail: true},
		{c: Command{Op: OpAddMember, Member: &Member{ID: "n1", Control: "nats://a"}}},
		{c: Command{Op: OpAssign, Assign: map[string]string{"apply/t/s1": "n1", "tail/s1": "n1"}, Term: 2}},
		{c: Command{Op: OpAssign, Assign: map[string]string{"tail/s1": "n2"}, Term: 1}, fail: true},
		{c: Command{Op: OpLeaveMember, Name: "n1"}},
		{c: Command{Op: OpUpdateTask, Task: &Task{Name: "t", YAML: "y"}}},
		{c: Command{Op: OpReplicated, Replicas: 3}},
		{c: reg(m1)},
		{c: reg(m2)},
		{c: arrive(m1, 10, shardTable("c"), &shardddl.Change{}, "ALTER TABLE `tgt`.`t` ADD COLUMN `c` INT")},
		{c: shardCmd(ShardOp{Kind: ShardDone, Task: "t", Member: m1, Pos: at(10)})},
		{c: arrive(m2, 10, shardTable("a"), &shardddl.Change{}, "ALTER TABLE `tgt`.`t` ADD COLUMN `a` INT")},
		{c: shardCmd(ShardOp{Kind: ShardDone, Task: "t", Member: m2, Pos: at(10)})},
		{c: arrive(m2, 20, shardTable("b"), rename, "ALTER TABLE `tgt`.`t` RENAME COLUMN `a` TO `b`")},
		{c: shardCmd(ShardOp{Kind: ShardDone, Task: "t", Member: m2, Pos: at(30)}), fail: true},
		{c: shardCmd(ShardOp{Kind: ShardUnlock, Task: "t", Lock: shardddl.LockID("t", target), Unlock: &shardddl.UnlockOptions{Action: shardddl.UnlockSkip}})},
		{c: shardCmd(ShardOp{Kind: ShardReject, Task: "t", Source: "s1", Rejected: &RejectedDDL{Pos: pos("bin.000001", 7), Stmts: []string{"ALTER x"}, Error: "no"}})},
		{c: shardCmd(ShardOp{Kind: ShardDecide, Task: "t", Source: "s1", Decision: &Decision{Action: DecideSkip}})},
		{c: shardCmd(ShardOp{Kind: ShardConsume, Task: "t", Source: "s1", Pos: at(7)})},
		{c: shardCmd(ShardOp{Kind: ShardLeave, Task: "t", Member: m1})},
		{c: Command{Op: OpRemoveMember, Name: "n1"}},
		{c: Command{Op: OpDeleteTask, Name: "t"}, fail: true},
		{c: Command{Op: OpSetDesired, Name: "t", Desired: Stopped, ID: "k1"}},
		{c: Command{Op: OpDeleteTask, Name: "t"}},
		{c: Command{Op: OpRemoveSource, Name: "s2"}},
	}
}

func encode(t *testing.T, s any) string {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A command applied to a Clone leaves the original as it was, through a
// command of every kind: what the FSM's published snapshots rely on.
// Applied to the clone it answers as applied in place.
func TestCloneLeavesOriginal(t *testing.T) {
	inPlace := New()
	s := New()
	var kept []*State
	var encs []string
	for i, step := range cloneScript() {
		before := encode(t, s)
		n := s.Clone()
		res, err := n.Exec(step.c)
		if (err != nil) != step.fail {
			t.Fatalf("step %d (%s): %v", i, step.c.Op, err)
		}
		res2, err2 := inPlace.Exec(step.c)
		if (err2 != nil) != (err != nil) || encode(t, res2) != encode(t, res) {
			t.Fatalf("step %d (%s): in place %v %+v, on a clone %v %+v", i, step.c.Op, err2, res2, err, res)
		}
		if got := encode(t, s); got != before {
			t.Fatalf("step %d (%s) changed the state it was cloned from:\nbefore %s\nafter  %s", i, step.c.Op, before, got)
		}
		if err == nil && encode(t, n) != encode(t, inPlace) {
			t.Fatalf("step %d (%s): clone %s\nin place %s", i, step.c.Op, encode(t, n), encode(t, inPlace))
		}
		kept, encs = append(kept, s), append(encs, before)
		s = n
	}
	for i := range kept {
		if got := encode(t, kept[i]); got != encs[i] {
			t.Fatalf("state before step %d changed by later steps", i)
		}
	}
}

// The catalog never parses SQL: a shard DDL arrival carries its typed
// change, so replicas agree whatever their parser. The script's arrivals
// include a rename, which the lock reads from the change alone.
func TestApplyParsesNoSQL(t *testing.T) {
	script := cloneScript()
	s := New()
	before := schema.Parses()
	for i, step := range script {
		if _, err := s.Exec(step.c); (err != nil) != step.fail {
			t.Fatalf("step %d (%s): %v", i, step.c.Op, err)
		}
		s = roundTrip(t, s) // a snapshot's restore parses nothing either
	}
	if n := schema.Parses() - before; n != 0 {
		t.Fatalf("applying the commands parsed %d statements", n)
	}
	// An optimistic arrival without its change is refused, not parsed.
	s = New()
	for _, step := range script[:20] {
		if _, err := s.Exec(step.c); (err != nil) != step.fail {
			t.Fatal(err)
		}
	}
	c := script[22].c
	a := *c.Shard.Arrival
	a.Change = nil
	op := *c.Shard
	op.Arrival = &a
	if _, err := s.Exec(shardCmd(op)); !errors.Is(err, shardddl.ErrInvalid) {
		t.Fatalf("arrival without its change: %v", err)
	}
	if n := schema.Parses() - before; n != 0 {
		t.Fatalf("parsed %d statements", n)
	}
}

// The script's rename holds the shard: the lock read it from the change.
func TestCloneScriptRenameConflicts(t *testing.T) {
	s := New()
	var last Result
	for i, step := range cloneScript()[:23] {
		r, err := s.Exec(step.c)
		if (err != nil) != step.fail {
			t.Fatalf("step %d (%s): %v", i, step.c.Op, err)
		}
		last = r
	}
	if last.Outcome == nil || last.Outcome.Action != shardddl.Conflict || !strings.Contains(last.Outcome.Conflict.Reason, "renames column a to b") {
		t.Fatalf("rename arrival: %+v", last.Outcome)
	}
}

package shardddl

import (
	"strings"
	"testing"
)

const createT = "CREATE TABLE %s (id int NOT NULL, a int DEFAULT NULL, b varchar(10) DEFAULT NULL, name varchar(20) NOT NULL, PRIMARY KEY (id))"

const (
	addC    = "ALTER TABLE %s ADD COLUMN c int"
	addCBig = "ALTER TABLE %s ADD COLUMN c bigint"
	dropA   = "ALTER TABLE %s DROP COLUMN a"
	addIdx  = "ALTER TABLE %s ADD INDEX ib (b)"
)

const (
	routedAddC   = "ALTER TABLE `tgt`.`t` ADD COLUMN `c` INT"
	routedDropA  = "ALTER TABLE `tgt`.`t` DROP COLUMN `a`"
	routedAddIdx = "ALTER TABLE `tgt`.`t` ADD INDEX `ib`(`b`)"
)

func TestPessimistic(t *testing.T) {
	tests := []struct {
		name  string
		steps []step
	}{{
		name: "rolling ADD COLUMN, 3 sources x 2 tables",
		steps: script(
			every(0, 5, func(i int) step { return ddl(i, addC, Wait, "waiting for") }),
			ddlExec(5, addC, routedAddC),
			every(0, 5, func(i int) step { return ask(i, Wait, "is executing") }),
			askExec(5, routedAddC), // asked again before Done: same answer
			done(5),
			every(0, 6, func(i int) step { return ask(i, Skip) }),
			done(5), // reported twice
		),
	}, {
		name: "DROP COLUMN then ADD INDEX, shards in a different order",
		steps: script(
			ddl(3, dropA, Wait), ddl(0, dropA, Wait), ddl(5, dropA, Wait), ddl(1, dropA, Wait), ddl(4, dropA, Wait),
			ddlExec(2, dropA, routedDropA),
			done(2),
			every(0, 6, func(i int) step { return ask(i, Skip) }),
			every(0, 5, func(i int) step { return ddl(i, addIdx, Wait) }),
			ddlExec(5, addIdx, routedAddIdx), done(5),
			ask(0, Skip),
		),
	}, {
		name: "the last shard to arrive is missing until it does",
		steps: script(
			every(1, 6, func(i int) step { return ddl(i, addC, Wait, "waiting for s1:`db`.`t1`") }),
		),
	}, {
		name: "a second DDL of a shard queues behind its first",
		steps: script(
			ddl(0, addC, Wait),
			ddl(0, addIdx, Wait, "queued behind"),
			every(1, 5, func(i int) step { return ddl(i, addC, Wait) }),
			ddlExec(5, addC, routedAddC), done(5),
			ask(0, Wait, "waiting for"), // its ADD INDEX is now the lock's DDL
			every(1, 5, func(i int) step { return ddl(i, addIdx, Wait) }),
			ddlExec(5, addIdx, routedAddIdx), done(5),
			ask(0, Skip),
		),
	}, {
		name: "a different DDL conflicts, naming both",
		steps: script(
			ddl(0, addC, Wait),
			ddl(1, addCBig, Conflict, "ADD COLUMN `c` BIGINT", "differs from", "ADD COLUMN `c` INT", "s1:`db`.`t1`"),
			ask(1, Conflict), // the same answer again
			every(2, 6, func(i int) step { return ddl(i, addC, Wait, "different DDLs") }),
		),
	}, {
		name: "restart in the middle of a lock",
		steps: script(
			every(0, 3, func(i int) step { return ddl(i, addC, Wait) }),
			restart,
			every(0, 3, func(i int) step { return ask(i, Wait) }),
			every(3, 5, func(i int) step { return ddl(i, addC, Wait) }),
			ddlExec(5, addC, routedAddC),
			restart, // the executor restarts before Done: told to execute again
			askExec(5, routedAddC),
			ask(0, Wait),
			done(5),
			restart,
			every(0, 6, func(i int) step { return ask(i, Skip) }),
		),
	}, {
		name: "a dropped table leaves the group and the lock completes",
		steps: script(
			every(0, 5, func(i int) step { return ddl(i, addC, Wait) }),
			step{op: "leave", shard: 5},
			askExec(2, routedAddC),
			done(2),
			ask(0, Skip),
		),
	}, {
		name: "the executing shard leaves before Done: the next to ask executes",
		steps: script(
			every(0, 5, func(i int) step { return ddl(i, addC, Wait) }),
			ddlExec(5, addC, routedAddC),
			step{op: "leave", shard: 5},
			askExec(0, routedAddC),
			ask(1, Wait, "is executing"),
			done(0),
			ask(1, Skip),
		),
	}, {
		name: "unlock exec: the first shard executes, a conflicting one skips, a late one skips",
		steps: script(
			ddl(0, addC, Wait),
			ddl(1, addCBig, Conflict),
			every(2, 5, func(i int) step { return ddl(i, addC, Wait) }),
			step{op: "unlock", unlock: UnlockOptions{Action: UnlockExec}},
			ask(1, Wait, "is executing"),
			askExec(0, routedAddC),
			done(0),
			every(0, 5, func(i int) step { return ask(i, Skip) }),
			ddl(5, addC, Skip, "unlocked by hand"), // shard 5 reaches it later
			every(0, 6, func(i int) step { return ddl(i, addIdx, Wait) })[:5],
			ddlExec(5, addIdx, routedAddIdx),
		),
	}, {
		name: "unlock exec by a chosen owner",
		steps: script(
			every(0, 3, func(i int) step { return ddl(i, addC, Wait) }),
			step{op: "unlock", unlock: UnlockOptions{Action: UnlockExec, Owner: ptr(shardMember(2))}},
			ask(0, Wait),
			askExec(2, routedAddC),
			done(2),
			ask(0, Skip),
		),
	}, {
		name: "unlock skip runs nothing",
		steps: script(
			every(0, 4, func(i int) step { return ddl(i, addC, Wait) }),
			step{op: "unlock", unlock: UnlockOptions{Action: UnlockSkip}},
			every(0, 4, func(i int) step { return ask(i, Skip) }),
			ddl(4, addC, Skip), ddl(5, addC, Skip),
		),
	}, {
		name: "errors",
		steps: script(
			step{op: "unlock", unlock: UnlockOptions{Action: UnlockSkip}, err: ErrNoLock},
			ddl(0, addC, Wait),
			step{op: "done", shard: 0, err: ErrNotOwner},
			step{op: "unlock", unlock: UnlockOptions{Action: UnlockExec, Owner: ptr(shardMember(3))}, err: ErrInvalid},
			step{op: "leave", shard: 5},
			step{op: "leave", shard: 5, err: ErrNotMember},
		),
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			newEnv(t, Pessimistic, createT).run(tc.steps)
		})
		t.Run(tc.name+", restarting after every step", func(t *testing.T) {
			e := newEnv(t, Pessimistic, createT)
			e.restartEach = true
			e.run(tc.steps)
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestPessimisticLocksListing(t *testing.T) {
	e := newEnv(t, Pessimistic, createT)
	e.run(script(
		ddl(0, addC, Wait), ddl(2, addC, Wait),
		ddl(3, addCBig, Conflict),
	))
	locks := e.m.Locks()
	if len(locks) != 1 {
		t.Fatalf("locks: %+v", locks)
	}
	l := locks[0]
	if l.ID != "task-`tgt`.`t`" || l.State != "conflict" || strings.Join(l.DDLs, ";") != routedAddC {
		t.Fatalf("lock: %+v", l)
	}
	var arrived []string
	for _, a := range l.Arrived {
		arrived = append(arrived, a.Member)
	}
	if got := strings.Join(arrived, " "); got != "s1:`db`.`t1` s2:`db`.`t1`" {
		t.Errorf("arrived %s", got)
	}
	if got := strings.Join(l.Missing, " "); got != "s1:`db`.`t2` s3:`db`.`t1` s3:`db`.`t2`" {
		t.Errorf("missing %s", got)
	}
	if len(l.Conflicts) != 1 || l.Conflicts[0].Member != "s2:`db`.`t2`" {
		t.Errorf("conflicts %+v", l.Conflicts)
	}
}

// TestPessimisticWaitsForRegistration: a lock does not complete before every
// source of the task has told which tables it has.
func TestPessimisticWaitsForRegistration(t *testing.T) {
	m, err := NewManager("task", Pessimistic, []string{"s1", "s2"})
	if err != nil {
		t.Fatal(err)
	}
	mem := Member{Source: "s1", Schema: "db", Table: "t1"}
	if err := m.Register("s1", []Registration{{Member: mem, Target: target}}, nil); err != nil {
		t.Fatal(err)
	}
	a := Arrival{Pos: pos(100), DDLs: []string{routedAddC}}
	out, err := m.Arrive(mem, a)
	if err != nil || out.Action != Wait || !strings.Contains(out.Reason, "registered") {
		t.Fatalf("before s2 registered: %+v, %v", out, err)
	}
	if err := m.Register("s2", nil, nil); err != nil { // s2 has no table routed here
		t.Fatal(err)
	}
	if out, err = m.Arrive(mem, a); err != nil || out.Action != Execute {
		t.Fatalf("after: %+v, %v", out, err)
	}
}

// TestPessimisticJoinDuringLock: a table created while a lock is held is not
// waited for; it takes part in the next DDL.
func TestPessimisticJoinDuringLock(t *testing.T) {
	m, _ := NewManager("task", Pessimistic, []string{"s1"})
	t1 := Member{Source: "s1", Schema: "db", Table: "t1"}
	t2 := Member{Source: "s1", Schema: "db", Table: "t2"}
	t3 := Member{Source: "s1", Schema: "db", Table: "t3"}
	must(t, m.Register("s1", []Registration{{Member: t1, Target: target}, {Member: t2, Target: target}}, nil))
	expect(t, m, t1, Arrival{Pos: pos(100), DDLs: []string{routedAddC}}, Wait)
	must(t, m.Join(Registration{Member: t3, Target: target}, nil))
	expect(t, m, t2, Arrival{Pos: pos(200), DDLs: []string{routedAddC}}, Execute)
	must(t, m.Done(t2, pos(200)))
	expect(t, m, t1, Arrival{Pos: pos(300), DDLs: []string{routedDropA}}, Wait)
	expect(t, m, t2, Arrival{Pos: pos(400), DDLs: []string{routedDropA}}, Wait) // now waits for t3
	expect(t, m, t3, Arrival{Pos: pos(500), DDLs: []string{routedDropA}}, Execute)
}

func TestPessimisticReplayErrors(t *testing.T) {
	m, _ := NewManager("task", Pessimistic, []string{"s1"})
	t1 := Member{Source: "s1", Schema: "db", Table: "t1"}
	t2 := Member{Source: "s1", Schema: "db", Table: "t2"}
	must(t, m.Register("s1", []Registration{{Member: t1, Target: target}, {Member: t2, Target: target}}, nil))
	expect(t, m, t1, Arrival{Pos: pos(100), DDLs: []string{routedAddC}}, Wait)
	expect(t, m, t1, Arrival{Pos: pos(300), DDLs: []string{routedDropA}}, Wait)
	if _, err := m.Arrive(t1, Arrival{Pos: pos(100), DDLs: []string{routedDropA}}); !isErr(err, ErrMismatch) {
		t.Errorf("same position, other DDL: %v", err)
	}
	if _, err := m.Arrive(t1, Arrival{Pos: pos(200), DDLs: []string{routedAddIdx}}); !isErr(err, ErrOutOfOrder) {
		t.Errorf("between queued DDLs: %v", err)
	}
	if _, err := m.Arrive(Member{Source: "s9", Schema: "db", Table: "t1"}, Arrival{Pos: pos(1), DDLs: []string{routedAddC}}); !isErr(err, ErrNotMember) {
		t.Errorf("unknown member: %v", err)
	}
	if _, err := m.Arrive(t1, Arrival{DDLs: []string{routedAddC}}); !isErr(err, ErrInvalid) {
		t.Errorf("no position: %v", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func expect(t *testing.T, m *Manager, mem Member, a Arrival, want Action) Outcome {
	t.Helper()
	out, err := m.Arrive(mem, a)
	if err != nil || out.Action != want {
		t.Fatalf("%s at %s: %+v, %v; want %s", mem, a.Pos, out, err, want)
	}
	return out
}

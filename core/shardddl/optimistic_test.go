package shardddl

import (
	"strings"
	"testing"
)

const alterT = "ALTER TABLE `tgt`.`t` "

func TestOptimistic(t *testing.T) {
	tests := []struct {
		name  string
		steps []step
	}{{
		name: "rolling ADD COLUMN, 3 sources x 2 tables: the first shard adds it, the others skip",
		steps: script(
			ddlExec(0, addC, alterT+"ADD COLUMN `c` int NULL"),
			ddl(1, addC, Wait, "is executing"), // one DDL on the target at a time
			done(0),
			ask(1, Skip),
			every(2, 6, func(i int) step { return ddl(i, addC, Skip) }),
			ask(0, Skip),
		),
	}, {
		name: "DROP COLUMN runs when the last shard drops it",
		steps: script(
			every(0, 5, func(i int) step { return ddl(i, dropA, Skip) }),
			ddlExec(5, dropA, alterT+"DROP COLUMN `a`"),
			done(5),
		),
	}, {
		name: "dropping a NOT NULL column without default relaxes it on the target first",
		steps: script(
			ddlExec(0, "ALTER TABLE %s DROP COLUMN name", alterT+"MODIFY COLUMN `name` varchar(20) NULL"),
			done(0),
			every(1, 5, func(i int) step { return ddl(i, "ALTER TABLE %s DROP COLUMN name", Skip) }),
			ddlExec(5, "ALTER TABLE %s DROP COLUMN name", alterT+"DROP COLUMN `name`"),
		),
	}, {
		name: "ADD INDEX runs when the last shard has it, DROP INDEX at once",
		steps: script(
			every(0, 5, func(i int) step { return ddl(i, addIdx, Skip) }),
			ddlExec(5, addIdx, alterT+"ADD KEY `ib` (`b`)"),
			done(5),
			ddlExec(3, "ALTER TABLE %s DROP INDEX ib", alterT+"DROP INDEX `ib`"),
			done(3),
			every(0, 3, func(i int) step { return ddl(i, "ALTER TABLE %s DROP INDEX ib", Skip) }),
		),
	}, {
		name: "widening runs as the join; a shard widening less skips",
		steps: script(
			ddlExec(0, "ALTER TABLE %s MODIFY b varchar(30)", alterT+"MODIFY COLUMN `b` varchar(30) NULL"),
			done(0),
			ddl(1, "ALTER TABLE %s MODIFY b varchar(20)", Skip),
			ddlExec(2, "ALTER TABLE %s MODIFY a bigint NOT NULL DEFAULT 0", alterT+"MODIFY COLUMN `a` bigint NULL DEFAULT 0"),
		),
	}, {
		name: "rename: held until every shard renamed, then one CHANGE",
		steps: script(
			every(0, 5, func(i int) step {
				return ddl(i, "ALTER TABLE %s RENAME COLUMN a TO a2", Conflict, "renames column a to a2")
			}),
			ddl(0, addC, Conflict, "renames column"), // a held shard's later DDL: still held
			ddlExec(5, "ALTER TABLE %s RENAME COLUMN a TO a2", alterT+"CHANGE COLUMN `a` `a2` int NULL"),
			ask(0, Wait, "is executing"),
			done(5),
			every(1, 5, func(i int) step { return ask(i, Skip) }),
			askExec(0, alterT+"ADD COLUMN `c` int NULL"), // released, its next DDL goes through
		),
	}, {
		name: "two renames in one statement: held until both are everywhere",
		steps: script(
			every(0, 5, func(i int) step {
				return ddl(i, "ALTER TABLE %s RENAME COLUMN a TO a2, RENAME COLUMN b TO b2", Conflict, "renames column a to a2, column b to b2")
			}),
			ddlExec(5, "ALTER TABLE %s RENAME COLUMN a TO a2, RENAME COLUMN b TO b2",
				alterT+"CHANGE COLUMN `a` `a2` int NULL", alterT+"CHANGE COLUMN `b` `b2` varchar(10) NULL"),
		),
	}, {
		name: "narrowing: held until every shard narrowed",
		steps: script(
			every(0, 5, func(i int) step {
				return ddl(i, "ALTER TABLE %s MODIFY b varchar(5)", Conflict, "changes column b from varchar(10) to varchar(5)")
			}),
			ddlExec(5, "ALTER TABLE %s MODIFY b varchar(5)", alterT+"MODIFY COLUMN `b` varchar(5) NULL"),
		),
	}, {
		name: "the same column added with different types",
		steps: script(
			ddlExec(0, addC, alterT+"ADD COLUMN `c` int NULL"), done(0),
			ddl(1, addCBig, Conflict, "adds column c as bigint, but s1:`db`.`t1` has it as int"),
			ddl(2, addC, Skip),
		),
	}, {
		name: "conflicts",
		steps: script(
			ddl(0, "ALTER TABLE %s CHANGE a a3 int", Conflict, "renames column a to a3"),
			ddl(1, "ALTER TABLE %s MODIFY a varchar(10)", Conflict, "changes column a from int to varchar(10)"),
			ddl(2, "ALTER TABLE %s ADD COLUMN d int NOT NULL", Conflict, "adds column d NOT NULL without a default, which s1:`db`.`t1`"),
			ddl(3, "ALTER TABLE %s ADD INDEX ib (b)", Skip),
			ddl(4, "ALTER TABLE %s ADD INDEX ib (a)", Conflict, "index ib"),
			ddlExec(5, "ALTER TABLE %s ALTER COLUMN a SET DEFAULT 5", alterT+"MODIFY COLUMN `a` int NULL DEFAULT 5"),
			done(5),
			ddl(3, "ALTER TABLE %s ALTER COLUMN a SET DEFAULT 6", Conflict, "defaults 6 and 5 differ"),
		),
	}, {
		name: "a held shard's DDL releases the others while it stays held",
		steps: script(
			every(1, 6, func(i int) step {
				return ddl(i, "ALTER TABLE %s ADD COLUMN d int NOT NULL", Conflict, "NOT NULL without a default")
			}),
			ddl(0, "ALTER TABLE %s ADD COLUMN d int NOT NULL, RENAME COLUMN a TO a2", Conflict, "renames column a to a2"),
			askExec(1, alterT+"ADD COLUMN `d` int NULL"), // shard 0 still lacks d as joined
			ask(2, Wait, "is executing"),
			done(1),
			ask(2, Skip),
			ask(0, Conflict, "renames column a to a2"),
		),
	}, {
		name: "primary key and index renames",
		steps: script(
			ddl(0, "ALTER TABLE %s DROP PRIMARY KEY", Conflict, "changes the primary key"),
			ddl(1, addIdx, Skip),
			ddl(1, "ALTER TABLE %s RENAME INDEX ib TO ib2", Conflict, "renames index ib to ib2"),
		),
	}, {
		name: "adding back a column dropped while others still have it",
		steps: script(
			ddl(0, dropA, Skip),
			ddl(0, "ALTER TABLE %s ADD COLUMN a int", Conflict, "adds back column a"),
			every(1, 6, func(i int) step { return ddl(i, addC, Execute) })[:1],
		),
	}, {
		name: "restart with drops pending, a held shard and an execution under way",
		steps: script(
			every(0, 3, func(i int) step { return ddl(i, dropA, Skip) }),
			ddl(0, "ALTER TABLE %s RENAME COLUMN b TO b2", Conflict),
			ddlExec(4, addC, alterT+"ADD COLUMN `c` int NULL"),
			restart,
			every(0, 3, func(i int) step { return ask(i, Wait) }), // the execution under way
			askExec(4, alterT+"ADD COLUMN `c` int NULL"),
			done(4),
			restart,
			ask(0, Conflict, "renames column b to b2"),
			ask(1, Skip),
			every(3, 6, func(i int) step {
				if i == 5 {
					return ddlExec(i, dropA, alterT+"DROP COLUMN `a`")
				}
				return ddl(i, dropA, Skip)
			}),
		),
	}, {
		name: "unlock exec: a rename on one shard becomes an added column",
		steps: script(
			ddl(0, "ALTER TABLE %s RENAME COLUMN a TO a2", Conflict),
			step{op: "unlock", unlock: UnlockOptions{Action: UnlockExec, Member: ptr(shardMember(0))}},
			askExec(0, alterT+"ADD COLUMN `a2` int NULL"),
			done(0),
			ask(0, Skip),
			every(1, 6, func(i int) step { return ddl(i, dropA, Skip) })[:4],
			ddlExec(5, dropA, alterT+"DROP COLUMN `a`"),
		),
	}, {
		name: "unlock skip: a narrowed shard goes on, the target keeps the wider type",
		steps: script(
			ddl(0, "ALTER TABLE %s MODIFY b varchar(5)", Conflict),
			step{op: "unlock", unlock: UnlockOptions{Action: UnlockSkip}},
			ask(0, Skip),
			ddlExec(1, "ALTER TABLE %s MODIFY b varchar(12)", alterT+"MODIFY COLUMN `b` varchar(12) NULL"),
		),
	}, {
		name: "unlock of types that cannot be joined fails",
		steps: script(
			ddl(0, "ALTER TABLE %s MODIFY a varchar(10)", Conflict),
			step{op: "unlock", unlock: UnlockOptions{Action: UnlockSkip}, err: ErrConflict},
			ask(0, Conflict),
		),
	}, {
		name: "the executing shard leaves before Done: the next DDL catches up",
		steps: script(
			ddlExec(0, addC, alterT+"ADD COLUMN `c` int NULL"),
			step{op: "leave", shard: 0},
			ddlExec(1, addC, alterT+"ADD COLUMN `c` int NULL"), // not known to have run: run again
		),
	}, {
		name: "a dropped table leaves the group; its pending drop runs with the next DDL",
		steps: script(
			every(0, 5, func(i int) step { return ddl(i, dropA, Skip) }),
			step{op: "leave", shard: 5},
			ddlExec(0, addC, alterT+"ADD COLUMN `c` int NULL", alterT+"DROP COLUMN `a`"),
		),
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			newEnv(t, Optimistic, createT).run(tc.steps)
		})
		t.Run(tc.name+", restarting after every step", func(t *testing.T) {
			e := newEnv(t, Optimistic, createT)
			e.restartEach = true
			e.run(tc.steps)
		})
	}
}

func TestOptimisticLocksListing(t *testing.T) {
	e := newEnv(t, Optimistic, createT)
	e.run(script(
		ddl(0, dropA, Skip), ddl(3, dropA, Skip),
		ddl(2, addIdx, Skip),
		ddl(1, "ALTER TABLE %s RENAME COLUMN b TO b2", Conflict),
		ddl(4, "ALTER TABLE %s RENAME COLUMN b TO b2", Conflict),
	))
	var lines []string
	for _, l := range e.m.Locks() {
		var arrived []string
		for _, a := range l.Arrived {
			arrived = append(arrived, a.Member)
		}
		for _, c := range l.Conflicts {
			arrived = append(arrived, "!"+c.Member)
		}
		lines = append(lines, l.State+" "+strings.Join(l.DDLs, ";")+" | "+strings.Join(arrived, " ")+" | "+strings.Join(l.Missing, " "))
	}
	want := []string{
		"conflict ALTER TABLE `tgt`.`t` RENAME COLUMN `b` TO `b2` | s3:`db`.`t1` !s1:`db`.`t2` | s1:`db`.`t1` s2:`db`.`t1` s2:`db`.`t2` s3:`db`.`t2`",
		"conflict ALTER TABLE `tgt`.`t` RENAME COLUMN `b` TO `b2` | s1:`db`.`t2` !s3:`db`.`t1` | s1:`db`.`t1` s2:`db`.`t1` s2:`db`.`t2` s3:`db`.`t2`",
		"pending ALTER TABLE `tgt`.`t` DROP COLUMN `a` | s1:`db`.`t1` s2:`db`.`t2` | s1:`db`.`t2` s2:`db`.`t1` s3:`db`.`t1` s3:`db`.`t2`",
		"pending ALTER TABLE `tgt`.`t` ADD KEY `ib` (`b`) | s2:`db`.`t1` | s1:`db`.`t1` s1:`db`.`t2` s2:`db`.`t2` s3:`db`.`t1` s3:`db`.`t2`",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("locks:\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

// TestOptimisticExtraColumns: unique keys added on the target carry the
// extracted columns, as the target table was created with them.
func TestOptimisticExtraColumns(t *testing.T) {
	m, _ := NewManager("task", Optimistic, []string{"s1"})
	before, _ := fromCreateSQL("CREATE TABLE t (id int NOT NULL, b int, PRIMARY KEY (id))")
	after, _ := fromCreateSQL("CREATE TABLE t (id int NOT NULL, b int, PRIMARY KEY (id), UNIQUE KEY ub (b))")
	mem := Member{Source: "s1", Schema: "db", Table: "t"}
	must(t, m.Register("s1", []Registration{{Member: mem, Target: target, Schema: before}}, []string{"c_source"}))
	out := expect(t, m, mem, Arrival{Pos: pos(10), DDLs: []string{"ALTER TABLE `tgt`.`t` ADD UNIQUE `ub`(`b`)"}, After: after, Change: &Change{}}, Execute)
	if got := strings.Join(out.Exec, ";"); got != alterT+"ADD UNIQUE KEY `ub` (`b`, `c_source`)" {
		t.Errorf("exec %s", got)
	}
}

func TestOptimisticNeedsSchemas(t *testing.T) {
	m, _ := NewManager("task", Optimistic, []string{"s1"})
	mem := Member{Source: "s1", Schema: "db", Table: "t"}
	if err := m.Register("s1", []Registration{{Member: mem, Target: target}}, nil); !isErr(err, ErrInvalid) {
		t.Errorf("register without schema: %v", err)
	}
	s, _ := fromCreateSQL("CREATE TABLE t (id int)")
	must(t, m.Register("s1", []Registration{{Member: mem, Target: target, Schema: s}}, nil))
	if _, err := m.Arrive(mem, Arrival{Pos: pos(1), DDLs: []string{routedAddC}}); !isErr(err, ErrInvalid) {
		t.Errorf("arrive without schema: %v", err)
	}
}

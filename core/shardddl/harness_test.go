package shardddl

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/schema"
)

// The harness: three sources with two tables each (db.t1, db.t2), all
// routed to tgt.t, every source's schema followed by a real tracker.
// Shard i is source s(i/2+1), table t(i%2+1).

var target = schema.TableRef{Schema: "tgt", Name: "t"}

const shards = 6

func route(db, table string) (string, string, error) {
	if table == "" {
		return "tgt", "", nil
	}
	return target.Schema, target.Name, nil
}

func shardMember(i int) Member {
	return Member{Source: fmt.Sprintf("s%d", i/2+1), Schema: "db", Table: fmt.Sprintf("t%d", i%2+1)}
}

type env struct {
	t        *testing.T
	mode     Mode
	m        *Manager
	trackers map[string]*schema.Tracker
	offset   map[string]uint32
	last     map[int]Arrival // each shard's latest arrival, for ask and done
	// restartEach serialises and decodes the manager after every step:
	// the answers must not change.
	restartEach bool
}

// newEnv creates the shards from create, a CREATE TABLE with %s for the
// table's name, and registers every source.
func newEnv(t *testing.T, mode Mode, create string) *env {
	t.Helper()
	m, err := NewManager("task", mode, []string{"s1", "s2", "s3"})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, mode: mode, m: m, trackers: map[string]*schema.Tracker{}, offset: map[string]uint32{}, last: map[int]Arrival{}}
	regs := map[string][]Registration{}
	for i := range shards {
		mem := shardMember(i)
		tr := e.trackers[mem.Source]
		if tr == nil {
			tr = schema.NewTracker()
			e.trackers[mem.Source] = tr
		}
		if _, err := tr.Apply("db", fmt.Sprintf(create, mem.Table)); err != nil {
			t.Fatal(err)
		}
		regs[mem.Source] = append(regs[mem.Source], Registration{Member: mem, Target: target, Schema: e.schemaOf(mem)})
	}
	for _, src := range sortedKeys(regs) {
		if err := m.Register(src, regs[src], nil); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

func (e *env) schemaOf(mem Member) *schema.Definition {
	e.t.Helper()
	tbl, ok := e.trackers[mem.Source].Get(mem.Schema, mem.Table)
	if !ok {
		e.t.Fatalf("no table %s", mem)
	}
	s, err := tbl.Definition()
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// ddl applies a statement (with %s for the table) upstream on shard i and
// arrives with it.
func (e *env) ddl(i int, stmt string) (Outcome, error) {
	e.t.Helper()
	mem := shardMember(i)
	stmt = fmt.Sprintf(stmt, mem.Table)
	if _, err := e.trackers[mem.Source].Apply("db", stmt); err != nil {
		e.t.Fatalf("shard %d: %s: %v", i, stmt, err)
	}
	routed, err := schema.RouteDDL("db", stmt, route)
	if err != nil {
		e.t.Fatal(err)
	}
	norm, err := Normalize(routed)
	if err != nil {
		e.t.Fatal(err)
	}
	e.offset[mem.Source] += 100
	a := Arrival{Pos: Position{Binlog: dmnode.Position{File: "bin.000001", Pos: e.offset[mem.Source]}}, DDLs: []string{norm}}
	if e.mode == Optimistic {
		a.After = e.schemaOf(mem)
		if a.Change, err = ChangeOf(a.DDLs); err != nil {
			e.t.Fatal(err)
		}
	}
	e.last[i] = a
	return e.m.Arrive(mem, a)
}

func (e *env) ask(i int) (Outcome, error) {
	a, ok := e.last[i]
	if !ok {
		e.t.Fatalf("shard %d never arrived", i)
	}
	return e.m.Arrive(shardMember(i), a)
}

// restart serialises the manager and carries on with a decoded copy, as a
// new leader or a restarted node would.
func (e *env) restart() {
	e.t.Helper()
	b, err := json.Marshal(e.m)
	if err != nil {
		e.t.Fatal(err)
	}
	var m Manager
	if err := json.Unmarshal(b, &m); err != nil {
		e.t.Fatal(err)
	}
	b2, err := json.Marshal(&m)
	if err != nil {
		e.t.Fatal(err)
	}
	if !bytes.Equal(b, b2) {
		e.t.Fatalf("state changed through JSON:\n%s\n%s", b, b2)
	}
	e.m = &m
}

// step is one line of a script.
type step struct {
	op    string // "ddl" (default), "ask", "done", "restart", "leave", "unlock"
	shard int
	ddl   string // ddl: the statement, %s for the table
	// want is the outcome's action ("" for ops without one); exec the
	// statements of an Execute, checked when not nil; why a substring of
	// the reason or of the conflict's error.
	want   Action
	exec   []string
	why    []string
	err    error // wanted error, errors.Is
	unlock UnlockOptions
}

func ddl(shard int, stmt string, want Action, why ...string) step {
	return step{shard: shard, ddl: stmt, want: want, why: why}
}

func ddlExec(shard int, stmt string, exec ...string) step {
	return step{shard: shard, ddl: stmt, want: Execute, exec: exec}
}

func ask(shard int, want Action, why ...string) step {
	return step{op: "ask", shard: shard, want: want, why: why}
}

func askExec(shard int, exec ...string) step {
	return step{op: "ask", shard: shard, want: Execute, exec: exec}
}

func done(shard int) step { return step{op: "done", shard: shard} }

var restart = step{op: "restart"}

// every makes the same step for shards from..to-1.
func every(from, to int, f func(i int) step) []step {
	var out []step
	for i := from; i < to; i++ {
		out = append(out, f(i))
	}
	return out
}

func script(parts ...any) []step {
	var out []step
	for _, p := range parts {
		switch p := p.(type) {
		case step:
			out = append(out, p)
		case []step:
			out = append(out, p...)
		default:
			panic(fmt.Sprintf("script part %T", p))
		}
	}
	return out
}

func (e *env) run(steps []step) {
	e.t.Helper()
	for n, s := range steps {
		var out Outcome
		var err error
		switch s.op {
		case "", "ddl":
			out, err = e.ddl(s.shard, s.ddl)
		case "ask":
			out, err = e.ask(s.shard)
		case "done":
			err = e.m.Done(shardMember(s.shard), e.last[s.shard].Pos)
		case "restart":
			e.restart()
		case "leave":
			err = e.m.Leave(shardMember(s.shard))
		case "unlock":
			err = e.m.Unlock(LockID("task", target), s.unlock)
		default:
			e.t.Fatalf("step %d: unknown op %q", n, s.op)
		}
		e.check(n, s, out, err)
		if e.restartEach {
			e.restart()
		}
	}
}

func (e *env) check(n int, s step, out Outcome, err error) {
	e.t.Helper()
	where := fmt.Sprintf("step %d (%s shard %d %q)", n, s.op, s.shard, s.ddl)
	if s.err != nil || err != nil {
		if !isErr(err, s.err) {
			e.t.Fatalf("%s: error %v, want %v", where, err, s.err)
		}
		return
	}
	if s.want == "" {
		return
	}
	if out.Action != s.want {
		e.t.Fatalf("%s: %s (%s%v), want %s", where, out.Action, out.Reason, conflictText(out), s.want)
	}
	text := out.Reason + conflictText(out)
	for _, w := range s.why {
		if !strings.Contains(text, w) {
			e.t.Fatalf("%s: reason %q does not say %q", where, text, w)
		}
	}
	if s.exec != nil && strings.Join(out.Exec, "\n") != strings.Join(s.exec, "\n") {
		e.t.Fatalf("%s: exec\n%s\nwant\n%s", where, strings.Join(out.Exec, "\n"), strings.Join(s.exec, "\n"))
	}
	for _, st := range out.Exec {
		if _, err := Normalize(st); err != nil {
			e.t.Fatalf("%s: statement does not parse: %v", where, err)
		}
	}
}

func conflictText(out Outcome) string {
	if out.Conflict == nil {
		return ""
	}
	return out.Conflict.Error()
}

func isErr(err, want error) bool {
	if want == nil || err == nil {
		return err == want
	}
	return errors.Is(err, want)
}

func pos(off uint32) Position {
	return Position{Binlog: dmnode.Position{File: "bin.000001", Pos: off}}
}

package actors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/catalog"
	"github.com/dmnode/dmnode/core/schema"
	"github.com/dmnode/dmnode/core/shardddl"
)

// Shard DDL coordination in the applier (a task with a shard-mode), as
// core/shardddl's package documentation asks of an integrator.
//
// Every replicated upstream table of the source is a member of the group
// of the target table it is routed to; the applier registers them when it
// starts. A DDL on a member is reported to the task's locks in the catalog
// (Arrive) and the answer decides: execute it on the target, skip it, or
// hold the member. A held member's later changes are dropped while the
// applier goes on with every other table, so two tables of one source in
// one group cannot deadlock. The checkpoint does not move past the
// position just before the first held DDL (its floor); what the applier
// did beyond it is described by a small resync state written in the same
// target transaction as the rows: the furthest position processed
// (Reached) and, per held or re-syncing member, the position of its DDL
// (From). A member's change in (checkpoint, Reached] has already been
// applied unless the member has a hold and the change is at or after From.
//
// When the catalog's locks would now let a held member go on (the
// applier asks its own copy of the catalog, a read), the applier rewinds
// to its checkpoint and reads again: changes already applied are passed
// over, the member's DDL is reported again (Arrive is idempotent: it now
// answers Execute or Skip) and its dropped changes are applied, in safe
// mode, up to Reached (DM's re-sync). A restart does the same from the
// state in the target.

// errRewind makes the applier read its stream again from the checkpoint.
var errRewind = errors.New("rewind to re-sync released shard tables")

const shardStateDDL = `CREATE TABLE IF NOT EXISTS ` + MetaSchema + `.shard_resync (
	task   VARCHAR(128) NOT NULL,
	source VARCHAR(128) NOT NULL,
	state  MEDIUMTEXT NOT NULL,
	PRIMARY KEY (task, source)
)`

// shardState is the applier's part of shard DDL coordination; its
// exported fields are the resync state kept in the target.
type shardState struct {
	mode    shardddl.Mode
	members map[string]shardddl.Member // registered tables, by upstream schema\x00table
	extra   []string
	// Reached is the end of the furthest transaction processed.
	Reached dmnode.Position  `json:"reached"`
	Holds   map[string]*hold `json:"holds,omitempty"` // by member key
	written bool             // a state row may exist in the target
	polled  time.Time
	logged  map[string]string // last outcome logged per member
	// route names the target table of an upstream table, "" when it has
	// none (quarantine.go); targets caches its answers.
	route   func(db, table string) string
	targets map[string]string
	// cur is the target table the DDL being applied would quarantine
	// when the target, or TiDB's table of refusals, rejects it; "" when
	// a rejection pauses the source instead.
	cur string
	// decided is the position of the rejected DDL an operator's
	// decision (or a retry the target accepted) answered, forgotten
	// once the checkpoint after it is committed (commitDDL).
	decided dmnode.Position
}

// hold is a member whose changes from a DDL on were dropped.
type hold struct {
	Member shardddl.Member `json:"member"`
	// From is the end position of the member's DDL: its changes at or
	// after From in (checkpoint, Reached] have not been applied.
	From dmnode.Position `json:"from"`
	// Floor is the end of the transaction before the DDL: the checkpoint
	// stays at or before it while the member is held.
	Floor   dmnode.Position  `json:"floor"`
	Arrival shardddl.Arrival `json:"arrival"`
	// Action is the lock's last answer (wait or conflict).
	Action shardddl.Action `json:"action"`
	// Held: the lock holds the member (its changes from From on are
	// dropped). Not held: the member is re-syncing, or its DDL must be
	// reported again when it is read again.
	Held bool `json:"held"`
	// Target is set for a quarantined target table (quarantine.go): the
	// hold covers every upstream table routed to it, not one member, and
	// no lock answers for it.
	Target string `json:"target,omitempty"`
}

func memberTableKey(db, table string) string { return db + "\x00" + table }

// openShard loads the resync state from the target and registers the
// source's tables with the task's locks.
func (r *applyRun) openShard(ctx context.Context) error {
	s := &shardState{mode: shardddl.Mode(r.te.task.ShardMode), Holds: map[string]*hold{}, logged: map[string]string{},
		route: r.targetName, targets: map[string]string{}}
	data, ok, err := r.target.ResyncState(ctx)
	switch {
	case err != nil:
		return err
	case ok:
		if err := json.Unmarshal([]byte(data), s); err != nil {
			return Permanent(fmt.Errorf("decode shard resync state: %w", err))
		}
		s.written = true
		if s.Holds == nil {
			s.Holds = map[string]*hold{}
		}
		// Holds written before arrivals carried their typed change: read
		// it from the statements once, here.
		for _, h := range s.Holds {
			if h.Target == "" && h.Arrival.Change == nil && s.mode == shardddl.Optimistic {
				if h.Arrival.Change, err = shardddl.ChangeOf(h.Arrival.DDLs); err != nil {
					return Permanent(fmt.Errorf("decode shard resync state of %s: %w", h.Member, err))
				}
			}
		}
	}
	s.rewind()
	r.shard = s
	if !s.Reached.IsZero() && s.Reached.Compare(r.safeUntil) > 0 {
		r.safeUntil = s.Reached
	}
	if err := r.consumeStale(ctx); err != nil {
		return err
	}
	if s.mode == "" {
		// Without a shard-mode the state holds only quarantined tables.
		return nil
	}
	return r.registerShards(ctx)
}

// registerShards reports the source's replicated tables, as the schema
// history has them where the applier reads, with their target tables.
func (r *applyRun) registerShards(ctx context.Context) error {
	set, err := r.a.env.Store.Schemas().At(ctx, r.a.source, r.applied)
	if err != nil {
		return fmt.Errorf("register shard tables of source %s: %w", r.a.source, err)
	}
	if len(set.Tables) == 0 && len(set.Databases) == 0 {
		return fmt.Errorf("register shard tables of source %s: the source's schemas at %s are not known yet (its tailer has not started)", r.a.source, r.applied)
	}
	tr := set.Tracker()
	s := r.shard
	s.members = map[string]shardddl.Member{}
	op := catalog.ShardOp{Kind: catalog.ShardRegister, Task: r.a.task, Source: r.a.source, Mode: s.mode, CreateSQL: map[string]string{}}
	extra := map[string]bool{}
	for _, tbl := range tr.Tables() {
		reg, err := r.registration(tbl)
		if err != nil || reg == nil {
			return err
		}
		p, err := r.te.rules.Plan(tbl.Schema, tbl.Name, tbl.ColumnNames())
		if err != nil {
			return Permanent(fmt.Errorf("plan %s.%s: %w", tbl.Schema, tbl.Name, err))
		}
		for _, e := range p.Extra {
			if !extra[e] {
				extra[e] = true
				op.Extra = append(op.Extra, e)
			}
		}
		op.Tables = append(op.Tables, *reg)
		op.CreateSQL[reg.Member.String()] = tbl.CreateSQL
		s.members[memberTableKey(tbl.Schema, tbl.Name)] = reg.Member
	}
	s.extra = op.Extra
	if _, err := r.request(ctx, op); err != nil {
		return fmt.Errorf("register shard tables: %w", err)
	}
	r.log.Info("shard tables registered", "mode", string(s.mode), "tables", len(op.Tables))
	return nil
}

// registration describes one upstream table for the locks, nil when the
// task does not replicate it.
func (r *applyRun) registration(tbl *schema.Table) (*shardddl.Registration, error) {
	if !r.te.rules.Replicated(tbl.Schema, tbl.Name) {
		return nil, nil
	}
	ts, tt, err := r.te.rules.Route(tbl.Schema, tbl.Name)
	if err != nil {
		return nil, Permanent(err)
	}
	reg := &shardddl.Registration{Member: shardddl.Member{Source: r.a.source, Schema: tbl.Schema, Table: tbl.Name},
		Target: schema.TableRef{Schema: ts, Name: tt}}
	if r.shard.mode == shardddl.Optimistic {
		if reg.Schema, err = tbl.Definition(); err != nil {
			return nil, Permanent(err)
		}
	}
	return reg, nil
}

// request runs a shard DDL command; an answer the catalog gave is final.
func (r *applyRun) request(ctx context.Context, op catalog.ShardOp) (catalog.Result, error) {
	res, err := r.a.env.Request(ctx, catalog.Command{Op: catalog.OpShardDDL, Shard: &op})
	var rej *catalog.RejectedError
	if errors.As(err, &rej) {
		return res, Permanent(err)
	}
	return res, err
}

// rewind makes every hold report its DDL again when it is read again.
func (s *shardState) rewind() {
	for _, h := range s.Holds {
		h.Held = false
	}
}

// enter is called before a transaction: it reports whether the
// transaction was processed before (a replay), and forgets the holds of
// members that have re-synced once the replay is over.
func (s *shardState) enter(end dmnode.Position) bool {
	if end.Compare(s.Reached) <= 0 {
		return true
	}
	for k, h := range s.Holds {
		if !h.Held {
			delete(s.Holds, k)
		}
	}
	return false
}

func (s *shardState) leave(end dmnode.Position) {
	if end.Compare(s.Reached) > 0 {
		s.Reached = end
	}
}

// applies reports whether a change of table id at end is to be applied:
// not when it was applied before (replay) or its member or its target
// table is held. A change at or after the DDL of a hold that is no longer
// held was dropped before: it is applied now (re-sync).
func (s *shardState) applies(id dmnode.TableID, end dmnode.Position, replay bool) bool {
	resync := false
	for _, h := range [2]*hold{s.memberHold(id), s.quarantineHold(id)} {
		if h == nil || end.Compare(h.From) < 0 {
			continue
		}
		if h.Held {
			return false
		}
		resync = true
	}
	return resync || !replay
}

func (s *shardState) memberHold(id dmnode.TableID) *hold {
	m, ok := s.members[memberTableKey(id.Schema, id.Table)]
	if !ok {
		return nil
	}
	return s.Holds[m.String()]
}

// checkpoint returns the position the checkpoint may move to: pos, or the
// floor of the earliest held member.
func (s *shardState) checkpoint(pos dmnode.Position) dmnode.Position {
	for _, h := range s.Holds {
		if h.Held && h.Floor.Compare(pos) < 0 {
			pos = h.Floor
		}
	}
	return pos
}

// stateStmts returns the statements that write the resync state with the
// checkpoint (none when there is nothing to write), and saved, to call
// once they are committed.
func (r *applyRun) stateStmts() (stmts []stmt, saved func(), err error) {
	s := r.shard
	if s == nil || (len(s.Holds) == 0 && !s.written) {
		return nil, func() {}, nil
	}
	if len(s.Holds) == 0 {
		return []stmt{{query: `DELETE FROM ` + MetaSchema + `.shard_resync WHERE task = ? AND source = ?`, args: []any{r.a.task, r.a.source}}},
			func() { s.written = false }, nil
	}
	data, err := json.Marshal(s)
	if err != nil {
		return nil, nil, fmt.Errorf("encode shard resync state: %w", err)
	}
	return []stmt{{query: `INSERT INTO ` + MetaSchema + `.shard_resync (task, source, state) VALUES (?, ?, ?)
		ON DUPLICATE KEY UPDATE state = VALUES(state)`, args: []any{r.a.task, r.a.source, string(data)}}},
		func() { s.written = true }, nil
}

// pollHolds asks, at most once a second, the catalog as this node knows
// it whether a held member may go on; it returns errRewind when one may.
func (r *applyRun) pollHolds() error {
	s := r.shard
	if s == nil || time.Since(s.polled) < time.Second {
		return nil
	}
	s.polled = time.Now()
	var held []*hold
	for _, h := range s.Holds {
		if h.Held && h.Target == "" {
			held = append(held, h)
		}
	}
	if len(held) == 0 {
		return nil
	}
	st := r.a.env.Catalog().ShardDDL[r.a.task]
	if st == nil {
		return nil
	}
	for _, h := range held {
		// The catalog is shared and read-only: ask a private copy.
		m, err := st.Manager.Clone()
		if err != nil {
			return err
		}
		out, err := m.Arrive(h.Member, h.Arrival)
		switch {
		case err == nil && (out.Action == shardddl.Execute || out.Action == shardddl.Skip):
			r.log.Info("held shard table may go on; re-syncing", "table", h.Member.String(), "pos", h.From.String())
			return errRewind
		case err != nil || out.Action != h.Action:
			// The lock's answer changed (a wait became a conflict, or
			// an error): ask it for real, so its state and the task's
			// status say so.
			return errRewind
		}
	}
	return nil
}

// shardDDL handles a DDL of a task with a shard-mode: statements on
// members are coordinated, CREATE TABLE joins a group, DROP TABLE leaves
// it (the target table stays), TRUNCATE is ignored.
func (r *applyRun) shardDDL(ctx context.Context, c *dmnode.Change, d schema.DDL, parts schema.Partitioning, tr *schema.Tracker, t *dmnode.Txn) error {
	s := r.shard
	switch d.Kind {
	case schema.Skip, schema.TruncateTable:
		return nil
	case schema.CreateTable:
		if err := r.createTable(ctx, d); err != nil {
			return err
		}
		return r.joinShard(ctx, d, tr)
	case schema.CreateDatabase:
		return r.execPlainDDL(ctx, c)
	case schema.DropTable, schema.DropDatabase:
		for _, tb := range d.Tables {
			m, ok := s.members[memberTableKey(tb.Schema, tb.Name)]
			if !ok {
				continue
			}
			if _, err := r.request(ctx, catalog.ShardOp{Kind: catalog.ShardLeave, Task: r.a.task, Member: m}); err != nil {
				return err
			}
			delete(s.members, memberTableKey(tb.Schema, tb.Name))
			r.log.Info("shard table dropped upstream; it leaves its group, the target table stays", "table", m.String())
		}
		return nil
	case schema.RenameTable:
		return Permanent(fmt.Errorf("DDL %q at %s renames a table of a task with shard-mode %s, which cannot be coordinated; stop the task, make the change on the target by hand and redo the task from a new snapshot",
			abbreviate(c.DDL), t.End, s.mode))
	}
	if len(d.Tables) != 1 {
		return Permanent(fmt.Errorf("DDL %q at %s touches %d tables; in shard-mode each DDL may change one table", abbreviate(c.DDL), t.End, len(d.Tables)))
	}
	m, ok := s.members[memberTableKey(d.Tables[0].Schema, d.Tables[0].Name)]
	if !ok {
		return r.execPlainDDL(ctx, c)
	}
	if s.mode == shardddl.Optimistic && parts.Maintenance {
		return r.optimisticPartitionDDL(ctx, c, m)
	}
	return r.coordinate(ctx, c, m, t)
}

// optimisticPartitionDDL pauses the source at partition maintenance of a
// member merged in optimistic mode: the optimistic join follows columns
// and keys, not partitions, so the statement would be dropped, and DROP or
// TRUNCATE PARTITION would leave the removed rows on the target. The
// operator's task skip or task replace at this position goes on.
func (r *applyRun) optimisticPartitionDDL(ctx context.Context, c *dmnode.Change, m shardddl.Member) error {
	routed, err := r.routeDDL(c)
	if err != nil {
		return Permanent(fmt.Errorf("route DDL %q: %w", abbreviate(c.DDL), err))
	}
	// Not a rejection by the target: the source pauses, and the
	// operator's decisions across the sources make the change once.
	r.shard.cur = ""
	return r.refuseDDL(ctx, c, fmt.Sprintf("it maintains the partitions of %s, a table merged with shard-mode optimistic, which coordinates columns and keys only", m),
		fmt.Sprintf("once every shard has made the change, run `dmnode task replace %s --source %s --sql %s` to run it on the target once (the other sources then `dmnode task skip %s --source S`), or use shard-mode pessimistic, which runs it when every shard has reached it",
			r.a.task, r.a.source, shellQuote(routed), r.a.task))
}

// shellQuote quotes s for a POSIX shell, so that a command printed for
// the operator can be pasted as it is (backquoted names included).
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// execPlainDDL routes and runs a statement that needs no coordination.
func (r *applyRun) execPlainDDL(ctx context.Context, c *dmnode.Change) error {
	stmt, err := r.routeDDL(c)
	if err != nil {
		return Permanent(fmt.Errorf("route DDL %q: %w", abbreviate(c.DDL), err))
	}
	return r.runTargetDDL(ctx, []string{stmt}, c.DDL)
}

func (r *applyRun) joinShard(ctx context.Context, d schema.DDL, tr *schema.Tracker) error {
	tbl, ok := tr.Get(d.Tables[0].Schema, d.Tables[0].Name)
	if !ok {
		return nil
	}
	reg, err := r.registration(tbl)
	if err != nil || reg == nil {
		return err
	}
	op := catalog.ShardOp{Kind: catalog.ShardJoin, Task: r.a.task, Tables: []shardddl.Registration{*reg}, Extra: r.shard.extra,
		CreateSQL: map[string]string{reg.Member.String(): tbl.CreateSQL}}
	if _, err := r.request(ctx, op); err != nil {
		return err
	}
	r.shard.members[memberTableKey(tbl.Schema, tbl.Name)] = reg.Member
	return nil
}

// coordinate reports a member's DDL to its lock and follows the answer.
func (r *applyRun) coordinate(ctx context.Context, c *dmnode.Change, m shardddl.Member, t *dmnode.Txn) error {
	s := r.shard
	routed, err := r.routeDDL(c)
	if err != nil {
		return Permanent(fmt.Errorf("route DDL %q: %w", abbreviate(c.DDL), err))
	}
	// The text the locks compare and its typed change, from one parse; in
	// both modes, as the catalog parses an arrival only when it comes
	// without its change (an entry of an older version).
	norm, change, err := r.normalizeRouted(c, routed)
	if err != nil {
		return Permanent(fmt.Errorf("DDL %q: %w", abbreviate(c.DDL), err))
	}
	a := shardddl.Arrival{Pos: shardddl.Position{Binlog: t.End}, DDLs: []string{norm}, Change: change}
	op := catalog.ShardOp{Kind: catalog.ShardArrive, Task: r.a.task, Member: m, Arrival: &a}
	if s.mode == shardddl.Optimistic {
		after, err := r.schemaAfter(m, c, a.Pos)
		if err != nil {
			return err
		}
		if a.After, err = after.Definition(); err != nil {
			return Permanent(fmt.Errorf("schema of %s after %q: %w", m, abbreviate(c.DDL), err))
		}
		op.CreateSQL = map[string]string{m.String(): after.CreateSQL}
	}
	res, err := r.request(ctx, op)
	if err != nil {
		return fmt.Errorf("shard DDL %q of %s: %w", abbreviate(c.DDL), m, err)
	}
	out := res.Outcome
	if out == nil {
		return fmt.Errorf("shard DDL %q of %s: no answer from the catalog", abbreviate(c.DDL), m)
	}
	r.logOutcome(m, out, t.End)
	switch out.Action {
	case shardddl.Execute:
		if err := r.runTargetDDL(ctx, out.Exec, c.DDL); err != nil {
			return err
		}
		if _, err := r.request(ctx, catalog.ShardOp{Kind: catalog.ShardDone, Task: r.a.task, Member: m, Pos: a.Pos}); err != nil {
			return err
		}
		r.target.ForgetAll()
	case shardddl.Skip:
		r.target.ForgetAll()
	default: // Wait, Conflict: hold the member
		s.Holds[m.String()] = &hold{Member: m, From: t.End, Floor: r.lastEnd, Arrival: a, Action: out.Action, Held: true}
	}
	return nil
}

func (r *applyRun) logOutcome(m shardddl.Member, out *shardddl.Outcome, pos dmnode.Position) {
	msg := string(out.Action) + " " + out.Reason
	if out.Conflict != nil {
		msg += " " + out.Conflict.Error()
	}
	if r.shard.logged[m.String()] == msg {
		return
	}
	r.shard.logged[m.String()] = msg
	args := []any{"table", m.String(), "pos", pos.String(), "lock", out.Lock, "action", string(out.Action)}
	switch {
	case out.Conflict != nil:
		r.log.Warn("shard DDL conflict: table held", append(args, "conflict", out.Conflict.Error())...)
	case out.Action == shardddl.Execute:
		r.log.Info("shard DDL: executing on the target", append(args, "ddl", strings.Join(out.Exec, "; "))...)
	default:
		r.log.Info("shard DDL", append(args, "reason", out.Reason)...)
	}
}

// schemaAfter returns a member's table after its DDL at pos, with its
// definition: the catalog keeps the member's CREATE TABLE after its
// previous arrival.
func (r *applyRun) schemaAfter(m shardddl.Member, c *dmnode.Change, pos shardddl.Position) (*schema.Table, error) {
	st := r.a.env.Catalog().ShardDDL[r.a.task]
	if st == nil {
		return nil, fmt.Errorf("task %s has no shard DDL state yet", r.a.task)
	}
	prev, ok := st.Schemas[m.String()]
	if !ok {
		return nil, Permanent(fmt.Errorf("the schema of %s is not known to the shard DDL locks", m))
	}
	tbl, err := schema.ParseCreateTable(m.Schema, prev.CreateSQL)
	if err != nil {
		return nil, Permanent(fmt.Errorf("schema of %s: %w", m, err))
	}
	if prev.Pos.Compare(pos) == 0 {
		return tbl, nil // asked before
	}
	tr := schema.NewTracker()
	tr.Put(tbl)
	if _, err := r.applyDDLTo(tr, c); err != nil {
		return nil, Permanent(fmt.Errorf("apply %q to the schema of %s recorded at %s: %w", abbreviate(c.DDL), m, prev.Pos, err))
	}
	after, ok := tr.Get(m.Schema, m.Table)
	if !ok {
		return nil, Permanent(fmt.Errorf("%s has no schema after %q", m, abbreviate(c.DDL)))
	}
	return after, nil
}

// runTargetDDL runs statements for one upstream DDL on the target, unless
// an operator decided otherwise for this position (task skip, task
// replace). When the target rejects them the applier stops, records the
// rejection in the catalog and says how to go on.
// execForTarget runs one routed DDL on the target, adapted to its dialect
// (forTarget).
func (r *applyRun) execForTarget(ctx context.Context, stmt, upstream string) error {
	run, err := r.forTarget(ctx, stmt)
	if err != nil {
		return err
	}
	for _, q := range run {
		if err := r.execTargetDDL(ctx, q, upstream); err != nil {
			return err
		}
	}
	return nil
}

func (r *applyRun) runTargetDDL(ctx context.Context, stmts []string, upstream string) error {
	pos := r.pending
	if d := r.decision(pos); d != nil {
		switch d.Action {
		case catalog.DecideSkip:
			r.log.Warn("DDL skipped by the operator", "ddl", abbreviate(strings.Join(stmts, "; ")), "pos", pos.String())
			stmts = nil
		case catalog.DecideReplace:
			r.log.Warn("DDL replaced by the operator", "ddl", abbreviate(strings.Join(stmts, "; ")), "with", abbreviate(strings.Join(d.SQL, "; ")), "pos", pos.String())
			stmts = d.SQL
		}
		for _, q := range stmts {
			if err := r.execTargetDDL(ctx, q, upstream); err != nil {
				if IsPermanent(err) && r.shard != nil && r.shard.cur != "" {
					// The operator's statements are refused too: the
					// decision is used up, the table stays quarantined
					// with the new reason.
					if _, cerr := r.request(ctx, catalog.ShardOp{Kind: catalog.ShardConsume, Task: r.a.task, Source: r.a.source, Pos: shardddl.Position{Binlog: pos}}); cerr != nil {
						return cerr
					}
					return r.quarantine(ctx, stmts, err)
				}
				return err
			}
		}
		return r.consumeAfterCommit(ctx, pos)
	}
	for _, q := range stmts {
		err := r.execForTarget(ctx, q, upstream)
		if err == nil || !IsPermanent(err) {
			if err != nil {
				return err
			}
			continue
		}
		if r.shard != nil && r.shard.cur != "" {
			return r.quarantine(ctx, stmts, err)
		}
		rej := &catalog.RejectedDDL{Pos: pos, Stmts: stmts, Error: err.Error()}
		if _, perr := r.request(ctx, catalog.ShardOp{Kind: catalog.ShardReject, Task: r.a.task, Source: r.a.source, Rejected: rej}); perr != nil {
			return fmt.Errorf("record the rejected DDL: %w (the target's answer: %v)", perr, err)
		}
		return Permanent(fmt.Errorf("%w; the task is paused at this DDL: run `dmnode task skip %s --source %s` to go on without it, or `dmnode task replace %s --source %s --sql \"...\"` to run other statements instead",
			err, r.a.task, r.a.source, r.a.task, r.a.source))
	}
	// Accepted now (the operator fixed the target and restarted the
	// task): the rejection no longer describes the source or the table.
	if r.rejectedAt(pos) {
		return r.consumeAfterCommit(ctx, pos)
	}
	return nil
}

// consumeAfterCommit forgets the rejection and decision at pos once the
// checkpoint after the statement is committed (commitDDL): forgotten
// before, a crash in between would meet the statement again without the
// decision. Without resync state it forgets them at once.
func (r *applyRun) consumeAfterCommit(ctx context.Context, pos dmnode.Position) error {
	if r.shard != nil {
		r.shard.decided = pos
		return nil
	}
	return r.forgetRejection(ctx, pos)
}

func (r *applyRun) forgetRejection(ctx context.Context, pos dmnode.Position) error {
	_, err := r.request(ctx, catalog.ShardOp{Kind: catalog.ShardConsume, Task: r.a.task, Source: r.a.source, Pos: shardddl.Position{Binlog: pos}})
	return err
}

// commitDDL commits the checkpoint after a DDL, then forgets the
// rejection it answered, if any.
func (r *applyRun) commitDDL(ctx context.Context) error {
	if err := r.commit(ctx); err != nil {
		return err
	}
	if r.shard == nil || r.shard.decided.IsZero() {
		return nil
	}
	pos := r.shard.decided
	r.shard.decided = dmnode.Position{}
	return r.forgetRejection(ctx, pos)
}

// consumeStale forgets, when the applier starts, the source's rejections
// its checkpoint has passed: their statements were run, skipped or
// replaced before a crash kept the applier from forgetting them. A
// rejection the applier still waits on (paused at it, or its table
// quarantined) is after the checkpoint.
func (r *applyRun) consumeStale(ctx context.Context) error {
	rj := r.a.env.Catalog().Rejections[r.a.task]
	if rj == nil {
		return nil
	}
	for _, x := range rj.Rejected {
		if x.Source == r.a.source && x.Pos.Compare(r.applied) <= 0 {
			r.log.Info("forgetting a rejected DDL the checkpoint has passed", "pos", x.Pos.String(), "table", x.Table)
			if err := r.forgetRejection(ctx, x.Pos); err != nil {
				return err
			}
		}
	}
	return nil
}

// decision returns the operator's decision for the DDL at pos, if any.
func (r *applyRun) decision(pos dmnode.Position) *catalog.Decision {
	rj := r.a.env.Catalog().Rejections[r.a.task]
	if rj == nil {
		return nil
	}
	for _, d := range rj.Decisions {
		if d.Source == r.a.source && d.Pos == pos {
			return d
		}
	}
	return nil
}

// rejectedAt reports whether the catalog records a rejection of the
// source's DDL at pos.
func (r *applyRun) rejectedAt(pos dmnode.Position) bool {
	rj := r.a.env.Catalog().Rejections[r.a.task]
	if rj == nil {
		return false
	}
	for _, x := range rj.Rejected {
		if x.Source == r.a.source && x.Pos == pos {
			return true
		}
	}
	return false
}

// forgetAll drops every cached plan and checked target table, after a
// shard DDL changed a target table (perhaps run by another source's
// applier): the next rows compile their plans and check the table again.
func (tt *targetTables) forgetAll() {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	clear(tt.plans)
	clear(tt.ready)
}

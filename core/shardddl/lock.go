package shardddl

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/dmnode/dmnode/core/schema"
	"github.com/dmnode/dmnode/core/sqlgen"
)

// lock is the coordination state of one target table: its group of
// upstream tables and what each has reported. Fields are exported for
// JSON only; every change goes through the methods, which are
// deterministic (members are visited in key order, arrivals numbered).
type lock struct {
	ID      string                  `json:"id"`
	Task    string                  `json:"task"`
	Target  schema.TableRef         `json:"target"`
	Mode    Mode                    `json:"mode"`
	Extra   []string                `json:"extra,omitempty"`
	Members map[string]*memberState `json:"members"`
	// Seq numbers arrivals, to tell which member arrived first.
	Seq uint64 `json:"seq"`
	// Pending is the DDL handed to one member to execute, until Done.
	Pending *execution `json:"pending,omitempty"`

	// Pessimistic: Round counts resolved rounds; Forced is set when the
	// current round was unlocked by hand.
	Round  uint64 `json:"round,omitempty"`
	Forced bool   `json:"forced,omitempty"`

	// Optimistic: Joined is the target table's schema as the lock knows
	// it (nil until the first DDL); Dropped the columns some members
	// dropped while others still have them.
	Joined  *schema.Definition   `json:"joined,omitempty"`
	Dropped map[string]*dropInfo `json:"dropped,omitempty"`
}

// memberState is what a lock knows of one upstream table.
type memberState struct {
	Member Member `json:"member"`
	// Last is the position of the member's last DDL the lock is done with:
	// arrivals at or before it are skipped.
	Last Position `json:"last,omitzero"`

	// Pessimistic. Since is the first round the member takes part in (a
	// table created during a round is not waited for). Queue holds its
	// arrived, unresolved DDLs in order; the head takes part in the
	// current round. Owed holds DDLs a forced unlock resolved before the
	// member reached them: when it does, they are skipped.
	Since uint64     `json:"since,omitempty"`
	Queue []Arrival  `json:"queue,omitempty"`
	Owed  [][]string `json:"owed,omitempty"`

	// Optimistic. Schema is the member's schema as joined; Parked is the
	// conflicting DDL holding it.
	Schema *schema.Definition `json:"schema,omitempty"`
	Parked *parked            `json:"parked,omitempty"`
}

// dropInfo is a column dropped by some members only.
type dropInfo struct {
	Column  string   `json:"column"`
	DDL     string   `json:"ddl"`
	Members []string `json:"members"`
}

func newLock(task string, target schema.TableRef, mode Mode, extra []string) *lock {
	return &lock{ID: LockID(task, target), Task: task, Target: target, Mode: mode,
		Extra: slices.Clone(extra), Members: map[string]*memberState{}}
}

func (l *lock) targetName() string {
	return sqlgen.QuoteIdent(l.Target.Schema) + "." + sqlgen.QuoteIdent(l.Target.Name)
}

// keys returns the member keys in order.
func (l *lock) keys() []string {
	ks := make([]string, 0, len(l.Members))
	for k := range l.Members {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// join adds a member; a member already there keeps its state.
func (l *lock) join(m Member, current *schema.Definition) {
	k := m.String()
	if _, ok := l.Members[k]; ok {
		return
	}
	ms := &memberState{Member: m, Since: l.Round}
	switch {
	case l.Mode == Optimistic:
		ms.Schema = current.Clone()
	case l.leader() != nil:
		ms.Since = l.Round + 1 // not waited for in the round under way
	}
	l.Members[k] = ms
}

// leave removes a member. A DDL it was executing is given up: in
// pessimistic mode the next member to ask executes it, in optimistic mode
// the lock forgets it ran and the next DDL's statements catch up.
func (l *lock) leave(k string) {
	if _, ok := l.Members[k]; !ok {
		return
	}
	delete(l.Members, k)
	if l.Pending != nil && l.Pending.Member == k {
		if l.Mode == Optimistic {
			l.Joined = l.Pending.Before
		}
		l.Pending = nil
	}
	switch l.Mode {
	case Pessimistic:
		if l.leader() == nil { // no round under way any more
			for _, ms := range l.Members {
				ms.Since = min(ms.Since, l.Round)
			}
		}
	case Optimistic:
		l.cleanDropped()
	}
}

func wait(id, format string, args ...any) Outcome {
	return Outcome{Action: Wait, Lock: id, Reason: fmt.Sprintf(format, args...)}
}

func skip(id, format string, args ...any) Outcome {
	return Outcome{Action: Skip, Lock: id, Reason: fmt.Sprintf(format, args...)}
}

func execute(id string, stmts []string) Outcome {
	return Outcome{Action: Execute, Lock: id, Exec: slices.Clone(stmts)}
}

// done records that the member executed what it was handed.
func (l *lock) done(k string, pos Position) error {
	ms := l.Members[k]
	p := l.Pending
	if p == nil || p.Member != k || p.Pos.Compare(pos) != 0 {
		if pos.Compare(ms.Last) <= 0 {
			return nil // reported before
		}
		return fmt.Errorf("lock %s: %s at %s: %w", l.ID, k, pos, ErrNotOwner)
	}
	if l.Mode == Pessimistic {
		l.resolveRound(p.Stmts)
		return nil
	}
	l.Pending = nil
	return nil
}

// ---- pessimistic ----

// required reports whether the current round waits for the member.
func (l *lock) required(ms *memberState) bool { return ms.Since <= l.Round }

// leader returns the required member whose head DDL arrived first: its
// DDLs are the round's. Nil when no required member has arrived.
func (l *lock) leader() *memberState {
	var lead *memberState
	for _, ms := range l.Members {
		if len(ms.Queue) == 0 || !l.required(ms) {
			continue
		}
		if lead == nil || ms.Queue[0].Seq < lead.Queue[0].Seq {
			lead = ms
		}
	}
	return lead
}

func (l *lock) arrivePessimistic(ms *memberState, a Arrival, ready bool) (Outcome, error) {
	k := ms.Member.String()
	if a.Pos.Compare(ms.Last) <= 0 {
		return skip(l.ID, "resolved before"), nil
	}
	for i, q := range ms.Queue {
		if q.Pos.Compare(a.Pos) != 0 {
			continue
		}
		if !sameStrings(q.DDLs, a.DDLs) {
			return Outcome{}, fmt.Errorf("lock %s: %s at %s: %q, recorded %q: %w", l.ID, k, a.Pos,
				joinDDLs(a.DDLs), joinDDLs(q.DDLs), ErrMismatch)
		}
		if i > 0 {
			return wait(l.ID, "queued behind this shard's DDL at %s", ms.Queue[0].Pos), nil
		}
		return l.headOutcome(ms, ready), nil
	}
	if n := len(ms.Queue); n > 0 && a.Pos.Compare(ms.Queue[n-1].Pos) < 0 {
		return Outcome{}, fmt.Errorf("lock %s: %s at %s, before its queued DDL at %s: %w",
			l.ID, k, a.Pos, ms.Queue[n-1].Pos, ErrOutOfOrder)
	}
	if len(ms.Queue) == 0 && len(ms.Owed) > 0 && sameStrings(ms.Owed[0], a.DDLs) {
		ms.Owed = ms.Owed[1:]
		ms.Last = a.Pos
		return skip(l.ID, "unlocked by hand before this shard arrived"), nil
	}
	l.Seq++
	ms.Queue = append(ms.Queue, Arrival{Pos: a.Pos, DDLs: slices.Clone(a.DDLs), Seq: l.Seq})
	if len(ms.Queue) > 1 {
		return wait(l.ID, "queued behind this shard's DDL at %s", ms.Queue[0].Pos), nil
	}
	return l.headOutcome(ms, ready), nil
}

// headOutcome answers a member at the head of its queue.
func (l *lock) headOutcome(ms *memberState, ready bool) Outcome {
	k, head := ms.Member.String(), ms.Queue[0]
	if p := l.Pending; p != nil {
		if p.Member == k && p.Pos.Compare(head.Pos) == 0 {
			return execute(l.ID, p.Stmts)
		}
		return wait(l.ID, "%s is executing the DDL", p.Member)
	}
	lead := l.leader()
	if lead == nil { // a member of a later round ahead of the others
		return wait(l.ID, "this table joined the group during an earlier DDL; waiting for the group")
	}
	if !l.Forced {
		if !sameStrings(head.DDLs, lead.Queue[0].DDLs) {
			if !l.required(ms) {
				return wait(l.ID, "this table joined the group during another DDL; waiting for it to finish")
			}
			return Outcome{Action: Conflict, Lock: l.ID, Conflict: l.pessimisticConflict(ms, lead)}
		}
		missing, conflicting := l.roundState(lead.Queue[0].DDLs)
		switch {
		case !ready:
			return wait(l.ID, "not every source of the task has registered its tables")
		case len(conflicting) > 0:
			return wait(l.ID, "shards %s arrived with different DDLs", strings.Join(conflicting, ", "))
		case len(missing) > 0:
			return wait(l.ID, "waiting for %s", strings.Join(missing, ", "))
		}
	}
	l.Pending = &execution{Member: k, Pos: head.Pos, Stmts: slices.Clone(lead.Queue[0].DDLs)}
	return execute(l.ID, l.Pending.Stmts)
}

// roundState lists the required members that have not arrived and those
// whose head differs from ddls.
func (l *lock) roundState(ddls []string) (missing, conflicting []string) {
	for _, k := range l.keys() {
		ms := l.Members[k]
		switch {
		case len(ms.Queue) > 0 && !sameStrings(ms.Queue[0].DDLs, ddls):
			if l.required(ms) {
				conflicting = append(conflicting, k)
			}
		case len(ms.Queue) == 0 && l.required(ms):
			missing = append(missing, k)
		}
	}
	return missing, conflicting
}

func (l *lock) pessimisticConflict(ms, lead *memberState) *ConflictInfo {
	head, first := ms.Queue[0], lead.Queue[0]
	other := lead.Member
	return &ConflictInfo{
		Lock: l.ID, Member: ms.Member, Pos: head.Pos, DDLs: slices.Clone(head.DDLs),
		Other: &other, OtherPos: first.Pos, OtherDDLs: slices.Clone(first.DDLs),
		Reason: fmt.Sprintf("DDL %q differs from %q, which %s reached first at %s; pessimistic mode needs every shard to run the same DDLs in the same order",
			joinDDLs(head.DDLs), joinDDLs(first.DDLs), other, first.Pos),
		Resolve: fmt.Sprintf("the shard stays held; resolve with `dmnode task ddl-lock unlock %s --action exec` (run %s's DDL once, skip the others) or `--action skip` (run nothing)",
			l.ID, other),
	}
}

// resolveRound ends the current round once ddls ran (or were skipped):
// members whose head is ddls (every required member with a head, when
// forced) go past it; required members that never arrived owe it when
// forced.
func (l *lock) resolveRound(ddls []string) {
	for _, k := range l.keys() {
		ms := l.Members[k]
		switch {
		case len(ms.Queue) > 0 && (sameStrings(ms.Queue[0].DDLs, ddls) || (l.Forced && l.required(ms))):
			ms.Last = ms.Queue[0].Pos
			ms.Queue = slices.Delete(ms.Queue, 0, 1)
		case len(ms.Queue) == 0 && l.Forced && l.required(ms):
			ms.Owed = append(ms.Owed, slices.Clone(ddls))
		}
	}
	l.Round++
	l.Pending, l.Forced = nil, false
}

func (l *lock) unlockPessimistic(opts UnlockOptions) error {
	lead := l.leader()
	if lead == nil {
		return fmt.Errorf("lock %s holds no DDL: %w", l.ID, ErrNoLock)
	}
	ddls := lead.Queue[0].DDLs
	if l.Pending != nil {
		ddls = l.Pending.Stmts
	}
	switch opts.Action {
	case UnlockSkip:
		l.Forced = true
		l.resolveRound(ddls)
	case UnlockExec:
		owner := lead
		if opts.Owner != nil {
			ms, ok := l.Members[opts.Owner.String()]
			if !ok || len(ms.Queue) == 0 {
				return fmt.Errorf("lock %s: owner %s has not arrived at the DDL: %w", l.ID, opts.Owner, ErrInvalid)
			}
			owner = ms
		}
		l.Forced = true
		l.Pending = &execution{Member: owner.Member.String(), Pos: owner.Queue[0].Pos, Stmts: slices.Clone(ddls)}
	default:
		return fmt.Errorf("unlock action %q: %w", opts.Action, ErrInvalid)
	}
	return nil
}

func (l *lock) statusPessimistic() []LockStatus {
	lead := l.leader()
	if lead == nil {
		return nil
	}
	ddls := lead.Queue[0].DDLs
	st := LockStatus{ID: l.ID, Task: l.Task, Target: l.Target, Mode: l.Mode, State: "waiting", DDLs: slices.Clone(ddls)}
	if l.Pending != nil {
		st.State, st.Owner, st.DDLs = "executing", l.Pending.Member, slices.Clone(l.Pending.Stmts)
	}
	for _, k := range l.keys() {
		ms := l.Members[k]
		if len(ms.Queue) == 0 {
			if l.required(ms) {
				st.Missing = append(st.Missing, k)
			}
			continue
		}
		head := ms.Queue[0]
		sh := ShardStatus{Member: k, Pos: head.Pos, DDLs: slices.Clone(head.DDLs), Queued: len(ms.Queue) - 1}
		switch {
		case sameStrings(head.DDLs, ddls):
			st.Arrived = append(st.Arrived, sh)
		case l.required(ms):
			sh.Reason = "different DDL"
			st.Conflicts = append(st.Conflicts, sh)
			if st.State == "waiting" {
				st.State = "conflict"
			}
		}
	}
	return []LockStatus{st}
}

// LockStatus is one line of `dmnode task ddl-locks`: a DDL a target table
// waits on, who arrived and who is missing.
type LockStatus struct {
	ID     string          `json:"id"`
	Task   string          `json:"task"`
	Target schema.TableRef `json:"target"`
	Mode   Mode            `json:"mode"`
	// State is "waiting" (for missing shards), "executing" (Owner runs
	// DDLs on the target), "conflict" (shards disagree, see Conflicts),
	// or in optimistic mode "pending" (a change waits for the last shards:
	// DROP COLUMN, ADD INDEX).
	State string   `json:"state"`
	DDLs  []string `json:"ddls"`
	Owner string   `json:"owner,omitempty"`
	// Arrived are the members that reached the DDL, Missing those the
	// lock still waits for, Conflicts those held with a conflicting DDL.
	Arrived   []ShardStatus `json:"arrived,omitempty"`
	Missing   []string      `json:"missing,omitempty"`
	Conflicts []ShardStatus `json:"conflicts,omitempty"`
}

// ShardStatus is one member's part in a lock.
type ShardStatus struct {
	Member string   `json:"member"`
	Pos    Position `json:"pos,omitzero"`
	DDLs   []string `json:"ddls,omitempty"`
	Queued int      `json:"queued,omitempty"` // later DDLs of the member waiting behind this one
	Reason string   `json:"reason,omitempty"`
}

func sortStatus(s []LockStatus) {
	slices.SortStableFunc(s, func(a, b LockStatus) int { return cmp.Compare(a.ID, b.ID) })
}

package shardddl

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/format"

	"github.com/dmnode/dmnode/core/schema"
)

// Manager holds the shard DDL locks of one task: one lock per target table
// that upstream tables are merged into. It is a pure state machine, not
// safe for concurrent use; see the package documentation for how to drive
// it.
type Manager struct {
	task       string
	mode       Mode
	sources    []string        // the sources that must register before a DDL is coordinated
	registered map[string]bool // sources that registered
	locks      map[string]*lock
	byMember   map[string]string // member key → lock id; derived
}

// NewManager returns the locks of a task, empty. DDLs are not coordinated
// until every one of sources has registered its tables (Register).
func NewManager(task string, mode Mode, sources []string) (*Manager, error) {
	if task == "" || (mode != Pessimistic && mode != Optimistic) {
		return nil, fmt.Errorf("new shard DDL manager for task %q, mode %q: %w", task, mode, ErrInvalid)
	}
	s := slices.Clone(sources)
	slices.Sort(s)
	return &Manager{task: task, mode: mode, sources: slices.Compact(s), registered: map[string]bool{},
		locks: map[string]*lock{}, byMember: map[string]string{}}, nil
}

// Task returns the task's name.
func (m *Manager) Task() string { return m.task }

// Mode returns the task's shard mode.
func (m *Manager) Mode() Mode { return m.mode }

func (m *Manager) ready() bool {
	for _, s := range m.sources {
		if !m.registered[s] {
			return false
		}
	}
	return true
}

func (m *Manager) checkRegistration(r Registration) error {
	switch {
	case !r.Member.valid() || r.Target.Schema == "" || r.Target.Name == "":
		return fmt.Errorf("register %s → %s: %w", r.Member, r.Target, ErrInvalid)
	case m.mode == Optimistic && r.Schema == nil:
		return fmt.Errorf("register %s: optimistic mode needs the table's schema: %w", r.Member, ErrInvalid)
	}
	return nil
}

// Register records the upstream tables of one source and the target tables
// they are routed to, replacing what the source registered before: tables
// not listed leave their groups. A table already registered keeps its
// state (its queued DDLs, its schema as joined). extra names the columns
// the target tables add to their primary and unique keys (extracted
// source, schema and table names).
func (m *Manager) Register(source string, tables []Registration, extra []string) error {
	for _, r := range tables {
		if err := m.checkRegistration(r); err != nil {
			return err
		}
		if r.Member.Source != source {
			return fmt.Errorf("register %s for source %s: %w", r.Member, source, ErrInvalid)
		}
	}
	keep := map[string]bool{}
	for _, r := range tables {
		keep[r.Member.String()] = true
	}
	for _, k := range sortedKeys(m.byMember) {
		if ms := m.locks[m.byMember[k]].Members[k]; ms.Member.Source == source && !keep[k] {
			m.leave(k)
		}
	}
	for _, r := range tables {
		m.join(r, extra)
	}
	m.registered[source] = true
	return nil
}

// Join adds one upstream table to the group of its target table, as when
// it is created upstream. A table created while a pessimistic lock is
// held is not waited for in that lock: it is expected to have been created
// with the new schema.
func (m *Manager) Join(r Registration, extra []string) error {
	if err := m.checkRegistration(r); err != nil {
		return err
	}
	m.join(r, extra)
	return nil
}

func (m *Manager) join(r Registration, extra []string) {
	k := r.Member.String()
	id := LockID(m.task, r.Target)
	if old, ok := m.byMember[k]; ok && old != id {
		m.leave(k) // routed elsewhere now
	}
	l := m.locks[id]
	if l == nil {
		l = newLock(m.task, r.Target, m.mode, extra)
		m.locks[id] = l
	}
	l.join(r.Member, r.Schema)
	m.byMember[k] = id
}

// Leave removes an upstream table from its group, as when it is dropped
// upstream or its source leaves the task. Leaving may complete a lock that
// was waiting only for this table.
func (m *Manager) Leave(member Member) error {
	k := member.String()
	if _, ok := m.byMember[k]; !ok {
		return fmt.Errorf("leave %s: %w", member, ErrNotMember)
	}
	m.leave(k)
	return nil
}

func (m *Manager) leave(k string) {
	id := m.byMember[k]
	delete(m.byMember, k)
	l := m.locks[id]
	if l == nil {
		return
	}
	l.leave(k)
	if len(l.Members) == 0 {
		delete(m.locks, id)
	}
}

// Arrive reports that member reached a DDL in its binlog, and says what to
// do with it (see Action). Asking again with the same position is safe and
// is how a held member learns that it may go on: the answer moves from
// Wait or Conflict to Execute or Skip once the lock allows. An arrival
// at or before a DDL the member is done with is skipped.
func (m *Manager) Arrive(member Member, a Arrival) (Outcome, error) {
	l, ms, err := m.member(member)
	if err != nil {
		return Outcome{}, err
	}
	if a.Pos.Binlog.IsZero() || len(a.DDLs) == 0 {
		return Outcome{}, fmt.Errorf("arrive %s: no position or no statements: %w", member, ErrInvalid)
	}
	ddls := make([]string, len(a.DDLs))
	for i, d := range a.DDLs {
		ddls[i] = strings.TrimSpace(d)
	}
	a.DDLs = ddls
	if l.Mode == Pessimistic {
		return l.arrivePessimistic(ms, a, m.ready())
	}
	return l.arriveOptimistic(ms, a, m.ready())
}

// Done reports that member executed on the target what an Execute outcome
// for its DDL at pos handed it. Reporting twice is harmless.
func (m *Manager) Done(member Member, pos Position) error {
	l, _, err := m.member(member)
	if err != nil {
		return err
	}
	return l.done(member.String(), pos)
}

func (m *Manager) member(member Member) (*lock, *memberState, error) {
	k := member.String()
	l := m.locks[m.byMember[k]]
	if l == nil || l.Members[k] == nil {
		return nil, nil, fmt.Errorf("%s: %w", member, ErrNotMember)
	}
	return l, l.Members[k], nil
}

// Unlock resolves a lock by hand, as DM's shard-ddl-lock unlock.
//
// Pessimistic: exec hands the lock's DDL (that of the first shard to
// arrive) to opts.Owner, or the first shard to arrive, to execute once;
// when it reports Done every shard that arrived goes past its DDL, even a
// conflicting one. skip lets them go past it at once, executing nothing.
// Either way, shards that have not arrived yet skip the DDL when they
// reach it.
//
// Optimistic: the held shards (opts.Member, or all) go past their DDLs and
// their new schemas join the others' as they are: a rename counts as a
// drop and an add, a narrowed type keeps the wider target type, a NOT NULL
// column without default is nullable in the target. exec hands the
// statements that bring the target to that join to the first released
// shard; skip records the join without executing anything (the operator
// changed the target by hand). skip without a shard also gives up a DDL a
// shard was told to execute and never reported done.
func (m *Manager) Unlock(id string, opts UnlockOptions) error {
	l := m.locks[id]
	if l == nil {
		return fmt.Errorf("unlock %s: %w", id, ErrNoLock)
	}
	if l.Mode == Pessimistic {
		return l.unlockPessimistic(opts)
	}
	return l.unlockOptimistic(opts)
}

// Locks lists what the task's target tables wait on, by lock id: a line
// per held DDL (pessimistic), per held shard and per change waiting for
// the last shards (optimistic).
func (m *Manager) Locks() []LockStatus {
	var out []LockStatus
	for _, id := range sortedKeys(m.locks) {
		l := m.locks[id]
		if l.Mode == Pessimistic {
			out = append(out, l.statusPessimistic()...)
		} else {
			out = append(out, l.statusOptimistic()...)
		}
	}
	sortStatus(out)
	return out
}

// Joined returns the schema the optimistic lock of a target table takes
// the target to have, nil if none is known yet.
func (m *Manager) Joined(target schema.TableRef) *schema.Definition {
	if l := m.locks[LockID(m.task, target)]; l != nil {
		return l.Joined.Clone()
	}
	return nil
}

func sortedKeys[V any](mp map[string]V) []string {
	ks := make([]string, 0, len(mp))
	for k := range mp {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// snapshot is the JSON form of a Manager.
type snapshot struct {
	Version    int              `json:"version"`
	Task       string           `json:"task"`
	Mode       Mode             `json:"mode"`
	Sources    []string         `json:"sources,omitempty"`
	Registered []string         `json:"registered,omitempty"`
	Locks      map[string]*lock `json:"locks"`
}

const snapshotVersion = 1

// MarshalJSON encodes the manager's whole state; the encoding of equal
// states is equal.
func (m *Manager) MarshalJSON() ([]byte, error) {
	return json.Marshal(snapshot{Version: snapshotVersion, Task: m.task, Mode: m.mode, Sources: m.sources,
		Registered: sortedKeys(m.registered), Locks: m.locks})
}

// UnmarshalJSON replaces the manager's state with one MarshalJSON encoded.
func (m *Manager) UnmarshalJSON(b []byte) error {
	var s snapshot
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("decode shard DDL locks: %w", err)
	}
	if s.Version != snapshotVersion {
		return fmt.Errorf("decode shard DDL locks: unknown version %d", s.Version)
	}
	if s.Mode != Pessimistic && s.Mode != Optimistic {
		return fmt.Errorf("decode shard DDL locks: mode %q: %w", s.Mode, ErrInvalid)
	}
	n := Manager{task: s.Task, mode: s.Mode, sources: s.Sources, registered: map[string]bool{},
		locks: map[string]*lock{}, byMember: map[string]string{}}
	for _, src := range s.Registered {
		n.registered[src] = true
	}
	for id, l := range s.Locks {
		if l == nil || l.ID != id || l.Members == nil {
			return errors.New("decode shard DDL locks: malformed lock " + id)
		}
		for k, ms := range l.Members {
			if ms == nil || ms.Member.String() != k {
				return fmt.Errorf("decode shard DDL locks: lock %s: malformed member %s", id, k)
			}
			n.byMember[k] = id
		}
		n.locks[id] = l
	}
	*m = n
	return nil
}

// Clone returns a deep copy of m, which a caller may change (Arrive on it
// answers what the lock would) without changing m.
func (m *Manager) Clone() (*Manager, error) {
	data, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("copy shard DDL locks of task %s: %w", m.task, err)
	}
	var c Manager
	if err := c.UnmarshalJSON(data); err != nil {
		return nil, fmt.Errorf("copy shard DDL locks of task %s: %w", m.task, err)
	}
	return &c, nil
}

// Normalize returns the canonical text of one DDL statement, as the
// parser restores it: Arrive compares statements of different shards as
// text, so callers pass every routed statement through it.
func Normalize(stmt string) (string, error) {
	norm, _, err := NormalizeChange(stmt)
	return norm, err
}

// NormalizeChange returns Normalize's text of one routed DDL statement and
// its typed change (Arrival.Change), from one parse.
func NormalizeChange(stmt string) (string, *Change, error) {
	stmts, err := schema.Parse(stmt)
	if err != nil {
		return "", nil, err
	}
	if len(stmts) != 1 {
		return "", nil, fmt.Errorf("%w: normalize: want one statement, got %d", ErrInvalid, len(stmts))
	}
	var b strings.Builder
	if err := stmts[0].Restore(format.NewRestoreCtx(restoreFlags, &b)); err != nil {
		return "", nil, fmt.Errorf("normalize %q: %w", abbrev(stmt), err)
	}
	return b.String(), &Change{Renames: renamesOf(stmts[0])}, nil
}

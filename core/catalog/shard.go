package catalog

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/shardddl"
)

// OpShardDDL is the operation of every shard DDL command; Command.Shard
// says which.
const OpShardDDL = "shard-ddl"

// Shard DDL command kinds (ShardOp.Kind).
const (
	// ShardRegister records the upstream tables of one source (and creates
	// the task's locks on first use): shardddl.Manager.Register.
	ShardRegister = "register"
	ShardJoin     = "join"   // a routed table was created upstream
	ShardLeave    = "leave"  // a routed table was dropped upstream
	ShardArrive   = "arrive" // a member met a DDL; the result holds the Outcome
	ShardDone     = "done"   // the member executed what an Execute outcome handed it
	ShardUnlock   = "unlock" // an operator resolved a lock by hand
	// ShardReject records that the target rejected a DDL of a source; the
	// applier is parked on it until an operator decides (ShardDecide).
	ShardReject = "reject"
	// ShardDecide records an operator's one-shot decision (skip or replace)
	// for the rejected DDL, and restarts the source's applier to use it.
	ShardDecide = "decide"
	// ShardConsume forgets the decision and rejection once applied.
	ShardConsume = "consume"
)

// Decisions on a DDL the target rejected.
const (
	DecideSkip    = "skip"
	DecideReplace = "replace"
)

// ShardOp is the payload of an OpShardDDL command.
type ShardOp struct {
	Kind   string        `json:"kind"`
	Task   string        `json:"task"`
	Source string        `json:"source,omitempty"`
	Mode   shardddl.Mode `json:"mode,omitempty"` // register: the task's shard-mode
	// Register: the source's tables and the extracted key columns.
	Tables []shardddl.Registration `json:"tables,omitempty"`
	Extra  []string                `json:"extra,omitempty"`
	// Join (Tables[0]), Leave, Arrive, Done: the member.
	Member  shardddl.Member   `json:"member,omitzero"`
	Arrival *shardddl.Arrival `json:"arrival,omitempty"`
	Pos     shardddl.Position `json:"pos,omitzero"`
	// CreateSQL (join, register, arrive) is the member's CREATE TABLE after
	// the DDL (optimistic mode), kept so the applier can derive the schema
	// after the member's next DDL.
	CreateSQL map[string]string `json:"create_sql,omitempty"`
	// Unlock: the lock and what to do.
	Lock   string                  `json:"lock,omitempty"`
	Unlock *shardddl.UnlockOptions `json:"unlock,omitempty"`
	// Reject, Decide, Consume.
	Rejected *RejectedDDL `json:"rejected,omitempty"`
	Decision *Decision    `json:"decision,omitempty"`
}

// Result is what a command answers besides its error.
type Result struct {
	Outcome *shardddl.Outcome `json:"outcome,omitempty"`
}

// ShardTask is the shard DDL state of one task with a shard-mode.
type ShardTask struct {
	Manager *shardddl.Manager `json:"manager"`
	// Schemas holds each member's CREATE TABLE after its latest arrival
	// (optimistic mode), by member key.
	Schemas map[string]MemberSchema `json:"schemas,omitempty"`
	// Registered lists the sources that registered their tables.
	Registered []string `json:"registered,omitempty"`
}

// TaskRejections holds the DDL the target rejected and the operator's
// answer to it, by RejectionKey: by source for a source paused at its DDL,
// by source and target table for a quarantined table.
type TaskRejections struct {
	Rejected  map[string]*RejectedDDL `json:"rejected,omitempty"`
	Decisions map[string]*Decision    `json:"decisions,omitempty"`
}

// MemberSchema is a member's table definition as of a position.
//
// It stays CREATE TABLE text, not a schema.Table: the applier's only use
// of it is to apply the member's next DDL to it (actors' schemaAfter),
// and the schema tracker alters a table from its CreateSQL text anyway,
// so a typed table would save one parse per shard DDL while making every
// arrival's Raft entry carry the definition a second time (the arrival's
// After already holds it typed, for the locks). The catalog itself never
// parses it.
type MemberSchema struct {
	Pos       shardddl.Position `json:"pos"`
	CreateSQL string            `json:"create_sql"`
}

// RejectedDDL is a DDL the target refused: with Table empty the source's
// applier is parked on it; with Table set only that target table is
// quarantined (its changes are held from Pos on) and the source's other
// tables go on.
type RejectedDDL struct {
	Source string          `json:"source"`
	Table  string          `json:"table,omitempty"`
	Pos    dmnode.Position `json:"pos"`
	Stmts  []string        `json:"stmts"`
	Error  string          `json:"error"`
}

// RejectionKey is the key of a rejection and its decision in
// TaskRejections: the source, or source:table for a quarantined table.
func RejectionKey(source, table string) string {
	if table == "" {
		return source
	}
	return source + ":" + table
}

// Decision is an operator's answer to a rejected DDL: skip it, or run
// SQL instead. It applies once, at Pos.
type Decision struct {
	Source string          `json:"source"`
	Table  string          `json:"table,omitempty"` // the quarantined table, if any
	Pos    dmnode.Position `json:"pos"`
	Action string          `json:"action"`
	SQL    []string        `json:"sql,omitempty"`
}

// Exec applies c like Apply and returns its result: the outcome of a shard
// DDL arrival. A command already applied (its ID seen) returns an empty
// result.
func (s *State) Exec(c Command) (Result, error) {
	if c.Op != OpShardDDL {
		return Result{}, s.Apply(c)
	}
	if c.ID != "" && s.seen(c.ID) {
		return Result{}, nil
	}
	res, err := s.shardDDL(c.Shard)
	if err == nil && c.ID != "" {
		s.remember(c.ID)
	}
	return res, err
}

func (s *State) shardDDL(op *ShardOp) (Result, error) {
	if op == nil {
		return Result{}, fmt.Errorf("shard DDL command without payload: %w", ErrInvalid)
	}
	switch op.Kind {
	case ShardReject, ShardDecide, ShardConsume:
		return Result{}, s.rejection(op)
	}
	t, ok := s.Tasks[op.Task]
	if !ok {
		return Result{}, notFound("task", op.Task)
	}
	st := s.ShardDDL[op.Task]
	if st == nil {
		if op.Kind != ShardRegister {
			return Result{}, fmt.Errorf("task %q coordinates no shard DDL yet: %w", op.Task, ErrNotFound)
		}
		m, err := shardddl.NewManager(op.Task, op.Mode, t.SortedSources())
		if err != nil {
			return Result{}, err
		}
		st = &ShardTask{Manager: m}
		if s.ShardDDL == nil {
			s.ShardDDL = map[string]*ShardTask{}
		}
		s.ShardDDL[op.Task] = st
	}
	// The command changes a copy of the task's locks, which replaces
	// them once it succeeded: the manager's methods may fail half-way and
	// Apply changes all or nothing, and the locks in place may be shared
	// with an earlier snapshot of the catalog (Clone).
	cp, err := st.clone()
	if err != nil {
		return Result{}, err
	}
	res, err := cp.apply(op)
	if err != nil {
		return Result{}, err
	}
	s.ShardDDL[op.Task] = cp
	return res, nil
}

// clone returns a copy of st that shares nothing that apply changes.
func (st *ShardTask) clone() (*ShardTask, error) {
	m, err := st.Manager.Clone()
	if err != nil {
		return nil, err
	}
	return &ShardTask{Manager: m, Schemas: maps.Clone(st.Schemas), Registered: slices.Clone(st.Registered)}, nil
}

func (st *ShardTask) apply(op *ShardOp) (Result, error) {
	m := st.Manager
	switch op.Kind {
	case ShardRegister:
		if err := m.Register(op.Source, op.Tables, op.Extra); err != nil {
			return Result{}, err
		}
		if !slices.Contains(st.Registered, op.Source) {
			st.Registered = append(st.Registered, op.Source)
			slices.Sort(st.Registered)
		}
		st.keepSchemas(op.CreateSQL, shardddl.Position{}, false)
	case ShardJoin:
		if len(op.Tables) != 1 {
			return Result{}, fmt.Errorf("join: want one table: %w", ErrInvalid)
		}
		if err := m.Join(op.Tables[0], op.Extra); err != nil {
			return Result{}, err
		}
		st.keepSchemas(op.CreateSQL, shardddl.Position{}, true)
	case ShardLeave:
		if err := m.Leave(op.Member); err != nil && !errors.Is(err, shardddl.ErrNotMember) {
			return Result{}, err
		}
		delete(st.Schemas, op.Member.String())
	case ShardArrive:
		if op.Arrival == nil {
			return Result{}, fmt.Errorf("arrive without arrival: %w", ErrInvalid)
		}
		out, err := m.Arrive(op.Member, *op.Arrival)
		if err != nil {
			return Result{}, err
		}
		st.keepSchemas(op.CreateSQL, op.Arrival.Pos, false)
		return Result{Outcome: &out}, nil
	case ShardDone:
		return Result{}, m.Done(op.Member, op.Pos)
	case ShardUnlock:
		if op.Unlock == nil {
			return Result{}, fmt.Errorf("unlock without options: %w", ErrInvalid)
		}
		return Result{}, m.Unlock(op.Lock, *op.Unlock)
	default:
		return Result{}, fmt.Errorf("shard DDL command %q: %w", op.Kind, ErrInvalid)
	}
	return Result{}, nil
}

// keepSchemas records member definitions: at registration only for
// members that have none (a restarted applier keeps the recorded ones),
// at an arrival when newer than the recorded one.
func (st *ShardTask) keepSchemas(defs map[string]string, pos shardddl.Position, replace bool) {
	if len(defs) == 0 {
		return
	}
	if st.Schemas == nil {
		st.Schemas = map[string]MemberSchema{}
	}
	keys := make([]string, 0, len(defs))
	for k := range defs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		old, ok := st.Schemas[k]
		switch {
		case !ok, replace:
		case pos.Binlog.IsZero() || pos.Compare(old.Pos) <= 0:
			continue
		}
		st.Schemas[k] = MemberSchema{Pos: pos, CreateSQL: defs[k]}
	}
}

// rejections: ShardReject, ShardDecide and ShardConsume work on tasks
// with or without a shard-mode, so they live beside the locks.
func (s *State) rejection(op *ShardOp) error {
	t, ok := s.Tasks[op.Task]
	if !ok {
		return notFound("task", op.Task)
	}
	if _, ok := t.Sources[op.Source]; !ok {
		return notFound("source of task "+op.Task, op.Source)
	}
	if s.Rejections == nil {
		s.Rejections = map[string]*TaskRejections{}
	}
	// A copy of the task's rejections takes the change: the maps in place
	// may be shared with an earlier snapshot of the catalog (Clone). Their
	// entries are replaced, never changed.
	st := &TaskRejections{Rejected: map[string]*RejectedDDL{}, Decisions: map[string]*Decision{}}
	if old := s.Rejections[op.Task]; old != nil {
		maps.Copy(st.Rejected, old.Rejected)
		maps.Copy(st.Decisions, old.Decisions)
	}
	s.Rejections[op.Task] = st
	switch op.Kind {
	case ShardReject:
		if op.Rejected == nil {
			return fmt.Errorf("reject without statement: %w", ErrInvalid)
		}
		r := *op.Rejected
		r.Source = op.Source
		k := RejectionKey(op.Source, r.Table)
		st.Rejected[k] = &r
		if d := st.Decisions[k]; d != nil && d.Pos != r.Pos {
			delete(st.Decisions, k) // an answer to an older rejection
		}
	case ShardDecide:
		d := op.Decision
		if d == nil || (d.Action != DecideSkip && d.Action != DecideReplace) || (d.Action == DecideReplace && len(d.SQL) == 0) {
			return fmt.Errorf("decision: %w", ErrInvalid)
		}
		k := RejectionKey(op.Source, d.Table)
		r := st.Rejected[k]
		if r == nil {
			what := ""
			if d.Table != "" {
				what = " for table " + d.Table
			}
			return fmt.Errorf("task %s, source %s: no DDL was rejected by the target%s: %w", op.Task, op.Source, what, ErrNotFound)
		}
		cp := *d
		cp.Source, cp.Pos = op.Source, r.Pos
		st.Decisions[k] = &cp
		s.restart(ActorSpec{Kind: KindApply, Task: op.Task, Source: op.Source})
	case ShardConsume:
		// A position names one DDL of a source, whichever table it
		// quarantined.
		for k, r := range st.Rejected {
			if r.Source == op.Source && r.Pos == op.Pos.Binlog {
				delete(st.Rejected, k)
			}
		}
		for k, d := range st.Decisions {
			if d.Source == op.Source && d.Pos == op.Pos.Binlog {
				delete(st.Decisions, k)
			}
		}
	}
	if len(st.Rejected) == 0 && len(st.Decisions) == 0 {
		delete(s.Rejections, op.Task)
	}
	return nil
}

// restart gives an assigned actor a new epoch on the same node, so the
// node restarts it (an actor parked on a permanent error runs again).
func (s *State) restart(a ActorSpec) {
	if as, ok := s.Assign[a.ID()]; ok {
		s.Epoch++
		s.Assign[a.ID()] = Assignment{Node: as.Node, Epoch: s.Epoch}
	}
}

// RejectedError is an error the catalog returned for a command: applying
// the same command again gives the same answer. Node.propose returns it,
// also for a command forwarded to the leader, where only its text crosses
// the wire.
type RejectedError struct{ Err error }

func (e *RejectedError) Error() string { return e.Err.Error() }
func (e *RejectedError) Unwrap() error { return e.Err }

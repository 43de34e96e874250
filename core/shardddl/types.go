package shardddl

import (
	"errors"
	"fmt"
	"strings"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/schema"
	"github.com/dmnode/dmnode/core/sqlgen"
)

// Mode is a task's shard-mode.
type Mode string

// Shard modes, as in TiDB DM's shard-mode.
const (
	Pessimistic Mode = "pessimistic"
	Optimistic  Mode = "optimistic"
)

// Errors returned by the Manager. They are permanent: the same call on the
// same state gives the same answer. Branch with errors.Is.
var (
	// ErrInvalid: a malformed call (empty member, missing schema, unknown
	// mode or action).
	ErrInvalid = errors.New("invalid shard DDL request")
	// ErrNotMember: the upstream table is not in any group of the task;
	// register it (Register, Join) first.
	ErrNotMember = errors.New("table is not a member of a shard group")
	// ErrNoLock: Unlock named a lock that does not exist or holds nothing.
	ErrNoLock = errors.New("no such shard DDL lock")
	// ErrOutOfOrder: a member arrived with a DDL older than one it already
	// queued, that the lock has never seen. Its replay diverged from the
	// first run.
	ErrOutOfOrder = errors.New("shard DDL arrived out of order")
	// ErrMismatch: a member arrived twice at the same position with
	// different statements.
	ErrMismatch = errors.New("shard DDL differs from the one recorded at the same position")
	// ErrNotOwner: Done came from a member that was not told to execute.
	ErrNotOwner = errors.New("member is not executing this shard DDL")
	// ErrConflict is wrapped by every *Conflict.
	ErrConflict = errors.New("shard DDL conflict")
)

// Member is one upstream table of a shard group.
type Member struct {
	Source string `json:"source"`
	Schema string `json:"schema"`
	Table  string `json:"table"`
}

// String names the member as source:`schema`.`table`; it is also the
// member's key in the lock's JSON.
func (m Member) String() string {
	return m.Source + ":" + sqlgen.QuoteIdent(m.Schema) + "." + sqlgen.QuoteIdent(m.Table)
}

func (m Member) valid() bool { return m.Source != "" && m.Schema != "" && m.Table != "" }

// LockID names the lock of a target table, as DM does:
// task-`schema`.`table`.
func LockID(task string, target schema.TableRef) string {
	return task + "-" + sqlgen.QuoteIdent(target.Schema) + "." + sqlgen.QuoteIdent(target.Name)
}

// Position orders the DDLs of one member: the binlog position of the
// event, then the statement's index within the event's text.
type Position struct {
	Binlog dmnode.Position `json:"binlog"`
	Stmt   int             `json:"stmt,omitempty"`
}

// Compare orders positions: binlog position first, statement index next.
func (p Position) Compare(q Position) int {
	if c := p.Binlog.Compare(q.Binlog); c != 0 {
		return c
	}
	switch {
	case p.Stmt < q.Stmt:
		return -1
	case p.Stmt > q.Stmt:
		return 1
	}
	return 0
}

func (p Position) String() string {
	if p.Stmt == 0 {
		return p.Binlog.String()
	}
	return fmt.Sprintf("%s#%d", p.Binlog, p.Stmt)
}

// Arrival is one upstream DDL of one member, as the applier met it.
type Arrival struct {
	Pos Position `json:"pos"`
	// DDLs are the statements of the event, routed to the target table
	// (schema.RouteDDL) and in Normalize's form, in order. Pessimistic
	// locks compare them as text; optimistic locks read renames from them.
	DDLs []string `json:"ddls"`
	// After is the member's table definition after the statements (the
	// Def of the table the applier's schema tracker holds after them).
	// Required in optimistic mode, ignored in pessimistic mode.
	After *schema.Definition `json:"after,omitempty"`
	// Change is what the statements change, read from them once by the
	// caller (ChangeOf), so that the lock, applied on every replica of the
	// catalog, never parses SQL. Required in optimistic mode.
	Change *Change `json:"change,omitempty"`
	// Seq orders arrivals across members; the lock sets it.
	Seq uint64 `json:"seq,omitempty"`
}

// Change is the typed form of an arrival's statements: what the
// optimistic lock reads from them besides the member's schema after them.
type Change struct {
	// Renames are the column and index renames, in statement order.
	Renames []Rename `json:"renames,omitempty"`
}

// Rename is a RENAME COLUMN, a CHANGE old new, or a RENAME INDEX.
type Rename struct {
	Index bool   `json:"index,omitempty"`
	From  string `json:"from"`
	To    string `json:"to"`
}

// Registration names one upstream table, the target table it is routed
// to and, in optimistic mode, its current schema.
type Registration struct {
	Member Member             `json:"member"`
	Target schema.TableRef    `json:"target"`
	Schema *schema.Definition `json:"schema,omitempty"`
}

// Action says what the applier does with an arrived DDL.
type Action string

// Actions of an Outcome.
const (
	// Wait: hold this member's changes to the target table at the DDL and
	// ask again (the same Arrive) later.
	Wait Action = "wait"
	// Execute: run Outcome.Exec on the target, in order, then report Done;
	// the member's changes after the DDL may then flow.
	Execute Action = "execute"
	// Skip: nothing to run for this DDL (not yet, or never, or already
	// done); go on past it.
	Skip Action = "skip"
	// Conflict: hold this member at the DDL; Outcome.Conflict says why and
	// what resolves it. Asking again gives the same answer until the
	// conflict is resolved by the other shards or by Unlock.
	Conflict Action = "conflict"
)

// Outcome answers an Arrive.
type Outcome struct {
	Action Action `json:"action"`
	Lock   string `json:"lock"`
	// Exec holds the statements to run on the target (Execute only).
	Exec []string `json:"exec,omitempty"`
	// Reason says, for Wait and Skip, what the member waits for or why
	// nothing runs: for logs and status.
	Reason   string        `json:"reason,omitempty"`
	Conflict *ConflictInfo `json:"conflict,omitempty"`
}

// ConflictInfo describes DDLs that cannot be coordinated. It is an error
// wrapping ErrConflict.
type ConflictInfo struct {
	Lock string `json:"lock"`
	// Member and DDLs are the arrival that conflicts.
	Member Member   `json:"member"`
	Pos    Position `json:"pos"`
	DDLs   []string `json:"ddls"`
	// Other is the member whose DDL or schema it conflicts with, if one;
	// OtherDDLs its statements (pessimistic).
	Other     *Member  `json:"other,omitempty"`
	OtherPos  Position `json:"other_pos,omitzero"`
	OtherDDLs []string `json:"other_ddls,omitempty"`
	// Reason is a sentence naming the columns or statements that differ.
	Reason string `json:"reason"`
	// Resolve says what ends the conflict.
	Resolve string `json:"resolve"`
}

func (c *ConflictInfo) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "shard DDL lock %s: %s at %s: %s", c.Lock, c.Member, c.Pos, c.Reason)
	if c.Resolve != "" {
		b.WriteString("; ")
		b.WriteString(c.Resolve)
	}
	return b.String()
}

func (c *ConflictInfo) Unwrap() error { return ErrConflict }

// UnlockAction is what Unlock does with the DDL a lock holds.
type UnlockAction string

// Unlock actions, as DM's shard-ddl-lock unlock --action.
const (
	// UnlockExec executes the held DDL once on the target and lets every
	// held member go on past it.
	UnlockExec UnlockAction = "exec"
	// UnlockSkip lets every held member go on past the DDL without
	// executing anything: the operator has changed the target by hand, or
	// wants the change dropped.
	UnlockSkip UnlockAction = "skip"
)

// UnlockOptions control Unlock.
type UnlockOptions struct {
	Action UnlockAction `json:"action"`
	// Owner (pessimistic, exec) is the member that executes the DDL; it
	// must have arrived at it. Empty: the first member that arrived.
	Owner *Member `json:"owner,omitempty"`
	// Member (optimistic) is the held member to release. Empty: every
	// held member of the lock.
	Member *Member `json:"member,omitempty"`
}

// execution is a DDL handed to one member to run on the target.
type execution struct {
	Member string   `json:"member"`
	Pos    Position `json:"pos"`
	Stmts  []string `json:"stmts"`
	// Before is the joined schema before the statements (optimistic): if
	// the member leaves before Done, the lock forgets the statements ran.
	Before *schema.Definition `json:"before,omitempty"`
}

func sameStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// abbrev shortens a statement for messages.
func abbrev(s string) string {
	const n = 200
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "..."
	}
	return s
}

func joinDDLs(ddls []string) string {
	out := make([]string, len(ddls))
	for i, d := range ddls {
		out[i] = abbrev(d)
	}
	return strings.Join(out, "; ")
}

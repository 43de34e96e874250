// Package catalog is the cluster's replicated state: sources, tasks with
// their desired state and per-source stage, members, and the assignment of
// every actor to a node. It is a pure state machine: Apply takes a command
// and changes the state deterministically, with no I/O and no clock, so every
// Raft member that applies the same log holds the same catalog.
package catalog

import (
	"errors"
	"fmt"
	"sort"

	"github.com/dmnode/dmnode"
)

// Task modes, as in TiDB DM's task-mode.
const (
	ModeFull        = "full"
	ModeIncremental = "incremental"
	ModeAll         = "all"
)

// Stages of one source within a task.
const (
	StageDump = "dump" // dumper and loader run; chunks stream from one to the other
	StageLoad = "load" // every chunk is dumped; the loader drains the rest
	StageSync = "sync" // the applier replays the source's binlog stream
	StageDone = "done" // a full-mode task finished loading
)

// Desired states of a task. A paused task's dumpers, loaders and appliers
// stop, but the tailers it reads from keep relaying the binlog into the
// stream, so the upstream may purge its binlog while the task is paused; a
// stopped task runs nothing.
const (
	Running = "running"
	Paused  = "paused"
	Stopped = "stopped"
)

// Errors returned by Apply. They are permanent: retrying the same command
// gives the same answer.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
	ErrInUse    = errors.New("in use")
	ErrInvalid  = errors.New("invalid command")
	// ErrStale refuses a placement decided by a deposed leader.
	ErrStale = errors.New("stale placement")
)

// State is the whole catalog.
type State struct {
	Sources map[string]*Source    `json:"sources"`
	Tasks   map[string]*Task      `json:"tasks"`
	Members map[string]*Member    `json:"members"`
	Assign  map[string]Assignment `json:"assign"` // actor id → node
	Epoch   uint64                `json:"epoch"`  // last assignment epoch handed out
	// AssignTerm is the Raft term of the newest leader whose placement was
	// applied; a placement of an older term is refused (ErrStale).
	AssignTerm uint64 `json:"assign_term,omitempty"`
	// Replicas is the replication factor the streams and checkpoints were
	// last verified at (caught up on a quorum). A leader that takes over
	// does not verify again what an earlier leader did, so a node loss
	// never holds placement back behind JetStream's own re-elections.
	Replicas int `json:"replicas,omitempty"`
	// Seen holds the idempotency keys of the most recent commands, oldest
	// first, bounded by maxSeen: a command retried after a leadership change
	// applies once.
	Seen []string `json:"seen"`
	// ShardDDL holds the shard DDL locks of every task with a shard-mode,
	// by task; Rejections the DDLs the target rejected, by task.
	ShardDDL   map[string]*ShardTask      `json:"shard_ddl,omitempty"`
	Rejections map[string]*TaskRejections `json:"rejections,omitempty"`
}

const maxSeen = 4096

// Source is an upstream MySQL/MariaDB instance, as its source.yaml said.
type Source struct {
	ID   string `json:"id"`
	File string `json:"file"`
	YAML string `json:"yaml"`
	// TailFrom is where the source's tailer starts when it has no
	// checkpoint yet: the earliest position any task asked for.
	TailFrom dmnode.Position `json:"tail_from"`
}

// Task is a submitted task file and its progress through the stages.
type Task struct {
	Name    string                 `json:"name"`
	File    string                 `json:"file"`
	YAML    string                 `json:"yaml"`
	Mode    string                 `json:"mode"`
	Desired string                 `json:"desired"`
	Sources map[string]*TaskSource `json:"sources"`
}

// TaskSource is the progress of one source within a task.
type TaskSource struct {
	Stage string `json:"stage"`
	// Start is where the applier begins: the binlog position of the first
	// consistent snapshot (all), or the configured or current position
	// (incremental).
	Start dmnode.Position `json:"start"`
	// SafeUntil is the position up to which the applier replays changes
	// idempotently: the latest snapshot's position when the dump had to be
	// redone, since chunks of older snapshots may already hold newer rows.
	SafeUntil dmnode.Position `json:"safe_until"`
	// Snapshots counts the consistent snapshots taken (more than one after
	// an interrupted dump).
	Snapshots int `json:"snapshots"`
}

// Member is a node of the cluster.
type Member struct {
	ID      string `json:"id"`
	Control string `json:"control"`         // NATS client URL
	Route   string `json:"route,omitempty"` // NATS cluster route URL, for peers
	Raft    string `json:"raft,omitempty"`  // Raft address
	HTTP    string `json:"http,omitempty"`  // metrics and health address
	// Leaving is set by a graceful leave: the node gets no new actors and
	// its actors move elsewhere before it is removed.
	Leaving bool `json:"leaving,omitempty"`
}

// MemberIDs returns the member ids in order.
func (s *State) MemberIDs() []string {
	ids := make([]string, 0, len(s.Members))
	for id := range s.Members {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Assignment places an actor on a node. Epoch increases with every new
// placement; actors tag their checkpoints with it.
type Assignment struct {
	Node  string `json:"node"`
	Epoch uint64 `json:"epoch"`
}

// New returns an empty catalog.
func New() *State {
	return &State{
		Sources: map[string]*Source{},
		Tasks:   map[string]*Task{},
		Members: map[string]*Member{},
		Assign:  map[string]Assignment{},
	}
}

// TaskNames returns the task names in order.
func (s *State) TaskNames() []string {
	names := make([]string, 0, len(s.Tasks))
	for n := range s.Tasks {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// SourceIDs returns the source ids in order.
func (s *State) SourceIDs() []string {
	ids := make([]string, 0, len(s.Sources))
	for id := range s.Sources {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// SortedSources returns the source ids of a task in order.
func (t *Task) SortedSources() []string {
	ids := make([]string, 0, len(t.Sources))
	for id := range t.Sources {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

func notFound(kind, name string) error {
	return fmt.Errorf("%s %q: %w", kind, name, ErrNotFound)
}

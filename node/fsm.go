package node

import (
	"encoding/json"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/hashicorp/raft"

	"github.com/dmnode/dmnode/core/catalog"
	"github.com/dmnode/dmnode/core/shardddl"
)

// fsm adapts the catalog to raft.FSM. Apply, Snapshot and Restore are
// called by Raft from one goroutine; State and Watch may be called from any.
//
// The catalog is published as an immutable *catalog.State after every
// applied entry: Apply changes a copy (catalog.State.Clone, copy on write
// of what the command changes) and swaps the pointer. Readers share the
// published State without copying or locking it, and must never change
// it: a reader that needs a changed catalog clones it first.
type fsm struct {
	state atomic.Pointer[catalog.State]
	// watchers get a value after every change; each has capacity 1, as one
	// pending notification is enough for a level-triggered reader.
	watchers []chan struct{}
}

func newFSM() *fsm {
	f := &fsm{}
	f.state.Store(catalog.New())
	return f
}

// watch returns a channel that receives after catalog changes. Call it
// before Raft starts applying, it is not safe concurrently with Apply.
func (f *fsm) watch() <-chan struct{} {
	c := make(chan struct{}, 1)
	f.watchers = append(f.watchers, c)
	return c
}

func (f *fsm) Apply(l *raft.Log) any {
	var c catalog.Command
	if err := json.Unmarshal(l.Data, &c); err != nil {
		return applyResult{Err: fmt.Errorf("decode command: %w", err)}
	}
	if err := upgradeCommand(&c); err != nil {
		return applyResult{Err: err}
	}
	// The entry's term lets the catalog refuse a placement that reached the
	// log after its leader was deposed (catalog.State.fence).
	c.LogTerm = l.Term
	next := f.state.Load().Clone()
	res, err := next.Exec(c)
	f.state.Store(next)
	f.notify()
	return applyResult{Result: res, Err: err}
}

// applyResult is what the FSM's Apply returns to the proposer (through
// raft.ApplyFuture.Response): the command's result and its error, which
// came from the catalog's deterministic Apply.
type applyResult struct {
	Result catalog.Result
	Err    error
}

func (f *fsm) notify() {
	for _, c := range f.watchers {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}

// State returns the catalog as of the last applied entry. It is shared by
// every caller and by later snapshots: read it, never change it.
func (f *fsm) State() *catalog.State {
	return f.state.Load()
}

// Snapshot hands Raft the published catalog; it is encoded in Persist,
// off the FSM's goroutine, as it never changes.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	return snapshot{f.state.Load()}, nil
}

func (f *fsm) Restore(r io.ReadCloser) error {
	defer r.Close()
	s := catalog.New()
	if err := json.NewDecoder(r).Decode(s); err != nil {
		return fmt.Errorf("restore catalog: %w", err)
	}
	f.state.Store(s)
	f.notify()
	return nil
}

type snapshot struct{ state *catalog.State }

func (s snapshot) Persist(sink raft.SnapshotSink) error {
	data, err := json.Marshal(s.state)
	if err != nil {
		sink.Cancel()
		return fmt.Errorf("snapshot catalog: %w", err)
	}
	if _, err := sink.Write(data); err != nil {
		sink.Cancel()
		return fmt.Errorf("persist catalog snapshot: %w", err)
	}
	return sink.Close()
}

func (s snapshot) Release() {}

// upgradeCommand completes a command written before shard DDL arrivals
// carried their typed change (shardddl.Arrival.Change): the statements
// are parsed here, once, as the catalog never parses SQL. Entries of
// such a version stay in the Raft log of a running cluster until a
// snapshot compacts them.
func upgradeCommand(c *catalog.Command) error {
	if c.Op != catalog.OpShardDDL || c.Shard == nil || c.Shard.Kind != catalog.ShardArrive ||
		c.Shard.Arrival == nil || c.Shard.Arrival.Change != nil {
		return nil
	}
	ch, err := shardddl.ChangeOf(c.Shard.Arrival.DDLs)
	if err != nil {
		return fmt.Errorf("decode shard DDL arrival of %s at %s: %w", c.Shard.Member, c.Shard.Arrival.Pos, err)
	}
	c.Shard.Arrival.Change = ch
	return nil
}

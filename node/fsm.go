package node

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"github.com/hashicorp/raft"

	"github.com/dmnode/dmnode/core/catalog"
)

// fsm adapts the catalog to raft.FSM. Apply, Snapshot and Restore are
// called by Raft from one goroutine; State and Watch may be called from any.
type fsm struct {
	mu    sync.Mutex
	state *catalog.State
	// watchers get a value after every change; each has capacity 1, as one
	// pending notification is enough for a level-triggered reader.
	watchers []chan struct{}
}

func newFSM() *fsm {
	return &fsm{state: catalog.New()}
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
	// The entry's term lets the catalog refuse a placement that reached the
	// log after its leader was deposed (catalog.State.fence).
	c.LogTerm = l.Term
	f.mu.Lock()
	res, err := f.state.Exec(c)
	f.mu.Unlock()
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

// State returns a deep copy of the catalog, safe to read without locks.
func (f *fsm) State() *catalog.State {
	f.mu.Lock()
	data, err := json.Marshal(f.state)
	f.mu.Unlock()
	if err != nil {
		panic(fmt.Sprintf("encode catalog: %v", err)) // only plain data: cannot fail
	}
	s := catalog.New()
	if err := json.Unmarshal(data, s); err != nil {
		panic(fmt.Sprintf("decode catalog: %v", err))
	}
	return s
}

func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	data, err := json.Marshal(f.state)
	if err != nil {
		return nil, fmt.Errorf("snapshot catalog: %w", err)
	}
	return snapshot(data), nil
}

func (f *fsm) Restore(r io.ReadCloser) error {
	defer r.Close()
	s := catalog.New()
	if err := json.NewDecoder(r).Decode(s); err != nil {
		return fmt.Errorf("restore catalog: %w", err)
	}
	f.mu.Lock()
	f.state = s
	f.mu.Unlock()
	f.notify()
	return nil
}

type snapshot []byte

func (s snapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s); err != nil {
		sink.Cancel()
		return fmt.Errorf("persist catalog snapshot: %w", err)
	}
	return sink.Close()
}

func (s snapshot) Release() {}

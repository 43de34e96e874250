package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/dmnode/dmnode/core/catalog"
)

// The control layer's fakes: the catalog is the node's real FSM applied
// in memory (no Raft), the cluster, the health, the sealing and the
// checkpoint bucket are what each test sets.

// fakeCommander applies every command to the FSM at once, as a leader
// would, and records it; fail makes every command fail instead.
type fakeCommander struct {
	mu   sync.Mutex
	f    *fsm
	cmds []catalog.Command
	fail error
}

func (c *fakeCommander) request(_ context.Context, cmd catalog.Command) (catalog.Result, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail != nil {
		return catalog.Result{}, c.fail
	}
	c.cmds = append(c.cmds, cmd)
	data, err := json.Marshal(cmd)
	if err != nil {
		return catalog.Result{}, err
	}
	r := c.f.Apply(&raft.Log{Data: data, Term: 1}).(applyResult)
	if r.Err != nil {
		return catalog.Result{}, &catalog.RejectedError{Err: r.Err}
	}
	return r.Result, nil
}

// ops lists the operations proposed so far.
func (c *fakeCommander) ops() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, cmd := range c.cmds {
		out = append(out, cmd.Op)
	}
	return out
}

// fakeSealer marks what it sealed, or fails.
type fakeSealer struct{ fail error }

func (s fakeSealer) sealFile(f File) (string, error) {
	if s.fail != nil {
		return "", s.fail
	}
	return f.Data, nil
}

type fakeCluster struct {
	mu      sync.Mutex
	voter   map[string]bool
	lead    string
	live    map[string]bool
	healths map[string]NodeHealth
	catchUp error
	asked   []string
}

func (c *fakeCluster) voters() map[string]bool { return c.voter }
func (c *fakeCluster) leader() string          { return c.lead }
func (c *fakeCluster) alive(id string) bool    { return c.live[id] }
func (c *fakeCluster) askHealth(_ context.Context, id string) NodeHealth {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.asked = append(c.asked, id)
	if h, ok := c.healths[id]; ok {
		return h
	}
	return NodeHealth{Node: id, Error: "not answering: timeout"}
}
func (c *fakeCluster) catchUpWithLeader(context.Context) error { return c.catchUp }

// fakeMembers answers the membership methods with the method's name.
type fakeMembers struct{}

func (fakeMembers) apiClusterJoin(context.Context, *Request) (*Response, error) {
	return &Response{Report: []string{"join"}}, nil
}
func (fakeMembers) apiClusterRemove(context.Context, *Request) (*Response, error) {
	return &Response{Report: []string{"remove"}}, nil
}
func (fakeMembers) apiClusterLeave(context.Context, *Request) (*Response, error) {
	return &Response{Report: []string{"leave"}}, nil
}
func (fakeMembers) forwardToLeader(_ context.Context, method string, _ *Request) (*Response, error) {
	return &Response{Report: []string{"forwarded " + method}}, nil
}

type fakeHealth struct {
	h     NodeHealth
	down  bool
	since time.Time
	cause string
}

func (f *fakeHealth) report() NodeHealth { return f.h }
func (f *fakeHealth) available() (bool, time.Time, string) {
	return !f.down, f.since, f.cause
}

// fakeProgress is the checkpoint bucket: JSON values by key; fail makes
// every read fail.
type fakeProgress struct {
	mu   sync.Mutex
	kv   map[string][]byte
	fail error
}

func (p *fakeProgress) put(key string, v any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	data, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	p.kv[key] = data
}

func (p *fakeProgress) Load(_ context.Context, key string, v any) (uint64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail != nil {
		return 0, p.fail
	}
	data, ok := p.kv[key]
	if !ok {
		return 0, nil
	}
	return 1, json.Unmarshal(data, v)
}

// testControl is a control layer with its fakes.
type testControl struct {
	*control
	cmd      *fakeCommander
	cl       *fakeCluster
	hl       *fakeHealth
	progress *fakeProgress
}

func newFakeControl() *testControl {
	f := newFSM()
	tc := &testControl{
		cmd: &fakeCommander{f: f},
		cl: &fakeCluster{voter: map[string]bool{"n1": true}, lead: "n1", live: map[string]bool{},
			healths: map[string]NodeHealth{}},
		hl:       &fakeHealth{h: NodeHealth{Node: "n1", NATSConnected: true, JetStream: true}},
		progress: &fakeProgress{kv: map[string][]byte{}},
	}
	tc.control = &control{
		id: "n1", log: slog.New(slog.DiscardHandler), fsm: f, cmd: tc.cmd, keys: fakeSealer{},
		cluster: tc.cl, members: fakeMembers{}, health: tc.hl, progress: tc.progress,
		storeReady: new(atomic.Bool), ready: new(atomic.Bool),
	}
	tc.storeReady.Store(true)
	tc.ready.Store(true)
	return tc
}

// exec applies commands to the catalog as the leader would, failing the
// test's setup on an error.
func (tc *testControl) exec(cmds ...catalog.Command) {
	for _, c := range cmds {
		if _, err := tc.cmd.request(context.Background(), c); err != nil {
			panic(fmt.Sprintf("setup %s: %v", c.Op, err))
		}
	}
}

var errTest = errors.New("test failure")

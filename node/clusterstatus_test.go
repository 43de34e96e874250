package node

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/dmnode/dmnode/core/catalog"
)

// leaderMembers is membership as a node still loading its catalog sees
// it: it forwards to the leader, which answers with its own members, or
// fails when no leader is known.
type leaderMembers struct {
	fakeMembers
	mu        sync.Mutex
	forwarded []Request
	methods   []string
	answer    *Response
	fail      error
}

func (m *leaderMembers) forwardToLeader(_ context.Context, method string, req *Request) (*Response, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.methods = append(m.methods, method)
	m.forwarded = append(m.forwarded, *req)
	if m.fail != nil {
		return nil, m.fail
	}
	return m.answer, nil
}

// countingCluster counts the catch-ups with the leader.
type countingCluster struct {
	*fakeCluster
	mu       sync.Mutex
	catchUps int
}

func (c *countingCluster) catchUpWithLeader(ctx context.Context) error {
	c.mu.Lock()
	c.catchUps++
	c.mu.Unlock()
	return c.fakeCluster.catchUpWithLeader(ctx)
}

// A node that has not loaded its catalog never answers cluster status from
// its empty catalog (which reads as "no members, no leader"): the leader
// answers for it, or it says it is not ready; a request already forwarded
// is refused, not forwarded again. Once loaded, it catches up with the
// leader and answers from its own catalog.
func TestClusterStatusBeforeReady(t *testing.T) {
	ctx := context.Background()
	tc := newFakeControl()
	tc.exec(catalog.Command{Op: catalog.OpAddMember, Member: &catalog.Member{ID: "n1", Control: "nats://127.0.0.1:4222"}},
		catalog.Command{Op: catalog.OpAddMember, Member: &catalog.Member{ID: "n2", Control: "nats://127.0.0.1:4223"}})
	lm := &leaderMembers{answer: &Response{Members: []MemberStatus{{Member: catalog.Member{ID: "n2"}, Leader: true}}}}
	tc.members = lm
	cc := &countingCluster{fakeCluster: tc.cl}
	tc.cluster = cc
	hs := tc.handlers()

	tc.ready.Store(false)
	r := tc.serve(ctx, hs["cluster.status"], "cluster.status", []byte(`{}`))
	if r.Error != "" || len(r.Members) != 1 || r.Members[0].ID != "n2" || !r.Members[0].Leader {
		t.Fatalf("loading node with a leader: %+v, want the leader's answer", r)
	}
	if len(lm.forwarded) != 1 || lm.methods[0] != "cluster.status" || !lm.forwarded[0].Forwarded {
		t.Errorf("forwarded %v %+v, want one cluster.status marked forwarded", lm.methods, lm.forwarded)
	}

	lm.fail = errors.New("cluster.status: " + ErrNotLeader.Error())
	r = tc.serve(ctx, hs["cluster.status"], "cluster.status", []byte(`{}`))
	if r.Error != notReadyError || len(r.Members) != 0 {
		t.Errorf("loading node without a leader: %+v, want %q and no members", r, notReadyError)
	}

	fwd, _ := json.Marshal(Request{Forwarded: true})
	r = tc.serve(ctx, hs["cluster.status"], "cluster.status", fwd)
	if r.Error != notReadyError || len(r.Members) != 0 {
		t.Errorf("forwarded request to a loading node: %+v, want %q", r, notReadyError)
	}
	if len(lm.forwarded) != 2 {
		t.Errorf("a forwarded request was forwarded again: %d forwards", len(lm.forwarded))
	}
	if cc.catchUps != 0 {
		t.Errorf("a loading node caught up %d times", cc.catchUps)
	}

	tc.ready.Store(true)
	r = tc.serve(ctx, hs["cluster.status"], "cluster.status", []byte(`{}`))
	if r.Error != "" || len(r.Members) != 2 || r.Members[0].ID != "n1" || !r.Members[0].Leader || r.Members[1].ID != "n2" || r.Members[1].Leader {
		t.Errorf("loaded node: %+v, want n1 (leader) and n2 from its catalog", r)
	}
	if cc.catchUps != 1 || len(lm.forwarded) != 2 {
		t.Errorf("loaded node: %d catch-ups and %d forwards, want 1 and none more", cc.catchUps, len(lm.forwarded))
	}
	// A catch-up that fails does not keep the loaded node from answering.
	tc.cl.catchUp = errors.New("no leader")
	if r = tc.serve(ctx, hs["cluster.status"], "cluster.status", []byte(`{}`)); r.Error != "" || len(r.Members) != 2 {
		t.Errorf("loaded node without a leader: %+v", r)
	}
	// The other membership methods still reach membership while loading.
	tc.ready.Store(false)
	if r = tc.serve(ctx, hs["cluster.join"], "cluster.join", []byte(`{}`)); r.Error != "" || r.Report[0] != "join" {
		t.Errorf("cluster.join while loading: %+v", r)
	}
	if r = tc.serve(ctx, hs["task.list"], "task.list", []byte(`{}`)); !strings.Contains(r.Error, "still loading its catalog") {
		t.Errorf("task.list while loading: %+v", r)
	}
}

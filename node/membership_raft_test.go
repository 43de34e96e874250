package node

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/dmnode/dmnode/core/catalog"
)

type fakeKeys string

func (k fakeKeys) clusterKeys() string { return string(k) }

// The leader adds a joining node to Raft (a non-voter first, then a
// voter), then to the catalog, and hands it the cluster keys; the same
// node joining again from the same Raft address (a retry after a lost
// answer) is accepted, from another address it is refused.
func TestMembershipJoinOnRaft(t *testing.T) {
	c := newTestCluster(t, 3)
	c.seed(t)
	ctx := context.Background()
	join := `{"id":"n4","control":"nats://n4","raft":"n4"}`
	var (
		l    *Node
		m    *membership
		resp *Response
		err  error
	)
	// Elections take 100 ms here: on a loaded machine leadership may move
	// during the join, which the joining node would retry with the new
	// leader.
	for attempt := 1; ; attempt++ {
		l = c.leader(t)
		m = l.members
		m.keys = fakeKeys("k1 00ff\n")
		if attempt == 1 && voterOf(m.raft, "n4") {
			t.Fatal("n4 is a voter before it joined")
		}
		resp, err = m.apiClusterJoin(ctx, &Request{Files: []File{{Name: "member", Data: join}}, Retry: attempt > 1})
		if err == nil || !strings.Contains(err.Error(), "not the leader") || attempt == 5 {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Report) != 1 || resp.Report[0] != "node n4 joined" || resp.ClusterKeys != "k1 00ff\n" {
		t.Errorf("answer %+v", resp)
	}
	if !voterOf(m.raft, "n4") || !m.voters()["n4"] {
		t.Errorf("n4 is not a raft voter: %v", m.voters())
	}
	if got := l.fsm.State().Members["n4"]; got == nil || got.Control != "nats://n4" || got.Raft != "n4" {
		t.Errorf("catalog member n4: %+v", got)
	}
	if _, err := m.apiClusterJoin(ctx, &Request{Files: []File{{Name: "member", Data: join}}, Retry: true}); err != nil {
		t.Errorf("a retried join: %v", err)
	}
	_, err = m.apiClusterJoin(ctx, &Request{Files: []File{{Name: "member", Data: `{"id":"n4","raft":"elsewhere"}`}}, Retry: true})
	wantErr(t, "a retry from another raft address", err, "node n4 is already a member")
	_, err = m.apiClusterJoin(ctx, &Request{Files: []File{{Name: "member", Data: `{"id":`}}})
	wantErr(t, "a member that is no JSON", err, "join: ")
	if voterOf(m.raft, "n9") {
		t.Error("a stranger is a voter")
	}
}

// A node leaving gracefully is marked leaving at once (placement gives it
// nothing new) and waits for its actors to run elsewhere; when they do not
// move in time, the leave fails saying how many are left.
func TestMembershipLeaveWaitsForActors(t *testing.T) {
	c := newTestCluster(t, 3)
	c.seed(t)
	l := c.leader(t)
	if err := l.sched.proposeLeading(context.Background(), 0, catalog.Command{Op: catalog.OpAssign, Assign: map[string]string{"tail/s1": l.id}}); err != nil {
		t.Fatal(err)
	}
	l.cfg.Dev = false
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_, err := l.members.apiClusterLeave(ctx, &Request{})
	wantErr(t, "leave with an actor placed", err, "leave: 1 actors still placed here")
	if mb := l.fsm.State().Members[l.id]; mb == nil || !mb.Leaving {
		t.Errorf("the leaving member is not marked: %+v", mb)
	}
	if !l.members.voters()[l.id] {
		t.Error("a node whose leave failed was removed from raft")
	}
}

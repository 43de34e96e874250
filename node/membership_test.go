package node

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dmnode/dmnode/core/catalog"
)

// On a three-member Raft cluster in memory: the leader removes a member
// from Raft and from the catalog, refuses a node that is not a member or
// that joins under a member's id, and answers the read index its catalog
// has applied; a follower has no read index of its own.
func TestMembershipOnRaft(t *testing.T) {
	c := newTestCluster(t, 3)
	c.seed(t)
	l := c.leader(t)
	m := l.members
	ctx := context.Background()
	if m.leader() != l.id {
		t.Fatalf("leader %q, want %q", m.leader(), l.id)
	}
	if v := m.voters(); len(v) != 3 || !v["n1"] || !v["n2"] || !v["n3"] {
		t.Fatalf("voters %v", v)
	}
	idx, err := m.leaderReadIndex(ctx)
	if err != nil || idx < l.raft.AppliedIndex() {
		t.Fatalf("read index %d (applied %d): %v", idx, l.raft.AppliedIndex(), err)
	}
	if err := m.catchUpWithLeader(ctx); err != nil {
		t.Fatal(err)
	}
	var follower *Node
	for _, n := range c.nodes {
		if n != l {
			follower = n
		}
	}
	if _, err := follower.members.leaderReadIndex(ctx); !errors.Is(err, ErrNotLeader) {
		t.Errorf("a follower's read index: %v", err)
	}

	_, err = m.apiClusterRemove(ctx, &Request{Name: "n9"})
	wantErr(t, "remove of a stranger", err, `node "n9" is not a member`)
	other := *c.leader(t).fsm.State().Members[follower.id]
	_, err = m.apiClusterJoin(ctx, &Request{Files: []File{{Name: "member", Data: `{"id":"` + other.ID + `","raft":"elsewhere"}`}}})
	wantErr(t, "join under a member's id", err, "is already a member")
	_, err = m.apiClusterJoin(ctx, &Request{})
	wantErr(t, "join without a member", err, "no member given")

	resp, err := m.apiClusterRemove(ctx, &Request{Name: follower.id})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Report[0] != "node "+follower.id+" removed" {
		t.Errorf("report %q", resp.Report)
	}
	if _, ok := m.voters()[follower.id]; ok {
		t.Errorf("%s is still in the Raft configuration", follower.id)
	}
	if _, ok := l.fsm.State().Members[follower.id]; ok {
		t.Errorf("%s is still a catalog member", follower.id)
	}
}

// A dev node belongs to no cluster it could leave.
func TestMembershipLeaveDev(t *testing.T) {
	m := &membership{id: "n1", cfg: &Config{Dev: true}}
	_, err := m.apiClusterLeave(context.Background(), &Request{})
	wantErr(t, "leave of a dev node", err, "not part of a cluster")
}

// The other members' route URLs are kept in the data dir for a restart,
// rewritten only when they change; a dev node keeps none.
func TestSavePeers(t *testing.T) {
	dir := t.TempDir()
	m := &membership{id: "n1", cfg: &Config{DataDir: dir}}
	st := catalog.New()
	st.Members["n1"] = &catalog.Member{ID: "n1", Route: "nats-route://a:6222"}
	st.Members["n2"] = &catalog.Member{ID: "n2", Route: "nats-route://b:6222"}
	st.Members["n3"] = &catalog.Member{ID: "n3", Route: "nats-route://c:6222"}
	m.savePeers(st)
	peers, err := loadPeers(dir)
	if err != nil || strings.Join(peers, ",") != "nats-route://b:6222,nats-route://c:6222" {
		t.Fatalf("peers %v, %v", peers, err)
	}
	delete(st.Members, "n3")
	m.savePeers(st)
	if peers, _ := loadPeers(dir); strings.Join(peers, ",") != "nats-route://b:6222" {
		t.Errorf("after n3 left: %v", peers)
	}
	if err := os.WriteFile(filepath.Join(dir, peersFile), []byte("{"), 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := loadPeers(dir); err == nil || !strings.Contains(err.Error(), "read peers") {
		t.Errorf("a damaged peers file: %v", err)
	}
	devDir := t.TempDir()
	(&membership{id: "n1", cfg: &Config{Dev: true, DataDir: devDir}}).savePeers(st)
	if peers, err := loadPeers(devDir); err != nil || peers != nil {
		t.Errorf("a dev node saved peers %v, %v", peers, err)
	}
}

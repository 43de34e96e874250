package node

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync/atomic"

	"github.com/hashicorp/raft"
	"github.com/nats-io/nats.go"

	"github.com/dmnode/dmnode/core/catalog"
)

// membership is the node's part in the cluster once it is open: the Raft
// peers (join, remove, leave), the heartbeats that tell live members,
// the peers' route URLs kept for a restart, the leader's read index, and
// the other members' health. Founding or joining a cluster, which happens
// while the node opens, is the node's own (node.go, natsjoin.go).
type membership struct {
	id    string
	cfg   *Config
	log   *slog.Logger
	raft  *raft.Raft
	nc    *nats.Conn
	fsm   catalogView
	cmd   commander
	beats *heartbeats
	// keys are the cluster keys a joining node receives.
	keys interface{ clusterKeys() string }
	// storeReady is set once this node can run actors (JetStream is open).
	storeReady *atomic.Bool
	// stop ends the node once it has left the cluster.
	stop func()
}

func (n *membership) propose(ctx context.Context, c catalog.Command) error {
	_, err := n.cmd.request(ctx, c)
	return err
}

// voters are the Raft members and whether each is a voter.
func (n *membership) voters() map[string]bool {
	out := map[string]bool{}
	if f := n.raft.GetConfiguration(); f.Error() == nil {
		for _, s := range f.Configuration().Servers {
			out[string(s.ID)] = s.Suffrage == raft.Voter
		}
	}
	return out
}

// leader is the id of the Raft leader, "" while none is known.
func (n *membership) leader() string {
	_, id := n.raft.LeaderWithID()
	return string(id)
}

// alive reports whether a member was heard from recently (heartbeats).
func (n *membership) alive(id string) bool { return n.beats.alive(id) }

// askHealth asks another member for its health on its own subject; a
// member that does not answer is described by the error.
func (n *membership) askHealth(ctx context.Context, id string) NodeHealth {
	r := NodeHealth{Node: id}
	msg, err := n.nc.RequestWithContext(ctx, nodeSubject(id)+"node.health", []byte("{}"))
	var resp Response
	switch {
	case err != nil:
		r.Error = "not answering: " + err.Error()
	case json.Unmarshal(msg.Data, &resp) != nil || len(resp.Health) != 1:
		r.Error = "an answer it could not read"
	default:
		r = resp.Health[0]
	}
	return r
}

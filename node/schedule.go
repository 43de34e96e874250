package node

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/raft"

	"github.com/dmnode/dmnode/core/catalog"
	"github.com/dmnode/dmnode/jetstream"
)

// schedule runs the leader's placement loop: while this node leads, it
// registers itself as a member and keeps the catalog's assignments equal to
// catalog.Place of the desired actors. It re-evaluates on every catalog
// change and at least every second.
func (n *Node) schedule(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		if n.raft.State() == raft.Leader {
			if err := n.placeOnce(ctx); err != nil && ctx.Err() == nil {
				n.log.Warn("placement failed", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-n.schedKick:
		}
	}
}

// replicas is the replication factor streams should have with live nodes
// up. With the embedded servers (one per node) a stream's copies live on
// the nodes: one copy per live node, up to the setting (--replicas,
// default 3), raised as nodes join. On an external NATS cluster
// (--nats-url) the copies live on its servers, whatever the number of
// dmnode nodes: the setting, unless the server reports that it is not part
// of a cluster (then 1, with a warning at start). The client's list of
// server URLs says nothing about the cluster (a load balancer, a service
// name or no_advertise hide it) and is never used; a cluster with fewer
// JetStream servers than the setting refuses to create the streams, and the
// error says so.
func (n *Node) replicas(live int) int {
	want := n.cfg.replicas()
	if n.cfg.NATSURL == "" {
		return min(max(live, 1), want)
	}
	if n.nc.ConnectedClusterName() == "" {
		return 1
	}
	return want
}

func (n *Node) placeOnce(ctx context.Context) error {
	st := n.fsm.State()
	if m, ok := st.Members[n.id]; !ok || (*m != n.self && !m.Leaving) {
		self := n.self
		if err := n.propose(ctx, catalog.Command{Op: catalog.OpAddMember, Member: &self}); err != nil {
			return err
		}
		st = n.fsm.State()
	}
	live := n.liveMembers(st)
	if !n.cfg.Dev {
		// No work is placed before this node can reach JetStream and the
		// streams and checkpoints are replicated as the live cluster
		// allows: an actor's progress must survive the loss of a node.
		if !n.storeReady.Load() {
			return nil
		}
		if want := n.replicas(len(live)); st.Replicas < want {
			if err := n.store.Scale(ctx, want); err != nil {
				return fmt.Errorf("replicate streams before placing actors: %w", err)
			}
			if err := n.propose(ctx, catalog.Command{Op: catalog.OpReplicated, Replicas: want}); err != nil {
				return err
			}
		}
	}
	desired := st.Desired()
	changes := catalog.Place(live, desired, st.Assign)
	if len(changes) == 0 {
		return nil
	}
	// Something moves: weigh the actors by the rows per second they last
	// reported, so busy actors spread.
	changes = catalog.PlaceWeighted(live, desired, st.Assign, n.actorRates(ctx, desired))
	return n.propose(ctx, catalog.Command{Op: catalog.OpAssign, Assign: changes})
}

// actorRates reads the recent rows per second of loaders and appliers from
// their progress records; actors without one weigh nothing.
func (n *Node) actorRates(ctx context.Context, desired []catalog.ActorSpec) map[string]float64 {
	if !n.storeReady.Load() {
		return nil
	}
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	rates := map[string]float64{}
	for _, a := range desired {
		var p struct {
			Rate float64 `json:"rate"`
		}
		switch a.Kind {
		case catalog.KindLoad, catalog.KindApply:
			if _, err := n.store.Load(rctx, jetstream.Key("progress", a.Kind, a.Task, a.Source), &p); err == nil && p.Rate > 0 {
				rates[a.ID()] = p.Rate
			}
		}
	}
	return rates
}

package node

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/dmnode/dmnode/core/catalog"
	"github.com/dmnode/dmnode/jetstream"
)

// scheduler is the leader's placement: it decides where every actor runs,
// and only under the context of a leadership of this node (whileLeading),
// stamping its assignments with the leader's term.
type scheduler struct {
	id   string
	cfg  *Config
	log  *slog.Logger
	raft *raft.Raft
	fsm  catalogView
	// self is this node's member record, which the leader keeps current.
	self catalog.Member
	// applyLocal applies a command on this node's Raft, never forwarded.
	applyLocal func(op string, data []byte) (catalog.Result, error)
	// liveMembers are the members placement may use (membership).
	liveMembers func(st *catalog.State) []string
	// replicas is the replication factor with that many live nodes.
	replicas func(live int) int
	// store is JetStream, nil until storeReady.
	store      *jetstream.Store
	storeReady *atomic.Bool
	// schedKick receives after every change of the catalog.
	schedKick <-chan struct{}
}

// schedule runs the leader's placement loop: while this node leads, it
// registers itself as a member and keeps the catalog's assignments equal to
// catalog.Place of the desired actors. It re-evaluates on every catalog
// change and at least every second.
//
// Placement runs only under a context of the leadership (whileLeading),
// cancelled the moment this node loses it, and every assignment it writes
// carries the term the node won: a decision that outlives the leadership,
// e.g. one still computing when a successor was elected, is not written,
// and the catalog refuses it should it reach the log anyway.
func (n *scheduler) schedule(ctx context.Context) {
	whileLeading(ctx, n.raft, func(ctx context.Context, term uint64) {
		n.log.Info("leading: placing actors", "term", term)
		n.lead(ctx, term)
	})
}

// lead is the placement loop of one leadership; ctx ends with it.
func (n *scheduler) lead(ctx context.Context, term uint64) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	caughtUp := false
	for {
		// A new leader decides only on a catalog that holds every entry
		// its predecessors committed: the barrier returns once they are
		// applied here.
		if !caughtUp {
			if err := n.raft.Barrier(10 * time.Second).Error(); err != nil {
				if ctx.Err() == nil {
					n.log.Warn("placement waits for the log to be applied", "term", term, "err", err)
				}
			} else {
				caughtUp = true
			}
		}
		if caughtUp {
			if err := n.placeOnce(ctx, term); err != nil && ctx.Err() == nil {
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

// proposeLeading applies a command of the leader's own: locally, never
// forwarded, and not at all once the leadership of ctx is over. An
// assignment is stamped with the leader's term.
func (n *scheduler) proposeLeading(ctx context.Context, term uint64, c catalog.Command) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("apply %s: leadership of term %d is over: %w", c.Op, term, err)
	}
	if c.Op == catalog.OpAssign {
		c.Term = term
	}
	data, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode command: %w", err)
	}
	_, err = n.applyLocal(c.Op, data)
	return err
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

// placeOnce makes one round of the leader's decisions: this node's
// membership, the streams' replication, and the placement of actors.
func (n *scheduler) placeOnce(ctx context.Context, term uint64) error {
	st := n.fsm.State()
	if m, ok := st.Members[n.id]; !ok || (*m != n.self && !m.Leaving) {
		self := n.self
		if err := n.proposeLeading(ctx, term, catalog.Command{Op: catalog.OpAddMember, Member: &self}); err != nil {
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
			if err := n.proposeLeading(ctx, term, catalog.Command{Op: catalog.OpReplicated, Replicas: want}); err != nil {
				return err
			}
		}
	}
	changes := n.placement(ctx, st, live)
	if len(changes) == 0 {
		return nil
	}
	return n.proposeLeading(ctx, term, catalog.Command{Op: catalog.OpAssign, Assign: changes})
}

// placement decides the assignment changes for the catalog st with the
// live members: none when every desired actor is placed and the nodes are
// balanced; otherwise catalog.PlaceWeighted with the actors weighed by the
// rows per second they last reported, so busy actors spread.
func (n *scheduler) placement(ctx context.Context, st *catalog.State, live []string) map[string]string {
	desired := withValidators(st, st.Desired()) // validators: validation.go
	if len(catalog.Place(live, desired, st.Assign)) == 0 {
		return nil
	}
	return catalog.PlaceWeighted(live, desired, st.Assign, n.actorRates(ctx, desired))
}

// actorRates reads the recent rows per second of loaders and appliers from
// their progress records; actors without one weigh nothing.
func (n *scheduler) actorRates(ctx context.Context, desired []catalog.ActorSpec) map[string]float64 {
	if !n.storeReady.Load() || n.store == nil {
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
			if _, err := n.store.Load(rctx, jetstream.ProgressKey(a.Kind, a.Task, a.Source), &p); err == nil && p.Rate > 0 {
				rates[a.ID()] = p.Rate
			}
		}
	}
	return rates
}

package node

import (
	"context"
	"time"

	"github.com/hashicorp/raft"

	"github.com/dmnode/dmnode/core/catalog"
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

func (n *Node) placeOnce(ctx context.Context) error {
	st := n.fsm.State()
	if _, ok := st.Members[n.id]; !ok {
		m := &catalog.Member{ID: n.id, Control: n.ns.ClientURL()}
		if err := n.propose(ctx, catalog.Command{Op: catalog.OpAddMember, Member: m}); err != nil {
			return err
		}
		st = n.fsm.State()
	}
	live := make([]string, 0, len(st.Members))
	for id := range st.Members {
		live = append(live, id)
	}
	changes := catalog.Place(live, st.Desired(), st.Assign)
	if len(changes) == 0 {
		return nil
	}
	return n.propose(ctx, catalog.Command{Op: catalog.OpAssign, Assign: changes})
}

package node

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dmnode/dmnode/jetstream"
)

// founderKey holds, in the checkpoint bucket, the node that founded the
// deployment's cluster on an external NATS.
const founderKey = jetstream.FounderKey

// foundOrJoin decides, for a node on an external NATS (--nats-url) that is
// not a member yet, whether it founds the cluster or joins it: there is no
// --join there, since the NATS itself is where the cluster is found. A
// cluster that answers the control API is joined. Otherwise the nodes race
// to create the founder key in the checkpoint bucket, which JetStream
// grants to exactly one: the winner founds, the others wait for it to
// answer and join it. A node with the remains of an unfinished join (Raft
// state, no member mark) joins again, unless it is the founder.
func (n *Node) foundOrJoin(ctx context.Context, started bool) (join bool, err error) {
	c := &Client{nc: n.nc}
	answers := func() (bool, error) {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, err := c.Call(rctx, "cluster.status", &Request{})
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, nats.ErrNoResponders), errors.Is(err, context.DeadlineExceeded),
			strings.Contains(err.Error(), notReadyError):
			// Nobody answers yet, or the founder does before its Raft
			// has elected it (nodes started together): not up yet.
			return false, nil
		}
		return false, err
	}
	if up, err := answers(); err != nil || up {
		return up, err
	}
	// The store opens now rather than once the catalog is loaded: the
	// external JetStream does not wait for the cluster.
	if !n.storeReady.Load() {
		store, err := jetstream.Open(ctx, n.nc, n.replicas(1))
		if err != nil {
			return false, err
		}
		n.store = store
		n.storeReady.Store(true)
	}
	_, err = n.store.Save(ctx, founderKey, n.id, 0)
	if err == nil {
		n.log.Info("founding the cluster on this NATS", "bucket", jetstream.BucketName())
		return false, nil
	}
	if !errors.Is(err, jetstream.ErrFenced) {
		return false, fmt.Errorf("claim the founding of the cluster: %w", err)
	}
	var founder string
	if _, err := n.store.Load(ctx, founderKey, &founder); err != nil {
		return false, err
	}
	if founder == n.id {
		return false, nil // founded before, stopped before it finished starting
	}
	if started {
		return true, nil
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if up, err := answers(); err != nil || up {
			return up, err
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false, fmt.Errorf("node %s founded the dmnode cluster on this NATS, but no node of it answers: start one of its nodes; "+
				"if that cluster is gone for good, delete key %s of bucket %s (nats kv del %s %s), or use another --deployment",
				founder, founderKey, jetstream.BucketName(), jetstream.BucketName(), founderKey)
		}
		n.log.Info("waiting for the cluster founded by another node to answer", "founder", founder)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

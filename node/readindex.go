package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"

	"github.com/dmnode/dmnode/jetstream"
)

// Read-your-writes for the control API. The leader's read index is the
// Raft index up to which its catalog holds every committed command (a
// barrier makes sure); a node that answers a request first waits until its
// own catalog has applied that far.

func readIndexSubject(node string) string {
	return jetstream.Subject("dmnode.readindex." + jetstream.Token(node))
}

type readIndexReply struct {
	Index uint64 `json:"index"`
	Error string `json:"error,omitempty"`
}

// leaderReadIndex returns, on the leader, the index its catalog has
// applied once every entry committed before the call is applied.
func (n *membership) leaderReadIndex(ctx context.Context) (uint64, error) {
	if n.raft.State() != raft.Leader {
		return 0, ErrNotLeader
	}
	timeout := 5 * time.Second
	if d, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(d))
	}
	if err := n.raft.Barrier(timeout).Error(); err != nil {
		return 0, fmt.Errorf("read index: %w", err)
	}
	return n.raft.AppliedIndex(), nil
}

// catchUpWithLeader waits until this node's catalog holds everything the
// leader had committed when it was asked; while no leader is known, it
// waits for one until ctx ends.
func (n *membership) catchUpWithLeader(ctx context.Context) error {
	for {
		idx, err := n.readIndex(ctx)
		if err == nil {
			return n.waitApplied(ctx, idx)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("catch up with the leader: %w", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (n *membership) readIndex(ctx context.Context) (uint64, error) {
	_, leader := n.raft.LeaderWithID()
	switch {
	case leader == "":
		return 0, ErrNotLeader
	case string(leader) == n.id:
		return n.leaderReadIndex(ctx)
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	msg, err := n.nc.RequestWithContext(rctx, readIndexSubject(string(leader)), nil)
	if err != nil {
		return 0, fmt.Errorf("ask leader %s for its read index: %w", leader, err)
	}
	var r readIndexReply
	if err := json.Unmarshal(msg.Data, &r); err != nil {
		return 0, fmt.Errorf("decode read index: %w", err)
	}
	if r.Error != "" {
		return 0, errors.New(r.Error)
	}
	return r.Index, nil
}

// waitApplied waits until the local catalog has applied index idx.
func (n *membership) waitApplied(ctx context.Context, idx uint64) error {
	for n.raft.AppliedIndex() < idx {
		select {
		case <-ctx.Done():
			return fmt.Errorf("catalog at index %d, the leader's at %d: %w", n.raft.AppliedIndex(), idx, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}

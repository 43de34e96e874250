package node

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	raftwal "github.com/hashicorp/raft-wal"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/dmnode/dmnode/core/catalog"
	"github.com/dmnode/dmnode/jetstream"
)

// ErrNotLeader is returned for a write when no leader is known.
var ErrNotLeader = errors.New("no raft leader")

// Config configures one node.
type Config struct {
	DataDir  string
	Host     string // NATS client listen address
	NATSPort int
	Log      *slog.Logger
}

// Node is one running dmnode process.
type Node struct {
	id    string
	cfg   Config
	log   *slog.Logger
	ns    *server.Server
	nc    *nats.Conn
	store *jetstream.Store
	raft  *raft.Raft
	wal   *raftwal.WAL
	fsm   *fsm
	host  *host
	// catalog change notifications for the scheduler and the host
	schedKick, hostKick <-chan struct{}
}

// Open starts the node's embedded NATS server and Raft member. Run serves
// it until its context ends; Close releases everything.
func Open(ctx context.Context, cfg Config) (*Node, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	id, err := nodeID(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	n := &Node{id: id, cfg: cfg, log: cfg.Log.With("node", id), fsm: newFSM()}
	n.schedKick, n.hostKick = n.fsm.watch(), n.fsm.watch()
	if n.ns, err = startNATS(id, cfg.DataDir, cfg.Host, cfg.NATSPort); err != nil {
		return nil, err
	}
	if n.nc, err = nats.Connect(n.ns.ClientURL(), nats.Name("dmnode-"+id), nats.MaxReconnects(-1)); err != nil {
		n.Close()
		return nil, fmt.Errorf("connect to embedded nats: %w", err)
	}
	if n.store, err = jetstream.Open(ctx, n.nc, 1); err != nil {
		n.Close()
		return nil, err
	}
	if n.raft, n.wal, err = openRaft(id, cfg.DataDir, n.fsm); err != nil {
		n.Close()
		return nil, err
	}
	n.host = newHost(n)
	return n, nil
}

// ID is the node's stable identity, kept in its data dir.
func (n *Node) ID() string { return n.id }

// ClientURL is the NATS URL clients reach this node at.
func (n *Node) ClientURL() string { return n.ns.ClientURL() }

// Run serves the control API, schedules actors while this node leads, and
// runs the actors placed on it, until ctx ends.
func (n *Node) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := n.catchUp(ctx); err != nil {
		return err
	}
	api, err := n.serveAPI(ctx)
	if err != nil {
		return err
	}
	defer api.stop()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); n.schedule(ctx) }()
	go func() { defer wg.Done(); n.host.run(ctx) }()
	n.log.Info("node running", "nats", n.ns.ClientURL(), "data_dir", n.cfg.DataDir)
	<-ctx.Done()
	wg.Wait()
	return nil
}

// catchUp waits until the catalog holds every entry of the node's own
// Raft log: after a restart the log is replayed only once a leader commits,
// and until then the catalog would look empty to readers and to the host.
func (n *Node) catchUp(ctx context.Context) error {
	last := n.raft.LastIndex()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for n.raft.AppliedIndex() < last {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}

// Close stops Raft, NATS and the log store. Safe after a failed Open.
func (n *Node) Close() error {
	var errs []error
	if n.raft != nil {
		errs = append(errs, n.raft.Shutdown().Error())
	}
	if n.wal != nil {
		errs = append(errs, n.wal.Close())
	}
	if n.nc != nil {
		n.nc.Close()
	}
	if n.ns != nil {
		n.ns.Shutdown()
		n.ns.WaitForShutdown()
	}
	return errors.Join(errs...)
}

// propose applies a command through Raft: locally when this node leads,
// otherwise forwarded to the leader over NATS. While no leader is known (an
// election is in progress) it waits, until ctx ends.
func (n *Node) propose(ctx context.Context, c catalog.Command) error {
	data, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode command: %w", err)
	}
	for {
		if n.raft.State() == raft.Leader {
			return n.applyLocal(c.Op, data)
		}
		if _, leader := n.raft.LeaderWithID(); leader != "" {
			return n.forward(ctx, c.Op, string(leader), data)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("apply %s: %w", c.Op, ErrNotLeader)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (n *Node) applyLocal(op string, data []byte) error {
	f := n.raft.Apply(data, 10*time.Second)
	if err := f.Error(); err != nil {
		return fmt.Errorf("apply %s: %w", op, err)
	}
	if err, ok := f.Response().(error); ok && err != nil {
		return err
	}
	return nil
}

func (n *Node) forward(ctx context.Context, op, leader string, data []byte) error {
	msg, err := n.nc.RequestWithContext(ctx, proposeSubject(leader), data)
	if err != nil {
		return fmt.Errorf("forward %s to leader %s: %w", op, leader, err)
	}
	if len(msg.Data) > 0 {
		return errors.New(string(msg.Data))
	}
	return nil
}

func proposeSubject(node string) string { return "dmnode.propose." + jetstream.Token(node) }

// nodeID reads the node's identity from its data dir, creating it on first
// start from the host name and a random suffix.
func nodeID(dataDir string) (string, error) {
	path := filepath.Join(dataDir, "node-id")
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read node id: %w", err)
	}
	host, _ := os.Hostname()
	var suffix [3]byte
	_, _ = rand.Read(suffix[:])
	id := jetstream.Token(host) + "-" + hex.EncodeToString(suffix[:])
	if err := os.WriteFile(path, []byte(id+"\n"), 0o640); err != nil {
		return "", fmt.Errorf("write node id: %w", err)
	}
	return id, nil
}

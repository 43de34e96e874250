package node

import (
	"context"
	"database/sql"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/dmnode/dmnode/actors"
	"github.com/dmnode/dmnode/core/catalog"
	"github.com/dmnode/dmnode/core/config"
	"github.com/dmnode/dmnode/jetstream"
)

// control is the service layer of the control API: every method the NATS
// API (api.go) and the HTTP API (httpapi.go) call, task start, stop,
// update, status, verify, cutover, check and validation, source add and
// remove, cluster status. It holds no Raft, no NATS connection and no
// *Node: it reads the catalog's snapshot, proposes commands, and asks the
// cluster through the small interfaces below, which the node wires to the
// real ones (Node.wire) and unit tests to fakes.
//
// Its methods keep the receiver name n of the handlers they were, so that
// their bodies read as before the node was split.
type control struct {
	id  string
	log *slog.Logger
	// fsm is the catalog as this node has applied it.
	fsm catalogView
	cmd commander
	// keys seals the passwords of the files the catalog stores.
	keys sealer
	// cluster answers what the control layer asks about the cluster.
	cluster clusterView
	// members serves the changes of membership (cluster.join, remove,
	// leave), which only the leader makes.
	members memberAPI
	health  healthView
	// store is JetStream (memstore in tests), nil until storeReady;
	// progress reads its records (store, or a fake in tests).
	store      jetstream.Stores
	progress   progressReader
	storeReady *atomic.Bool
	// ready is set once the catalog holds the node's whole Raft log.
	ready *atomic.Bool
	// openDB and openTarget open the databases task check, cutover and
	// binlog-schema read: actors.OpenDB and actors.OpenTarget when nil
	// (the control layer's tests give stand-ins).
	openDB, openTarget dbOpener
}

// dbOpener opens a database of a source or a target with at most
// maxConns connections.
type dbOpener func(ctx context.Context, c config.DBConfig, maxConns int) (*sql.DB, error)

// dialDB opens a source's database, or a target's for reading.
func (n *control) dialDB(ctx context.Context, c config.DBConfig, maxConns int) (*sql.DB, error) {
	if n.openDB != nil {
		return n.openDB(ctx, c, maxConns)
	}
	return actors.OpenDB(ctx, c, maxConns)
}

// dialTarget opens a task's target as the actors write it.
func (n *control) dialTarget(ctx context.Context, c config.DBConfig, maxConns int) (*sql.DB, error) {
	if n.openTarget != nil {
		return n.openTarget(ctx, c, maxConns)
	}
	return actors.OpenTarget(ctx, c, maxConns)
}

// catalogView reads the catalog: an immutable snapshot per call.
type catalogView interface {
	State() *catalog.State
}

// commander applies commands to the catalog through Raft, on the leader
// (Node.request forwards them there).
type commander interface {
	request(ctx context.Context, c catalog.Command) (catalog.Result, error)
}

// sealer seals the passwords of a task or source file with the cluster key.
type sealer interface {
	sealFile(f File) (string, error)
}

// clusterView is the control layer's view of the cluster: Raft's voters
// and leader, the members' heartbeats and health, and the leader's
// commits, which a node catches up with before it answers.
type clusterView interface {
	voters() map[string]bool
	leader() string
	alive(id string) bool
	askHealth(ctx context.Context, id string) NodeHealth
	catchUpWithLeader(ctx context.Context) error
}

// memberAPI is membership's part of the control API.
type memberAPI interface {
	apiClusterJoin(ctx context.Context, req *Request) (*Response, error)
	apiClusterRemove(ctx context.Context, req *Request) (*Response, error)
	apiClusterLeave(ctx context.Context, req *Request) (*Response, error)
	// forwardToLeader sends a request to the leader's own subject once a
	// leader other than this node is known; it fails when ctx ends first.
	forwardToLeader(ctx context.Context, method string, req *Request) (*Response, error)
}

// healthView is this node's own view of NATS and JetStream (health.go).
type healthView interface {
	report() NodeHealth
	available() (bool, time.Time, string)
}

// progressReader reads one record of the checkpoint bucket (progress,
// errors, validator states) into v; a missing key leaves v as it is.
type progressReader interface {
	Load(ctx context.Context, key string, v any) (uint64, error)
}

// propose applies a command through Raft (see Node.propose).
func (n *control) propose(ctx context.Context, c catalog.Command) error {
	_, err := n.cmd.request(ctx, c)
	return err
}

func (n *control) sealFile(f File) (string, error) { return n.keys.sealFile(f) }

func (n *control) catchUpWithLeader(ctx context.Context) error {
	return n.cluster.catchUpWithLeader(ctx)
}

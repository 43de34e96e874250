package node

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	raftwal "github.com/hashicorp/raft-wal"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/dmnode/dmnode/core/catalog"
	"github.com/dmnode/dmnode/core/secret"
	"github.com/dmnode/dmnode/jetstream"
)

// ErrNotLeader is returned for a write when no leader is known.
var ErrNotLeader = errors.New("no raft leader")

// Config configures one node.
type Config struct {
	// Name is the node's identity; empty keeps the one stored in the data
	// dir, or makes one from the host name on first start.
	Name    string
	DataDir string
	// Dev runs a single node with an in-memory Raft transport and no NATS
	// cluster port: everything in one process, nothing else can join.
	Dev bool
	// Host is the address every listener binds; Advertise the address
	// peers and clients use to reach this node (default Host).
	Host, Advertise string
	NATSPort        int
	ClusterPort     int // NATS routes between nodes
	RaftPort        int
	HTTPPort        int // /healthz and /metrics; 0 disables
	// Pprof adds Go's profiler at /debug/pprof/ to the HTTP port.
	Pprof bool
	// Join is the client URL of any member of an existing cluster; used
	// only on the first start, when the data dir holds no Raft state.
	Join string
	// NATSURL points the node at an existing NATS cluster instead of the
	// embedded server; NATS holds its credentials and TLS settings.
	NATSURL string
	NATS    ConnOptions
	// ClusterCreds is a cluster credentials file (ClusterCredsFile of a
	// member) to use instead of the one in the data dir; a node joining a
	// cluster needs it. Without one the founding node generates them.
	ClusterCreds string
	// TLS is the operator's certificate, key and CA for the NATS client
	// port, the routes, Raft and HTTP. Without a certificate the routes
	// and Raft use certificates of the cluster's own CA (from the
	// credentials), and the client port and HTTP are plaintext.
	TLS TLSFiles
	// HTTPHost is the address the HTTP port binds (default 127.0.0.1).
	HTTPHost string
	// HeartbeatTimeout is how long a node may stay silent before the
	// leader moves its actors (default 5 s).
	HeartbeatTimeout time.Duration
	// Replicas is the replication factor of every stream and bucket
	// (default 3; dev mode 1); see replicas in schedule.go.
	Replicas int

	Log *slog.Logger
}

// replicas is the configured replication factor: Replicas, 3 by default,
// 1 in dev mode.
func (c *Config) replicas() int {
	switch {
	case c.Dev:
		return 1
	case c.Replicas > 0:
		return c.Replicas
	}
	return 3
}

func (c *Config) advertise() string {
	if c.Advertise != "" {
		return c.Advertise
	}
	if c.Host == "" || c.Host == "0.0.0.0" || c.Host == "::" {
		h, _ := os.Hostname()
		return h
	}
	return c.Host
}

// Node is one running dmnode process: the composition root that opens
// NATS, JetStream and Raft, and builds and wires the parts that use them
// (wire): the control layer (control.go), the leader's scheduler
// (schedule.go), the host of this node's actors (host.go) and the
// membership (membership.go, cluster.go).
type Node struct {
	// readerDrops paces the warnings of the connection's inboxes' full
	// buffers (natsError).
	readerDrops everyMinute

	id    string
	cfg   Config
	log   *slog.Logger
	ns    *server.Server // nil with Config.NATSURL
	nc    *nats.Conn
	store *jetstream.Store
	raft  *raft.Raft
	wal   *raftwal.WAL
	fsm   *fsm
	host  *host
	beats *heartbeats
	// metrics is the node's own registry, served at /metrics.
	metrics *metrics
	self    catalog.Member
	// ring holds the cluster keys that seal stored passwords.
	ring *secret.Ring
	// creds are the cluster's credentials; nil in dev mode and with
	// Config.NATSURL. peerTLS is the mutual TLS of routes and Raft.
	creds   *ClusterCreds
	peerTLS *tls.Config
	// catalog change notifications for the scheduler and the host
	schedKick, hostKick <-chan struct{}
	// ready is set once the catalog holds the node's whole Raft log.
	ready atomic.Bool
	// storeReady is set once store is open; store is not read before.
	storeReady atomic.Bool
	// stopped is closed when the node has left the cluster and should exit.
	stopped  chan struct{}
	stopOnce sync.Once

	// health watches NATS and JetStream (health.go).
	health *health

	// The parts, built once the node is open (wire).
	ctl     *control
	members *membership
	sched   *scheduler
}

// Open starts the node's NATS server (or connects to an external one) and
// its Raft member, joining the cluster at Config.Join on first start. Run
// serves it until its context ends; Close releases everything.
func Open(ctx context.Context, cfg Config) (*Node, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.HeartbeatTimeout <= 0 {
		cfg.HeartbeatTimeout = 5 * time.Second
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	id, err := nodeID(cfg.DataDir, cfg.Name)
	if err != nil {
		return nil, err
	}
	n := &Node{id: id, cfg: cfg, log: cfg.Log.With("node", id), fsm: newFSM(), stopped: make(chan struct{})}
	n.schedKick, n.hostKick = n.fsm.watch(), n.fsm.watch()
	n.beats = newHeartbeats(cfg.HeartbeatTimeout)
	n.metrics = newMetrics(n)
	n.health = newHealth(n)
	if err := n.open(ctx); err != nil {
		n.Close()
		return nil, err
	}
	n.wire()
	return n, nil
}

// wire builds the node's parts on what open opened. The control layer,
// the scheduler and the host see the catalog, Raft and the cluster only
// through what they declare; the node implements commander (request) and
// sealer (sealFile).
func (n *Node) wire() {
	n.members = &membership{
		id: n.id, cfg: &n.cfg, log: n.log, raft: n.raft, nc: n.nc, fsm: n.fsm, cmd: n,
		beats: n.beats, keys: n, storeReady: &n.storeReady,
		stop: func() { n.stopOnce.Do(func() { close(n.stopped) }) },
	}
	n.ctl = &control{
		id: n.id, log: n.log, fsm: n.fsm, cmd: n, keys: n, cluster: n.members, members: n.members,
		health: n.health, storeReady: &n.storeReady, ready: &n.ready,
	}
	n.sched = &scheduler{
		id: n.id, cfg: &n.cfg, log: n.log, raft: n.raft, fsm: n.fsm, self: n.self,
		applyLocal: n.applyLocal, liveMembers: n.members.liveMembers, replicas: n.replicas,
		storeReady: &n.storeReady, schedKick: n.schedKick,
	}
	n.host = newHost(&hostDeps{
		id: n.id, cfg: &n.cfg, log: n.log, self: n.self, fsm: n.fsm, cmd: n,
		metrics: n.metrics, health: n.health, members: n.members, replicas: n.replicas, hostKick: n.hostKick,
	})
	if n.store != nil {
		n.useStore(n.store)
	}
}

// useStore makes the opened JetStream store the node's and its parts',
// and only then marks it ready: no part reads it before.
func (n *Node) useStore(s *jetstream.Store) {
	n.store = s
	if n.ctl != nil {
		n.ctl.store, n.ctl.progress = s, s
	}
	if n.sched != nil {
		n.sched.store = s
	}
	if n.host != nil {
		n.host.n.store, n.host.n.records = s, s
	}
	n.storeReady.Store(true)
}

func (n *Node) open(ctx context.Context) error {
	cfg := &n.cfg
	adv := cfg.advertise()
	n.self = catalog.Member{ID: n.id, Control: fmt.Sprintf("nats://%s:%d", adv, cfg.NATSPort)}
	if !cfg.Dev {
		n.self.Route = fmt.Sprintf("nats-route://%s:%d", adv, cfg.ClusterPort)
		n.self.Raft = fmt.Sprintf("%s:%d", adv, cfg.RaftPort)
	}
	if cfg.HTTPPort > 0 {
		n.self.HTTP = fmt.Sprintf("%s:%d", adv, cfg.HTTPPort)
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, leftFile)); err == nil {
		return fmt.Errorf("node %s left the cluster; to add it again, start it with an empty data dir and --join PEER", n.id)
	}
	existing, err := isMember(cfg.DataDir)
	if err != nil {
		return err
	}
	started, err := hasRaftState(cfg.DataDir)
	if err != nil {
		return err
	}
	if !existing && started && cfg.Join == "" && cfg.NATSURL == "" {
		return fmt.Errorf("data dir %s holds a node that never finished joining a cluster: start it again with --join PEER", cfg.DataDir)
	}
	peers, err := loadPeers(cfg.DataDir)
	if err != nil {
		return err
	}
	// On an external NATS whether to join is found there (foundOrJoin).
	joining := cfg.Join != "" && !existing
	if cfg.NATSURL == "" {
		if err := n.openClusterKeys(joining, peers); err != nil {
			return err
		}
	}
	if err := n.openSecurity(joining, existing, len(peers) > 0); err != nil {
		return err
	}
	connOpts, err := n.natsOptions()
	if err != nil {
		return err
	}
	if joining && cfg.NATSURL == "" {
		if peers, err = discoverPeers(ctx, cfg.Join, n.id, connOpts); err != nil {
			return err
		}
	}
	natsURL := cfg.NATSURL
	if natsURL == "" {
		if n.ns, err = startNATS(n.id, cfg, peers, n.creds, n.peerTLS); err != nil {
			return err
		}
		natsURL = n.ns.ClientURL()
		if cfg.TLS.Cert != "" {
			// The node's certificate names its advertised address.
			natsURL = fmt.Sprintf("tls://%s:%d", adv, cfg.NATSPort)
		}
	} else {
		// The catalog, status and logs show the URL without its password.
		n.self.Control, n.self.Route = RedactURL(natsURL), ""
	}
	opts := append([]nats.Option{nats.Name("dmnode-" + n.id), nats.MaxReconnects(-1), nats.ErrorHandler(n.natsError)}, connOpts...)
	if n.ns != nil {
		// The node's own server is reached in-process, without loopback
		// sockets: the snapshot and relay messages it moves cost a
		// fifth less CPU (BenchmarkSnapshotQueue).
		opts = append(opts, nats.InProcessServer(n.ns))
	}
	if n.nc, err = nats.Connect(natsURL, opts...); err != nil {
		return fmt.Errorf("connect to nats at %s: %w", RedactURL(natsURL), connectError(err))
	}
	n.health.watch(n.nc)
	n.checkExternalNATS()
	if cfg.NATSURL != "" {
		if !existing {
			if joining, err = n.foundOrJoin(ctx, started); err != nil {
				return err
			}
		}
		if err := n.openClusterKeys(joining, peers); err != nil {
			return err
		}
	}
	if cfg.Dev {
		// A lone embedded server has JetStream at once.
		if n.store, err = jetstream.Open(ctx, n.nc, 1); err != nil {
			return err
		}
		n.storeReady.Store(true)
	}
	bootstrap := !existing && !joining
	if n.raft, n.wal, err = openRaft(n.id, cfg, n.fsm, bootstrap, n.peerTLS); err != nil {
		return err
	}
	if joining {
		if err := n.requestJoin(ctx, started); err != nil {
			return err
		}
	}
	return markMember(cfg.DataDir)
}

// natsError logs an asynchronous error of the node's NATS connection
// (nats.go would print it on stderr), such as a subscription that fell
// behind and lost messages: a relay reader then reads again from where it
// was, a request times out and is retried.
//
// A stream reader's inbox falls behind whenever its reader is busy with a
// full buffer (an applier behind its source) and the server sends a status
// message or a heartbeat into it; the reader recovers by itself (a gap in
// the data is read again), as a request whose reply is dropped is retried.
// Slow-consumer errors of the connection's inboxes are logged as a warning
// at most once a minute, with how many there were since, and each at
// debug level.
func (n *Node) natsError(nc *nats.Conn, sub *nats.Subscription, err error) {
	subject := ""
	if sub != nil {
		subject = sub.Subject
	}
	if errors.Is(err, nats.ErrSlowConsumer) && isInbox(nc, subject) {
		since, warn := n.readerDrops.note(time.Now())
		if !warn {
			n.log.Debug("nats connection: an inbox's buffer was full", "subject", subject, "err", err)
			return
		}
		n.log.Warn("nats connection: an inbox's buffer was full and a message to it was dropped; the stream reader or request it serves recovers by itself (reads again, or retries)",
			"subject", subject, "err", err, "since_last_warning", since)
		return
	}
	n.log.Warn("nats connection: asynchronous error", "subject", subject, "err", err)
}

// isInbox reports whether subject is one of nc's inboxes: the replies to
// its requests and the deliveries of its stream readers.
func isInbox(nc *nats.Conn, subject string) bool {
	prefix := nats.InboxPrefix
	if nc != nil && nc.Opts.InboxPrefix != "" {
		prefix = nc.Opts.InboxPrefix + "."
	}
	return strings.HasPrefix(subject, prefix)
}

// everyMinute lets an event through at most once a minute and counts the
// ones it held back.
type everyMinute struct {
	mu   sync.Mutex
	last time.Time
	held int
}

// note records an event at now: it returns whether to report it, and the
// events since the last one reported (this one included).
func (e *everyMinute) note(now time.Time) (since int, report bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.held++
	if !e.last.IsZero() && now.Sub(e.last) < time.Minute {
		return e.held, false
	}
	since, e.last, e.held = e.held, now, 0
	return since, true
}

// The member file marks a data dir whose node founded or joined a cluster;
// without it a Raft log is the remains of a join that did not finish.
const memberFile = "member"

func isMember(dataDir string) (bool, error) {
	_, err := os.Stat(filepath.Join(dataDir, memberFile))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("inspect data dir: %w", err)
	}
	return true, nil
}

func markMember(dataDir string) error {
	if err := os.WriteFile(filepath.Join(dataDir, memberFile), []byte("1\n"), 0o640); err != nil {
		return fmt.Errorf("mark data dir as member: %w", err)
	}
	return nil
}

// ID is the node's stable identity, kept in its data dir.
func (n *Node) ID() string { return n.id }

// Run serves the control API, schedules actors while this node leads, and
// runs the actors placed on it, until ctx ends.
func (n *Node) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	api, err := n.serveAPI(ctx)
	if err != nil {
		return err
	}
	defer api.stop()
	if err := n.members.runHeartbeats(ctx); err != nil {
		return err
	}
	var wg sync.WaitGroup
	wg.Go(func() { n.health.run(ctx) })
	wg.Go(func() {
		// The catalog is complete only once the node has applied its own
		// log, which needs a leader (a quorum of voters) after a restart.
		if err := n.catchUp(ctx); err != nil {
			return
		}
		n.ready.Store(true)
		n.log.Info("catalog loaded", "applied_index", n.raft.AppliedIndex())
		var inner sync.WaitGroup
		inner.Go(func() { n.sched.schedule(ctx) })
		// Actors need JetStream; the catalog and placement do not.
		if err := n.openStore(ctx); err == nil {
			inner.Go(func() { n.host.run(ctx) })
		}
		inner.Wait()
	})
	if n.cfg.HTTPPort > 0 {
		srv, err := n.serveHTTP()
		if err != nil {
			cancel()
			wg.Wait()
			return err
		}
		defer srv.Close()
	}
	n.log.Info("node running", "nats", n.self.Control, "raft", n.self.Raft, "data_dir", n.cfg.DataDir)
	select {
	case <-ctx.Done():
	case <-n.stopped:
		n.log.Info("node left the cluster")
	}
	cancel()
	wg.Wait()
	return nil
}

// openStore opens the JetStream streams and checkpoints. In a cluster the
// embedded servers serve JetStream once they have routes to each other and
// have elected a metadata leader, so a node started alone waits here until
// a second node joins.
func (n *Node) openStore(ctx context.Context) error {
	if n.storeReady.Load() {
		return nil
	}
	for attempt := 0; ; attempt++ {
		// Created, if missing, with the replicas the cluster can give
		// now (see replicas): raising an R1 bucket later means moving it
		// to a new group, raising R2 to R3 only adds a peer. The leader
		// raises every stream before it places any actor.
		store, err := jetstream.Open(ctx, n.nc, n.replicas(len(n.fsm.State().Members)))
		if err == nil {
			n.useStore(store)
			n.log.Info("jetstream ready")
			return nil
		}
		if attempt%10 == 0 {
			n.log.Warn("waiting for jetstream: a cluster serves it once at least two nodes are routed to each other", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
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
		// The embedded server's JetStream shutdown can wait a long time
		// for stream groups that lost their quorum (the other nodes are
		// stopping too). Every write is already fsynced, so the node does
		// not wait for it without bound.
		done := make(chan struct{})
		go func() {
			defer close(done)
			n.ns.Shutdown()
			n.ns.WaitForShutdown()
		}()
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			n.log.Warn("nats server still shutting down after 3s; exiting anyway (its data is fsynced)")
		}
	}
	return errors.Join(errs...)
}

// propose applies a command through Raft: locally when this node leads,
// otherwise forwarded to the leader over NATS. While no leader is known (an
// election is in progress) it waits, until ctx ends.
func (n *Node) propose(ctx context.Context, c catalog.Command) error {
	_, err := n.request(ctx, c)
	return err
}

// request is propose returning the command's result. An error the catalog
// returned for the command is a *catalog.RejectedError, also when the
// command was forwarded.
func (n *Node) request(ctx context.Context, c catalog.Command) (catalog.Result, error) {
	data, err := json.Marshal(c)
	if err != nil {
		return catalog.Result{}, fmt.Errorf("encode command: %w", err)
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
			return catalog.Result{}, fmt.Errorf("apply %s: %w", c.Op, ErrNotLeader)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (n *Node) applyLocal(op string, data []byte) (catalog.Result, error) {
	f := n.raft.Apply(data, 10*time.Second)
	if err := f.Error(); err != nil {
		return catalog.Result{}, fmt.Errorf("apply %s: %w", op, err)
	}
	r, _ := f.Response().(applyResult)
	if r.Err != nil {
		return catalog.Result{}, &catalog.RejectedError{Err: r.Err}
	}
	return r.Result, nil
}

// proposeReply is the leader's answer to a forwarded command.
type proposeReply struct {
	Error    string         `json:"error,omitempty"`
	Rejected bool           `json:"rejected,omitempty"` // Error came from the catalog
	Result   catalog.Result `json:"result"`
}

// forwardTimeout bounds one forwarded command: the leader's own Apply
// gives up after 10 s, and a leader that dies after it received the
// request never answers. The caller then sees an error and retries as
// after any other failed request; whether the command was applied is
// unknown, as with any lost reply.
var forwardTimeout = 15 * time.Second

func (n *Node) forward(ctx context.Context, op, leader string, data []byte) (catalog.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, forwardTimeout)
	defer cancel()
	msg, err := n.nc.RequestWithContext(ctx, proposeSubject(leader), data)
	if err != nil {
		return catalog.Result{}, fmt.Errorf("forward %s to leader %s: %w", op, leader, err)
	}
	var r proposeReply
	if err := json.Unmarshal(msg.Data, &r); err != nil {
		return catalog.Result{}, fmt.Errorf("forward %s to leader %s: decode reply: %w", op, leader, err)
	}
	switch {
	case r.Rejected:
		return catalog.Result{}, &catalog.RejectedError{Err: errors.New(r.Error)}
	case r.Error != "":
		return catalog.Result{}, errors.New(r.Error)
	}
	return r.Result, nil
}

func proposeSubject(node string) string {
	return jetstream.Subject("dmnode.propose." + jetstream.Token(node))
}

// nodeID reads the node's identity from its data dir, creating it on first
// start from the given name, or the host name and a random suffix. A data
// dir keeps its identity: starting it under another name is an error.
func nodeID(dataDir, name string) (string, error) {
	path := filepath.Join(dataDir, "node-id")
	if b, err := os.ReadFile(path); err == nil {
		id := strings.TrimSpace(string(b))
		if name != "" && name != id {
			return "", fmt.Errorf("data dir %s belongs to node %q, not %q: start it with --name %s, or use another data dir", dataDir, id, name, id)
		}
		return id, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read node id: %w", err)
	}
	id := name
	if id == "" {
		host, _ := os.Hostname()
		var suffix [3]byte
		_, _ = rand.Read(suffix[:])
		id = jetstream.Token(host) + "-" + hex.EncodeToString(suffix[:])
	} else if jetstream.Token(id) != id {
		return "", fmt.Errorf("node name %q: use letters, digits and '-' only", id)
	}
	if err := os.WriteFile(path, []byte(id+"\n"), 0o640); err != nil {
		return "", fmt.Errorf("write node id: %w", err)
	}
	return id, nil
}

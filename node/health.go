package node

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dmnode/dmnode/core/catalog"
	js "github.com/dmnode/dmnode/jetstream"
)

// health watches what the node needs from NATS: the connection (its
// disconnect, reconnect and closed events) and JetStream's answers (a probe
// every probeEvery: the account info, which only a cluster with a
// metadata leader serves, and a write to the checkpoint bucket, which only
// a bucket with a quorum accepts). Every node watches for itself, so
// status, /readyz and dmnode_jetstream_available tell the truth while the
// KV that holds the actors' progress is itself down.
//
// When JetStream comes back (or the connection does), the actors waiting
// out a retry backoff are woken at once (wake), rather than sleeping up to
// 30 s more. Actor errors that could not be written to the KV while it was
// down are kept here (unrecorded), shown by task status through this node,
// and written once JetStream is back.
type health struct {
	id  string
	log *slog.Logger
	// d is what health probes and repairs: NATS, JetStream, the
	// checkpoint bucket (nodeHealth on the node, a fake in tests).
	d healthDeps

	mu sync.Mutex
	// The connection: whether it is up, to which server, and since when
	// and why it is down.
	natsUp     bool
	natsServer string
	natsSince  time.Time
	natsCause  string
	// JetStream: usable or not, since when, and why not; fails counts
	// consecutive failed probes.
	jsUp    bool
	jsSince time.Time
	jsCause string
	fails   int
	// wakeCh is closed (and replaced) when JetStream becomes usable again.
	wakeCh chan struct{}
	// unrecorded holds the actor errors the KV refused, by their key.
	unrecorded map[string]ActorError
	// under names the streams with fewer replicas than configured that
	// could not be repaired, with the reason.
	under []string
	// probeNow asks the probe loop for an early probe.
	probeNow chan struct{}
}

const (
	// probeEvery is the probe interval while JetStream answers; while it
	// does not, the node probes every second to notice its return at once.
	probeEvery = 2 * time.Second
	// probeTimeout bounds one probe's requests.
	probeTimeout = 3 * time.Second
	// probeFailures consecutive failed probes make JetStream unavailable
	// (a lost connection does at once): one slow answer under load is no
	// outage.
	probeFailures = 2
	// replicaCheckEvery is how often the leader checks the streams' replicas.
	replicaCheckEvery = 30 * time.Second
)

// healthDeps is what health uses of the node.
type healthDeps interface {
	// connStatus says whether the NATS connection is up, and its state.
	connStatus() (up bool, state string)
	// storeOpen reports whether JetStream is open (the store, and so the
	// checkpoint bucket, usable).
	storeOpen() bool
	// accountInfo asks JetStream for the account info, which only a
	// JetStream with a metadata leader serves.
	accountInfo(ctx context.Context) error
	// put writes a key of the checkpoint bucket.
	put(ctx context.Context, key string, v any) error
	// repair raises the streams' replicas to want and returns those it
	// could not raise.
	repair(ctx context.Context, want int) ([]string, error)
	// wantReplicas is the replication the live cluster can give now.
	wantReplicas() int
	// leading reports whether this node leads Raft with its catalog
	// loaded: only then it checks the streams' replicas.
	leading() bool
}

// nodeHealth is the node as health sees it.
type nodeHealth struct{ n *Node }

func (d nodeHealth) connStatus() (bool, string) {
	return d.n.nc.IsConnected(), d.n.nc.Status().String()
}
func (d nodeHealth) storeOpen() bool { return d.n.storeReady.Load() }
func (d nodeHealth) accountInfo(ctx context.Context) error {
	if d.n.storeReady.Load() {
		_, err := d.n.store.JS.AccountInfo(ctx)
		return err
	}
	jsc, err := js.NewJetStream(d.n.nc)
	if err == nil {
		_, err = jsc.AccountInfo(ctx)
	}
	return err
}
func (d nodeHealth) put(ctx context.Context, key string, v any) error {
	return d.n.store.Put(ctx, key, v)
}
func (d nodeHealth) repair(ctx context.Context, want int) ([]string, error) {
	return d.n.store.Repair(ctx, want)
}
func (d nodeHealth) wantReplicas() int {
	return d.n.replicas(len(d.n.members.liveMembers(d.n.fsm.State())))
}
func (d nodeHealth) leading() bool {
	return d.n.ready.Load() && d.n.storeReady.Load() && d.n.isLeader()
}

func newHealth(n *Node) *health {
	return newHealthOn(n.id, n.log, nodeHealth{n})
}

func newHealthOn(id string, log *slog.Logger, d healthDeps) *health {
	now := time.Now()
	return &health{
		id: id, log: log, d: d, natsSince: now, jsSince: now, jsCause: "not opened yet",
		wakeCh: make(chan struct{}), unrecorded: map[string]ActorError{}, probeNow: make(chan struct{}, 1),
	}
}

// watch installs the connection's event handlers.
func (h *health) watch(nc *nats.Conn) {
	h.mu.Lock()
	h.natsUp, h.natsServer, h.natsSince = nc.IsConnected(), serverName(nc), time.Now()
	h.mu.Unlock()
	nc.SetDisconnectErrHandler(func(c *nats.Conn, err error) {
		cause := "connection lost"
		if err != nil {
			cause += ": " + err.Error()
		}
		h.mu.Lock()
		h.natsUp, h.natsSince, h.natsCause = false, time.Now(), cause
		h.mu.Unlock()
		h.log.Warn("nats disconnected", "err", err)
		h.setJetStream(false, "nats "+cause)
	})
	nc.SetReconnectHandler(func(c *nats.Conn) {
		h.mu.Lock()
		h.natsUp, h.natsServer, h.natsSince, h.natsCause = true, serverName(c), time.Now(), ""
		h.mu.Unlock()
		h.log.Info("nats reconnected", "server", serverName(c))
		// Actors may use the connection again; JetStream is probed now.
		h.wake()
		h.kick()
	})
	nc.SetClosedHandler(func(c *nats.Conn) {
		// The node closes it when it stops, or the client gave up: no
		// log line, only the state.
		h.mu.Lock()
		h.natsUp, h.natsSince, h.natsCause = false, time.Now(), "connection closed"
		h.jsUp, h.jsSince, h.jsCause = false, time.Now(), "nats connection closed"
		h.mu.Unlock()
	})
}

func serverName(nc *nats.Conn) string {
	if name := nc.ConnectedServerName(); name != "" {
		return name
	}
	return nc.ConnectedUrlRedacted()
}

func (h *health) kick() {
	select {
	case h.probeNow <- struct{}{}:
	default:
	}
}

// wake wakes the actors waiting out a retry backoff.
func (h *health) wake() {
	h.mu.Lock()
	close(h.wakeCh)
	h.wakeCh = make(chan struct{})
	h.mu.Unlock()
}

// woken returns a channel closed at the next wake.
func (h *health) woken() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.wakeCh
}

// setJetStream records a probe's outcome (or a lost connection); a change
// is logged, and a return wakes the actors.
func (h *health) setJetStream(ok bool, cause string) {
	h.mu.Lock()
	was, since := h.jsUp, h.jsSince
	if ok {
		h.fails = 0
	} else {
		h.fails++
	}
	down := !ok && (h.fails >= probeFailures || !h.natsUp)
	switch {
	case ok && !was:
		h.jsUp, h.jsSince, h.jsCause = true, time.Now(), ""
	case down && was:
		h.jsUp, h.jsSince, h.jsCause = false, time.Now(), cause
	case down:
		h.jsCause = cause // still down: the latest reason
	}
	h.mu.Unlock()
	switch {
	case ok && !was:
		// since is when it went down (or when the node started).
		h.log.Info("jetstream available", "unavailable_for", time.Since(since).Round(time.Millisecond))
		h.wake()
		h.flushUnrecorded()
	case down && was:
		h.log.Error("jetstream unavailable", "cause", cause)
	}
}

// available reports whether JetStream answered the last probe, and if not,
// since when and why not.
func (h *health) available() (bool, time.Time, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.jsUp, h.jsSince, h.jsCause
}

// run probes JetStream until ctx ends, and on the leader checks the
// streams' replicas.
func (h *health) run(ctx context.Context) {
	lastCheck := time.Time{}
	for {
		h.probe(ctx)
		if h.d.leading() && time.Since(lastCheck) > replicaCheckEvery {
			lastCheck = time.Now()
			h.checkReplicas(ctx)
		}
		every := probeEvery
		if up, _, _ := h.available(); !up {
			every = time.Second
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		case <-h.probeNow:
		}
	}
}

// probe asks JetStream for the account info and, once the store is open,
// writes this node's health key: a bucket without a quorum refuses it.
func (h *health) probe(ctx context.Context) {
	pctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	if up, state := h.d.connStatus(); !up {
		h.setJetStream(false, "nats is not connected: "+state)
		return
	}
	if !h.d.storeOpen() {
		if err := h.d.accountInfo(pctx); err != nil && ctx.Err() == nil {
			h.setJetStream(false, "jetstream does not answer: "+err.Error())
		}
		return // usable only once the store is open
	}
	if err := h.d.accountInfo(pctx); err != nil {
		if ctx.Err() == nil {
			h.setJetStream(false, "jetstream does not answer (no metadata leader: are most NATS servers down?): "+err.Error())
		}
		return
	}
	if err := h.d.put(pctx, js.HealthKey(h.id), time.Now().UTC()); err != nil {
		if ctx.Err() == nil {
			h.setJetStream(false, "the checkpoint bucket refuses writes (no quorum of its replicas?): "+err.Error())
		}
		return
	}
	h.setJetStream(true, "")
}

// keepError holds an actor error the KV refused; forget drops it.
func (h *health) keepError(key string, e ActorError) {
	h.mu.Lock()
	h.unrecorded[key] = e
	h.mu.Unlock()
}

func (h *health) forget(key string) {
	h.mu.Lock()
	delete(h.unrecorded, key)
	h.mu.Unlock()
}

// flushUnrecorded writes the errors kept in memory to the KV.
func (h *health) flushUnrecorded() {
	if !h.d.storeOpen() {
		return
	}
	h.mu.Lock()
	kept := make(map[string]ActorError, len(h.unrecorded))
	for k, e := range h.unrecorded {
		kept[k] = e
	}
	h.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for k, e := range kept {
		if err := h.d.put(ctx, k, e); err != nil {
			return
		}
		h.mu.Lock()
		if cur, ok := h.unrecorded[k]; ok && cur.Time.Equal(e.Time) {
			delete(h.unrecorded, k)
		}
		h.mu.Unlock()
	}
}

// checkReplicas finds the streams with fewer replicas than the setting
// allows and raises them; those it cannot raise are kept for status, the
// log and dmnode_jetstream_streams_underreplicated.
func (h *health) checkReplicas(ctx context.Context) {
	want := h.d.wantReplicas()
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	under, err := h.d.repair(cctx, want)
	if err != nil && ctx.Err() == nil {
		under = append(under, "check replicas: "+err.Error())
	}
	h.mu.Lock()
	changed := fmt.Sprint(under) != fmt.Sprint(h.under)
	h.under = under
	h.mu.Unlock()
	if changed && len(under) > 0 {
		h.log.Error("streams with fewer replicas than configured", "want", want, "streams", under)
	} else if changed {
		h.log.Info("every stream has its configured replicas", "replicas", want)
	}
}

// underReplicated returns the streams checkReplicas could not repair.
func (h *health) underReplicated() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.under...)
}

// NodeHealth is one node's view of NATS and JetStream, as cluster status
// and task status show it.
type NodeHealth struct {
	Node string `json:"node"`
	// NATS: connected to which server, or since when and why not.
	NATSConnected bool      `json:"nats_connected"`
	NATSServer    string    `json:"nats_server,omitempty"`
	NATSSince     time.Time `json:"nats_since"`
	NATSCause     string    `json:"nats_cause,omitempty"`
	// JetStream: usable (the last probe passed) or since when and why not.
	JetStream      bool      `json:"jetstream_available"`
	JetStreamSince time.Time `json:"jetstream_since"`
	JetStreamCause string    `json:"jetstream_cause,omitempty"`
	// Unrecorded are actor errors the KV refused while it was down.
	Unrecorded []ActorError `json:"unrecorded_errors,omitempty"`
	// UnderReplicated names streams with fewer replicas than configured
	// (checked by the leader).
	UnderReplicated []string `json:"under_replicated,omitempty"`
	// Error is set when the node could not be asked.
	Error string `json:"error,omitempty"`
}

// State describes the node's NATS and JetStream state in one line.
func (nh NodeHealth) State() (nats, jetstream string) {
	if nh.Error != "" {
		return "unknown", "unknown (" + nh.Error + ")"
	}
	nats = "connected to " + nh.NATSServer
	if !nh.NATSConnected {
		nats = fmt.Sprintf("down since %s: %s", nh.NATSSince.Format(time.RFC3339), nh.NATSCause)
	}
	jetstream = "ok"
	if !nh.JetStream {
		jetstream = fmt.Sprintf("unavailable since %s: %s", nh.JetStreamSince.Format(time.RFC3339), nh.JetStreamCause)
	}
	if len(nh.UnderReplicated) > 0 {
		jetstream += fmt.Sprintf(" (%d streams under-replicated)", len(nh.UnderReplicated))
	}
	return nats, jetstream
}

func (h *health) report() NodeHealth {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := NodeHealth{
		Node: h.id, NATSConnected: h.natsUp, NATSServer: h.natsServer, NATSSince: h.natsSince.UTC(), NATSCause: h.natsCause,
		JetStream: h.jsUp, JetStreamSince: h.jsSince.UTC(), JetStreamCause: h.jsCause,
		UnderReplicated: append([]string(nil), h.under...),
	}
	for _, e := range h.unrecorded {
		r.Unrecorded = append(r.Unrecorded, e)
	}
	sort.Slice(r.Unrecorded, func(i, j int) bool { return r.Unrecorded[i].Actor < r.Unrecorded[j].Actor })
	return r
}

// apiNodeHealth answers a node's own health, on its own subject.
func (n *control) apiNodeHealth(ctx context.Context, req *Request) (*Response, error) {
	r := n.health.report()
	return &Response{Health: []NodeHealth{r}}, nil
}

// clusterHealth asks every member for its health, at once, each for at
// most a couple of seconds: core NATS still carries the request when
// JetStream has lost its quorum. A member that does not answer is listed
// with the error.
func (n *control) clusterHealth(ctx context.Context, st *catalog.State) map[string]NodeHealth {
	out := map[string]NodeHealth{n.id: n.health.report()}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, id := range st.MemberIDs() {
		if id == n.id {
			continue
		}
		wg.Go(func() {
			hctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			r := n.cluster.askHealth(hctx, id)
			mu.Lock()
			out[id] = r
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

// relayUnavailable says why a source's relay cannot be read or written,
// as the nodes that matter see it: this one and those running the
// source's actors. Empty when they all reach JetStream.
func relayUnavailable(st *catalog.State, task, src, self string, hs map[string]NodeHealth) string {
	nodes := []string{self}
	for id, a := range st.Assign {
		spec, ok := catalog.ParseActorID(id)
		if !ok || spec.Source != src || (spec.Task != "" && spec.Task != task) {
			continue
		}
		nodes = append(nodes, a.Node)
	}
	for _, id := range nodes {
		h, ok := hs[id]
		if !ok || h.Error != "" || h.JetStream {
			continue
		}
		return fmt.Sprintf("relay unavailable since %s: %s (seen by node %s)", h.JetStreamSince.Format(time.RFC3339), h.JetStreamCause, id)
	}
	return ""
}

// unrecordedError returns the latest error the nodes hold in memory for
// the source's actors.
func unrecordedError(task, src string, hs map[string]NodeHealth) (ActorError, bool) {
	var latest ActorError
	for _, h := range hs {
		for _, e := range h.Unrecorded {
			spec, ok := catalog.ParseActorID(e.Actor)
			if !ok || spec.Source != src || (spec.Task != "" && spec.Task != task) {
				continue
			}
			if e.Time.After(latest.Time) {
				latest = e
			}
		}
	}
	return latest, latest.Error != ""
}

// checkExternalNATS warns about what the node can read of an external NATS
// server that does not suit it: a max_payload below dmnode's largest
// message, or a server that is not part of a cluster while replicas are
// wanted. The server's JetStream sync interval cannot be read by a client:
// the log says so once.
func (n *Node) checkExternalNATS() {
	if n.cfg.NATSURL == "" {
		return
	}
	if mp := n.nc.MaxPayload(); mp < js.MaxMessageBytes+64<<10 {
		n.log.Warn("the NATS server's max_payload is below what dmnode publishes: set max_payload: 1MB (or more) on every server",
			"max_payload", mp, "needed", js.MaxMessageBytes+64<<10)
	}
	if n.nc.ConnectedClusterName() == "" && n.cfg.replicas() > 1 {
		n.log.Warn("the NATS server reports no cluster: streams get 1 replica, not the configured ones; a lost server loses them",
			"replicas", n.cfg.replicas())
	}
	n.log.Info("a client cannot read the NATS servers' JetStream sync_interval: set sync_interval: always on every server, " +
		"or acknowledged writes can be lost on power failure (see docs/operations.md)")
}

// isLeader reports whether this node leads Raft.
func (n *Node) isLeader() bool {
	_, id := n.raft.LeaderWithID()
	return string(id) == n.id
}

// notReady says why the node is not ready to serve (empty when it is): it
// must be a Raft member that knows a leader and has loaded its catalog, and
// JetStream must answer it.
func (n *Node) notReady() string {
	_, leader := n.raft.LeaderWithID()
	switch {
	case leader == "":
		return "no raft leader known"
	case !n.ready.Load():
		return "catalog not loaded yet"
	case !n.storeReady.Load():
		return "jetstream not opened yet"
	}
	if up, since, cause := n.health.available(); !up {
		return fmt.Sprintf("jetstream unavailable since %s: %s", since.UTC().Format(time.RFC3339), cause)
	}
	return ""
}

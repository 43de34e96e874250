package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/nats-io/nats.go"

	"github.com/dmnode/dmnode/core/catalog"
	"github.com/dmnode/dmnode/jetstream"
)

// Subjects of cluster membership.
const (
	heartbeatSubject = "dmnode.heartbeat"
	peersFile        = "peers.json"
	// leftFile marks the data dir of a node that left the cluster.
	leftFile = "left"
)

func resolveTCP(addr string) (*net.TCPAddr, error) {
	a, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("resolve advertised address %s: %w", addr, err)
	}
	if a.IP == nil || a.IP.IsUnspecified() {
		return nil, fmt.Errorf("advertised address %s is not reachable by peers: set --advertise", addr)
	}
	return a, nil
}

// loadPeers reads the route URLs of the other members, kept in the data dir
// so a restarted node finds its cluster without --join.
func loadPeers(dataDir string) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, peersFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read peers: %w", err)
	}
	var peers []string
	if err := json.Unmarshal(b, &peers); err != nil {
		return nil, fmt.Errorf("read peers: %w", err)
	}
	return peers, nil
}

// savePeers records the other members' route URLs when they changed.
func (n *membership) savePeers(st *catalog.State) {
	if n.cfg.Dev {
		return
	}
	var peers []string
	for _, id := range st.MemberIDs() {
		if m := st.Members[id]; id != n.id && m.Route != "" {
			peers = append(peers, m.Route)
		}
	}
	if len(peers) == 0 {
		return
	}
	old, _ := loadPeers(n.cfg.DataDir)
	if fmt.Sprint(old) == fmt.Sprint(peers) {
		return
	}
	b, _ := json.Marshal(peers)
	tmp := filepath.Join(n.cfg.DataDir, peersFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o640); err == nil {
		err = os.Rename(tmp, filepath.Join(n.cfg.DataDir, peersFile))
		if err != nil {
			n.log.Warn("save peers", "err", err)
		}
	}
}

// discoverPeers asks a member of an existing cluster for the route URLs of
// every member, before this node's NATS server starts. A cluster that was
// just founded may not list its first member yet: it is asked again for up
// to a minute.
//
// The connection authenticates with the cluster's node credentials: a
// cluster refuses a node given other ones, or none, here, before it
// becomes a member.
func discoverPeers(ctx context.Context, join, self string, opts []nats.Option) ([]string, error) {
	opts = append([]nats.Option{nats.Name("dmnode-join-" + self), nats.Timeout(10 * time.Second), nats.MaxReconnects(0)}, opts...)
	nc, err := nats.Connect(join, opts...)
	if err != nil {
		if errors.Is(err, nats.ErrAuthorization) {
			return nil, fmt.Errorf("join %s: the cluster refused this node's credentials (%v): --cluster-creds must be a copy of %s from a member of that cluster", RedactURL(join), err, ClusterCredsFile)
		}
		return nil, fmt.Errorf("join %s: %w", RedactURL(join), connectError(err))
	}
	defer nc.Close()
	c := &Client{nc: nc}
	deadline := time.Now().Add(time.Minute)
	for {
		rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		resp, err := c.Call(rctx, "cluster.status", &Request{})
		cancel()
		switch {
		case err != nil && strings.Contains(err.Error(), notReadyError) && time.Now().Before(deadline):
			// A member still loading its catalog answered: ask again.
			resp = &Response{}
		case err != nil:
			return nil, fmt.Errorf("join %s: %w", RedactURL(join), err)
		}
		var peers []string
		for _, m := range resp.Members {
			if m.Route != "" && m.ID != self {
				peers = append(peers, m.Route)
			}
		}
		if len(peers) > 0 {
			return peers, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("join %s: the cluster lists no member with a route URL (is it a dev node? dev nodes cannot be joined)", RedactURL(join))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// requestJoin asks the leader to add this node as a voter; the request goes
// through the now routed NATS cluster.
func (n *Node) requestJoin(ctx context.Context, retry bool) error {
	data, _ := json.Marshal(n.self)
	deadline := time.Now().Add(time.Minute)
	for {
		c := &Client{nc: n.nc}
		rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		resp, err := c.Call(rctx, "cluster.join", &Request{Files: []File{{Name: "member", Data: string(data)}}, Retry: retry})
		cancel()
		if err == nil {
			n.log.Info("joined the cluster")
			return n.adoptClusterKeys(resp.ClusterKeys)
		}
		if time.Now().After(deadline) || ctx.Err() != nil || !errors.Is(err, nats.ErrNoResponders) && !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("join the cluster: %w", err)
		}
		time.Sleep(500 * time.Millisecond) // routes still forming
	}
}

// heartbeats tracks when each node was last heard from. Every node records
// them, so any node can answer cluster status; the leader uses them to
// decide which nodes are live.
type heartbeats struct {
	timeout time.Duration
	mu      sync.Mutex
	seen    map[string]time.Time
	asked   map[string]time.Time // when alive was first asked about a node not heard from
	since   time.Time            // when this node started listening
	now     func() time.Time     // the clock; tests set their own
}

func newHeartbeats(timeout time.Duration) *heartbeats {
	return &heartbeats{timeout: timeout, seen: map[string]time.Time{}, asked: map[string]time.Time{}, since: time.Now(), now: time.Now}
}

func (h *heartbeats) beat(id string) {
	h.mu.Lock()
	h.seen[id] = h.now()
	h.mu.Unlock()
}

// alive reports whether a node has been heard from within the timeout. A
// node not heard from at all counts as alive during the first timeout after
// this node started listening or first asked about it (a node that just
// joined), whichever is later: it has had no chance to speak yet.
func (h *heartbeats) alive(id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	t, ok := h.seen[id]
	if !ok {
		first, asked := h.asked[id]
		if !asked {
			first = h.now()
			h.asked[id] = first
		}
		if first.Before(h.since) {
			first = h.since
		}
		return h.now().Sub(first) < h.timeout
	}
	return h.now().Sub(t) < h.timeout
}

// runHeartbeats publishes this node's heartbeat every second, once it can
// run actors (JetStream is open), and records everyone's, until ctx ends.
func (n *membership) runHeartbeats(ctx context.Context) error {
	sub, err := n.nc.Subscribe(jetstream.Subject(heartbeatSubject), func(m *nats.Msg) { n.beats.beat(string(m.Data)) })
	if err != nil {
		return fmt.Errorf("subscribe heartbeats: %w", err)
	}
	go func() {
		defer sub.Unsubscribe()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			if n.storeReady.Load() {
				_ = n.nc.Publish(jetstream.Subject(heartbeatSubject), []byte(n.id))
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return nil
}

// liveMembers returns the members placement may use: heard from recently
// (a node beats only once it can run actors) and not leaving.
func (n *membership) liveMembers(st *catalog.State) []string {
	var live []string
	for _, id := range st.MemberIDs() {
		up := n.beats.alive
		if id == n.id {
			// This node knows itself: it can run actors once JetStream is open.
			up = func(string) bool { return n.storeReady.Load() }
		}
		if m := st.Members[id]; !m.Leaving && up(id) {
			live = append(live, id)
		}
	}
	return live
}

// MemberStatus is one member as cluster status shows it.
type MemberStatus struct {
	catalog.Member
	Voter   bool `json:"voter"`
	Leader  bool `json:"leader"`
	Healthy bool `json:"healthy"`
	Actors  int  `json:"actors"`
	// ActorIDs names the actors placed on the member.
	ActorIDs []string `json:"actor_ids,omitempty"`
	// NATS and JetStream are the member's own view of its connection and
	// of JetStream (health.go), Health the details.
	NATS      string      `json:"nats_state"`
	JetStream string      `json:"jetstream_state"`
	Health    *NodeHealth `json:"health,omitempty"`
}

func (n *control) apiClusterStatus(ctx context.Context, req *Request) (*Response, error) {
	st := n.fsm.State()
	voters, leader := n.cluster.voters(), n.cluster.leader()
	actors := map[string][]string{}
	for id, a := range st.Assign {
		actors[a.Node] = append(actors[a.Node], id)
	}
	resp := &Response{}
	hs := n.clusterHealth(ctx, st)
	for _, id := range st.MemberIDs() {
		h := hs[id]
		natsState, jsState := h.State()
		m := *st.Members[id]
		// A member from before redaction may have stored its --nats-url
		// with a password.
		m.Control = RedactURL(m.Control)
		resp.Members = append(resp.Members, MemberStatus{
			Member: m, Voter: voters[id], Leader: leader == id,
			Healthy: id == n.id || n.cluster.alive(id), Actors: len(actors[id]), ActorIDs: actors[id],
			NATS: natsState, JetStream: jsState, Health: &h,
		})
		sort.Strings(resp.Members[len(resp.Members)-1].ActorIDs)
	}
	sort.Slice(resp.Members, func(i, j int) bool { return resp.Members[i].ID < resp.Members[j].ID })
	return resp, nil
}

// apiClusterJoin adds a node as a Raft voter and a catalog member; only the
// leader can, so other nodes forward it.
func (n *membership) apiClusterJoin(ctx context.Context, req *Request) (*Response, error) {
	if len(req.Files) != 1 {
		return nil, errors.New("join: no member given")
	}
	var m catalog.Member
	if err := json.Unmarshal([]byte(req.Files[0].Data), &m); err != nil {
		return nil, fmt.Errorf("join: %w", err)
	}
	if n.raft.State() != raft.Leader {
		return n.forwardToLeader(ctx, "cluster.join", req)
	}
	if old, ok := n.fsm.State().Members[m.ID]; ok && (!req.Retry || old.Raft != m.Raft) {
		return nil, fmt.Errorf("node %s is already a member; if its data dir was wiped, remove it first with `dmnode cluster remove %s`, then join again", m.ID, m.ID)
	}
	// A non-voter first: it receives the log (and opens its TLS
	// connections) without counting toward the quorum, so a slow start of
	// the new node cannot cost the leader its lease; a moment later it
	// becomes a voter, and only then a catalog member.
	if !voterOf(n.raft, m.ID) {
		if err := n.raft.AddNonvoter(raft.ServerID(m.ID), raft.ServerAddress(m.Raft), 0, 30*time.Second).Error(); err != nil {
			return nil, fmt.Errorf("add %s as raft non-voter: %w", m.ID, err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(nonvoterGrace):
		}
	}
	if err := n.raft.AddVoter(raft.ServerID(m.ID), raft.ServerAddress(m.Raft), 0, 30*time.Second).Error(); err != nil {
		return nil, fmt.Errorf("add %s as raft voter: %w", m.ID, err)
	}
	if err := n.propose(ctx, catalog.Command{Op: catalog.OpAddMember, Member: &m}); err != nil {
		return nil, err
	}
	n.log.Info("node joined", "member", m.ID, "raft", m.Raft)
	return &Response{Report: []string{"node " + m.ID + " joined"}, ClusterKeys: n.keys.clusterKeys()}, nil
}

// apiClusterRemove removes a member that is gone: from Raft and from the
// catalog, whose next placement moves its actors.
func (n *membership) apiClusterRemove(ctx context.Context, req *Request) (*Response, error) {
	if n.raft.State() != raft.Leader {
		return n.forwardToLeader(ctx, "cluster.remove", req)
	}
	if _, ok := n.fsm.State().Members[req.Name]; !ok {
		return nil, fmt.Errorf("node %q is not a member", req.Name)
	}
	if req.Name == n.id {
		if err := n.raft.LeadershipTransfer().Error(); err != nil {
			return nil, fmt.Errorf("hand over leadership before removing %s: %w", n.id, err)
		}
		return n.forwardToLeader(ctx, "cluster.remove", req)
	}
	if err := n.raft.RemoveServer(raft.ServerID(req.Name), 0, 30*time.Second).Error(); err != nil {
		return nil, fmt.Errorf("remove %s from raft: %w", req.Name, err)
	}
	if err := n.propose(ctx, catalog.Command{Op: catalog.OpRemoveMember, Name: req.Name}); err != nil {
		return nil, err
	}
	return &Response{Report: []string{"node " + req.Name + " removed"}}, nil
}

// apiClusterLeave makes the node answering it leave gracefully: it stops
// getting actors, waits until its actors run elsewhere, has itself removed,
// and then stops.
func (n *membership) apiClusterLeave(ctx context.Context, req *Request) (*Response, error) {
	if n.cfg.Dev {
		return nil, errors.New("a dev node is not part of a cluster")
	}
	if err := n.propose(ctx, catalog.Command{Op: catalog.OpLeaveMember, Name: n.id}); err != nil {
		return nil, err
	}
	for {
		mine := 0
		for _, a := range n.fsm.State().Assign {
			if a.Node == n.id {
				mine++
			}
		}
		if mine == 0 {
			break
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("leave: %d actors still placed here: %w", mine, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
	if _, err := n.apiClusterRemove(ctx, &Request{Name: n.id}); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(n.cfg.DataDir, leftFile), []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o640); err != nil {
		n.log.Warn("mark data dir as left", "err", err)
	}
	// The answer goes out before the node stops with its server.
	time.AfterFunc(time.Second, n.stop)
	return &Response{Report: []string{"node " + n.id + " left the cluster and is stopping"}}, nil
}

// forwardToLeader sends a control request to the leader's own subject.
func (n *membership) forwardToLeader(ctx context.Context, method string, req *Request) (*Response, error) {
	for {
		if _, leader := n.raft.LeaderWithID(); leader != "" && string(leader) != n.id {
			c := &Client{nc: n.nc}
			return c.call(ctx, nodeSubject(string(leader))+method, req)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%s: %w", method, ErrNotLeader)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func voterOf(r *raft.Raft, id string) bool {
	f := r.GetConfiguration()
	if f.Error() != nil {
		return false
	}
	for _, s := range f.Configuration().Servers {
		if string(s.ID) == id {
			return s.Suffrage == raft.Voter
		}
	}
	return false
}

// nonvoterGrace is how long a joining node stays a Raft non-voter,
// receiving the log, before it becomes a voter (raft's API does not expose
// a follower's progress; the first entries reach it well within this).
const nonvoterGrace = time.Second

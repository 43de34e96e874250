package tests

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dmnode/dmnode/tests/harness"
)

// clusterNode is one dmnode process of a multi-node cluster.
type clusterNode struct {
	name                            string
	dataDir                         string
	natsPort, clusterPort, raftPort int
	proc                            *harness.Process
}

func (n *clusterNode) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.natsPort) }

type member struct {
	ID       string   `json:"id"`
	Voter    bool     `json:"voter"`
	Leader   bool     `json:"leader"`
	Healthy  bool     `json:"healthy"`
	Leaving  bool     `json:"leaving"`
	ActorIDs []string `json:"actor_ids"`
}

// multi is a cluster of dmnode processes sharing the sources and target of
// an end-to-end environment.
type multi struct {
	*cluster
	nodes []*clusterNode
}

const heartbeatTimeout = "2s"

func newMulti(t *testing.T, nSources, nNodes int) *multi {
	c := &cluster{t: t, bin: harness.BuildDmnode(t), dir: t.TempDir()}
	for i := range nSources {
		c.sources = append(c.sources, harness.StartMariaDB(t, harness.Options{ServerID: i + 1}))
	}
	c.target = harness.StartMariaDB(t, harness.Options{ServerID: 100})
	// The nodes share credentials generated here (a joining node needs
	// them); the CLI uses the admin's.
	creds := filepath.Join(c.dir, "creds")
	if out, err := harness.Run(t, c.bin, "creds", "generate", "--out", creds); err != nil {
		t.Fatalf("dmnode creds generate: %v\n%s", err, out)
	}
	t.Setenv("DMNODE_CLUSTER_CREDS", filepath.Join(creds, "cluster.auth"))
	t.Setenv("DMNODE_CREDS", filepath.Join(creds, "admin.nk"))
	m := &multi{cluster: c}
	for i := range nNodes {
		m.addNode(t, i > 0)
	}
	c.diagnose = m.describe
	return m
}

// describe returns the cluster's and the task's status as the first live
// node that answers sees them (every node's log is printed by the harness).
func (m *multi) describe() string {
	for _, n := range m.alive() {
		cluster, err := harness.Run(m.t, m.bin, "--server", n.url(), "cluster", "status")
		if err != nil {
			continue
		}
		task, err := harness.Run(m.t, m.bin, "--server", n.url(), "task", "status", "-o", "json")
		return fmt.Sprintf("%s: cluster status:\n%s\ntask status (err %v):\n%s", n.name, cluster, err, task)
	}
	return "no live node answers"
}

// addNode starts a new node; join makes it join the first node's cluster.
func (m *multi) addNode(t *testing.T, join bool) *clusterNode {
	i := len(m.nodes)
	n := &clusterNode{
		name:     fmt.Sprintf("node%d", i+1),
		dataDir:  filepath.Join(m.dir, fmt.Sprintf("node%d", i+1)),
		natsPort: harness.FreePort(t), clusterPort: harness.FreePort(t), raftPort: harness.FreePort(t),
	}
	m.nodes = append(m.nodes, n)
	var joinArgs []string
	if join {
		joinArgs = []string{"--join", m.nodes[0].url()}
	}
	m.start(t, n, joinArgs...)
	return n
}

func (m *multi) start(t *testing.T, n *clusterNode, extra ...string) {
	m.launch(t, n, extra...)
	m.waitReady(t, n)
}

// launch starts a node's process without waiting for it.
func (m *multi) launch(t *testing.T, n *clusterNode, extra ...string) {
	args := append([]string{"start", "--name", n.name, "--data-dir", n.dataDir, "--host", "127.0.0.1",
		"--nats-port", fmt.Sprint(n.natsPort), "--cluster-port", fmt.Sprint(n.clusterPort),
		"--raft-port", fmt.Sprint(n.raftPort), "--http-port", "0", "--heartbeat-timeout", heartbeatTimeout,
		"--log-format", "text"}, extra...)
	n.proc = harness.StartProcess(t, m.bin, args)
}

// waitReady waits until the node answers with its catalog loaded and is a
// voting member (another node may answer through its NATS server before
// its own join finished).
func (m *multi) waitReady(t *testing.T, n *clusterNode) {
	harness.Eventually(t, 60*time.Second, func() error {
		out, err := harness.Run(t, m.bin, "--server", n.url(), "task", "list")
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		ms, err := m.statusAt(n)
		if err != nil {
			return err
		}
		for _, mb := range ms {
			if mb.ID == n.name && mb.Voter {
				return nil
			}
		}
		return fmt.Errorf("%s is not a voting member yet", n.name)
	})
}

func (m *multi) statusAt(n *clusterNode) ([]member, error) {
	out, err := harness.Run(m.t, m.bin, "--server", n.url(), "cluster", "status", "-o", "json")
	if err != nil {
		return nil, fmt.Errorf("%v: %s", err, out)
	}
	var st struct{ Members []member }
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		return nil, fmt.Errorf("decode cluster status: %v\n%s", err, out)
	}
	return st.Members, nil
}

// alive returns the nodes whose processes run.
func (m *multi) alive() []*clusterNode {
	var out []*clusterNode
	for _, n := range m.nodes {
		if n.proc != nil {
			out = append(out, n)
		}
	}
	return out
}

// members asks any live node for the cluster's members.
func (m *multi) members() ([]member, error) {
	var last error
	for _, n := range m.alive() {
		ms, err := m.statusAt(n)
		if err == nil {
			return ms, nil
		}
		last = err
	}
	return nil, last
}

// cli runs a client command against a live node.
func (m *multi) cli(args ...string) string {
	m.t.Helper()
	var out string
	harness.Eventually(m.t, 60*time.Second, func() error {
		var err error
		out, err = harness.Run(m.t, m.bin, append([]string{"--server", m.alive()[0].url()}, args...)...)
		if err != nil {
			return fmt.Errorf("dmnode %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return nil
	})
	return out
}

// waitSync waits until every source of the task replicates the binlog.
func (m *multi) waitSync(task string) {
	m.t.Helper()
	out, err := harness.Run(m.t, m.bin, "--server", m.alive()[0].url(), "task", "wait", task, "--stage", "sync", "--timeout", "2m")
	if err != nil {
		m.t.Fatalf("task wait: %v\n%s", err, out)
	}
}

// byName returns the running node of that name, or nil.
func (m *multi) byName(name string) *clusterNode {
	for _, n := range m.nodes {
		if n.name == name && n.proc != nil {
			return n
		}
	}
	return nil
}

// find returns the first running node whose member entry satisfies ok.
func (m *multi) find(ok func(member) bool) (*clusterNode, []member, error) {
	ms, err := m.members()
	if err != nil {
		return nil, nil, err
	}
	for _, mb := range ms {
		if n := m.byName(mb.ID); n != nil && ok(mb) {
			return n, ms, nil
		}
	}
	return nil, ms, nil
}

// nodeWith returns a live node running an actor whose id starts with
// prefix, or nil.
func (m *multi) nodeWith(prefix string) *clusterNode {
	n, _, err := m.find(func(mb member) bool {
		return slices.ContainsFunc(mb.ActorIDs, func(a string) bool { return strings.HasPrefix(a, prefix) })
	})
	if err != nil {
		m.t.Fatal(err)
	}
	return n
}

// nodeRunning waits until some node has the actor placed and returns it.
func (m *multi) nodeRunning(actor string) *clusterNode {
	var found *clusterNode
	harness.Eventually(m.t, 60*time.Second, func() error {
		n, ms, err := m.find(func(mb member) bool { return slices.Contains(mb.ActorIDs, actor) })
		if err != nil || n != nil {
			found = n
			return err
		}
		return fmt.Errorf("no live node runs %s: %+v", actor, ms)
	})
	return found
}

// leader returns the live node that leads Raft, waiting out an election.
func (m *multi) leader() *clusterNode {
	var found *clusterNode
	harness.Eventually(m.t, 30*time.Second, func() error {
		n, ms, err := m.find(func(mb member) bool { return mb.Leader })
		if err != nil {
			return err
		}
		if n == nil {
			return fmt.Errorf("no leader: %+v", ms)
		}
		found = n
		return nil
	})
	return found
}

func (m *multi) kill(n *clusterNode) {
	n.proc.Kill(m.t)
	n.proc = nil
}

// placedOnLive waits until every actor is placed on a healthy member other
// than the excluded ones, and reports how long that took.
func (m *multi) placedOnLive(want int, excluded ...*clusterNode) time.Duration {
	start := time.Now()
	harness.Eventually(m.t, 90*time.Second, func() error {
		ms, err := m.members()
		if err != nil {
			return err
		}
		n := 0
		for _, mb := range ms {
			for _, x := range excluded {
				if mb.ID == x.name && len(mb.ActorIDs) > 0 {
					return fmt.Errorf("%s still has actors %v", mb.ID, mb.ActorIDs)
				}
			}
			if !mb.Healthy && len(mb.ActorIDs) > 0 {
				return fmt.Errorf("silent %s still has actors %v", mb.ID, mb.ActorIDs)
			}
			n += len(mb.ActorIDs)
		}
		if n != want {
			return fmt.Errorf("%d actors placed, want %d", n, want)
		}
		return nil
	})
	return time.Since(start)
}

// phase runs writers until n operations are done, stops them and compares
// source and target row by row.
func (m *multi) phase(name string, seed uint64, ops int, during func(w *writers)) {
	m.t.Helper()
	m.t.Logf("phase %s", name)
	w := startWriters(m.t, m.sources, seed)
	waitForOps(m.t, w, 100)
	if during != nil {
		during(w)
	}
	waitForOps(m.t, w, w.count()+ops)
	w.stop(m.t)
	m.expectEqual("dmtest.t after "+name, partitionIDQuery, "SELECT id, c, port FROM dmtest.t")
}

// Three nodes run the example merge while the sources keep writing: a node
// dies during the load, the node running a tailer dies, the leader dies;
// after each step the actors run again on live nodes and no row is lost or
// doubled. Then all nodes restart, a fourth joins and one leaves, a node is
// frozen past the heartbeat timeout, and a wiped node tries to come back.
func TestClusterFailover(t *testing.T) {
	m := newMulti(t, 3, 3)
	m.seed(20000)
	m.cluster.natsPort = m.nodes[0].natsPort
	m.addSources()
	task := m.partitionIDTask("merge-pid", "    threads: 2\n    rows: 2000\n")
	m.cli("task", "submit", task)

	// SIGKILL a node during the full load, once rows are arriving.
	harness.Eventually(t, 2*time.Minute, func() error {
		out := m.cli("task", "status", "merge-pid", "-o", "json")
		if !strings.Contains(out, `"rows_loaded": 0,`) || strings.Count(out, `"rows_loaded": 0,`) < 3 {
			return nil
		}
		return fmt.Errorf("no rows loaded yet")
	})
	const actors = 6 // a tailer and an applier per source
	if loader := m.nodeWith("load/"); loader != nil {
		m.kill(loader)
		t.Logf("killed %s during the load", loader.name)
		m.waitSync("merge-pid")
		m.placedOnLive(actors, loader)
		m.start(t, loader)
	} else {
		t.Log("the load finished before a loader could be killed")
		m.waitSync("merge-pid")
	}
	m.phase("load failover", 11, 300, nil)

	m.phase("tailer failover", 12, 300, func(w *writers) {
		n := m.nodeRunning("tail/mysql-replica-02")
		m.kill(n)
		t.Logf("killed %s running tail/mysql-replica-02; actors placed again in %s", n.name, m.placedOnLive(actors, n))
		m.start(t, n)
	})
	m.phase("leader failover", 13, 300, func(w *writers) {
		n := m.leader()
		m.kill(n)
		t.Logf("killed leader %s; actors placed again in %s", n.name, m.placedOnLive(actors, n))
		m.start(t, n)
	})
	m.phase("restart all", 14, 300, func(w *writers) {
		for _, n := range m.nodes {
			n.proc.Stop(t)
			n.proc = nil
		}
		for _, n := range m.nodes {
			m.launch(t, n)
		}
		for _, n := range m.nodes {
			m.waitReady(t, n)
		}
		m.placedOnLive(actors)
	})
	m.phase("join and leave", 15, 300, func(w *writers) {
		fourth := m.addNode(t, true)
		harness.Eventually(t, 60*time.Second, func() error {
			ms, err := m.members()
			if err != nil {
				return err
			}
			for _, mb := range ms {
				if mb.ID == fourth.name && len(mb.ActorIDs) > 0 {
					return nil
				}
			}
			return fmt.Errorf("the new node got no actors: %+v", ms)
		})
		leaving := m.nodes[1]
		out, err := harness.Run(t, m.bin, "--server", leaving.url(), "cluster", "leave")
		if err != nil && !strings.Contains(out, "closed before an answer came") {
			t.Fatalf("cluster leave: %v\n%s", err, out)
		}
		if err := leaving.proc.Wait(t, time.Minute); err != nil {
			t.Fatalf("the node that left exited with %v", err)
		}
		leaving.proc = nil
		m.placedOnLive(actors, leaving)
	})
	m.phase("partition", 16, 300, func(w *writers) {
		// A node frozen for longer than the heartbeat timeout loses its
		// actors; when it wakes up it must not write to the target.
		n := m.nodeRunning("apply/merge-pid/mysql-replica-01")
		wasLeader := m.leader() == n
		n.proc.Signal(t, syscall.SIGSTOP)
		frozen := n.proc
		n.proc = nil
		t.Logf("froze %s (leader: %v); actors placed again in %s", n.name, wasLeader, m.placedOnLive(actors, n))
		waitForOps(t, w, w.count()+300)
		frozen.Signal(t, syscall.SIGCONT)
		n.proc = frozen
		harness.Eventually(t, 60*time.Second, func() error {
			if !strings.Contains(frozen.Log(), "fenced") && !strings.Contains(frozen.Log(), "actor stopped") {
				return fmt.Errorf("%s has not noticed that it lost its actors", n.name)
			}
			return nil
		})
	})

	// A node whose data dir was wiped cannot come back under its old name
	// until it is removed.
	wiped := &clusterNode{name: m.nodes[2].name, dataDir: filepath.Join(m.dir, "wiped"),
		natsPort: harness.FreePort(t), clusterPort: harness.FreePort(t), raftPort: harness.FreePort(t)}
	out, err := harness.Run(t, m.bin, "start", "--name", wiped.name, "--data-dir", wiped.dataDir, "--host", "127.0.0.1",
		"--nats-port", fmt.Sprint(wiped.natsPort), "--cluster-port", fmt.Sprint(wiped.clusterPort),
		"--raft-port", fmt.Sprint(wiped.raftPort), "--http-port", "0", "--join", m.alive()[0].url())
	if err == nil || !strings.Contains(out, "cluster remove "+wiped.name) {
		t.Fatalf("a wiped node rejoined under its old name, or the error does not say how to remove it: %v\n%s", err, out)
	}
}

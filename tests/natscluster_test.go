package tests

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dmnode/dmnode/tests/harness"
)

// natsCluster is a 3-server NATS JetStream cluster in the test process,
// reached by its clients through one URL: a TCP balancer that hands each
// connection to a live server. The servers do not advertise each other to
// clients (no_advertise), as behind a load balancer or a Kubernetes
// service: a client knows one URL and nothing of the cluster.
type natsCluster struct {
	t       *testing.T
	dir     string
	ports   []int // client ports
	routes  []int // route ports
	servers []*server.Server
	lb      *balancer
}

func startNATSCluster(t *testing.T) *natsCluster {
	nc := &natsCluster{t: t, dir: t.TempDir()}
	for range 3 {
		nc.ports = append(nc.ports, harness.FreePort(t))
		nc.routes = append(nc.routes, harness.FreePort(t))
	}
	nc.servers = make([]*server.Server, 3)
	for i := range 3 {
		nc.start(i)
	}
	for i := range 3 {
		nc.ready(i)
	}
	var backends []string
	for _, p := range nc.ports {
		backends = append(backends, fmt.Sprintf("127.0.0.1:%d", p))
	}
	nc.lb = startBalancer(t, backends)
	t.Cleanup(func() {
		nc.lb.close()
		for _, s := range nc.servers {
			if s != nil {
				s.Shutdown()
			}
		}
	})
	return nc
}

// start starts server i on its ports and its store, with the settings
// docs/operations.md asks of an external cluster.
func (nc *natsCluster) start(i int) {
	var routes []*url.URL
	for j, p := range nc.routes {
		if j != i {
			routes = append(routes, &url.URL{Scheme: "nats-route", Host: fmt.Sprintf("127.0.0.1:%d", p)})
		}
	}
	s, err := server.NewServer(&server.Options{
		ServerName: fmt.Sprintf("nats-%d", i+1), Host: "127.0.0.1", Port: nc.ports[i],
		JetStream: true, StoreDir: filepath.Join(nc.dir, fmt.Sprintf("s%d", i+1)),
		SyncAlways: true, MaxPayload: 1 << 20, NoSigs: true,
		Cluster: server.ClusterOpts{Name: "ext", Host: "127.0.0.1", Port: nc.routes[i], NoAdvertise: true},
		Routes:  routes,
	})
	if err != nil {
		nc.t.Fatal(err)
	}
	go s.Start()
	nc.servers[i] = s
}

func (nc *natsCluster) ready(i int) {
	if !nc.servers[i].ReadyForConnections(30 * time.Second) {
		nc.t.Fatalf("nats server %d did not start", i+1)
	}
}

// kill stops server i at once: its clients and routes drop.
func (nc *natsCluster) kill(i int) {
	nc.servers[i].Shutdown()
	nc.servers[i].WaitForShutdown()
	nc.servers[i] = nil
}

func (nc *natsCluster) url() string { return "nats://" + nc.lb.addr }

// balancer forwards each TCP connection to the first backend, in turn,
// that accepts it.
type balancer struct {
	addr     string
	ln       net.Listener
	backends []string
	mu       sync.Mutex
	next     int
	conns    map[net.Conn]bool
	wg       sync.WaitGroup
}

func startBalancer(t *testing.T, backends []string) *balancer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &balancer{addr: ln.Addr().String(), ln: ln, backends: backends, conns: map[net.Conn]bool{}}
	b.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.wg.Go(func() { b.serve(c) })
		}
	})
	return b
}

func (b *balancer) serve(c net.Conn) {
	b.mu.Lock()
	start := b.next
	b.next++
	b.mu.Unlock()
	var up net.Conn
	for k := range b.backends {
		var err error
		if up, err = net.DialTimeout("tcp", b.backends[(start+k)%len(b.backends)], time.Second); err == nil {
			break
		}
	}
	if up == nil {
		c.Close()
		return
	}
	b.mu.Lock()
	b.conns[c], b.conns[up] = true, true
	b.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
	c.Close()
	up.Close()
	<-done
	b.mu.Lock()
	delete(b.conns, c)
	delete(b.conns, up)
	b.mu.Unlock()
}

func (b *balancer) close() {
	b.ln.Close()
	b.mu.Lock()
	for c := range b.conns {
		c.Close()
	}
	b.mu.Unlock()
	b.wg.Wait()
}

// TestNATSClusterOutage runs three dmnode nodes on an external 3-server
// NATS cluster behind one URL, a merge task under writes, and takes NATS
// servers away: one (rows keep flowing), then a second (JetStream loses
// its quorum: status and /readyz must say so within 30 s), then brings
// both back (rows flow again). It checks that every stream is R3 although
// the nodes know one URL, prints the measured recovery times, and ends
// with a row-by-row comparison. About three minutes: it runs in `make
// chaos` (DMNODE_CHAOS=1).
func TestNATSClusterOutage(t *testing.T) {
	if os.Getenv("DMNODE_CHAOS") != "1" {
		t.Skip("a NATS outage scenario of a few minutes: run with DMNODE_CHAOS=1 (make chaos)")
	}
	ncl := startNATSCluster(t)
	var sources []*harness.Server
	for i := range 2 {
		sources = append(sources, harness.StartMariaDB(t, harness.Options{ServerID: i + 1}))
	}
	c := &cluster{t: t, bin: harness.BuildDmnode(t), dir: t.TempDir(), sources: sources,
		target: harness.StartMariaDB(t, harness.Options{ServerID: 100})}
	_, lbPort, _ := net.SplitHostPort(ncl.lb.addr)
	fmt.Sscan(lbPort, &c.natsPort)

	httpPorts := map[string]int{}
	nodes := map[string]*harness.Process{}
	start := func(name string, extra ...string) {
		httpPorts[name] = harness.FreePort(t)
		args := append([]string{"start", "--name", name, "--data-dir", filepath.Join(c.dir, name),
			"--nats-url", ncl.url(), "--raft-port", fmt.Sprint(harness.FreePort(t)),
			"--http-port", fmt.Sprint(httpPorts[name]), "--heartbeat-timeout", "3s", "--log-format", "text"}, extra...)
		nodes[name] = harness.StartProcess(t, c.bin, args)
	}
	// All three at once, no --join (not with --nats-url): one founds the
	// cluster on the NATS, the others find it there and join.
	start("nc1")
	start("nc2")
	start("nc3")
	m := &multi{cluster: c}
	m.waitMembers(c.natsPort, 3)
	c.diagnose = func() string {
		out, _ := harness.Run(t, c.bin, "--server", c.server(), "cluster", "status")
		st, _ := harness.Run(t, c.bin, "--server", c.server(), "task", "status")
		return "cluster status:\n" + out + "\ntask status:\n" + st
	}

	c.seed(500)
	c.addSources()
	task := c.partitionIDTask("ncl", "    threads: 2\n    rows: 100\n")
	c.dmnode("task", "submit", task)
	c.dmnode("task", "wait", "ncl", "--stage", "sync", "--timeout", "3m")

	// Every stream and the checkpoint bucket have three replicas, though
	// the nodes were given one URL and discovered no other server.
	checkReplicas(t, ncl.url(), 3)

	w := startWriters(t, c.sources, 22)
	waitForOps(t, w, 200)
	marks := &markers{c: c}
	t.Logf("rows flowing before the outage: marker after %s", marks.flow().Round(time.Millisecond))

	// One NATS server of three dies: JetStream keeps its quorum.
	ncl.kill(2)
	killed := time.Now()
	marks.flow()
	t.Logf("RECOVERY one NATS server killed: rows flowing %s after the kill (marker written and applied)", time.Since(killed).Round(time.Millisecond))

	// A second dies: JetStream has no quorum. Status, the CLI's exit status
	// and /readyz say so within 30 s.
	ncl.kill(1)
	lost := time.Now()
	harness.Eventually(t, 30*time.Second, func() error {
		out, err := harness.Run(t, c.bin, "--server", c.server(), "task", "status", "ncl")
		if err == nil {
			return fmt.Errorf("task status exits 0 during the outage:\n%s", out)
		}
		if !strings.Contains(out, "relay unavailable since") {
			return fmt.Errorf("task status does not report the relay unavailable: %v\n%s", err, out)
		}
		return nil
	})
	t.Logf("task status reported the outage %s after quorum loss", time.Since(lost).Round(time.Millisecond))
	harness.Eventually(t, 30*time.Second, func() error {
		for name, port := range httpPorts {
			code, body := get(t, port, "/readyz")
			if code != http.StatusServiceUnavailable {
				return fmt.Errorf("%s /readyz: %d %s", name, code, body)
			}
			if code, body := get(t, port, "/healthz"); code != http.StatusOK {
				return fmt.Errorf("%s /healthz (liveness) during the outage: %d %s", name, code, body)
			}
		}
		return nil
	})
	t.Logf("/readyz reported the outage on every node %s after quorum loss", time.Since(lost).Round(time.Millisecond))
	if out, err := harness.Run(t, c.bin, "--server", c.server(), "cluster", "status"); err == nil {
		t.Logf("cluster status during the outage:\n%s", out)
	}
	out, _ := harness.Run(t, c.bin, "--server", c.server(), "task", "status", "ncl")
	t.Logf("task status during the outage:\n%s", out)
	time.Sleep(20 * time.Second) // the outage lasts

	// Both come back: rows flow again.
	ncl.start(1)
	ncl.start(2)
	ncl.ready(1)
	ncl.ready(2)
	back := time.Now()
	harness.Eventually(t, 2*time.Minute, func() error {
		for name, port := range httpPorts {
			if code, body := get(t, port, "/readyz"); code != http.StatusOK {
				return fmt.Errorf("%s /readyz: %d %s", name, code, body)
			}
		}
		return nil
	})
	t.Logf("RECOVERY quorum back: every /readyz 200 after %s", time.Since(back).Round(time.Millisecond))
	marks.flow()
	t.Logf("RECOVERY quorum back: rows flowing %s after the servers were up (marker written and applied)", time.Since(back).Round(time.Millisecond))
	checkReplicas(t, ncl.url(), 3)

	waitForOps(t, w, w.count()+300)
	w.stop(t)
	c.expectEqual("dmtest.t", partitionIDQuery, "SELECT id, c, port FROM dmtest.t")
	if out, err := harness.Run(t, c.bin, "--server", c.server(), "task", "status", "ncl"); err != nil {
		t.Fatalf("task status after recovery: %v\n%s", err, out)
	}
	// What the nodes saw, for the record.
	for name, p := range nodes {
		for _, line := range strings.Split(p.Log(), "\n") {
			if strings.Contains(line, "jetstream available") || strings.Contains(line, "jetstream unavailable") ||
				strings.Contains(line, "actor woken") || strings.Contains(line, "nats reconnected") {
				t.Logf("%s: %.200s", name, line)
			}
		}
	}
}

// markers measures whether rows flow: a row written on every source, and
// the time until the target holds them all.
type markers struct {
	c *cluster
	n int
}

func (mk *markers) flow() time.Duration {
	mk.c.t.Helper()
	mk.n++
	tag := fmt.Sprintf("marker-%d", mk.n)
	start := time.Now()
	for _, s := range mk.c.sources {
		s.Exec(mk.c.t, fmt.Sprintf("INSERT INTO dmtest.t1 (c, port) VALUES ('%s', %d)", tag, s.Port))
	}
	tdb := mk.c.target.DB(mk.c.t)
	harness.Eventually(mk.c.t, 3*time.Minute, func() error {
		var n int
		if err := tdb.QueryRow("SELECT COUNT(*) FROM dmtest.t WHERE c = ?", tag).Scan(&n); err != nil {
			return err
		}
		if n != len(mk.c.sources) {
			return fmt.Errorf("%d of %d %s rows on the target", n, len(mk.c.sources), tag)
		}
		return nil
	})
	return time.Since(start)
}

// checkReplicas checks that dmnode's streams and its checkpoint bucket
// are configured with want replicas and have them.
func checkReplicas(t *testing.T, u string, want int) {
	t.Helper()
	js := jetStreamAt(t, u)
	harness.Eventually(t, time.Minute, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		names := js.StreamNames(ctx)
		seen := 0
		var errs []error
		for name := range names.Name() {
			if !strings.HasPrefix(name, "BINLOG_") && !strings.HasPrefix(name, "SNAPSHOT_") && name != "KV_dmnode_checkpoints" {
				continue
			}
			seen++
			st, err := js.Stream(ctx, name)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			info := st.CachedInfo()
			if info.Config.Replicas != want {
				errs = append(errs, fmt.Errorf("stream %s: R%d, want R%d", name, info.Config.Replicas, want))
			} else if info.Cluster == nil || len(info.Cluster.Replicas)+1 != want {
				errs = append(errs, fmt.Errorf("stream %s: peers %+v, want %d", name, info.Cluster, want))
			}
		}
		if err := names.Err(); err != nil {
			errs = append(errs, err)
		}
		if seen < 3 { // the bucket and a relay per source
			errs = append(errs, fmt.Errorf("only %d dmnode streams", seen))
		}
		return errors.Join(errs...)
	})
	t.Logf("every dmnode stream and the checkpoint bucket: R%d", want)
}

// get fetches a path of a node's HTTP port.
func get(t *testing.T, port int, path string) (int, string) {
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d%s", port, path))
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// TestNATSNodesStartTogether starts three nodes at once on one external
// NATS server, none told of another (there is no --join there): one claims
// the founding, the others wait until it answers, its Raft elected, and
// join. A task then copies and replicates two sources under writes, and
// the target equals them row by row.
func TestNATSNodesStartTogether(t *testing.T) {
	port := startExternalNATS(t, "together")
	natsURL := fmt.Sprintf("nats://127.0.0.1:%d", port)
	var sources []*harness.Server
	for i := range 2 {
		sources = append(sources, harness.StartMariaDB(t, harness.Options{ServerID: i + 1}))
	}
	c := &cluster{t: t, bin: harness.BuildDmnode(t), dir: t.TempDir(), sources: sources,
		target: harness.StartMariaDB(t, harness.Options{ServerID: 100}), natsPort: port}
	for _, name := range []string{"nt1", "nt2", "nt3"} {
		harness.StartProcess(t, c.bin, []string{"start", "--name", name, "--data-dir", filepath.Join(c.dir, name),
			"--nats-url", natsURL, "--raft-port", fmt.Sprint(harness.FreePort(t)), "--http-port", "0",
			"--heartbeat-timeout", "3s", "--log-format", "text"})
	}
	m := &multi{cluster: c}
	m.waitMembers(port, 3)
	c.seed(200)
	c.addSources()
	c.dmnode("task", "submit", c.partitionIDTask("together", "    threads: 2\n    rows: 100\n"))
	c.dmnode("task", "wait", "together", "--stage", "sync", "--timeout", "3m")
	// Each source's snapshot stream is deleted once its load is done.
	harness.Eventually(t, time.Minute, func() error {
		if left := snapshotStreams(t, port, "together"); len(left) > 0 {
			return fmt.Errorf("snapshot streams left after the load: %v", left)
		}
		return nil
	})
	w := startWriters(t, c.sources, 5)
	waitForOps(t, w, 200)
	w.stop(t)
	c.expectEqual("dmtest.t", partitionIDQuery, "SELECT id, c, port FROM dmtest.t")
}

// jetStreamAt connects to the NATS server at u for a test's checks; the
// connection closes when the test ends.
func jetStreamAt(t *testing.T, u string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// snapshotStreams lists the streams on the NATS server at port that hold
// the dumped chunks of task.
func snapshotStreams(t *testing.T, port int, task string) []string {
	t.Helper()
	js := jetStreamAt(t, fmt.Sprintf("nats://127.0.0.1:%d", port))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	names := js.StreamNames(ctx, jetstream.WithStreamListSubject("dmnode.snapshot."+task+".*"))
	var out []string
	for name := range names.Name() {
		out = append(out, name)
	}
	if err := names.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestNATSDeployments runs two dmnode deployments on one NATS server,
// told apart by --deployment: each founds its own cluster and sees only its
// own nodes; without a deployment name no dmnode answers. Both replicate
// the same source, under the same source id and task name (so the same
// stream names but for the prefix), each to its own target, under writes;
// both targets equal the source row by row.
func TestNATSDeployments(t *testing.T) {
	port := startExternalNATS(t, "shared")
	bin := harness.BuildDmnode(t)
	natsURL := fmt.Sprintf("nats://127.0.0.1:%d", port)
	source := harness.StartMariaDB(t, harness.Options{ServerID: 1})
	deployments := []string{"east", "west"}
	clusters := map[string]*cluster{}
	procs := map[string]*harness.Process{}
	startNode := func(d, u string) {
		procs[d] = harness.StartProcess(t, bin, []string{"start", "--deployment", d, "--name", d + "1", "--data-dir", filepath.Join(clusters[d].dir, "node"),
			"--nats-url", u, "--raft-port", fmt.Sprint(harness.FreePort(t)), "--http-port", "0", "--log-format", "text"})
	}
	for i, d := range deployments {
		c := &cluster{t: t, bin: bin, dir: t.TempDir(), sources: []*harness.Server{source},
			target: harness.StartMariaDB(t, harness.Options{ServerID: 100 + i}), natsPort: port}
		clusters[d] = c
		startNode(d, natsURL)
	}
	for _, d := range deployments {
		harness.Eventually(t, time.Minute, func() error {
			out, err := harness.Run(t, bin, "--server", natsURL, "--deployment", d, "cluster", "status", "-o", "json")
			if err != nil {
				return fmt.Errorf("%v: %s", err, out)
			}
			if !strings.Contains(out, `"id": "`+d+`1"`) || strings.Count(out, `"id":`) != 1 {
				return fmt.Errorf("deployment %s lists other members:\n%s", d, out)
			}
			return nil
		})
	}
	out, err := harness.Run(t, bin, "--server", natsURL, "cluster", "status")
	if err == nil || !strings.Contains(out, "no dmnode at") {
		t.Fatalf("without --deployment: %v\n%s", err, out)
	}
	// The NATS server is no dmnode node: leave must be told which node.
	out, err = harness.Run(t, bin, "--server", natsURL, "--deployment", "east", "cluster", "leave")
	if err == nil || !strings.Contains(out, "name the node") {
		t.Fatalf("cluster leave without --node on an external NATS: %v\n%s", err, out)
	}

	// A node restarted with another --nats-url shows the new one.
	procs["east"].Stop(t)
	otherURL := fmt.Sprintf("nats://localhost:%d", port)
	startNode("east", otherURL)
	harness.Eventually(t, time.Minute, func() error {
		out, err := harness.Run(t, bin, "--server", natsURL, "--deployment", "east", "cluster", "status", "-o", "json")
		if err != nil || !strings.Contains(out, `"control": "`+otherURL+`"`) {
			return fmt.Errorf("cluster status does not show %s: %v\n%s", otherURL, err, out)
		}
		return nil
	})

	clusters["east"].seed(300)
	for _, d := range deployments {
		t.Setenv("DMNODE_DEPLOYMENT", d) // the CLI's deployment
		c := clusters[d]
		c.addSources()
		c.dmnode("task", "submit", c.partitionIDTask("dep", "    threads: 2\n    rows: 100\n"))
		c.dmnode("task", "wait", "dep", "--stage", "sync", "--timeout", "3m")
	}
	w := startWriters(t, []*harness.Server{source}, 5)
	waitForOps(t, w, 300)
	w.stop(t)
	for _, d := range deployments {
		clusters[d].expectEqual("dmtest.t", partitionIDQuery, "SELECT id, c, port FROM dmtest.t")
	}

	// Each has its own relay and bucket.
	js := jetStreamAt(t, natsURL)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, d := range deployments {
		for _, st := range []string{d + "_BINLOG_mysql-replica-01", "KV_" + d + "_dmnode_checkpoints"} {
			if _, err := js.Stream(ctx, st); err != nil {
				t.Errorf("stream %s: %v", st, err)
			}
		}
	}
}

package tests

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/dmnode/dmnode/tests/harness"
)

// startExternalNATS starts a NATS server named name with JetStream
// (fsyncing every write) on a free loopback port, as an existing NATS a
// deployment is pointed at, and returns the port. It stops at the end of t.
func startExternalNATS(t *testing.T, name string) int {
	t.Helper()
	port := harness.FreePort(t)
	ns, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: filepath.Join(t.TempDir(), "js"),
		SyncAlways: true, NoSigs: true, ServerName: name,
	})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatalf("NATS server %s did not start", name)
	}
	return port
}

// waitMembers waits up to a minute until the cluster behind the NATS
// server at port lists n members.
func (m *multi) waitMembers(port, n int) {
	m.t.Helper()
	harness.Eventually(m.t, time.Minute, func() error {
		ms, err := m.statusAt(&clusterNode{natsPort: port})
		if err != nil {
			return err
		}
		if len(ms) != n {
			return fmt.Errorf("%d members", len(ms))
		}
		return nil
	})
}

// Three nodes on an existing NATS server (--nats-url) instead of embedded
// ones: they form a cluster through it, keep their streams on it, and
// carry a merge through the loss of the node running a tailer.
func TestExternalNATS(t *testing.T) {
	port := startExternalNATS(t, "external")

	var sources []*harness.Server
	for i := range 2 {
		sources = append(sources, harness.StartMariaDB(t, harness.Options{ServerID: i + 1}))
	}
	c := &cluster{t: t, bin: harness.BuildDmnode(t), dir: t.TempDir(), sources: sources,
		target: harness.StartMariaDB(t, harness.Options{ServerID: 100}), natsPort: port}
	nodes := map[string]*harness.Process{}
	start := func(name string, extra ...string) {
		args := append([]string{"start", "--name", name, "--data-dir", filepath.Join(c.dir, name),
			"--nats-url", c.server(), "--raft-port", fmt.Sprint(harness.FreePort(t)), "--http-port", "0",
			"--heartbeat-timeout", "2s", "--log-format", "text"}, extra...)
		nodes[name] = harness.StartProcess(t, c.bin, args)
	}
	start("ext1")
	harness.Eventually(t, time.Minute, func() error {
		_, err := harness.Run(t, c.bin, "--server", c.server(), "task", "list")
		return err
	})
	start("ext2")
	start("ext3")
	m := &multi{cluster: c}
	m.waitMembers(port, 3)

	c.seed(500)
	c.addSources()
	task := c.partitionIDTask("ext", "    threads: 2\n    rows: 100\n")
	c.dmnode("task", "submit", task)
	c.dmnode("task", "wait", "ext", "--stage", "sync", "--timeout", "3m")
	w := startWriters(t, c.sources, 31)
	waitForOps(t, w, 200)

	// The node running the first tailer dies; the other takes its actors.
	var victim string
	harness.Eventually(t, 30*time.Second, func() error {
		ms, err := m.statusAt(&clusterNode{natsPort: port})
		if err != nil {
			return err
		}
		for _, mb := range ms {
			for _, a := range mb.ActorIDs {
				if a == "tail/"+sourceID(0) {
					victim = mb.ID
					return nil
				}
			}
		}
		return fmt.Errorf("tail/%s is not placed", sourceID(0))
	})
	nodes[victim].Kill(t)
	harness.Eventually(t, time.Minute, func() error {
		ms, err := m.statusAt(&clusterNode{natsPort: port})
		if err != nil {
			return err
		}
		for _, mb := range ms {
			if mb.ID == victim && len(mb.ActorIDs) > 0 {
				return fmt.Errorf("%s still has %v", victim, mb.ActorIDs)
			}
		}
		return nil
	})
	waitForOps(t, w, w.count()+300)
	w.stop(t)
	c.expectEqual("dmtest.t", partitionIDQuery, "SELECT id, c, port FROM dmtest.t")
}

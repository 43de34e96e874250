package node

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/dmnode/dmnode/core/catalog"
	"github.com/dmnode/dmnode/tests/harness"
)

// waitLeader waits until r leads.
func waitLeader(t *testing.T, r *raft.Raft) {
	t.Helper()
	waitFor(t, "raft leadership", func() bool { return r.State() == raft.Leader })
}

func applyCmd(t *testing.T, r *raft.Raft, c catalog.Command) {
	t.Helper()
	data, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	f := r.Apply(data, 10*time.Second)
	if err := f.Error(); err != nil {
		t.Fatal(err)
	}
	if res, ok := f.Response().(applyResult); ok && res.Err != nil {
		t.Fatal(res.Err)
	}
}

// A founding dev member leads a cluster of itself with its log on disk;
// opened again it resumes that log (a second bootstrap is no error) and
// rebuilds its catalog from it.
func TestOpenRaftDevResumes(t *testing.T) {
	cfg := &Config{Dev: true, DataDir: t.TempDir()}
	if has, err := hasRaftState(cfg.DataDir); err != nil || has {
		t.Fatalf("a new data dir has raft state: %v %v", has, err)
	}
	r, wal, err := openRaft("n1", cfg, newFSM(), true, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitLeader(t, r)
	applyCmd(t, r, catalog.Command{Op: catalog.OpAddSource, Source: &catalog.Source{ID: "s1", YAML: "s1"}})
	if err := r.Shutdown().Error(); err != nil {
		t.Fatal(err)
	}
	wal.Close()
	if has, err := hasRaftState(cfg.DataDir); err != nil || !has {
		t.Fatalf("no raft state after a run: %v %v", has, err)
	}
	f := newFSM()
	r, wal, err = openRaft("n1", cfg, f, true, nil)
	if err != nil {
		t.Fatalf("reopen with bootstrap: %v", err)
	}
	defer wal.Close()
	defer r.Shutdown()
	waitLeader(t, r)
	if err := r.Barrier(10 * time.Second).Error(); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.State().Sources["s1"]; !ok {
		t.Error("the reopened member lost the source its log holds")
	}
}

// Outside dev mode Raft runs over TCP, with mutual TLS when the cluster
// has its CA: a member of the same cluster joins and receives the log; a
// node with another cluster's certificate cannot take part.
func TestOpenRaftTLS(t *testing.T) {
	creds, err := NewClusterCreds()
	if err != nil {
		t.Fatal(err)
	}
	member := func(id string, c *ClusterCreds, bootstrap bool) (*raft.Raft, *fsm, *Config) {
		cfg := &Config{DataDir: t.TempDir(), Host: "127.0.0.1", RaftPort: harness.FreePort(t)}
		tlsCfg, err := peerConfig(TLSFiles{}, c, []string{"127.0.0.1"})
		if err != nil {
			t.Fatal(err)
		}
		f := newFSM()
		r, wal, err := openRaft(id, cfg, f, bootstrap, tlsCfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Shutdown().Error(); wal.Close() })
		return r, f, cfg
	}
	a, _, _ := member("n1", creds, true)
	waitLeader(t, a)
	b, fb, cfgB := member("n2", creds, false)
	if err := a.AddVoter("n2", raft.ServerAddress(cfgB.advertise()+":"+strconv.Itoa(cfgB.RaftPort)), 0, 10*time.Second).Error(); err != nil {
		t.Fatal(err)
	}
	applyCmd(t, a, catalog.Command{Op: catalog.OpAddSource, Source: &catalog.Source{ID: "s1", YAML: "s1"}})
	waitFor(t, "the log on the joined member", func() bool { _, ok := fb.State().Sources["s1"]; return ok })
	if _, leader := b.LeaderWithID(); leader != "n1" {
		t.Errorf("n2 sees leader %q", leader)
	}

	other, err := NewClusterCreds()
	if err != nil {
		t.Fatal(err)
	}
	_, fc, cfgC := member("n3", other, false)
	// n3 is added to the configuration, but the TLS handshakes fail both
	// ways: it never receives the log.
	if err := a.AddNonvoter("n3", raft.ServerAddress("127.0.0.1:"+strconv.Itoa(cfgC.RaftPort)), 0, 10*time.Second).Error(); err != nil {
		t.Fatal(err)
	}
	applyCmd(t, a, catalog.Command{Op: catalog.OpAddSource, Source: &catalog.Source{ID: "s2", YAML: "s2"}})
	waitFor(t, "the log on the member of the same cluster", func() bool { _, ok := fb.State().Sources["s2"]; return ok })
	if len(fc.State().Sources) != 0 {
		t.Errorf("a node of another cluster received the log: %v", fc.State().SourceIDs())
	}
}

// Without the cluster's TLS (an external NATS and no --tls-cert), Raft
// listens on plain TCP.
func TestOpenRaftPlainTCP(t *testing.T) {
	cfg := &Config{DataDir: t.TempDir(), Host: "127.0.0.1", RaftPort: harness.FreePort(t)}
	r, wal, err := openRaft("n1", cfg, newFSM(), true, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer wal.Close()
	defer r.Shutdown()
	waitLeader(t, r)
	if _, _, err := openRaft("n2", &Config{DataDir: t.TempDir(), Host: "127.0.0.1", RaftPort: cfg.RaftPort}, newFSM(), false, nil); err == nil || !strings.Contains(err.Error(), "listen for raft on 127.0.0.1:") {
		t.Errorf("a second member on a port in use: %v", err)
	}
}

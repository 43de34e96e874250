package node

import (
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/dmnode/dmnode/core/secret"
)

func TestClusterKeys(t *testing.T) {
	newNode := func() *Node { return &Node{cfg: Config{DataDir: t.TempDir()}, log: slog.New(slog.DiscardHandler)} }

	// The founder generates the keys, 0600.
	n := newNode()
	if err := n.openClusterKeys(false, nil); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(clusterKeysPath(n.cfg.DataDir))
	if err != nil || st.Mode().Perm() != 0o600 || n.ring == nil {
		t.Fatalf("founder's keys: %v %v", st, err)
	}
	sealed, err := n.sealFile(File{Name: "s.yaml", Data: "source-id: a\nfrom:\n  password: pw1\n"})
	if err != nil || strings.Contains(sealed, "pw1") {
		t.Fatalf("seal: %v\n%s", err, sealed)
	}
	// A restart reads the same keys.
	again := &Node{cfg: n.cfg, log: n.log}
	if err := again.openClusterKeys(false, []string{"nats-route://peer:6222"}); err != nil || again.ring.String() != n.ring.String() {
		t.Fatalf("restart: %v", err)
	}

	// A joining node has no keys until the cluster sends them.
	j := newNode()
	if err := j.openClusterKeys(true, nil); err != nil || j.ring != nil {
		t.Fatalf("joining: %v", err)
	}
	if _, err := j.sealFile(File{Name: "s.yaml", Data: "from:\n  password: x\n"}); err == nil {
		t.Fatal("a node without keys sealed a file")
	}
	if err := j.adoptClusterKeys(""); err == nil {
		t.Fatal("a join answer without keys was accepted")
	}
	if err := j.adoptClusterKeys(n.ring.String()); err != nil {
		t.Fatal(err)
	}
	if got, _ := j.sealFile(File{Name: "s.yaml", Data: "source-id: a\nfrom:\n  password: pw1\n"}); got != sealed {
		t.Fatalf("the joined node seals differently:\n%s\n%s", got, sealed)
	}

	// A member of a multi-node cluster without keys refuses to start.
	old := newNode()
	err = old.openClusterKeys(false, []string{"nats-route://peer:6222"})
	if err == nil || !strings.Contains(err.Error(), "dmnode keys rotate") {
		t.Fatalf("member without keys: %v", err)
	}
	if _, err := os.Stat(clusterKeysPath(old.cfg.DataDir)); !os.IsNotExist(err) {
		t.Fatalf("keys were made up: %v", err)
	}
	// A corrupt key file is an error, never replaced.
	bad := newNode()
	if err := secret.WriteRing(clusterKeysPath(bad.cfg.DataDir), &secret.Ring{}); err != nil {
		t.Fatal(err)
	}
	if err := bad.openClusterKeys(false, nil); err == nil {
		t.Fatal("an empty key file was accepted")
	}
}

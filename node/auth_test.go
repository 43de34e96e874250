package node

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestRedactURL(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"nats://127.0.0.1:4222", "nats://127.0.0.1:4222"},
		{"nats://dm:s3cret@10.0.0.1:4222", "nats://dm:xxxxx@10.0.0.1:4222"},
		{"nats://dm:s3cret@a:4222,nats://dm:s3cret@b:4222", "nats://dm:xxxxx@a:4222,nats://dm:xxxxx@b:4222"},
		{"tls://tok3n@a:4222", "tls://xxxxx@a:4222"},
		{"connect to nats://u:p%40ss@h:1: refused", "connect to nats://u:xxxxx@h:1: refused"},
		{"nats-route://dmnode-route:abcdef@h:6222", "nats-route://dmnode-route:xxxxx@h:6222"},
	} {
		if got := RedactURL(c.in); got != c.want {
			t.Errorf("RedactURL(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestRolePermissions(t *testing.T) {
	if RolePermissions(RoleNode, "N") != nil {
		t.Fatal("the node role is restricted")
	}
	v := RolePermissions(RoleViewer, "UV")
	for _, m := range []string{"task.status", "task.list", "source.list", "cluster.status"} {
		if !slices.Contains(v.Publish.Allow, APIPrefix+m) {
			t.Errorf("a viewer may not call %s", m)
		}
	}
	for _, m := range []string{"task.submit", "task.pause", "task.delete", "cluster.join", "source.add"} {
		if slices.Contains(v.Publish.Allow, APIPrefix+m) {
			t.Errorf("a viewer may call %s", m)
		}
	}
	a := RolePermissions(RoleAdmin, "UA")
	if !slices.Contains(a.Publish.Allow, APIPrefix+">") || !slices.Contains(a.Publish.Deny, APIPrefix+"cluster.join") {
		t.Errorf("admin: %+v", a.Publish)
	}
	for _, p := range []*struct {
		role, inbox string
	}{{RoleViewer, "_INBOX.UV.>"}, {RoleAdmin, "_INBOX.UA.>"}} {
		perm := RolePermissions(p.role, p.inbox[7:9])
		if len(perm.Subscribe.Allow) != 1 || perm.Subscribe.Allow[0] != p.inbox {
			t.Errorf("%s subscribes %v", p.role, perm.Subscribe.Allow)
		}
	}
	if u := RolePermissions("stranger", "X"); len(u.Publish.Allow) != 0 || !slices.Contains(u.Publish.Deny, ">") {
		t.Errorf("unknown role: %+v", u.Publish)
	}
}

func TestClusterCredsRoundTrip(t *testing.T) {
	dir := t.TempDir()
	c, err := NewClusterCreds()
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteClusterCreds(dir, c); err != nil {
		t.Fatal(err)
	}
	if err := WriteClusterCreds(dir, c); err == nil {
		t.Fatal("a bundle was overwritten")
	}
	got, err := LoadClusterCreds(filepath.Join(dir, "cluster.auth"))
	if err != nil || *got != *c {
		t.Fatalf("loaded %+v, %v", got, err)
	}
	for _, f := range []string{"cluster.auth", "admin.nk", "viewer.nk"} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", f, st, err)
		}
	}
	// The seed files are what nats.go and the CLI read.
	if _, err := (ConnOptions{Creds: filepath.Join(dir, "admin.nk")}).natsOptions(); err != nil {
		t.Fatal(err)
	}
	if _, err := peerConfig(TLSFiles{}, c, []string{"127.0.0.1", "node1.example"}); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "bad.auth"), []byte(`{"node_seed":"x"}`), 0o600)
	if _, err := LoadClusterCreds(filepath.Join(dir, "bad.auth")); err == nil {
		t.Fatal("a bad bundle loaded")
	}
}

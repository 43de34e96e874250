package node

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// pemFiles writes a node certificate the cluster CA of creds signed for
// hosts, its key and the CA, as PEM files in dir.
func pemFiles(t *testing.T, dir string, creds *ClusterCreds, hosts ...string) TLSFiles {
	t.Helper()
	cert, err := issueNodeCert(creds, hosts)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	f := TLSFiles{Cert: filepath.Join(dir, "node.crt"), Key: filepath.Join(dir, "node.key"), CA: filepath.Join(dir, "ca.crt")}
	for path, data := range map[string][]byte{
		f.Cert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}),
		f.Key:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}),
		f.CA:   []byte(creds.CACert),
	} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// The TLS settings load what the files name and refuse, naming the file,
// what they cannot use: a certificate without its key, an unreadable CA, a
// CA file without a certificate, a key of another certificate.
func TestTLSFiles(t *testing.T) {
	dir := t.TempDir()
	creds, err := NewClusterCreds()
	if err != nil {
		t.Fatal(err)
	}
	f := pemFiles(t, dir, creds, "127.0.0.1", "node1.example")

	srv, err := f.serverConfig("NATS TLS")
	if err != nil || len(srv.Certificates) != 1 || srv.ClientCAs == nil || srv.ClientAuth != tls.VerifyClientCertIfGiven || srv.MinVersion != tls.VersionTLS12 {
		t.Fatalf("server config with a CA: %+v, %v", srv, err)
	}
	leaf, err := x509.ParseCertificate(srv.Certificates[0].Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: srv.ClientCAs, DNSName: "node1.example", KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("the node certificate does not verify against the CA as a client for its name: %v", err)
	}
	if err := leaf.VerifyHostname("127.0.0.1"); err != nil {
		t.Errorf("the node certificate does not name its IP: %v", err)
	}
	noCA := TLSFiles{Cert: f.Cert, Key: f.Key}
	if srv, err := noCA.serverConfig("HTTP TLS"); err != nil || srv.ClientAuth != tls.NoClientCert || srv.ClientCAs != nil {
		t.Errorf("server config without a CA: %+v, %v", srv, err)
	}
	if srv, err := (TLSFiles{CA: f.CA}).serverConfig("HTTP TLS"); srv != nil || err != nil {
		t.Errorf("server config without a certificate: %+v, %v, want none", srv, err)
	}

	cl, err := f.ClientConfig("client TLS")
	if err != nil || cl.RootCAs == nil || len(cl.Certificates) != 1 {
		t.Fatalf("client config: %+v, %v", cl, err)
	}
	if cl, err := (TLSFiles{}).ClientConfig("client TLS"); err != nil || cl.RootCAs != nil || len(cl.Certificates) != 0 {
		t.Errorf("client config of nothing (the system's roots): %+v, %v", cl, err)
	}

	other, err := NewClusterCreds()
	if err != nil {
		t.Fatal(err)
	}
	odir := t.TempDir()
	of := pemFiles(t, odir, other, "127.0.0.1")
	notPEM := filepath.Join(dir, "ca.txt")
	if err := os.WriteFile(notPEM, []byte("no certificate here"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		f    TLSFiles
		want string
	}{
		{"cert without key", TLSFiles{Cert: f.Cert}, "client TLS: give both a certificate and its key"},
		{"key without cert", TLSFiles{Key: f.Key}, "give both a certificate and its key"},
		{"missing CA", TLSFiles{CA: filepath.Join(dir, "nope.crt")}, "client TLS: read CA"},
		{"CA without PEM", TLSFiles{CA: notPEM}, "CA file " + notPEM + " holds no PEM certificate"},
		{"key of another cert", TLSFiles{Cert: f.Cert, Key: of.Key}, "client TLS: load certificate " + f.Cert + " and key " + of.Key},
	} {
		if _, err := c.f.ClientConfig("client TLS"); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error saying %q", c.name, err, c.want)
		}
	}
	if _, err := (TLSFiles{Cert: f.Cert, Key: f.Key, CA: notPEM}).serverConfig("NATS TLS"); err == nil || !strings.Contains(err.Error(), "NATS TLS: CA file") {
		t.Errorf("server config with a bad CA: %v", err)
	}
	if _, err := (TLSFiles{Cert: f.Cert, Key: of.Key}).serverConfig("NATS TLS"); err == nil || !strings.Contains(err.Error(), "load certificate") {
		t.Errorf("server config with a key of another certificate: %v", err)
	}
}

// Peer TLS is mutual: with the operator's files it presents their
// certificate and trusts their CA; without, it issues a certificate from
// the cluster CA, which a peer of the same cluster accepts and a peer of
// another cluster does not.
func TestPeerConfig(t *testing.T) {
	creds, err := NewClusterCreds()
	if err != nil {
		t.Fatal(err)
	}
	f := pemFiles(t, t.TempDir(), creds, "127.0.0.1")
	pc, err := peerConfig(f, nil, nil)
	if err != nil || len(pc.Certificates) != 1 || pc.ClientAuth != tls.RequireAndVerifyClientCert || pc.RootCAs == nil {
		t.Fatalf("peer config from files: %+v, %v", pc, err)
	}
	if _, err := peerConfig(TLSFiles{}, nil, nil); err == nil || !strings.Contains(err.Error(), "no cluster credentials") {
		t.Errorf("no files, no creds: %v", err)
	}
	if _, err := peerConfig(TLSFiles{Cert: f.Cert, Key: f.Key, CA: filepath.Join(t.TempDir(), "x")}, nil, nil); err == nil || !strings.Contains(err.Error(), "peer TLS: read CA") {
		t.Errorf("a missing CA: %v", err)
	}
	if _, err := peerConfig(TLSFiles{Cert: f.Cert, Key: f.CA}, nil, nil); err == nil || !strings.Contains(err.Error(), "peer TLS: load certificate") {
		t.Errorf("a bad key: %v", err)
	}
	bad := *creds
	bad.CAKey = "not a key"
	if _, err := peerConfig(TLSFiles{}, &bad, []string{"127.0.0.1"}); err == nil || !strings.Contains(err.Error(), "cluster CA in the credentials") {
		t.Errorf("a broken cluster CA: %v", err)
	}

	a, err := peerConfig(TLSFiles{}, creds, []string{"127.0.0.1", "0.0.0.0", "", "a.example"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := peerConfig(TLSFiles{}, creds, []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewClusterCreds()
	if err != nil {
		t.Fatal(err)
	}
	c, err := peerConfig(TLSFiles{}, other, []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(a.Certificates[0].Certificate[0])
	if len(leaf.IPAddresses) != 1 || !leaf.IPAddresses[0].Equal(net.ParseIP("127.0.0.1")) || len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != "a.example" {
		t.Errorf("issued for IPs %v and names %v, want 127.0.0.1 and a.example (no unspecified address, no empty name)", leaf.IPAddresses, leaf.DNSNames)
	}
	if err := handshake(a, b); err != nil {
		t.Errorf("two nodes of one cluster: %v", err)
	}
	if err := handshake(a, c); err == nil {
		t.Error("a node of another cluster was accepted")
	}
}

// handshake runs a TLS handshake between a server and a client config
// over an in-memory pipe.
func handshake(srvCfg, cliCfg *tls.Config) error {
	s, c := net.Pipe()
	defer s.Close()
	defer c.Close()
	cc := cliCfg.Clone()
	cc.ServerName = "127.0.0.1"
	srv := tls.Server(s, srvCfg)
	errc := make(chan error, 1)
	go func() { errc <- srv.Handshake(); s.Close() }()
	cerr := tls.Client(c, cc).Handshake()
	c.Close()
	serr := <-errc
	return errors.Join(cerr, serr)
}

func securityNode(t *testing.T, cfg Config) *Node {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	return &Node{cfg: cfg, log: slog.New(slog.DiscardHandler)}
}

// A founding node generates the cluster's credentials and issues itself a
// peer certificate; started again it keeps them; a joining node or a
// member without them is told what to give; credentials given to a
// member must be its own, and replace what a failed join left.
func TestOpenSecurity(t *testing.T) {
	n := securityNode(t, Config{})
	if err := n.openSecurity(false, false, false); err != nil {
		t.Fatal(err)
	}
	if n.creds == nil || n.peerTLS == nil || n.peerTLS.ClientAuth != tls.RequireAndVerifyClientCert {
		t.Fatalf("founding node: creds %v, peer TLS %+v", n.creds != nil, n.peerTLS)
	}
	for _, f := range []string{ClusterCredsFile, AdminCredsFile, ViewerCredsFile} {
		if _, err := os.Stat(filepath.Join(n.cfg.DataDir, f)); err != nil {
			t.Errorf("founding node wrote no %s: %v", f, err)
		}
	}
	again := securityNode(t, Config{DataDir: n.cfg.DataDir})
	if err := again.openSecurity(false, true, true); err != nil || *again.creds != *n.creds {
		t.Errorf("restarted member: %v, same creds %v", err, again.creds != nil && *again.creds == *n.creds)
	}
	opts, err := again.natsOptions()
	if err != nil || len(opts) != 2 {
		t.Errorf("node's NATS options with creds: %d, %v, want the nkey and its inbox", len(opts), err)
	}

	if err := securityNode(t, Config{}).openSecurity(true, false, false); err == nil || !strings.Contains(err.Error(), "--cluster-creds") {
		t.Errorf("joining without creds: %v", err)
	}
	if err := securityNode(t, Config{}).openSecurity(false, true, true); err == nil || !strings.Contains(err.Error(), "holds no cluster credentials") {
		t.Errorf("old member without creds: %v", err)
	}

	other, err := NewClusterCreds()
	if err != nil {
		t.Fatal(err)
	}
	otherDir := t.TempDir()
	if err := WriteClusterCreds(otherDir, other); err != nil {
		t.Fatal(err)
	}
	given := filepath.Join(otherDir, filepath.Base(ClusterCredsFile))
	m := securityNode(t, Config{DataDir: n.cfg.DataDir, ClusterCreds: given})
	if err := m.openSecurity(false, true, true); err == nil || !strings.Contains(err.Error(), "not the ones this member's data dir holds") {
		t.Errorf("member given another cluster's creds: %v", err)
	}
	j := securityNode(t, Config{DataDir: n.cfg.DataDir, ClusterCreds: given})
	if err := j.openSecurity(true, false, false); err != nil || *j.creds != *other {
		t.Fatalf("a join after a failed one with other creds: %v", err)
	}
	stored, err := LoadClusterCreds(filepath.Join(n.cfg.DataDir, ClusterCredsFile))
	if err != nil || *stored != *other {
		t.Errorf("the data dir keeps the old creds after a join with new ones: %v", err)
	}
	if err := securityNode(t, Config{ClusterCreds: filepath.Join(otherDir, "missing")}).openSecurity(true, false, false); err == nil || !strings.Contains(err.Error(), "cluster credentials") {
		t.Errorf("a missing creds file: %v", err)
	}
}

// Dev mode and an external NATS have no cluster credentials; behind an
// external NATS a given certificate makes the peer TLS; a certificate
// without its key is refused first.
func TestOpenSecurityWithoutClusterCreds(t *testing.T) {
	if err := securityNode(t, Config{Dev: true, ClusterCreds: "x"}).openSecurity(false, false, false); err == nil || !strings.Contains(err.Error(), "--cluster-creds applies to") {
		t.Errorf("dev with --cluster-creds: %v", err)
	}
	dev := securityNode(t, Config{Dev: true})
	if err := dev.openSecurity(false, false, false); err != nil || dev.creds != nil || dev.peerTLS != nil {
		t.Errorf("dev: %v, creds %v, tls %v", err, dev.creds, dev.peerTLS)
	}
	ext := securityNode(t, Config{NATSURL: "nats://127.0.0.1:4222"})
	if err := ext.openSecurity(false, false, false); err != nil || ext.creds != nil || ext.peerTLS != nil {
		t.Errorf("external NATS without TLS: %v", err)
	}
	creds, err := NewClusterCreds()
	if err != nil {
		t.Fatal(err)
	}
	f := pemFiles(t, t.TempDir(), creds, "127.0.0.1")
	ext = securityNode(t, Config{NATSURL: "nats://127.0.0.1:4222", TLS: f})
	if err := ext.openSecurity(false, false, false); err != nil || ext.peerTLS == nil || len(ext.peerTLS.Certificates) != 1 {
		t.Errorf("external NATS with TLS: %v", err)
	}
	if err := securityNode(t, Config{TLS: TLSFiles{Cert: f.Cert}}).openSecurity(false, false, false); err == nil || !strings.Contains(err.Error(), "give both") {
		t.Errorf("a certificate without its key: %v", err)
	}
	// The embedded servers' client TLS: a CA alone is used when asked, a
	// certificate makes the connection TLS.
	emb := securityNode(t, Config{TLS: TLSFiles{CA: f.CA}})
	if opts, err := emb.natsOptions(); err != nil || len(opts) != 1 {
		t.Errorf("NATS options with a CA: %d, %v", len(opts), err)
	}
	emb = securityNode(t, Config{TLS: TLSFiles{CA: filepath.Join(t.TempDir(), "none")}})
	if _, err := emb.natsOptions(); err == nil || !strings.Contains(err.Error(), "NATS TLS: read CA") {
		t.Errorf("NATS options with a missing CA: %v", err)
	}
}

// The embedded server takes the three roles' nkeys, sorted, each with its
// role's permissions, and the routes' password.
func TestServerAuth(t *testing.T) {
	creds, err := NewClusterCreds()
	if err != nil {
		t.Fatal(err)
	}
	var opts server.Options
	creds.serverAuth(&opts)
	if len(opts.Nkeys) != 3 {
		t.Fatalf("%d nkeys, want 3", len(opts.Nkeys))
	}
	roles := map[string]string{publicKey(creds.NodeSeed): RoleNode, publicKey(creds.AdminSeed): RoleAdmin, publicKey(creds.ViewerSeed): RoleViewer}
	for i, u := range opts.Nkeys {
		if i > 0 && opts.Nkeys[i-1].Nkey >= u.Nkey {
			t.Errorf("nkeys not sorted: %s before %s", opts.Nkeys[i-1].Nkey, u.Nkey)
		}
		role, ok := roles[u.Nkey]
		if !ok {
			t.Fatalf("unknown nkey %s", u.Nkey)
		}
		if want := RolePermissions(role, u.Nkey); !reflect.DeepEqual(want, u.Permissions) {
			t.Errorf("%s: permissions %v, want %v", role, u.Permissions, want)
		}
	}
	if opts.Cluster.Username != "dmnode-route" || opts.Cluster.Password != creds.RoutePassword {
		t.Errorf("route auth %q/%q", opts.Cluster.Username, opts.Cluster.Password)
	}
	if publicKey("not a seed") != "" {
		t.Error("a public key of no seed")
	}
}

// connectError tells a user what to give for the errors they can act on,
// and keeps the cause.
func TestConnectError(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{nats.ErrAuthorization, "give them with --creds FILE"},
		{nats.ErrSecureConnRequired, "--tls-ca"},
		{x509.UnknownAuthorityError{}, "--tls-ca"},
		{errors.New("remote error: tls: bad certificate"), "--tls-ca"},
		{errors.New("dial tcp: connection refused"), ""},
	} {
		got := connectError(c.err)
		if !errors.Is(got, c.err) && got.Error() != c.err.Error() {
			t.Errorf("%v: the cause is lost: %v", c.err, got)
		}
		if c.want == "" && got.Error() != c.err.Error() {
			t.Errorf("%v: changed to %v", c.err, got)
		}
		if c.want != "" && !strings.Contains(got.Error(), c.want) {
			t.Errorf("%v: %v, want it to say %q", c.err, got, c.want)
		}
	}
}

package tests

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/dmnode/dmnode/node"
	"github.com/dmnode/dmnode/tests/harness"
)

// issuePeer signs a certificate for a node on 127.0.0.1, usable as a
// server's and as a client's (routes and Raft are both).
func (ca *testCA) issuePeer(t *testing.T, dir, name string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return writePEM(t, dir, name+".pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		writePEM(t, dir, name+".key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}))
}

// runEnv runs the dmnode CLI with the test's environment minus the
// variables named in drop, plus extra.
func runEnv(t *testing.T, bin string, drop []string, extra []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), bin, args...)
	for _, kv := range os.Environ() {
		keep := true
		for _, d := range drop {
			if strings.HasPrefix(kv, d+"=") {
				keep = false
			}
		}
		if keep {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, extra...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// A secure three-node cluster as an operator runs one: the first node
// generates the cluster's credentials, the others join with a copy, every
// node has a certificate of the operator's CA (NATS client port, routes,
// Raft, HTTP). A task with real source and target passwords runs to sync
// and through the loss of a node, row by row equal; then each refusal is
// proven: no credentials, a viewer's admin commands, forged requests on
// subjects a client may not publish to, a client reading the relay or the
// KV, a join with another cluster's credentials or none, plaintext against
// the TLS ports. Finally no data dir, log or read command holds a password.
func TestSecureCluster(t *testing.T) {
	c := &cluster{t: t, bin: harness.BuildDmnode(t), dir: t.TempDir()}
	c.sources = append(c.sources, harness.StartMariaDB(t, harness.Options{ServerID: 1}))
	c.target = harness.StartMariaDB(t, harness.Options{ServerID: 100})
	m := &multi{cluster: c}
	c.diagnose = m.describe

	ca := newTestCA(t, "dmnode test CA")
	pki := filepath.Join(c.dir, "pki")
	if err := os.MkdirAll(pki, 0o700); err != nil {
		t.Fatal(err)
	}
	caFile := writePEM(t, pki, "ca.pem", ca.pem)
	// An empty context: the user's own context file plays no part.
	emptyCtx := c.writeFile("context.json", "{}\n")
	t.Setenv("DMNODE_CONTEXT", emptyCtx)
	t.Setenv("DMNODE_TLS_CA", caFile)

	httpPort := harness.FreePort(t)
	var bundle string
	startNode := func(i int, extra ...string) *clusterNode {
		n := &clusterNode{
			name: fmt.Sprintf("node%d", i+1), dataDir: filepath.Join(c.dir, fmt.Sprintf("node%d", i+1)),
			natsPort: harness.FreePort(t), clusterPort: harness.FreePort(t), raftPort: harness.FreePort(t),
		}
		cert, key := ca.issuePeer(t, pki, n.name)
		args := append([]string{"--tls-cert", cert, "--tls-key", key}, extra...)
		if i == 0 {
			args = append(args, "--http-port", fmt.Sprint(httpPort))
		} else {
			args = append(args, "--join", m.nodes[0].url(), "--cluster-creds", bundle)
		}
		m.nodes = append(m.nodes, n)
		m.launch(t, n, args...)
		return n
	}
	first := startNode(0)
	// The generated credentials appear, mode 0600, once the node runs.
	bundle = filepath.Join(first.dataDir, node.ClusterCredsFile)
	adminCreds := filepath.Join(first.dataDir, node.AdminCredsFile)
	viewerCreds := filepath.Join(first.dataDir, node.ViewerCredsFile)
	harness.Eventually(t, time.Minute, func() error {
		_, err := os.Stat(adminCreds)
		return err
	})
	for _, f := range []string{bundle, adminCreds, viewerCreds} {
		if st, err := os.Stat(f); err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", f, st, err)
		}
	}
	t.Setenv("DMNODE_CREDS", adminCreds)
	m.waitReady(t, first)
	for i := 1; i < 3; i++ {
		m.waitReady(t, startNode(i))
	}
	harness.Eventually(t, time.Minute, func() error {
		ms, err := m.members()
		if err == nil && len(ms) != 3 {
			err = fmt.Errorf("%d members", len(ms))
		}
		return err
	})
	c.natsPort = first.natsPort

	// A task with real passwords, to sync and through a node's loss.
	srcPW, tgtPW := randomPassword(t, "srcPW"), randomPassword(t, "tgtPW")
	c.sources[0].Exec(t, fmt.Sprintf("CREATE USER 'dmsrc'@'%%' IDENTIFIED BY '%s'", srcPW),
		"GRANT ALL PRIVILEGES ON *.* TO 'dmsrc'@'%'")
	c.target.Exec(t, fmt.Sprintf("CREATE USER 'dmtgt'@'%%' IDENTIFIED BY '%s'", tgtPW),
		"GRANT ALL PRIVILEGES ON *.* TO 'dmtgt'@'%'",
		"CREATE DATABASE dmtest",
		"CREATE TABLE dmtest.t1 (id bigint unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY, c char(32), port int)")
	c.seed(300)
	c.dmnode("source", "add", c.writeFile("source.yaml", fmt.Sprintf(
		"source-id: %q\nflavor: mariadb\nfrom:\n  host: 127.0.0.1\n  port: %d\n  user: dmsrc\n  password: %q\n",
		sourceID(0), c.sources[0].Port, srcPW)))
	taskFile := c.writeFile("task.yaml", fmt.Sprintf(`name: sec
task-mode: all
target-database: {host: 127.0.0.1, port: %d, user: dmtgt, password: %q}
mysql-instances:
  - source-id: %q
    block-allow-list: only
block-allow-list:
  only:
    do-dbs: [dmtest]
`, c.target.Port, tgtPW, sourceID(0)))
	c.dmnode("task", "submit", taskFile)
	m.waitSync("sec")
	w := startWriters(t, c.sources, 41)
	waitForOps(t, w, 150)
	tailer := m.nodeRunning("tail/" + sourceID(0))
	procs := map[string]*harness.Process{}
	for _, n := range m.nodes {
		procs[n.name] = n.proc
	}
	if tailer != first {
		m.kill(tailer)
		t.Logf("killed %s running the tailer; actors placed again in %s", tailer.name, m.placedOnLive(2, tailer))
	}
	waitForOps(t, w, w.count()+150)
	w.stop(t)
	c.expectEqual("dmtest.t1", func(int) string { return "SELECT id, c, port FROM dmtest.t1" },
		"SELECT id, c, port FROM dmtest.t1")

	server := "nats://127.0.0.1:" + fmt.Sprint(first.natsPort)
	refused := func(what, out string, err error, want ...string) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s succeeded:\n%s", what, out)
		}
		for _, s := range want {
			if !strings.Contains(out, s) {
				t.Fatalf("%s: the refusal does not say %q:\n%s", what, s, out)
			}
		}
		t.Logf("%s: refused: %s", what, strings.TrimSpace(out))
	}

	// No credentials: not even a list.
	out, err := runEnv(t, c.bin, []string{"DMNODE_CREDS"}, nil, "--server", server, "task", "list")
	refused("task list without credentials", out, err, "Authorization Violation", "--creds")
	// Another cluster's admin credentials.
	other := filepath.Join(c.dir, "other")
	if out, err := harness.Run(t, c.bin, "creds", "generate", "--out", other); err != nil {
		t.Fatalf("creds generate: %v\n%s", err, out)
	}
	out, err = runEnv(t, c.bin, []string{"DMNODE_CREDS"}, nil, "--server", server, "--creds", filepath.Join(other, "admin.nk"), "task", "list")
	refused("task list with another cluster's credentials", out, err, "Authorization Violation")

	// A viewer reads, and is refused every change.
	viewer := func(args ...string) (string, error) {
		return runEnv(t, c.bin, []string{"DMNODE_CREDS"}, []string{"DMNODE_CREDS=" + viewerCreds}, append([]string{"--server", server}, args...)...)
	}
	for _, args := range [][]string{{"task", "list"}, {"task", "status", "sec"}, {"source", "list"}, {"cluster", "status"}} {
		if out, err := viewer(args...); err != nil {
			t.Fatalf("viewer %v: %v\n%s", args, err, out)
		}
	}
	for _, args := range [][]string{{"task", "pause", "sec"}, {"task", "delete", "sec"}, {"task", "submit", taskFile}, {"source", "remove", sourceID(0)}} {
		out, err := viewer(args...)
		method := "task." + args[1]
		if args[0] == "source" {
			method = "source.remove"
		}
		refused("viewer "+strings.Join(args, " "), out, err, "permission denied", "dmnode.api."+method, "admin role")
	}
	if st := c.dmnode("task", "status", "sec"); strings.Contains(st, "paused") {
		t.Fatalf("a viewer's pause went through:\n%s", st)
	}

	// Forged requests and reads of the data, with raw NATS connections.
	dial := func(creds string) (*nats.Conn, chan error) {
		errs := make(chan error, 64)
		nc, err := nats.Connect(server, nats.RootCAs(caFile), mustNkey(t, creds),
			nats.CustomInboxPrefix(node.Inbox(publicKeyOf(t, creds))),
			nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
		if err != nil {
			t.Fatalf("connect with %s: %v", creds, err)
		}
		t.Cleanup(nc.Close)
		return nc, errs
	}
	denied := func(errs chan error, what, subject string) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case err := <-errs:
				if errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(err.Error(), `"`+subject+`"`) {
					t.Logf("%s: %v", what, err)
					return
				}
			case <-deadline:
				t.Fatalf("%s: no permission violation for %s", what, subject)
			}
		}
	}
	adminNC, adminErrs := dial(adminCreds)
	viewerNC, viewerErrs := dial(viewerCreds)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	_, err = viewerNC.RequestWithContext(ctx, node.APIPrefix+"task.delete", []byte(`{"name":"sec"}`))
	cancel()
	if err == nil {
		t.Fatal("a viewer's forged task.delete was answered")
	}
	denied(viewerErrs, "viewer's forged task.delete", node.APIPrefix+"task.delete")
	for _, subj := range []string{"dmnode.propose." + first.name, node.APIPrefix + "cluster.join", "$JS.API.STREAM.NAMES", "$KV.dmnode_checkpoints.x"} {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := adminNC.RequestWithContext(ctx, subj, []byte(`{}`))
		cancel()
		if err == nil {
			t.Fatalf("an admin's request on %s was answered", subj)
		}
		denied(adminErrs, "admin's request on "+subj, subj)
	}
	for _, subj := range []string{"dmnode.binlog.>", "$KV.>", "_INBOX.>"} {
		if _, err := adminNC.SubscribeSync(subj); err != nil {
			t.Fatal(err)
		}
		denied(adminErrs, "admin's subscription to "+subj, subj)
	}
	// The node identity does read the streams (the check above is not a
	// broken connection).
	creds, err := node.LoadClusterCreds(bundle)
	if err != nil {
		t.Fatal(err)
	}
	nodeSeed := writePEM(t, c.dir, "node.nk", []byte(creds.NodeSeed+"\n"))
	nodeNC, _ := dial(nodeSeed)
	if msg, err := nodeNC.Request("$JS.API.STREAM.NAMES", nil, 5*time.Second); err != nil || !strings.Contains(string(msg.Data), "BINLOG_") {
		t.Fatalf("the node identity cannot list the streams: %v", err)
	}

	// Joins: without credentials, and with another cluster's.
	joinArgs := func(name string) []string {
		return []string{"start", "--name", name, "--data-dir", filepath.Join(c.dir, name), "--host", "127.0.0.1",
			"--nats-port", fmt.Sprint(harness.FreePort(t)), "--cluster-port", fmt.Sprint(harness.FreePort(t)),
			"--raft-port", fmt.Sprint(harness.FreePort(t)), "--http-port", "0", "--join", first.url(), "--log-format", "text"}
	}
	out, err = runEnv(t, c.bin, nil, nil, joinArgs("intruder1")...)
	refused("join without credentials", out, err, "--cluster-creds")
	out, err = runEnv(t, c.bin, nil, nil, append(joinArgs("intruder2"), "--cluster-creds", filepath.Join(other, "cluster.auth"))...)
	refused("join with another cluster's credentials", out, err, "refused this node's credentials")
	ms, err := m.members()
	if err != nil || len(ms) != 3 {
		t.Fatalf("after the refused joins: %v %+v", err, ms)
	}

	// Plaintext against the TLS ports.
	out, err = runEnv(t, c.bin, []string{"DMNODE_TLS_CA"}, nil, "--server", server, "task", "list")
	refused("task list without the CA", out, err, "TLS")
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", httpPort))
	if err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatalf("plaintext /healthz answered 200: %s", body)
		}
		t.Logf("plaintext /healthz: %d %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.pem)
	https := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err = https.Get(fmt.Sprintf("https://127.0.0.1:%d/healthz", httpPort))
	if err != nil {
		t.Fatalf("https /healthz: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("https /healthz: %d", resp.StatusCode)
	}
	// pprof is off unless asked for.
	resp, err = https.Get(fmt.Sprintf("https://127.0.0.1:%d/debug/pprof/", httpPort))
	if err != nil {
		t.Fatalf("https /debug/pprof/: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("/debug/pprof/ without --pprof: %d", resp.StatusCode)
	}
	// Raft and the routes take only peers with a certificate of the CA.
	for what, port := range map[string]int{"raft": first.raftPort, "route": first.clusterPort} {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", fmt.Sprintf("127.0.0.1:%d", port), &tls.Config{RootCAs: pool})
		if err == nil {
			conn.SetDeadline(time.Now().Add(5 * time.Second))
			_, err = conn.Write([]byte("hello\r\n"))
			if err == nil {
				_, err = conn.Read(make([]byte, 1))
			}
			conn.Close()
		}
		if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("%s port accepted a TLS client without a certificate: %v", what, err)
		}
		t.Logf("%s port, TLS without a client certificate: %v", what, err)
	}
	{
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", first.raftPort), 5*time.Second)
		if err == nil {
			conn.SetDeadline(time.Now().Add(5 * time.Second))
			_, _ = conn.Write(make([]byte, 64))
			_, err = conn.Read(make([]byte, 64))
			conn.Close()
		}
		if err == nil {
			t.Fatal("the raft port answered plaintext")
		}
	}

	// The HTTP API takes the roles' bearer tokens: none is 401, the
	// viewer's reads and may not pause (403), the admin's may.
	token := func(seed string) string {
		out, err := runEnv(t, c.bin, []string{"DMNODE_CREDS"}, nil, "creds", "token", "--creds", seed)
		if err != nil {
			t.Fatalf("creds token: %v: %s", err, out)
		}
		return strings.TrimSpace(out)
	}
	adminTok, viewerTok := token(adminCreds), token(viewerCreds)
	apiCall := func(method, path, tok string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, fmt.Sprintf("https://127.0.0.1:%d%s", httpPort, path), nil)
		if err != nil {
			t.Fatal(err)
		}
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := https.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	for _, tc := range []struct {
		method, path, tok, who string
		want                   int
	}{
		{http.MethodGet, "/api/v1/dmnode/task.list", "", "no token", http.StatusUnauthorized},
		{http.MethodGet, "/api/v1/tasks", "not-a-token", "a wrong token", http.StatusUnauthorized},
		{http.MethodGet, "/api/v1/dmnode/task.status?name=sec", viewerTok, "the viewer", http.StatusOK},
		{http.MethodPost, "/api/v1/dmnode/task.pause", viewerTok, "the viewer", http.StatusForbidden},
		{http.MethodDelete, "/api/v1/tasks/sec", viewerTok, "the viewer", http.StatusForbidden},
		{http.MethodGet, "/api/v1/sources", adminTok, "the admin", http.StatusOK},
	} {
		code, body := apiCall(tc.method, tc.path, tc.tok)
		if code != tc.want {
			t.Fatalf("HTTP %s %s by %s: %d, want %d: %s", tc.method, tc.path, tc.who, code, tc.want, body)
		}
	}
	_, statusBody := apiCall(http.MethodGet, "/api/v1/dmnode/task.status?name=sec", adminTok)

	// No password anywhere: every read command, the logs, the data dirs.
	sc := secretChecker{t: t, secrets: map[string]string{"source password": srcPW, "target password": tgtPW,
		"route password": creds.RoutePassword, "node seed": creds.NodeSeed, "admin seed": creds.AdminSeed}}
	for _, args := range [][]string{
		{"source", "list"}, {"source", "list", "-o", "json"}, {"task", "list"},
		{"task", "status", "sec"}, {"task", "status", "sec", "-o", "json"},
		{"cluster", "status"}, {"cluster", "status", "-o", "json"},
	} {
		sc.check("dmnode "+strings.Join(args, " "), m.cli(args...))
	}
	sc.check("HTTP task.status", statusBody)
	for _, n := range m.alive() {
		n.proc.Stop(t)
	}
	dbSecrets := secretChecker{t: t, secrets: map[string]string{"source password": srcPW, "target password": tgtPW}}
	for _, n := range m.nodes {
		sc.check(n.name+"'s log", procs[n.name].Log())
		// secrets/ holds the credentials themselves; nothing else may.
		files, sealed := dbSecrets.dir(n.dataDir)
		if !sealed {
			t.Errorf("%s: none of %d files holds a sealed password: the catalog is not where the test looks", n.name, files)
		}
		for _, sub := range []string{"raft", "jetstream"} {
			sc.dir(filepath.Join(n.dataDir, sub))
		}
	}
}

func mustNkey(t *testing.T, seedFile string) nats.Option {
	t.Helper()
	opt, err := nats.NkeyOptionFromSeed(seedFile)
	if err != nil {
		t.Fatal(err)
	}
	return opt
}

func publicKeyOf(t *testing.T, seedFile string) string {
	t.Helper()
	b, err := os.ReadFile(seedFile)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := nkeys.ParseDecoratedNKey(b)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := kp.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

// Nodes on an external NATS server that takes TLS only and a user with a
// password: one node gets the password inside --nats-url, the others with
// --nats-user and --nats-password-file; with their certificates Raft runs
// over mutual TLS. The password shows nowhere: not in cluster status (table
// and JSON), the logs, the data dirs (the Raft log holds the members'
// URLs) or the CLI's errors.
func TestSecureExternalNATS(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, "dmnode test CA")
	caFile := writePEM(t, dir, "ca.pem", ca.pem)
	srvCert, srvKey := ca.issuePeer(t, dir, "nats")
	pw := randomPassword(t, "natsPW")
	port := harness.FreePort(t)
	tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: srvCert, KeyFile: srvKey, CaFile: caFile})
	if err != nil {
		t.Fatal(err)
	}
	ns, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: filepath.Join(dir, "js"),
		NoSigs: true, ServerName: "external", Users: []*server.User{{Username: "dm", Password: pw}},
		TLS: true, TLSConfig: tc, TLSTimeout: 5,
	})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("external NATS server did not start")
	}
	t.Setenv("DMNODE_CONTEXT", writePEM(t, dir, "context.json", []byte("{}\n")))
	t.Setenv("DMNODE_TLS_CA", caFile)
	pwFile := writePEM(t, dir, "nats.password", []byte(pw+"\n"))
	bin := harness.BuildDmnode(t)
	plain := fmt.Sprintf("tls://127.0.0.1:%d", port)
	withPW := fmt.Sprintf("tls://dm:%s@127.0.0.1:%d", pw, port)

	procs := map[string]*harness.Process{}
	start := func(name string, extra ...string) {
		cert, key := ca.issuePeer(t, dir, name)
		args := append([]string{"start", "--name", name, "--data-dir", filepath.Join(dir, name),
			"--raft-port", fmt.Sprint(harness.FreePort(t)), "--http-port", "0", "--log-format", "text",
			"--tls-cert", cert, "--tls-key", key, "--nats-tls-ca", caFile}, extra...)
		procs[name] = harness.StartProcess(t, bin, args)
	}
	cli := func(args ...string) (string, error) {
		return harness.Run(t, bin, append([]string{"--server", withPW}, args...)...)
	}
	start("ext1", "--nats-url", withPW)
	harness.Eventually(t, time.Minute, func() error {
		out, err := cli("task", "list")
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	})
	start("ext2", "--nats-url", plain, "--nats-user", "dm", "--nats-password-file", pwFile)
	start("ext3", "--nats-url", plain, "--nats-user", "dm", "--nats-password-file", pwFile)
	var outputs []string
	harness.Eventually(t, time.Minute, func() error {
		out, err := cli("cluster", "status", "-o", "json")
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		if n := strings.Count(out, `"voter": true`); n != 3 {
			return fmt.Errorf("%d voters:\n%s", n, out)
		}
		outputs = append(outputs, out)
		return nil
	})
	// A task runs through the three nodes on the external NATS: copy, then
	// a change replicated, compared row by row.
	c := &cluster{t: t, bin: bin, dir: t.TempDir(), serverURL: withPW,
		sources: []*harness.Server{harness.StartMariaDB(t, harness.Options{ServerID: 1})},
		target:  harness.StartMariaDB(t, harness.Options{ServerID: 100})}
	c.seed(300)
	c.addSources()
	c.dmnode("task", "submit", c.oneSourceTask("ext", "dmtest"))
	c.dmnode("task", "wait", "ext", "--stage", "sync", "--timeout", "3m")
	c.sources[0].Exec(t, "UPDATE dmtest.t1 SET c = 'after sync' WHERE id % 7 = 0", "DELETE FROM dmtest.t1 WHERE id % 11 = 0")
	rows := "SELECT id, c, port FROM dmtest.t1"
	c.expectEqual("dmtest.t1 through nodes on an external NATS", func(int) string { return rows }, rows)
	for _, args := range [][]string{{"cluster", "status"}, {"task", "list"}, {"task", "status", "ext"}, {"source", "list"}} {
		out, err := cli(args...)
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		outputs = append(outputs, out)
	}
	if !strings.Contains(outputs[1], "xxxxx@127.0.0.1") {
		t.Errorf("cluster status does not show the redacted URL of ext1:\n%s", outputs[1])
	}
	// A CLI error quoting the URL: a dead port.
	out, err := harness.Run(t, bin, "--server", fmt.Sprintf("nats://dm:%s@127.0.0.1:%d", pw, harness.FreePort(t)), "task", "list")
	if err == nil {
		t.Fatal("a dead server answered")
	}
	outputs = append(outputs, out)

	sc := secretChecker{t: t, secrets: map[string]string{"NATS password": pw}}
	for i, out := range outputs {
		sc.check(fmt.Sprintf("CLI output %d", i), out)
	}
	for _, p := range procs {
		p.Stop(t)
	}
	for name, p := range procs {
		sc.check(name+"'s log", p.Log())
		sc.dir(filepath.Join(dir, name))
	}
}

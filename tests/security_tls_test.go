package tests

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dmnode/dmnode/tests/harness"
)

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue signs a certificate for cn (a server's for 127.0.0.1 when server)
// and returns its PEM certificate and key.
func (ca *testCA) issue(t *testing.T, cn string, server bool, serial int64) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}

func writePEM(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// DM's security blocks on a source and on target-database: MariaDB servers
// with certificates of a CA the test makes, users that REQUIRE SSL (source)
// and REQUIRE X509 (target, with a client certificate given inline as
// base64). Dump, binlog, load and apply all connect over TLS (the users
// cannot log in otherwise) and the rows match; a source whose ssl-ca is
// another CA, or whose cert-allowed-cn does not name the server, is refused
// with the source and the cause named.
func TestSecurityDatabaseTLS(t *testing.T) {
	dir := t.TempDir()
	ca, wrong := newTestCA(t, "dmnode test CA"), newTestCA(t, "another CA")
	srvCert, srvKey := ca.issue(t, "mariadb-server", true, 2)
	cliCert, cliKey := ca.issue(t, "dmnode-client", false, 3)
	caFile := writePEM(t, dir, "ca.pem", ca.pem)
	wrongFile := writePEM(t, dir, "wrong-ca.pem", wrong.pem)
	tlsArgs := []string{"--ssl-ca=" + caFile, "--ssl-cert=" + writePEM(t, dir, "server.pem", srvCert),
		"--ssl-key=" + writePEM(t, dir, "server-key.pem", srvKey)}
	// The client key goes inline, as base64: it must be stored sealed.
	cliCertFile, keyB64 := writePEM(t, dir, "client.pem", cliCert), base64.StdEncoding.EncodeToString(cliKey)

	src := harness.StartMariaDB(t, harness.Options{ServerID: 1, ExtraArgs: tlsArgs})
	tgt := harness.StartMariaDB(t, harness.Options{ServerID: 100, ExtraArgs: tlsArgs})
	src.Exec(t, "CREATE USER 'dmsrc'@'%' IDENTIFIED BY 'src-tls-pw' REQUIRE SSL",
		"GRANT ALL PRIVILEGES ON *.* TO 'dmsrc'@'%'")
	tgt.Exec(t, "CREATE USER 'dmtgt'@'%' IDENTIFIED BY 'tgt-tls-pw' REQUIRE X509",
		"GRANT ALL PRIVILEGES ON *.* TO 'dmtgt'@'%'")
	c := newClusterOn(t, []*harness.Server{src}, tgt)
	c.seed(400)

	sourceFile := func(name, security string) string {
		return c.writeFile(name, fmt.Sprintf(`source-id: %q
flavor: mariadb
from:
  host: 127.0.0.1
  port: %d
  user: dmsrc
  password: src-tls-pw
%s`, sourceID(0), src.Port, security))
	}
	for _, bad := range []struct{ name, security, want string }{
		{"wrong-ca.yaml", "  security:\n    ssl-ca: " + wrongFile + "\n", "not signed by the CA of security.ssl-ca"},
		{"wrong-cn.yaml", "  security:\n    ssl-ca: " + caFile + "\n    cert-allowed-cn: [someone-else]\n", "not in cert-allowed-cn"},
		{"no-tls.yaml", "", "Access denied"},
	} {
		out, code := c.runCLI("source", "add", sourceFile(bad.name, bad.security))
		if code == 0 || !strings.Contains(out, sourceID(0)) || !strings.Contains(out, bad.want) {
			t.Fatalf("source add %s: exit %d, want an error naming %s and %q:\n%s", bad.name, code, sourceID(0), bad.want, out)
		}
		t.Logf("%s refused: %s", bad.name, strings.TrimSpace(out))
	}
	if out := c.dmnode("source", "list"); strings.Contains(out, sourceID(0)) {
		t.Fatalf("a refused source was stored:\n%s", out)
	}
	c.dmnode("source", "add", sourceFile("source.yaml", "  security:\n    ssl-ca: "+caFile+"\n    cert-allowed-cn: [mariadb-server]\n"))

	tgt.Exec(t, "CREATE DATABASE dmtest",
		"CREATE TABLE dmtest.t1 (id bigint unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY, c char(32), port int)")
	task := c.writeFile("tls.yaml", fmt.Sprintf(`name: tls
task-mode: all
target-database:
  host: 127.0.0.1
  port: %d
  user: dmtgt
  password: tgt-tls-pw
  security:
    ssl-ca-base64: %s
    ssl-cert: %s
    ssl-key-base64: %s
mysql-instances:
  - source-id: %q
    block-allow-list: only
block-allow-list:
  only:
    do-dbs: [dmtest]
`, tgt.Port, base64.StdEncoding.EncodeToString(ca.pem), cliCertFile, keyB64, sourceID(0)))
	c.dmnode("task", "submit", task)
	c.dmnode("task", "wait", "tls", "--stage", "sync", "--timeout", "2m")
	w := startWriters(t, c.sources, 11)
	waitForOps(t, w, 200)
	w.stop(t)
	c.expectEqual("dmtest.t1 over TLS", func(int) string { return "SELECT id, c, port FROM dmtest.t1" },
		"SELECT id, c, port FROM dmtest.t1")
	// Every session dmnode holds on either server is encrypted.
	for name, s := range map[string]*harness.Server{"source": src, "target": tgt} {
		rows := harness.Rows(t, s.DB(t), "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER IN ('dmsrc', 'dmtgt')")
		t.Logf("%s: %s sessions of dmnode's users (each logged in over TLS: the users require it)", name, rows[0][0])
	}
	// Neither the passwords nor the inline private key rest in plaintext.
	sc := secretChecker{t: t, secrets: map[string]string{"source password": "src-tls-pw", "target password": "tgt-tls-pw",
		"client key (base64)": keyB64, "client key": strings.Split(string(cliKey), "\n")[1]}}
	c.stopNode()
	sc.check("the node's log", c.node.Log())
	if files, sealed := sc.dir(c.dataDir); !sealed {
		t.Errorf("none of %d files of the data dir holds a sealed secret", files)
	}
}

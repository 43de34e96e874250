package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type testCert struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	der  []byte
}

func (c testCert) pemCert() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.der})
}

func (c testCert) pemKey(t *testing.T) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(c.key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// makeCert signs tmpl with parent (self-signed when parent is nil).
func makeCert(t *testing.T, tmpl *x509.Certificate, parent *testCert) testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, signKey := tmpl, key
	if parent != nil {
		signer, signKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return testCert{cert: cert, key: key, der: der}
}

func caTemplate(cn string) *x509.Certificate {
	return &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
}

func leafTemplate(cn string, serial int64, notAfter time.Time, ext x509.ExtKeyUsage) *x509.Certificate {
	return &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{ext},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
}

// serveTLS accepts TLS connections with cert, asking for a client
// certificate of clientCA when it is given, and returns the address.
func serveTLS(t *testing.T, cert testCert, clientCA *testCert) string {
	t.Helper()
	cfg := &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{cert.der}, PrivateKey: cert.key}}}
	if clientCA != nil {
		pool := x509.NewCertPool()
		pool.AddCert(clientCA.cert)
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.(*tls.Conn).Handshake()
				_, _ = c.Write([]byte("x"))
			}()
		}
	}()
	return ln.Addr().String()
}

// dial connects with s's TLS configuration and reads one byte, so that a
// client certificate the server refuses shows.
func dial(s *Security, host, addr string) error {
	cfg, err := s.TLSConfig(host)
	if err != nil {
		return err
	}
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	_, err = c.Read(make([]byte, 1))
	return err
}

func TestSecurityTLSConfig(t *testing.T) {
	dir := t.TempDir()
	ca, other := makeCert(t, caTemplate("ca"), nil), makeCert(t, caTemplate("other"), nil)
	server := makeCert(t, leafTemplate("db-server", 2, time.Now().Add(time.Hour), x509.ExtKeyUsageServerAuth), &ca)
	expired := makeCert(t, leafTemplate("db-server", 3, time.Now().Add(-time.Hour), x509.ExtKeyUsageServerAuth), &ca)
	client := makeCert(t, leafTemplate("dm", 4, time.Now().Add(time.Hour), x509.ExtKeyUsageClientAuth), &ca)
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caFile, otherFile := write("ca.pem", ca.pemCert()), write("other.pem", other.pemCert())
	certFile, keyFile := write("client.pem", client.pemCert()), write("client-key.pem", client.pemKey(t))

	good := serveTLS(t, server, nil)
	old := serveTLS(t, expired, nil)
	mutual := serveTLS(t, server, &ca)

	var none *Security
	if cfg, err := none.TLSConfig("h"); cfg != nil || err != nil {
		t.Fatalf("no security block: %v %v", cfg, err)
	}
	if cfg, err := (&Security{}).TLSConfig("h"); cfg != nil || err != nil {
		t.Fatalf("empty security block: %v %v", cfg, err)
	}
	for _, tc := range []struct {
		name string
		s    *Security
		host string
		addr string
		want string // "" for success, else a part of the error
	}{
		{"ca file", &Security{SSLCA: caFile}, "127.0.0.1", good, ""},
		{"ca inline base64", &Security{SSLCABase64: base64.StdEncoding.EncodeToString(ca.pemCert())}, "127.0.0.1", good, ""},
		{"ca inline bytes", &Security{SSLCABytes: string(ca.pemCert())}, "127.0.0.1", good, ""},
		{"allowed cn", &Security{SSLCA: caFile, CertAllowedCN: []string{"x", "db-server"}}, "127.0.0.1", good, ""},
		{"wrong ca", &Security{SSLCA: otherFile}, "127.0.0.1", good, "unknown authority"},
		{"cn not allowed", &Security{SSLCA: caFile, CertAllowedCN: []string{"x"}}, "127.0.0.1", good, "not in cert-allowed-cn"},
		{"host not named", &Security{SSLCA: caFile}, "db.example", good, "wanted to match db.example"},
		{"expired", &Security{SSLCA: caFile}, "127.0.0.1", old, "expired"},
		{"client certificate", &Security{SSLCA: caFile, SSLCert: certFile, SSLKey: keyFile}, "127.0.0.1", mutual, ""},
		{"client certificate inline", &Security{SSLCA: caFile,
			SSLCertBase64: base64.StdEncoding.EncodeToString(client.pemCert()),
			SSLKeyBase64:  base64.StdEncoding.EncodeToString(client.pemKey(t))}, "127.0.0.1", mutual, ""},
		{"no client certificate", &Security{SSLCA: caFile}, "127.0.0.1", mutual, "certificate required"},
		{"missing ca file", &Security{SSLCA: filepath.Join(dir, "nope.pem")}, "127.0.0.1", good, "read ssl-ca"},
		{"ca file not pem", &Security{SSLCA: write("junk.pem", []byte("junk"))}, "127.0.0.1", good, "no PEM certificate"},
	} {
		err := dial(tc.s, tc.host, tc.addr)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: got %v, want an error with %q", tc.name, err, tc.want)
		}
	}
}

func TestCheckSecurity(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    Security
		want []string
	}{
		{"ca only", Security{SSLCA: "/ca"}, nil},
		{"empty", Security{}, nil},
		{"cert without key", Security{SSLCA: "/ca", SSLCert: "/c"}, []string{"together"}},
		{"key without ca", Security{SSLKeyBase64: "eA==", SSLCertBase64: "eA=="}, []string{"ssl-ca is required"}},
		{"cn without ca", Security{CertAllowedCN: []string{"x"}}, []string{"ssl-ca is required"}},
		{"bad base64", Security{SSLCABase64: "!!"}, []string{"ssl-ca-base64: not base64"}},
		{"bytes list", Security{SSLCABytes: []any{uint64(65), uint64(300)}}, []string{"ssl-ca-bytes: want a string or a list of byte values"}},
	} {
		r := newReport("source.yaml")
		s := tc.s
		checkSecurity(r, &s, "from.security")
		var texts []string
		for _, e := range r.errs {
			texts = append(texts, e.Error())
		}
		got := strings.Join(texts, "\n")
		if len(tc.want) == 0 && got != "" {
			t.Errorf("%s: %s", tc.name, got)
		}
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: got %q, want %q", tc.name, got, w)
			}
		}
	}
}

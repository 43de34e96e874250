package config

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/dmnode/dmnode/core/secret"
)

// Security is DM's TLS settings of a database connection (a source's from,
// or target-database). Each of the CA, certificate and key is given as a
// file (ssl-ca...), as base64 of its PEM contents (ssl-ca-base64...), or as
// its PEM bytes (ssl-ca-bytes..., a string or a list of byte values); the
// contents win over the file, as in DM. TLS is used when a CA is given: the
// server's certificate must chain to it and name the host connected to (and
// carry one of cert-allowed-cn as its common name when that is set); a
// certificate and key are presented to servers that ask (REQUIRE X509).
type Security struct {
	SSLCA         string   `yaml:"ssl-ca"`
	SSLCert       string   `yaml:"ssl-cert"`
	SSLKey        string   `yaml:"ssl-key"`
	CertAllowedCN []string `yaml:"cert-allowed-cn"`
	SSLCABytes    any      `yaml:"ssl-ca-bytes"`
	SSLKeyBytes   any      `yaml:"ssl-key-bytes"`
	SSLCertBytes  any      `yaml:"ssl-cert-bytes"`
	SSLCABase64   string   `yaml:"ssl-ca-base64"`
	SSLKeyBase64  string   `yaml:"ssl-key-base64"`
	SSLCertBase64 string   `yaml:"ssl-cert-base64"`
}

// pemPart is one of the CA, certificate and key, in the forms DM accepts.
type pemPart struct {
	name          string // ssl-ca, ssl-cert or ssl-key
	path, base64_ string
	bytes         any
}

func (s *Security) parts() [3]pemPart {
	return [3]pemPart{
		{"ssl-ca", s.SSLCA, s.SSLCABase64, s.SSLCABytes},
		{"ssl-cert", s.SSLCert, s.SSLCertBase64, s.SSLCertBytes},
		{"ssl-key", s.SSLKey, s.SSLKeyBase64, s.SSLKeyBytes},
	}
}

func (p pemPart) given() bool { return p.path != "" || p.base64_ != "" || !isNothing(p.bytes) }

func isNothing(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case string:
		return v == ""
	case []any:
		return len(v) == 0
	}
	return false
}

// inline returns the contents given in the file itself (base64 or bytes),
// or nil when only a path is.
func (p pemPart) inline() ([]byte, error) {
	if p.base64_ != "" {
		b, err := base64.StdEncoding.DecodeString(p.base64_)
		if err != nil {
			return nil, fmt.Errorf("not base64: %w", err)
		}
		return b, nil
	}
	switch v := p.bytes.(type) {
	case nil:
		return nil, nil
	case string:
		if v == "" {
			return nil, nil
		}
		return []byte(v), nil
	case []any:
		out := make([]byte, 0, len(v))
		for _, e := range v {
			n, ok := asInt(e)
			if !ok || n < 0 || n > 255 {
				return nil, errors.New("want a string or a list of byte values (0-255)")
			}
			out = append(out, byte(n))
		}
		return out, nil
	}
	return nil, errors.New("want a string or a list of byte values (0-255)")
}

func asInt(v any) (int64, bool) {
	switch n := v.(type) {
	case int:
		return int64(n), true
	case int64:
		return n, true
	case uint64:
		return int64(n), n < 1<<62
	case uint:
		return int64(n), true
	}
	return 0, false
}

// Enabled reports whether the connection uses TLS: a CA is given.
func (s *Security) Enabled() bool { return s != nil && s.parts()[0].given() }

// checkSecurity validates a security block at decode time; files are read
// when a connection is opened, on the node that opens it.
func checkSecurity(r *report, s *Security, p string) {
	if s == nil {
		return
	}
	if secret.IsSealed(s.SSLKeyBase64) {
		if s.SSLKeyBase64 = openSealed(r, childPath(p, "ssl-key-base64"), s.SSLKeyBase64); s.SSLKeyBase64 == "" {
			return
		}
	}
	if k, ok := s.SSLKeyBytes.(string); ok && secret.IsSealed(k) {
		if s.SSLKeyBytes = openSealed(r, childPath(p, "ssl-key-bytes"), k); s.SSLKeyBytes == "" {
			return
		}
	}
	parts := s.parts()
	for _, part := range parts {
		if _, err := part.inline(); err != nil {
			k := part.name + "-bytes"
			if part.base64_ != "" {
				k = part.name + "-base64"
			}
			r.errorf(childPath(p, k), "%v", err)
		}
	}
	ca, cert, key := parts[0].given(), parts[1].given(), parts[2].given()
	if cert != key {
		r.errorf(p, "give ssl-cert and ssl-key together (a client certificate needs its key)")
	}
	if !ca && (cert || key || len(s.CertAllowedCN) > 0) {
		r.errorf(p, "ssl-ca is required: without a CA dmnode cannot verify the server, and would not use TLS (DM ignores such a block)")
	}
}

// openSealed opens a sealed value with the cluster keys; "" after an error.
func openSealed(r *report, p, sealed string) string {
	plain, err := clusterRing.Load().Open(sealed)
	if err != nil {
		r.errorf(p, "cannot decrypt: %v", err)
		return ""
	}
	return plain
}

// content returns a part's PEM bytes, from the file or inline.
func (p pemPart) content() ([]byte, error) {
	b, err := p.inline()
	if err != nil || b != nil {
		return b, err
	}
	b, err = os.ReadFile(p.path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p.name, err)
	}
	return b, nil
}

// TLSConfig returns the TLS configuration of a connection to host, or nil
// when the connection does not use TLS.
func (s *Security) TLSConfig(host string) (*tls.Config, error) {
	if !s.Enabled() {
		return nil, nil
	}
	parts := s.parts()
	ca, err := parts[0].content()
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, errors.New("ssl-ca: no PEM certificate in it")
	}
	cfg := &tls.Config{RootCAs: pool, ServerName: host, MinVersion: tls.VersionTLS12}
	if parts[1].given() {
		cert, err := parts[1].content()
		if err != nil {
			return nil, err
		}
		key, err := parts[2].content()
		if err != nil {
			return nil, err
		}
		pair, err := tls.X509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("ssl-cert and ssl-key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	if len(s.CertAllowedCN) > 0 {
		allowed := slices.Clone(s.CertAllowedCN)
		cfg.VerifyPeerCertificate = func(_ [][]byte, chains [][]*x509.Certificate) error {
			for _, chain := range chains {
				if len(chain) > 0 && slices.Contains(allowed, chain[0].Subject.CommonName) {
					return nil
				}
			}
			return fmt.Errorf("the server's certificate has a common name not in cert-allowed-cn %v", allowed)
		}
	}
	return cfg, nil
}

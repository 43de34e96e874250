package node

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"time"
)

// TLSFiles names the PEM files of one TLS setting: a certificate and its
// key, and the CA that peers' certificates must be signed by.
type TLSFiles struct {
	Cert, Key, CA string
}

func (f TLSFiles) empty() bool { return f.Cert == "" && f.Key == "" && f.CA == "" }

func (f TLSFiles) check(what string) error {
	if (f.Cert == "") != (f.Key == "") {
		return fmt.Errorf("%s: give both a certificate and its key (--tls-cert and --tls-key)", what)
	}
	return nil
}

// certificate loads the certificate and key, or returns nil when none is given.
func (f TLSFiles) certificate(what string) (*tls.Certificate, error) {
	if f.Cert == "" {
		return nil, nil
	}
	c, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return nil, fmt.Errorf("%s: load certificate %s and key %s: %w", what, f.Cert, f.Key, err)
	}
	return &c, nil
}

// pool loads the CA file, or returns nil (the system's roots) when none is given.
func (f TLSFiles) pool(what string) (*x509.CertPool, error) {
	if f.CA == "" {
		return nil, nil
	}
	b, err := os.ReadFile(f.CA)
	if err != nil {
		return nil, fmt.Errorf("%s: read CA: %w", what, err)
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s: CA file %s holds no PEM certificate", what, f.CA)
	}
	return p, nil
}

// serverConfig is the TLS setting of a listener that clients reach (the
// NATS client port, HTTP): its certificate; with a CA given the clients'
// certificates are checked when they present one (NATS clients prove who
// they are with their nkey, HTTP probes present none).
func (f TLSFiles) serverConfig(what string) (*tls.Config, error) {
	cert, err := f.certificate(what)
	if err != nil || cert == nil {
		return nil, err
	}
	pool, err := f.pool(what)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{*cert}, ClientCAs: pool}
	if pool != nil {
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	}
	return cfg, nil
}

// ClientConfig is the TLS setting of a client: the CA that signed the
// server's certificate (the system's roots without one) and, optionally,
// its own certificate.
func (f TLSFiles) ClientConfig(what string) (*tls.Config, error) {
	if err := f.check(what); err != nil {
		return nil, err
	}
	pool, err := f.pool(what)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
	cert, err := f.certificate(what)
	if err != nil {
		return nil, err
	}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	return cfg, nil
}

// peerConfig is the mutual TLS of the connections between nodes (NATS
// routes, Raft): every side presents a certificate signed by the CA and
// checks the other's. With the operator's certificate it uses that and
// --tls-ca; otherwise the node issues itself a certificate from the
// cluster's own CA for the addresses it is reached at.
func peerConfig(files TLSFiles, creds *ClusterCreds, hosts []string) (*tls.Config, error) {
	var cert tls.Certificate
	pool := x509.NewCertPool()
	if files.Cert != "" {
		c, err := files.certificate("peer TLS")
		if err != nil {
			return nil, err
		}
		cert = *c
		p, err := files.pool("peer TLS")
		if err != nil {
			return nil, err
		}
		if p == nil {
			if p, err = x509.SystemCertPool(); err != nil {
				return nil, fmt.Errorf("peer TLS: system CAs: %w", err)
			}
		}
		pool = p
	} else {
		if creds == nil {
			return nil, errors.New("peer TLS: no certificate given and no cluster credentials to issue one")
		}
		var err error
		if cert, err = issueNodeCert(creds, hosts); err != nil {
			return nil, err
		}
		pool.AppendCertsFromPEM([]byte(creds.CACert))
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		RootCAs:      pool,
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
	}, nil
}

// newClusterCA makes the certificate authority of a cluster's internal TLS.
func newClusterCA() (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate cluster CA: %w", err)
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: "dmnode cluster CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(20, 0, 0),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("generate cluster CA: %w", err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("generate cluster CA: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), nil
}

// issueNodeCert signs a short-lived certificate (a new one each start) for
// the node's addresses with the cluster CA, for server and client use.
func issueNodeCert(creds *ClusterCreds, hosts []string) (tls.Certificate, error) {
	ca, err := tls.X509KeyPair([]byte(creds.CACert), []byte(creds.CAKey))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("cluster CA in the credentials: %w", err)
	}
	caCert, err := x509.ParseCertificate(ca.Certificate[0])
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("cluster CA in the credentials: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("node certificate: %w", err)
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: "dmnode node"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(1, 0, 0),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			if !ip.IsUnspecified() {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			}
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, ca.PrivateKey)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("node certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

package actors

import (
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/dmnode/dmnode/core/config"
)

func TestTLSHint(t *testing.T) {
	tls := config.DBConfig{Host: "db1", Security: &config.Security{SSLCA: "/ca.pem"}}
	plain := config.DBConfig{Host: "db1"}
	wrap := func(err error) error { return fmt.Errorf("tls: failed to verify certificate: %w", err) }
	for _, tc := range []struct {
		name string
		db   config.DBConfig
		err  error
		want string
	}{
		{"unknown ca", tls, wrap(x509.UnknownAuthorityError{}), "not signed by the CA of security.ssl-ca"},
		{"expired", tls, wrap(x509.CertificateInvalidError{Reason: x509.Expired, Detail: "current time is after"}), "certificate has expired"},
		{"host", tls, wrap(x509.HostnameError{Certificate: &x509.Certificate{}, Host: "db1"}), "does not name host db1"},
		{"other error over tls", tls, errors.New("access denied"), " over TLS"},
		{"no tls", plain, errors.New("access denied"), ""},
	} {
		got := TLSHint(tc.db, tc.err)
		if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

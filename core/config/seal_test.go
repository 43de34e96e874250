package config

import (
	"crypto/rand"
	"strings"
	"testing"

	"github.com/dmnode/dmnode/core/secret"
)

func TestSealPasswords(t *testing.T) {
	ring, err := secret.NewRing(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	UseClusterKeys(ring)
	src := "# a source\nsource-id: s1\nfrom:\n  host: 127.0.0.1 # local\n  port: 3306\n  user: dm\n  password: \"Pa55: w0rd\" # keep\n"
	sealed, err := SealPasswords("source.yaml", src, ring.Seal)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sealed, "Pa55") || !strings.Contains(sealed, secret.SealedPrefix) ||
		!strings.Contains(sealed, "# local") || !strings.Contains(sealed, "# keep") {
		t.Fatalf("sealed:\n%s", sealed)
	}
	s, err := DecodeSource("source.yaml", []byte(sealed))
	if err != nil {
		t.Fatal(err)
	}
	if s.From.Password != "Pa55: w0rd" || s.From.User != "dm" || s.From.Port != 3306 {
		t.Fatalf("decoded %+v", s.From)
	}
	again, _ := SealPasswords("source.yaml", sealed, ring.Seal)
	if again != sealed {
		t.Fatal("sealing twice changed the text")
	}

	for _, tc := range []struct{ name, text, want string }{
		{"flow", "name: t\ntarget-database: {host: h, port: 4000, user: root, password: 'x y'}\n", "x y"},
		{"number", "name: t\ntarget-database:\n  host: h\n  password: 123456\n", "123456"},
		{"empty", "name: t\ntarget-database:\n  host: h\n  password: \"\"\n", ""},
		{"absent", "name: t\ntarget-database:\n  host: h\n", ""},
	} {
		out, err := SealPasswords("task.yaml", tc.text, ring.Seal)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if tc.want != "" && strings.Contains(out, tc.want) {
			t.Errorf("%s: plaintext left:\n%s", tc.name, out)
		}
		if tc.want == "" && out != tc.text {
			t.Errorf("%s: changed without a password:\n%s", tc.name, out)
		}
		if tc.want != "" {
			// The task is otherwise incomplete; only the password matters here.
			var db DBConfig
			r := &report{}
			if i := strings.Index(out, secret.SealedPrefix); i >= 0 {
				db.Password = strings.Trim(strings.Fields(out[i:])[0], "'\"},")
			}
			revealPassword(r, &db, "target-database")
			if db.Password != tc.want {
				t.Errorf("%s: opened %q, want %q", tc.name, db.Password, tc.want)
			}
		}
	}
	key := "LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0t"
	withKey := "name: t\ntarget-database:\n  host: h\n  security:\n    ssl-ca: /ca.pem\n    ssl-key-base64: " + key + "\n"
	out, err := SealPasswords("task.yaml", withKey, ring.Seal)
	if err != nil || strings.Contains(out, key) || !strings.Contains(out, "ssl-ca: /ca.pem") {
		t.Fatalf("inline key not sealed (%v):\n%s", err, out)
	}
	var sec Security
	sec.SSLCA = "/ca.pem"
	sec.SSLKeyBase64 = strings.TrimSpace(out[strings.Index(out, secret.SealedPrefix):])
	r := &report{}
	checkSecurity(r, &sec, "target-database.security")
	if sec.SSLKeyBase64 != key {
		t.Fatalf("inline key opened as %q", sec.SSLKeyBase64)
	}
	if _, err := SealPasswords("task.yaml", "target-database:\n  security:\n    ssl-key-bytes: [1, 2]\n", ring.Seal); err == nil {
		t.Error("a key as a list of bytes was not refused")
	}
	// Shapes whose secret cannot be found for sure are refused, never
	// stored as they are.
	for _, bad := range []string{
		"target-database:\n  password: |\n    multi\n",
		"target-database:\n  password: &p secret1\nother: *p\n",
		"x: &db {host: h, password: secret1}\ntarget-database: *db\n",
		"x: &db {password: secret1}\ntarget-database:\n  <<: *db\n  host: h\n",
		"target-database:\n  password: !!str secret1\n",
		"target-database: [unclosed\n",
	} {
		out, err := SealPasswords("task.yaml", bad, ring.Seal)
		if err == nil || out != "" || strings.Contains(err.Error(), "secret1") {
			t.Errorf("not refused (%v):\n%s", err, bad)
		}
	}
	// An anchored connection and quoted keys are sealed.
	for _, good := range []string{
		"target-database: &db\n  host: h\n  password: secret1\n",
		"\"target-database\":\n  \"password\": secret1\n",
	} {
		out, err := SealPasswords("task.yaml", good, ring.Seal)
		if err != nil || strings.Contains(out, "secret1") || !strings.Contains(out, secret.SealedPrefix) {
			t.Errorf("not sealed (%v):\n%s", err, out)
		}
	}
	// A password sealed with another cluster's key is a clear error that
	// never quotes it.
	other, _ := secret.NewRing(rand.Reader)
	foreign, _ := SealPasswords("source.yaml", src, other.Seal)
	_, err = DecodeSource("source.yaml", []byte(foreign))
	if err == nil || !strings.Contains(err.Error(), "from.password") || strings.Contains(err.Error(), "Pa55") {
		t.Fatalf("foreign key: %v", err)
	}
}

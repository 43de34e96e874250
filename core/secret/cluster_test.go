package secret

import (
	"bytes"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRingSealOpen(t *testing.T) {
	r, err := NewRing(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, pw := range []string{"s3cret!", "p@ss: w # x", "ünïcode", strings.Repeat("x", 300)} {
		sealed, err := r.Seal(pw)
		if err != nil {
			t.Fatal(err)
		}
		if !IsSealed(sealed) || strings.Contains(sealed, pw) {
			t.Fatalf("sealed %q: %q", pw, sealed)
		}
		again, _ := r.Seal(pw)
		if again != sealed {
			t.Fatalf("sealing is not deterministic: %q then %q", sealed, again)
		}
		if twice, _ := r.Seal(sealed); twice != sealed {
			t.Fatalf("sealing sealed text changed it")
		}
		got, err := r.Open(sealed)
		if err != nil || got != pw {
			t.Fatalf("open: %q, %v; want %q", got, err, pw)
		}
	}
	a, _ := r.Seal("one")
	b, _ := r.Seal("two")
	if a[len(SealedPrefix)+9:len(SealedPrefix)+9+16] == b[len(SealedPrefix)+9:len(SealedPrefix)+9+16] {
		t.Fatal("different passwords share a nonce")
	}
}

func TestRingRotateAndRefusals(t *testing.T) {
	r, _ := NewRing(rand.Reader)
	old, _ := r.Seal("pw")
	if err := r.Rotate(rand.Reader); err != nil {
		t.Fatal(err)
	}
	fresh, _ := r.Seal("pw")
	if fresh == old {
		t.Fatal("rotation did not change the sealing key")
	}
	for _, s := range []string{old, fresh} {
		if got, err := r.Open(s); err != nil || got != "pw" {
			t.Fatalf("open after rotation: %q, %v", got, err)
		}
	}
	other, _ := NewRing(rand.Reader)
	if _, err := other.Open(fresh); !errors.Is(err, ErrNoClusterKey) {
		t.Fatalf("another cluster's key: %v", err)
	}
	// Same id, another key: authentication fails.
	forged := &Ring{Keys: []RingKey{{ID: r.Keys[1].ID, Key: bytes.Repeat([]byte{1}, KeySize)}}}
	if _, err := forged.Open(fresh); err == nil || strings.Contains(err.Error(), "pw") {
		t.Fatalf("forged key: %v", err)
	}
	tampered := fresh[:len(fresh)-2] + "AA"
	if _, err := r.Open(tampered); err == nil {
		t.Fatal("tampered ciphertext opened")
	}
	var none *Ring
	if _, err := none.Open(fresh); !errors.Is(err, ErrNoClusterKey) {
		t.Fatalf("nil ring: %v", err)
	}
}

func TestRingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secrets", "cluster.keys")
	r, created, err := LoadOrCreateRing(path)
	if err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("mode: %v %v", st.Mode(), err)
	}
	r2, created, err := LoadOrCreateRing(path)
	if err != nil || created || r2.String() != r.String() {
		t.Fatalf("load: %v %v", created, err)
	}
	for _, bad := range []string{"", "# only a comment\n", "k1\n", "k1 abcd\n", "k1 " + strings.Repeat("0", 64) + "\nk1 " + strings.Repeat("1", 64) + "\n", "a.b " + strings.Repeat("0", 64)} {
		if _, err := ParseRing(bad); err == nil {
			t.Errorf("ParseRing(%q): no error", bad)
		}
	}
	m := &Ring{Keys: []RingKey{{ID: "new", Key: bytes.Repeat([]byte{2}, KeySize)}}}
	m.Merge(r)
	if len(m.Keys) != 2 || m.Keys[1].ID != "new" {
		t.Fatalf("merge kept the sealing key last? %v", m.Keys)
	}
}

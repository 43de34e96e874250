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

// fixedIV is the IV 00 01 … 0f, for vectors made outside Go.
var fixedIV = []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}

const key1 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// Vectors: the first is the source password DM's own test suite wrote with
// `dmctl encrypt 123456` before v8.0 (random IV, DM's built-in key); the
// others were made with OpenSSL (`openssl enc -aes-256-cfb -K KEY -iv
// 000102…0f`, IV and "@" prepended, base64), an implementation of AES-CFB
// independent of Go's.
var vectors = []struct {
	name, key, cipher, plain string
}{
	{"dmctl encrypt of DM v7", "", "/Q7B9DizNLLTTfiZHv9WoEAKamfpIUs=", "123456"},
	{"openssl, DM's key", "", "AAECAwQFBgcICQoLDA0OD0AQo3le16c=", "123456"},
	{"openssl, own key, two blocks", key1,
		"AAECAwQFBgcICQoLDA0OD0BHI8vGgB7pcAtYVQD3ZhalPpFDLn3XqHieB/qTV4cmnHz/K9oD76butQ==",
		"p@ss w0rd: long enough to span two blocks"},
}

func vectorKey(t *testing.T, hexKey string) []byte {
	t.Helper()
	if hexKey == "" {
		return DefaultKey
	}
	k, err := ParseKey(hexKey)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestDecryptVectors(t *testing.T) {
	for _, v := range vectors {
		got, err := Decrypt(vectorKey(t, v.key), v.cipher)
		if err != nil || got != v.plain {
			t.Errorf("%s: Decrypt = %q, %v; want %q", v.name, got, err, v.plain)
		}
	}
}

func TestEncryptMatchesVectors(t *testing.T) {
	for _, v := range vectors[1:] {
		got, err := Encrypt(vectorKey(t, v.key), v.plain, bytes.NewReader(fixedIV))
		if err != nil || got != v.cipher {
			t.Errorf("%s: Encrypt = %q, %v; want %q", v.name, got, err, v.cipher)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for _, plain := range []string{"", "x", "123456", strings.Repeat("é", 40)} {
		c, err := Encrypt(DefaultKey, plain, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decrypt(DefaultKey, c)
		if err != nil || got != plain {
			t.Errorf("round trip of %q: %q, %v", plain, got, err)
		}
	}
}

func TestNotCiphertext(t *testing.T) {
	for _, text := range []string{
		"123456",                        // not base64 of 17 bytes
		"c2VjcmV0",                      // base64, too short
		"AAECAwQFBgcICQoLDA0OD0E=",      // 17 bytes, no "@" at byte 16
		"not base64 at all, but long!!", // not base64
	} {
		if _, err := Decrypt(DefaultKey, text); !errors.Is(err, ErrNotCiphertext) {
			t.Errorf("Decrypt(%q): %v, want ErrNotCiphertext", text, err)
		}
	}
}

func TestReveal(t *testing.T) {
	own := vectorKey(t, key1)
	tests := []struct {
		name     string
		keys     [][]byte
		text     string
		want     string
		how      Outcome
		keyIndex int
	}{
		{"plaintext", [][]byte{DefaultKey}, "123456", "123456", Plaintext, -1},
		{"empty", [][]byte{DefaultKey}, "", "", Plaintext, -1},
		{"DM v7 default key", [][]byte{own, DefaultKey}, vectors[0].cipher, "123456", Decrypted, 1},
		{"own key", [][]byte{own, DefaultKey}, vectors[2].cipher, vectors[2].plain, Decrypted, 0},
		// A ciphertext of another key decrypts to bytes that are no password.
		{"wrong key", [][]byte{DefaultKey}, vectors[2].cipher, vectors[2].cipher, Undecryptable, -1},
	}
	for _, tt := range tests {
		got, how, i := Reveal(tt.keys, tt.text)
		if got != tt.want || how != tt.how || i != tt.keyIndex {
			t.Errorf("%s: Reveal = %q, %v, %d; want %q, %v, %d", tt.name, got, how, i, tt.want, tt.how, tt.keyIndex)
		}
	}
}

func TestLoadKey(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "key.txt")
	os.WriteFile(good, []byte(strings.Repeat("1", 64)+"\n"), 0o600)
	if k, err := LoadKey(good); err != nil || len(k) != KeySize {
		t.Errorf("LoadKey: %v, %v", k, err)
	}
	short := filepath.Join(dir, "short.txt")
	os.WriteFile(short, []byte("abcd"), 0o600)
	if _, err := LoadKey(short); err == nil {
		t.Error("LoadKey of a 2-byte key: no error")
	}
	if _, err := LoadKey(filepath.Join(dir, "missing")); err == nil {
		t.Error("LoadKey of a missing file: no error")
	}
}

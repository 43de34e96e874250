package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// The cluster key seals the passwords dmnode stores (in the Raft log, its
// snapshots and anything derived from them), so that no file of a node's
// data dir holds a source or target password in plaintext.
//
// A sealed password reads
//
//	dmnode-sealed.v1.<key id>.<base64url(nonce || AES-256-GCM(plaintext))>
//
// with the key id as additional data. The nonce is derived from the key and
// the plaintext (HMAC-SHA256, first 12 bytes), so sealing is deterministic:
// the same file sealed twice gives the same text, which keeps re-adding an
// unchanged source idempotent in the catalog (a pure state machine that
// never holds the key). Distinct plaintexts get distinct nonces, so GCM's
// nonce is never reused with different data; the cost is that equal
// passwords have equal ciphertexts.
//
// A key ring file holds one key a line, "<id> <64 hex digits>"; the last
// line is the key that seals, every line a key that opens. Rotation appends
// a key (Ring.Rotate); older keys stay until nothing sealed with them is
// stored any more.

// SealedPrefix starts every sealed password.
const SealedPrefix = "dmnode-sealed.v1."

// ErrNoClusterKey means a sealed password names a key the ring lacks.
var ErrNoClusterKey = errors.New("sealed with a cluster key this node does not hold")

// RingKey is one key of a ring.
type RingKey struct {
	ID  string
	Key []byte
}

// Ring is a node's set of cluster keys; the last seals.
type Ring struct {
	Keys []RingKey
}

// IsSealed reports whether text is a sealed password.
func IsSealed(text string) bool { return strings.HasPrefix(text, SealedPrefix) }

// NewRing returns a ring with one fresh key read from random.
func NewRing(random io.Reader) (*Ring, error) {
	r := &Ring{}
	if err := r.Rotate(random); err != nil {
		return nil, err
	}
	return r, nil
}

// Rotate appends a fresh key, which seals from now on.
func (r *Ring) Rotate(random io.Reader) error {
	key := make([]byte, KeySize)
	if _, err := io.ReadFull(random, key); err != nil {
		return fmt.Errorf("generate cluster key: %w", err)
	}
	id := make([]byte, 4)
	if _, err := io.ReadFull(random, id); err != nil {
		return fmt.Errorf("generate cluster key id: %w", err)
	}
	r.Keys = append(r.Keys, RingKey{ID: hex.EncodeToString(id), Key: key})
	return nil
}

// ParseRing reads a ring in its file format.
func ParseRing(text string) (*Ring, error) {
	r := &Ring{}
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, hexKey, ok := strings.Cut(line, " ")
		if !ok || id == "" || strings.ContainsAny(id, ". ") {
			return nil, fmt.Errorf("parse cluster keys: line %d: want \"<id> <64 hex digits>\"", i+1)
		}
		key, err := ParseKey(hexKey)
		if err != nil {
			return nil, fmt.Errorf("parse cluster keys: line %d: %w", i+1, err)
		}
		for _, k := range r.Keys {
			if k.ID == id {
				return nil, fmt.Errorf("parse cluster keys: line %d: key id %s appears twice", i+1, id)
			}
		}
		r.Keys = append(r.Keys, RingKey{ID: id, Key: key})
	}
	if len(r.Keys) == 0 {
		return nil, errors.New("parse cluster keys: no key")
	}
	return r, nil
}

// String returns the ring in its file format.
func (r *Ring) String() string {
	var b strings.Builder
	b.WriteString("# dmnode cluster keys: the last line seals, every line opens. Keep secret (mode 0600).\n")
	for _, k := range r.Keys {
		fmt.Fprintf(&b, "%s %s\n", k.ID, hex.EncodeToString(k.Key))
	}
	return b.String()
}

// LoadRing reads the ring file at path.
func LoadRing(path string) (*Ring, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read cluster keys: %w", err)
	}
	r, err := ParseRing(string(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// WriteRing writes r to path with mode 0600, atomically.
func WriteRing(path string, r *Ring) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("write cluster keys: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(r.String()), 0o600); err != nil {
		return fmt.Errorf("write cluster keys: %w", err)
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return fmt.Errorf("write cluster keys: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write cluster keys: %w", err)
	}
	return nil
}

// LoadOrCreateRing reads the ring at path, or creates one with a fresh key
// when no file is there; created says which.
func LoadOrCreateRing(path string) (r *Ring, created bool, err error) {
	r, err = LoadRing(path)
	if err == nil {
		return r, false, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, false, err
	}
	if r, err = NewRing(rand.Reader); err != nil {
		return nil, false, err
	}
	if err := WriteRing(path, r); err != nil {
		return nil, false, err
	}
	return r, true, nil
}

// Merge adds the keys of o that r lacks, before r's own keys, so that r's
// sealing key stays the last.
func (r *Ring) Merge(o *Ring) {
	var add []RingKey
	for _, k := range o.Keys {
		if r.find(k.ID) == nil {
			add = append(add, k)
		}
	}
	r.Keys = append(add, r.Keys...)
}

func (r *Ring) find(id string) []byte {
	for _, k := range r.Keys {
		if k.ID == id {
			return k.Key
		}
	}
	return nil
}

// Seal encrypts plaintext with the ring's last key. Sealed text is
// returned unchanged: sealing is idempotent.
func (r *Ring) Seal(plaintext string) (string, error) {
	if IsSealed(plaintext) {
		return plaintext, nil
	}
	if len(r.Keys) == 0 {
		return "", errors.New("seal password: no cluster key")
	}
	k := r.Keys[len(r.Keys)-1]
	aead, err := newGCM(k.Key)
	if err != nil {
		return "", fmt.Errorf("seal password: %w", err)
	}
	mac := hmac.New(sha256.New, k.Key)
	mac.Write([]byte("dmnode-sealed-nonce\x00"))
	mac.Write([]byte(plaintext))
	nonce := mac.Sum(nil)[:aead.NonceSize()]
	out := aead.Seal(append([]byte{}, nonce...), nonce, []byte(plaintext), []byte(k.ID))
	return SealedPrefix + k.ID + "." + base64.RawURLEncoding.EncodeToString(out), nil
}

// Open decrypts a sealed password. Its errors never quote the text.
func (r *Ring) Open(sealed string) (string, error) {
	rest, ok := strings.CutPrefix(sealed, SealedPrefix)
	if !ok {
		return "", errors.New("open password: not sealed")
	}
	id, body, ok := strings.Cut(rest, ".")
	if !ok {
		return "", errors.New("open password: malformed sealed password")
	}
	var key []byte
	if r != nil {
		key = r.find(id)
	}
	if key == nil {
		return "", fmt.Errorf("open password: key %s: %w", id, ErrNoClusterKey)
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		return "", errors.New("open password: malformed sealed password")
	}
	aead, err := newGCM(key)
	if err != nil {
		return "", fmt.Errorf("open password: %w", err)
	}
	if len(raw) < aead.NonceSize() {
		return "", errors.New("open password: malformed sealed password")
	}
	plain, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], []byte(id))
	if err != nil {
		return "", fmt.Errorf("open password: key %s does not authenticate it (altered, or another cluster's key with the same id)", id)
	}
	return string(plain), nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// Package secret encrypts and decrypts passwords in the format of TiDB DM,
// so that the passwords `dmctl encrypt` wrote into task and source files
// work with dmnode unchanged, and `dmnode encrypt` writes passwords DM reads.
//
// The format, as DM defines it: base64 (standard, padded) of
//
//	IV (16 bytes) || "@" || AES-CFB(key, IV, plaintext)
//
// with AES-256 and a random IV. DM before v8.0 encrypted with one key built
// into every binary (DefaultKey); since v8.0 the key is the one in the file
// that dm-master's secret-key-path names (64 hexadecimal digits), and
// without it DM reads every password as plaintext.
//
// DM cannot tell a ciphertext from a plaintext: it decrypts a password when
// it has the ciphertext's shape (base64 of at least 17 bytes with "@" at
// byte 16) and uses the text as written otherwise. Decrypt does the same,
// and says which of the two it did.
//
// The package is pure apart from LoadKey, which reads a key file.
package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode"
	"unicode/utf8"
)

// KeySize is the size of DM's AES-256 key.
const KeySize = 32

// DefaultKey is the key built into DM before v8.0: every `dmctl encrypt` of
// those versions used it.
var DefaultKey = mustHex("a529b7665997f043a30ac8fadcb51d6aa032c226ab5b7750530b12b8c1a16a48")

// ErrNotCiphertext means a password does not have the shape of DM's
// ciphertext; DM uses such a password as written.
var ErrNotCiphertext = errors.New("not a DM ciphertext")

const ivSep = '@'

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// ParseKey reads a key as DM's secret-key-path file holds it: 64
// hexadecimal digits, surrounding white space ignored.
func ParseKey(text string) ([]byte, error) {
	key, err := hex.DecodeString(strings.TrimSpace(text))
	if err != nil {
		return nil, fmt.Errorf("parse secret key: %w", err)
	}
	if len(key) != KeySize {
		return nil, fmt.Errorf("parse secret key: %d bytes, want a hex AES-256 key of 64 digits", len(key))
	}
	return key, nil
}

// LoadKey reads a key file in the format of DM's secret-key-path.
func LoadKey(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read secret key: %w", err)
	}
	return ParseKey(string(data))
}

// Encrypt encrypts plaintext with key and an IV read from random (use
// crypto/rand.Reader), in DM's format.
func Encrypt(key []byte, plaintext string, random io.Reader) (string, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return "", fmt.Errorf("encrypt password: %w", err)
	}
	n := block.BlockSize()
	out := make([]byte, n+1+len(plaintext))
	if _, err := io.ReadFull(random, out[:n]); err != nil {
		return "", fmt.Errorf("encrypt password: read IV: %w", err)
	}
	out[n] = ivSep
	cipher.NewCFBEncrypter(block, out[:n]).XORKeyStream(out[n+1:], []byte(plaintext))
	return base64.StdEncoding.EncodeToString(out), nil
}

// Decrypt decrypts a password in DM's format with key. It returns
// ErrNotCiphertext when text does not have the format, as DM would then
// use text as written. Any text with the format decrypts: a ciphertext made
// with another key gives bytes that are not the password (see Plausible).
func Decrypt(key []byte, text string) (string, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return "", fmt.Errorf("decrypt password: %w", err)
	}
	raw, err := base64.StdEncoding.DecodeString(text)
	if err != nil {
		return "", ErrNotCiphertext
	}
	n := block.BlockSize()
	if len(raw) < n+1 || raw[n] != ivSep {
		return "", ErrNotCiphertext
	}
	plain := make([]byte, len(raw)-n-1)
	cipher.NewCFBDecrypter(block, raw[:n]).XORKeyStream(plain, raw[n+1:])
	return string(plain), nil
}

// Plausible reports whether a decrypted password looks like one: valid
// UTF-8 without control characters. A ciphertext decrypted with the wrong
// key almost never is.
func Plausible(password string) bool {
	if !utf8.ValidString(password) {
		return false
	}
	for _, r := range password {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// Outcome says how Reveal read a password.
type Outcome int

const (
	// Plaintext: the password does not have the ciphertext's shape and is
	// used as written, as DM does.
	Plaintext Outcome = iota
	// Decrypted with one of the keys.
	Decrypted
	// Undecryptable: the password has the ciphertext's shape but decrypts
	// to no plausible password with any key; it is used as written.
	Undecryptable
)

// Reveal reads a password of a task or source file as DM does: decrypted
// when it has the shape of a ciphertext, as written otherwise. keys are
// tried in order; the first that gives a plausible password wins, and its
// index is returned.
func Reveal(keys [][]byte, text string) (password string, how Outcome, keyIndex int) {
	if text == "" {
		return "", Plaintext, -1
	}
	shaped := false
	for i, key := range keys {
		plain, err := Decrypt(key, text)
		if err != nil {
			continue
		}
		shaped = true
		if Plausible(plain) {
			return plain, Decrypted, i
		}
	}
	if shaped {
		return text, Undecryptable, -1
	}
	return text, Plaintext, -1
}

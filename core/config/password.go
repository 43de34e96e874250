package config

import (
	"os"
	"sync"

	"github.com/dmnode/dmnode/core/secret"
)

// SecretKeyPathEnv names the environment variable with the path of a key
// file in the format of DM's secret-key-path (64 hexadecimal digits). Its
// key decrypts passwords first; DM's built-in key of versions before v8.0
// (secret.DefaultKey) second.
const SecretKeyPathEnv = "DMNODE_SECRET_KEY_PATH"

// passwordKeys are the keys passwords are decrypted with, read once per
// process; err is why the key file could not be read.
var passwordKeys = sync.OnceValues(func() ([][]byte, error) {
	return keysFrom(os.Getenv(SecretKeyPathEnv))
})

// keysFrom returns the key of the file at path (none when path is empty),
// then DM's built-in key.
func keysFrom(path string) ([][]byte, error) {
	keys := [][]byte{}
	if path != "" {
		k, err := secret.LoadKey(path)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return append(keys, secret.DefaultKey), nil
}

// revealPassword decrypts the password of a connection as DM does (a
// `dmctl encrypt` ciphertext is decrypted, anything else used as written)
// and says which it did. No message quotes the password.
func revealPassword(r *report, db *DBConfig, p string) {
	if db.Password == "" {
		return
	}
	pp := childPath(p, "password")
	if secret.IsSealed(db.Password) {
		plain, err := clusterRing.Load().Open(db.Password)
		if err != nil {
			r.errorf(pp, "cannot decrypt: %v", err)
			return
		}
		db.Password = plain
		if db.Password == "" {
			return
		}
	}
	keys, err := passwordKeys()
	if err != nil {
		r.errorf(pp, "cannot decrypt: %s: %v", SecretKeyPathEnv, err)
		return
	}
	plain, how, i := secret.Reveal(keys, db.Password)
	switch how {
	case secret.Decrypted:
		db.Password = plain
		from := "DM's built-in key of versions before v8.0"
		if i < len(keys)-1 {
			from = "the key of " + SecretKeyPathEnv
		}
		r.warnf(pp, "decrypted as DM does, with %s", from)
	case secret.Undecryptable:
		r.notef(pp, "used as written: it has the form of a DM ciphertext but no key decrypts it to a password "+
			"(DM's built-in key%s); DM would log in with the bytes another key decrypts it to. "+
			"Set %s to the file of dm-master's secret-key-path if it was encrypted with that key",
			map[bool]string{true: " and the key of " + SecretKeyPathEnv, false: ""}[len(keys) > 1], SecretKeyPathEnv)
	}
}

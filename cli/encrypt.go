package cli

import (
	"bufio"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/dmnode/dmnode/core/config"
	"github.com/dmnode/dmnode/core/secret"
)

// EncryptCmd encrypts a password as `dmctl encrypt` does, for the password
// keys of task and source files; dmnode and DM both read the result.
type EncryptCmd struct {
	Password      string `arg:"" help:"The password; - reads one line of standard input (keeps it out of the shell history)."`
	SecretKeyPath string `help:"File with a hex AES-256 key (64 digits), as DM's secret-key-path; default DM's built-in key of versions before v8.0." env:"DMNODE_SECRET_KEY_PATH" type:"path"`
}

func (c *EncryptCmd) Run(g *Globals) error {
	plain := c.Password
	if plain == "-" {
		line, err := bufio.NewReader(os.Stdin).ReadString('\n')
		if err != nil && line == "" {
			return fmt.Errorf("read password: %w", err)
		}
		plain = strings.TrimRight(line, "\r\n")
	}
	if plain == "" {
		return errors.New("empty password: nothing to encrypt")
	}
	key, from := secret.DefaultKey, "DM's built-in key (read by DM before v8.0 and by dmnode)"
	if c.SecretKeyPath != "" {
		k, err := secret.LoadKey(c.SecretKeyPath)
		if err != nil {
			return err
		}
		key = k
		from = c.SecretKeyPath + " (give DM the same file as secret-key-path, and dmnode as " + config.SecretKeyPathEnv + ")"
	}
	out, err := secret.Encrypt(key, plain, rand.Reader)
	if err != nil {
		return err
	}
	fmt.Fprintln(g.Out, out)
	fmt.Fprintln(g.Err, "encrypted with", from)
	return nil
}

package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// clientContext is what a context file holds, as the NATS CLI keeps its
// contexts: where the cluster is and how to prove who the client is.
type clientContext struct {
	Server  string `json:"server,omitempty"`
	Creds   string `json:"creds,omitempty"`
	TLSCA   string `json:"tls_ca,omitempty"`
	TLSCert string `json:"tls_cert,omitempty"`
	TLSKey  string `json:"tls_key,omitempty"`
}

const defaultServer = "nats://127.0.0.1:4222"

// contextPath is the context file: the one given, or
// os.UserConfigDir()/dmnode/context.json.
func contextPath(given string) (string, error) {
	if given != "" {
		return given, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "dmnode", "context.json"), nil
}

// applyContext fills what the command line and the environment left unset
// from the context file, then the defaults. Node commands (dev, start,
// cluster join) read no context: their flags are the node's own.
//
// A context named "none" is no context at all (scripts that must not pick
// up the user's, such as the quick start, set DMNODE_CONTEXT=none).
func (g *Globals) applyContext(given, command string) error {
	if given == "none" {
		if g.Server == "" {
			g.Server = defaultServer
		}
		return nil
	}
	path, err := contextPath(given)
	if err == nil {
		g.ContextFile = path
	}
	nodeCmd := strings.HasPrefix(command, "dev") || strings.HasPrefix(command, "start") ||
		strings.HasPrefix(command, "cluster join") || strings.HasPrefix(command, "context") ||
		strings.HasPrefix(command, "creds")
	if err == nil && !nodeCmd {
		b, rerr := os.ReadFile(path)
		switch {
		case rerr == nil:
			var c clientContext
			if err := json.Unmarshal(b, &c); err != nil {
				return fmt.Errorf("context %s: %w", path, err)
			}
			set := func(dst *string, v string) {
				if *dst == "" {
					*dst = v
				}
			}
			set(&g.Server, c.Server)
			set(&g.Conn.Creds, c.Creds)
			set(&g.Conn.TLS.CA, c.TLSCA)
			set(&g.Conn.TLS.Cert, c.TLSCert)
			set(&g.Conn.TLS.Key, c.TLSKey)
		case given != "" || !errors.Is(rerr, os.ErrNotExist):
			return fmt.Errorf("context: %w", rerr)
		}
	}
	if g.Server == "" {
		g.Server = defaultServer
	}
	return nil
}

// ContextCmd saves and shows the client context.
type ContextCmd struct {
	Save ContextSaveCmd `cmd:"" help:"Save --server, --creds and --tls-* as the context later commands use."`
	Show ContextShowCmd `cmd:"" help:"Show the context file and what it holds."`
}

type ContextSaveCmd struct{}

func (c *ContextSaveCmd) Run(g *Globals) error {
	if g.ContextFile == "" {
		return errors.New("context: no user config directory; give --context FILE")
	}
	abs := func(p string) string {
		if p == "" {
			return ""
		}
		a, err := filepath.Abs(p)
		if err != nil {
			return p
		}
		return a
	}
	ctx := clientContext{Server: g.Server, Creds: abs(g.Conn.Creds), TLSCA: abs(g.Conn.TLS.CA),
		TLSCert: abs(g.Conn.TLS.Cert), TLSKey: abs(g.Conn.TLS.Key)}
	if !g.ServerGiven {
		ctx.Server = ""
	}
	if strings.Contains(ctx.Server, "@") {
		return errors.New("context: the server URL holds credentials; give them with --creds instead")
	}
	b, _ := json.MarshalIndent(ctx, "", "  ")
	if err := os.MkdirAll(filepath.Dir(g.ContextFile), 0o700); err != nil {
		return fmt.Errorf("context: %w", err)
	}
	if err := os.WriteFile(g.ContextFile, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("context: %w", err)
	}
	fmt.Fprintf(g.Out, "context saved to %s\n", g.ContextFile)
	return nil
}

type ContextShowCmd struct{}

func (c *ContextShowCmd) Run(g *Globals) error {
	b, err := os.ReadFile(g.ContextFile)
	if errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(g.Out, "no context at %s\n", g.ContextFile)
		return nil
	}
	if err != nil {
		return fmt.Errorf("context: %w", err)
	}
	fmt.Fprintf(g.Out, "%s:\n%s", g.ContextFile, b)
	return nil
}

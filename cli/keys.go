package cli

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/dmnode/dmnode/core/secret"
	"github.com/dmnode/dmnode/node"
)

// KeysCmd manages the cluster keys that seal the passwords dmnode stores.
type KeysCmd struct {
	Rotate KeysRotateCmd `cmd:"" help:"Add a fresh cluster key to a node's key file (creating the file when there is none); it seals from the next start on, older keys still open."`
	List   KeysListCmd   `cmd:"" help:"List the ids of a node's cluster keys (never the keys)."`
}

// KeysRotateCmd appends a key to the ring of a stopped node's data dir.
type KeysRotateCmd struct {
	DataDir string `help:"The node's data dir." default:"./dmnode-data" type:"path"`
}

func (c *KeysRotateCmd) Run(g *Globals) error {
	path := filepath.Join(c.DataDir, node.ClusterKeysFile)
	ring, err := secret.LoadRing(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		ring = &secret.Ring{} // a data dir from before the keys: create them
	case err != nil:
		return err
	}
	if err := ring.Rotate(rand.Reader); err != nil {
		return err
	}
	if err := secret.WriteRing(path, ring); err != nil {
		return err
	}
	fmt.Fprintf(g.Out, "added key %s to %s; it seals passwords once the node restarts\n", ring.Keys[len(ring.Keys)-1].ID, path)
	fmt.Fprintln(g.Err, "copy this file to every member's data dir, then restart the members one by one (see docs/security.md)")
	return nil
}

// KeysListCmd prints the key ids of a data dir's ring.
type KeysListCmd struct {
	DataDir string `help:"The node's data dir." default:"./dmnode-data" type:"path"`
}

func (c *KeysListCmd) Run(g *Globals) error {
	path := filepath.Join(c.DataDir, node.ClusterKeysFile)
	ring, err := secret.LoadRing(path)
	if err != nil {
		return err
	}
	for i, k := range ring.Keys {
		role := "opens"
		if i == len(ring.Keys)-1 {
			role = "seals and opens"
		}
		fmt.Fprintf(g.Out, "%s\t%s\n", k.ID, role)
	}
	return nil
}

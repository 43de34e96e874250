package cli

import (
	"fmt"
	"path/filepath"

	"github.com/dmnode/dmnode/node"
)

// CredsCmd groups the credentials commands.
type CredsCmd struct {
	Generate CredsGenerateCmd `cmd:"" help:"Write a new cluster credentials bundle (cluster.auth) and the admin and viewer nkeys to a directory."`
	Token    CredsTokenCmd    `cmd:"" help:"Print the HTTP API's bearer token of the role whose nkey --creds names (admin.nk or viewer.nk)."`
}

type CredsTokenCmd struct{}

func (c *CredsTokenCmd) Run(g *Globals) error {
	if g.Conn.Creds == "" {
		return fmt.Errorf("give the role's nkey seed file with --creds (DATA_DIR/secrets/admin.nk or viewer.nk) or DMNODE_CREDS")
	}
	tok, err := node.HTTPTokenFromFile(g.Conn.Creds)
	if err != nil {
		return err
	}
	fmt.Fprintln(g.Out, tok)
	return nil
}

type CredsGenerateCmd struct {
	Out string `help:"Directory to write cluster.auth, admin.nk and viewer.nk to (mode 0600)." required:"" type:"path"`
}

func (c *CredsGenerateCmd) Run(g *Globals) error {
	creds, err := node.NewClusterCreds()
	if err != nil {
		return err
	}
	if err := node.WriteClusterCreds(c.Out, creds); err != nil {
		return err
	}
	fmt.Fprintf(g.Out, "wrote %s: give it to every node with --cluster-creds (or DMNODE_CLUSTER_CREDS)\n", filepath.Join(c.Out, "cluster.auth"))
	fmt.Fprintf(g.Out, "wrote %s and %s: client credentials (--creds) of the admin and viewer roles\n",
		filepath.Join(c.Out, "admin.nk"), filepath.Join(c.Out, "viewer.nk"))
	return nil
}

package cli

import (
	"fmt"
	"path/filepath"

	"github.com/dmnode/dmnode/node"
)

// CredsCmd groups the credentials commands.
type CredsCmd struct {
	Generate CredsGenerateCmd `cmd:"" help:"Write a new cluster credentials bundle (cluster.auth) and the admin and viewer nkeys to a directory."`
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

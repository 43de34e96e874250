package cli

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/dmnode/dmnode/node"
)

// ClusterCmd groups the cluster commands.
type ClusterCmd struct {
	Join   ClusterJoinCmd   `cmd:"" help:"Start this node and join the cluster a member at PEER belongs to."`
	Status ClusterStatusCmd `cmd:"" help:"Show the members: addresses, voter, leader, health, actors placed."`
	Leave  ClusterLeaveCmd  `cmd:"" help:"Make the node at --server leave gracefully: its actors move first, then it stops."`
	Remove ClusterRemoveCmd `cmd:"" help:"Remove a member that is gone for good (for example, its data dir was wiped)."`
}

type ClusterJoinCmd struct {
	Peer string `arg:"" help:"Client URL of any member, e.g. nats://10.0.0.5:4222."`
	StartCmd
}

func (c *ClusterJoinCmd) Run(g *Globals) error {
	c.StartCmd.Join = c.Peer
	return c.StartCmd.Run(g)
}

type ClusterStatusCmd struct {
	Output string `short:"o" help:"Output format: table or json." default:"table" enum:"table,json"`
}

func (c *ClusterStatusCmd) Run(g *Globals) error {
	resp, err := call(g, "cluster.status", &node.Request{}, 30*time.Second)
	if err != nil {
		return err
	}
	if c.Output == "json" {
		return printJSON(g.Out, map[string]any{"members": resp.Members})
	}
	w := tabwriter.NewWriter(g.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NODE\tCLIENT\tRAFT\tVOTER\tLEADER\tHEALTH\tACTORS")
	for _, m := range resp.Members {
		health := "ok"
		if !m.Healthy {
			health = "silent"
		}
		if m.Leaving {
			health += ", leaving"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%v\t%v\t%s\t%d\n", m.ID, m.Control, m.Raft, m.Voter, m.Leader, health, m.Actors)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	// Each node's own view of NATS and JetStream.
	for _, m := range resp.Members {
		fmt.Fprintf(g.Out, "  %s: nats %s; jetstream %s\n", m.ID, m.NATS, m.JetStream)
	}
	return nil
}

type ClusterLeaveCmd struct {
	Node string `help:"Node to leave (default: the node at --server)."`
}

func (c *ClusterLeaveCmd) Run(g *Globals) error {
	cl, err := g.dial()
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	resp, err := cl.CallNode(ctx, c.Node, "cluster.leave", &node.Request{})
	if resp != nil {
		printLines(g.Out, resp.Report)
	}
	return err
}

type ClusterRemoveCmd struct {
	Name string `arg:"" help:"Node name."`
}

func (c *ClusterRemoveCmd) Run(g *Globals) error {
	return callAndReport(g, "cluster.remove", &node.Request{Name: c.Name}, time.Minute)
}

package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dmnode/dmnode/node"
)

// SourceCmd groups the source commands.
type SourceCmd struct {
	Add    SourceAddCmd    `cmd:"" help:"Add sources from TiDB DM source.yaml files (checked for reachability and binlog settings)."`
	List   SourceListCmd   `cmd:"" help:"List the sources."`
	Remove SourceRemoveCmd `cmd:"" help:"Remove a source no task uses."`
}

type SourceAddCmd struct {
	Files []string `arg:"" help:"source.yaml files; - reads standard input." type:"path"`
}

func (c *SourceAddCmd) Run(g *Globals) error {
	files, err := readFiles(c.Files)
	if err != nil {
		return err
	}
	return callAndReport(g, "source.add", &node.Request{Files: files}, time.Minute)
}

type SourceListCmd struct {
	Output string `short:"o" help:"Output format: table or json." default:"table" enum:"table,json"`
}

func (c *SourceListCmd) Run(g *Globals) error {
	resp, err := call(g, "source.list", &node.Request{}, 30*time.Second)
	if err != nil {
		return err
	}
	if c.Output == "json" {
		return printJSON(g.Out, resp.Sources)
	}
	w := tabwriter.NewWriter(g.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "SOURCE\tADDRESS\tUSER\tFLAVOR\tGTID\tTASKS")
	for _, s := range resp.Sources {
		flavor := s.Flavor
		if flavor == "" {
			flavor = "auto"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%v\t%s\n", s.ID, s.Address, s.User, flavor, s.EnableGTID, strings.Join(s.Tasks, ","))
	}
	return w.Flush()
}

type SourceRemoveCmd struct {
	Name string `arg:"" help:"Source id."`
}

func (c *SourceRemoveCmd) Run(g *Globals) error {
	return callAndReport(g, "source.remove", &node.Request{Name: c.Name}, 30*time.Second)
}

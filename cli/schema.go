package cli

import (
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dmnode/dmnode/node"
)

// BinlogSchemaCmd groups the commands on the schema history: the schema
// dmnode tracks for each upstream table, by binlog position, as TiDB DM's
// binlog-schema does for its schema tracker.
type BinlogSchemaCmd struct {
	List   BinlogSchemaListCmd   `cmd:"" help:"List the tables of a source with the schema version in force at a position."`
	Show   BinlogSchemaShowCmd   `cmd:"" help:"Show a table's tracked schema and its versions."`
	Update BinlogSchemaUpdateCmd `cmd:"" help:"Set a table's tracked schema from a position on (the rare case an operator must)."`
}

// schemaWhere are the flags that say which source and position.
type schemaWhere struct {
	Name   string `arg:"" help:"Task name or source id."`
	Source string `help:"The source, for a task with several."`
	Pos    string `help:"Binlog position file:offset (default: where the source's tailer resumes)."`
}

func (w schemaWhere) request() *node.SchemaRequest {
	return &node.SchemaRequest{Name: w.Name, Source: w.Source, Pos: w.Pos}
}

type BinlogSchemaListCmd struct {
	schemaWhere
	Database string `help:"Only the tables of this database."`
	Output   string `short:"o" help:"Output format: table or json." default:"table" enum:"table,json"`
}

func (c *BinlogSchemaListCmd) Run(g *Globals) error {
	req := c.request()
	req.Schema = c.Database
	resp, err := call(g, "binlog-schema.list", &node.Request{Schema: req}, time.Minute)
	if err != nil {
		return err
	}
	if c.Output == "json" {
		return printJSON(g.Out, resp.Schemas)
	}
	a := resp.Schemas
	fmt.Fprintf(g.Out, "source %s at %s: %d tables\n", a.Source, a.Pos, len(a.Versions))
	w := tabwriter.NewWriter(g.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "TABLE\tSINCE\tORIGIN\tCOLUMNS")
	for _, v := range a.Versions {
		fmt.Fprintf(w, "%s.%s\t%s\t%s\t%s\n", v.Schema, v.Table, v.Pos, v.Origin, strings.Join(v.Columns, ","))
	}
	return w.Flush()
}

type BinlogSchemaShowCmd struct {
	schemaWhere
	Database string `arg:"" help:"Upstream database."`
	Table    string `arg:"" help:"Upstream table."`
	Output   string `short:"o" help:"Output format: table or json." default:"table" enum:"table,json"`
}

func (c *BinlogSchemaShowCmd) Run(g *Globals) error {
	req := c.request()
	req.Schema, req.Table = c.Database, c.Table
	resp, err := call(g, "binlog-schema.show", &node.Request{Schema: req}, time.Minute)
	if err != nil {
		return err
	}
	if c.Output == "json" {
		return printJSON(g.Out, resp.Schemas)
	}
	a := resp.Schemas
	w := tabwriter.NewWriter(g.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "SINCE\tORIGIN\tCOLUMNS\t")
	var current *node.SchemaVersion
	for i, v := range a.Versions {
		cols, mark := strings.Join(v.Columns, ","), ""
		if v.Dropped {
			cols = "(no such table)"
		}
		if v.InForce {
			mark, current = fmt.Sprintf("<- in force at %s", a.Pos), &a.Versions[i]
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", v.Pos, v.Origin, cols, mark)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	switch {
	case current == nil:
		fmt.Fprintf(g.Out, "\nno version of %s.%s is in force at %s\n", c.Database, c.Table, a.Pos)
	case current.Dropped:
		fmt.Fprintf(g.Out, "\n%s.%s does not exist at %s\n", c.Database, c.Table, a.Pos)
	default:
		fmt.Fprintf(g.Out, "\n%s;\n", current.CreateSQL)
	}
	return nil
}

type BinlogSchemaUpdateCmd struct {
	schemaWhere
	Database   string `arg:"" help:"Upstream database."`
	Table      string `arg:"" help:"Upstream table."`
	File       string `arg:"" optional:"" help:"File holding the table's CREATE TABLE; - reads standard input." type:"path"`
	FromSource bool   `help:"Take the source's table as it is now." xor:"from"`
	FromTarget bool   `help:"Take the task's target table (extracted columns left out)." xor:"from"`
}

func (c *BinlogSchemaUpdateCmd) Run(g *Globals) error {
	req := c.request()
	req.Schema, req.Table = c.Database, c.Table
	switch {
	case c.File != "" && (c.FromSource || c.FromTarget):
		return errors.New("give a schema file or --from-source or --from-target, not both")
	case c.File != "":
		files, err := readFiles([]string{c.File})
		if err != nil {
			return err
		}
		req.CreateSQL = files[0].Data
	case c.FromSource:
		req.From = "source"
	case c.FromTarget:
		req.From = "target"
	default:
		return errors.New("give a schema file, or --from-source or --from-target")
	}
	return callAndReport(g, "binlog-schema.update", &node.Request{Schema: req}, time.Minute)
}

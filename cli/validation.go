package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dmnode/dmnode/node"
)

// ValidationCmd follows a task's continuous validator, with the command
// names of DM's dmctl validation.
type ValidationCmd struct {
	Status       ValidationStatusCmd       `cmd:"" help:"Rows checked, pending and errors of a task's validator, per source."`
	ShowError    ValidationShowErrorCmd    `cmd:"" name:"show-error" help:"The rows a task's validator found different."`
	ClearError   ValidationClearErrorCmd   `cmd:"" name:"clear-error" help:"Remove validation errors."`
	IgnoreError  ValidationIgnoreErrorCmd  `cmd:"" name:"ignore-error" help:"Mark validation errors ignored."`
	ResolveError ValidationResolveErrorCmd `cmd:"" name:"resolve-error" help:"Mark validation errors resolved."`
	Start        ValidationStartCmd        `cmd:"" help:"Start a task's validators again after validation stop."`
	Stop         ValidationStopCmd         `cmd:"" help:"Stop a task's validators; they keep their place."`
}

type ValidationStatusCmd struct {
	Name   string `arg:"" help:"Task name."`
	Output string `short:"o" help:"Output format: table or json." default:"table" enum:"table,json"`
}

func (c *ValidationStatusCmd) Run(g *Globals) error {
	resp, err := call(g, "validation.status", &node.Request{Name: c.Name}, 30*time.Second)
	if err != nil {
		return err
	}
	if c.Output == "json" {
		return printJSON(g.Out, map[string]any{"validation": resp.Validation})
	}
	printValidation(g.Out, resp.Validation)
	return nil
}

func printValidation(out io.Writer, vs []node.ValidationStatus) {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "SOURCE\tMODE\tSTATE\tCHECKED\tPENDING\tSKIPPED\tERRORS\tTOTAL ERRORS\tPOSITION")
	for _, s := range vs {
		state := "running"
		switch {
		case s.Stopped:
			state = "stopped"
		case !s.Running:
			state = "idle"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\n", s.Source, s.Mode, state, s.Checked, s.Pending, s.Skipped,
			s.Errors, s.ErrorsTotal, s.Position)
		if s.Gaps > 0 {
			fmt.Fprintf(w, "  not compared: binlog purged from the relay before the validator read it (%s, the last up to %s)\n", plural(int(s.Gaps), "time"), s.GapEnd)
		}
		if s.LastError != "" {
			fmt.Fprintf(w, "  last error: %s\n", s.LastError)
		}
	}
	w.Flush()
}

type ValidationShowErrorCmd struct {
	Name       string `arg:"" help:"Task name."`
	ErrorState string `help:"Which errors: all, unprocessed, ignored or resolved." default:"unprocessed" enum:"all,unprocessed,ignored,resolved" aliases:"error"`
	Output     string `short:"o" help:"Output format: table or json." default:"table" enum:"table,json"`
}

func (c *ValidationShowErrorCmd) Run(g *Globals) error {
	resp, err := call(g, "validation.show-error", &node.Request{Name: c.Name,
		Validation: &node.ValidationRequest{ErrorState: c.ErrorState}}, 30*time.Second)
	if err != nil {
		return err
	}
	if c.Output == "json" {
		return printJSON(g.Out, map[string]any{"validation": resp.Validation})
	}
	w := tabwriter.NewWriter(g.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tSOURCE\tSTATE\tKIND\tTABLE\tTARGET\tKEY\tPOSITION\tTIME")
	for _, s := range resp.Validation {
		for _, e := range s.ErrorList {
			fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, s.Source, e.State, e.Kind, e.Table, e.Target,
				strings.Join(e.Key, ","), e.Position, e.Time.Format(time.RFC3339))
		}
	}
	return w.Flush()
}

// validationErrorArgs name the errors clear-error, ignore-error and
// resolve-error act on: an id, as DM's dmctl takes it (or --error-id), or
// --all.
type validationErrorArgs struct {
	Name    string `arg:"" help:"Task name."`
	ID      int64  `arg:"" optional:"" name:"id" help:"The error's id, as show-error prints it."`
	ErrorID int64  `name:"error-id" help:"The error's id (the same as the argument)."`
	All     bool   `help:"Every error of the task."`
}

func (a *validationErrorArgs) run(g *Globals, method string) error {
	id := a.ID
	if a.ErrorID != 0 {
		if id != 0 && id != a.ErrorID {
			return fmt.Errorf("two error ids: %d and --error-id %d", id, a.ErrorID)
		}
		id = a.ErrorID
	}
	if (id == 0) == !a.All {
		return fmt.Errorf("give an error id (dmnode validation show-error %s lists them) or --all, not both", a.Name)
	}
	return callAndReport(g, method, &node.Request{Name: a.Name,
		Validation: &node.ValidationRequest{ErrorID: id, All: a.All}}, 30*time.Second)
}

type ValidationClearErrorCmd struct {
	validationErrorArgs `embed:""`
}

func (c *ValidationClearErrorCmd) Run(g *Globals) error { return c.run(g, "validation.clear-error") }

type ValidationIgnoreErrorCmd struct {
	validationErrorArgs `embed:""`
}

func (c *ValidationIgnoreErrorCmd) Run(g *Globals) error { return c.run(g, "validation.ignore-error") }

type ValidationResolveErrorCmd struct {
	validationErrorArgs `embed:""`
}

func (c *ValidationResolveErrorCmd) Run(g *Globals) error {
	return c.run(g, "validation.resolve-error")
}

type ValidationStartCmd struct {
	Name string `arg:"" help:"Task name."`
}

func (c *ValidationStartCmd) Run(g *Globals) error {
	return callAndReport(g, "validation.start", &node.Request{Name: c.Name}, 30*time.Second)
}

type ValidationStopCmd struct {
	Name string `arg:"" help:"Task name."`
}

func (c *ValidationStopCmd) Run(g *Globals) error {
	return callAndReport(g, "validation.stop", &node.Request{Name: c.Name}, 30*time.Second)
}

// printValidatorLine is task status's line on a source's validator.
func printValidatorLine(out io.Writer, s node.SourceStatus) {
	v := s.Validator
	if v == nil {
		return
	}
	state := "running"
	switch {
	case v.Stopped:
		state = "stopped"
	case !v.Running:
		state = "idle"
	}
	fmt.Fprintf(out, "  %s validator (%s, %s): %s rows checked, %s pending, %d errors", s.Source, v.Mode, state,
		count(v.Checked), count(v.Pending), v.Errors)
	if v.Errors > 0 {
		fmt.Fprintf(out, " (dmnode validation show-error)")
	}
	fmt.Fprintln(out)
	if v.Gaps > 0 {
		fmt.Fprintf(out, "  %s validator: binlog purged from the relay before it read it, not compared (%s, the last up to %s)\n", s.Source, plural(int(v.Gaps), "time"), v.GapEnd)
	}
	if v.LastError != "" {
		fmt.Fprintf(out, "  %s validator last error: %s\n", s.Source, v.LastError)
	}
}

package cli

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/dmnode/dmnode/node"
)

// TaskCutoverCmd ends a migration in one request: the node that answers
// checks the task, freezes the sources, waits, verifies, raises the
// target's AUTO_INCREMENTs and stops the task, and undoes the freeze on
// any failure, so the freeze does not depend on this process staying up.
type TaskCutoverCmd struct {
	Name          string        `arg:"" help:"Task name."`
	MaxLag        time.Duration `help:"Start only when every source lags at most this much." default:"5s"`
	Freeze        string        `help:"How writes stop: read-only sets read_only (and super_read_only on MySQL) on every source; none when the application is stopped already." default:"read-only" enum:"read-only,none"`
	FreezeTimeout time.Duration `help:"Undo the cutover, unfreezing the sources, if it has not finished this long after the freeze (at most 100s)." default:"60s"`
	DryRun        bool          `help:"Do every check, the verification included, without freezing or changing anything."`
	Abort         bool          `help:"Make the sources writable again (after a cutover, or a node lost while they were frozen)."`
	Output        string        `short:"o" help:"Output format: table or json." default:"table" enum:"table,json"`
}

func (c *TaskCutoverCmd) Run(g *Globals) error {
	client, err := g.dial()
	if err != nil {
		return err
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	resp, err := client.Call(ctx, "task.cutover", &node.Request{Name: c.Name, Cutover: &node.Cutover{
		MaxLag: c.MaxLag, Freeze: c.Freeze, FreezeTimeout: c.FreezeTimeout, DryRun: c.DryRun, Abort: c.Abort}})
	if resp != nil && resp.Cutover != nil {
		if c.Output == "json" {
			if perr := printJSON(g.Out, resp.Cutover); perr != nil {
				return perr
			}
		} else {
			printCutover(g.Out, resp.Cutover)
		}
	}
	if err != nil {
		return fmt.Errorf("cutover of task %s: %w", c.Name, err)
	}
	return nil
}

// printCutover prints what a cutover did: per source the final and
// applied positions, per target table the rows, checksum and
// AUTO_INCREMENT, how long writes were frozen and the next step.
func printCutover(out io.Writer, r *node.CutoverReport) {
	switch {
	case r.Abort:
		fmt.Fprintf(out, "task %s: cutover aborted\n", r.Task)
	case r.Failed != "":
		fmt.Fprintf(out, "task %s: cutover FAILED after %s\n", r.Task, r.Took.Round(time.Millisecond))
	case r.DryRun:
		fmt.Fprintf(out, "task %s: cutover dry run passed in %s\n", r.Task, r.Took.Round(time.Millisecond))
	default:
		fmt.Fprintf(out, "task %s: cutover done in %s\n", r.Task, r.Took.Round(time.Millisecond))
	}
	if len(r.Sources) > 0 && !r.Abort {
		w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "SOURCE\tLAG\tFINAL POSITION\tAPPLIED")
		for _, s := range r.Sources {
			fmt.Fprintf(w, "%s\t%ds\t%s\t%s\n", s.Source, s.LagSecs, dash(s.Final), dash(s.Applied))
		}
		w.Flush()
	}
	if len(r.Tables) > 0 {
		w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "TARGET\tUPSTREAM\tROWS\tCHECKSUM\tAUTO_INCREMENT")
		for _, t := range r.Tables {
			ai := "-"
			if t.AutoIncColumn != "" {
				verb := "raised to"
				if r.DryRun {
					verb = "would be"
				}
				ai = fmt.Sprintf("%s: max %d, %s %d", t.AutoIncColumn, t.MaxID, verb, t.AutoIncrement)
			}
			fmt.Fprintf(w, "%s\t%d\t%d\t%016x\t%s\n", t.Target, t.Upstream, t.Rows, t.Checksum, ai)
		}
		w.Flush()
	}
	if r.Freeze == node.FreezeReadOnly && !r.DryRun && !r.Abort {
		fmt.Fprintf(out, "writes frozen for %s\n", r.Frozen.Round(time.Millisecond))
	}
	if r.Failed != "" {
		fmt.Fprintln(out, "failed: "+r.Failed)
		if r.Unfrozen {
			fmt.Fprintln(out, "the sources are writable again; the task goes on")
		}
	}
	if r.Next != "" {
		fmt.Fprintln(out, "next: "+r.Next)
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dmnode/dmnode/node"
)

type TaskStatusCmd struct {
	Name     string        `arg:"" optional:"" help:"Task name; all tasks when omitted."`
	Output   string        `short:"o" help:"Output format: table or json." default:"table" enum:"table,json"`
	Watch    bool          `short:"w" help:"Redraw every interval until interrupted."`
	Interval time.Duration `help:"Redraw interval of --watch." default:"1s"`
}

func (c *TaskStatusCmd) Run(g *Globals) error {
	if !c.Watch {
		tasks, err := c.fetch(g)
		if err != nil {
			return err
		}
		if c.Output == "json" {
			return printJSON(g.Out, map[string]any{"tasks": tasks})
		}
		printStatus(g.Out, tasks)
		return failedSource(tasks)
	}
	// A terminal gets the frame redrawn in place; anything else gets one
	// frame after the other.
	clear := isTerminal(g.Out)
	for {
		tasks, err := c.fetch(g)
		var b strings.Builder
		if clear {
			b.WriteString("\033[H\033[2J")
		}
		fmt.Fprintf(&b, "%s  (every %s, ctrl-c to stop)\n\n", time.Now().Format("15:04:05"), c.Interval)
		if err != nil {
			fmt.Fprintf(&b, "error: %v\n", err)
		} else {
			printStatus(&b, tasks)
		}
		if !clear {
			b.WriteString("\n")
		}
		io.WriteString(g.Out, b.String())
		time.Sleep(c.Interval)
	}
}

func (c *TaskStatusCmd) fetch(g *Globals) ([]node.TaskStatus, error) {
	resp, err := call(g, "task.status", &node.Request{Name: c.Name}, 30*time.Second)
	if err != nil {
		return nil, err
	}
	return resp.Tasks, nil
}

// failedSource is the error task status exits with: a source stopped on
// an error, or one whose relay a node cannot reach (JetStream down).
func failedSource(tasks []node.TaskStatus) error {
	for _, t := range tasks {
		for _, s := range t.Sources {
			if s.Stage == "error" {
				return fmt.Errorf("task %s: source %s stopped on an error", t.Name, s.Source)
			}
			if s.RelayUnavailable != "" {
				return fmt.Errorf("task %s: source %s: %s", t.Name, s.Source, s.RelayUnavailable)
			}
		}
	}
	return nil
}

// printStatus prints one table per task: per source its stage, progress
// (a bar with rows done and estimated while copying, row changes while
// replicating), rate, ETA, lag and binlog gap; then errors and next steps.
//
//	task merge (all, running)
//	SOURCE            STAGE  PROGRESS                           RATE         ETA  LAG  BEHIND
//	mysql-replica-01  load   [######--------------]  31%  6.2k/20k  4.1k rows/s  3s   -    -
//	mysql-replica-02  sync   ins 1.2k  upd 310  del 42          85 rows/s    -    0s   1.2 KiB
func printStatus(out io.Writer, tasks []node.TaskStatus) {
	for i, t := range tasks {
		if i > 0 {
			fmt.Fprintln(out)
		}
		fmt.Fprintf(out, "task %s (%s, %s)\n", t.Name, t.Mode, t.State)
		w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "SOURCE\tSTAGE\tPROGRESS\tRATE\tETA\tLAG\tBEHIND")
		for _, s := range t.Sources {
			progress, eta, lag, behind := "-", "-", "-", "-"
			copying := s.Stage == "dump" || s.Stage == "load"
			switch {
			case copying && s.RowsEstimated > 0:
				progress = fmt.Sprintf("%s %3.0f%%  %s/%s", bar(s.Percent, 20), s.Percent, count(s.RowsLoaded), count(s.RowsEstimated))
			case copying && s.ChunksTotal > 0:
				progress = fmt.Sprintf("chunks %d/%d, %s rows loaded", s.ChunksDone, s.ChunksTotal, count(s.RowsLoaded))
			case copying:
				progress = "taking the snapshot"
			case s.Stage == "done":
				progress = fmt.Sprintf("%s rows loaded", count(s.RowsLoaded))
			default:
				progress = fmt.Sprintf("ins %s  upd %s  del %s", count(s.RowsInserted), count(s.RowsUpdated), count(s.RowsDeleted))
				lag = fmt.Sprintf("%ds", s.LagSeconds)
				if s.GapBytes >= 0 {
					behind = size(s.GapBytes)
				}
				if s.RelayUnavailable != "" {
					// Progress cannot be read: the last figures are not
					// the current ones.
					progress, lag, behind = "? (relay unavailable)", "?", "?"
				}
			}
			if s.ETASeconds >= 0 {
				eta = (time.Duration(s.ETASeconds) * time.Second).String()
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s rows/s\t%s\t%s\t%s\n", s.Source, s.Stage, progress, count(int64(s.RowsPerSecond)), eta, lag, behind)
		}
		w.Flush()
		for _, s := range t.Sources {
			if s.Connections > 0 {
				fmt.Fprintf(out, "  %s writes with %d target connections: %s\n", s.Source, s.Connections, s.ConnectionsWhy)
			}
		}
		for _, s := range t.Sources {
			if s.RelayUnavailable != "" {
				fmt.Fprintf(out, "  %s %s\n", s.Source, s.RelayUnavailable)
			}
			if s.LastError != "" {
				fmt.Fprintf(out, "  %s last error (%s): %s\n", s.Source, s.LastErrorTime, s.LastError)
			}
			if s.InPieces != "" {
				fmt.Fprintf(out, "  %s: writing the transaction at %s in pieces in safe mode (the target refused it whole for its size)\n", s.Source, s.InPieces)
			}
			if s.PiecesTxns > 0 {
				fmt.Fprintf(out, "  %s: %d transaction(s) written in pieces because the target refused them whole, the last at %s\n", s.Source, s.PiecesTxns, s.PiecesLast)
			}
			for _, w := range s.Warnings {
				fmt.Fprintf(out, "  %s warning: %s\n", s.Source, w)
			}
			printValidatorLine(out, s) // validation.go
		}
		printShardStatus(out, t)
		for _, n := range t.Notes {
			fmt.Fprintf(out, "  note: %s\n", n)
		}
		next := map[string]bool{}
		for _, s := range t.Sources {
			if s.Next != "" && !next[s.Next] {
				next[s.Next] = true
				fmt.Fprintf(out, "  next: %s\n", s.Next)
			}
		}
	}
}

// bar draws a progress bar of width cells for pct percent.
func bar(pct float64, width int) string {
	done := min(width, max(0, int(pct/100*float64(width)+0.5)))
	return "[" + strings.Repeat("#", done) + strings.Repeat("-", width-done) + "]"
}

// count prints a number of rows briefly: 950, 12.3k, 4.5M.
func count(n int64) string {
	switch {
	case n >= 1_000_000:
		return fmt.Sprintf("%.1fM", float64(n)/1e6)
	case n >= 10_000:
		return fmt.Sprintf("%.0fk", float64(n)/1e3)
	case n >= 1_000:
		return fmt.Sprintf("%.1fk", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}

// size prints a number of bytes briefly.
func size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dmnode/dmnode/actors/verify"
	"github.com/dmnode/dmnode/node"
)

// TaskVerifyCmd runs a verification step by step: each request asks a node
// to work for --step-time and return the state, which the next request
// sends back. No request outlives the control API's timeout however long
// the tables are, any node can take any step, and the source passwords
// never leave the nodes.
type TaskVerifyCmd struct {
	Name      string        `arg:"" help:"Task name."`
	Output    string        `short:"o" help:"Output format: table or json." default:"table" enum:"table,json"`
	State     string        `help:"Keep the progress in this file after every step; a file an interrupted run left resumes it. Removed when the verification finishes." type:"path"`
	ChunkRows int           `help:"Rows compared at a time." default:"1000"`
	Fast      bool          `help:"Compare each chunk by one checksum per side; read its rows only when they differ."`
	StepTime  time.Duration `help:"How long a node works on one request before it reports progress." default:"20s"`
}

// notEqualError is returned when a verification finished and found
// differences or tables it could not verify.
type notEqualError struct{ msg string }

func (e *notEqualError) Error() string { return e.msg }

// ExitCode distinguishes "verified, not equal" from a failure to verify.
func (e *notEqualError) ExitCode() int { return exitNotEqual }

// exitNotEqual is the exit status of a verification that found
// differences; 1 means it could not run, 2 a usage error.
const exitNotEqual = 3

func (c *TaskVerifyCmd) Run(g *Globals) error {
	st, err := readVerifyState(c.State)
	if err != nil {
		return err
	}
	client, err := g.dial()
	if err != nil {
		return err
	}
	defer client.Close()
	opts := verify.Options{ChunkRows: c.ChunkRows, Fast: c.Fast, StepTime: c.StepTime}
	progress := isTerminal(g.Err)
	for st == nil || !st.Done() {
		// The node gives a request two minutes; a step takes StepTime
		// plus its last chunk.
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		resp, err := client.Call(ctx, "task.verify", &node.Request{Name: c.Name, Verify: &node.VerifyStep{Options: opts, State: st}})
		cancel()
		if resp != nil {
			for _, w := range resp.Warnings {
				fmt.Fprintln(g.Err, "warning:", w)
			}
			if resp.Verify != nil && resp.Verify.State != nil {
				st = resp.Verify.State
				if werr := writeVerifyState(c.State, st); werr != nil {
					return werr
				}
			}
		}
		if err != nil {
			if c.State != "" && st != nil {
				return fmt.Errorf("%w (progress is kept in %s: run the same command again to resume)", err, c.State)
			}
			return err
		}
		if progress {
			printVerifyProgress(g.Err, st.Report())
		}
	}
	if progress {
		fmt.Fprintln(g.Err)
	}
	if c.State != "" {
		if err := os.Remove(c.State); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	rep := st.Report()
	if c.Output == "json" {
		if err := printJSON(g.Out, rep); err != nil {
			return err
		}
	} else {
		printVerify(g.Out, rep)
	}
	if !rep.Equal {
		return &notEqualError{fmt.Sprintf("task %s: source and target are not verified equal", rep.Task)}
	}
	return nil
}

func readVerifyState(path string) (*verify.State, error) {
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var st verify.State
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("read verification state %s: %w (remove it to start over)", path, err)
	}
	return &st, nil
}

// writeVerifyState replaces the state file in one rename, so an
// interrupted write leaves the previous state.
func writeVerifyState(path string, st *verify.State) error {
	if path == "" {
		return nil
	}
	data, err := json.Marshal(st)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("write verification state: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write verification state: %w", err)
	}
	return nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func printVerifyProgress(w io.Writer, r *verify.Report) {
	done, rows := 0, int64(0)
	for _, t := range r.Tables {
		if t.Status != verify.StatusPending {
			done++
		}
		rows += t.RowsCompared
	}
	fmt.Fprintf(w, "\rverifying: %d/%d tables, %d rows compared", done, len(r.Tables), rows)
}

// printVerify prints a table per target table, the sampled keys of each
// kind of difference and a summary line.
func printVerify(out io.Writer, r *verify.Report) {
	ups := 0
	for _, t := range r.Tables {
		ups += len(t.Upstream)
	}
	took := ""
	if !r.Finished.IsZero() {
		took = fmt.Sprintf(" in %s", r.Finished.Sub(r.Started).Round(100*time.Millisecond))
	}
	fmt.Fprintf(out, "task %s: %s from %s, verified%s\n", r.Task, plural(len(r.Tables), "target table"), plural(ups, "upstream table"), took)
	if len(r.Tables) > 0 {
		w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "TARGET\tUPSTREAM\tCOMPARED\tFILTERED\tMISSING\tEXTRA\tDIFFERENT\tCHECKSUM\tSTATUS")
		for _, t := range r.Tables {
			fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%016x\t%s\n", t.Target, len(t.Upstream), t.RowsCompared, t.RowsFiltered,
				t.Missing, t.Extra, t.Different, t.Checksum, t.Status)
		}
		w.Flush()
	}
	for _, t := range r.Tables {
		printTableDetails(out, &t)
	}
	if len(r.Positions) > 0 {
		srcs := slices.Sorted(maps.Keys(r.Positions))
		parts := make([]string, len(srcs))
		for i, s := range srcs {
			parts[i] = s + " " + r.Positions[s]
		}
		fmt.Fprintf(out, "read at: %s (source and target, last step)\n", strings.Join(parts, ", "))
	}
	if r.MaxHeld > 0 {
		fmt.Fprintf(out, "replication held for at most %s per step while the snapshots were taken\n", r.MaxHeld.Round(time.Millisecond))
	}
	fmt.Fprintln(out, verifySummary(r))
}

func printTableDetails(out io.Writer, t *verify.TableReport) {
	var lines []string
	if t.Reason != "" {
		lines = append(lines, "skipped: "+t.Reason)
	}
	for _, s := range []struct {
		n     int64
		keys  [][]string
		label string
	}{
		{t.Missing, t.MissingKeys, "missing:  "},
		{t.Extra, t.ExtraKeys, "extra:    "},
		{t.Different, t.DifferentKeys, "different:"},
	} {
		if s.n == 0 {
			continue
		}
		line := s.label
		for _, k := range s.keys {
			line += " (" + strings.Join(k, ", ") + ")"
		}
		if s.n > int64(len(s.keys)) {
			line += fmt.Sprintf(" … %d more", s.n-int64(len(s.keys)))
		}
		lines = append(lines, line)
	}
	for _, n := range t.Notes {
		lines = append(lines, "note: "+n)
	}
	if len(lines) == 0 {
		return
	}
	if t.Keyless {
		fmt.Fprintf(out, "%s (no key; rows by their values of %s):\n", t.Target, strings.Join(t.KeyColumns, ", "))
	} else if len(t.KeyColumns) > 0 {
		fmt.Fprintf(out, "%s (key %s):\n", t.Target, strings.Join(t.KeyColumns, ", "))
	} else {
		fmt.Fprintf(out, "%s:\n", t.Target)
	}
	for _, l := range lines {
		fmt.Fprintln(out, "  "+l)
	}
}

func verifySummary(r *verify.Report) string {
	var differ, skipped, pending int
	var rows, miss, extra, diff int64
	for _, t := range r.Tables {
		switch t.Status {
		case verify.StatusDiffers:
			differ++
		case verify.StatusSkipped:
			skipped++
		case verify.StatusPending:
			pending++
		}
		rows, miss, extra, diff = rows+t.RowsCompared, miss+t.Missing, extra+t.Extra, diff+t.Different
	}
	switch {
	case len(r.Tables) == 0:
		return "summary: no table to verify: the task's rules match no upstream table"
	case r.Equal:
		return fmt.Sprintf("summary: equal: %s, %d rows compared", plural(len(r.Tables), "table"), rows)
	}
	s := fmt.Sprintf("summary: NOT EQUAL: differences in %d of %s (%d missing, %d extra, %d different rows; %d rows compared)",
		differ, plural(len(r.Tables), "table"), miss, extra, diff, rows)
	if skipped > 0 {
		s += fmt.Sprintf("; %s skipped", plural(skipped, "table"))
	}
	if pending > 0 {
		s += fmt.Sprintf("; %s not verified yet", plural(pending, "table"))
	}
	return s
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dmnode/dmnode/node"
)

// TaskCmd groups the task commands.
type TaskCmd struct {
	Check  TaskCheckCmd  `cmd:"" help:"Check a TiDB DM task.yaml against the sources and the target; prints each table's plan and id ranges."`
	Submit TaskSubmitCmd `cmd:"" help:"Check and start a task (or resume a stopped one with the same file)."`
	Status TaskStatusCmd `cmd:"" help:"Show the progress of one task or all."`
	List   TaskListCmd   `cmd:"" help:"List the tasks."`
	Stop   TaskStopCmd   `cmd:"" help:"Stop a task; its checkpoints are kept."`
	Wait   TaskWaitCmd   `cmd:"" help:"Wait until every source of a task reaches a stage."`

	DDLLocks TaskDDLLocksCmd `cmd:"" name:"ddl-locks" help:"List a sharded task's DDL locks: target table, DDL, shards arrived and missing."`
	DDLLock  TaskDDLLockCmd  `cmd:"" name:"ddl-lock" help:"Resolve a shard DDL lock by hand."`
	Skip     TaskSkipCmd     `cmd:"" help:"Skip the DDL the target rejected and go on."`
	Replace  TaskReplaceCmd  `cmd:"" help:"Run other statements instead of the DDL the target rejected, and go on."`
}

type TaskCheckCmd struct {
	File string `arg:"" help:"task.yaml; - reads standard input."`
}

func (c *TaskCheckCmd) Run(g *Globals) error {
	files, err := readFiles([]string{c.File})
	if err != nil {
		return err
	}
	return callAndReport(g, "task.check", &node.Request{Files: files}, 2*time.Minute)
}

type TaskSubmitCmd struct {
	File string `arg:"" help:"task.yaml; - reads standard input."`
}

func (c *TaskSubmitCmd) Run(g *Globals) error {
	files, err := readFiles([]string{c.File})
	if err != nil {
		return err
	}
	return callAndReport(g, "task.submit", &node.Request{Files: files}, 2*time.Minute)
}

type TaskStatusCmd struct {
	Name   string `arg:"" optional:"" help:"Task name; all tasks when omitted."`
	Output string `short:"o" help:"Output format: table or json." default:"table" enum:"table,json"`
}

func (c *TaskStatusCmd) Run(g *Globals) error {
	resp, err := call(g, "task.status", &node.Request{Name: c.Name}, 30*time.Second)
	if err != nil {
		return err
	}
	if c.Output == "json" {
		return printJSON(g.Out, map[string]any{"tasks": resp.Tasks})
	}
	printStatus(g.Out, resp.Tasks)
	for _, t := range resp.Tasks {
		for _, s := range t.Sources {
			if s.Stage == "error" {
				return fmt.Errorf("task %s: source %s stopped on an error", t.Name, s.Source)
			}
		}
	}
	return nil
}

func printStatus(out io.Writer, tasks []node.TaskStatus) {
	for i, t := range tasks {
		if i > 0 {
			fmt.Fprintln(out)
		}
		fmt.Fprintf(out, "task %s (%s, %s)\n", t.Name, t.Mode, t.State)
		w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "SOURCE\tSTAGE\tDUMPED\tLOADED\tCHUNKS\tSYNCED (ins/upd/del)\tAPPLIED\tUPSTREAM\tLAG")
		for _, s := range t.Sources {
			fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%d/%d\t%d/%d/%d\t%s\t%s\t%ds\n", s.Source, s.Stage, s.RowsDumped, s.RowsLoaded,
				s.ChunksDone, s.ChunksTotal, s.RowsInserted, s.RowsUpdated, s.RowsDeleted, s.Applied, s.Upstream, s.LagSeconds)
		}
		w.Flush()
		for _, s := range t.Sources {
			if s.LastError != "" {
				fmt.Fprintf(out, "  %s last error (%s): %s\n", s.Source, s.LastErrorTime, s.LastError)
			}
		}
		printShardStatus(out, t)
	}
}

type TaskListCmd struct{}

func (c *TaskListCmd) Run(g *Globals) error {
	resp, err := call(g, "task.list", &node.Request{}, 30*time.Second)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(g.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "TASK\tMODE\tSTATE\tSOURCES")
	for _, t := range resp.Tasks {
		stages := make([]string, 0, len(t.Sources))
		for _, s := range t.Sources {
			stages = append(stages, s.Source+":"+s.Stage)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", t.Name, t.Mode, t.State, strings.Join(stages, " "))
	}
	return w.Flush()
}

type TaskStopCmd struct {
	Name string `arg:"" help:"Task name."`
}

func (c *TaskStopCmd) Run(g *Globals) error {
	return callAndReport(g, "task.stop", &node.Request{Name: c.Name}, 30*time.Second)
}

type TaskWaitCmd struct {
	Name    string        `arg:"" help:"Task name."`
	Stage   string        `help:"Stage to wait for: load, sync or done." default:"sync" enum:"load,sync,done"`
	Timeout time.Duration `help:"Give up after this long." default:"10m"`
}

var stageRank = map[string]int{"dump": 1, "load": 2, "sync": 3, "done": 3}

func (c *TaskWaitCmd) Run(g *Globals) error {
	deadline := time.Now().Add(c.Timeout)
	var lastErr error
	for {
		resp, err := call(g, "task.status", &node.Request{Name: c.Name}, 30*time.Second)
		if err != nil {
			// A node restarting or an election in progress: keep
			// waiting, and say why if the time runs out.
			if time.Now().After(deadline) {
				return fmt.Errorf("task %s: stage %s not reached within %s; last error: %w", c.Name, c.Stage, c.Timeout, err)
			}
			if lastErr == nil || lastErr.Error() != err.Error() {
				fmt.Fprintln(g.Err, "waiting:", err)
			}
			lastErr = err
			time.Sleep(time.Second)
			continue
		}
		reached, err := stageReached(resp.Tasks, c.Stage)
		if err != nil || reached {
			if reached {
				fmt.Fprintf(g.Out, "task %s: every source reached stage %s\n", c.Name, c.Stage)
			}
			return err
		}
		if time.Now().After(deadline) {
			printStatus(g.Err, resp.Tasks)
			return fmt.Errorf("task %s: stage %s not reached within %s", c.Name, c.Stage, c.Timeout)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func stageReached(tasks []node.TaskStatus, stage string) (bool, error) {
	if len(tasks) != 1 {
		return false, errors.New("task not found")
	}
	for _, s := range tasks[0].Sources {
		switch s.Stage {
		case "error":
			return false, fmt.Errorf("source %s stopped on an error: %s", s.Source, s.LastError)
		case "stopped":
			return false, fmt.Errorf("task %s is stopped", tasks[0].Name)
		}
		if stageRank[s.Stage] < stageRank[stage] {
			return false, nil
		}
	}
	return true, nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

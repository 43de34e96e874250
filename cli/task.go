package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dmnode/dmnode/actors/precheck"
	"github.com/dmnode/dmnode/node"
)

// TaskCmd groups the task commands.
type TaskCmd struct {
	Check   TaskCheckCmd   `cmd:"" help:"Check a TiDB DM task.yaml against the sources and the target: DM's prechecks, each finding with its fix, and each table's plan and id ranges."`
	Submit  TaskSubmitCmd  `cmd:"" help:"Check and start a task (or resume a stopped one with the same file); precheck errors block it."`
	Start   TaskStartCmd   `cmd:"" help:"Like submit; --remove-meta first removes what an earlier task of the same name left, for a fresh start."`
	Status  TaskStatusCmd  `cmd:"" help:"Show the progress of one task or all."`
	List    TaskListCmd    `cmd:"" help:"List the tasks."`
	Pause   TaskPauseCmd   `cmd:"" help:"Pause a task at a transaction boundary; its binlog is still relayed."`
	Resume  TaskResumeCmd  `cmd:"" help:"Resume a paused or stopped task from its checkpoints."`
	Stop    TaskStopCmd    `cmd:"" help:"Stop a task; its checkpoints are kept."`
	Delete  TaskDeleteCmd  `cmd:"" help:"Delete a paused or stopped task; --purge removes its checkpoints too."`
	Update  TaskUpdateCmd  `cmd:"" help:"Change a task's filters and unit settings in place; other changes are refused with the keys named."`
	Wait    TaskWaitCmd    `cmd:"" help:"Wait until every source of a task reaches a stage."`
	Verify  TaskVerifyCmd  `cmd:"" help:"Compare source and target tables, with the task's rules applied, chunk by chunk; exits 3 when they differ."`
	Cutover TaskCutoverCmd `cmd:"" help:"End a migration: freeze the sources' writes, wait for the target, verify, raise AUTO_INCREMENTs and stop the task."`

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
	return callAndReportFindings(g, "task.check", &node.Request{Files: files})
}

type TaskSubmitCmd struct {
	File string `arg:"" help:"task.yaml; - reads standard input."`
}

func (c *TaskSubmitCmd) Run(g *Globals) error {
	files, err := readFiles([]string{c.File})
	if err != nil {
		return err
	}
	return callAndReportFindings(g, "task.submit", &node.Request{Files: files})
}

// callAndReportFindings calls task.check or task.submit and prints the
// precheck's findings, then the report. An error finding fails the call.
func callAndReportFindings(g *Globals, method string, req *node.Request) error {
	resp, err := call(g, method, req, 2*time.Minute)
	if resp != nil {
		printFindings(g.Out, resp.Findings)
		printLines(g.Out, resp.Report)
	}
	return err
}

// printFindings prints precheck findings grouped by source, then those of
// merged tables, then the target's: a line with severity, item and
// message, and a line with the fix.
//
//	source mysql-replica-01:
//	  error   binlog_format: binlog_format is STATEMENT: ...
//	          fix: run SET GLOBAL binlog_format = 'ROW' ...
func printFindings(w io.Writer, fs []precheck.Finding) {
	group := func(f precheck.Finding) string {
		switch {
		case f.Target:
			return "target"
		case f.Source == "":
			return "merged tables"
		}
		return "source " + f.Source
	}
	var order []string
	byGroup := map[string][]precheck.Finding{}
	for _, f := range fs {
		k := group(f)
		if byGroup[k] == nil {
			order = append(order, k)
		}
		byGroup[k] = append(byGroup[k], f)
	}
	// Sources first, in the order found; then merged tables; then the target.
	rank := func(k string) int {
		switch k {
		case "merged tables":
			return 1
		case "target":
			return 2
		}
		return 0
	}
	slices.SortStableFunc(order, func(a, b string) int { return rank(a) - rank(b) })
	for _, k := range order {
		fmt.Fprintf(w, "%s:\n", k)
		for _, f := range byGroup[k] {
			fmt.Fprintf(w, "  %-7s %s: %s\n", f.Severity, f.Item, f.Message)
			fmt.Fprintf(w, "          fix: %s\n", f.Fix)
		}
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

package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dmnode/dmnode/core/catalog"
	"github.com/dmnode/dmnode/core/shardddl"
	"github.com/dmnode/dmnode/node"
)

type TaskDDLLocksCmd struct {
	Name   string `arg:"" help:"Task name."`
	Output string `short:"o" help:"Output format: table or json." default:"table" enum:"table,json"`
}

func (c *TaskDDLLocksCmd) Run(g *Globals) error {
	resp, err := call(g, "task.ddl-locks", &node.Request{Name: c.Name}, 30*time.Second)
	if err != nil {
		return err
	}
	sl := resp.ShardLocks
	if sl == nil {
		return fmt.Errorf("task %s: no answer about its locks", c.Name)
	}
	if c.Output == "json" {
		return printJSON(g.Out, sl)
	}
	if sl.Mode == "" {
		fmt.Fprintf(g.Out, "task %s coordinates no shard DDL (no shard-mode, or no source has registered its tables yet)\n", c.Name)
	} else {
		fmt.Fprintf(g.Out, "task %s (shard-mode %s), sources registered: %s\n", c.Name, sl.Mode, strings.Join(sl.Registered, ", "))
	}
	if len(sl.Locks) == 0 && sl.Mode != "" {
		fmt.Fprintln(g.Out, "no DDL is held")
	}
	if len(sl.Locks) > 0 {
		w := tabwriter.NewWriter(g.Out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "LOCK\tTARGET\tSTATE\tDDL\tARRIVED\tMISSING\tCONFLICTS")
		for _, l := range sl.Locks {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", l.ID, l.Target, l.State, strings.Join(l.DDLs, "; "),
				shards(l.Arrived), orDash(strings.Join(l.Missing, " ")), shards(l.Conflicts))
		}
		w.Flush()
		for _, l := range sl.Locks {
			for _, cf := range l.Conflicts {
				fmt.Fprintf(g.Out, "  %s at %s: %s %s\n", cf.Member, cf.Pos, strings.Join(cf.DDLs, "; "), cf.Reason)
			}
		}
		fmt.Fprintf(g.Out, "resolve by hand: dmnode task ddl-lock unlock %s LOCK --action exec|skip [--member SOURCE:SCHEMA.TABLE]\n", c.Name)
	}
	printRejected(g.Out, c.Name, sl.Rejected)
	return nil
}

func shards(ss []shardddl.ShardStatus) string {
	var out []string
	for _, s := range ss {
		out = append(out, s.Member)
	}
	return orDash(strings.Join(out, " "))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

type TaskDDLLockCmd struct {
	Unlock TaskDDLUnlockCmd `cmd:"" help:"Release a lock: exec runs its DDL once, skip runs nothing; the held shards go on."`
}

type TaskDDLUnlockCmd struct {
	Name   string `arg:"" help:"Task name."`
	Lock   string `arg:"" help:"Lock id as ddl-locks prints it, or the target table as schema.table."`
	Action string `help:"exec: run the held DDL once on the target; skip: run nothing (the target was changed by hand)." required:"" enum:"exec,skip"`
	Member string `help:"pessimistic: the shard (source:schema.table) whose DDL runs; optimistic: the only held shard to release."`
}

func (c *TaskDDLUnlockCmd) Run(g *Globals) error {
	req := &node.Request{Name: c.Name, Shard: &node.ShardRequest{Lock: c.Lock, Action: c.Action, Member: c.Member}}
	return callAndReport(g, "task.ddl-unlock", req, 30*time.Second)
}

type TaskSkipCmd struct {
	Name   string `arg:"" help:"Task name."`
	Source string `help:"Source whose rejected DDL is skipped (needed when several are paused or quarantined)."`
	Table  string `help:"Quarantined target table (schema.table) whose DDL is skipped (needed when several are)."`
}

func (c *TaskSkipCmd) Run(g *Globals) error {
	return callAndReport(g, "task.skip", &node.Request{Name: c.Name, Shard: &node.ShardRequest{Source: c.Source, Table: c.Table}}, 30*time.Second)
}

type TaskReplaceCmd struct {
	Name   string   `arg:"" help:"Task name."`
	SQL    []string `name:"sql" required:"" sep:"none" help:"Statement to run on the target instead (repeat for several, in order)."`
	Source string   `help:"Source whose rejected DDL is replaced (needed when several are paused or quarantined)."`
	Table  string   `help:"Quarantined target table (schema.table) whose DDL is replaced (needed when several are)."`
}

func (c *TaskReplaceCmd) Run(g *Globals) error {
	req := &node.Request{Name: c.Name, Shard: &node.ShardRequest{Source: c.Source, Table: c.Table, SQL: c.SQL}}
	return callAndReport(g, "task.replace", req, 30*time.Second)
}

// printShardStatus adds to task status the DDLs a task waits on, with the
// way out.
func printShardStatus(out io.Writer, t node.TaskStatus) {
	for _, l := range t.ShardLocks {
		var missing []string
		missing = append(missing, l.Missing...)
		fmt.Fprintf(out, "  shard DDL lock %s (%s): %s", l.ID, l.State, strings.Join(l.DDLs, "; "))
		if len(missing) > 0 {
			fmt.Fprintf(out, "; waiting for %s", strings.Join(missing, ", "))
		}
		fmt.Fprintln(out)
		for _, cf := range l.Conflicts {
			fmt.Fprintf(out, "    conflict: %s at %s runs %s\n", cf.Member, cf.Pos, strings.Join(cf.DDLs, "; "))
		}
		if l.State == "conflict" || len(l.Conflicts) > 0 {
			fmt.Fprintf(out, "    way out: dmnode task ddl-locks %s; dmnode task ddl-lock unlock %s '%s' --action exec|skip\n", t.Name, t.Name, l.ID)
		}
	}
	printRejected(out, t.Name, t.Rejected)
	printQuarantined(out, t.Name, t.Quarantined)
}

// printQuarantined prints the tables held at a rejected DDL, with the ways
// out.
func printQuarantined(out io.Writer, task string, q []catalog.RejectedDDL) {
	for _, r := range q {
		fmt.Fprintf(out, "  table %s is quarantined (source %s, at %s; the other tables go on): %s\n", r.Table, r.Source, r.Pos, strings.Join(r.Stmts, "; "))
		fmt.Fprintf(out, "    reason: %s\n", r.Error)
		fmt.Fprintf(out, "    way out: dmnode task skip %s --source %s --table %s; or dmnode task replace %s --source %s --table %s --sql \"...\"; or fix the target, then dmnode task pause %s and dmnode task resume %s to try the DDL again\n",
			task, r.Source, r.Table, task, r.Source, r.Table, task, task)
	}
}

func printRejected(out io.Writer, task string, rejected []catalog.RejectedDDL) {
	for _, r := range rejected {
		if r.Table != "" {
			printQuarantined(out, task, []catalog.RejectedDDL{r})
			continue
		}
		fmt.Fprintf(out, "  source %s is paused: the target rejected %s at %s: %s\n", r.Source, strings.Join(r.Stmts, "; "), r.Pos, r.Error)
		fmt.Fprintf(out, "    way out: dmnode task skip %s --source %s, or dmnode task replace %s --source %s --sql \"...\"\n", task, r.Source, task, r.Source)
	}
}

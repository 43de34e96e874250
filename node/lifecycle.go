package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dmnode/dmnode/actors"
	"github.com/dmnode/dmnode/core/catalog"
	"github.com/dmnode/dmnode/core/config"
	"github.com/dmnode/dmnode/core/plan"
)

// A task's actors stop at a transaction boundary whichever way it is
// halted: an applier commits the target rows of whole upstream
// transactions together with its checkpoint, so a cancelled one leaves the
// target at the last boundary it committed.

func (n *control) apiTaskPause(ctx context.Context, req *Request) (*Response, error) {
	if err := n.setDesired(ctx, req.Name, catalog.Paused); err != nil {
		return nil, err
	}
	return &Response{Report: []string{
		"task " + req.Name + " paused: its appliers and loaders stop at a transaction boundary; the binlog is still relayed",
		"next: dmnode task resume " + req.Name,
	}}, nil
}

func (n *control) apiTaskResume(ctx context.Context, req *Request) (*Response, error) {
	if err := n.setDesired(ctx, req.Name, catalog.Running); err != nil {
		return nil, err
	}
	return &Response{Report: []string{"task " + req.Name + " resumed from its checkpoints"}}, nil
}

func (n *control) apiTaskStop(ctx context.Context, req *Request) (*Response, error) {
	if err := n.setDesired(ctx, req.Name, catalog.Stopped); err != nil {
		return nil, err
	}
	return &Response{Report: []string{
		"task " + req.Name + " stopped; its checkpoints are kept",
		"next: dmnode task resume " + req.Name + ", or dmnode task delete " + req.Name + " [--purge]",
	}}, nil
}

func (n *control) setDesired(ctx context.Context, name, desired string) error {
	if _, ok := n.fsm.State().Tasks[name]; !ok {
		return fmt.Errorf("no task %q: dmnode task list shows the tasks", name)
	}
	return n.propose(ctx, catalog.Command{Op: catalog.OpSetDesired, Name: name, Desired: desired})
}

// apiTaskUpdate replaces a task's file when only settings that may change
// in place differ (filters, unit settings) and restarts its actors with
// it; any other difference is refused, naming the keys.
func (n *control) apiTaskUpdate(ctx context.Context, req *Request) (*Response, error) {
	if len(req.Files) != 1 {
		return nil, errors.New("give exactly one task file")
	}
	f := req.Files[0]
	np, err := plan.Decode(f.Name, []byte(f.Data))
	if err != nil {
		return nil, err
	}
	nt := np.Task
	t, ok := n.fsm.State().Tasks[nt.Name]
	if !ok {
		return nil, fmt.Errorf("no task %q to update: submit it instead", nt.Name)
	}
	old, err := plan.Of(t)
	if err != nil {
		return nil, fmt.Errorf("decode task %q: %w", t.Name, err)
	}
	if keys := config.UpdateRefused(old.Task, nt); len(keys) > 0 {
		return nil, &config.RefusedUpdateError{Task: t.Name, Keys: keys}
	}
	sealed, err := n.sealFile(f)
	if err != nil {
		return nil, err
	}
	c := catalog.Command{Op: catalog.OpUpdateTask, Task: &catalog.Task{Name: t.Name, File: f.Name, YAML: sealed}}
	if err := n.propose(ctx, c); err != nil {
		return nil, err
	}
	return &Response{Warnings: nt.Warnings, Report: []string{
		"task " + t.Name + " updated; its actors restart with the new file from their checkpoints",
	}}, nil
}

// apiTaskDelete removes a paused or stopped task from the catalog; with
// Purge it first removes its checkpoints, snapshot stream and target
// metadata, once none of its actors is placed any more.
func (n *control) apiTaskDelete(ctx context.Context, req *Request) (*Response, error) {
	t, ok := n.fsm.State().Tasks[req.Name]
	if !ok {
		return nil, fmt.Errorf("no task %q: dmnode task list shows the tasks", req.Name)
	}
	if t.Desired == catalog.Running {
		return nil, fmt.Errorf("task %q is running: stop it first (dmnode task stop %s)", req.Name, req.Name)
	}
	report := []string{"task " + req.Name + " deleted"}
	if req.Purge {
		if err := n.waitUnplaced(ctx, req.Name); err != nil {
			return nil, err
		}
		p, err := plan.Of(t)
		if err != nil {
			return nil, fmt.Errorf("decode task %q: %w", req.Name, err)
		}
		if err := actors.PurgeTask(ctx, n.store, p.Task.TargetDatabase, req.Name, t.SortedSources()); err != nil {
			return nil, fmt.Errorf("purge task %q: %w", req.Name, err)
		}
		report[0] += " with its checkpoints, snapshot stream and target metadata"
	} else {
		report[0] += "; its checkpoints are kept: a task submitted under this name must start with --remove-meta"
	}
	if err := n.propose(ctx, catalog.Command{Op: catalog.OpDeleteTask, Name: req.Name}); err != nil {
		return nil, err
	}
	return &Response{Report: report}, nil
}

// waitUnplaced waits until no actor of the task is assigned to a node, and
// a moment more for the nodes to stop them.
func (n *control) waitUnplaced(ctx context.Context, task string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		placed := ""
		for id := range n.fsm.State().Assign {
			if a, ok := catalog.ParseActorID(id); ok && a.Task == task {
				placed = id
			}
		}
		if placed == "" {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("actor %s of task %s is still placed after 30s; try again", placed, task)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	// Hosts cancel their actors within a reconcile tick of the change.
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(2 * time.Second):
	}
	return nil
}

// prepareNewTask refuses a new task whose name has checkpoints on the
// target from an earlier task, unless removeMeta asks to remove them (and
// any the cluster still holds) first.
func (n *control) prepareNewTask(ctx context.Context, task *config.Task, sources []string, removeMeta bool) error {
	if _, ok := n.fsm.State().Tasks[task.Name]; ok {
		if removeMeta {
			return fmt.Errorf("task %q exists: --remove-meta starts a new task only; delete this one first (dmnode task stop %s; dmnode task delete %s --purge)", task.Name, task.Name, task.Name)
		}
		return nil
	}
	if removeMeta {
		return actors.PurgeTask(ctx, n.store, task.TargetDatabase, task.Name, sources)
	}
	left, err := actors.TargetCheckpoints(ctx, task.TargetDatabase, task.Name)
	if err != nil {
		return err
	}
	if left > 0 {
		return errors.New("the target holds checkpoints of an earlier task named " + task.Name +
			" (deleted without --purge); to start this one afresh: dmnode task start FILE --remove-meta")
	}
	return nil
}

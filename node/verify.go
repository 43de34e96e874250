package node

import (
	"context"
	"errors"
	"fmt"

	"github.com/dmnode/dmnode/actors"
	"github.com/dmnode/dmnode/actors/verify"
	"github.com/dmnode/dmnode/core/catalog"
	"github.com/dmnode/dmnode/core/plan"
)

// VerifyStep carries a verification between the CLI and a node
// (task.verify). The request holds the options and the state the previous
// step returned (none to start); the response holds the new state. The
// state travels with every request, so whichever node answers takes the
// next step, no step outlives the control API's request timeout, and
// nothing is kept on the node. The source passwords verification needs
// stay on the node.
type VerifyStep struct {
	Options verify.Options `json:"options"`
	State   *verify.State  `json:"state,omitempty"`
}

// apiTaskVerify takes one step of the verification of a task (see package
// verify). The response carries the state also when the step failed, so
// the caller keeps the progress made.
func (n *control) apiTaskVerify(ctx context.Context, req *Request) (*Response, error) {
	step := req.Verify
	if step == nil {
		step = &VerifyStep{}
	}
	in, err := n.verifyInput(req.Name)
	if err != nil {
		return nil, err
	}
	state, err := verify.Step(ctx, in, step.State, step.Options)
	return &Response{Verify: &VerifyStep{Options: step.Options, State: state}}, err
}

// verifyInput is what a verification of the task reads: its file, its
// sources, and the appliers to hold at the sources' positions (those of a
// running task; a paused or stopped task's target is compared as it
// stands).
func (n *control) verifyInput(name string) (verify.Input, error) {
	st := n.fsm.State()
	t, ok := st.Tasks[name]
	if !ok {
		return verify.Input{}, errors.New("task " + name + " not found")
	}
	for _, src := range t.SortedSources() {
		if stage := t.Sources[src].Stage; stage == catalog.StageDump || stage == catalog.StageLoad {
			return verify.Input{}, fmt.Errorf("task %s: source %s is still in stage %s; verify once every source is in stage sync (or done)", t.Name, src, stage)
		}
	}
	p, err := plan.Of(t)
	if err != nil {
		return verify.Input{}, fmt.Errorf("decode task %s: %w", t.Name, err)
	}
	task := p.Task
	if !n.storeReady.Load() {
		return verify.Input{}, errors.New("jetstream is not available yet: the appliers cannot be held for a verification")
	}
	in := verify.Input{Task: task, Spec: t.YAML, Sources: map[string]*plan.Source{}, Log: n.log.With("task", t.Name, "component", "verify"),
		Hold: actors.Holds{Store: n.store, Task: t.Name}}
	for _, inst := range task.MySQLInstances {
		s, ok := st.Sources[inst.SourceID]
		if !ok {
			return verify.Input{}, fmt.Errorf("task %s: source %s is not in the catalog", t.Name, inst.SourceID)
		}
		if in.Sources[inst.SourceID], err = p.Source(s); err != nil {
			var se *plan.SourceError
			if errors.As(err, &se) && se.Op == plan.OpDecode {
				return verify.Input{}, fmt.Errorf("decode source %s: %w", inst.SourceID, se.Err)
			}
			return verify.Input{}, plan.Cause(err)
		}
		if t.Desired == catalog.Running && t.Sources[inst.SourceID].Stage == catalog.StageSync {
			in.HoldSources = append(in.HoldSources, inst.SourceID)
		}
	}
	return in, nil
}

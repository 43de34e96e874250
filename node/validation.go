package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dmnode/dmnode/actors"
	"github.com/dmnode/dmnode/core/catalog"
	"github.com/dmnode/dmnode/core/plan"
	"github.com/dmnode/dmnode/jetstream"
)

// ValidationRequest carries the arguments of the validation methods.
type ValidationRequest struct {
	// ErrorState selects the errors validation.show-error lists: all,
	// unprocessed, ignored or resolved.
	ErrorState string `json:"error_state,omitempty"`
	// ErrorID names the error validation.clear-error (and ignore-error,
	// resolve-error) acts on; All acts on every error.
	ErrorID int64 `json:"error_id,omitempty"`
	All     bool  `json:"all,omitempty"`
}

// ValidationStatus is the continuous validator of one task and source, as
// validation status and task status show it.
type ValidationStatus struct {
	Source string `json:"source"`
	Mode   string `json:"mode"` // fast | full
	// Running while the task replicates (stage sync, not paused);
	// Stopped after validation stop, until validation start.
	Running  bool   `json:"running"`
	Stopped  bool   `json:"stopped"`
	Position string `json:"position"` // every change up to it is settled
	Read     string `json:"read"`     // the last transaction read
	Checked  int64  `json:"rows_checked"`
	Pending  int64  `json:"rows_pending"`
	Skipped  int64  `json:"rows_skipped"`
	// Gaps counts the stretches of binlog purged from the relay before the
	// validator read them, whose rows were not compared; GapEnd is where
	// the last one ended.
	Gaps   int64  `json:"relay_gaps,omitempty"`
	GapEnd string `json:"relay_gap_end,omitempty"`
	// Errors counts the errors kept and not settled; ErrorsTotal every
	// error ever found.
	Errors      int64 `json:"errors"`
	ErrorsTotal int64 `json:"errors_total"`
	// ErrorList answers validation.show-error.
	ErrorList []actors.ValidationError `json:"error_list,omitempty"`
	Updated   string                   `json:"updated,omitempty"`
	// LastError is the validator's own last failure (it is retried).
	LastError string `json:"last_error,omitempty"`
}

// taskValidators returns the sources of a task with a validator and their
// mode (the plan computes it once per task version; placement asks every
// second). A file that no longer decodes has none.
func taskValidators(t *catalog.Task) map[string]string {
	p, err := plan.Of(t)
	if err != nil {
		return nil
	}
	return p.Validators()
}

// withValidators adds to the desired actors a validator beside every
// applier of a task whose validator mode is fast or full.
func withValidators(st *catalog.State, desired []catalog.ActorSpec) []catalog.ActorSpec {
	n := len(desired)
	for _, a := range desired[:n] {
		if a.Kind != catalog.KindApply {
			continue
		}
		if t := st.Tasks[a.Task]; t != nil && taskValidators(t)[a.Source] != "" {
			desired = append(desired, catalog.ActorSpec{Kind: actors.KindValidate, Task: a.Task, Source: a.Source})
		}
	}
	if len(desired) > n {
		sort.Slice(desired, func(i, j int) bool { return desired[i].ID() < desired[j].ID() })
	}
	return desired
}

// validationOf reads the validator states of a task, one per source with a
// validator; withErrors selects the errors to list.
func (n *control) validationOf(ctx context.Context, st *catalog.State, t *catalog.Task, withErrors func(actors.ValidationError) bool) ([]ValidationStatus, error) {
	modes := taskValidators(t)
	var out []ValidationStatus
	for _, src := range t.SortedSources() {
		if modes[src] == "" {
			continue
		}
		s, err := n.validatorStatus(ctx, st, t.Name, src, modes[src], withErrors)
		if err != nil {
			return nil, err
		}
		out = append(out, *s)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("task %s has no validator: set validators with mode fast or full and a validator-config-name in its mysql-instances", t.Name)
	}
	return out, nil
}

// validatorStatus reads the validator state of a task and source.
func (n *control) validatorStatus(ctx context.Context, st *catalog.State, task, src, mode string, withErrors func(actors.ValidationError) bool) (*ValidationStatus, error) {
	var vs actors.ValidatorState
	if _, err := n.progress.Load(ctx, actors.ValidatorKey(task, src), &vs); err != nil {
		return nil, err
	}
	s := &ValidationStatus{Source: src, Mode: mode, Checked: vs.Checked, Pending: vs.Pending, Skipped: vs.Skipped,
		Gaps: vs.Gaps, Errors: vs.Unresolved(), ErrorsTotal: vs.ErrorsTotal, Stopped: vs.Stopped}
	if vs.Gaps > 0 {
		s.GapEnd = vs.GapEnd.String()
	}
	if !vs.Position.IsZero() {
		s.Position = vs.Position.String()
	}
	if !vs.Read.IsZero() {
		s.Read = vs.Read.String()
	}
	if !vs.Updated.IsZero() {
		s.Updated = vs.Updated.Format(time.RFC3339)
	}
	spec := catalog.ActorSpec{Kind: actors.KindValidate, Task: task, Source: src}
	_, s.Running = st.Assign[spec.ID()]
	var ae ActorError
	if _, err := n.progress.Load(ctx, jetstream.ErrorKey(spec.Kind, task, src), &ae); err == nil && ae.Error != "" {
		s.LastError = ae.Error
	}
	if withErrors != nil {
		for _, e := range vs.Errors {
			if withErrors(e) {
				s.ErrorList = append(s.ErrorList, e)
			}
		}
	}
	return s, nil
}

func (n *control) validationTask(req *Request) (*catalog.State, *catalog.Task, error) {
	st := n.fsm.State()
	t, ok := st.Tasks[req.Name]
	if !ok {
		return nil, nil, fmt.Errorf("no task %q: dmnode task list shows the tasks", req.Name)
	}
	return st, t, nil
}

func (n *control) apiValidationStatus(ctx context.Context, req *Request) (*Response, error) {
	st, t, err := n.validationTask(req)
	if err != nil {
		return nil, err
	}
	vs, err := n.validationOf(ctx, st, t, nil)
	if err != nil {
		return nil, err
	}
	return &Response{Validation: vs}, nil
}

func (n *control) apiValidationShowError(ctx context.Context, req *Request) (*Response, error) {
	st, t, err := n.validationTask(req)
	if err != nil {
		return nil, err
	}
	state := "all"
	if req.Validation != nil && req.Validation.ErrorState != "" {
		state = req.Validation.ErrorState
	}
	if !slices.Contains([]string{"all", actors.ValidationUnprocessed, actors.ValidationIgnored, actors.ValidationResolved}, state) {
		return nil, fmt.Errorf("--error-state %q: must be all, unprocessed, ignored or resolved", state)
	}
	vs, err := n.validationOf(ctx, st, t, func(e actors.ValidationError) bool { return state == "all" || e.State == state })
	if err != nil {
		return nil, err
	}
	return &Response{Validation: vs}, nil
}

// apiValidationChange clears (removes), ignores or resolves errors.
func (n *control) apiValidationChange(op string) handler {
	return func(ctx context.Context, req *Request) (*Response, error) {
		st, t, err := n.validationTask(req)
		if err != nil {
			return nil, err
		}
		v := req.Validation
		if v == nil || (v.ErrorID <= 0 && !v.All) || (v.ErrorID > 0 && v.All) {
			return nil, errors.New("give either --error-id N or --all")
		}
		vs, err := n.validationOf(ctx, st, t, nil)
		if err != nil {
			return nil, err
		}
		changed := 0
		for _, s := range vs {
			var c int
			_, err := actors.UpdateValidatorState(ctx, n.store, t.Name, s.Source, func(st *actors.ValidatorState) error {
				c = 0
				kept := st.Errors[:0]
				for _, e := range st.Errors {
					if v.All || e.ID == v.ErrorID {
						c++
						switch op {
						case "clear":
							continue
						case "ignore":
							e.State = actors.ValidationIgnored
						case "resolve":
							e.State = actors.ValidationResolved
						}
					}
					kept = append(kept, e)
				}
				st.Errors = kept
				return nil
			})
			if err != nil {
				return nil, err
			}
			changed += c
		}
		if v.ErrorID > 0 && changed == 0 {
			return nil, fmt.Errorf("task %s has no validation error %d: dmnode validation show-error %s lists them", t.Name, v.ErrorID, t.Name)
		}
		verb := map[string]string{"clear": "cleared", "ignore": "ignored", "resolve": "resolved"}[op]
		return &Response{Report: []string{fmt.Sprintf("%d validation error(s) of task %s %s", changed, t.Name, verb)}}, nil
	}
}

var (
	descValidatorErrors = prometheus.NewDesc("dmnode_validator_errors",
		"Rows a task's continuous validator found different on the target for longer than row-error-delay and that are neither ignored nor resolved (dmnode validation show-error). Exported by the Raft leader.",
		[]string{"task", "source"}, nil)
	descValidatorRows = prometheus.NewDesc("dmnode_validator_rows",
		"Row changes a task's continuous validator compared equal (checked) and waiting to be compared (pending). Exported by the Raft leader.",
		[]string{"task", "source", "state"}, nil)
)

// collectValidator exports a source's validator figures, if it has one.
func collectValidator(ch chan<- prometheus.Metric, task string, ss SourceStatus) {
	v := ss.Validator
	if v == nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(descValidatorErrors, prometheus.GaugeValue, float64(v.Errors), task, ss.Source)
	ch <- prometheus.MustNewConstMetric(descValidatorRows, prometheus.GaugeValue, float64(v.Checked), task, ss.Source, "checked")
	ch <- prometheus.MustNewConstMetric(descValidatorRows, prometheus.GaugeValue, float64(v.Pending), task, ss.Source, "pending")
}

// apiValidationStartStop stops a task's validators, which keep their
// place, or starts them again. The validators are those the task file
// asks for; DM's start of a validator the file does not name (--mode,
// --start-time) is not supported.
func (n *control) apiValidationStartStop(stop bool) handler {
	return func(ctx context.Context, req *Request) (*Response, error) {
		st, t, err := n.validationTask(req)
		if err != nil {
			return nil, err
		}
		vs, err := n.validationOf(ctx, st, t, nil)
		if err != nil {
			return nil, err
		}
		for _, s := range vs {
			if _, err := actors.UpdateValidatorState(ctx, n.store, t.Name, s.Source, func(st *actors.ValidatorState) error {
				st.Stopped = stop
				return nil
			}); err != nil {
				return nil, err
			}
		}
		verb := "started"
		if stop {
			verb = "stopped"
		}
		return &Response{Report: []string{fmt.Sprintf("validator of task %s %s on %d source(s)", t.Name, verb, len(vs))}}, nil
	}
}

package node

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/actors"
	"github.com/dmnode/dmnode/actors/precheck"
	"github.com/dmnode/dmnode/core/catalog"
	"github.com/dmnode/dmnode/core/config"
	"github.com/dmnode/dmnode/core/plan"
	"github.com/dmnode/dmnode/core/rules"
)

// checkSourceReachable connects to a source and checks that it writes a
// binlog dmnode can read.
func (n *control) checkSourceReachable(ctx context.Context, src *config.Source) error {
	db, err := n.dialDB(ctx, src.From, 1)
	if err != nil {
		return err
	}
	defer db.Close()
	fs, err := precheck.Binlog(ctx, db)
	if err != nil {
		return err
	}
	var errs []error
	for _, f := range fs {
		errs = append(errs, errors.New(f.String()))
	}
	return errors.Join(errs...)
}

// checkedTask is what task check found in a task file.
type checkedTask struct {
	task     *config.Task
	report   []string
	findings []precheck.Finding
	sources  map[string]*catalog.TaskSource
}

// checkTask decodes a task file and checks it against the catalog, the
// sources and the target before any data moves: every source is known and
// reachable, every migrated table has a plan, no two tables map onto the
// same ids, the target is reachable, and the prechecks find no error. It
// reports the plan of every table, with the id range of column mappings,
// and the precheck findings. The result is nil only when the file cannot
// be decoded; with an error it holds what was found before it.
func (n *control) checkTask(ctx context.Context, f File) (*checkedTask, error) {
	p, err := plan.Decode(f.Name, []byte(f.Data))
	if err != nil {
		return nil, err
	}
	task := p.Task
	st := n.fsm.State()
	_, ranBefore := st.Tasks[task.Name]
	if twin := caseTwin(st.TaskNames(), task.Name); !ranBefore && twin != "" {
		return nil, fmt.Errorf("%s: name: %q: task %q exists, and names that differ only in case share their rows in the dmnode_meta tables of a target whose collation ignores case: choose another name", f.Name, task.Name, twin)
	}
	ct := &checkedTask{task: task, sources: map[string]*catalog.TaskSource{}}
	pt := &precheck.Task{Config: task, Fresh: !ranBefore}
	var errs []error
	var plans []*rules.TablePlan
	for i := range task.MySQLInstances {
		inst := &task.MySQLInstances[i]
		s, err := n.checkInstance(ctx, st, p, inst, &ct.report)
		if s != nil {
			defer s.DB.Close()
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: source %s: %w", f.Name, inst.SourceID, err))
			continue
		}
		plans = append(plans, s.Plans...)
		if task.TaskMode == catalog.ModeIncremental && inst.Meta != nil && inst.Meta.BinlogName != "" {
			s.PastStart = dmnode.Position{File: inst.Meta.BinlogName, Pos: max(inst.Meta.BinlogPos, 4)}
			s.StartSchema = n.startSchema(ctx, inst.SourceID, s.PastStart)
		}
		pt.Sources = append(pt.Sources, s)
	}
	if err := rules.CheckCollisions(plans); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", f.Name, err))
	}
	tdb, err := n.dialTarget(ctx, task.TargetDatabase, 1)
	if err != nil {
		errs = append(errs, fmt.Errorf("%s: target-database: %w", f.Name, err))
	} else {
		defer tdb.Close()
	}
	if len(errs) > 0 {
		return ct, errors.Join(errs...)
	}
	pt.Target = tdb
	ct.findings = precheck.Run(ctx, pt)
	if nerr, nwarn := precheck.Count(ct.findings); nerr > 0 {
		return ct, fmt.Errorf("%s: task %s: the precheck found %s and %s: fix the errors, or list their items in ignore-checking-items",
			f.Name, task.Name, plural(nerr, "error"), plural(nwarn, "warning"))
	}
	for _, s := range pt.Sources {
		ts := &catalog.TaskSource{}
		if task.TaskMode == catalog.ModeIncremental {
			if ts.Start, ts.SafeUntil, err = incrementalStart(ctx, s.DB, s.Config, s.Instance); err != nil {
				errs = append(errs, fmt.Errorf("%s: source %s: %w", f.Name, s.ID, err))
			}
		}
		ct.sources[s.ID] = ts
	}
	return ct, errors.Join(errs...)
}

// caseTwin returns the name among names that differs from name in case
// only, or "". Such names collide in the target's dmnode_meta tables where
// they were created with a collation that ignores case (the server's
// default collation, before dmnode created them binary).
func caseTwin(names []string, name string) string {
	for _, n := range names {
		if n != name && strings.EqualFold(n, name) {
			return n
		}
	}
	return ""
}

// checkInstance compiles the rules of one instance and plans every table
// of its source they migrate. The source stays open for the prechecks:
// the caller closes it, also after an error.
func (n *control) checkInstance(ctx context.Context, st *catalog.State, tp *plan.Plan, inst *config.Instance, report *[]string) (*precheck.Source, error) {
	s, ok := st.Sources[inst.SourceID]
	if !ok {
		return nil, fmt.Errorf("not added yet: run dmnode source add with its source.yaml first")
	}
	cs, err := tp.Source(s)
	if err != nil {
		return nil, plan.Cause(err)
	}
	src, r := cs.Config, cs.Rules
	db, err := n.dialDB(ctx, src.From, checkReaders)
	if err != nil {
		return nil, err
	}
	ps := &precheck.Source{ID: inst.SourceID, Config: src, Instance: inst, DB: db}
	flavor, err := actors.DetectFlavor(ctx, db, src.Flavor)
	if err != nil {
		return ps, err
	}
	tr, err := actors.ReadSchemas(ctx, db, flavor, checkReaders)
	if err != nil {
		return ps, err
	}
	// The checks that follow run on one connection; the readers' others
	// are closed, so that the connection count (conn_number) sees only it.
	db.SetMaxIdleConns(1)
	var errs []error
	same := 0 // tables copied to the same name, beyond checkReportSame
	for _, t := range tr.Tables() {
		if !r.Replicated(t.Schema, t.Name) {
			continue
		}
		p, err := r.Plan(t.Schema, t.Name, t.ColumnNames())
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ps.Plans = append(ps.Plans, p)
		m := p.Mapping()
		if m == "" && len(p.Extra) == 0 && p.TargetSchema == t.Schema && p.TargetTable == t.Name && len(ps.Plans) > checkReportSame {
			same++
			continue
		}
		line := fmt.Sprintf("%s: %s.%s → %s.%s", inst.SourceID, t.Schema, t.Name, p.TargetSchema, p.TargetTable)
		if m != "" {
			line += "; " + m
		}
		if len(p.Extra) > 0 {
			line += fmt.Sprintf("; extracted %s = %v", strings.Join(p.Extra, ", "), p.ExtraValues)
		}
		*report = append(*report, line)
	}
	if same > 0 {
		*report = append(*report, fmt.Sprintf("%s: and %s, each to the same name", inst.SourceID, plural(same, "more table")))
	}
	if len(ps.Plans) == 0 && len(errs) == 0 {
		*report = append(*report, fmt.Sprintf("%s: no table matches the task's rules", inst.SourceID))
	}
	return ps, errors.Join(errs...)
}

// checkReaders is how many connections task check reads a source's
// schemas on: one SHOW CREATE TABLE per table, thousands in an estate.
const checkReaders = 4

// checkReportSame is how many tables copied to the same name the report
// of task check lists one by one per source; the others are counted, so
// that the report of an estate of thousands of tables stays readable and
// within a message. Routed, mapped and extracted tables are all listed.
const checkReportSame = 50

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// incrementalStart returns where an incremental task starts on a source:
// the instance's meta position, or the source's current position. Changes
// up to the current position are applied idempotently, as the target may
// already hold some of them.
func incrementalStart(ctx context.Context, db *sql.DB, src *config.Source, inst *config.Instance) (start, safeUntil dmnode.Position, err error) {
	flavor, err := actors.DetectFlavor(ctx, db, src.Flavor)
	if err != nil {
		return start, safeUntil, err
	}
	now, err := actors.MasterPosition(ctx, db, flavor)
	if err != nil {
		return start, safeUntil, err
	}
	if inst.Meta == nil || (inst.Meta.BinlogName == "" && inst.Meta.BinlogGTID == "") {
		return now, now, nil
	}
	if inst.Meta.BinlogName == "" {
		return start, safeUntil, errors.New("meta.binlog-gtid without meta.binlog-name: starting from a GTID set alone is not supported yet; give binlog-name and binlog-pos")
	}
	start = dmnode.Position{File: inst.Meta.BinlogName, Pos: max(inst.Meta.BinlogPos, 4), GTID: inst.Meta.BinlogGTID}
	return start, now, nil
}

func (n *control) apiTaskCheck(ctx context.Context, req *Request) (*Response, error) {
	if len(req.Files) != 1 {
		return nil, errors.New("give exactly one task file")
	}
	ct, err := n.checkTask(ctx, req.Files[0])
	if ct == nil {
		return nil, err
	}
	resp := &Response{Report: ct.report, Findings: ct.findings, Warnings: ct.task.Warnings}
	if err != nil {
		return resp, err
	}
	resp.Report = append(resp.Report, "task "+ct.task.Name+": check passed"+withWarnings(ct.findings))
	return resp, nil
}

func (n *control) apiTaskSubmit(ctx context.Context, req *Request) (*Response, error) {
	if len(req.Files) != 1 {
		return nil, errors.New("give exactly one task file")
	}
	ct, err := n.checkTask(ctx, req.Files[0])
	if ct == nil {
		return nil, err
	}
	resp := &Response{Report: ct.report, Findings: ct.findings, Warnings: ct.task.Warnings}
	if err != nil {
		return resp, err
	}
	sealed, err := n.sealFile(req.Files[0])
	if err != nil {
		return resp, err
	}
	t := &catalog.Task{
		Name: ct.task.Name, File: req.Files[0].Name, YAML: sealed,
		Mode: ct.task.TaskMode, Sources: ct.sources,
	}
	if err := n.prepareNewTask(ctx, ct.task, t.SortedSources(), req.RemoveMeta); err != nil {
		return resp, err
	}
	if err := n.propose(ctx, catalog.Command{Op: catalog.OpSubmitTask, Task: t}); err != nil {
		return resp, err
	}
	resp.Report = append(resp.Report, "task "+t.Name+" submitted"+withWarnings(ct.findings),
		"next: dmnode task status "+t.Name+" --watch")
	return resp, nil
}

// withWarnings counts the precheck's warnings for the last line of a
// report: "" or " with 2 precheck warnings".
func withWarnings(fs []precheck.Finding) string {
	if _, n := precheck.Count(fs); n > 0 {
		return " with " + plural(n, "precheck warning")
	}
	return ""
}

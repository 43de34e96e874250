package node

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/actors"
	"github.com/dmnode/dmnode/core/catalog"
	"github.com/dmnode/dmnode/core/config"
	"github.com/dmnode/dmnode/core/rules"
)

// checkSourceReachable connects to a source and checks that it writes a
// binlog dmnode can read.
func checkSourceReachable(ctx context.Context, src *config.Source) error {
	db, err := actors.OpenDB(ctx, src.From, 1)
	if err != nil {
		return err
	}
	defer db.Close()
	return checkBinlog(ctx, db)
}

// checkBinlog reports binlog settings that make replication impossible,
// each with the fix.
func checkBinlog(ctx context.Context, db *sql.DB) error {
	var logBin, format, image string
	err := db.QueryRowContext(ctx, "SELECT @@GLOBAL.log_bin, @@GLOBAL.binlog_format, @@GLOBAL.binlog_row_image").Scan(&logBin, &format, &image)
	if err != nil {
		return fmt.Errorf("read binlog settings: %w", err)
	}
	var errs []error
	if logBin != "1" && !strings.EqualFold(logBin, "ON") {
		errs = append(errs, errors.New("binary logging is off: start the server with log_bin (e.g. log-bin=mysql-bin) and a server_id"))
	}
	if !strings.EqualFold(format, "ROW") {
		errs = append(errs, fmt.Errorf("binlog_format is %s: run SET GLOBAL binlog_format = 'ROW' and set it in the server's configuration", format))
	}
	if !strings.EqualFold(image, "FULL") {
		errs = append(errs, fmt.Errorf("binlog_row_image is %s: run SET GLOBAL binlog_row_image = 'FULL' and set it in the server's configuration", image))
	}
	return errors.Join(errs...)
}

// checkedTask is a task file that passed every check.
type checkedTask struct {
	task    *config.Task
	report  []string
	sources map[string]*catalog.TaskSource
}

// checkTask decodes a task file and checks it against the catalog, the
// sources and the target before any data moves: every source is known and
// reachable with a usable binlog, every migrated table has a plan, no two
// tables map onto the same ids, and the target is reachable. It reports the
// plan of every table, with the id range of column mappings.
func (n *Node) checkTask(ctx context.Context, f File) (*checkedTask, error) {
	task, err := config.DecodeTask(f.Name, []byte(f.Data))
	if err != nil {
		return nil, err
	}
	st := n.fsm.State()
	ct := &checkedTask{task: task, sources: map[string]*catalog.TaskSource{}}
	var errs []error
	var plans []*rules.TablePlan
	for i := range task.MySQLInstances {
		inst := &task.MySQLInstances[i]
		p, ts, err := n.checkInstance(ctx, st, task, inst, &ct.report)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: source %s: %w", f.Name, inst.SourceID, err))
			continue
		}
		plans = append(plans, p...)
		ct.sources[inst.SourceID] = ts
	}
	if err := rules.CheckCollisions(plans); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", f.Name, err))
	}
	tdb, err := actors.OpenDB(ctx, task.TargetDatabase, 1)
	if err != nil {
		errs = append(errs, fmt.Errorf("%s: target-database: %w", f.Name, err))
	} else {
		tdb.Close()
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return ct, nil
}

func (n *Node) checkInstance(ctx context.Context, st *catalog.State, task *config.Task, inst *config.Instance, report *[]string) ([]*rules.TablePlan, *catalog.TaskSource, error) {
	s, ok := st.Sources[inst.SourceID]
	if !ok {
		return nil, nil, fmt.Errorf("not added yet: run dmnode source add with its source.yaml first")
	}
	src, err := config.DecodeSource(s.File, []byte(s.YAML))
	if err != nil {
		return nil, nil, err
	}
	r, err := rules.Compile(task, inst, src)
	if err != nil {
		return nil, nil, err
	}
	db, err := actors.OpenDB(ctx, src.From, 1)
	if err != nil {
		return nil, nil, err
	}
	defer db.Close()
	if task.TaskMode != catalog.ModeFull {
		if err := checkBinlog(ctx, db); err != nil {
			return nil, nil, err
		}
	}
	flavor, err := actors.DetectFlavor(ctx, db, src.Flavor)
	if err != nil {
		return nil, nil, err
	}
	tr, err := actors.LoadSchemas(ctx, db, flavor)
	if err != nil {
		return nil, nil, err
	}
	var plans []*rules.TablePlan
	var errs []error
	for _, t := range tr.Tables() {
		if !r.Replicated(t.Schema, t.Name) {
			continue
		}
		p, err := r.Plan(t.Schema, t.Name, t.ColumnNames())
		if err != nil {
			errs = append(errs, err)
			continue
		}
		plans = append(plans, p)
		line := fmt.Sprintf("%s: %s.%s → %s.%s", inst.SourceID, t.Schema, t.Name, p.TargetSchema, p.TargetTable)
		if m := p.Mapping(); m != "" {
			line += "; " + m
		}
		if len(p.Extra) > 0 {
			line += fmt.Sprintf("; extracted %s = %v", strings.Join(p.Extra, ", "), p.ExtraValues)
		}
		*report = append(*report, line)
	}
	if len(plans) == 0 && len(errs) == 0 {
		*report = append(*report, fmt.Sprintf("%s: no table matches the task's rules", inst.SourceID))
	}
	ts := &catalog.TaskSource{}
	if task.TaskMode == catalog.ModeIncremental {
		if ts.Start, ts.SafeUntil, err = incrementalStart(ctx, db, src, inst); err != nil {
			errs = append(errs, err)
		}
	}
	return plans, ts, errors.Join(errs...)
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

func (n *Node) apiTaskCheck(ctx context.Context, req *Request) (*Response, error) {
	if len(req.Files) != 1 {
		return nil, errors.New("give exactly one task file")
	}
	ct, err := n.checkTask(ctx, req.Files[0])
	if err != nil {
		return nil, err
	}
	return &Response{Report: append(ct.report, "task "+ct.task.Name+": check passed"), Warnings: ct.task.Warnings}, nil
}

func (n *Node) apiTaskSubmit(ctx context.Context, req *Request) (*Response, error) {
	if len(req.Files) != 1 {
		return nil, errors.New("give exactly one task file")
	}
	ct, err := n.checkTask(ctx, req.Files[0])
	if err != nil {
		return nil, err
	}
	t := &catalog.Task{
		Name: ct.task.Name, File: req.Files[0].Name, YAML: req.Files[0].Data,
		Mode: ct.task.TaskMode, Sources: ct.sources,
	}
	if err := n.propose(ctx, catalog.Command{Op: catalog.OpSubmitTask, Task: t}); err != nil {
		return nil, err
	}
	return &Response{Report: append(ct.report, "task "+t.Name+" submitted"), Warnings: ct.task.Warnings}, nil
}

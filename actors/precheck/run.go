package precheck

import (
	"context"
	"database/sql"
	"fmt"
	"slices"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/config"
	"github.com/dmnode/dmnode/core/rules"
	"github.com/dmnode/dmnode/core/schema"
)

// Task is what the checks of one task read.
type Task struct {
	Config *config.Task
	// Fresh is false for a task that ran before and is submitted again to
	// resume: as in DM, the shard checks and the start position then do
	// not apply, as its checkpoints decide.
	Fresh   bool
	Sources []*Source
	// Target is the target database, as the task's user.
	Target *sql.DB
}

// Source is one mysql-instances entry of the task.
type Source struct {
	ID       string
	Config   *config.Source
	Instance *config.Instance
	// DB is the source, as the source's user.
	DB *sql.DB
	// Plans are the plans of the migrated tables.
	Plans []*rules.TablePlan
	// PastStart is the start position of an incremental task whose meta
	// names one, which may be in the past: the source's tables may have
	// changed since, so the table checks compare the target against the
	// schemas there, not the source's current ones.
	PastStart dmnode.Position
	// StartSchema returns a table's schema at PastStart from the source's
	// schema history; nil when the history does not reach back there.
	StartSchema func(db, table string) *schema.Table
}

// Run runs every check the task's mode calls for and its
// ignore-checking-items leaves, and returns the findings: those of each
// source in order, then those of the merged tables, then the target's. A
// check that cannot read what it needs is itself an error finding of its
// item. Run never modifies a database.
func Run(ctx context.Context, t *Task) []Finding {
	r := &runner{task: t.Config}
	upstream := map[string]map[table]*tableInfo{} // by source id
	var plans []*rules.TablePlan
	for _, s := range t.Sources {
		upstream[s.ID] = r.source(ctx, t, s)
		plans = append(plans, s.Plans...)
	}
	up := func(p *rules.TablePlan) *tableInfo { return upstream[p.Source][table{p.Schema, p.Table}] }

	var targets map[table]*tableInfo
	if r.enabled(config.CheckTableSchema, config.CheckAutoIncrementID) {
		var err error
		if targets, err = loadTables(ctx, t.Target, targetSchemas(plans), true); err != nil {
			r.failed("", true, config.CheckTableSchema, "read the target's tables", err,
				"make sure the target user can read information_schema.COLUMNS and STATISTICS")
		}
	}
	if t.Fresh {
		r.add("", shardSchemaFindings(plans, up, t.Config.ShardMode))
		r.add("", autoIncrementFindings(plans, up, targets))
	}
	r.add("", targetColumnFindings(plans, up, targets, pastStarts(t.Sources)))
	r.target(ctx, t, plans)
	return r.out
}

type runner struct {
	task *config.Task
	out  []Finding
}

// enabled reports whether any of the items is not ignored.
func (r *runner) enabled(items ...string) bool {
	return slices.ContainsFunc(items, func(i string) bool { return !r.task.IgnoresCheck(i) })
}

// add records the findings of items not ignored, for the source given
// (unless a finding names its own).
func (r *runner) add(source string, fs []Finding) {
	for _, f := range fs {
		if r.task.IgnoresCheck(f.Item) {
			continue
		}
		if f.Source == "" && !f.Target {
			f.Source = source
		}
		r.out = append(r.out, f)
	}
}

// failed records that a check could not run: an error, except for
// conn_number, whose limits some servers (TiDB) do not report.
func (r *runner) failed(source string, target bool, item, what string, err error, fix string) {
	sev := Error
	if item == config.CheckConnNumber {
		sev = Warning
	}
	r.add(source, []Finding{{Item: item, Severity: sev, Target: target,
		Message: fmt.Sprintf("cannot %s: %v", what, err), Fix: fix}})
}

// source runs the checks of one source and returns its migrated tables.
func (r *runner) source(ctx context.Context, t *Task, s *Source) map[table]*tableInfo {
	mode := t.Config.TaskMode
	sync := mode != config.ModeFull
	vars, err := readServerVars(ctx, s.DB)
	if err != nil {
		r.failed(s.ID, false, config.CheckVersion, "read the server's variables", err, "make sure the source user can run SHOW GLOBAL VARIABLES")
	} else {
		r.add(s.ID, versionFindings(vars.version))
		r.add(s.ID, binlogFindings(vars, sync))
		if sync {
			r.add(s.ID, serverIDFindings(vars))
		}
	}
	var tables []table
	schemas := map[string]bool{}
	for _, p := range s.Plans {
		tables = append(tables, table{p.Schema, p.Table})
		schemas[p.Schema] = true
	}
	if r.enabled(config.CheckDumpPrivilege, config.CheckReplicationPrivilege) {
		item := config.CheckDumpPrivilege
		if mode == config.ModeIncremental {
			item = config.CheckReplicationPrivilege
		}
		if acct, g, err := readGrants(ctx, s.DB); err != nil {
			r.failed(s.ID, false, item, "read the source user's privileges", err, "check the privileges by hand, or add the item to ignore-checking-items")
		} else {
			r.add(s.ID, sourcePrivilegeFindings(g, acct, parseVersion(vars.version), mode, tables))
		}
	}
	if r.enabled(config.CheckConnNumber) {
		if l, err := readConnLimits(ctx, s.DB); err != nil {
			r.failed(s.ID, false, config.CheckConnNumber, "read the source's connection limits", err, "add conn_number to ignore-checking-items")
		} else {
			acct, _ := currentAccount(ctx, s.DB)
			need, why := sourceConns(mode, s.Instance)
			r.add(s.ID, connFindings(l, need, acct, why, Error, false))
		}
	}
	if mode == config.ModeIncremental && t.Fresh && s.Instance.Meta != nil && s.Instance.Meta.BinlogName != "" && r.enabled(config.CheckMetaPosition) {
		if files, err := readBinlogFiles(ctx, s.DB); err != nil {
			r.failed(s.ID, false, config.CheckMetaPosition, "list the source's binlog files", err,
				"grant the source user BINLOG MONITOR (REPLICATION CLIENT on MySQL) so that it may run SHOW BINARY LOGS")
		} else {
			r.add(s.ID, metaFindings(s.Instance.Meta, files))
		}
	}
	if !r.enabled(config.CheckTableSchema, config.CheckShardSchema, config.CheckAutoIncrementID) {
		return nil
	}
	infos, err := loadTables(ctx, s.DB, sortedSet(schemas), false)
	if err != nil {
		r.failed(s.ID, false, config.CheckTableSchema, "read the migrated tables' columns and keys", err,
			"make sure the source user can read information_schema.COLUMNS and STATISTICS")
		return nil
	}
	r.add(s.ID, noKeyFindings(s.Plans, infos))
	r.add(s.ID, typeFindings(s.Plans, infos))
	if seqs, err := readSequences(ctx, s.DB); err != nil {
		r.failed(s.ID, false, config.CheckTableSchema, "list the source's sequences", err,
			"make sure the source user can read information_schema.TABLES")
	} else {
		r.add(s.ID, sequenceFindings(seqs))
	}
	return infos
}

// target runs the checks of the target database.
func (r *runner) target(ctx context.Context, t *Task, plans []*rules.TablePlan) {
	if r.enabled(config.CheckTargetPrivilege) {
		if acct, g, err := readGrants(ctx, t.Target); err != nil {
			r.failed("", true, config.CheckTargetPrivilege, "read the target user's privileges", err,
				"check the privileges by hand, or add target_privilege to ignore-checking-items")
		} else {
			r.add("", targetPrivilegeFindings(g, acct, targetSchemas(plans), t.Config.TaskMode != config.ModeFull))
		}
	}
	if r.enabled(config.CheckConnNumber) {
		if l, err := readConnLimits(ctx, t.Target); err != nil {
			r.failed("", true, config.CheckConnNumber, "read the target's connection limits", err, "add conn_number to ignore-checking-items")
		} else {
			acct, _ := currentAccount(ctx, t.Target)
			need, why := targetConns(t.Config)
			r.add("", connFindings(l, need, acct, why, Warning, true))
		}
	}
}

func currentAccount(ctx context.Context, db *sql.DB) (account, error) {
	var user string
	if err := db.QueryRowContext(ctx, "SELECT CURRENT_USER()").Scan(&user); err != nil {
		return account{}, err
	}
	return parseAccount(user), nil
}

func targetSchemas(plans []*rules.TablePlan) []string {
	set := map[string]bool{}
	for _, p := range plans {
		set[p.TargetSchema] = true
	}
	return sortedSet(set)
}

func sortedSet(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// Binlog checks that a source writes a binlog dmnode can replicate: log_bin
// on, binlog_format ROW, binlog_row_image FULL. It is the check of source
// add, which does not know the tasks yet.
func Binlog(ctx context.Context, db *sql.DB) ([]Finding, error) {
	v, err := readServerVars(ctx, db)
	if err != nil {
		return nil, err
	}
	return binlogFindings(v, true), nil
}

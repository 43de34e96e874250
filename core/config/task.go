package config

import (
	"maps"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Task modes and shard modes, as in DM.
const (
	ModeFull        = "full"
	ModeIncremental = "incremental"
	ModeAll         = "all"

	ShardPessimistic = "pessimistic"
	ShardOptimistic  = "optimistic"
)

// MaxSourceIDLength is DM's limit on the length of a source-id.
const MaxSourceIDLength = 32

// MaxTaskNameLength is the longest task name, in characters: the target's
// dmnode_meta tables key their rows by it in a VARCHAR(128).
const MaxTaskNameLength = 128

// checkTask validates a decoded task and fills in what DM derives: the
// shard mode implied by is-sharding, online DDL and its default rules, the
// fourth partition id argument and the effective unit settings of each
// instance.
func checkTask(r *report, t *Task) {
	checkHeader(r, t)
	checkDB(r, &t.TargetDatabase, "target-database")
	revealPassword(r, &t.TargetDatabase, "target-database")
	used, complete := checkInstances(r, t)
	if complete {
		checkUnused(r, t, used)
	}
	checkOnlineDDL(r, t)
	checkRoutes(r, t.Routes)
	checkColumnMappings(r, t.ColumnMappings)
	checkBALists(r, t.BAList)
	checkFilters(r, t.Filters)
	checkExpressionFilters(r, t.ExpressionFilters)
	checkUnitConfigs(r, t)
	checkIgnoredItems(r, t.IgnoreCheckingItems)
	resolveUnits(t)
}

// checkHeader checks name, task-mode, shard-mode and is-sharding.
func checkHeader(r *report, t *Task) {
	checkName(r, "name", t.Name)
	if n := utf8.RuneCountInString(t.Name); n > MaxTaskNameLength {
		r.errorf("name", "%d characters, longer than %d (the target's dmnode_meta tables key their rows by it)", n, MaxTaskNameLength)
	}
	switch t.TaskMode {
	case ModeFull, ModeIncremental, ModeAll:
	case "":
		r.errorf("task-mode", "required: full, incremental or all")
	case "dump", "load", "load&sync":
		r.errorf("task-mode", "not supported yet: %s (supported: full, incremental, all)", t.TaskMode)
	default:
		r.errorf("task-mode", "invalid value %q: must be full, incremental or all", t.TaskMode)
	}
	switch t.ShardMode {
	case "", ShardPessimistic, ShardOptimistic:
	default:
		r.errorf("shard-mode", "invalid value %q: must be pessimistic or optimistic, or empty for no shard DDL coordination", t.ShardMode)
		return
	}
	// dmctl refuses an is-sharding written beside a shard-mode that says
	// otherwise (start-task, check-task).
	switch {
	case t.IsSharding && t.ShardMode == "" && r.has("shard-mode"):
		r.errorf("is-sharding", "true contradicts an empty shard-mode (line %d): write only shard-mode, as dmctl asks",
			r.line("shard-mode"))
	case t.IsSharding && t.ShardMode == "":
		t.ShardMode = ShardPessimistic // DM's reading of the deprecated is-sharding
	case !t.IsSharding && t.ShardMode != "" && r.has("is-sharding"):
		r.errorf("is-sharding", "false contradicts shard-mode: %s (line %d): remove is-sharding",
			t.ShardMode, r.line("shard-mode"))
	}
	t.IsSharding = t.ShardMode != ""
	if t.StrictOptimisticShardMode {
		if t.ShardMode != ShardOptimistic {
			r.errorf("strict-optimistic-shard-mode", "needs shard-mode: optimistic, as in DM")
		} else {
			r.notef("strict-optimistic-shard-mode", "true: dmnode's optimistic mode holds a shard at a DDL "+
				"it cannot merge and reports the conflict in task status until the other shards make the same "+
				"change or an operator unlocks it; that is its only mode")
		}
	}
	switch v := strings.ToLower(t.CollationCompatible); v {
	case "", "loose":
	case "strict":
		t.CollationCompatible = v
		r.notef("collation_compatible", "strict: CREATE statements reach the target as the source wrote them "+
			"(loose); a table created without an explicit collation gets the target's default for its charset")
	default:
		r.errorf("collation_compatible", `invalid value %q: must be "loose" or "strict"`, t.CollationCompatible)
	}
}

// checkDB checks a database connection: target-database or a source's from.
func checkDB(r *report, db *DBConfig, p string) {
	if !r.has(p) {
		r.errorf(p, "required")
		return
	}
	if db.Host == "" {
		r.errorf(childPath(p, "host"), "required")
	}
	switch {
	case !r.has(childPath(p, "port")):
		r.errorf(childPath(p, "port"), "required")
	case db.Port < 1 || db.Port > 65535:
		r.errorf(childPath(p, "port"), "must be from 1 to 65535")
	}
	checkSecurity(r, db.Security, childPath(p, "security"))
}

func checkSourceID(r *report, p, id string) {
	checkName(r, p, id)
	if len(id) > MaxSourceIDLength {
		r.errorf(p, "longer than %d characters", MaxSourceIDLength)
	}
}

// checkName checks a task name or source id, which name rows on the
// target (dmnode_meta), streams, subjects and keys: required, and without
// control characters or spaces at either end, which the target's
// comparisons of strings ignore or a terminal hides.
func checkName(r *report, p, name string) {
	switch {
	case name == "":
		r.errorf(p, "required")
	case strings.TrimSpace(name) != name:
		r.errorf(p, "%q: begins or ends with a space", name)
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		r.errorf(p, "%q: contains a control character", name)
	case !utf8.ValidString(name):
		r.errorf(p, "%q: not valid UTF-8", name)
	}
}

// usage records, for each section of named rules, the names instances refer to.
type usage map[string]map[string]bool

func (u usage) use(section, name string) {
	if u[section] == nil {
		u[section] = map[string]bool{}
	}
	u[section][name] = true
}

// checkInstances checks mysql-instances and returns the rules they use.
// complete is false when an instance could not be read, so that the rules
// it uses are unknown.
func checkInstances(r *report, t *Task) (used usage, complete bool) {
	used, complete = usage{}, true
	if len(t.MySQLInstances) == 0 {
		r.errorf("mysql-instances", "at least one instance is required")
		return used, complete
	}
	first := map[string]string{} // source-id → path of the instance that has it
	for i := range t.MySQLInstances {
		inst, p := &t.MySQLInstances[i], indexPath("mysql-instances", i)
		if r.skipped(p) {
			complete = false
			continue
		}
		idPath := childPath(p, "source-id")
		checkSourceID(r, idPath, inst.SourceID)
		if prev, ok := first[inst.SourceID]; ok && inst.SourceID != "" {
			r.errorf(idPath, "duplicate source-id %q: %s at line %d has it too",
				inst.SourceID, r.at(prev, "").Key, r.line(prev))
		} else {
			first[inst.SourceID] = idPath
		}
		checkRefs(r, t, inst, p, used)
		checkMeta(r, t.TaskMode, inst.Meta, childPath(p, "meta"))
		positive(r, p, "mydumper-thread", inst.MydumperThread)
		positive(r, p, "loader-thread", inst.LoaderThread)
		positive(r, p, "syncer-thread", inst.SyncerThread)
	}
	return used, complete
}

// checkRefs checks the rule names an instance refers to and records them.
func checkRefs(r *report, t *Task, inst *Instance, p string, used usage) {
	refOne(r, used, childPath(p, "block-allow-list"), "block-allow-list", inst.BAListName, defined(t.BAList))
	refList(r, used, childPath(p, "route-rules"), "routes", inst.RouteRules, defined(t.Routes))
	refList(r, used, childPath(p, "column-mapping-rules"), "column-mappings", inst.ColumnMappingRules,
		defined(t.ColumnMappings))
	refList(r, used, childPath(p, "filter-rules"), "filters", inst.FilterRules, defined(t.Filters))
	refList(r, used, childPath(p, "expression-filters"), "expression-filter", inst.ExpressionFilters,
		defined(t.ExpressionFilters))
	if t.TaskMode == ModeFull {
		for _, key := range []string{"filter-rules", "expression-filters"} {
			if kp := childPath(p, key); r.has(kp) && !r.skipped(kp) {
				r.warnf(kp, "ignored in task-mode full: filters apply to the binlog only, as in DM")
			}
		}
	}
	refUnit(r, used, p, "mydumper", inst.MydumperConfigName, inst.Mydumper != nil, "mydumpers", defined(t.Mydumpers))
	refUnit(r, used, p, "loader", inst.LoaderConfigName, inst.Loader != nil, "loaders", defined(t.Loaders))
	refUnit(r, used, p, "syncer", inst.SyncerConfigName, inst.Syncer != nil, "syncers", defined(t.Syncers))
	refOne(r, used, childPath(p, "validator-config-name"), "validators", inst.ValidatorConfigName, defined(t.Validators))
	if v := t.Validators[inst.ValidatorConfigName]; v != nil {
		switch mode := strings.ToLower(v.Mode); mode {
		case ValidateFast, ValidateFull:
			what := "every column"
			if mode == ValidateFast {
				what = "only whether each row exists"
			}
			r.notef(childPath(p, "validator-config-name"), "%s: a continuous validator re-reads each row the binlog changes "+
				"from source and target once applied and compares %s (dmnode validation status %s); validate-interval, "+
				"meta-flush-interval and max-pending-row-size are not used: rows are compared as soon as the applier passed "+
				"them, bounded by max-pending-row-count, and the position is saved every second", mode, what, t.Name)
		}
	}
}

func defined[V any](m map[string]V) func(string) bool {
	return func(name string) bool {
		_, ok := m[name]
		return ok
	}
}

// refOne checks the rule name at path p, which must be defined in section.
func refOne(r *report, used usage, p, section, name string, exists func(string) bool) {
	if name == "" {
		return
	}
	used.use(section, name)
	if !exists(name) {
		r.errorf(p, "%q is not defined in %s", name, r.at(section, "").Key)
	}
}

// refList checks a list of rule names: each defined, none twice.
func refList(r *report, used usage, p, section string, names []string, exists func(string) bool) {
	seen := map[string]string{} // name → path of its first listing
	for i, name := range names {
		ip := indexPath(p, i)
		if name == "" {
			r.errorf(ip, "empty rule name")
			continue
		}
		if prev, ok := seen[name]; ok {
			r.errorf(ip, "%q is listed twice (first as %s)", name, r.at(prev, "").Key)
			continue
		}
		seen[name] = ip
		refOne(r, used, ip, section, name, exists)
	}
}

// refUnit checks an instance's reference to a unit config (mydumper,
// loader, syncer): a name defined in section, or an inline config, not both.
func refUnit(r *report, used usage, p, unit, name string, inline bool, section string, exists func(string) bool) {
	namePath := childPath(p, unit+"-config-name")
	if name != "" && inline {
		r.errorf(childPath(p, unit), "conflicts with %s (line %d): write either one",
			r.at(namePath, "").Key, r.line(namePath))
	}
	refOne(r, used, namePath, section, name, exists)
}

// checkMeta checks an instance's start position, which only incremental
// tasks use.
func checkMeta(r *report, mode string, m *Meta, p string) {
	if m == nil || r.skipped(p) {
		return
	}
	switch mode {
	case ModeFull:
		r.warnf(p, "ignored in task-mode full: it replicates no binlog")
		return
	case ModeAll:
		r.warnf(p, "ignored in task-mode all: the dump's position is used")
		return
	case ModeIncremental:
	default:
		return
	}
	namePath, posPath := childPath(p, "binlog-name"), childPath(p, "binlog-pos")
	switch {
	case m.BinlogGTID != "":
		// A GTID set; whether the source uses it (enable-gtid) is only
		// known when the task is submitted.
	case m.BinlogName == "" && !r.has(posPath):
		r.errorf(p, "needs binlog-name and binlog-pos, or binlog-gtid")
	case m.BinlogName == "":
		r.errorf(namePath, "required with binlog-pos, or write binlog-gtid")
	case !r.has(posPath):
		r.errorf(posPath, "required with binlog-name, or write binlog-gtid")
	}
}

// checkUnused reports named rules that no instance refers to, as DM does.
// DM tolerates unused block/allow lists, and so does dmnode, with a
// warning: an unused rule is most likely a rule the operator meant to apply.
func checkUnused(r *report, t *Task, used usage) {
	for _, name := range slices.Sorted(maps.Keys(t.BAList)) {
		if !used["block-allow-list"][name] {
			r.warnf(childPath("block-allow-list", name), "defined but never used: no mysql-instances entry refers to it")
		}
	}
	unused(r, used, "validators", slices.Sorted(maps.Keys(t.Validators)))
	unused(r, used, "routes", slices.Sorted(maps.Keys(t.Routes)))
	unused(r, used, "column-mappings", slices.Sorted(maps.Keys(t.ColumnMappings)))
	unused(r, used, "filters", slices.Sorted(maps.Keys(t.Filters)))
	unused(r, used, "expression-filter", slices.Sorted(maps.Keys(t.ExpressionFilters)))
	unused(r, used, "mydumpers", slices.Sorted(maps.Keys(t.Mydumpers)))
	unused(r, used, "loaders", slices.Sorted(maps.Keys(t.Loaders)))
	unused(r, used, "syncers", slices.Sorted(maps.Keys(t.Syncers)))
}

func unused(r *report, used usage, section string, names []string) {
	for _, name := range names {
		if !used[section][name] {
			r.errorf(childPath(section, name), "defined but never used: no mysql-instances entry refers to it")
		}
	}
}

// positive reports a negative count; zero means DM's default.
func positive(r *report, p, key string, v int) {
	if v < 0 {
		r.errorf(childPath(p, key), "must be positive")
	}
}

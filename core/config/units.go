package config

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// DM's defaults for the unit settings dmnode uses.
const (
	DefaultDumpThreads = 4      // mydumpers.*.threads
	DefaultChunkRows   = 200000 // mydumpers.*.rows
	DefaultPoolSize    = 16     // loaders.*.pool-size
	DefaultWorkerCount = 16     // syncers.*.worker-count
	// DefaultAddIndexAfterLoad is loaders.*.add-index-after-load's default.
	DefaultAddIndexAfterLoad = false
)

// checkUnitConfigs checks the named and the inline unit configurations.
func checkUnitConfigs(r *report, t *Task) {
	for _, name := range slices.Sorted(maps.Keys(t.Mydumpers)) {
		checkMydumper(r, childPath("mydumpers", name), t.Mydumpers[name])
	}
	for _, name := range slices.Sorted(maps.Keys(t.Loaders)) {
		checkLoader(r, childPath("loaders", name), t.Loaders[name])
	}
	for _, name := range slices.Sorted(maps.Keys(t.Syncers)) {
		checkSyncer(r, childPath("syncers", name), t.Syncers[name])
	}
	for _, name := range slices.Sorted(maps.Keys(t.Validators)) {
		checkValidator(r, childPath("validators", name), t.Validators[name])
	}
	for i := range t.MySQLInstances {
		inst, p := &t.MySQLInstances[i], indexPath("mysql-instances", i)
		checkMydumper(r, childPath(p, "mydumper"), inst.Mydumper)
		checkLoader(r, childPath(p, "loader"), inst.Loader)
		checkSyncer(r, childPath(p, "syncer"), inst.Syncer)
		// DM refuses import-into for a task of several sources.
		if l := unitConfig(inst.Loader, t.Loaders, inst.LoaderConfigName); l != nil &&
			strings.EqualFold(l.ImportMode, "import-into") && len(t.MySQLInstances) > 1 {
			lp := childPath(childPath("loaders", inst.LoaderConfigName), "import-mode")
			if inst.Loader != nil {
				lp = childPath(childPath(p, "loader"), "import-mode")
			}
			r.errorf(lp, "import-into: DM refuses it for a task of several sources")
		}
	}
}

func checkMydumper(r *report, p string, c *MydumperConfig) {
	if c == nil {
		return
	}
	positive(r, p, "threads", c.Threads)
	positive(r, p, "rows", c.Rows)
	positive(r, p, "statement-size", c.StatementSize)
	if c.StatementSize > 0 {
		r.warnf(childPath(p, "statement-size"), "%d: the loader sends INSERT statements of at most %d bytes of rows "+
			"(at least one row each), as DM's dump files hold, and no LOAD DATA", c.StatementSize, c.StatementSize)
	}
	if c.ExtraArgs == "" {
		return
	}
	ap := childPath(p, "extra-args")
	_, findings := parseExtraArgs(c.ExtraArgs)
	for _, f := range findings {
		switch f.level {
		case argError:
			r.errorf(ap, "%s", f.msg)
		case argWarn:
			r.warnf(ap, "%s", f.msg)
		case argNote:
			r.notef(ap, "%s", f.msg)
		}
	}
}

// checkLoader accepts DM's logical import (sql and loader are its old
// names) with on-duplicate replace: dmnode's load is idempotent, it
// replaces rows. The physical and import-into modes, which need TiDB's
// TiKV or IMPORT INTO, and the other duplicate resolutions are accepted
// with a note: dmnode loads logically, replacing duplicate rows.
func checkLoader(r *report, p string, c *LoaderConfig) {
	if c == nil {
		return
	}
	positive(r, p, "pool-size", c.PoolSize)
	switch mode := strings.ToLower(c.ImportMode); mode {
	case "", "logical", "sql", "loader":
	case "physical", "import-into":
		r.notef(childPath(p, "import-mode"), "%s: loaded logically: dmnode writes rows with multi-row INSERT statements "+
			"(import-mode physical needs TiDB's storage engine, import-into TiDB's IMPORT INTO); the result is the same rows", mode)
	default:
		r.errorf(childPath(p, "import-mode"), "invalid value %q: must be logical, physical or import-into", c.ImportMode)
	}
	checkOnDuplicate(r, childPath(p, "on-duplicate-logical"), c.OnDuplicateLogical)
	checkOnDuplicate(r, childPath(p, "on-duplicate"), c.OnDuplicate)
}

func checkOnDuplicate(r *report, p, v string) {
	switch v = strings.ToLower(v); v {
	case "", "replace":
	case "ignore", "error":
		r.notef(p, "%s: duplicate rows replaced: dmnode's load replaces a target row with the source's row of the same key "+
			"(on-duplicate replace), so that a restarted load is idempotent", v)
	default:
		r.errorf(p, "invalid value %q: must be replace, ignore or error", v)
	}
}

func checkSyncer(r *report, p string, c *SyncerConfig) {
	if c == nil {
		return
	}
	positive(r, p, "worker-count", c.WorkerCount)
	positive(r, p, "batch", c.Batch)
	if c.Batch > 0 {
		r.warnf(childPath(p, "batch"), "%d: at most %d rows per multi-row statement the applier sends; "+
			"a target transaction holds up to %d row changes (dmnode's own bound)", c.Batch, c.Batch, ApplyMaxRows)
	}
	// DM checks safe-mode-duration although dmnode does not use it.
	if c.SafeModeDuration != "" {
		d, err := time.ParseDuration(c.SafeModeDuration)
		switch {
		case err != nil:
			r.errorf(childPath(p, "safe-mode-duration"), "invalid duration %q (write 60s, 5m)", c.SafeModeDuration)
		case d == 0 && c.SafeMode:
			r.errorf(childPath(p, "safe-mode-duration"), "0s contradicts safe-mode: true, as DM says")
		}
	}
	if c.Compact {
		r.warnf(childPath(p, "compact"), "ignored: dmnode already compacts the changes of a batch to one "+
			"change per row (on tables with one unique key, outside safe mode), which is what compact asks for")
	}
}

// ApplyMaxRows is the most row changes the applier puts in one target
// transaction.
const ApplyMaxRows = 2000

// checkValidator checks a continuous validator configuration as DM does.
func checkValidator(r *report, p string, c *ValidatorConfig) {
	if c == nil {
		return
	}
	switch strings.ToLower(c.Mode) {
	case "", ValidateNone, ValidateFast, ValidateFull:
	default:
		r.errorf(childPath(p, "mode"), "invalid value %q: must be none, fast or full", c.Mode)
	}
	for _, k := range []struct{ key, v string }{
		{"validate-interval", c.ValidateInterval}, {"check-interval", c.CheckInterval},
		{"row-error-delay", c.RowErrorDelay}, {"meta-flush-interval", c.MetaFlushInterval},
	} {
		if k.v == "" {
			continue
		}
		if d, err := time.ParseDuration(k.v); err != nil || d < 0 {
			r.errorf(childPath(p, k.key), "invalid duration %q (write 30s, 5m, 1h30m)", k.v)
		}
	}
	if c.MaxPendingRowSize != "" {
		if _, err := parseRAMSize(c.MaxPendingRowSize); err != nil {
			r.errorf(childPath(p, "max-pending-row-size"), "invalid size %q (write 500m, 1g)", c.MaxPendingRowSize)
		}
	}
	positive(r, p, "worker-count", c.WorkerCount)
	positive(r, p, "batch-query-size", c.BatchQuerySize)
	positive(r, p, "max-pending-row-count", c.MaxPendingRowCount)
}

// parseRAMSize reads a size as DM's units.RAMInBytes does: a number with an
// optional unit k, m, g, t, p (powers of 1024), b/ib suffixes allowed.
func parseRAMSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "b"), "i")
	mult := int64(1)
	if n := len(t); n > 0 {
		if i := strings.IndexByte("kmgtp", t[n-1]); i >= 0 {
			mult = int64(1) << (10 * (i + 1))
			t = t[:n-1]
		}
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	return int64(f * float64(mult)), nil
}

// resolveUnits fills in the effective unit settings of every instance: the
// inline or named config, then the *-thread override, then the options of
// extra-args (which DM applies last), then DM's defaults.
func resolveUnits(t *Task) {
	for i := range t.MySQLInstances {
		inst := &t.MySQLInstances[i]
		dump := unitConfig(inst.Mydumper, t.Mydumpers, inst.MydumperConfigName)
		inst.Dump = dumpSettings(dump, inst.MydumperThread)
		inst.Load = loadSettings(unitConfig(inst.Loader, t.Loaders, inst.LoaderConfigName), inst.LoaderThread)
		if dump != nil {
			inst.Load.StatementSize = dump.StatementSize
			applyExtraArgs(inst, dump.ExtraArgs)
		}
		inst.Sync = syncSettings(unitConfig(inst.Syncer, t.Syncers, inst.SyncerConfigName), inst.SyncerThread)
		inst.Validate = validateSettings(unitConfig(nil, t.Validators, inst.ValidatorConfigName))
	}
}

// applyExtraArgs applies the options of a mydumper's extra-args that have
// an equal in dmnode; the file was checked, so there are no errors.
func applyExtraArgs(inst *Instance, extra string) {
	if extra == "" {
		return
	}
	a, _ := parseExtraArgs(extra)
	inst.Dump.Threads = orDefault(a.threads, inst.Dump.Threads)
	inst.Dump.ChunkRows = orDefault(a.rows, inst.Dump.ChunkRows)
	inst.Load.StatementSize = orDefault(a.statementSize, inst.Load.StatementSize)
	if a.where != nil {
		inst.Dump.Where = *a.where
	}
	inst.Dump.Databases = a.databases
	inst.Dump.Tables = a.tables
}

// Selects reports whether the dump reads schema.table: every table the
// block-allow-list replicates, unless extra-args --database or
// --tables-list name fewer (compared case-insensitively, as DM does unless
// the task is case-sensitive, which the block-allow-list already decided).
func (d DumpSettings) Selects(schema, table string) bool {
	if len(d.Databases) > 0 && !slices.ContainsFunc(d.Databases, func(db string) bool {
		return strings.EqualFold(db, schema)
	}) {
		return false
	}
	if len(d.Tables) > 0 && !slices.ContainsFunc(d.Tables, func(t string) bool {
		return strings.EqualFold(t, schema+"."+table)
	}) {
		return false
	}
	return true
}

// DM's continuous validator defaults.
const (
	DefaultValidatorWorkers      = 4
	DefaultValidatorRowDelay     = 30 * time.Minute
	DefaultValidatorCheck        = 5 * time.Second
	DefaultValidatorMetaFlush    = 5 * time.Minute
	DefaultValidatorBatchQuery   = 100
	DefaultValidatorPendingCount = math.MaxInt32
)

func validateSettings(c *ValidatorConfig) ValidateSettings {
	if c == nil {
		return ValidateSettings{} // no validator: mode none
	}
	v := ValidateSettings{Mode: ValidateNone, WorkerCount: DefaultValidatorWorkers, RowErrorDelay: DefaultValidatorRowDelay,
		CheckInterval: DefaultValidatorCheck, MetaFlushInterval: DefaultValidatorMetaFlush,
		BatchQuerySize: DefaultValidatorBatchQuery, MaxPendingRowCount: DefaultValidatorPendingCount}
	if c.Mode != "" {
		v.Mode = strings.ToLower(c.Mode)
	}
	v.WorkerCount = orDefault(c.WorkerCount, v.WorkerCount)
	v.BatchQuerySize = orDefault(c.BatchQuerySize, v.BatchQuerySize)
	v.MaxPendingRowCount = orDefault(c.MaxPendingRowCount, v.MaxPendingRowCount)
	for _, d := range []struct {
		s   string
		dst *time.Duration
	}{{c.RowErrorDelay, &v.RowErrorDelay}, {c.CheckInterval, &v.CheckInterval}, {c.MetaFlushInterval, &v.MetaFlushInterval}} {
		if x, err := time.ParseDuration(d.s); err == nil && x > 0 {
			*d.dst = x
		}
	}
	// A difference is compared again at least twice before it is reported.
	v.CheckInterval = min(v.CheckInterval, max(v.RowErrorDelay/2, time.Millisecond))
	return v
}

// unitConfig is an instance's inline config, else its named one, else nil.
func unitConfig[C any](inline *C, named map[string]*C, name string) *C {
	if inline != nil {
		return inline
	}
	if name == "" {
		return nil
	}
	return named[name]
}

func dumpSettings(c *MydumperConfig, threads int) DumpSettings {
	d := DumpSettings{Threads: DefaultDumpThreads, ChunkRows: DefaultChunkRows}
	if c != nil {
		d.Threads = orDefault(c.Threads, d.Threads)
		d.ChunkRows = orDefault(c.Rows, d.ChunkRows)
		d.Where = c.Where
	}
	d.Threads = orDefault(threads, d.Threads)
	return d
}

func loadSettings(c *LoaderConfig, threads int) LoadSettings {
	l := LoadSettings{PoolSize: DefaultPoolSize, AddIndexAfterLoad: DefaultAddIndexAfterLoad}
	if c != nil {
		l.PoolSize = orDefault(c.PoolSize, l.PoolSize)
		if c.AddIndexAfterLoad != nil {
			l.AddIndexAfterLoad = *c.AddIndexAfterLoad
		}
	}
	l.PoolSize = orDefault(threads, l.PoolSize)
	return l
}

func syncSettings(c *SyncerConfig, threads int) SyncSettings {
	s := SyncSettings{WorkerCount: DefaultWorkerCount}
	if c != nil {
		s.WorkerCount = orDefault(c.WorkerCount, s.WorkerCount)
		s.Batch = orDefault(c.Batch, s.Batch)
		s.SafeMode = c.SafeMode
	}
	s.WorkerCount = orDefault(threads, s.WorkerCount)
	return s
}

// orDefault is v when set (positive), else def.
func orDefault(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

package config

import (
	"maps"
	"slices"
	"strings"
)

// DM's defaults for the unit settings dmnode uses.
const (
	DefaultDumpThreads = 4      // mydumpers.*.threads
	DefaultChunkRows   = 200000 // mydumpers.*.rows
	DefaultPoolSize    = 16     // loaders.*.pool-size
	DefaultWorkerCount = 16     // syncers.*.worker-count
	DefaultBatch       = 100    // syncers.*.batch
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
	for i := range t.MySQLInstances {
		inst, p := &t.MySQLInstances[i], indexPath("mysql-instances", i)
		checkMydumper(r, childPath(p, "mydumper"), inst.Mydumper)
		checkLoader(r, childPath(p, "loader"), inst.Loader)
		checkSyncer(r, childPath(p, "syncer"), inst.Syncer)
	}
}

func checkMydumper(r *report, p string, c *MydumperConfig) {
	if c == nil {
		return
	}
	positive(r, p, "threads", c.Threads)
	positive(r, p, "rows", c.Rows)
}

// checkLoader accepts DM's logical import (sql and loader are its old
// names) with on-duplicate replace: dmnode's load is idempotent, it
// replaces rows.
func checkLoader(r *report, p string, c *LoaderConfig) {
	if c == nil {
		return
	}
	positive(r, p, "pool-size", c.PoolSize)
	switch mode := strings.ToLower(c.ImportMode); mode {
	case "", "logical", "sql", "loader":
	case "physical", "import-into":
		r.errorf(childPath(p, "import-mode"), "not supported yet: %s (dmnode loads with SQL: logical)", mode)
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
		r.errorf(p, "not supported yet: %s (dmnode replaces duplicate rows: replace)", v)
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
}

// resolveUnits fills in the effective unit settings of every instance: the
// inline or named config, then the *-thread override, then DM's defaults.
func resolveUnits(t *Task) {
	for i := range t.MySQLInstances {
		inst := &t.MySQLInstances[i]
		inst.Dump = dumpSettings(unitConfig(inst.Mydumper, t.Mydumpers, inst.MydumperConfigName), inst.MydumperThread)
		inst.Load = loadSettings(unitConfig(inst.Loader, t.Loaders, inst.LoaderConfigName), inst.LoaderThread)
		inst.Sync = syncSettings(unitConfig(inst.Syncer, t.Syncers, inst.SyncerConfigName), inst.SyncerThread)
	}
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
	l := LoadSettings{PoolSize: DefaultPoolSize}
	if c != nil {
		l.PoolSize = orDefault(c.PoolSize, l.PoolSize)
	}
	l.PoolSize = orDefault(threads, l.PoolSize)
	return l
}

func syncSettings(c *SyncerConfig, threads int) SyncSettings {
	s := SyncSettings{WorkerCount: DefaultWorkerCount, Batch: DefaultBatch}
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

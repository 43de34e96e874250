package bench

import (
	"context"
	"database/sql"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/dmnode/dmnode/tests/harness"
)

// The full copy reads sbtest.sbtest1 of every source; the merged copies go
// to fullDB on the target, mydumper's to mydumperDB(i).
const (
	fullDB    = "bench_full"
	fullTable = fullDB + ".sbtest1"
)

func mydumperDB(i int) string { return fmt.Sprintf("bench_mydumper_%d", i+1) }

// prepareFull creates and fills sbtest.sbtest1 on every source, once for
// the full copy and fan-in workloads.
func (e *env) prepareFull(t *testing.T) {
	start := time.Now()
	g := errgroup.Group{}
	for i, s := range e.sources {
		execAll(t, e.srcDB[i], "CREATE DATABASE sbtest", fmt.Sprintf(sbtestDDL, "sbtest.sbtest1"))
		db := openDB(t, s, "sbtest")
		g.Go(func() error { return seed(db, "sbtest1", i+1, e.cfg.Rows) })
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	t.Logf("full: seeded %d rows on each of 3 sources in %v", e.cfg.Rows, time.Since(start).Round(time.Millisecond))
}

// copyStats is what one full copy run measured.
type copyStats struct {
	wall, rows, bytes float64
	peakMiB, cpuSec   float64
}

func (c copyStats) rowsPerSec() float64 { return c.rows / c.wall }
func (c copyStats) mbPerSec() float64   { return c.bytes / c.wall / 1e6 }

// resetMerged drops dmnode's metadata and the merged target table and
// creates the table again, empty.
func (e *env) resetMerged(t testing.TB, db *sql.DB, schema string, tables ...string) {
	t.Helper()
	execAll(t, db, "DROP DATABASE IF EXISTS dmnode_meta", "DROP DATABASE IF EXISTS "+schema, "CREATE DATABASE "+schema)
	for _, tbl := range tables {
		ddl := mergedDDL
		if tbl == "marker" {
			ddl = mergedMarkerDDL
		}
		execAll(t, db, fmt.Sprintf(ddl, schema+"."+tbl))
	}
}

// copyMode is how a dmnode full copy runs.
type copyMode int

const (
	// atDefaults: the task file sets no threads, rows or pool-size.
	atDefaults copyMode = iota
	// tuned: the peers' dump threads, chunk rows and pool-size.
	tuned
	// split: at the defaults, each source into a table of its own
	// (splitTable), as myloader's copies go: no merge.
	split
)

// splitTable is where split copies source i (from 0).
func splitTable(i int) string { return fmt.Sprintf("%s.sbtest1_%d", fullDB, i+1) }

// fullTaskYAML is the full copy task for the first n sources: every
// sbtest.sbtest1 merged into bench_full.sbtest1, the source id extracted
// into c_source (split: each into splitTable, as it is). Tuned, it sets
// the dump threads, chunk rows and load pool-size to the peers' settings;
// otherwise it sets none, as most users' files do, and dmnode runs with
// its defaults.
func (e *env) fullTaskYAML(name string, n int, mode copyMode, loader string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "name: %s\ntask-mode: full\nis-sharding: true\ntarget-database:\n  host: 127.0.0.1\n  port: %d\n  user: root\n  password: \"\"\nmysql-instances:\n",
		name, e.target.Port)
	tuned := mode == tuned
	for i := range n {
		route := "merge"
		if mode == split {
			route = fmt.Sprintf("split%d", i+1)
		}
		fmt.Fprintf(&b, "  - source-id: %q\n    block-allow-list: bench\n    route-rules: [%s]\n", sourceID(i), route)
		if tuned {
			b.WriteString("    mydumper-config-name: dump\n")
		}
		if tuned || loader != "" {
			b.WriteString("    loader-config-name: load\n")
		}
	}
	b.WriteString(`block-allow-list:
  bench:
    do-tables:
      - db-name: sbtest
        tbl-name: sbtest1
routes:
`)
	if mode == split {
		for i := range n {
			fmt.Fprintf(&b, "  split%d:\n    schema-pattern: sbtest\n    table-pattern: sbtest1\n    target-schema: %s\n    target-table: sbtest1_%d\n",
				i+1, fullDB, i+1)
		}
	} else {
		fmt.Fprintf(&b, `  merge:
    schema-pattern: sbtest
    table-pattern: sbtest1
    target-schema: %s
    target-table: sbtest1
    extract-source:
      source-regexp: "mysql-replica-(.*)"
      target-column: c_source
`, fullDB)
	}
	if tuned {
		fmt.Fprintf(&b, "mydumpers:\n  dump:\n    threads: %d\n    rows: %d\n", e.cfg.Threads, e.cfg.ChunkRows)
	}
	if tuned || loader != "" {
		b.WriteString("loaders:\n  load:\n")
		if tuned {
			fmt.Fprintf(&b, "    pool-size: %d\n", e.cfg.Threads)
		}
		for _, kv := range strings.Split(loader, ";") {
			if kv = strings.TrimSpace(kv); kv != "" {
				fmt.Fprintf(&b, "    %s\n", kv)
			}
		}
	}
	return b.String()
}

// dmnodeFull copies the first n sources with a fresh `dmnode dev` and a
// full-mode task (fullTaskYAML), from submit until every source is done.
func (e *env) dmnodeFull(t *testing.T, n int, name string, mode copyMode) copyStats {
	return e.dmnodeFullWith(t, e.bin, e.cfg.Loader, n, name, mode)
}

// dmnodeFullWith is dmnodeFull with the dmnode binary bin and the loader
// settings loader.
func (e *env) dmnodeFullWith(t *testing.T, bin, loader string, n int, name string, mode copyMode) copyStats {
	switch {
	case e.cfg.DmnodeCreates:
		e.resetMerged(t, e.tgtDB, fullDB)
	case mode == split:
		e.resetMerged(t, e.tgtDB, fullDB)
		for i := range n {
			execAll(t, e.tgtDB, fmt.Sprintf(sbtestDDL, splitTable(i)))
		}
	default:
		e.resetMerged(t, e.tgtDB, fullDB, "sbtest1")
	}
	d := startDev(t, bin)
	d.cli(t, append([]string{"source", "add"}, e.srcYAML[:n]...)...)
	task := writeFile(t, t.TempDir(), "task.yaml", e.fullTaskYAML(name, n, mode, loader))
	_, cpu0, err := procStats(d.proc.Pid())
	if err != nil {
		t.Fatal(err)
	}
	srv0 := e.serverCPU(t, n)
	start := time.Now()
	profiled := d.profileCPU(t, name, pprofSecs(4))
	d.cli(t, "task", "submit", task)
	d.waitStage(t, name, "done", 30*time.Minute)
	wall := time.Since(start).Seconds()
	defer profiled()
	peak, cpu1, err := procStats(d.proc.Pid())
	if err != nil {
		t.Fatal(err)
	}
	srv1 := e.serverCPU(t, n)
	per := float64(n*e.cfg.Rows) / 1e5
	t.Logf("CPU-s per 100k rows: dmnode %.3f, target mariadbd %.3f, source mariadbds %.3f",
		(cpu1-cpu0)/per, (srv1[0]-srv0[0])/per, (srv1[1]-srv0[1])/per)
	if mode == split {
		e.verifySplit(t, n)
	} else {
		e.verifyMerged(t, n)
	}
	return copyStats{wall: wall, rows: float64(n * e.cfg.Rows), bytes: float64(e.bytesOf(n)), peakMiB: peak, cpuSec: cpu1 - cpu0}
}

// serverCPU returns the CPU seconds (user and system) the target's
// mariadbd and the first n sources' together have used so far.
func (e *env) serverCPU(t testing.TB, n int) [2]float64 {
	t.Helper()
	var out [2]float64
	for i, s := range append([]*harness.Server{e.target}, e.sources[:n]...) {
		_, c, err := procStats(s.Pid())
		if err != nil {
			t.Fatal(err)
		}
		out[min(i, 1)] += c
	}
	return out
}

// bytesOf is the CSV size of the first n sources' tables.
func (e *env) bytesOf(n int) int64 {
	var b int64
	for i := range n {
		b += csvBytes(i+1, e.cfg.Rows)
	}
	return b
}

// verifyMerged compares every one of the first n sources with its rows in
// the merged table, and the merged table's row count with theirs.
func (e *env) verifyMerged(t testing.TB, n int) {
	t.Helper()
	for i := range n {
		diff, err := sameTable(e.srcDB[i], "sbtest.sbtest1", e.tgtDB, fullTable, "c_source = '"+sourceTag(i)+"'", sbtestCols)
		if err != nil {
			t.Fatal(err)
		}
		if diff != "" {
			t.Fatalf("rows differ: %s", diff)
		}
	}
	var total int
	if err := e.tgtDB.QueryRow("SELECT COUNT(*) FROM " + fullTable).Scan(&total); err != nil {
		t.Fatal(err)
	}
	if total != n*e.cfg.Rows {
		t.Fatalf("%s holds %d rows, want %d", fullTable, total, n*e.cfg.Rows)
	}
}

// verifySplit compares every one of the first n sources with its own
// table of a split copy, rows and count.
func (e *env) verifySplit(t testing.TB, n int) {
	t.Helper()
	for i := range n {
		diff, err := sameTable(e.srcDB[i], "sbtest.sbtest1", e.tgtDB, splitTable(i), "", sbtestCols)
		if err != nil {
			t.Fatal(err)
		}
		if diff != "" {
			t.Fatalf("rows differ: %s", diff)
		}
	}
}

// mydumperFull dumps every source's sbtest with mydumper (in parallel, one
// process per source) and then loads each dump into its own database on the
// target with myloader (in parallel): DM's own dump and load tools, with
// the same threads per source and the binlog on, as dmnode's loads have it.
func (e *env) mydumperFull(t *testing.T) copyStats {
	for i := range e.sources {
		execAll(t, e.tgtDB, "DROP DATABASE IF EXISTS "+mydumperDB(i))
	}
	dir := t.TempDir()
	threads := strconv.Itoa(e.cfg.Threads)
	srv0 := e.serverCPU(t, len(e.sources))
	start := time.Now()
	runAll(t, len(e.sources), func(i int) []string {
		return []string{"mydumper", "--host", "127.0.0.1", "--port", strconv.Itoa(e.sources[i].Port), "--user", "root",
			"--database", "sbtest", "--threads", threads, "--rows", strconv.Itoa(e.cfg.ChunkRows),
			"--outputdir", filepath.Join(dir, strconv.Itoa(i)), "--verbose", "1"}
	})
	dumped := time.Since(start)
	runAll(t, len(e.sources), func(i int) []string {
		return []string{"myloader", "--host", "127.0.0.1", "--port", strconv.Itoa(e.target.Port), "--user", "root",
			"--directory", filepath.Join(dir, strconv.Itoa(i)), "--database", mydumperDB(i), "--threads", threads,
			"--enable-binlog", "--overwrite-tables", "--verbose", "1"}
	})
	wall := time.Since(start).Seconds()
	srv1 := e.serverCPU(t, len(e.sources))
	t.Logf("mydumper %.1fs, myloader %.1fs; server CPU-s per 100k rows: target %.3f, sources %.3f", dumped.Seconds(), wall-dumped.Seconds(),
		(srv1[0]-srv0[0])/float64(3*e.cfg.Rows)*1e5, (srv1[1]-srv0[1])/float64(3*e.cfg.Rows)*1e5)
	for i := range e.sources {
		diff, err := sameTable(e.srcDB[i], "sbtest.sbtest1", e.tgtDB, mydumperDB(i)+".sbtest1", "", sbtestCols)
		if err != nil {
			t.Fatal(err)
		}
		if diff != "" {
			t.Fatalf("rows differ: %s", diff)
		}
	}
	return copyStats{wall: wall, rows: float64(3 * e.cfg.Rows), bytes: float64(e.bytesOf(3))}
}

// runAll runs n commands in parallel and fails the test if any fails.
func runAll(t *testing.T, n int, cmd func(i int) []string) {
	t.Helper()
	g, ctx := errgroup.WithContext(t.Context())
	for i := range n {
		args := cmd(i)
		g.Go(func() error {
			out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
			if err != nil {
				return fmt.Errorf("%s: %v\n%s", strings.Join(args, " "), err, out)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
}

// Rows per INSERT of the ceiling client: dmnode's loader writes 500.
const ceilingRowsPerStmt = 500

// insertCeiling writes the same rows as the merged copy with multi-row
// INSERTs from a plain client over threads × sources connections. The
// statements are built before the clock starts, so the figure is the
// target's: what a loader could reach at best.
func (e *env) insertCeiling(t *testing.T) copyStats {
	e.resetMerged(t, e.tgtDB, fullDB, "sbtest1")
	var stmts []string
	var b strings.Builder
	for i := range e.sources {
		for from := 1; from <= e.cfg.Rows; from += ceilingRowsPerStmt {
			b.Reset()
			b.WriteString("INSERT INTO " + fullTable + " (id, k, c, pad, c_source) VALUES ")
			for id := from; id < from+ceilingRowsPerStmt && id <= e.cfg.Rows; id++ {
				if id > from {
					b.WriteByte(',')
				}
				fmt.Fprintf(&b, "(%d,%d,'%s','%s','%s')", id, kOf(i+1, id), cOf(i+1, id), padOf(i+1, id), sourceTag(i))
			}
			stmts = append(stmts, b.String())
		}
	}
	conns := e.cfg.Threads * len(e.sources)
	work := make(chan string, len(stmts)) // holds every statement: the workers never wait for a producer
	for _, s := range stmts {
		work <- s
	}
	close(work)
	ctx := context.Background()
	var cs []*sql.Conn
	for range conns {
		c, err := e.tgtDB.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	srv0 := e.serverCPU(t, 0)
	start := time.Now()
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Go(func() {
			for s := range work {
				if _, err := c.ExecContext(ctx, s); err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	wall := time.Since(start).Seconds()
	srv1 := e.serverCPU(t, 0)
	t.Logf("INSERT ceiling: target CPU-s per 100k rows %.3f", (srv1[0]-srv0[0])/float64(3*e.cfg.Rows)*1e5)
	for _, c := range cs {
		_ = c.Close()
	}
	if firstErr != nil {
		t.Fatalf("insert ceiling: %v", firstErr)
	}
	e.verifyMerged(t, len(e.sources))
	return copyStats{wall: wall, rows: float64(3 * e.cfg.Rows), bytes: float64(e.bytesOf(3))}
}

// runFull measures the full copy of three sources by every contender,
// alternating contenders within each round so drift on the shared machine
// spreads over all of them.
func (e *env) runFull(t *testing.T) []copyStats {
	if e.cfg.Warmup {
		// One round whose figures are dropped: the target's and the
		// sources' first runs pay for cold caches and file growth.
		t.Run("warmup", func(t *testing.T) {
			e.dmnodeFull(t, 3, "full-warmup", atDefaults)
			if e.contends("mydumper") {
				e.mydumperFull(t)
			}
			if e.contends("ceiling") {
				e.insertCeiling(t)
			}
		})
		if t.Failed() {
			t.FailNow()
		}
	}
	var dm, dmB, tunedRuns, splitRuns, my, ceil []copyStats
	for r := range e.cfg.Runs {
		if e.contends("dmnode") {
			t.Run(fmt.Sprintf("dmnode/%d", r+1), func(t *testing.T) {
				s := e.dmnodeFull(t, 3, fmt.Sprintf("full-%d", r+1), atDefaults)
				t.Logf("dmnode, the task's defaults: %.1fs, %.0f rows/s, peak RSS %.0f MiB, %.1f CPU-s", s.wall, s.rowsPerSec(), s.peakMiB, s.cpuSec)
				dm = append(dm, s)
			})
		}
		if e.cfg.hasB() {
			t.Run(fmt.Sprintf("dmnode-b/%d", r+1), func(t *testing.T) {
				bin, loader := e.bin, e.cfg.Loader
				if e.cfg.BinB != "" {
					bin = e.cfg.BinB
				}
				if e.cfg.LoaderB != "" {
					loader = e.cfg.LoaderB
				}
				s := e.dmnodeFullWith(t, bin, loader, 3, fmt.Sprintf("full-b-%d", r+1), atDefaults)
				t.Logf("dmnode B (%s, loader %q), the task's defaults: %.1fs, %.0f rows/s, peak RSS %.0f MiB, %.1f CPU-s", bin, loader, s.wall, s.rowsPerSec(), s.peakMiB, s.cpuSec)
				dmB = append(dmB, s)
			})
		}
		if e.contends("tuned") {
			t.Run(fmt.Sprintf("dmnode-tuned/%d", r+1), func(t *testing.T) {
				s := e.dmnodeFull(t, 3, fmt.Sprintf("full-tuned-%d", r+1), tuned)
				t.Logf("dmnode, the peers' threads: %.1fs, %.0f rows/s, peak RSS %.0f MiB, %.1f CPU-s", s.wall, s.rowsPerSec(), s.peakMiB, s.cpuSec)
				tunedRuns = append(tunedRuns, s)
			})
		}
		if e.contends("split") {
			t.Run(fmt.Sprintf("dmnode-split/%d", r+1), func(t *testing.T) {
				s := e.dmnodeFull(t, 3, fmt.Sprintf("full-split-%d", r+1), split)
				t.Logf("dmnode, each source into its own table: %.1fs, %.0f rows/s, peak RSS %.0f MiB, %.1f CPU-s", s.wall, s.rowsPerSec(), s.peakMiB, s.cpuSec)
				splitRuns = append(splitRuns, s)
			})
		}
		if e.contends("mydumper") {
			t.Run(fmt.Sprintf("mydumper/%d", r+1), func(t *testing.T) {
				s := e.mydumperFull(t)
				t.Logf("mydumper+myloader: %.1fs, %.0f rows/s", s.wall, s.rowsPerSec())
				my = append(my, s)
			})
		}
		if e.contends("ceiling") {
			t.Run(fmt.Sprintf("ceiling/%d", r+1), func(t *testing.T) {
				s := e.insertCeiling(t)
				t.Logf("INSERT ceiling: %.1fs, %.0f rows/s", s.wall, s.rowsPerSec())
				ceil = append(ceil, s)
			})
		}
		if t.Failed() {
			t.FailNow()
		}
	}
	for i := range e.sources {
		execAll(t, e.tgtDB, "DROP DATABASE IF EXISTS "+mydumperDB(i))
	}
	if len(dm) > 0 {
		e.addCopy("full", "dmnode", dm, true).Note = "the task file sets no threads, rows or pool-size: dmnode's defaults, connections adaptive"
	}
	if len(dmB) > 0 {
		e.addCopy("full", "dmnode B", dmB, true).Note = fmt.Sprintf("BENCH_BIN_B=%q BENCH_LOADER_B=%q, otherwise the task's defaults", e.cfg.BinB, e.cfg.LoaderB)
	}
	if len(splitRuns) > 0 {
		e.addCopy("full", "dmnode split", splitRuns, true).Note = "the task's defaults, each source into a table of its own as myloader's copies go: no merge"
	}
	if len(tunedRuns) > 0 {
		e.addCopy("full", "dmnode tuned", tunedRuns, true).Note =
			fmt.Sprintf("threads %d, rows %d, pool-size %d per source: the peers' settings", e.cfg.Threads, e.cfg.ChunkRows, e.cfg.Threads)
	}
	if len(my) > 0 {
		e.addCopy("full", "mydumper+myloader", my, false).Note =
			fmt.Sprintf("mydumper %s -t %d -r %d, then myloader -t %d --enable-binlog, one process per source in parallel; each shard into its own database",
				toolVersion("mydumper"), e.cfg.Threads, e.cfg.ChunkRows, e.cfg.Threads)
	}
	if len(ceil) > 0 {
		e.addCopy("full", "INSERT ceiling", ceil, false).Note =
			fmt.Sprintf("%d connections, %d rows per INSERT, statements built before timing", e.cfg.Threads*3, ceilingRowsPerStmt)
	}
	return dm
}

// contends reports whether a full copy contender runs (BENCH_CONTENDERS).
func (e *env) contends(c string) bool { return slices.Contains(e.cfg.Contenders, c) }

// addCopy records a contender's copy figures; it returns the rows/s result.
func (e *env) addCopy(workload, contender string, runs []copyStats, withProc bool) *result {
	pick := func(f func(copyStats) float64) []float64 {
		var v []float64
		for _, r := range runs {
			v = append(v, f(r))
		}
		return v
	}
	res := e.rep.add(workload, contender, "rows/s", "rows/s", higherIsBetter, pick(copyStats.rowsPerSec)...)
	e.rep.add(workload, contender, "MB/s", "MB/s", higherIsBetter, pick(copyStats.mbPerSec)...)
	e.rep.add(workload, contender, "wall", "s", lowerIsBetter, pick(func(c copyStats) float64 { return c.wall })...)
	if withProc {
		e.rep.add(workload, contender, "peak RSS", "MiB", lowerIsBetter, pick(func(c copyStats) float64 { return c.peakMiB })...)
		e.rep.add(workload, contender, "CPU per 100k rows", "CPU-s", lowerIsBetter,
			pick(func(c copyStats) float64 { return c.cpuSec / c.rows * 1e5 })...)
	}
	return res
}

// runFanIn measures dmnode's full copy from one, two and three sources;
// three sources reuse the full workload's runs when it ran.
func (e *env) runFanIn(t *testing.T, three []copyStats) {
	for n := 1; n <= 3; n++ {
		runs := three
		if n < 3 || runs == nil {
			runs = nil
			for r := range e.cfg.Runs {
				t.Run(fmt.Sprintf("%d-sources/%d", n, r+1), func(t *testing.T) {
					s := e.dmnodeFull(t, n, fmt.Sprintf("fanin-%d-%d", n, r+1), atDefaults)
					t.Logf("dmnode, %d sources: %.1fs, %.0f rows/s", n, s.wall, s.rowsPerSec())
					runs = append(runs, s)
				})
				if t.Failed() {
					t.FailNow()
				}
			}
		}
		e.addCopy("fanin", fmt.Sprintf("dmnode %d src", n), runs, true)
	}
}

// toolVersion returns the first line of `tool --version`.
func toolVersion(tool string) string {
	out, err := exec.Command(tool, "--version").CombinedOutput()
	if err != nil {
		return "(unknown version)"
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	if f := strings.Fields(line); len(f) >= 2 {
		return f[1]
	}
	return line
}

package bench

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// workloads in the order they run. steady takes its rate from incr's
// native replica when both run.
var allWorkloads = []string{"full", "fanin", "incr", "bigtxn", "manytables", "steady", "failover"}

// config is what the BENCH* environment variables select (envHelp lists
// them). The defaults
// fit a run of every workload into about eight minutes on two cores.
type config struct {
	Workloads []string `json:"workloads"`
	// Scale multiplies the default sizes (rows, events, steady duration
	// stays as set).
	Scale float64 `json:"scale"`
	// Rows is the number of rows per source for the full copy and fan-in.
	Rows int `json:"rows_per_source"`
	// ChunkRows is dmnode's and mydumper's rows per chunk.
	ChunkRows int `json:"chunk_rows"`
	// Threads is the number of dump threads and of target connections per
	// source, for every contender.
	Threads int `json:"threads_per_source"`
	// Events is the size of the binlog backlog, in row events over all
	// sources.
	Events int `json:"backlog_row_events"`
	// BigTxnRows is the size of the bigtxn workload's one transaction.
	BigTxnRows int `json:"bigtxn_rows"`
	// IncrBulk, when set, adds to the middle of source 1's incr backlog one
	// INSERT…SELECT of that many rows: one transaction of as many row
	// events.
	IncrBulk int `json:"incr_bulk_rows,omitempty"`
	// ManyTables is the number of tables the manytables workload copies.
	ManyTables int `json:"many_tables"`
	// BaseRows is the number of rows each source's table holds before the
	// backlog (incr) or the steady writes start.
	BaseRows int `json:"base_rows_per_source"`
	// Runs is the number of runs of each quick workload (full, fanin,
	// incr); SlowRuns of steady and failover.
	Runs     int `json:"runs"`
	SlowRuns int `json:"slow_runs"`
	// Warmup runs one untimed round of the full copy first.
	Warmup bool `json:"warmup"`
	// SteadyFor is how long the steady workload writes; SteadyRate, when
	// set, its row events per second instead of half the measured ceiling.
	SteadyFor  time.Duration `json:"steady_duration_ns"`
	SteadyRate int           `json:"steady_rate,omitempty"`
	// SteadyPeer has a MariaDB replica follow the steady writes too, at
	// each rate dmnode follows them.
	SteadyPeer bool `json:"steady_peer"`
	// TextRows: c and pad hold words and numbers (BENCH_DATA=text), not
	// hex digests.
	TextRows bool `json:"text_rows,omitempty"`
	// FailoverRate is the failover workload's write rate in row events/s.
	FailoverRate int `json:"failover_rate"`
	// Heartbeat is the cluster nodes' --heartbeat-timeout.
	Heartbeat time.Duration `json:"heartbeat_timeout_ns"`
	// Contenders are the full copy's contenders that run (default all).
	Contenders []string `json:"full_contenders"`
	// DmnodeCreates leaves the merged table of dmnode's full copy for
	// dmnode to create from the sources' schema instead of creating it
	// first, as a user's target usually is.
	DmnodeCreates bool `json:"dmnode_creates_table,omitempty"`
	// Loader is extra loader settings for dmnode's full copy task, as
	// "key: value" lines under loaders (BENCH_LOADER).
	Loader string `json:"loader,omitempty"`
	// BinB is a second dmnode binary whose full copy runs after dmnode's
	// in every round (contender "dmnode B"), for an interleaved A/B of two
	// builds on a noisy machine; in incr its catch-up at the task's
	// defaults runs after dmnode's in every round, in place of the tuned
	// run.
	BinB string `json:"bin_b,omitempty"`
	// LoaderB is the loader settings of contender "dmnode B" instead of
	// Loader (BENCH_LOADER_B): an A/B of a task option.
	LoaderB string `json:"loader_b,omitempty"`
}

// hasB reports whether contender "dmnode B" runs.
func (c config) hasB() bool { return c.BinB != "" || c.LoaderB != "" }

// fullContenders are the full copy's contenders, in the order they run;
// optionalContenders run only when BENCH_CONTENDERS names them.
var (
	fullContenders     = []string{"dmnode", "tuned", "mydumper", "ceiling"}
	optionalContenders = []string{"split"}
)

const envHelp = `BENCH=full,fanin,incr,bigtxn,manytables,steady,failover  workloads (default all)
BENCH_SCALE=1        multiplies rows and events (4 gives a >=1.2M-event backlog)
BENCH_ROWS=N         rows per source for full/fanin (default 100000 x scale)
BENCH_EVENTS=N       backlog row events over all sources (default 300000 x scale)
BENCH_BIGTXN_ROWS=N  rows of bigtxn's one transaction (default 300000 x scale)
BENCH_INCR_BULK=N    adds one INSERT…SELECT of N rows to the middle of source 1's incr backlog (default none)
BENCH_MANY_TABLES=N  tables the manytables workload copies (default 10000)
BENCH_RUNS=3         runs of full, fanin and incr; BENCH_SLOW_RUNS=1 of steady and failover
BENCH_WARMUP=1       one untimed full-copy round first (0: none)
BENCH_THREADS=2      dump threads and target connections per source, every contender
BENCH_STEADY=60s     steady write duration per rate; BENCH_STEADY_RATE=N fixes its rate (row events/s)
BENCH_STEADY_PEER=1  a MariaDB replica follows the steady writes too, at every rate (0: dmnode alone)
BENCH_FAILOVER_RATE=1500  row events/s during failover; BENCH_HEARTBEAT=5s node heartbeat timeout
BENCH_CONTENDERS=dmnode,tuned,mydumper,ceiling  full copy contenders (default these; "split" adds dmnode copying each source into its own table, no merge)
BENCH_DMNODE_CREATES=1  dmnode creates the merged target table (default: created first)
BENCH_LOADER="k: v;k2: v2"  extra keys of dmnode's loader config in the full copy
BENCH_BIN_B=PATH     a second dmnode build, run after dmnode in every full-copy and incr round (A/B; in incr in place of the tuned run)
BENCH_LOADER_B="k: v"  BENCH_LOADER of that second copy instead (A/B of an option; the same build unless BENCH_BIN_B)
BENCH_VERBOSE=1      dmnode logs at info level, printed after every run
BENCH_DATA=text      c and pad hold words and numbers, which compress, instead of hex digests (default hex), in every workload
BENCH_PPROF=DIR      a 4 s CPU profile of dmnode from each full-copy submit (20 s in incr, from when its HTTP port answers; 20 s in steady, from when the writes start), written to DIR/<task>.pprof
BENCH_PPROF_SECS=N  the full copy's profile length instead of 4 s`

func loadConfig() (config, error) {
	c := config{Scale: 1, Runs: 3, SlowRuns: 1, Threads: 2, SteadyFor: 60 * time.Second,
		FailoverRate: 1500, Heartbeat: 5 * time.Second}
	var errs []string
	num := func(name string, def int) int {
		v := os.Getenv(name)
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(strings.ReplaceAll(v, "_", ""))
		if err != nil || n <= 0 {
			errs = append(errs, fmt.Sprintf("%s=%q: want a positive integer", name, v))
			return def
		}
		return n
	}
	dur := func(name string, def time.Duration) time.Duration {
		v := os.Getenv(name)
		if v == "" {
			return def
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Sprintf("%s=%q: want a duration such as 90s", name, v))
			return def
		}
		return d
	}
	if v := os.Getenv("BENCH_SCALE"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f <= 0 {
			errs = append(errs, fmt.Sprintf("BENCH_SCALE=%q: want a positive number", v))
		} else {
			c.Scale = f
		}
	}
	c.Workloads = allWorkloads
	if v := os.Getenv("BENCH"); v != "" && v != "all" {
		c.Workloads = nil
		for _, w := range strings.Split(v, ",") {
			w = strings.TrimSpace(w)
			if !slices.Contains(allWorkloads, w) {
				errs = append(errs, fmt.Sprintf("BENCH: unknown workload %q (have %s)", w, strings.Join(allWorkloads, ",")))
				continue
			}
			c.Workloads = append(c.Workloads, w)
		}
		// Run them in the canonical order whatever order they were named in.
		slices.SortFunc(c.Workloads, func(a, b string) int {
			return slices.Index(allWorkloads, a) - slices.Index(allWorkloads, b)
		})
	}
	c.Rows = num("BENCH_ROWS", int(100_000*c.Scale))
	c.Events = num("BENCH_EVENTS", int(300_000*c.Scale))
	c.BigTxnRows = num("BENCH_BIGTXN_ROWS", int(300_000*c.Scale))
	c.IncrBulk = num("BENCH_INCR_BULK", 0)
	c.ManyTables = num("BENCH_MANY_TABLES", 10_000)
	c.BaseRows = max(10_000, min(c.Rows/5, 200_000))
	c.ChunkRows = max(1000, c.Rows/10)
	c.Runs = num("BENCH_RUNS", c.Runs)
	c.SlowRuns = num("BENCH_SLOW_RUNS", c.SlowRuns)
	c.Threads = num("BENCH_THREADS", c.Threads)
	c.Warmup = os.Getenv("BENCH_WARMUP") != "0"
	c.SteadyFor = dur("BENCH_STEADY", c.SteadyFor)
	c.SteadyRate = num("BENCH_STEADY_RATE", 0)
	c.SteadyPeer = os.Getenv("BENCH_STEADY_PEER") != "0"
	c.FailoverRate = num("BENCH_FAILOVER_RATE", c.FailoverRate)
	c.Heartbeat = dur("BENCH_HEARTBEAT", c.Heartbeat)
	c.Contenders = fullContenders
	if v := os.Getenv("BENCH_CONTENDERS"); v != "" {
		c.Contenders = nil
		for _, w := range strings.Split(v, ",") {
			w = strings.TrimSpace(w)
			if !slices.Contains(fullContenders, w) && !slices.Contains(optionalContenders, w) {
				errs = append(errs, fmt.Sprintf("BENCH_CONTENDERS: unknown contender %q (have %s)", w, strings.Join(append(slices.Clone(fullContenders), optionalContenders...), ",")))
				continue
			}
			c.Contenders = append(c.Contenders, w)
		}
	}
	switch v := os.Getenv("BENCH_DATA"); v {
	case "", "hex":
	case "text":
		c.TextRows = true
	default:
		errs = append(errs, fmt.Sprintf("BENCH_DATA: %q, want hex or text", v))
	}
	textRows = c.TextRows
	c.DmnodeCreates = os.Getenv("BENCH_DMNODE_CREATES") == "1"
	c.Loader = os.Getenv("BENCH_LOADER")
	c.BinB = os.Getenv("BENCH_BIN_B")
	c.LoaderB = os.Getenv("BENCH_LOADER_B")
	if len(errs) > 0 {
		return c, fmt.Errorf("%s\n\n%s", strings.Join(errs, "\n"), envHelp)
	}
	return c, nil
}

func (c config) has(w string) bool { return slices.Contains(c.Workloads, w) }

func (c config) String() string {
	rows := "hex"
	if c.TextRows {
		rows = "text"
	}
	return fmt.Sprintf("workloads=%s scale=%g rows/source=%d (%s) chunk=%d threads/source=%d backlog=%d row events base rows/source=%d runs=%d slow runs=%d warmup=%v steady=%s failover rate=%d/s heartbeat=%s",
		strings.Join(c.Workloads, ","), c.Scale, c.Rows, rows, c.ChunkRows, c.Threads, c.Events, c.BaseRows, c.Runs, c.SlowRuns, c.Warmup,
		c.SteadyFor, c.FailoverRate, c.Heartbeat)
}

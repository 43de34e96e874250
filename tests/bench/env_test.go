package bench

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/node"
	"github.com/dmnode/dmnode/tests/harness"
)

// serverArgs are the options of every MariaDB server the benchmark starts,
// on top of the harness's (binlog in ROW format with full images,
// innodb_flush_log_at_trx_commit=2, sync_binlog=0): a buffer pool that holds
// the data, as a production server's would.
var serverArgs = []string{
	"--innodb-buffer-pool-size=1G",
	"--innodb-log-file-size=512M",
	"--max-connections=500",
}

// env is what every workload shares: the dmnode binary, three sources, the
// target and the report.
type env struct {
	cfg     config
	bin     string
	dir     string
	sources []*harness.Server
	srcDB   []*sql.DB // no current database
	target  *harness.Server
	tgtDB   *sql.DB
	srcYAML []string // a DM source.yaml per source
	rep     *report
}

func newEnv(t *testing.T, cfg config, rep *report) *env {
	e := &env{cfg: cfg, bin: harness.BuildDmnode(t), dir: t.TempDir(), rep: rep}
	// Start the four servers one after the other: the harness fails the
	// test from its own goroutine only.
	for i := range 3 {
		e.sources = append(e.sources, harness.StartMariaDB(t, harness.Options{ServerID: i + 1, ExtraArgs: serverArgs}))
	}
	e.target = harness.StartMariaDB(t, harness.Options{ServerID: 100, ExtraArgs: serverArgs})
	for i, s := range e.sources {
		e.srcDB = append(e.srcDB, s.DB(t))
		e.srcYAML = append(e.srcYAML, writeFile(t, e.dir, fmt.Sprintf("source%d.yaml", i+1), fmt.Sprintf(`source-id: %q
enable-gtid: false
flavor: mariadb
from:
  host: 127.0.0.1
  port: %d
  user: root
  password: ""
`, sourceID(i), s.Port)))
	}
	e.tgtDB = e.target.DB(t)
	var version string
	if err := e.tgtDB.QueryRow("SELECT VERSION()").Scan(&version); err == nil {
		rep.Host["mariadb"] = version
	}
	return e
}

func sourceID(i int) string { return fmt.Sprintf("mysql-replica-%02d", i+1) }

// sourceTag is what extract-source writes into c_source for source i.
func sourceTag(i int) string { return fmt.Sprintf("%02d", i+1) }

func writeFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// openDB opens a pool to database db on s, closed at cleanup.
func openDB(t testing.TB, s *harness.Server, db string) *sql.DB {
	t.Helper()
	pool, err := sql.Open("mysql", s.DSN(db))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pool.Close() })
	return pool
}

func execAll(t testing.TB, db *sql.DB, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// masterPos returns the server's current binlog position.
func masterPos(db *sql.DB) (dmnode.Position, error) {
	var p dmnode.Position
	var doDB, ignoreDB string
	err := db.QueryRow("SHOW MASTER STATUS").Scan(&p.File, &p.Pos, &doDB, &ignoreDB)
	return p, err
}

// dmnodeProc is a running dmnode process and a control API client to it.
type dmnodeProc struct {
	bin    string
	url    string
	proc   *harness.Process
	client *node.Client
	// httpPort serves /debug/pprof/ when BENCH_PPROF is set; 0 otherwise.
	httpPort int
}

// pprofSecs is the length of a CPU profile: BENCH_PPROF_SECS, else def.
func pprofSecs(def int) int {
	if n, err := strconv.Atoi(os.Getenv("BENCH_PPROF_SECS")); err == nil && n > 0 {
		return n
	}
	return def
}

// profileCPU starts a CPU profile of the node for secs seconds and returns
// a function that waits for it and writes it to BENCH_PPROF/name.pprof,
// with a heap profile taken as it ended in name.heap.pprof. Without
// BENCH_PPROF it does nothing.
func (d *dmnodeProc) profileCPU(t testing.TB, name string, secs int) (wait func()) {
	dir := os.Getenv("BENCH_PPROF")
	if dir == "" || d.httpPort == 0 {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		// The node opens its HTTP port some seconds after its NATS port:
		// the profile starts once it answers.
		url := fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/profile?seconds=%d", d.httpPort, secs)
		resp, err := http.Get(url)
		for deadline := time.Now().Add(time.Minute); err != nil && time.Now().Before(deadline); {
			time.Sleep(200 * time.Millisecond)
			resp, err = http.Get(url)
		}
		if err != nil {
			t.Logf("cpu profile: %v", err)
			return
		}
		save := func(resp *http.Response, file string) {
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err == nil {
				err = os.WriteFile(filepath.Join(dir, file), b, 0o644)
			}
			if err != nil {
				t.Logf("profile %s: %v", file, err)
			}
		}
		save(resp, name+".pprof")
		if resp, err = http.Get(fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/heap", d.httpPort)); err != nil {
			t.Logf("heap profile: %v", err)
			return
		}
		save(resp, name+".heap.pprof")
	}()
	return func() { <-done }
}

// startDev starts `dmnode dev` on a fresh data dir and waits until it
// answers. It is stopped at the end of t.
func startDev(t *testing.T, bin string) *dmnodeProc {
	t.Helper()
	port := harness.FreePort(t)
	d := &dmnodeProc{bin: bin, url: fmt.Sprintf("nats://127.0.0.1:%d", port)}
	args := []string{"dev", "--data-dir", filepath.Join(t.TempDir(), "dmnode-data"),
		"--nats-port", strconv.Itoa(port), "--log-level", logLevel()}
	if os.Getenv("BENCH_PPROF") != "" {
		d.httpPort = harness.FreePort(t)
		args = append(args, "--http-port", strconv.Itoa(d.httpPort), "--pprof")
	}
	d.proc = harness.StartProcess(t, bin, args)
	d.connect(t)
	d.logOnVerbose(t)
	return d
}

// logOnVerbose prints the process's log at the end of t when BENCH_VERBOSE
// is set; the harness prints it anyway when t fails.
func (d *dmnodeProc) logOnVerbose(t *testing.T) {
	if os.Getenv("BENCH_VERBOSE") == "" {
		return
	}
	t.Cleanup(func() {
		if !t.Failed() {
			t.Logf("log of dmnode at %s:\n%s", d.url, d.proc.Log())
		}
	})
}

// connect waits until the node answers its control API and keeps a client.
func (d *dmnodeProc) connect(t *testing.T) {
	t.Helper()
	harness.Eventually(t, 60*time.Second, func() error {
		if ok, err := d.proc.Exited(); ok {
			t.Fatalf("dmnode exited: %v\n%s", err, d.proc.Log())
		}
		// A cluster's nodes require credentials (startCluster sets them).
		c, err := node.DialWith(d.url, node.ConnOptions{Creds: os.Getenv("DMNODE_CREDS")})
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := c.Call(ctx, "task.list", &node.Request{}); err != nil {
			c.Close()
			return err
		}
		d.client = c
		return nil
	})
	t.Cleanup(d.client.Close)
}

// cli runs a dmnode command against the node and fails the test on error.
func (d *dmnodeProc) cli(t testing.TB, args ...string) string {
	t.Helper()
	out, err := harness.Run(t, d.bin, append([]string{"--server", d.url}, args...)...)
	if err != nil {
		t.Fatalf("dmnode %s: %v\n%s\nnode log:\n%s", strings.Join(args, " "), err, out, tail(d.proc.Log(), 4000))
	}
	return out
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// status returns a task's status.
func (d *dmnodeProc) status(task string) (node.TaskStatus, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := d.client.Call(ctx, "task.status", &node.Request{Name: task})
	if err != nil {
		return node.TaskStatus{}, err
	}
	if len(resp.Tasks) != 1 {
		return node.TaskStatus{}, fmt.Errorf("task %s: %d tasks in status", task, len(resp.Tasks))
	}
	return resp.Tasks[0], nil
}

// errStageError is returned by stageReached when a source stopped on an
// error: waiting longer will not help.
var errStageError = errors.New("source stopped on an error")

// stageReached reports whether every source of the task is at stage (sync
// also accepts done, as task wait does).
func stageReached(st node.TaskStatus, stage string) (bool, error) {
	for _, s := range st.Sources {
		if s.Stage == "error" {
			return false, fmt.Errorf("%w: %s: %s", errStageError, s.Source, s.LastError)
		}
		if s.Stage != stage && (stage != "sync" || s.Stage != "done") {
			return false, nil
		}
	}
	return len(st.Sources) > 0, nil
}

// waitStage polls the task's status every 50ms until every source reached
// stage, failing the test on an error stage or after timeout.
func (d *dmnodeProc) waitStage(t testing.TB, task, stage string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		st, err := d.status(task)
		if err == nil {
			var ok bool
			ok, err = stageReached(st, stage)
			if errors.Is(err, errStageError) {
				t.Fatalf("task %s: %v\nnode log:\n%s", task, err, tail(d.proc.Log(), 4000))
			}
			if ok {
				return
			}
			if err == nil {
				err = fmt.Errorf("not yet: %+v", st.Sources)
			}
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("task %s: stage %s not reached within %v: %v\nnode log:\n%s", task, stage, timeout, last, tail(d.proc.Log(), 4000))
}

// procStats reads a process's peak resident set (VmHWM, in MiB) and its
// CPU time so far (user+system, in seconds) from /proc.
func procStats(pid int) (peakMiB, cpuSec float64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			if err != nil {
				return 0, 0, fmt.Errorf("parse VmHWM %q: %w", v, err)
			}
			peakMiB = kb / 1024
		}
	}
	b, err = os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// The command name in field 2 may hold spaces; count from its ')'.
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0, 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	const ticks = 100 // USER_HZ on Linux
	return peakMiB, (utime + stime) / ticks, nil
}

// logLevel is the dmnode processes' log level: info with BENCH_VERBOSE set,
// warn otherwise. A node's log is printed when its run fails.
func logLevel() string {
	if os.Getenv("BENCH_VERBOSE") != "" {
		return "info"
	}
	return "warn"
}

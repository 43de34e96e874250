package bench

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/dmnode/dmnode/tests/harness"
)

func TestMain(m *testing.M) { harness.Main(m) }

// TestBench is `make bench`'s pipeline benchmark. It runs only with
// DMNODE_BENCH=1: it takes minutes and measures rather than checks, though
// every run fails the test if the rows it copied are not the sources'.
func TestBench(t *testing.T) {
	if os.Getenv("DMNODE_BENCH") == "" {
		t.Skip("the pipeline benchmark runs with DMNODE_BENCH=1 (make bench)")
	}
	cfg, err := loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	root, err := harness.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	for _, tool := range []string{"mydumper", "myloader"} {
		if cfg.has("full") && toolVersion(tool) == "(unknown version)" {
			t.Fatalf("%s is not installed: run `bash deploy/quickstart/install-deps.sh --bench` (make bench does)", tool)
		}
	}
	rep := &report{Started: time.Now(), Config: cfg, Host: hostInfo(), Reproduce: reproduce}
	t.Logf("bench: %s", cfg)
	e := newEnv(t, cfg, rep)
	rep.Host["mydumper"] = toolVersion("mydumper")
	phase := func(name string, f func(t *testing.T)) {
		if !cfg.has(name) {
			return
		}
		start := time.Now()
		ok := t.Run(name, f)
		t.Logf("bench: %s took %v", name, time.Since(start).Round(time.Second))
		if !ok {
			// The other workloads still run and the table is still
			// printed; the test, and so make bench, fails at the end.
			rep.Notes = append(rep.Notes, fmt.Sprintf("%s FAILED: its figures are missing; the reason is in the log above", name))
		}
	}
	var full []copyStats
	if cfg.has("full") || cfg.has("fanin") {
		e.prepareFull(t)
	}
	phase("full", func(t *testing.T) { full = e.runFull(t) })
	phase("fanin", func(t *testing.T) { e.runFanIn(t, full) })
	phase("incr", e.runIncr)
	phase("bigtxn", e.runBigTxn)
	phase("manytables", e.runManyTables)
	phase("steady", e.runSteady)
	phase("failover", e.runFailover)

	rep.Finished = time.Now()
	rep.ratios()
	var b strings.Builder
	fmt.Fprintf(&b, "\n=== dmnode pipeline benchmark (%s, %s; %s)\n", rep.Host["cpus"]+" cores", rep.Host["mariadb"], cfg)
	fmt.Fprintf(&b, "    took %v; every figure is the median of its runs on a shared, noisy machine;\n", rep.Finished.Sub(rep.Started).Round(time.Second))
	fmt.Fprintf(&b, "    \"dmnode ×\" = how many times better dmnode's median is (rates: dmnode ÷ contender; times: contender ÷ dmnode)\n\n")
	rep.printTable(&b)
	path, err := rep.write(root)
	if err != nil {
		t.Errorf("write results: %v", err)
	} else {
		fmt.Fprintf(&b, "\nresults: %s\n", path)
	}
	fmt.Fprintf(&b, "\n%s\n", reproduce)
	fmt.Print(b.String())
}

package tests

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dmnode/dmnode/tests/harness"
)

// `dmnode task verify` on a merge with an extracted source column: equal
// while the writes go on and after they stop (agreeing with the test's own
// checksum comparison), then, after one row of the target is changed, one
// deleted and one inserted, it exits 3 and names exactly those keys. A
// verification killed half-way resumes from its state file.
func TestVerifyMergeWithExtractSource(t *testing.T) {
	c := newCluster(t, 2)
	c.seed(256)
	task := c.extractSourceTask("verify-extract")
	w := startWriters(t, c.sources, 4)
	c.dmnode("task", "submit", task)
	c.dmnode("task", "wait", "verify-extract", "--stage", "sync", "--timeout", "3m")
	waitForOps(t, w, w.count()+300)

	// While the writers run: source and target are read at one position,
	// so nothing differs.
	live, code := c.verify("verify-extract")
	t.Logf("verify under load: exit %d, %s", code, live.summary())
	if code != 0 {
		t.Fatalf("verify under load: exit %d, want 0:\n%s", code, live.raw)
	}
	w.stop(t)

	c.expectEqual("dmtest.t", func(i int) string {
		return fmt.Sprintf("SELECT id, c, port, '%02d' FROM dmtest.t1", i+1)
	}, "SELECT id, c, port, c_source FROM dmtest.t")
	rows := c.sourceRows("SELECT COUNT(*) FROM dmtest.t1")
	rep, code := c.verify("verify-extract")
	if code != 0 || !rep.Equal {
		t.Fatalf("verify after the writes: exit %d:\n%s", code, rep.raw)
	}
	tr := rep.table(t, "dmtest.t")
	if tr.RowsCompared != rows || tr.TargetRowsScanned != rows || tr.Missing+tr.Extra+tr.Different != 0 {
		t.Fatalf("verify compared %d rows and scanned %d target keys of %d, found %d/%d/%d differences:\n%s",
			tr.RowsCompared, tr.TargetRowsScanned, rows, tr.Missing, tr.Extra, tr.Different, rep.raw)
	}
	if want := []string{"id", "c_source"}; !reflect.DeepEqual(tr.KeyColumns, want) {
		t.Errorf("key columns %v, want %v", tr.KeyColumns, want)
	}

	// Tamper with the target by hand.
	changed := harnessRows(t, c.sources[0], "SELECT MIN(id) FROM dmtest.t1")[0][0]
	deleted := harnessRows(t, c.sources[1], "SELECT MAX(id) FROM dmtest.t1")[0][0]
	c.target.Exec(t,
		"UPDATE dmtest.t SET c = 'tampered' WHERE id = "+changed+" AND c_source = '01'",
		"DELETE FROM dmtest.t WHERE id = "+deleted+" AND c_source = '02'",
		"INSERT INTO dmtest.t VALUES (999999, 'extra', 0, '01')")

	// Small chunks and steps: many requests, each resuming the state the
	// previous one returned.
	args := []string{"--chunk-rows", "40", "--step-time", "1ms"}
	rep, code = c.verify("verify-extract", args...)
	if code != 3 || rep.Equal {
		t.Fatalf("verify after tampering: exit %d, want 3:\n%s", code, rep.raw)
	}
	rep.expectKeys(t, "dmtest.t", [][]string{{deleted, "02"}}, [][]string{{"999999", "01"}}, [][]string{{changed, "01"}})
	if !strings.Contains(rep.stderr, "not verified equal") {
		t.Errorf("stderr does not say why it failed: %s", rep.stderr)
	}

	// The human output names the same keys.
	out, code := c.runCLI("task", "verify", "verify-extract", "--fast")
	if code != 3 {
		t.Fatalf("human verify: exit %d:\n%s", code, out)
	}
	t.Logf("task verify:\n%s", out)
	for _, want := range []string{"missing:   (" + deleted + ", 02)", "extra:     (999999, 01)", "different: (" + changed + ", 01)", "summary: NOT EQUAL"} {
		if !strings.Contains(out, want) {
			t.Errorf("human output lacks %q:\n%s", want, out)
		}
	}

	// Killed half-way, resumed from the state file: the same verdict, every
	// row compared exactly once.
	state := filepath.Join(c.dir, "verify-state.json")
	p := harness.StartProcess(t, c.bin, []string{"--server", c.server(), "task", "verify", "verify-extract", "--state", state,
		"--chunk-rows", "5", "--step-time", "1ms", "-o", "json"})
	harness.Eventually(t, time.Minute, func() error {
		if _, err := os.Stat(state); err != nil {
			return err
		}
		return nil
	})
	p.Kill(t)
	var partial struct {
		Tables []struct {
			Upstream []struct {
				After [][]byte `json:"after"`
			} `json:"upstream"`
		} `json:"tables"`
	}
	if err := json.Unmarshal([]byte(readFile(t, state)), &partial); err != nil || len(partial.Tables) != 1 || partial.Tables[0].Upstream[0].After == nil {
		t.Fatalf("state after the kill: %v\n%s", err, readFile(t, state))
	}
	rep, code = c.verify("verify-extract", "--state", state, "--chunk-rows", "50")
	if code != 3 {
		t.Fatalf("resumed verify: exit %d:\n%s", code, rep.raw)
	}
	rep.expectKeys(t, "dmtest.t", [][]string{{deleted, "02"}}, [][]string{{"999999", "01"}}, [][]string{{changed, "01"}})
	if tr := rep.table(t, "dmtest.t"); tr.RowsCompared != rows || tr.TargetRowsScanned != rows {
		t.Errorf("resumed verify compared %d rows and scanned %d target keys, want %d each", tr.RowsCompared, tr.TargetRowsScanned, rows)
	}
	if _, err := os.Stat(state); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state file left after the verification finished: %v", err)
	}
}

// verifyReport is the JSON report of `task verify -o json`, with the
// output it came from.
type verifyReport struct {
	Task        string        `json:"task"`
	Equal       bool          `json:"equal"`
	Tables      []verifyTable `json:"tables"`
	raw, stderr string
}

// verifyTable is the report of one target table.
type verifyTable struct {
	Target            string     `json:"target"`
	Upstream          []string   `json:"upstream"`
	KeyColumns        []string   `json:"key_columns"`
	Status            string     `json:"status"`
	Reason            string     `json:"reason"`
	RowsCompared      int64      `json:"rows_compared"`
	TargetRowsScanned int64      `json:"target_rows_scanned"`
	Missing           int64      `json:"missing"`
	Extra             int64      `json:"extra"`
	Different         int64      `json:"different"`
	MissingKeys       [][]string `json:"missing_keys"`
	ExtraKeys         [][]string `json:"extra_keys"`
	DifferentKeys     [][]string `json:"different_keys"`
	Checksum          uint64     `json:"checksum"`
}

// verify runs `task verify -o json` and returns the report and the exit
// status; it fails the test when the output is not a report.
func (c *cluster) verify(task string, args ...string) (*verifyReport, int) {
	c.t.Helper()
	cmd := exec.CommandContext(c.t.Context(), c.bin, append([]string{"--server", c.server(), "task", "verify", task, "-o", "json"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	code := exitCode(c.t, cmd.Run())
	rep := &verifyReport{raw: stdout.String() + stderr.String(), stderr: stderr.String()}
	if err := json.Unmarshal(stdout.Bytes(), rep); err != nil {
		c.t.Fatalf("task verify %s: exit %d, no report (%v):\n%s\nnode log:\n%s", task, code, err, rep.raw, c.node.Log())
	}
	return rep, code
}

// runCLI runs a CLI command and returns its output and exit status.
func (c *cluster) runCLI(args ...string) (string, int) {
	c.t.Helper()
	out, err := harness.Run(c.t, c.bin, append([]string{"--server", c.server()}, args...)...)
	return out, exitCode(c.t, err)
}

func exitCode(t *testing.T, err error) int {
	t.Helper()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	t.Fatalf("run dmnode: %v", err)
	return -1
}

// sourceRows sums a COUNT(*) query over every source.
func (c *cluster) sourceRows(q string) int64 {
	var n int64
	for _, s := range c.sources {
		var k int64
		if err := s.DB(c.t).QueryRow(q).Scan(&k); err != nil {
			c.t.Fatalf("%s: %v", q, err)
		}
		n += k
	}
	return n
}

func (r *verifyReport) table(t *testing.T, target string) *verifyTable {
	t.Helper()
	for i := range r.Tables {
		if r.Tables[i].Target == target {
			return &r.Tables[i]
		}
	}
	t.Fatalf("no report for %s:\n%s", target, r.raw)
	return nil
}

// expectKeys checks that a table differs in exactly the given keys.
func (r *verifyReport) expectKeys(t *testing.T, target string, missing, extra, different [][]string) {
	t.Helper()
	tr := r.table(t, target)
	if tr.Status != "differs" || tr.Missing != int64(len(missing)) || tr.Extra != int64(len(extra)) || tr.Different != int64(len(different)) ||
		!reflect.DeepEqual(tr.MissingKeys, missing) || !reflect.DeepEqual(tr.ExtraKeys, extra) || !reflect.DeepEqual(tr.DifferentKeys, different) {
		t.Fatalf("%s: status %s, missing %d %v, extra %d %v, different %d %v; want missing %v, extra %v, different %v\n%s",
			target, tr.Status, tr.Missing, tr.MissingKeys, tr.Extra, tr.ExtraKeys, tr.Different, tr.DifferentKeys,
			missing, extra, different, r.raw)
	}
}

func (r *verifyReport) summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "equal=%v", r.Equal)
	for _, t := range r.Tables {
		fmt.Fprintf(&b, "; %s %s: %d rows, %d/%d/%d missing/extra/different, checksum %016x",
			t.Target, t.Status, t.RowsCompared, t.Missing, t.Extra, t.Different, t.Checksum)
	}
	return b.String()
}

// `dmnode task verify` on the example's partition id merge: the mapped ids
// lead back to their shard, and an extra row in a shard's id range and one
// outside every shard's range are both found.
func TestVerifyPartitionID(t *testing.T) {
	c := newCluster(t, 2)
	c.seed(300)
	c.addSources()
	task := c.partitionIDTask("verify-pid", "    threads: 2\n    rows: 70\n")
	c.dmnode("task", "submit", task)
	c.dmnode("task", "wait", "verify-pid", "--stage", "sync", "--timeout", "3m")
	for _, s := range c.sources {
		s.Exec(t, "UPDATE dmtest.t1 SET c = 'synced' WHERE id BETWEEN 10 AND 20", "DELETE FROM dmtest.t1 WHERE id = 30",
			"INSERT INTO dmtest.t1 (c, port) VALUES ('new', 1)")
	}
	c.expectEqual("dmtest.t", partitionIDQuery, "SELECT id, c, port FROM dmtest.t")
	rows := c.sourceRows("SELECT COUNT(*) FROM dmtest.t1")
	rep, code := c.verify("verify-pid", "--chunk-rows", "64")
	if code != 0 || !rep.Equal {
		t.Fatalf("verify: exit %d:\n%s", code, rep.raw)
	}
	if tr := rep.table(t, "dmtest.t"); tr.RowsCompared != rows || tr.TargetRowsScanned != rows || !reflect.DeepEqual(tr.KeyColumns, []string{"id"}) {
		t.Fatalf("verify compared %d rows, scanned %d target keys, want %d; key %v:\n%s", tr.RowsCompared, tr.TargetRowsScanned, rows, tr.KeyColumns, rep.raw)
	}

	// Source 1 is instance 1 with table id 1: ids (1<<59)|(1<<51)|n.
	pid := func(instance, n int64) string { return fmt.Sprint(instance<<59 | 1<<51 | n) }
	c.target.Exec(t,
		"UPDATE dmtest.t SET port = -1 WHERE id = "+pid(2, 15),
		"DELETE FROM dmtest.t WHERE id = "+pid(1, 7),
		"INSERT INTO dmtest.t VALUES ("+pid(1, 100000)+", 'in shard 1 range', 0)",
		"INSERT INTO dmtest.t VALUES ("+pid(5, 1)+", 'no such shard', 0)")
	rep, code = c.verify("verify-pid", "--chunk-rows", "64", "--fast")
	if code != 3 {
		t.Fatalf("verify after tampering: exit %d:\n%s", code, rep.raw)
	}
	rep.expectKeys(t, "dmtest.t", [][]string{{pid(1, 7)}}, [][]string{{pid(1, 100000)}, {pid(5, 1)}}, [][]string{{pid(2, 15)}})
}

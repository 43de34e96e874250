package tests

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dmnode/dmnode/tests/harness"
)

// A task's life under writes: paused (the binlog is still relayed, nothing
// is applied), resumed, stopped and resumed, deleted without and with its
// checkpoints, started afresh. Every step that moves data ends in the
// row-by-row comparison.
func TestTaskLifecycle(t *testing.T) {
	c := newCluster(t, 2)
	c.seed(200)
	c.addSources()
	task := c.partitionIDTask("life", "    threads: 2\n    rows: 50\n")
	c.dmnode("task", "submit", task)
	c.dmnode("task", "wait", "life", "--stage", "sync", "--timeout", "3m")
	equal := func(step string) {
		t.Helper()
		c.expectEqual("dmtest.t after "+step, partitionIDQuery, "SELECT id, c, port FROM dmtest.t")
	}

	// Pause under writes: the applied position stays, the relayed one moves.
	w := startWriters(t, c.sources, 21)
	waitForOps(t, w, 100)
	out := c.dmnode("task", "pause", "life")
	if !strings.Contains(out, "next: dmnode task resume life") {
		t.Fatalf("pause does not say how to resume:\n%s", out)
	}
	harness.Eventually(t, 30*time.Second, func() error {
		if st := c.taskState("life"); st.State != "paused" {
			return fmt.Errorf("state %q, want paused", st.State)
		}
		return nil
	})
	// The appliers have stopped once the node runs none: their Run
	// returned, nothing more reaches the target.
	harness.Eventually(t, 30*time.Second, func() error {
		if v, _ := c.scrape().value("dmnode_actor_running", "kind", "apply"); v != 0 {
			return fmt.Errorf("%v appliers still running", v)
		}
		return nil
	})
	before := c.taskState("life")
	waitForOps(t, w, w.count()+300)
	// The tailers relay the writes made while paused; the applied
	// positions stay.
	var after taskState
	harness.Eventually(t, 60*time.Second, func() error {
		if after = c.taskState("life"); fmtRelayed(before) == fmtRelayed(after) {
			return fmt.Errorf("no binlog relayed while paused: %s", fmtRelayed(after))
		}
		return nil
	})
	for i := range before.Sources {
		b, a := before.Sources[i], after.Sources[i]
		if a.Applied != b.Applied {
			t.Fatalf("source %s applied %s → %s while paused", a.Source, b.Applied, a.Applied)
		}
	}
	c.dmnode("task", "resume", "life")
	waitForOps(t, w, w.count()+200)
	w.stop(t)
	equal("pause and resume")

	// A running task is not deleted; a stopped one resumes where it stopped.
	if out, err := harness.Run(t, c.bin, "--server", c.server(), "task", "delete", "life"); err == nil || !strings.Contains(out, "stop it first") {
		t.Fatalf("deleting a running task: %v\n%s", err, out)
	}
	w = startWriters(t, c.sources, 22)
	waitForOps(t, w, 100)
	c.dmnode("task", "stop", "life")
	waitForOps(t, w, w.count()+200)
	c.dmnode("task", "resume", "life")
	waitForOps(t, w, w.count()+200)
	w.stop(t)
	equal("stop and resume")

	// An update of the unit settings restarts the actors with the new
	// file; a change of the routes is refused, naming the key.
	orig := readFile(t, task)
	updated := c.writeFile("life-updated.yaml", strings.ReplaceAll(orig, "    mydumper-config-name: \"global\"\n",
		"    mydumper-config-name: \"global\"\n    syncer-config-name: \"global\"\n")+"syncers:\n  global:\n    worker-count: 8\n    batch: 500\n")
	rerouted := c.writeFile("life-rerouted.yaml", strings.Replace(orig, "target-table: t\n", "target-table: t2\n", 1))
	if out, err := harness.Run(t, c.bin, "--server", c.server(), "task", "update", rerouted); err == nil || !strings.Contains(out, "routes") {
		t.Fatalf("an update of the routes was not refused by name: %v\n%s", err, out)
	}
	w = startWriters(t, c.sources, 24)
	waitForOps(t, w, 100)
	c.dmnode("task", "update", updated)
	waitForOps(t, w, w.count()+300)
	w.stop(t)
	equal("an update")

	// Deleted without --purge, its checkpoints stay on the target: the same
	// name starts again only with --remove-meta.
	c.dmnode("task", "stop", "life")
	c.dmnode("task", "delete", "life")
	if out, err := harness.Run(t, c.bin, "--server", c.server(), "task", "submit", task); err == nil || !strings.Contains(out, "--remove-meta") {
		t.Fatalf("submitting over an earlier task's checkpoints: %v\n%s", err, out)
	}
	c.dmnode("task", "start", task, "--remove-meta")
	c.dmnode("task", "wait", "life", "--stage", "sync", "--timeout", "3m")
	w = startWriters(t, c.sources, 23)
	waitForOps(t, w, 300)
	w.stop(t)
	equal("a fresh start")

	// Deleted with --purge, nothing of it is left on the target.
	c.dmnode("task", "stop", "life")
	c.dmnode("task", "delete", "life", "--purge")
	for _, tbl := range []string{"checkpoint", "fence"} {
		rows := harnessRows(t, c.target, "SELECT COUNT(*) FROM dmnode_meta."+tbl+" WHERE task = 'life'")
		if rows[0][0] != "0" {
			t.Fatalf("dmnode_meta.%s keeps %s rows of the purged task", tbl, rows[0][0])
		}
	}
	if out := c.dmnode("task", "list"); strings.Contains(out, "life") {
		t.Fatalf("deleted task still listed:\n%s", out)
	}
}

type taskState struct {
	State   string `json:"state"`
	Sources []struct {
		Source  string `json:"source"`
		Relayed string `json:"relayed_position"`
		Applied string `json:"applied_position"`
	} `json:"sources"`
}

// taskState reads one task's status as JSON.
func (c *cluster) taskState(name string) taskState {
	c.t.Helper()
	var st struct{ Tasks []taskState }
	out := c.dmnode("task", "status", name, "-o", "json")
	if err := json.Unmarshal([]byte(out), &st); err != nil || len(st.Tasks) != 1 {
		c.t.Fatalf("task status %s: %v\n%s", name, err, out)
	}
	return st.Tasks[0]
}

func fmtRelayed(st taskState) string {
	var b strings.Builder
	for _, s := range st.Sources {
		b.WriteString(s.Relayed + " ")
	}
	return b.String()
}

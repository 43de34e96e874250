package tests

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// mergeRulesYAML is the rules section of a task that merges db.t of every
// source into db.t on the target, the source id extracted into c_source:
// the block-allow-list "only" and the route "merge".
func mergeRulesYAML(db string) string {
	return fmt.Sprintf(`block-allow-list:
  only:
    do-dbs: [%q]
routes:
  merge:
    schema-pattern: %s
    table-pattern: t
    target-schema: %s
    target-table: t
    extract-source:
      source-regexp: "mysql-replica-(.*)"
      target-column: c_source
`, db, db, db)
}

// taskYAML renders the example's TiDB DM task file for n sources and the
// target, with the given routes and per-instance rule lines.
func (c *cluster) taskYAML(name string, instanceRules func(i int) string, rules string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `name: %s
task-mode: all
is-sharding: true
target-database:
  host: "127.0.0.1"
  port: %d
  user: "root"
  password: ""
mysql-instances:
`, name, c.target.Port)
	for i := range c.sources {
		fmt.Fprintf(&b, "  - source-id: %q\n%s", sourceID(i), instanceRules(i))
	}
	b.WriteString(rules)
	return b.String()
}

// The example: three shards with the same ids 1..256 merged into one table,
// the clash resolved with DM's partition id column mapping. Writes run on
// every source during the dump, the load and the sync; the node is killed
// with SIGKILL during sync and restarted while the writes go on.
func TestMergeWithPartitionID(t *testing.T) {
	c := newCluster(t, 3)
	c.seed(256)
	c.addSources()
	task := c.partitionIDTask("merge-pid", "    threads: 2\n    rows: 50\n")
	out := c.dmnode("task", "check", task)
	if !strings.Contains(out, "partition id") {
		t.Fatalf("task check does not report the id mapping:\n%s", out)
	}
	w := startWriters(t, c.sources, 1)
	c.dmnode("task", "submit", task)
	c.dmnode("task", "wait", "merge-pid", "--stage", "sync", "--timeout", "3m")

	// Let sync run under load, then crash the node mid-stream.
	waitForOps(t, w, 300)
	c.node.Kill(t)
	waitForOps(t, w, 600)
	c.startNode()
	waitForOps(t, w, 900)
	w.stop(t)

	c.expectEqual("dmtest.t", partitionIDQuery, "SELECT id, c, port FROM dmtest.t")
	status := c.dmnode("task", "status", "merge-pid", "-o", "json")
	if !strings.Contains(status, `"stage": "sync"`) {
		t.Fatalf("unexpected status:\n%s", status)
	}
}

// The DM-recommended alternative: extract the source id into a column of a
// pre-created target table whose primary key is (id, c_source). The sources
// are read by GTID, and the node is stopped cleanly (SIGTERM) during sync and
// started again on the same data dir.
func TestMergeWithExtractSource(t *testing.T) {
	c := newCluster(t, 3)
	c.seed(256)
	task := c.extractSourceTask("merge-extract")
	w := startWriters(t, c.sources, 2)
	c.dmnode("task", "submit", task)
	c.dmnode("task", "wait", "merge-extract", "--stage", "sync", "--timeout", "3m")
	waitForOps(t, w, w.count()+300)
	c.stopNode()
	waitForOps(t, w, w.count()+300)
	c.startNode()
	waitForOps(t, w, w.count()+300)
	w.stop(t)
	c.expectEqual("dmtest.t", func(i int) string {
		return fmt.Sprintf("SELECT id, c, port, '%02d' FROM dmtest.t1", i+1)
	}, "SELECT id, c, port, c_source FROM dmtest.t")
}

// extractSourceTask pre-creates the target table dmtest.t keyed by (id,
// c_source), adds the sources by GTID and writes a task merging their
// dmtest.t* into it with the source id extracted into c_source.
func (c *cluster) extractSourceTask(name string) string {
	c.target.Exec(c.t, "CREATE DATABASE dmtest",
		"CREATE TABLE dmtest.t (id bigint unsigned NOT NULL, c char(32), port int, c_source varchar(32) NOT NULL, PRIMARY KEY (id, c_source))")
	c.addSourcesGTID(true)
	return c.writeFile(name+".yaml", c.taskYAML(name, func(int) string {
		return `    block-allow-list: "instance"
    route-rules: ["merge"]
`
	}, `block-allow-list:
  instance:
    do-dbs: ["dmtest"]
routes:
  merge:
    schema-pattern: dmtest
    table-pattern: t*
    target-schema: dmtest
    target-table: t
    extract-source:
      source-regexp: "mysql-replica-(.*)"
      target-column: c_source
`))
}

// waitForOps waits until the writers have performed at least n operations
// in total, so each phase of a test runs under real load.
func waitForOps(t *testing.T, w *writers, n int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		w.mu.Lock()
		ops := w.ops
		w.mu.Unlock()
		if ops >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("writers reached only %d of %d operations", ops, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// partitionIDTask is the example's task: routes merging dmtest.t* into
// dmtest.t and a partition id mapping per instance.
func (c *cluster) partitionIDTask(name, dumper string) string {
	var mappings strings.Builder
	for i := range c.sources {
		fmt.Fprintf(&mappings, `  instance-%d:
    schema-pattern: "dmtest"
    table-pattern: "t*"
    expression: "partition id"
    source-column: "id"
    target-column: "id"
    arguments: ["%d", "", "t"]
`, i+1, i+1)
	}
	return c.writeFile(name+".yaml", c.taskYAML(name, func(i int) string {
		return fmt.Sprintf(`    block-allow-list: "instance"
    route-rules: ["table", "schema"]
    column-mapping-rules: ["instance-%d"]
    mydumper-config-name: "global"
`, i+1)
	}, `block-allow-list:
  instance:
    do-dbs: ["dmtest"]
routes:
  table:
    schema-pattern: dmtest
    table-pattern: t*
    target-schema: dmtest
    target-table: t
  schema:
    schema-pattern: dmtest
    target-schema: dmtest
column-mappings:
`+mappings.String()+`mydumpers:
  global:
`+dumper))
}

// partitionIDQuery computes, independently of dmnode, what the partition
// id mapping ["i+1", "", "t"] makes of source i's rows: the instance id in
// bits 62..59, table id 1 in bits 58..51, the original id below.
func partitionIDQuery(i int) string {
	return fmt.Sprintf("SELECT (%d << 59) | (1 << 51) | id, c, port FROM dmtest.t1", i+1)
}

// A node killed in the middle of the dump: the restarted dumper takes a new
// snapshot and dumps only the chunks that were not done, and the binlog is
// replayed idempotently from the first snapshot to the last, so rows of
// chunks read at different points in time converge.
func TestKillDuringDump(t *testing.T) {
	c := newCluster(t, 2)
	c.seed(300000)
	c.addSources()
	task := c.partitionIDTask("kill-dump", "    threads: 1\n    rows: 20000\n")
	w := startWriters(t, c.sources, 3)
	c.dmnode("task", "submit", task)
	killed := false
	deadline := time.Now().Add(2 * time.Minute)
	for !killed && time.Now().Before(deadline) {
		var st struct {
			Tasks []struct {
				Sources []struct {
					Stage      string `json:"stage"`
					ChunksDone int    `json:"chunks_done"`
					ChunksAll  int    `json:"chunks_total"`
				} `json:"sources"`
			} `json:"tasks"`
		}
		out := c.dmnode("task", "status", "kill-dump", "-o", "json")
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatalf("decode status: %v\n%s", err, out)
		}
		for _, s := range st.Tasks[0].Sources {
			if s.Stage == "dump" && s.ChunksDone > 0 && s.ChunksDone < s.ChunksAll {
				c.node.Kill(t)
				killed = true
				break
			}
		}
	}
	if !killed {
		t.Fatal("the dump finished before it could be interrupted; make the table larger")
	}
	c.startNode()
	c.dmnode("task", "wait", "kill-dump", "--stage", "sync", "--timeout", "5m")
	if !strings.Contains(c.node.Log(), "consistent snapshot taken") {
		t.Fatalf("the restarted node did not redo the dump:\n%s", c.node.Log())
	}
	waitForOps(t, w, w.count()+300)
	w.stop(t)
	c.expectEqual("dmtest.t", partitionIDQuery, "SELECT id, c, port FROM dmtest.t")
}

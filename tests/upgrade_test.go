package tests

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/dmnode/dmnode/tests/harness"
)

// TestUpgradeMidCopy: an earlier build of dmnode (DMNODE_UPGRADE_FROM, a
// binary; `make upgrade-check FROM=<git revision>` builds one and runs
// this) dumps two shards merged into one table while a lock on the target
// table holds its loaders back, so that every dumped chunk waits in that
// build's snapshot queue; the node is SIGKILLed there, and this build,
// started on the same data directory, loads what the earlier one left and
// goes on to replicate. The target's rows equal the sources' row by row.
// Skipped without DMNODE_UPGRADE_FROM.
func TestUpgradeMidCopy(t *testing.T) {
	from := os.Getenv("DMNODE_UPGRADE_FROM")
	if from == "" {
		t.Skip("set DMNODE_UPGRADE_FROM to an earlier dmnode binary, or run make upgrade-check FROM=<git revision>")
	}
	var sources []*harness.Server
	for i := range 2 {
		sources = append(sources, harness.StartMariaDB(t, harness.Options{ServerID: i + 1}))
	}
	target := harness.StartMariaDB(t, harness.Options{ServerID: 100})
	for i, s := range sources {
		s.Exec(t, "CREATE DATABASE up",
			"CREATE TABLE up.t (id int NOT NULL, k int NOT NULL, v varchar(40) NOT NULL, PRIMARY KEY (id))",
			fmt.Sprintf("INSERT INTO up.t SELECT seq, seq %% 97, CONCAT('v', seq, '-', %d) FROM up.seq_1_to_50000", i))
	}
	target.Exec(t, "CREATE DATABASE up",
		"CREATE TABLE up.t (id int NOT NULL, k int NOT NULL, v varchar(40) NOT NULL, c_source varchar(32) NOT NULL, PRIMARY KEY (id, c_source))")
	ctx := context.Background()
	holder, err := target.DB(t).Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	if _, err := holder.ExecContext(ctx, "LOCK TABLES up.t WRITE"); err != nil {
		t.Fatal(err)
	}
	c := newClusterOf(t, from, sources, target)
	c.addSources()
	task := c.writeFile("up.yaml", c.taskYAML("up", func(int) string {
		return "    block-allow-list: \"only\"\n    route-rules: [\"merge\"]\n    mydumper-config-name: \"d\"\n"
	}, mergeRulesYAML("up")+`mydumpers:
  d:
    threads: 2
    rows: 5000
`))
	c.dmnode("task", "submit", task)
	// Both dumps done, nothing loaded: the earlier build's queue holds it all.
	c.dmnode("task", "wait", "up", "--stage", "load", "--timeout", "2m")
	t.Logf("the earlier build (%s) dumped both shards:\n%s", from, c.dmnode("task", "status", "up"))
	c.node.Kill(t)
	if _, err := holder.ExecContext(ctx, "UNLOCK TABLES"); err != nil {
		t.Fatal(err)
	}
	c.bin = harness.BuildDmnode(t)
	c.startNode()
	c.dmnode("task", "wait", "up", "--stage", "sync", "--timeout", "3m")
	for i, s := range sources {
		s.Exec(t, fmt.Sprintf("INSERT INTO up.t VALUES (60001, 1, 'live-%d')", i), "UPDATE up.t SET k = k + 1 WHERE id % 1000 = 7")
	}
	c.expectEqual("up.t", func(i int) string {
		return fmt.Sprintf("SELECT id, k, v, '%02d' FROM up.t", i+1)
	}, "SELECT id, k, v, c_source FROM up.t")
}

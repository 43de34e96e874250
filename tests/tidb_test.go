package tests

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dmnode/dmnode/tests/harness"
)

// TestTiDBShapedTarget runs a task into a MariaDB that reports itself as
// TiDB v6.1.0, behind the recorder that refuses like TiDB, so dmnode takes
// its TiDB paths: an ALTER with two changes is split (TiDB runs several
// changes per ALTER only from v6.2.0; the recorder would answer the whole
// one with 8200), a FULLTEXT index is left out, and an ALTER that adds an
// AUTO_INCREMENT column, which TiDB refuses, quarantines its table with
// the reason and the way out until the operator replaces it. What this
// proves and what it cannot is in docs/tidb.md: the stand-in runs the
// statements as MariaDB would.
func TestTiDBShapedTarget(t *testing.T) {
	harness.RefuseLikeTiDB(t, 0)
	source := harness.StartMariaDB(t, harness.Options{ServerID: 1})
	target := harness.StartMariaDB(t, harness.Options{ServerID: 100, ExtraArgs: []string{"--version=5.7.25-TiDB-v6.1.0"}})
	c := newClusterOn(t, []*harness.Server{source}, target)
	c.seed(300)
	source.Exec(t, "CREATE TABLE dmtest.t2 (k int PRIMARY KEY, v int)")
	c.addSources()
	task := c.oneSourceTask("tidb", "dmtest")
	c.dmnode("task", "submit", task)
	c.dmnode("task", "wait", "tidb", "--stage", "sync", "--timeout", "2m")

	source.Exec(t,
		"ALTER TABLE dmtest.t1 ADD COLUMN a int, ADD INDEX ia (a)",
		"UPDATE dmtest.t1 SET a = id % 7",
		"ALTER TABLE dmtest.t1 ADD FULLTEXT INDEX ft (c)",
		"INSERT INTO dmtest.t1 (c, port, a) SELECT CONCAT('x', seq), 1, seq FROM dmtest.seq_1_to_50",
		"ALTER TABLE dmtest.t2 ADD COLUMN n bigint NOT NULL AUTO_INCREMENT, ADD UNIQUE KEY un (n)",
		"INSERT INTO dmtest.t2 (k, v) SELECT seq, seq * 2 FROM dmtest.seq_1_to_40",
	)
	out := waitForStatus(c, "tidb", "task replace tidb")
	t.Logf("status at the refused DDL:\n%s", out)
	for _, want := range []string{"TiDB v6.1.0", "AUTO_INCREMENT"} {
		if !strings.Contains(out, want) {
			t.Fatalf("status does not name %q:\n%s", want, out)
		}
	}
	c.dmnode("task", "replace", "tidb", "--sql", "ALTER TABLE dmtest.t2 ADD COLUMN n bigint NULL", "--sql", "ALTER TABLE dmtest.t2 ADD UNIQUE KEY un (n)")

	c.expectEqual("dmtest.t1", func(int) string { return "SELECT id, c, port, a FROM dmtest.t1" }, "SELECT id, c, port, a FROM dmtest.t1")
	c.expectEqual("dmtest.t2", func(int) string { return "SELECT k, v, n FROM dmtest.t2" }, "SELECT k, v, n FROM dmtest.t2")
	create := harnessRows(t, target, "SHOW CREATE TABLE dmtest.t1")[0][1]
	if !strings.Contains(create, "KEY `ia`") || strings.Contains(create, "FULLTEXT") {
		t.Errorf("target table: want index ia and no FULLTEXT index:\n%s", create)
	}
	log := c.node.Log()
	for _, want := range []string{"split into one statement per change", "FULLTEXT index ft left out"} {
		if !strings.Contains(log, want) {
			t.Errorf("node log does not say %q", want)
		}
	}
}

// TestTiDBShapedTargetTxnTooLarge: a TiDB-shaped target whose recorder
// refuses transactions over 2 MiB of statements with TiDB's 8004
// "Transaction is too large, size: N" (txn-total-size-limit). A 30,000-row
// upstream transaction (about 6 MiB of statements) is refused whole and
// written in pieces in safe mode; smaller ones go whole. Ends with the
// row-by-row comparison.
func TestTiDBShapedTargetTxnTooLarge(t *testing.T) {
	harness.RefuseLikeTiDB(t, 2<<20)
	src := harness.StartMariaDB(t, harness.Options{ServerID: 1})
	tgt := harness.StartMariaDB(t, harness.Options{ServerID: 100, ExtraArgs: []string{"--version=8.0.11-TiDB-v8.5.0"}})
	c := newClusterOn(t, []*harness.Server{src}, tgt)
	src.Exec(t, "CREATE DATABASE dmtest",
		"CREATE TABLE dmtest.big (id bigint NOT NULL PRIMARY KEY, c char(32), n int, pad varchar(200))",
		"INSERT INTO dmtest.big SELECT seq, MD5(seq), seq, 'seed' FROM dmtest.seq_1_to_100")
	c.addSources()
	c.bigTask("tidbsize")
	src.Exec(t, "INSERT INTO dmtest.big SELECT seq + 1000, MD5(seq), seq, REPEAT(MD5(seq), 4) FROM dmtest.seq_1_to_30000")
	c.waitLog("applying a transaction in pieces in safe mode", 0, 2*time.Minute)
	src.Exec(t, "UPDATE dmtest.big SET n = -n WHERE id <= 50")
	c.expectEqual("dmtest.big", func(int) string { return "SELECT id, c, n, pad FROM dmtest.big" }, "SELECT id, c, n, pad FROM dmtest.big")
	if log := c.node.Log(); !strings.Contains(log, "Transaction is too large, size: ") {
		t.Errorf("node log does not show TiDB's 8004 answer")
	}
}

// waitForStatus polls task status until it contains want.
func waitForStatus(c *cluster, task, want string) string {
	c.t.Helper()
	var out string
	err := harness.Within(90*time.Second, func() error {
		var err error
		out, err = harness.Run(c.t, c.bin, "--server", c.server(), "task", "status", task)
		if !strings.Contains(out, want) {
			return fmt.Errorf("status lacks %q (err %v)", want, err)
		}
		return nil
	})
	if err != nil {
		c.t.Fatalf("%v:\n%s\nnode log:\n%s", err, out, c.node.Log())
	}
	return out
}

package tests

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dmnode/dmnode/tests/harness"
)

// DM's unit settings that change what the dump and the applier do, each on
// one real MariaDB source and target, each ending in the row-by-row
// comparison.

// dmcompatTask is a one-source task on schema dmc with extra sections.
func (c *cluster) dmcompatTask(name, mode, instance, sections string) string {
	return c.writeFile(name+".yaml", fmt.Sprintf(`name: %s
task-mode: %s
target-database: {host: "127.0.0.1", port: %d, user: root, password: ""}
mysql-instances:
  - source-id: %q
    block-allow-list: dmc
%sblock-allow-list:
  dmc: {do-dbs: [dmc]}
%s`, name, mode, c.target.Port, sourceID(0), instance, sections))
}

// startGeneralLog records every statement the target runs from now on in
// mysql.general_log.
func startGeneralLog(t *testing.T, s *harness.Server) {
	s.Exec(t, "TRUNCATE TABLE mysql.general_log", "SET GLOBAL log_output = 'TABLE'", "SET GLOBAL general_log = 1")
}

// insertRowCounts returns, for every INSERT into table the target ran
// since startGeneralLog, the number of rows it wrote. A logged query may
// hold several statements (dmnode sends a transaction's statements
// together); the values written here hold no semicolons.
func insertRowCounts(t *testing.T, s *harness.Server, table string) []int {
	rows := harness.Rows(t, s.DB(t), "SELECT CONVERT(argument USING utf8mb4) FROM mysql.general_log "+
		"WHERE command_type IN ('Query', 'Execute') AND CONVERT(argument USING utf8mb4) LIKE '%"+table+"%'")
	var counts []int
	for _, r := range rows {
		for _, stmt := range strings.Split(r[0], ";") {
			stmt = strings.TrimSpace(stmt)
			if strings.HasPrefix(stmt, "INSERT INTO "+table) {
				counts = append(counts, strings.Count(stmt, "),(")+1)
			}
		}
	}
	return counts
}

// mydumpers.*.where selects the rows of the full copy: only the matching
// rows arrive. As in DM, the binlog is not filtered by it: rows written
// after the snapshot arrive whether they match or not.
func TestDMCompatWhere(t *testing.T) {
	c := newCluster(t, 1)
	src := c.sources[0]
	src.Exec(t, "CREATE DATABASE dmc",
		"CREATE TABLE dmc.w (id int PRIMARY KEY, v int, note varchar(20))",
		"INSERT INTO dmc.w SELECT seq, seq % 7, CONCAT('n', seq) FROM dmc.seq_1_to_500")
	c.addSources()
	task := c.dmcompatTask("where", "all", "    mydumper-config-name: filtered\n",
		"mydumpers:\n  filtered: {threads: 2, rows: 100, where: \"v IN (1, 3) AND note <> 'n8'\"}\n")
	c.dmnode("task", "check", task)
	c.dmnode("task", "submit", task)
	c.dmnode("task", "wait", "where", "--stage", "sync", "--timeout", "3m")
	c.expectEqual("dmc.w after the dump", func(int) string {
		return "SELECT id, v, note FROM dmc.w WHERE v IN (1, 3) AND note <> 'n8'"
	}, "SELECT id, v, note FROM dmc.w")
	if got := harness.Rows(t, c.target.DB(t), "SELECT COUNT(*) FROM dmc.w WHERE v NOT IN (1, 3)"); got[0][0] != "0" {
		t.Fatalf("%s rows the where excludes reached the target", got[0][0])
	}
	src.Exec(t, "INSERT INTO dmc.w SELECT seq, seq % 7, CONCAT('late', seq) FROM dmc.seq_501_to_600",
		"UPDATE dmc.w SET note = 'changed' WHERE id BETWEEN 550 AND 560")
	c.expectEqual("dmc.w after the binlog", func(int) string {
		return "SELECT id, v, note FROM dmc.w WHERE (v IN (1, 3) AND note <> 'n8') OR id > 500"
	}, "SELECT id, v, note FROM dmc.w")
}

// syncers.*.batch bounds the rows of every statement the applier sends.
func TestDMCompatBatch(t *testing.T) {
	c := newCluster(t, 1)
	src := c.sources[0]
	src.Exec(t, "CREATE DATABASE dmc",
		"CREATE TABLE dmc.b (id int PRIMARY KEY, v int)",
		"INSERT INTO dmc.b SELECT seq, seq FROM dmc.seq_1_to_100")
	c.addSources()
	task := c.dmcompatTask("batch", "all", "    syncer-config-name: small\n",
		"syncers:\n  small: {worker-count: 4, batch: 3}\n")
	if out := c.dmnode("task", "check", task); !strings.Contains(out, "batch: 3: at most 3 rows per multi-row statement") {
		t.Fatalf("task check does not say what batch does:\n%s", out)
	}
	c.dmnode("task", "submit", task)
	c.dmnode("task", "wait", "batch", "--stage", "sync", "--timeout", "3m")
	c.expectEqual("dmc.b after the load", func(int) string { return "SELECT id, v FROM dmc.b" }, "SELECT id, v FROM dmc.b")
	startGeneralLog(t, c.target)
	src.Exec(t, "INSERT INTO dmc.b SELECT seq, seq FROM dmc.seq_101_to_400",
		"UPDATE dmc.b SET v = v + 1000 WHERE id % 5 = 0",
		"DELETE FROM dmc.b WHERE id % 11 = 0",
		"INSERT INTO dmc.b SELECT seq, -seq FROM dmc.seq_401_to_450")
	c.expectEqual("dmc.b after the binlog", func(int) string { return "SELECT id, v FROM dmc.b" }, "SELECT id, v FROM dmc.b")
	counts := insertRowCounts(t, c.target, "`dmc`.`b`")
	if len(counts) == 0 {
		t.Fatal("the general log holds no INSERT into dmc.b")
	}
	for _, n := range counts {
		if n > 3 {
			t.Fatalf("an INSERT of %d rows; batch: 3 bounds them to 3 (all: %v)", n, counts)
		}
	}
	t.Logf("%d INSERT statements, rows per statement at most 3", len(counts))
}

// mydumpers.*.extra-args as DM's test suite writes them: --where selects
// the rows, -T the tables, -r the chunk size and --statement-size the size
// of the loader's INSERTs.
func TestDMCompatExtraArgs(t *testing.T) {
	c := newCluster(t, 1)
	src := c.sources[0]
	src.Exec(t, "CREATE DATABASE dmc",
		// Every row is over 50 bytes, so 100 bytes hold one.
		"CREATE TABLE dmc.e1 (id int PRIMARY KEY, v int, s varchar(100))",
		"INSERT INTO dmc.e1 SELECT seq, seq % 10, REPEAT('x', 60 + seq % 20) FROM dmc.seq_1_to_300",
		"CREATE TABLE dmc.e2 (id int PRIMARY KEY)",
		"INSERT INTO dmc.e2 SELECT seq FROM dmc.seq_1_to_10")
	c.addSources()
	task := c.dmcompatTask("args", "full", "    mydumper-config-name: args\n",
		"mydumpers:\n  args: {extra-args: \"--where 'v < 4' --statement-size=100 -r 50 -T dmc.e1 --consistency none\"}\n")
	if out := c.dmnode("task", "check", task); !strings.Contains(out, "consistent snapshot taken anyway") {
		t.Fatalf("task check does not say what --consistency none does:\n%s", out)
	}
	startGeneralLog(t, c.target)
	c.dmnode("task", "submit", task)
	if out := c.dmnode("task", "status", "args"); !strings.Contains(out, "note:") {
		t.Fatalf("task status does not show the task's notes:\n%s", out)
	}
	c.dmnode("task", "wait", "args", "--stage", "done", "--timeout", "3m")
	c.expectEqual("dmc.e1", func(int) string { return "SELECT id, v, s FROM dmc.e1 WHERE v < 4" },
		"SELECT id, v, s FROM dmc.e1")
	if got := harness.Rows(t, c.target.DB(t),
		"SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'dmc' AND TABLE_NAME = 'e2'"); got[0][0] != "0" {
		t.Fatal("dmc.e2 reached the target, but -T lists dmc.e1 only")
	}
	counts := insertRowCounts(t, c.target, "`dmc`.`e1`")
	if len(counts) == 0 {
		t.Fatal("the general log holds no INSERT into dmc.e1: the loader used LOAD DATA despite --statement-size")
	}
	for _, n := range counts {
		if n != 1 {
			t.Fatalf("an INSERT of %d rows; --statement-size=100 allows one row of these per statement", n)
		}
	}
}

// A table whose key has several columns is split on the first when it is
// an integer: the copy of an order-lines table runs in chunks (in
// parallel, each resumable), not as one read of the whole table. Rows
// that share the first column's value stay in one chunk. A node killed in
// the middle of the copy goes on with the chunks not done.
func TestDumpSplitsOnCompositeKeys(t *testing.T) {
	c := newCluster(t, 1)
	src := c.sources[0]
	src.Exec(t, "CREATE DATABASE dmc",
		"CREATE TABLE dmc.lines (order_id int NOT NULL, line smallint NOT NULL, v varchar(64), PRIMARY KEY (order_id, line))",
		"INSERT INTO dmc.lines SELECT o.seq, l.seq, CONCAT('o', o.seq, '-', l.seq, '-', MD5(o.seq)) FROM dmc.seq_1_to_75000 o, dmc.seq_1_to_4 l",
		"CREATE TABLE dmc.named (k varchar(10) NOT NULL PRIMARY KEY, n int)",
		"INSERT INTO dmc.named SELECT CONCAT('k', seq), seq FROM dmc.seq_1_to_50",
		"ANALYZE TABLE dmc.lines, dmc.named")
	c.addSources()
	task := c.dmcompatTask("split", "all", "    mydumper-config-name: small\n", "mydumpers:\n  small: {threads: 1, rows: 5000}\n")
	c.dmnode("task", "submit", task)
	// 300,000 rows of 75,000 orders, 5,000 rows a chunk: about 60 chunks
	// of dmc.lines (15 if the server's estimate of its rows was missing),
	// and dmc.named in one. The node is killed once some are done.
	var st dropSource
	harness.Eventually(t, 2*time.Minute, func() error {
		st = c.dropSourceStatus("split")
		if st.Stage != "dump" || st.ChunksDone == 0 {
			return fmt.Errorf("no chunk dumped yet: %+v", st)
		}
		return nil
	})
	if st.ChunksDone >= st.ChunksAll {
		t.Fatalf("the dump finished before it could be interrupted: %+v", st)
	}
	c.node.Kill(t)
	t.Logf("killed the node with %d of %d chunks dumped", st.ChunksDone, st.ChunksAll)
	c.startNode()
	c.dmnode("task", "wait", "split", "--stage", "sync", "--timeout", "5m")
	if st := c.dropSourceStatus("split"); st.ChunksAll < 16 {
		t.Fatalf("the copy ran in %d chunks; dmc.lines alone splits into at least 15: %+v", st.ChunksAll, st)
	}
	for _, tbl := range []string{"dmc.lines", "dmc.named"} {
		q := "SELECT * FROM " + tbl
		c.expectEqual(tbl+" after the copy", func(int) string { return q }, q)
	}
	src.Exec(t, "INSERT INTO dmc.lines VALUES (75001, 1, 'late'), (500, 5, 'added')",
		"UPDATE dmc.lines SET v = 'changed' WHERE order_id BETWEEN 10 AND 20",
		"DELETE FROM dmc.lines WHERE order_id = 7")
	c.expectEqual("dmc.lines after the binlog", func(int) string { return "SELECT * FROM dmc.lines" }, "SELECT * FROM dmc.lines")
}

package tests

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/dmnode/dmnode/tests/harness"
)

// TestQuarantineTable: a task of three tables into a TiDB-shaped target (a
// MariaDB reporting TiDB v8.5.0, behind the recorder that refuses like
// TiDB). One table gets a DDL TiDB cannot run (a cp1251 column): only that
// table is quarantined, the other two keep replicating, also the rows of
// a transaction that touches both kinds of table. Task status (text and
// JSON) and the metric show the table, the statement, the reason and the
// ways out. The node is SIGKILLed while the table is held; after the
// restart the held table stays held and the others go on. It is
// SIGKILLed again as the operator's replacement is applied. An operator's
// replacement that TiDB refuses too (the recorder answers 1115) keeps the
// table quarantined with the new reason; an acceptable one releases it,
// and its held rows arrive, in order, once. Ends with the row-by-row
// comparison of all three tables.
func TestQuarantineTable(t *testing.T) {
	harness.RefuseLikeTiDB(t, 0)
	source := harness.StartMariaDB(t, harness.Options{ServerID: 1})
	target := harness.StartMariaDB(t, harness.Options{ServerID: 100, ExtraArgs: []string{"--version=8.0.11-TiDB-v8.5.0"}})
	c := newClusterOn(t, []*harness.Server{source}, target)
	source.Exec(t, "CREATE DATABASE dmtest")
	for _, tbl := range []string{"a", "b", "q"} {
		source.Exec(t, fmt.Sprintf("CREATE TABLE dmtest.%s (id int PRIMARY KEY, v varchar(40), n int)", tbl),
			fmt.Sprintf("INSERT INTO dmtest.%s SELECT seq, MD5(seq), seq FROM dmtest.seq_1_to_200", tbl))
	}
	c.addSources()
	c.dmnode("task", "submit", c.oneSourceTask("quar", "dmtest"))
	c.dmnode("task", "wait", "quar", "--stage", "sync", "--timeout", "2m")

	plain := func(tbl string) func(int) string {
		return func(int) string { return "SELECT id, v, n FROM dmtest." + tbl }
	}
	withNote := func(int) string { return "SELECT id, v, n, note FROM dmtest.q" }
	source.Exec(t,
		"INSERT INTO dmtest.q VALUES (201, 'before the DDL', 1)",
		"ALTER TABLE dmtest.q ADD COLUMN note varchar(20) CHARACTER SET cp1251",
		"INSERT INTO dmtest.q SELECT seq + 1000, MD5(seq), seq, 'held' FROM dmtest.seq_1_to_100",
		"UPDATE dmtest.q SET n = -n, note = 'updated' WHERE id <= 20",
		"DELETE FROM dmtest.q WHERE id BETWEEN 21 AND 30",
		"INSERT INTO dmtest.a SELECT seq + 1000, MD5(seq), seq FROM dmtest.seq_1_to_100",
		"UPDATE dmtest.b SET n = n * 3 WHERE id % 4 = 0",
		// One transaction over a replicated and the quarantined table.
		"BEGIN",
		"INSERT INTO dmtest.b VALUES (5000, 'with q', 1)",
		"INSERT INTO dmtest.q VALUES (5000, 'with b', 1, 'txn')",
		"COMMIT",
	)
	// The other two tables keep replicating.
	c.expectEqual("dmtest.a while q is quarantined", plain("a"), "SELECT id, v, n FROM dmtest.a")
	c.expectEqual("dmtest.b while q is quarantined", plain("b"), "SELECT id, v, n FROM dmtest.b")

	out := waitForStatus(c, "quar", "is quarantined")
	t.Logf("status with a quarantined table:\n%s", out)
	if !strings.Contains(c.node.Log(), "table quarantined") {
		t.Errorf("node log does not say the table was quarantined")
	}
	for _, want := range []string{"table dmtest.q is quarantined", "cp1251", "TiDB v8.5.0", "task replace quar --source mysql-replica-01 --table dmtest.q", "task skip quar"} {
		if !strings.Contains(out, want) {
			t.Fatalf("status does not say %q:\n%s", want, out)
		}
	}
	var st struct {
		Tasks []struct {
			Quarantined []struct {
				Source, Table, Error string
				Stmts                []string
			} `json:"quarantined_tables"`
			Rejected []json.RawMessage `json:"rejected_ddls"`
		}
	}
	js := c.dmnode("task", "status", "quar", "-o", "json")
	if err := json.Unmarshal([]byte(js), &st); err != nil || len(st.Tasks) != 1 {
		t.Fatalf("task status -o json: %v\n%s", err, js)
	}
	if q := st.Tasks[0].Quarantined; len(q) != 1 || q[0].Table != "dmtest.q" || q[0].Source != "mysql-replica-01" ||
		len(q[0].Stmts) != 1 || !strings.Contains(strings.ToLower(q[0].Stmts[0]), "cp1251") || len(st.Tasks[0].Rejected) != 0 {
		t.Fatalf("JSON status: want dmtest.q quarantined and no paused source:\n%s", js)
	}
	if v, ok := c.scrape().value("dmnode_quarantined_tables", "task", "quar", "source", "mysql-replica-01"); !ok || v != 1 {
		t.Errorf("dmnode_quarantined_tables = %v (present %v), want 1", v, ok)
	}
	// A cutover refuses while a table is held, naming it and the way out.
	out, err := harness.Run(t, c.bin, "--server", c.server(), "task", "cutover", "quar", "--dry-run")
	if err == nil || !strings.Contains(out, "dmtest.q") || !strings.Contains(out, "quarantined") {
		t.Fatalf("task cutover --dry-run with a quarantined table: %v\n%s", err, out)
	}
	// The held rows are not on the target; the row before the DDL is.
	if got := harnessRows(t, target, "SELECT COUNT(*) FROM dmtest.q WHERE id > 1000"); got[0][0] != "0" {
		t.Fatalf("rows of the quarantined table after its DDL reached the target: %v", got)
	}
	if got := harnessRows(t, target, "SELECT COUNT(*) FROM dmtest.q WHERE id = 201"); got[0][0] != "1" {
		t.Fatalf("the row before the DDL is not on the target: %v", got)
	}

	// SIGKILL while the table is held: nothing lost, the hold survives.
	c.killAndRestart()
	source.Exec(t,
		"INSERT INTO dmtest.a SELECT seq + 2000, MD5(seq), seq FROM dmtest.seq_1_to_50",
		"INSERT INTO dmtest.q SELECT seq + 2000, MD5(seq), seq, 'after kill' FROM dmtest.seq_1_to_50",
	)
	c.expectEqual("dmtest.a after the restart", plain("a"), "SELECT id, v, n FROM dmtest.a")
	waitForStatus(c, "quar", "table dmtest.q is quarantined")
	if got := harnessRows(t, target, "SELECT COUNT(*) FROM dmtest.q WHERE id > 1000"); got[0][0] != "0" {
		t.Fatalf("rows of the quarantined table reached the target after the restart: %v", got)
	}

	// A replacement TiDB refuses as well: the recorder answers with TiDB's
	// 1115; the table stays quarantined with that reason.
	c.dmnode("task", "replace", "quar", "--table", "dmtest.q", "--sql", "ALTER TABLE dmtest.q ADD COLUMN note varchar(20) CHARACTER SET cp1251")
	out = waitForStatus(c, "quar", "Unknown character set")
	t.Logf("status after a refused replacement:\n%s", out)
	if !strings.Contains(out, "table dmtest.q is quarantined") {
		t.Fatalf("the table is not quarantined after a refused replacement:\n%s", out)
	}

	// An acceptable replacement: the held rows arrive. A SIGKILL as the
	// applier starts on it (before, during or after the replacement and
	// the re-sync, as timing has it) changes nothing.
	c.dmnode("task", "replace", "quar", "--table", "dmtest.q", "--sql", "ALTER TABLE dmtest.q ADD COLUMN note varchar(20) CHARACTER SET utf8mb4")
	time.Sleep(time.Duration(rand.IntN(1500)) * time.Millisecond)
	c.killAndRestart()
	source.Exec(t, "INSERT INTO dmtest.q VALUES (9000, 'after the replace', 9, 'free')",
		"INSERT INTO dmtest.b VALUES (9000, 'after the replace', 9)")
	c.expectEqual("dmtest.q after the replace", withNote, "SELECT id, v, n, note FROM dmtest.q")
	c.expectEqual("dmtest.a", plain("a"), "SELECT id, v, n FROM dmtest.a")
	c.expectEqual("dmtest.b", plain("b"), "SELECT id, v, n FROM dmtest.b")
	harness.Eventually(t, time.Minute, func() error {
		if out := c.dmnode("task", "status", "quar"); strings.Contains(out, "quarantined") {
			return fmt.Errorf("status still shows a quarantine:\n%s", out)
		}
		return nil
	})
	if v, _ := c.scrape().value("dmnode_quarantined_tables", "task", "quar", "source", "mysql-replica-01"); v != 0 {
		t.Errorf("dmnode_quarantined_tables = %v after the replace, want 0", v)
	}
}

// TestQuarantineMergedTable: two upstream tables routed to one target
// table (a merge without shard-mode), and a third table. A DDL TiDB
// refuses on one of the merged tables quarantines the target table, so
// the changes of both upstream tables routed to it are held, while the
// third table goes on. The other merged table's own DDL, read while held,
// is met again after the first one's replacement and quarantines the
// table again at its own position; skipping it (the column exists by
// then) releases every held row. Ends with the row-by-row comparison.
func TestQuarantineMergedTable(t *testing.T) {
	harness.RefuseLikeTiDB(t, 0)
	source := harness.StartMariaDB(t, harness.Options{ServerID: 1})
	target := harness.StartMariaDB(t, harness.Options{ServerID: 100, ExtraArgs: []string{"--version=8.0.11-TiDB-v8.5.0"}})
	c := newClusterOn(t, []*harness.Server{source}, target)
	source.Exec(t, "CREATE DATABASE dmtest",
		"CREATE TABLE dmtest.p_1 (id int PRIMARY KEY, v varchar(40))",
		"CREATE TABLE dmtest.p_2 (id int PRIMARY KEY, v varchar(40))",
		"CREATE TABLE dmtest.f (id int PRIMARY KEY, v varchar(40))",
		"INSERT INTO dmtest.p_1 SELECT seq, MD5(seq) FROM dmtest.seq_1_to_100",
		"INSERT INTO dmtest.p_2 SELECT seq + 1000, MD5(seq) FROM dmtest.seq_1_to_100",
		"INSERT INTO dmtest.f SELECT seq, MD5(seq) FROM dmtest.seq_1_to_100")
	c.addSources()
	task := c.writeFile("merged.yaml", fmt.Sprintf(`name: merged
task-mode: all
target-database:
  host: 127.0.0.1
  port: %d
  user: root
  password: ""
mysql-instances:
  - source-id: %q
    block-allow-list: only
    route-rules: [merge]
block-allow-list:
  only:
    do-dbs: [dmtest]
routes:
  merge:
    schema-pattern: dmtest
    table-pattern: p_*
    target-schema: dmtest
    target-table: p
`, target.Port, sourceID(0)))
	c.dmnode("task", "submit", task)
	c.dmnode("task", "wait", "merged", "--stage", "sync", "--timeout", "2m")

	source.Exec(t,
		"ALTER TABLE dmtest.p_1 ADD COLUMN note varchar(20) CHARACTER SET cp1251",
		"INSERT INTO dmtest.p_1 VALUES (101, 'p_1 held', 'x')",
		"INSERT INTO dmtest.p_2 VALUES (1101, 'p_2 held')",
		"UPDATE dmtest.p_2 SET v = 'p_2 updated' WHERE id <= 1010",
		"ALTER TABLE dmtest.p_2 ADD COLUMN note varchar(20) CHARACTER SET cp1251",
		"INSERT INTO dmtest.p_2 VALUES (1102, 'p_2 after its DDL', 'y')",
		"INSERT INTO dmtest.f SELECT seq + 1000, MD5(seq) FROM dmtest.seq_1_to_50",
	)
	c.expectEqual("dmtest.f while dmtest.p is quarantined", func(int) string { return "SELECT id, v FROM dmtest.f" }, "SELECT id, v FROM dmtest.f")
	out := waitForStatus(c, "merged", "table dmtest.p is quarantined")
	t.Logf("status with the merged table quarantined:\n%s", out)
	if got := harnessRows(t, target, "SELECT COUNT(*) FROM dmtest.p WHERE id IN (101, 1101, 1102) OR v = 'p_2 updated'"); got[0][0] != "0" {
		t.Fatalf("changes of a table routed to the quarantined table reached the target: %v", got)
	}

	first := quarantinedAt(c, "merged")
	if len(first) != 1 {
		t.Fatalf("want one quarantined table, got positions %v", first)
	}
	c.dmnode("task", "replace", "merged", "--table", "dmtest.p", "--sql", "ALTER TABLE dmtest.p ADD COLUMN note varchar(20) CHARACTER SET utf8mb4")
	// The second shard's statement is met again, and refused again.
	harness.Eventually(t, 90*time.Second, func() error {
		if q := quarantinedAt(c, "merged"); len(q) != 1 || q[0] <= first[0] {
			return fmt.Errorf("want the table quarantined at the second DDL, after %d: %v", first[0], q)
		}
		if got := harnessRows(t, target, "SELECT COUNT(*) FROM dmtest.p WHERE id IN (101, 1101)"); got[0][0] != "2" {
			return fmt.Errorf("the rows before the second DDL have not arrived yet")
		}
		return nil
	})
	if got := harnessRows(t, target, "SELECT COUNT(*) FROM dmtest.p WHERE id = 1102"); got[0][0] != "0" {
		t.Fatalf("a row after the second, refused, DDL reached the target: %v", got)
	}
	c.dmnode("task", "skip", "merged", "--table", "dmtest.p")
	source.Exec(t, "INSERT INTO dmtest.p_1 VALUES (102, 'after the skip', 'z')")
	union := func(int) string {
		return "SELECT id, v, note FROM dmtest.p_1 UNION ALL SELECT id, v, note FROM dmtest.p_2"
	}
	c.expectEqual("dmtest.p (p_1 and p_2 merged)", union, "SELECT id, v, note FROM dmtest.p")
	c.expectEqual("dmtest.f", func(int) string { return "SELECT id, v FROM dmtest.f" }, "SELECT id, v FROM dmtest.f")
	harness.Eventually(t, time.Minute, func() error {
		if out := c.dmnode("task", "status", "merged"); strings.Contains(out, "quarantined") {
			return fmt.Errorf("status still shows a quarantine:\n%s", out)
		}
		return nil
	})
}

// quarantinedAt returns the binlog offsets at which a task's tables are
// quarantined, as task status -o json gives them.
func quarantinedAt(c *cluster, task string) []uint32 {
	c.t.Helper()
	js := c.dmnode("task", "status", task, "-o", "json")
	var st struct {
		Tasks []struct {
			Quarantined []struct {
				Pos struct{ Pos uint32 }
			} `json:"quarantined_tables"`
		}
	}
	if err := json.Unmarshal([]byte(js), &st); err != nil || len(st.Tasks) != 1 {
		c.t.Fatalf("task status -o json: %v\n%s", err, js)
	}
	var out []uint32
	for _, q := range st.Tasks[0].Quarantined {
		out = append(out, q.Pos.Pos)
	}
	return out
}

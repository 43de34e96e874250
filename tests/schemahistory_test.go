package tests

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dmnode/dmnode/tests/harness"
)

// An incremental task started at a binlog position before a series of
// DDLs (ADD COLUMN in the middle of a table, DROP COLUMN, CREATE TABLE,
// ALTER of the new table, RENAME), with writes between each: every row
// event is decoded with the schema it was written under, starting from the
// target's table at the start position (as TiDB DM does). Then the same
// with the node killed (SIGKILL) between two of the DDLs and restarted.
// The source writes no row metadata (binlog_row_metadata=MINIMAL, the
// default).
func TestSchemaHistory(t *testing.T) {
	t.Run("past", func(t *testing.T) { schemaHistory(t, false, false) })
	t.Run("kill", func(t *testing.T) { schemaHistory(t, false, true) })
}

// The same with binlog_row_metadata=FULL: the tailer checks the tracked
// schema against the column names of every TABLE_MAP event, and takes the
// starting schema of tables the target does not have from them: sh.t0,
// which gained a column and lost one after the start position (the guess,
// its current schema, cannot decode its first rows), and sh.t9, dropped
// since (no guess at all).
func TestSchemaHistoryRowMetadata(t *testing.T) {
	t.Run("past", func(t *testing.T) { schemaHistory(t, true, false) })
	t.Run("kill", func(t *testing.T) { schemaHistory(t, true, true) })
}

func schemaHistory(t *testing.T, rowMetadata, kill bool) {
	opts := harness.Options{ServerID: 1}
	if rowMetadata {
		opts.ExtraArgs = []string{"--binlog-row-metadata=FULL"}
	}
	src := harness.StartMariaDB(t, opts)
	c := newClusterOn(t, []*harness.Server{src}, harness.StartMariaDB(t, harness.Options{ServerID: 100}))

	// The state at the start position: sh.t1 with rows, on the source and,
	// as a restored backup would have it, on the target.
	create := "CREATE TABLE sh.t1 (id int NOT NULL PRIMARY KEY, a varchar(20), b int)"
	src.Exec(t, "CREATE DATABASE sh", create,
		"INSERT INTO sh.t1 SELECT seq, CONCAT('a', seq), seq * 10 FROM sh.seq_1_to_50")
	c.target.Exec(t, "CREATE DATABASE sh", create)
	for _, row := range harnessRows(t, src, "SELECT id, a, b FROM sh.t1") {
		c.target.Exec(t, fmt.Sprintf("INSERT INTO sh.t1 VALUES (%s, '%s', %s)", row[0], row[1], row[2]))
	}
	if rowMetadata {
		src.Exec(t, "CREATE TABLE sh.t0 (id int NOT NULL PRIMARY KEY, a varchar(10), q int)",
			"CREATE TABLE sh.t9 (id int NOT NULL PRIMARY KEY, s varchar(5))")
	}
	file, pos := masterStatus(t, src)
	t.Logf("start position %s:%s", file, pos)

	steps := []func(){
		func() { // writes at the start schema
			src.Exec(t, "INSERT INTO sh.t1 SELECT seq, CONCAT('n', seq), seq FROM sh.seq_51_to_60",
				"UPDATE sh.t1 SET a = CONCAT(a, '!') WHERE id <= 5", "DELETE FROM sh.t1 WHERE id = 7")
			if rowMetadata {
				src.Exec(t, "INSERT INTO sh.t0 SELECT seq, CONCAT('z', seq), seq FROM sh.seq_1_to_10",
					"INSERT INTO sh.t9 SELECT seq, 's' FROM sh.seq_1_to_5")
			}
		},
		func() { // a column added in the middle
			src.Exec(t, "ALTER TABLE sh.t1 ADD COLUMN m varchar(10) NOT NULL DEFAULT 'x' AFTER a",
				"INSERT INTO sh.t1 (id, a, m, b) SELECT seq, 'm', CONCAT('m', seq), -seq FROM sh.seq_61_to_70",
				"UPDATE sh.t1 SET m = 'y' WHERE id % 3 = 0")
			if rowMetadata {
				src.Exec(t, "ALTER TABLE sh.t0 ADD COLUMN z int",
					"INSERT INTO sh.t0 SELECT seq, 'zz', seq, seq * 2 FROM sh.seq_11_to_20", "UPDATE sh.t0 SET z = 7 WHERE id < 4",
					"ALTER TABLE sh.t0 DROP COLUMN q", "UPDATE sh.t0 SET a = 'dq' WHERE id % 4 = 0",
					"DROP TABLE sh.t9")
			}
		},
		func() { // a column dropped
			src.Exec(t, "ALTER TABLE sh.t1 DROP COLUMN b",
				"INSERT INTO sh.t1 (id, a, m) SELECT seq, 'd', 'dd' FROM sh.seq_71_to_80", "DELETE FROM sh.t1 WHERE id = 61")
		},
		func() { // a new table
			src.Exec(t, "CREATE TABLE sh.t2 (id int NOT NULL PRIMARY KEY, v int)",
				"INSERT INTO sh.t2 SELECT seq, seq FROM sh.seq_1_to_20")
		},
		func() { // the new table altered
			src.Exec(t, "ALTER TABLE sh.t2 ADD COLUMN w varchar(10) AFTER id",
				"INSERT INTO sh.t2 SELECT seq, CONCAT('w', seq), seq FROM sh.seq_21_to_30", "UPDATE sh.t2 SET w = 'q' WHERE id < 5")
		},
		func() { // ... and renamed
			src.Exec(t, "RENAME TABLE sh.t2 TO sh.t3",
				"INSERT INTO sh.t3 SELECT seq, 'r', seq FROM sh.seq_31_to_40", "UPDATE sh.t3 SET v = v + 1 WHERE id > 35")
		},
	}
	// Without a kill every DDL is in the past when the task starts; with
	// one, the first three are, and the node dies between CREATE TABLE
	// and its ALTER.
	past := len(steps)
	if kill {
		past = 3
	}
	for _, s := range steps[:past] {
		s()
	}

	c.addSources()
	task := c.writeFile("hist.yaml", fmt.Sprintf(`name: hist
task-mode: incremental
target-database:
  host: 127.0.0.1
  port: %d
  user: root
  password: ""
mysql-instances:
  - source-id: %q
    block-allow-list: sh
    meta:
      binlog-name: %s
      binlog-pos: %s
block-allow-list:
  sh:
    do-dbs: ["sh"]
`, c.target.Port, sourceID(0), file, pos))
	// The target's sh.t1 lacks m, which the source has now: a warning
	// that says the binlog adds it, not an error.
	out := c.dmnode("task", "check", task)
	if past >= 2 && !strings.Contains(out, "nothing, if the source added the column after") {
		t.Fatalf("task check does not explain the column added after the start position:\n%s", out)
	}
	c.dmnode("task", "submit", task)

	t1 := func() {
		c.expectEqual("sh.t1", func(int) string { return "SELECT id, a, m FROM sh.t1" }, "SELECT id, a, m FROM sh.t1")
	}
	if kill {
		t1()
		steps[3]()
		c.expectEqual("sh.t2", func(int) string { return "SELECT id, v FROM sh.t2" }, "SELECT id, v FROM sh.t2")
		// Killed once the tailer's checkpoint is past the start position:
		// the restarted tailer reads the schemas in force there from the
		// history (binlog-schema list reads at the tailer's checkpoint).
		start := fmt.Sprintf(" at %s:%s", file, pos)
		harness.Eventually(t, time.Minute, func() error {
			if out := c.dmnode("binlog-schema", "list", sourceID(0)); strings.Contains(out, start+":") || strings.Contains(out, start+" ") {
				return fmt.Errorf("tailer checkpoint still at the start: %s", out)
			}
			return nil
		})
		c.node.Kill(t)
		steps[4]()
		c.startNode()
		steps[5]()
	}
	t1()
	c.expectEqual("sh.t3", func(int) string { return "SELECT id, w, v FROM sh.t3" }, "SELECT id, w, v FROM sh.t3")
	if rowMetadata {
		c.expectEqual("sh.t0", func(int) string { return "SELECT id, a, z FROM sh.t0" }, "SELECT id, a, z FROM sh.t0")
	}
	if got := harnessRows(t, c.target, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'sh' AND TABLE_NAME IN ('t2', 't9')"); got[0][0] != "0" {
		t.Fatalf("sh.t2 or sh.t9 still on the target after the rename and the drop")
	}

	// The schema history as the operator sees it, at the end and at the
	// start position.
	endFile, endPos := masterStatus(t, src)
	end := endFile + ":" + endPos
	out = c.dmnode("binlog-schema", "show", "hist", "sh", "t1", "--pos", end)
	for _, want := range []string{"target", "ddl", "`m` VARCHAR(10) NOT NULL DEFAULT 'x'"} {
		if !strings.Contains(out, want) {
			t.Errorf("binlog-schema show lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "`b` INT") {
		t.Errorf("binlog-schema show at the end still has column b:\n%s", out)
	}
	out = c.dmnode("binlog-schema", "show", "hist", "sh", "t1", "--pos", file+":"+pos)
	if !strings.Contains(out, "`b` INT") || strings.Contains(out, "`m`") {
		t.Errorf("binlog-schema show at the start:\n%s", out)
	}
	out = c.dmnode("binlog-schema", "list", sourceID(0), "--pos", end)
	if !strings.Contains(out, "sh.t3") || strings.Contains(out, "sh.t2 ") {
		t.Errorf("binlog-schema list:\n%s", out)
	}
	t.Logf("binlog-schema list at the end:\n%s", out)
	if rowMetadata {
		// sh.t0's guessed starting schema (its columns now) was replaced
		// by the first TABLE_MAP's; sh.t9 got its schema from it.
		for _, tbl := range []string{"t0", "t9"} {
			out = c.dmnode("binlog-schema", "show", sourceID(0), "sh", tbl, "--pos", end)
			if !strings.Contains(out, "row-metadata") {
				t.Errorf("binlog-schema show sh.%s has no version from the row metadata:\n%s", tbl, out)
			}
		}
	}
	if rowMetadata && !kill {
		wrongSchema(t, c, src, end)
	}
}

// wrongSchema sets a wrong schema of sh.t1 by hand: on the next row the
// binlog's row metadata disagrees, the tailer stops naming the table, the
// position and the fix, and the fix (the source's table) lets it go on.
func wrongSchema(t *testing.T, c *cluster, src *harness.Server, end string) {
	harness.Eventually(t, time.Minute, func() error {
		// The position prints with its GTID set, if any, after a space.
		if out := c.dmnode("binlog-schema", "list", sourceID(0)); !strings.Contains(out, " at "+end+":") && !strings.Contains(out, " at "+end+" ") {
			return fmt.Errorf("tailer checkpoint not at the end (%s) yet: %s", end, out)
		}
		return nil
	})
	wrong := c.writeFile("wrong.sql", "CREATE TABLE t1 (id int NOT NULL PRIMARY KEY, a varchar(20))")
	c.dmnode("binlog-schema", "update", "hist", "sh", "t1", wrong)
	src.Exec(t, "INSERT INTO sh.t1 (id, a, m) VALUES (1000, 'late', 'l')")
	var status string
	harness.Eventually(t, time.Minute, func() error {
		// task status exits non-zero while a source is stopped on an error.
		status, _ = harness.Run(t, c.bin, "--server", c.server(), "task", "status", "hist")
		if !strings.Contains(status, "the binlog's row metadata gives sh.t1 the columns (id, a, m), but the schema dmnode tracks for it has (id, a)") {
			return fmt.Errorf("no row metadata error in the status yet:\n%s", status)
		}
		return nil
	})
	for _, want := range []string{"error", "source mysql-replica-01 at mysql-bin.000001:", "dmnode binlog-schema update mysql-replica-01 sh t1 FILE"} {
		if !strings.Contains(status, want) {
			t.Errorf("task status lacks %q:\n%s", want, status)
		}
	}
	c.dmnode("binlog-schema", "update", "hist", "sh", "t1", "--from-source")
	c.expectEqual("sh.t1 after the fix", func(int) string { return "SELECT id, a, m FROM sh.t1" }, "SELECT id, a, m FROM sh.t1")
	// The target's table, as TiDB DM's --from-target takes it, is right too.
	out := c.dmnode("binlog-schema", "update", "hist", "sh", "t1", "--from-target")
	if !strings.Contains(out, "(id, a, m)") || !strings.Contains(out, "restarts") {
		t.Errorf("binlog-schema update --from-target:\n%s", out)
	}
	src.Exec(t, "UPDATE sh.t1 SET m = 'after' WHERE id = 1000")
	c.expectEqual("sh.t1 after --from-target", func(int) string { return "SELECT id, a, m FROM sh.t1" }, "SELECT id, a, m FROM sh.t1")
}

// masterStatus returns the source's current binlog file and position.
func masterStatus(t *testing.T, s *harness.Server) (file, pos string) {
	t.Helper()
	rows := harnessRows(t, s, "SHOW MASTER STATUS")
	if len(rows) == 0 || len(rows[0]) < 2 {
		t.Fatalf("SHOW MASTER STATUS: %v", rows)
	}
	return rows[0][0], rows[0][1]
}

// A task-mode all task whose table changes while it is dumped: the tailer
// starts from the schemas of the dump's consistent snapshot, recorded as
// the starting versions; the node is killed between two later DDLs.
func TestSchemaHistoryAfterDump(t *testing.T) {
	c := newCluster(t, 1)
	src := c.sources[0]
	src.Exec(t, "CREATE DATABASE sh", "CREATE TABLE sh.t1 (id int NOT NULL PRIMARY KEY, a varchar(20), b int)",
		"INSERT INTO sh.t1 SELECT seq, CONCAT('a', seq), seq FROM sh.seq_1_to_3000")
	c.addSources()
	task := c.writeFile("hist-all.yaml", fmt.Sprintf(`name: hist-all
task-mode: all
target-database:
  host: 127.0.0.1
  port: %d
  user: root
  password: ""
mysql-instances:
  - source-id: %q
    block-allow-list: sh
    mydumper-config-name: small
mydumpers:
  small:
    threads: 2
    rows: 500
block-allow-list:
  sh:
    do-dbs: ["sh"]
`, c.target.Port, sourceID(0)))
	c.dmnode("task", "submit", task)
	src.Exec(t, "ALTER TABLE sh.t1 ADD COLUMN m varchar(10) NOT NULL DEFAULT 'x' AFTER a",
		"INSERT INTO sh.t1 (id, a, m, b) SELECT seq, 'm', CONCAT('m', seq), -seq FROM sh.seq_3001_to_3100",
		"UPDATE sh.t1 SET m = 'y' WHERE id % 7 = 0")
	c.dmnode("task", "wait", "hist-all", "--stage", "sync", "--timeout", "3m")
	src.Exec(t, "ALTER TABLE sh.t1 DROP COLUMN b", "DELETE FROM sh.t1 WHERE id % 11 = 0",
		"CREATE TABLE sh.t2 (id int NOT NULL PRIMARY KEY, v int)", "INSERT INTO sh.t2 SELECT seq, seq FROM sh.seq_1_to_20")
	c.expectEqual("sh.t1", func(int) string { return "SELECT id, a, m FROM sh.t1" }, "SELECT id, a, m FROM sh.t1")
	c.node.Kill(t)
	src.Exec(t, "ALTER TABLE sh.t2 ADD COLUMN w varchar(10) AFTER id", "UPDATE sh.t2 SET w = 'q' WHERE id < 5")
	c.startNode()
	src.Exec(t, "RENAME TABLE sh.t2 TO sh.t3", "INSERT INTO sh.t3 SELECT seq, 'r', seq FROM sh.seq_31_to_40",
		"INSERT INTO sh.t1 (id, a) VALUES (5000, 'late')")
	c.expectEqual("sh.t1", func(int) string { return "SELECT id, a, m FROM sh.t1" }, "SELECT id, a, m FROM sh.t1")
	c.expectEqual("sh.t3", func(int) string { return "SELECT id, w, v FROM sh.t3" }, "SELECT id, w, v FROM sh.t3")
	endFile, endPos := masterStatus(t, src)
	out := c.dmnode("binlog-schema", "show", "hist-all", "sh", "t1", "--pos", endFile+":"+endPos)
	if !strings.Contains(out, "snapshot") {
		t.Errorf("binlog-schema show has no starting version from the snapshot:\n%s", out)
	}
}

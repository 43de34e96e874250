package tests

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dmnode/dmnode/tests/harness"
)

// loaders.*.add-index-after-load with two shards merged into one table
// that dmnode creates: the table is created with its primary and unique
// keys but without its plain secondary indexes; the last loader to finish
// adds them in one ALTER TABLE. The node is killed with SIGKILL while that
// ALTER waits (a transaction of the test holds the table's metadata lock),
// the ALTER is killed on the target too, and after the restart the
// indexes are added all the same. Live writes then replicate, and the
// target's rows equal the sources' row by row.
func TestIndexAfterLoad(t *testing.T) {
	c := newCluster(t, 2)
	for i, s := range c.sources {
		s.Exec(t, "CREATE DATABASE ia",
			"CREATE TABLE ia.t (id int NOT NULL, k int NOT NULL, v varchar(40) NOT NULL, n bigint, PRIMARY KEY (id), UNIQUE KEY uv (v), KEY k_1 (k), KEY kn (k, n))",
			fmt.Sprintf("INSERT INTO ia.t SELECT seq, seq %% 97, CONCAT('v', seq, '-', %d), IF(seq %% 7 = 0, NULL, seq * 3) FROM ia.seq_1_to_6000", i))
	}
	c.addSources()
	task := c.writeFile("ia.yaml", c.taskYAML("ia", func(int) string {
		return "    block-allow-list: \"only\"\n    route-rules: [\"merge\"]\n    mydumper-config-name: \"d\"\n    loader-config-name: \"l\"\n"
	}, mergeRulesYAML("ia")+`mydumpers:
  d:
    threads: 2
    rows: 1000
loaders:
  l:
    pool-size: 2
    add-index-after-load: true
`))
	tdb := c.target.DB(t)
	ctx := context.Background()
	// The holder's transaction reads the table as soon as it exists: its
	// metadata lock makes the ALTER that adds the indexes wait.
	holder, err := tdb.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	c.dmnode("task", "submit", task)
	harness.Eventually(t, 2*time.Minute, func() error {
		if _, err := holder.ExecContext(ctx, "BEGIN"); err != nil {
			return err
		}
		if _, err := holder.ExecContext(ctx, "SELECT 1 FROM ia.t LIMIT 1"); err != nil {
			holder.ExecContext(ctx, "ROLLBACK")
			return err
		}
		return nil
	})
	// Created without the plain secondary indexes.
	if got := targetIndexes(t, tdb); slices.Contains(got, "k_1") || slices.Contains(got, "kn") || !slices.Contains(got, "uv") {
		t.Fatalf("the target table was created with indexes %v, want PRIMARY and uv only", got)
	}
	var alters []int64
	harness.Eventually(t, 3*time.Minute, func() error {
		alters = alters[:0]
		rows, err := tdb.Query("SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE 'ALTER TABLE `ia`.`t`%' AND STATE LIKE '%metadata lock%'")
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				return err
			}
			alters = append(alters, id)
		}
		if len(alters) == 0 {
			return fmt.Errorf("no ALTER TABLE waiting yet")
		}
		return rows.Err()
	})
	// Counted in the holder's transaction, which holds the table's metadata
	// lock already (a new reader would queue behind the ALTER); a locking
	// read sees the rows committed since its snapshot.
	var loaded int
	if err := holder.QueryRowContext(ctx, "SELECT COUNT(*) FROM ia.t LOCK IN SHARE MODE").Scan(&loaded); err != nil {
		t.Fatal(err)
	}
	t.Logf("every row loaded (%d) and %d ALTER TABLE waiting: killing the node", loaded, len(alters))
	c.node.Kill(t)
	for _, id := range alters {
		if _, err := tdb.Exec(fmt.Sprintf("KILL %d", id)); err != nil {
			t.Logf("kill the ALTER on the target: %v", err)
		}
	}
	if _, err := holder.ExecContext(ctx, "COMMIT"); err != nil {
		t.Fatal(err)
	}
	if got := targetIndexes(t, tdb); slices.Contains(got, "k_1") || slices.Contains(got, "kn") {
		t.Fatalf("the killed ALTER added indexes %v", got)
	}
	c.startNode()
	c.dmnode("task", "wait", "ia", "--stage", "sync", "--timeout", "3m")
	got := targetIndexes(t, tdb)
	for _, want := range []string{"PRIMARY", "uv", "k_1", "kn"} {
		if !slices.Contains(got, want) {
			t.Fatalf("after the restart the target table has indexes %v, want %s among them", got, want)
		}
	}
	show := harness.Rows(t, tdb, "SHOW CREATE TABLE ia.t")[0][1]
	for _, want := range []string{"KEY `k_1` (`k`)", "KEY `kn` (`k`,`n`)"} {
		if !strings.Contains(show, want) {
			t.Fatalf("the target table lacks %s:\n%s", want, show)
		}
	}
	// Live writes replicate into the indexed table.
	for i, s := range c.sources {
		s.Exec(t, fmt.Sprintf("INSERT INTO ia.t VALUES (7001, 5, 'live-%d', NULL)", i),
			"UPDATE ia.t SET k = k + 1, n = NULL WHERE id % 500 = 3",
			"DELETE FROM ia.t WHERE id % 800 = 1")
	}
	c.expectEqual("ia.t", func(i int) string {
		return fmt.Sprintf("SELECT id, k, v, n, '%02d' FROM ia.t", i+1)
	}, "SELECT id, k, v, n, c_source FROM ia.t")
	t.Logf("indexes on the target after the restart: %v", got)
}

// targetIndexes returns the index names of ia.t on the target.
func targetIndexes(t *testing.T, db *sql.DB) []string {
	t.Helper()
	var out []string
	for _, r := range harness.Rows(t, db, "SELECT DISTINCT INDEX_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = 'ia' AND TABLE_NAME = 't'") {
		out = append(out, r[0])
	}
	return out
}

package tests

import (
	"fmt"
	"strings"
	"testing"
)

// An incremental task on a target that already holds the data (restored
// from a backup, say): replication starts at the sources' current position
// and the rows keep matching while the sources change.
func TestIncrementalOnRestoredTarget(t *testing.T) {
	c := newCluster(t, 2)
	c.seed(500)
	c.target.Exec(t, "CREATE DATABASE dmtest",
		"CREATE TABLE dmtest.t1 (id bigint unsigned NOT NULL AUTO_INCREMENT, c char(32), port int, c_source varchar(32) NOT NULL, PRIMARY KEY (id, c_source))")
	tdb := c.target.DB(t)
	for i, s := range c.sources {
		for _, row := range harnessRows(t, s, "SELECT id, c, port FROM dmtest.t1") {
			if _, err := tdb.Exec("INSERT INTO dmtest.t1 VALUES (?, ?, ?, ?)", row[0], row[1], row[2], sourceID(i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	c.addSources()
	var b strings.Builder
	fmt.Fprintf(&b, "name: incr\ntask-mode: incremental\ntarget-database:\n  host: 127.0.0.1\n  port: %d\n  user: root\n  password: \"\"\nmysql-instances:\n", c.target.Port)
	for i := range c.sources {
		fmt.Fprintf(&b, "  - source-id: %q\n    block-allow-list: only\n    route-rules: [src]\n", sourceID(i))
	}
	b.WriteString(`block-allow-list:
  only:
    do-tables:
      - db-name: dmtest
        tbl-name: t1
routes:
  src:
    schema-pattern: dmtest
    table-pattern: t1
    target-schema: dmtest
    extract-source:
      source-regexp: "(.*)"
      target-column: c_source
`)
	task := c.writeFile("incr.yaml", b.String())
	c.dmnode("task", "submit", task)
	c.dmnode("task", "wait", "incr", "--stage", "sync", "--timeout", "1m")
	w := startWriters(t, c.sources, 4)
	waitForOps(t, w, 600)
	w.stop(t)
	c.expectEqual("dmtest.t1", func(i int) string {
		return fmt.Sprintf("SELECT id, c, port, '%s' FROM dmtest.t1", sourceID(i))
	}, "SELECT id, c, port, c_source FROM dmtest.t1")
}

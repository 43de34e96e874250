package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/dmnode/dmnode/tests/harness"
)

// manyTablesCount is the number of tables of TestManyTables: 2,000 by
// default, the production shape of 10,000 with DMNODE_LONG=1.
func manyTablesCount() int {
	if os.Getenv("DMNODE_LONG") == "1" {
		return 10000
	}
	return 2000
}

// manySchemas spreads the tables over this many schemas, as shards are.
const manySchemas = 10

func manyTable(i int) (schema, table string) {
	return fmt.Sprintf("many_%02d", i%manySchemas), fmt.Sprintf("t%05d", i)
}

// An estate of thousands of small tables and one larger one, cut into
// chunks, in one source, task-mode all:
// task check finishes in seconds, task status answers promptly during the
// copy, the node is killed with SIGKILL mid-copy and the copy finishes
// after the restart, live writes then replicate, and every table's rows on
// the target equal the source's. It prints the check time, the status
// latency, the copy time and the node's peak RSS.
func TestManyTables(t *testing.T) {
	n := manyTablesCount()
	// The source keeps its tables in the system tablespace and does not
	// sync its files only so that creating thousands of tables takes
	// seconds, not a minute, on a slow disk; the target, where the loader
	// creates them, runs as the other tests' servers do.
	src := harness.StartMariaDB(t, harness.Options{ServerID: 1, ExtraArgs: []string{"--innodb-file-per-table=OFF", "--innodb-flush-method=nosync", "--innodb-doublewrite=0"}})
	c := newClusterOn(t, []*harness.Server{src}, harness.StartMariaDB(t, harness.Options{ServerID: 100}))

	start := time.Now()
	createManyTables(t, src, n)
	t.Logf("created %d tables of 3 rows in %s", n, time.Since(start).Round(time.Millisecond))
	c.addSources()
	// One larger table is cut into chunks of 2,000 rows, as big tables are.
	src.Exec(t, "CREATE TABLE many_00.big (id bigint NOT NULL PRIMARY KEY, v char(32))",
		"INSERT INTO many_00.big SELECT seq, MD5(seq) FROM many_00.seq_1_to_20000")
	task := c.writeFile("many.yaml", c.taskYAML("many", func(int) string {
		return "    mydumper-config-name: \"global\"\n"
	}, "mydumpers:\n  global:\n    rows: 2000\n"))

	start = time.Now()
	out := c.dmnode("task", "check", task)
	checkTime := time.Since(start)
	if !strings.Contains(out, "check passed") {
		t.Fatalf("task check did not pass:\n%s", out)
	}
	t.Logf("task check of %d tables: %s", n, checkTime.Round(time.Millisecond))

	start = time.Now()
	c.dmnode("task", "submit", task)
	var lat latencies
	var st manyStatus
	rss1 := int64(0)
	harness.Eventually(t, 3*time.Minute, func() error {
		st = c.manyStatus(&lat)
		rss1 = max(rss1, int64(peakRSS(t, c.node.Pid())*(1<<20)))
		if st.Stage != "dump" && st.Stage != "load" {
			return nil // copied before it could be caught: the kill below then tests a restart in sync
		}
		// A quarter of the chunks: by then the plan's keys are all
		// written, and the restarted dumper goes on from them.
		if st.ChunksTotal == 0 || st.ChunksDone < st.ChunksTotal/4 {
			return fmt.Errorf("copy not a quarter done: %+v", st)
		}
		return nil
	})
	t.Logf("killing the node mid-copy: stage %s, %d of %d chunks dumped, %d rows loaded, %d tables",
		st.Stage, st.ChunksDone, st.ChunksTotal, st.RowsLoaded, st.TablesTotal)
	if st.Stage != "dump" && st.Stage != "load" {
		t.Logf("warning: the copy finished before the kill; the kill hit stage %s", st.Stage)
	}
	c.node.Kill(t)
	c.startNode()
	rss2 := int64(0)
	// The copy's deadline grows with the tables: each costs a few writes
	// to disk in NATS and a CREATE TABLE on the target.
	harness.Eventually(t, max(5*time.Minute, time.Duration(n)*100*time.Millisecond), func() error {
		st = c.manyStatus(&lat)
		rss2 = max(rss2, int64(peakRSS(t, c.node.Pid())*(1<<20)))
		if st.Stage != "sync" {
			return fmt.Errorf("still copying: %+v", st)
		}
		return nil
	})
	copyTime := time.Since(start)
	if st.TablesTotal != n+1 || st.ChunksTotal != n+10 {
		t.Errorf("status counts %d tables and %d chunks, want %d and %d", st.TablesTotal, st.ChunksTotal, n+1, n+10)
	}

	// Live writes to some tables replicate.
	for i := 0; i < n; i += n / 20 {
		s, tb := manyTable(i)
		src.Exec(t, fmt.Sprintf("INSERT INTO %s.%s VALUES (100, 'live'), (101, NULL)", s, tb),
			fmt.Sprintf("UPDATE %s.%s SET v = CONCAT(v, '-upd') WHERE id = 2", s, tb),
			fmt.Sprintf("DELETE FROM %s.%s WHERE id = 3", s, tb))
	}
	src.Exec(t, "UPDATE many_00.big SET v = 'live' WHERE id % 1000 = 7", "DELETE FROM many_00.big WHERE id % 1000 = 8")
	compareManyTables(c, n)
	c.expectEqual("many_00.big", func(int) string { return "SELECT id, v FROM many_00.big" }, "SELECT id, v FROM many_00.big")

	tdb := c.target.DB(t)
	got := harness.Rows(t, tdb, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA LIKE 'many\\_%'")
	if got[0][0] != strconv.Itoa(n+1) {
		t.Fatalf("the target has %s tables, want %d", got[0][0], n+1)
	}
	rss2 = max(rss2, int64(peakRSS(t, c.node.Pid())*(1<<20)))
	// The phases' durations, from the node's log (both runs).
	for _, line := range strings.Split(c.node.Log(), "\n") {
		for _, what := range []string{"snapshot taken", "dump planned", "dump finished", "load finished"} {
			if strings.Contains(line, what) {
				t.Log(line)
			}
		}
	}
	t.Logf("FIGURES %d tables: task check %s; copy (with a SIGKILL and restart) %s; task status latency %s; peak RSS %d MiB before the kill, %d MiB after",
		n, checkTime.Round(time.Millisecond), copyTime.Round(time.Millisecond), lat, rss1>>20, rss2>>20)
}

// createManyTables creates n tables of three rows each, 250 to a round
// trip, on four connections at once.
func createManyTables(t *testing.T, s *harness.Server, n int) {
	var stmts []string
	for i := range manySchemas {
		stmts = append(stmts, fmt.Sprintf("CREATE DATABASE many_%02d", i))
	}
	s.Exec(t, stmts...)
	var batches []string
	var b strings.Builder
	for i := range n {
		sc, tb := manyTable(i)
		fmt.Fprintf(&b, "CREATE TABLE %s.%s (id int NOT NULL PRIMARY KEY, v varchar(40)); INSERT INTO %s.%s VALUES (1, 'a%d'), (2, 'b%d'), (3, NULL);",
			sc, tb, sc, tb, i, i)
		if (i+1)%250 == 0 || i == n-1 {
			batches = append(batches, b.String())
			b.Reset()
		}
	}
	db := s.DB(t)
	var g errgroup.Group
	g.SetLimit(4)
	for _, q := range batches {
		g.Go(func() error {
			if _, err := db.Exec(q); err != nil {
				return fmt.Errorf("create tables: %w", err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
}

// compareManyTables compares every table's rows, source against target,
// 250 tables to a query.
func compareManyTables(c *cluster, n int) {
	for from := 0; from < n; from += 250 {
		var parts []string
		for i := from; i < min(from+250, n); i++ {
			s, tb := manyTable(i)
			parts = append(parts, fmt.Sprintf("SELECT '%s.%s', id, v FROM %s.%s", s, tb, s, tb))
		}
		q := strings.Join(parts, " UNION ALL ")
		c.expectEqual(fmt.Sprintf("tables %d..%d", from, min(from+250, n)-1), func(int) string { return q }, q)
	}
}

type manyStatus struct {
	Stage       string `json:"stage"`
	TablesTotal int    `json:"tables_total"`
	ChunksTotal int    `json:"chunks_total"`
	ChunksDone  int    `json:"chunks_done"`
	RowsLoaded  int64  `json:"rows_loaded"`
	LastError   string `json:"last_error"`
}

// manyStatus reads the task's status, timing the command.
func (c *cluster) manyStatus(lat *latencies) manyStatus {
	c.t.Helper()
	start := time.Now()
	out := c.dmnode("task", "status", "many", "-o", "json")
	lat.add(time.Since(start))
	var st struct {
		Tasks []struct{ Sources []manyStatus }
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil || len(st.Tasks) != 1 || len(st.Tasks[0].Sources) != 1 {
		c.t.Fatalf("task status: %v\n%s", err, out)
	}
	return st.Tasks[0].Sources[0]
}

// latencies are the durations of task status commands (a CLI process
// each, so its start is included).
type latencies []time.Duration

func (l *latencies) add(d time.Duration) { *l = append(*l, d) }

func (l latencies) String() string {
	if len(l) == 0 {
		return "none measured"
	}
	s := slices.Clone(l)
	slices.Sort(s)
	return fmt.Sprintf("median %s, max %s over %d calls", s[len(s)/2].Round(time.Millisecond), s[len(s)-1].Round(time.Millisecond), len(s))
}

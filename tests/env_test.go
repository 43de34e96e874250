package tests

import (
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dmnode/dmnode/tests/harness"
)

// cluster is one end-to-end environment: sources, a target and a dmnode
// dev node.
type cluster struct {
	t        *testing.T
	bin      string
	sources  []*harness.Server
	target   *harness.Server
	natsPort int
	httpPort int // /healthz and /metrics
	dataDir  string
	node     *harness.Process
	dir      string
	// diagnose, when set, describes the system's state for a failure.
	diagnose func() string
	// serverURL, when set, is where the CLI reaches dmnode instead of the
	// dev node's port (nodes on an external NATS).
	serverURL string
}

func newCluster(t *testing.T, nSources int) *cluster {
	t.Helper()
	var sources []*harness.Server
	for i := range nSources {
		sources = append(sources, harness.StartMariaDB(t, harness.Options{ServerID: i + 1}))
	}
	return newClusterOn(t, sources, harness.StartMariaDB(t, harness.Options{ServerID: 100}))
}

// newClusterOn starts a dmnode dev node for sources and target started by
// the caller.
func newClusterOn(t *testing.T, sources []*harness.Server, target *harness.Server) *cluster {
	t.Helper()
	return newClusterOf(t, harness.BuildDmnode(t), sources, target)
}

// newClusterOf is newClusterOn with the dmnode binary bin.
func newClusterOf(t *testing.T, bin string, sources []*harness.Server, target *harness.Server) *cluster {
	t.Helper()
	c := &cluster{t: t, bin: bin, dir: t.TempDir(), sources: sources, target: target}
	c.natsPort = harness.FreePort(t)
	c.httpPort = harness.FreePort(t)
	c.dataDir = filepath.Join(c.dir, "dmnode-data")
	c.startNode()
	return c
}

func (c *cluster) server() string {
	if c.serverURL != "" {
		return c.serverURL
	}
	return fmt.Sprintf("nats://127.0.0.1:%d", c.natsPort)
}

// stopNode stops the node cleanly (SIGTERM) and checks that it exited.
func (c *cluster) stopNode() { c.node.Stop(c.t) }

func (c *cluster) startNode() {
	c.t.Helper()
	c.node = harness.StartProcess(c.t, c.bin, []string{"dev", "--data-dir", c.dataDir,
		"--nats-port", fmt.Sprint(c.natsPort), "--http-port", fmt.Sprint(c.httpPort)})
	harness.Eventually(c.t, 60*time.Second, func() error {
		_, err := harness.Run(c.t, c.bin, "--server", c.server(), "task", "list")
		return err
	})
}

// dmnode runs a CLI command against the node and fails the test on error.
func (c *cluster) dmnode(args ...string) string {
	c.t.Helper()
	out, err := harness.Run(c.t, c.bin, append([]string{"--server", c.server()}, args...)...)
	if err != nil {
		log := "(the nodes' logs follow the test's output)"
		if c.node != nil {
			log = c.node.Log()
		}
		c.t.Fatalf("dmnode %s: %v\n%s\nnode log:\n%s", strings.Join(args, " "), err, out, log)
	}
	return out
}

func (c *cluster) writeFile(name, content string) string {
	p := filepath.Join(c.dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		c.t.Fatal(err)
	}
	return p
}

// oneSourceTask writes a task file of mode all named name that replicates
// database db of the cluster's first source, and returns its path.
func (c *cluster) oneSourceTask(name, db string) string {
	return c.writeFile(name+".yaml", fmt.Sprintf(`name: %s
task-mode: all
target-database:
  host: 127.0.0.1
  port: %d
  user: root
  password: ""
mysql-instances:
  - source-id: %q
    block-allow-list: only
block-allow-list:
  only:
    do-dbs: [%s]
`, name, c.target.Port, sourceID(0), db))
}

func sourceID(i int) string { return fmt.Sprintf("mysql-replica-%02d", i+1) }

// addSources writes a DM source.yaml per source and adds them all.
func (c *cluster) addSources() { c.addSourcesGTID(false) }

// addSourcesGTID adds the sources, reading their binlog by GTID or by
// file and position.
func (c *cluster) addSourcesGTID(gtid bool) {
	var files []string
	for i, s := range c.sources {
		files = append(files, c.writeFile(fmt.Sprintf("source%d.yaml", i+1), fmt.Sprintf(`source-id: %q
enable-gtid: %v
flavor: mariadb
from:
  host: 127.0.0.1
  port: %d
  user: root
  password: ""
`, sourceID(i), gtid, s.Port)))
	}
	c.dmnode(append([]string{"source", "add"}, files...)...)
}

// seed creates dmtest.t1 with ids 1..rows on every source, the example's
// shape: the same ids on every instance.
func (c *cluster) seed(rows int) {
	for _, s := range c.sources {
		s.Exec(c.t, "CREATE DATABASE dmtest",
			"CREATE TABLE dmtest.t1 (id bigint unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY, c char(32), port int)",
			// seq_1_to_N is MariaDB's sequence engine; it needs a current database.
			fmt.Sprintf("INSERT INTO dmtest.t1 (id, c, port) SELECT seq, MD5(seq), %d FROM dmtest.seq_1_to_%d", s.Port, rows))
	}
}

// writers runs a load generator per source: inserts, updates of non-key
// columns (including to NULL) and deletes, until stop is called. It is paced,
// not synchronised: correctness is checked by comparing rows at the end.
type writers struct {
	stopCh chan struct{}
	wg     sync.WaitGroup
	mu     sync.Mutex
	errs   []error
	ops    int
}

func startWriters(t *testing.T, sources []*harness.Server, seed uint64) *writers {
	w := &writers{stopCh: make(chan struct{})}
	for i, s := range sources {
		db := s.DB(t)
		rng := rand.New(rand.NewPCG(seed, uint64(i)))
		w.wg.Go(func() { w.run(db, rng, s.Port) })
	}
	return w
}

func (w *writers) run(db *sql.DB, rng *rand.Rand, port int) {
	tick := time.NewTicker(3 * time.Millisecond)
	defer tick.Stop()
	for n := 0; n < 100000; n++ {
		select {
		case <-w.stopCh:
			return
		case <-tick.C:
		}
		var err error
		id := rng.IntN(300) + 1
		switch op := rng.IntN(10); {
		case op < 4:
			_, err = db.Exec("INSERT INTO dmtest.t1 (c, port) VALUES (?, ?)", fmt.Sprintf("w%d", rng.IntN(1e6)), port)
		case op < 6:
			_, err = db.Exec("UPDATE dmtest.t1 SET c = ? WHERE id = ?", fmt.Sprintf("u%d", rng.IntN(1e6)), id)
		case op < 7:
			_, err = db.Exec("UPDATE dmtest.t1 SET c = NULL, port = port + 1 WHERE id = ?", id)
		case op < 8:
			// a multi-statement transaction touching several rows
			_, err = db.Exec("BEGIN; UPDATE dmtest.t1 SET port = port - 1 WHERE id BETWEEN ? AND ?; INSERT INTO dmtest.t1 (c, port) VALUES ('tx', ?); COMMIT", id, id+5, port)
		default:
			_, err = db.Exec("DELETE FROM dmtest.t1 WHERE id = ?", id)
		}
		w.mu.Lock()
		w.ops++
		if err != nil {
			w.errs = append(w.errs, err)
		}
		w.mu.Unlock()
	}
}

// count returns the operations performed so far.
func (w *writers) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ops
}

// stop ends the writers and fails the test if any write failed.
func (w *writers) stop(t *testing.T) {
	close(w.stopCh)
	w.wg.Wait()
	if len(w.errs) > 0 {
		t.Fatalf("%d writes failed, first: %v", len(w.errs), w.errs[0])
	}
	t.Logf("writers performed %d operations", w.ops)
}

// expectEqual waits until the target holds exactly the transformed source
// rows, then compares them one final time, row by row with a checksum.
func (c *cluster) expectEqual(name string, sourceQuery func(i int) string, targetQuery string) {
	c.t.Helper()
	tdb := c.target.DB(c.t)
	want := func() [][]string {
		var rows [][]string
		for i, s := range c.sources {
			rows = append(rows, harness.Rows(c.t, s.DB(c.t), sourceQuery(i))...)
		}
		return rows
	}
	expected := want()
	err := harness.Within(90*time.Second, func() error {
		got, err := queryRows(tdb, targetQuery)
		if err != nil {
			return err
		}
		if diff := harness.SameRows(expected, got); diff != "" {
			return fmt.Errorf("target not caught up yet: %s", diff)
		}
		return nil
	})
	if err != nil {
		if c.diagnose != nil {
			c.t.Logf("state when the target fell behind:\n%s", c.diagnose())
		}
		c.t.Fatalf("%s: not within 90s: %v", name, err)
	}
	sum := harness.CompareRows(c.t, name, expected, harness.Rows(c.t, tdb, targetQuery))
	c.t.Logf("%s: %d rows identical, checksum %s", name, len(expected), sum)
}

func queryRows(db *sql.DB, q string) (rows [][]string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	return harness.QueryRows(db, q)
}

func harnessRows(t *testing.T, s *harness.Server, q string) [][]string {
	return harness.Rows(t, s.DB(t), q)
}

func readFile(t *testing.T, path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

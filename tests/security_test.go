package tests

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dmnode/dmnode/core/secret"
	"github.com/dmnode/dmnode/tests/harness"
)

// randomPassword returns a password no file could hold by chance.
func randomPassword(t *testing.T, prefix string) string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return prefix + hex.EncodeToString(b)
}

// Source and target passwords never rest in plaintext: a task runs with
// real passwords (the target's given as `dmnode encrypt` wrote it, as DM
// users do), then the node's data dir (Raft WAL and snapshots, NATS store,
// the cluster key aside), its log and the output of every read command
// hold neither the passwords nor the DM ciphertext. A task whose password
// is sealed with another cluster's key is refused clearly and not stored.
func TestSecurityPasswordsAtRest(t *testing.T) {
	c := newCluster(t, 2)
	srcPW, tgtPW := randomPassword(t, "srcPW"), randomPassword(t, "tgtPW")
	for _, s := range c.sources {
		s.Exec(t, fmt.Sprintf("CREATE USER 'dmsrc'@'%%' IDENTIFIED BY '%s'", srcPW),
			"GRANT ALL PRIVILEGES ON *.* TO 'dmsrc'@'%'")
	}
	c.target.Exec(t, fmt.Sprintf("CREATE USER 'dmtgt'@'%%' IDENTIFIED BY '%s'", tgtPW),
		"GRANT ALL PRIVILEGES ON *.* TO 'dmtgt'@'%'")
	c.seed(300)

	var files []string
	for i, s := range c.sources {
		files = append(files, c.writeFile(fmt.Sprintf("source%d.yaml", i+1), fmt.Sprintf(`source-id: %q
flavor: mariadb
from:
  host: 127.0.0.1
  port: %d
  user: dmsrc
  password: %q # plaintext, as many source files have it
`, sourceID(i), s.Port, srcPW)))
	}
	c.dmnode(append([]string{"source", "add"}, files...)...)

	dmCipher := strings.TrimSpace(c.dmnode("encrypt", tgtPW))
	if lines := strings.Split(dmCipher, "\n"); len(lines) > 1 {
		dmCipher = strings.TrimSpace(lines[0]) // the second line says which key
	}
	if _, err := secret.Decrypt(secret.DefaultKey, dmCipher); err != nil {
		t.Fatalf("dmnode encrypt wrote %q: %v", dmCipher, err)
	}
	task := func(name, password string) string {
		var b strings.Builder
		fmt.Fprintf(&b, "name: %s\ntask-mode: all\ntarget-database:\n  host: 127.0.0.1\n  port: %d\n  user: dmtgt\n  password: %q\nmysql-instances:\n",
			name, c.target.Port, password)
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
		return c.writeFile(name+".yaml", b.String())
	}

	// Sealed with a key this cluster does not hold: refused, nothing stored.
	other, err := secret.NewRing(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	foreign, _ := other.Seal(tgtPW)
	out, code := c.runCLI("task", "submit", task("foreign", foreign))
	if code == 0 || !strings.Contains(out, "target-database.password") || !strings.Contains(out, "cluster key") {
		t.Fatalf("task sealed with another key: exit %d:\n%s", code, out)
	}
	if strings.Contains(out, foreign) || strings.Contains(out, tgtPW) {
		t.Fatalf("the refusal quotes the password:\n%s", out)
	}
	if list := c.dmnode("task", "list"); strings.Contains(list, "foreign") {
		t.Fatalf("a refused task was stored:\n%s", list)
	}

	c.target.Exec(t, "CREATE DATABASE dmtest",
		"CREATE TABLE dmtest.t1 (id bigint unsigned NOT NULL AUTO_INCREMENT, c char(32), port int, c_source varchar(32) NOT NULL, PRIMARY KEY (id, c_source))")
	c.dmnode("task", "submit", task("sec", dmCipher))
	c.dmnode("task", "wait", "sec", "--stage", "sync", "--timeout", "2m")
	w := startWriters(t, c.sources, 7)
	waitForOps(t, w, 200)
	w.stop(t)
	c.expectEqual("dmtest.t1", func(i int) string {
		return fmt.Sprintf("SELECT id, c, port, '%s' FROM dmtest.t1", sourceID(i))
	}, "SELECT id, c, port, c_source FROM dmtest.t1")

	sc := secretChecker{t: t, secrets: map[string]string{"source password": srcPW, "target password": tgtPW, "target DM ciphertext": dmCipher}}
	check := sc.check
	// Every read command, in each output format.
	for _, args := range [][]string{
		{"source", "list"}, {"source", "list", "-o", "json"},
		{"task", "list"},
		{"task", "status"}, {"task", "status", "sec"}, {"task", "status", "sec", "-o", "json"},
		{"cluster", "status"},
		{"task", "verify", "sec", "-o", "json"},
		{"task", "ddl-locks", "sec"},
	} {
		out, _ := c.runCLI(args...)
		check("dmnode "+strings.Join(args, " "), out)
	}
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", c.httpPort))
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	check("/metrics", string(metrics))

	// Stop the node cleanly so that everything it keeps is on disk, with
	// a Raft snapshot among it when it takes one at exit.
	c.stopNode()
	check("the node's log", c.node.Log())
	keys := filepath.Join(c.dataDir, "secrets", "cluster.keys")
	st, err := os.Stat(keys)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("cluster keys %s: %v %v", keys, st, err)
	}
	nfiles, sealed := sc.dir(c.dataDir)
	if !sealed {
		t.Fatalf("no file of the data dir holds a sealed password: the catalog is not where the test looks")
	}
	t.Logf("searched %d files of the data dir, the log and every read command: no password", nfiles)

	// The node opens its sealed passwords again after a restart and goes
	// on replicating.
	c.startNode()
	w = startWriters(t, c.sources, 8)
	waitForOps(t, w, 100)
	w.stop(t)
	c.expectEqual("dmtest.t1 after restart", func(i int) string {
		return fmt.Sprintf("SELECT id, c, port, '%s' FROM dmtest.t1", sourceID(i))
	}, "SELECT id, c, port, c_source FROM dmtest.t1")
	check("the node's log after restart", c.node.Log())
}

// secretChecker fails the test when a text holds one of the secrets.
type secretChecker struct {
	t       *testing.T
	secrets map[string]string // what → secret
}

func (s secretChecker) check(what, text string) {
	s.t.Helper()
	for name, v := range s.secrets {
		if strings.Contains(text, v) {
			s.t.Errorf("%s holds the %s", what, name)
		}
	}
}

// dir checks every file under root and reports whether one holds a sealed
// password (proof that the catalog is among the files searched).
func (s secretChecker) dir(root string) (files int, sealed bool) {
	s.t.Helper()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		s.check(path, string(data))
		sealed = sealed || strings.Contains(string(data), secret.SealedPrefix)
		return nil
	})
	if err != nil {
		s.t.Fatal(err)
	}
	return files, sealed
}

// A three-node cluster: the founder generates the cluster key and every
// joining node receives the same key with its membership, so a task
// submitted through one node runs on any other, and still does after the
// node running the source's tailer is killed. No data dir or log of any
// node holds a password.
func TestSecurityClusterKeysOnJoin(t *testing.T) {
	m := newMulti(t, 1, 3)
	srcPW, tgtPW := randomPassword(t, "srcPW"), randomPassword(t, "tgtPW")
	m.sources[0].Exec(t, fmt.Sprintf("CREATE USER 'dmsrc'@'%%' IDENTIFIED BY '%s'", srcPW),
		"GRANT ALL PRIVILEGES ON *.* TO 'dmsrc'@'%'")
	m.target.Exec(t, fmt.Sprintf("CREATE USER 'dmtgt'@'%%' IDENTIFIED BY '%s'", tgtPW),
		"GRANT ALL PRIVILEGES ON *.* TO 'dmtgt'@'%'",
		"CREATE DATABASE dmtest",
		"CREATE TABLE dmtest.t1 (id bigint unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY, c char(32), port int)")
	m.seed(300)

	var keys []string
	for _, n := range m.nodes {
		keys = append(keys, readFile(t, filepath.Join(n.dataDir, "secrets", "cluster.keys")))
	}
	if keys[0] != keys[1] || keys[0] != keys[2] {
		t.Fatalf("the members hold different cluster keys:\n%s", strings.Join(keys, "\n--\n"))
	}

	// The source through the first node, the task through the third.
	m.cluster.natsPort = m.nodes[0].natsPort
	m.dmnode("source", "add", m.writeFile("source.yaml", fmt.Sprintf(
		"source-id: %q\nflavor: mariadb\nfrom:\n  host: 127.0.0.1\n  port: %d\n  user: dmsrc\n  password: %q\n",
		sourceID(0), m.sources[0].Port, srcPW)))
	m.cluster.natsPort = m.nodes[2].natsPort
	m.dmnode("task", "submit", m.writeFile("task.yaml", fmt.Sprintf(`name: keys
task-mode: all
target-database: {host: 127.0.0.1, port: %d, user: dmtgt, password: %q}
mysql-instances:
  - source-id: %q
    block-allow-list: only
block-allow-list:
  only:
    do-dbs: [dmtest]
`, m.target.Port, tgtPW, sourceID(0))))
	m.waitSync("keys")

	procs := map[string]*harness.Process{}
	for _, n := range m.nodes {
		procs[n.name] = n.proc
	}
	tailer := m.nodeRunning("tail/" + sourceID(0))
	m.kill(tailer)
	t.Logf("killed %s running the tailer; actors placed again in %s", tailer.name, m.placedOnLive(2, tailer))
	m.cluster.natsPort = m.alive()[0].natsPort
	w := startWriters(t, m.sources, 21)
	waitForOps(t, w, 200)
	w.stop(t)
	m.expectEqual("dmtest.t1", func(int) string { return "SELECT id, c, port FROM dmtest.t1" },
		"SELECT id, c, port FROM dmtest.t1")

	sc := secretChecker{t: t, secrets: map[string]string{"source password": srcPW, "target password": tgtPW}}
	for _, args := range [][]string{{"source", "list", "-o", "json"}, {"task", "status", "keys", "-o", "json"}, {"cluster", "status", "-o", "json"}} {
		sc.check("dmnode "+strings.Join(args, " "), m.cli(args...))
	}
	for _, n := range m.alive() {
		n.proc.Stop(t)
	}
	for _, n := range m.nodes {
		sc.check(n.name+"'s log", procs[n.name].Log())
		files, sealed := sc.dir(n.dataDir)
		if !sealed {
			t.Errorf("%s: none of %d files holds a sealed password: the catalog is not where the test looks", n.name, files)
		}
	}
}

package tests

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dmnode/dmnode/node"
	"github.com/dmnode/dmnode/tests/harness"
)

// Shard DDL end to end: three sources with two tables each (shard.t1,
// shard.t2), six shards merged into shard.t with the source and table
// extracted into the key. Writers keep writing every shard in its current
// shape while DDLs roll across the shards; every scenario ends with the
// row-by-row comparison.

const shardCount = 6

type shardEnv struct {
	*cluster
	task string
	// per shard: its lock and whether it has column d
	mu   [shardCount]sync.Mutex
	hasD [shardCount]bool
}

func shardSource(k int) int   { return k / 2 }
func shardTable(k int) string { return fmt.Sprintf("t%d", k%2+1) }
func shardName(k int) string {
	return fmt.Sprintf("%s:shard.%s", sourceID(shardSource(k)), shardTable(k))
}

func newShardEnv(t *testing.T, mode string) *shardEnv {
	c := newCluster(t, 3)
	for _, s := range c.sources {
		stmts := []string{"CREATE DATABASE shard"}
		for _, tb := range []string{"t1", "t2"} {
			stmts = append(stmts,
				"CREATE TABLE shard."+tb+" (id int NOT NULL AUTO_INCREMENT PRIMARY KEY, c varchar(40) NOT NULL, n int)",
				"INSERT INTO shard."+tb+" (c, n) SELECT MD5(seq), seq FROM shard.seq_1_to_100",
				// The same (c, n) in every shard, out of the writers' reach
				// (they change ids 1..150): a UNIQUE key over c, n is always
				// rejected by the merged target table.
				"INSERT INTO shard."+tb+" (id, c, n) VALUES (100000, 'in-every-shard', 0)")
		}
		s.Exec(t, stmts...)
	}
	c.addSources()
	e := &shardEnv{cluster: c, task: "shard-" + mode}
	var b strings.Builder
	fmt.Fprintf(&b, `name: %s
task-mode: all
shard-mode: %s
target-database:
  host: "127.0.0.1"
  port: %d
  user: "root"
  password: ""
mysql-instances:
`, e.task, mode, c.target.Port)
	for i := range c.sources {
		fmt.Fprintf(&b, "  - source-id: %q\n    block-allow-list: \"shard\"\n    route-rules: [\"merge\"]\n", sourceID(i))
	}
	b.WriteString(`block-allow-list:
  shard:
    do-dbs: ["shard"]
routes:
  merge:
    schema-pattern: shard
    table-pattern: t*
    target-schema: shard
    target-table: t
    extract-source:
      source-regexp: "mysql-replica-(.*)"
      target-column: c_source
    extract-table:
      table-regexp: "t(.*)"
      target-column: c_table
`)
	c.dmnode("task", "submit", c.writeFile(e.task+".yaml", b.String()))
	c.dmnode("task", "wait", e.task, "--stage", "sync", "--timeout", "3m")
	c.diagnose = func() string {
		out, _ := harness.Run(t, c.bin, "--server", c.server(), "task", "status", e.task)
		locks, _ := harness.Run(t, c.bin, "--server", c.server(), "task", "ddl-locks", e.task)
		return out + "\n" + locks + "\nnode log:\n" + tail(c.node.Log(), 60)
	}
	// No DDL is coordinated before every source has registered its tables.
	e.eventually("every source registered", func(l node.ShardLocks) error {
		if len(l.Registered) != 3 {
			return fmt.Errorf("registered: %v", l.Registered)
		}
		return nil
	})
	return e
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// ddl runs a statement (with %s for the table) on shard k, between the
// writer's operations on it.
func (e *shardEnv) ddl(k int, stmt string) {
	e.t.Helper()
	e.mu[k].Lock()
	defer e.mu[k].Unlock()
	e.sources[shardSource(k)].Exec(e.t, fmt.Sprintf("ALTER TABLE shard.%s %s", shardTable(k), stmt))
	switch {
	case strings.Contains(stmt, "ADD COLUMN d "):
		e.hasD[k] = true
	case strings.Contains(stmt, "DROP COLUMN d"):
		e.hasD[k] = false
	}
}

func (e *shardEnv) locks() node.ShardLocks {
	e.t.Helper()
	out := e.dmnode("task", "ddl-locks", e.task, "-o", "json")
	var l node.ShardLocks
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		e.t.Fatalf("decode ddl-locks: %v\n%s", err, out)
	}
	return l
}

func (e *shardEnv) eventually(what string, check func(node.ShardLocks) error) {
	e.t.Helper()
	err := harness.Within(60*time.Second, func() error {
		out, err := harness.Run(e.t, e.bin, "--server", e.server(), "task", "ddl-locks", e.task, "-o", "json")
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		var l node.ShardLocks
		if err := json.Unmarshal([]byte(out), &l); err != nil {
			return err
		}
		return check(l)
	})
	if err != nil {
		e.t.Fatalf("%s: %v\n%s", what, err, e.diagnose())
	}
}

// arrived waits until the lock of shard.t holds a DDL with n shards arrived.
func (e *shardEnv) arrived(n int) {
	e.t.Helper()
	e.eventually(fmt.Sprintf("%d shards arrived", n), func(l node.ShardLocks) error {
		if len(l.Locks) != 1 || len(l.Locks[0].Arrived) != n || len(l.Locks[0].Missing) != shardCount-n {
			return fmt.Errorf("locks: %+v", l.Locks)
		}
		return nil
	})
}

func (e *shardEnv) noLocks() {
	e.t.Helper()
	e.eventually("no lock held", func(l node.ShardLocks) error {
		if len(l.Locks) != 0 {
			return fmt.Errorf("locks: %+v", l.Locks)
		}
		return nil
	})
}

// status runs task status, which exits non-zero while a source is paused.
func (e *shardEnv) status() string {
	out, _ := harness.Run(e.t, e.bin, "--server", e.server(), "task", "status", e.task)
	return out
}

func (e *shardEnv) waitStatus(want string) string {
	e.t.Helper()
	var out string
	err := harness.Within(60*time.Second, func() error {
		out = e.status()
		if !strings.Contains(out, want) {
			return fmt.Errorf("status lacks %q", want)
		}
		return nil
	})
	if err != nil {
		e.t.Fatalf("%v:\n%s\n%s", err, out, e.diagnose())
	}
	return out
}

// check compares every shard with the target, columns given as SQL.
func (e *shardEnv) check(name, cols string) {
	e.t.Helper()
	e.expectEqual(name, func(i int) string {
		return fmt.Sprintf("SELECT %[1]s, '%02[2]d', '1' FROM shard.t1 UNION ALL SELECT %[1]s, '%02[2]d', '2' FROM shard.t2", cols, i+1)
	}, "SELECT "+cols+", c_source, c_table FROM shard.t")
}

func (e *shardEnv) targetHasIndex(name string, want bool) {
	e.t.Helper()
	err := harness.Within(30*time.Second, func() error {
		rows, err := queryRows(e.target.DB(e.t), "SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = 'shard' AND TABLE_NAME = 't' AND INDEX_NAME = '"+name+"'")
		if err != nil {
			return err
		}
		if got := rows[0][0] != "0"; got != want {
			return fmt.Errorf("index %s on the target: %v, want %v", name, got, want)
		}
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *shardEnv) targetColumn(col string) bool {
	rows := harness.Rows(e.t, e.target.DB(e.t), "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'shard' AND TABLE_NAME = 't' AND COLUMN_NAME = '"+col+"'")
	return rows[0][0] != "0"
}

// shardWriters writes every shard in its current shape until stopped.
type shardWriters struct {
	stopCh chan struct{}
	wg     sync.WaitGroup
	mu     sync.Mutex
	errs   []error
	ops    int
}

func (e *shardEnv) startWriters(seed uint64) *shardWriters {
	w := &shardWriters{stopCh: make(chan struct{})}
	for k := range shardCount {
		db := e.sources[shardSource(k)].DB(e.t)
		rng := rand.New(rand.NewPCG(seed, uint64(k)))
		w.wg.Go(func() { w.run(e, k, db, rng, seed) })
	}
	return w
}

func (w *shardWriters) run(e *shardEnv, k int, db *sql.DB, rng *rand.Rand, seed uint64) {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	tbl := "shard." + shardTable(k)
	for n := 0; ; n++ {
		select {
		case <-w.stopCh:
			return
		case <-tick.C:
		}
		e.mu[k].Lock()
		id := rng.IntN(150) + 1
		var err error
		switch op := rng.IntN(20); {
		case op < 9 && e.hasD[k]:
			_, err = db.Exec("INSERT INTO "+tbl+" (c, n, d) VALUES (?, ?, ?)", fmt.Sprintf("w%d-%d-%d", seed, k, n), rng.IntN(30000), rng.IntN(1000))
		case op < 9:
			_, err = db.Exec("INSERT INTO "+tbl+" (c, n) VALUES (?, ?)", fmt.Sprintf("w%d-%d-%d", seed, k, n), rng.IntN(30000))
		case op < 14:
			_, err = db.Exec("UPDATE "+tbl+" SET n = ? WHERE id = ?", rng.IntN(30000), id)
		case op < 17 && e.hasD[k]:
			_, err = db.Exec("UPDATE "+tbl+" SET d = ? WHERE id = ?", rng.IntN(1000), id)
		default:
			_, err = db.Exec("DELETE FROM "+tbl+" WHERE id = ?", id)
		}
		e.mu[k].Unlock()
		w.mu.Lock()
		w.ops++
		if err != nil {
			w.errs = append(w.errs, err)
		}
		w.mu.Unlock()
	}
}

func (w *shardWriters) wait(t *testing.T, n int) {
	t.Helper()
	err := harness.Within(time.Minute, func() error {
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.ops < n {
			return fmt.Errorf("writers performed %d of %d operations", w.ops, n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (w *shardWriters) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ops
}

func (w *shardWriters) stop(t *testing.T) {
	t.Helper()
	close(w.stopCh)
	w.wg.Wait()
	if len(w.errs) > 0 {
		t.Fatalf("%d writes failed, first: %v", len(w.errs), w.errs[0])
	}
}

// rolling runs a DDL on every shard in turn while the writers go on;
// after each shard, onShard (if set) checks the coordination.
func (e *shardEnv) rolling(w *shardWriters, stmt string, onShard func(k int)) {
	e.t.Helper()
	for k := range shardCount {
		e.ddl(k, stmt)
		w.wait(e.t, w.count()+60)
		if onShard != nil {
			onShard(k)
		}
	}
}

func TestShardDDLPessimistic(t *testing.T) {
	e := newShardEnv(t, "pessimistic")

	// Rolling ADD COLUMN; the node is killed while the lock is half
	// arrived, and the lock survives the restart.
	w := e.startWriters(1)
	e.rolling(w, "ADD COLUMN d int", func(k int) {
		if k == 2 {
			e.arrived(3)
			if e.targetColumn("d") {
				t.Fatal("pessimistic: column d reached the target before every shard added it")
			}
			e.node.Kill(t)
			w.wait(t, w.count()+100)
			e.startNode()
			e.arrived(3)
		}
	})
	e.noLocks()
	w.stop(t)
	e.check("add column", "id, c, n, d")

	// ADD INDEX, then DROP COLUMN, rolled the same way.
	w = e.startWriters(2)
	e.rolling(w, "ADD INDEX idx_n (n)", nil)
	e.rolling(w, "DROP COLUMN d", nil)
	e.noLocks()
	w.stop(t)
	e.targetHasIndex("idx_n", true)
	e.check("add index, drop column", "id, c, n")
	if e.targetColumn("d") {
		t.Fatal("column d is still on the target")
	}

	// A conflict: one shard adds e INT, the others e BIGINT. The lock
	// reports it and holds; the operator runs the first DDL for all.
	w = e.startWriters(3)
	e.ddl(0, "ADD COLUMN e int")
	e.arrived(1)
	for k := 1; k < shardCount; k++ {
		e.ddl(k, "ADD COLUMN e bigint")
	}
	e.eventually("conflict reported", func(l node.ShardLocks) error {
		if len(l.Locks) != 1 || l.Locks[0].State != "conflict" || len(l.Locks[0].Conflicts) != 5 {
			return fmt.Errorf("locks: %+v", l.Locks)
		}
		return nil
	})
	out := e.waitStatus("way out: dmnode task ddl-locks")
	t.Logf("status with a conflict:\n%s", out)
	out = e.dmnode("task", "ddl-lock", "unlock", e.task, "shard.t", "--action", "exec")
	t.Logf("unlock: %s", out)
	e.noLocks()
	w.stop(t)
	e.check("conflict resolved", "id, c, n, e")

	e.rejected()
}

// rejected: a unique key the merged target cannot take (the shards hold
// the same values) pauses the task; it is replaced with a plain key.
// Then a second one is skipped.
func (e *shardEnv) rejected() {
	t := e.t
	w := e.startWriters(4)
	e.rolling(w, "ADD UNIQUE KEY uk_c (c)", nil)
	out := e.waitStatus("task replace " + e.task)
	t.Logf("status with a rejected DDL:\n%s", out)
	if !strings.Contains(out, "Duplicate entry") {
		t.Fatalf("status does not give the target's error:\n%s", out)
	}
	e.dmnode("task", "replace", e.task, "--sql", "ALTER TABLE shard.t ADD KEY uk_c (c)")
	e.noLocks()
	e.targetHasIndex("uk_c", true)

	e.rolling(w, "ADD UNIQUE KEY uk_cn (c, n)", nil)
	e.waitStatus("task skip " + e.task)
	e.dmnode("task", "skip", e.task)
	e.noLocks()
	w.stop(t)
	e.check("rejected DDLs replaced and skipped", "id, c, n")
	e.targetHasIndex("uk_cn", false)
	if out := e.status(); strings.Contains(out, "paused") {
		t.Fatalf("task still paused:\n%s", out)
	}
}

func TestShardDDLOptimistic(t *testing.T) {
	e := newShardEnv(t, "optimistic")

	// ADD COLUMN reaches the target with the first shard; DML never waits.
	w := e.startWriters(1)
	e.rolling(w, "ADD COLUMN d int", func(k int) {
		if k == 0 && !e.targetColumn("d") {
			harness.Eventually(t, 30*time.Second, func() error {
				if !e.targetColumn("d") {
					return fmt.Errorf("column d not on the target after the first shard added it")
				}
				return nil
			})
		}
	})
	w.stop(t)
	e.check("add column", "id, c, n, d")

	// ADD INDEX runs when the last shard has it, DROP COLUMN when the last
	// shard dropped it.
	w = e.startWriters(2)
	e.rolling(w, "ADD INDEX idx_n (n)", nil)
	e.targetHasIndex("idx_n", true)
	e.rolling(w, "DROP COLUMN d", func(k int) {
		if k == shardCount-2 {
			e.eventually("drop pending", func(l node.ShardLocks) error {
				if len(l.Locks) == 0 || l.Locks[0].State != "pending" {
					return fmt.Errorf("locks: %+v", l.Locks)
				}
				return nil
			})
			if !e.targetColumn("d") {
				t.Fatal("column d left the target before the last shard dropped it")
			}
		}
	})
	e.noLocks()
	w.stop(t)
	e.check("add index, drop column", "id, c, n")

	// A conflict: one shard narrows n. It is held, reported, and released
	// by hand; the target keeps the wider type.
	w = e.startWriters(3)
	e.ddl(0, "MODIFY n smallint")
	e.eventually("conflict reported", func(l node.ShardLocks) error {
		for _, lk := range l.Locks {
			if len(lk.Conflicts) > 0 {
				return nil
			}
		}
		return fmt.Errorf("locks: %+v", l.Locks)
	})
	w.wait(t, w.count()+200) // the held shard's rows wait, the others flow
	out := e.waitStatus("way out: dmnode task ddl-locks")
	t.Logf("status with a conflict:\n%s", out)
	e.dmnode("task", "ddl-lock", "unlock", e.task, "shard.t", "--action", "exec", "--member", shardName(0))
	e.noLocks()
	w.stop(t)
	e.check("conflict resolved", "id, c, n")

	// A column the target cannot take: the extracted key columns push its
	// rows past MariaDB's row size limit. Added by hand and skipped, then
	// widened and replaced.
	w = e.startWriters(4)
	e.rolling(w, "ADD COLUMN big varchar(16000) CHARACTER SET utf8mb4", nil)
	out = e.waitStatus("task skip " + e.task)
	t.Logf("status with a rejected DDL:\n%s", out)
	if !strings.Contains(out, "Row size too large") {
		t.Fatalf("status does not give the target's error:\n%s", out)
	}
	e.target.Exec(t, "ALTER TABLE shard.t ADD COLUMN big TEXT")
	e.dmnode("task", "skip", e.task)
	e.noLocks()
	w.stop(t)
	e.check("rejected DDL skipped", "id, c, n, big")
	w = e.startWriters(5)
	e.rolling(w, "MODIFY big varchar(16001) CHARACTER SET utf8mb4", nil)
	e.waitStatus("task replace " + e.task)
	e.dmnode("task", "replace", e.task, "--sql", "ALTER TABLE shard.t MODIFY big MEDIUMTEXT")
	e.noLocks()
	w.stop(t)
	e.check("rejected DDL replaced", "id, c, n, big")
	if out := e.status(); strings.Contains(out, "paused") {
		t.Fatalf("task still paused:\n%s", out)
	}
}

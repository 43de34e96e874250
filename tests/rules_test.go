package tests

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/dmnode/dmnode/tests/harness"
)

// A rich rule set on two sources, while the applications write:
// block/allow lists with regexes and wildcards, a merge route with an
// extracted schema column, a schema route, an event filter that drops
// deletes of one table and one that drops truncates everywhere, an
// expression filter, and an online schema change with
// pt-online-schema-change on a replicated table.
func TestRulesAndOnlineDDL(t *testing.T) {
	ptosc, err := exec.LookPath("pt-online-schema-change")
	if err != nil {
		t.Fatal("pt-online-schema-change is not installed (Debian package percona-toolkit); .ci/run installs it")
	}
	c := newCluster(t, 2)
	shops := []string{"shop_a", "shop_b"}
	for i, s := range c.sources {
		db := shops[i]
		s.Exec(t, "CREATE DATABASE "+db, "CREATE DATABASE ignored_db",
			"CREATE TABLE ignored_db.x (id int primary key)",
			"INSERT INTO ignored_db.x VALUES (1)",
			"CREATE TABLE "+db+".orders (id int NOT NULL AUTO_INCREMENT PRIMARY KEY, user_id int, amount decimal(10,2), note varchar(50))",
			"CREATE TABLE "+db+".logs_deleted_orders (id int PRIMARY KEY, user_id int, amount decimal(10,2), note varchar(50))",
			"CREATE TABLE "+db+".logs (id int NOT NULL AUTO_INCREMENT PRIMARY KEY, msg varchar(50))",
			"CREATE TABLE "+db+".users (id int PRIMARY KEY, name varchar(30), age int)",
			fmt.Sprintf("CREATE TABLE %s.events (id int NOT NULL AUTO_INCREMENT PRIMARY KEY, kind varchar(10)) AUTO_INCREMENT=%d", db, 1+i*1000000),
			fmt.Sprintf("INSERT INTO %s.orders (user_id, amount, note) SELECT seq, seq * 1.25, 'seed' FROM %s.seq_1_to_200", db, db),
			fmt.Sprintf("INSERT INTO %s.users SELECT seq + %d, CONCAT('u', seq), 18 + seq %% 40 FROM %s.seq_1_to_100", db, i*1000, db),
			fmt.Sprintf("INSERT INTO %s.events (kind) SELECT 'seed' FROM %s.seq_1_to_50", db, db),
			fmt.Sprintf("INSERT INTO %s.logs (msg) SELECT 'log' FROM %s.seq_1_to_10", db, db))
	}
	c.target.Exec(t, "CREATE DATABASE merged",
		"CREATE TABLE merged.orders (id int NOT NULL, user_id int, amount decimal(10,2), note varchar(50), shop varchar(10) NOT NULL, PRIMARY KEY (id, shop))")
	c.addSources()
	var inst strings.Builder
	task := c.writeFile("rules.yaml", c.taskYAML("rules", func(i int) string {
		return `    block-allow-list: "shops"
    route-rules: ["orders", "shops"]
    filter-rules: ["keep-deleted-orders", "no-truncate"]
    expression-filters: ["adults-only-a"]
`
	}, inst.String()+`# shop_?.events merge into shops.events kept apart by their AUTO_INCREMENT
# offsets, which the precheck cannot see.
ignore-checking-items: ["auto_increment_ID"]
block-allow-list:
  shops:
    do-dbs: ["~^shop_[a-z]$"]
    ignore-tables:
      - db-name: "shop_*"
        tbl-name: "logs*"
routes:
  orders:
    schema-pattern: "shop_*"
    table-pattern: "orders"
    target-schema: "merged"
    target-table: "orders"
    extract-schema:
      schema-regexp: "shop_(.*)"
      target-column: "shop"
  shops:
    schema-pattern: "shop_?"
    target-schema: "shops"
filters:
  keep-deleted-orders:
    schema-pattern: "shop_*"
    table-pattern: "orders"
    events: ["delete"]
    action: Ignore
  no-truncate:
    schema-pattern: "*"
    events: ["truncate table"]
    action: Ignore
expression-filter:
  adults-only-a:
    schema: "shop_a"
    table: "users"
    insert-value-expr: "age < 18"
`))
	// is-sharding is for merges with DDL coordination; this task has none.
	taskText := strings.Replace(readFile(t, task), "is-sharding: true\n", "", 1)
	task = c.writeFile("rules.yaml", taskText)
	c.dmnode("task", "check", task)
	c.dmnode("task", "submit", task)
	c.dmnode("task", "wait", "rules", "--stage", "sync", "--timeout", "3m")

	w := startShopWriters(t, c.sources, shops)
	waitForOps(t, w.writers, 300)
	// A truncate on source b is filtered: the target keeps the rows.
	truncated := truncateKeeping(t, c.sources[1].DB(t), "shop_b.events")
	waitForOps(t, w.writers, w.count()+200)
	// An online schema change on source a while the writes go on.
	out, err := exec.Command(ptosc, "--alter", "ADD COLUMN nick VARCHAR(20) NOT NULL DEFAULT 'n'",
		fmt.Sprintf("h=127.0.0.1,P=%d,u=root,D=shop_a,t=users", c.sources[0].Port),
		"--execute", "--recursion-method=none", "--no-check-replication-filters", "--chunk-size=50").CombinedOutput()
	if err != nil {
		t.Fatalf("pt-online-schema-change: %v\n%s", err, out)
	}
	waitForOps(t, w.writers, w.count()+300)
	w.stop(t)

	c.expectEqual("merged.orders", func(i int) string {
		s := shops[i]
		return fmt.Sprintf("SELECT id, user_id, amount, note, '%s' FROM %s.orders UNION ALL SELECT id, user_id, amount, note, '%s' FROM %s.logs_deleted_orders",
			s[5:], s, s[5:], s)
	}, "SELECT id, user_id, amount, note, shop FROM merged.orders")
	c.expectEqual("shops.users", func(i int) string {
		if i == 0 {
			return "SELECT id, name, age, nick FROM shop_a.users WHERE age >= 18"
		}
		return "SELECT id, name, age, 'n' FROM shop_b.users"
	}, "SELECT id, name, age, nick FROM shops.users")
	c.expectEqual("shops.events", func(i int) string {
		return fmt.Sprintf("SELECT id, kind FROM %s.events", shops[i])
	}, "SELECT id, kind FROM shops.events WHERE id NOT IN ("+idList(truncated)+")")
	harness.CompareRows(t, "truncated shop_b.events rows kept", truncated,
		harness.Rows(t, c.target.DB(t), "SELECT id, kind FROM shops.events WHERE id IN ("+idList(truncated)+")"))
	for _, q := range []string{
		"SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'ignored_db'",
		"SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_NAME LIKE 'logs%' OR TABLE_NAME LIKE '\\_users%'",
	} {
		if got := harness.Rows(t, c.target.DB(t), q); got[0][0] != "0" {
			t.Errorf("%s: %s, want 0: a filtered object reached the target", q, got[0][0])
		}
	}
}

// truncateKeeping truncates a table and returns the rows it held, under a
// write lock so that no concurrent insert slips in between.
func truncateKeeping(t *testing.T, db *sql.DB, table string) [][]string {
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "LOCK TABLES "+table+" WRITE"); err != nil {
		t.Fatal(err)
	}
	rows, err := conn.QueryContext(ctx, "SELECT id, kind FROM "+table)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]string
	for rows.Next() {
		var id, kind string
		if err := rows.Scan(&id, &kind); err != nil {
			t.Fatal(err)
		}
		out = append(out, []string{id, kind})
	}
	rows.Close()
	for _, q := range []string{"TRUNCATE TABLE " + table, "UNLOCK TABLES"} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return out
}

func idList(rows [][]string) string {
	ids := make([]string, 0, len(rows))
	for _, r := range rows {
		ids = append(ids, r[0])
	}
	if len(ids) == 0 {
		return "NULL"
	}
	return strings.Join(ids, ",")
}

// shopWriters write orders, users and events on every source. A deleted
// order is first copied into logs_deleted_orders (a table the task ignores)
// so the test knows which rows the delete filter must keep on the target.
type shopWriters struct {
	*writers
}

func startShopWriters(t *testing.T, sources []*harness.Server, shops []string) *shopWriters {
	w := &shopWriters{&writers{stopCh: make(chan struct{})}}
	for i, s := range sources {
		db := s.DB(t)
		rng := rand.New(rand.NewPCG(7, uint64(i)))
		next := &shopIDs{seeded: i * 1000, first: 100000 + i*1000000, event: 500000 + i*1000000}
		next.user = next.first
		w.wg.Go(func() { w.run(db, rng, shops[i], next) })
	}
	return w
}

var shopOps = sync.OnceValue(func() []string {
	return []string{"order", "order", "note", "delete", "user", "user", "rename", "event"}
})

// shopIDs are the next ids a writer inserts, in ranges of its own, far from
// every shop's seeded users, so that merged tables do not clash however
// long the writer runs (a TRUNCATE resets AUTO_INCREMENT).
type shopIDs struct {
	seeded      int // the shop's seeded users are seeded+1 … seeded+100
	first, user int // the writer's users are first+1 … user
	event       int
}

// someUser returns an existing user id: seeded or written.
func (ids *shopIDs) someUser(rng *rand.Rand) int {
	if ids.user > ids.first && rng.IntN(2) == 0 {
		return ids.first + 1 + rng.IntN(ids.user-ids.first)
	}
	return ids.seeded + 1 + rng.IntN(100)
}

func (w *shopWriters) run(db *sql.DB, rng *rand.Rand, shop string, next *shopIDs) {
	for n := 0; n < 20000; n++ {
		select {
		case <-w.stopCh:
			return
		default:
		}
		var err error
		switch shopOps()[rng.IntN(len(shopOps()))] {
		case "order":
			_, err = db.Exec("INSERT INTO "+shop+".orders (user_id, amount, note) VALUES (?, ?, 'new')", rng.IntN(100), float64(rng.IntN(10000))/100)
		case "note":
			_, err = db.Exec("UPDATE "+shop+".orders SET note = ?, amount = amount + 1 WHERE id = ?", fmt.Sprintf("n%d", rng.IntN(1000)), rng.IntN(300)+1)
		case "delete":
			id := rng.IntN(300) + 1
			_, err = db.Exec("BEGIN; INSERT INTO "+shop+".logs_deleted_orders SELECT * FROM "+shop+".orders WHERE id = ?; DELETE FROM "+shop+".orders WHERE id = ?; COMMIT", id, id)
		case "user":
			next.user++
			_, err = db.Exec("INSERT INTO "+shop+".users (id, name, age) VALUES (?, ?, ?)", next.user, fmt.Sprintf("w%d", next.user), 10+rng.IntN(50))
		case "rename":
			_, err = db.Exec("UPDATE "+shop+".users SET name = ? WHERE id = ? AND age >= 18", fmt.Sprintf("r%d", rng.IntN(1000)), next.someUser(rng))
		case "event":
			next.event++
			_, err = db.Exec("INSERT INTO "+shop+".events (id, kind) VALUES (?, 'w')", next.event)
		}
		w.mu.Lock()
		w.ops++
		if err != nil {
			w.errs = append(w.errs, err)
		}
		w.mu.Unlock()
	}
}

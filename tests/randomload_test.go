package tests

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dmnode/dmnode/tests/harness"
)

// The seeded random workload, in the manner of pebble's metamorphic tests
// and Jepsen's generators: per source, a generator derived from one seed
// emits a stream of statements (inserts, updates that change keys,
// deletes, multi-statement and large transactions, temporary tables, and
// DDL of every kind: column changes, CREATE ... LIKE / SELECT, DROP and
// CREATE again, swaps, rename cycles, ALTER ... RENAME, CREATE IF NOT
// EXISTS, TRUNCATE, partition maintenance including EXCHANGE) while dmnode
// syncs; at the end the target must hold the same tables, columns,
// partitions and rows as every source. The generator keeps a model of the
// tables it made, so every statement it emits is valid: a statement the
// source rejects is a generator bug and fails the run.
//
// Environment:
//
//	DMNODE_SEED=n    replay exactly seed n (printed by every run)
//	DMNODE_SEEDS=n   run n seeds chosen from the clock (default: the fixed
//	                 defaultSeeds)
//	DMNODE_CHAOS=1   SIGKILL the node during each seed and start it again;
//	                 the regressionSeeds run first
//	DMNODE_OPS=n     statements per source and seed (default 120)

// defaultSeeds run in the default suite.
var defaultSeeds = []uint64{1, 2, 3}

// regressionSeeds found bugs. Each also has a deterministic test of its
// own (named here); as seeds they run in every chaos run (DMNODE_CHAOS=1),
// where the node is killed as when they failed.
var regressionSeeds = []uint64{
	// 300 statements, SIGKILL between an ALTER TABLE ... RENAME and its
	// checkpoint: the replay paused the source on "Table ... doesn't
	// exist". TestDDLKinds/replay_after_crash.
	846717,
	// 250 statements, SIGKILL while an EXCHANGE PARTITION ran: the
	// replay could not tell whether the rows were swapped and paused
	// (now decided by a fingerprint of the exchanged table). The window
	// is inside one statement, so no deterministic test stops there.
	671697,
}

// rlConfig is one run's settings, read from the environment.
type rlConfig struct {
	seeds []uint64
	chaos bool
	ops   int
}

func randomLoadConfig(t *testing.T) rlConfig {
	cfg := rlConfig{ops: 120, chaos: os.Getenv("DMNODE_CHAOS") == "1"}
	envInt := func(name string) (uint64, bool) {
		v := os.Getenv(name)
		if v == "" {
			return 0, false
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: not a number", name, v)
		}
		return n, true
	}
	if n, ok := envInt("DMNODE_OPS"); ok {
		cfg.ops = int(n)
	}
	switch seed, ok := envInt("DMNODE_SEED"); {
	case ok:
		cfg.seeds = []uint64{seed}
	default:
		if n, ok := envInt("DMNODE_SEEDS"); ok {
			base := uint64(time.Now().UnixNano()) % 1_000_000
			for i := range n {
				cfg.seeds = append(cfg.seeds, base+i)
			}
		} else {
			cfg.seeds = slices.Clone(defaultSeeds)
		}
		if cfg.chaos {
			cfg.seeds = append(slices.Clone(regressionSeeds), cfg.seeds...)
		}
	}
	return cfg
}

// TestRandomLoad runs the random workload on two sources, one seed after
// the other on one cluster and one task, each seed in databases of its
// own; each seed ends with the target compared table by table, row by row.
func TestRandomLoad(t *testing.T) {
	cfg := randomLoadConfig(t)
	c := newCluster(t, 2)
	gens := map[uint64][]*rlGen{}
	for _, seed := range cfg.seeds {
		for i, s := range c.sources {
			g := newRLGen(seed, i)
			gens[seed] = append(gens[seed], g)
			s.Exec(t, g.initial()...)
		}
	}
	c.addSources()
	c.dmnode("task", "submit", c.writeFile("randomload.yaml", fmt.Sprintf(`name: randomload
task-mode: all
target-database:
  host: "127.0.0.1"
  port: %d
  user: "root"
  password: ""
mysql-instances:
  - source-id: %q
    block-allow-list: rl
  - source-id: %q
    block-allow-list: rl
block-allow-list:
  rl:
    do-dbs: ["~^rl"]
`, c.target.Port, sourceID(0), sourceID(1))))
	c.diagnose = func() string {
		out, _ := harness.Run(t, c.bin, "--server", c.server(), "task", "status", "randomload")
		return out
	}
	c.dmnode("task", "wait", "randomload", "--stage", "sync", "--timeout", "2m")
	for _, seed := range cfg.seeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Logf("random workload seed %d (chaos %v, %d statements per source); replay with DMNODE_SEED=%d%s",
				seed, cfg.chaos, cfg.ops, seed, map[bool]string{true: " DMNODE_CHAOS=1"}[cfg.chaos])
			c.runSeed(t, gens[seed], cfg)
			for i, s := range c.sources {
				db := gens[seed][i].db
				c.expectSameDatabase(t, s, db, func(table string) (string, string) { return db, table })
			}
		})
	}
}

// runSeed runs every source's generator to the end, each on one session of
// its source; in chaos mode the node is killed with SIGKILL once the
// sources are half way, and started again.
func (c *cluster) runSeed(t *testing.T, gens []*rlGen, cfg rlConfig) {
	var done atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, len(gens))
	for i, g := range gens {
		db := c.sources[i].DB(t)
		wg.Go(func() {
			errs[i] = g.run(db, cfg.ops, func() { done.Add(1) })
		})
	}
	if cfg.chaos {
		half := int64(len(gens) * cfg.ops / 2)
		err := harness.Within(2*time.Minute, func() error {
			if done.Load() < half {
				return fmt.Errorf("%d statements of %d run", done.Load(), half)
			}
			return nil
		})
		if err == nil {
			t.Logf("SIGKILL the node after %d statements", done.Load())
			c.node.Kill(t)
			c.startNode()
		}
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("source %d: %v (a generator bug: the model no longer matches the source)", i+1, err)
		}
	}
}

// rlColumn is a column of a generated table besides its key id.
type rlColumn struct{ name, typ string }

// rlTable is the generator's model of one table.
type rlTable struct {
	cols []rlColumn
	// bounds are the upper bounds of the RANGE (id) partitions, names
	// their names, in order; nil for a table without partitions.
	bounds []int
	names  []string
}

func (tb *rlTable) clone() *rlTable {
	return &rlTable{cols: slices.Clone(tb.cols), bounds: slices.Clone(tb.bounds), names: slices.Clone(tb.names)}
}

// maxID bounds the ids of a table: its last partition bound, or rlIDs.
func (tb *rlTable) maxID() int {
	if tb.bounds != nil {
		return tb.bounds[len(tb.bounds)-1]
	}
	return rlIDs
}

// rlIDs is the key space of a table without partitions: small enough for
// random updates and deletes to hit rows.
const rlIDs = 4000

// rlGen generates the statements of one source for one seed.
type rlGen struct {
	rng    *rand.Rand
	db     string
	tables map[string]*rlTable
	n      int // counter for new names
}

func newRLGen(seed uint64, source int) *rlGen {
	return &rlGen{rng: rand.New(rand.NewPCG(seed, uint64(source))), db: fmt.Sprintf("rl%d_s%d", seed, source+1),
		tables: map[string]*rlTable{}}
}

func (g *rlGen) name(prefix string) string {
	g.n++
	return fmt.Sprintf("%s%d", prefix, g.n)
}

// initial returns the statements of the seed's starting schema and rows,
// run before the task starts: they reach the target with the full copy.
func (g *rlGen) initial() []string {
	stmts := []string{"CREATE DATABASE " + g.db, "USE " + g.db}
	for i := range 3 {
		stmts = append(stmts, g.createNew(i == 0)...)
	}
	for _, name := range g.names() {
		stmts = append(stmts, g.largeInsert(name, 200))
	}
	return stmts
}

// names returns the modelled tables, sorted: map order must not leak into
// the stream.
func (g *rlGen) names() []string {
	out := make([]string, 0, len(g.tables))
	for n := range g.tables {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

func (g *rlGen) pick() string {
	names := g.names()
	return names[g.rng.IntN(len(names))]
}

// pickWhere picks a table for which ok holds, "" when none does.
func (g *rlGen) pickWhere(ok func(*rlTable) bool) string {
	var names []string
	for _, n := range g.names() {
		if ok(g.tables[n]) {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return ""
	}
	return names[g.rng.IntN(len(names))]
}

// run executes n generated steps on one session of db.
func (g *rlGen) run(db *sql.DB, n int, step func()) error {
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "USE "+g.db); err != nil {
		return err
	}
	for range n {
		for _, q := range g.next() {
			if _, err := conn.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("%s: %s: %w", g.db, q, err)
			}
		}
		step()
	}
	return nil
}

// next returns the statements of one step and updates the model.
func (g *rlGen) next() []string {
	switch r := g.rng.IntN(100); {
	case r < 25:
		return []string{g.insert(g.pick())}
	case r < 35:
		return []string{g.update(g.pick())}
	case r < 45:
		return []string{g.updateKey(g.pick())}
	case r < 52:
		return []string{g.delete(g.pick())}
	case r < 60:
		return g.transaction()
	case r < 63:
		t := g.pick()
		return []string{g.largeInsert(t, 500+g.rng.IntN(2500))}
	case r < 66:
		return g.temporary()
	}
	return g.ddl()
}

func (g *rlGen) value(typ string) string {
	if g.rng.IntN(10) == 0 {
		return "NULL"
	}
	if typ == "int" {
		return strconv.Itoa(g.rng.IntN(100000) - 50000)
	}
	return fmt.Sprintf("'v%x'", g.rng.Uint32())
}

func (g *rlGen) id(tb *rlTable) int { return g.rng.IntN(tb.maxID()) }

func (g *rlGen) colList(tb *rlTable) string {
	names := []string{"id"}
	for _, c := range tb.cols {
		names = append(names, c.name)
	}
	return strings.Join(names, ", ")
}

func (g *rlGen) insert(name string) string {
	tb := g.tables[name]
	var rows []string
	for range 1 + g.rng.IntN(5) {
		vals := []string{strconv.Itoa(g.id(tb))}
		for _, c := range tb.cols {
			vals = append(vals, g.value(c.typ))
		}
		rows = append(rows, "("+strings.Join(vals, ", ")+")")
	}
	return fmt.Sprintf("INSERT IGNORE INTO %s (%s) VALUES %s", name, g.colList(tb), strings.Join(rows, ", "))
}

func (g *rlGen) update(name string) string {
	tb := g.tables[name]
	if len(tb.cols) == 0 {
		return g.updateKey(name)
	}
	c := tb.cols[g.rng.IntN(len(tb.cols))]
	lo := g.id(tb)
	return fmt.Sprintf("UPDATE %s SET %s = %s WHERE id BETWEEN %d AND %d", name, c.name, g.value(c.typ), lo, lo+20)
}

// updateKey moves rows to other ids (other partitions too); IGNORE skips
// rows whose new id is taken.
func (g *rlGen) updateKey(name string) string {
	tb := g.tables[name]
	lo, d := g.id(tb), 1+g.rng.IntN(300)
	return fmt.Sprintf("UPDATE IGNORE %s SET id = id + %d WHERE id BETWEEN %d AND %d AND id + %d < %d", name, d, lo, lo+10, d, tb.maxID())
}

func (g *rlGen) delete(name string) string {
	lo := g.id(g.tables[name])
	return fmt.Sprintf("DELETE FROM %s WHERE id BETWEEN %d AND %d", name, lo, lo+5)
}

// largeInsert inserts up to n rows in one statement, one transaction.
func (g *rlGen) largeInsert(name string, n int) string {
	tb := g.tables[name]
	n = min(n, tb.maxID()-1)
	base := g.rng.IntN(tb.maxID() - n)
	exprs := []string{fmt.Sprintf("seq + %d", base)}
	for _, c := range tb.cols {
		if c.typ == "int" {
			exprs = append(exprs, fmt.Sprintf("seq %% %d", 1+g.rng.IntN(1000)))
		} else {
			exprs = append(exprs, fmt.Sprintf("CONCAT('L%d-', seq)", g.rng.IntN(100)))
		}
	}
	return fmt.Sprintf("INSERT IGNORE INTO %s (%s) SELECT %s FROM seq_1_to_%d", name, g.colList(tb), strings.Join(exprs, ", "), n)
}

func (g *rlGen) transaction() []string {
	stmts := []string{"BEGIN"}
	for range 2 + g.rng.IntN(5) {
		t := g.pick()
		switch g.rng.IntN(4) {
		case 0:
			stmts = append(stmts, g.update(t))
		case 1:
			stmts = append(stmts, g.updateKey(t))
		case 2:
			stmts = append(stmts, g.delete(t))
		default:
			stmts = append(stmts, g.insert(t))
		}
	}
	if g.rng.IntN(8) == 0 {
		return append(stmts, "ROLLBACK")
	}
	return append(stmts, "COMMIT")
}

// temporary fills a real table through a temporary one, which is never
// replicated; only the rows it puts in the real table are.
func (g *rlGen) temporary() []string {
	name := g.pickWhere(func(tb *rlTable) bool { return tb.bounds == nil })
	if name == "" {
		return []string{g.insert(g.pick())}
	}
	tb := g.tables[name]
	tmp := g.name("tmp")
	lo := g.id(tb)
	stmts := []string{
		fmt.Sprintf("CREATE TEMPORARY TABLE %s LIKE %s", tmp, name),
		fmt.Sprintf("INSERT INTO %s SELECT * FROM %s WHERE id BETWEEN %d AND %d", tmp, name, lo, lo+30),
		fmt.Sprintf("UPDATE %s SET id = id + 1 ORDER BY id DESC", tmp),
		fmt.Sprintf("DELETE FROM %s WHERE id >= %d", tmp, rlIDs),
		fmt.Sprintf("REPLACE INTO %s SELECT * FROM %s", name, tmp),
		fmt.Sprintf("DROP TEMPORARY TABLE %s", tmp),
	}
	return stmts
}

// createNew creates a table of a fresh random shape, partitioned or not.
func (g *rlGen) createNew(partitioned bool) []string {
	name := g.name("t")
	return g.createAs(name, partitioned)
}

func (g *rlGen) createAs(name string, partitioned bool) []string {
	tb := &rlTable{}
	defs := []string{"id int NOT NULL"}
	for range 1 + g.rng.IntN(3) {
		c := rlColumn{name: g.name("c"), typ: []string{"int", "varchar(20)"}[g.rng.IntN(2)]}
		tb.cols = append(tb.cols, c)
		defs = append(defs, c.name+" "+c.typ)
	}
	defs = append(defs, "PRIMARY KEY (id)")
	q := fmt.Sprintf("CREATE TABLE %s (%s)", name, strings.Join(defs, ", "))
	if partitioned {
		var parts []string
		for i := range 3 {
			tb.bounds = append(tb.bounds, (i+1)*1000)
			tb.names = append(tb.names, g.name("p"))
			parts = append(parts, fmt.Sprintf("PARTITION %s VALUES LESS THAN (%d)", tb.names[i], tb.bounds[i]))
		}
		q += " PARTITION BY RANGE (id) (" + strings.Join(parts, ", ") + ")"
	}
	g.tables[name] = tb
	return []string{q}
}

// ddl returns one schema change, or a short script of them.
func (g *rlGen) ddl() []string {
	for {
		if stmts := g.tryDDL(g.rng.IntN(15)); stmts != nil {
			return stmts
		}
	}
}

func (g *rlGen) tryDDL(kind int) []string {
	name := g.pick()
	tb := g.tables[name]
	switch kind {
	case 0: // add a column
		c := rlColumn{name: g.name("c"), typ: []string{"int", "varchar(20)"}[g.rng.IntN(2)]}
		pos := ""
		if g.rng.IntN(3) == 0 {
			pos = " AFTER id"
		}
		tb.cols = append(tb.cols, c)
		if pos != "" {
			tb.cols = append([]rlColumn{c}, tb.cols[:len(tb.cols)-1]...)
		}
		return []string{fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s %s%s", name, c.name, c.typ, pos)}
	case 1: // drop a column
		if len(tb.cols) < 2 {
			return nil
		}
		i := g.rng.IntN(len(tb.cols))
		c := tb.cols[i]
		tb.cols = slices.Delete(tb.cols, i, i+1)
		return []string{fmt.Sprintf("ALTER TABLE %s DROP COLUMN %s", name, c.name)}
	case 2: // widen a column
		for i, c := range tb.cols {
			if c.typ == "varchar(20)" {
				tb.cols[i].typ = "varchar(40)"
				return []string{fmt.Sprintf("ALTER TABLE %s MODIFY %s varchar(40)", name, c.name)}
			}
		}
		return nil
	case 3: // a new table, maybe partitioned, with rows
		if len(g.tables) >= 7 {
			return nil
		}
		stmts := g.createNew(g.rng.IntN(3) == 0)
		return append(stmts, g.insert(g.names()[len(g.names())-1]))
	case 4: // CREATE ... LIKE, then rows
		if len(g.tables) >= 7 {
			return nil
		}
		n := g.name("like")
		g.tables[n] = tb.clone()
		return []string{fmt.Sprintf("CREATE TABLE %s LIKE %s", n, name), g.insert(n)}
	case 5: // CREATE ... SELECT
		if len(g.tables) >= 7 {
			return nil
		}
		n := g.name("sel")
		c := tb.clone()
		c.bounds, c.names = nil, nil
		g.tables[n] = c
		return []string{fmt.Sprintf("CREATE TABLE %s (PRIMARY KEY (id)) SELECT * FROM %s WHERE id %% 3 = 0", n, name)}
	case 6: // DROP, then CREATE again under the same name with a new shape
		delete(g.tables, name)
		stmts := append([]string{"DROP TABLE " + name}, g.createAs(name, g.rng.IntN(3) == 0)...)
		return append(stmts, g.insert(name))
	case 7: // swap in a copy
		n := name + "_new"
		old := name + "_old"
		return []string{
			fmt.Sprintf("CREATE TABLE %s LIKE %s", n, name),
			fmt.Sprintf("INSERT INTO %s SELECT * FROM %s WHERE id %% 2 = 0", n, name),
			fmt.Sprintf("RENAME TABLE %s TO %s, %s TO %s", name, old, n, name),
			g.insert(name),
			"DROP TABLE " + old,
		}
	case 8: // a rename cycle
		names := g.names()
		if len(names) < 2 {
			return nil
		}
		g.rng.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
		cyc := names[:min(len(names), 2+g.rng.IntN(2))]
		tmp := g.name("cyc")
		pairs := []string{cyc[0] + " TO " + tmp}
		first := g.tables[cyc[0]]
		for i := 1; i < len(cyc); i++ {
			pairs = append(pairs, cyc[i]+" TO "+cyc[i-1])
			g.tables[cyc[i-1]] = g.tables[cyc[i]]
		}
		pairs = append(pairs, tmp+" TO "+cyc[len(cyc)-1])
		g.tables[cyc[len(cyc)-1]] = first
		return []string{"RENAME TABLE " + strings.Join(pairs, ", ")}
	case 9: // ALTER ... RENAME with a column change
		n := g.name("ren")
		c := rlColumn{name: g.name("c"), typ: "int"}
		tb.cols = append(tb.cols, c)
		delete(g.tables, name)
		g.tables[n] = tb
		return []string{fmt.Sprintf("ALTER TABLE %s RENAME TO %s, ADD COLUMN %s int", name, n, c.name), g.insert(n)}
	case 10: // CREATE TABLE IF NOT EXISTS on an existing table
		return []string{fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s (other int)", name), g.insert(name)}
	case 11:
		return []string{"TRUNCATE TABLE " + name}
	case 12: // drop a table, keeping at least two
		if len(g.tables) <= 2 {
			return nil
		}
		delete(g.tables, name)
		return []string{"DROP TABLE " + name}
	case 13, 14:
		return g.partitionDDL()
	}
	return nil
}

// partitionDDL maintains the partitions of a partitioned table: ADD, DROP
// (of a partition holding rows), TRUNCATE, REORGANIZE or EXCHANGE.
func (g *rlGen) partitionDDL() []string {
	name := g.pickWhere(func(tb *rlTable) bool { return tb.bounds != nil })
	if name == "" {
		return nil
	}
	tb := g.tables[name]
	switch g.rng.IntN(5) {
	case 0:
		b, p := tb.maxID()+1000, g.name("p")
		tb.bounds, tb.names = append(tb.bounds, b), append(tb.names, p)
		return []string{fmt.Sprintf("ALTER TABLE %s ADD PARTITION (PARTITION %s VALUES LESS THAN (%d))", name, p, b), g.largeInsert(name, 300)}
	case 1:
		if len(tb.bounds) < 3 {
			return nil
		}
		i := g.rng.IntN(len(tb.bounds) - 1) // never the last: the key space stays
		p := tb.names[i]
		tb.bounds, tb.names = slices.Delete(tb.bounds, i, i+1), slices.Delete(tb.names, i, i+1)
		return []string{fmt.Sprintf("ALTER TABLE %s DROP PARTITION %s", name, p)}
	case 2:
		return []string{fmt.Sprintf("ALTER TABLE %s TRUNCATE PARTITION %s", name, tb.names[g.rng.IntN(len(tb.names))])}
	case 3:
		if len(tb.bounds) < 2 {
			return nil
		}
		i := g.rng.IntN(len(tb.bounds) - 1)
		a, b, p := tb.names[i], tb.names[i+1], g.name("p")
		tb.names = slices.Replace(tb.names, i, i+2, p)
		tb.bounds = slices.Delete(tb.bounds, i, i+1)
		return []string{fmt.Sprintf("ALTER TABLE %s REORGANIZE PARTITION %s, %s INTO (PARTITION %s VALUES LESS THAN (%d))", name, a, b, p, tb.bounds[i])}
	default:
		// EXCHANGE: a table of the same structure, filled with ids of
		// one partition, trades rows with it.
		if len(g.tables) >= 7 {
			return nil
		}
		i := g.rng.IntN(len(tb.bounds))
		lo := 0
		if i > 0 {
			lo = tb.bounds[i-1]
		}
		ex := g.name("ex")
		c := tb.clone()
		c.bounds, c.names = nil, nil
		g.tables[ex] = c
		n := min(50, tb.bounds[i]-lo-1)
		return []string{
			fmt.Sprintf("CREATE TABLE %s LIKE %s", ex, name),
			fmt.Sprintf("ALTER TABLE %s REMOVE PARTITIONING", ex),
			fmt.Sprintf("INSERT INTO %s (%s) SELECT seq + %d, %s FROM seq_1_to_%d", ex, g.colList(c), lo, g.nulls(c), n),
			fmt.Sprintf("ALTER TABLE %s EXCHANGE PARTITION %s WITH TABLE %s", name, tb.names[i], ex),
		}
	}
}

// nulls returns a NULL per non-key column, for INSERT ... SELECT.
func (g *rlGen) nulls(tb *rlTable) string {
	out := make([]string, len(tb.cols))
	for i := range out {
		out[i] = "NULL"
	}
	return strings.Join(out, ", ") // every table has a column besides id
}

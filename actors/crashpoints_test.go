package actors

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/catalog"
	"github.com/dmnode/dmnode/jetstream"
	"github.com/dmnode/dmnode/tests/harness"
)

// crashHook stops the apply path the nth time it reaches point, counting
// from when it reached the point after (when set).
type crashHook struct {
	mu    sync.Mutex
	point string
	after string
	n     int
	seen  int
	armed bool
}

var errCrashed = errors.New("killed here by the test")

func (h *crashHook) At(point string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if point == h.after {
		h.armed = true
	}
	if point != h.point || h.after != "" && !h.armed {
		return nil
	}
	h.seen++
	if h.seen == h.n {
		return errCrashed
	}
	return nil
}

// crashTxn is the rows events of one upstream transaction on db.t.
type crashTxn []crashEvent

type crashEvent struct {
	typ  replication.EventType
	rows [][]any // update events: before, after pairs
}

// crashScript scripts upstream transactions on db.t (id int primary key,
// v longtext) and the table they leave: small transactions that insert,
// update and delete, and, when big, one transaction large enough to
// travel as a sequence of parts in their middle.
func crashScript(seed uint64, big bool) ([]crashTxn, map[int32]string) {
	rng := rand.New(rand.NewPCG(seed, 4))
	rows := map[int32]string{}
	next := int32(1)
	pick := func() (int32, bool) {
		if len(rows) == 0 {
			return 0, false
		}
		ids := make([]int32, 0, len(rows))
		for id := range rows {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		return ids[rng.IntN(len(ids))], true
	}
	var txns []crashTxn
	for i := range 200 {
		if big && i == 100 {
			var txn crashTxn
			// 8,000 rows, 1.3 MB: several parts, four pieces of
			// applyMaxRows rows, each under the 1 MiB binlog cache of
			// a target that refuses the whole.
			for range 40 {
				e := crashEvent{typ: replication.WRITE_ROWS_EVENTv1}
				for j := range 200 {
					v := fmt.Sprintf("big %d", next)
					if j == 0 {
						v = strings.Repeat("x", 30_000)
					}
					e.rows = append(e.rows, []any{next, v})
					rows[next] = v
					next++
				}
				txn = append(txn, e)
			}
			txns = append(txns, txn)
			continue
		}
		var txn crashTxn
		for range 1 + rng.IntN(3) {
			switch op := rng.IntN(4); {
			case op < 2:
				e := crashEvent{typ: replication.WRITE_ROWS_EVENTv1}
				for range 1 + rng.IntN(3) {
					v := fmt.Sprintf("v%d", rng.IntN(1e6))
					e.rows = append(e.rows, []any{next, v})
					rows[next] = v
					next++
				}
				txn = append(txn, e)
			case op < 3:
				if id, ok := pick(); ok {
					v := fmt.Sprintf("u%d", rng.IntN(1e6))
					txn = append(txn, crashEvent{typ: replication.UPDATE_ROWS_EVENTv1, rows: [][]any{{id, rows[id]}, {id, v}}})
					rows[id] = v
				}
			default:
				if id, ok := pick(); ok {
					txn = append(txn, crashEvent{typ: replication.DELETE_ROWS_EVENTv1, rows: [][]any{{id, rows[id]}}})
					delete(rows, id)
				}
			}
		}
		txns = append(txns, txn)
	}
	return txns, rows
}

// publishCrashScript relays txns through a tailer incarnation, in batches
// of up to per transactions (the applier commits at most applyMaxMsgs
// batches at once), and returns the end of the last one.
func publishCrashScript(t testing.TB, st *jetstream.Store, source string, txns []crashTxn, per int) dmnode.Position {
	t.Helper()
	return publishScript(t, st, source, "CREATE TABLE t (id int NOT NULL PRIMARY KEY, v longtext)", 2, txns, per)
}

// The apply path's crash points, each reached deterministically through
// the applier's test hook: the applier stops there as a killed process
// would, a new incarnation starts from what the target holds, and the
// target ends with exactly the scripted rows, none lost, none doubled.
func TestApplyCrashPoints(t *testing.T) {
	tgt := harness.StartMariaDB(t, harness.Options{ServerID: 100})
	db := tgt.DB(t)
	statements := filepath.Join(t.TempDir(), "target-statements.log")
	saved := sqlLog
	sqlLog = openSQLLog(statements)
	t.Cleanup(func() {
		sqlLog = saved
		harness.CheckDialect(t, statements)
	})
	for _, tc := range []struct {
		name    string
		workers int
		big     bool // a transaction in parts in the middle
		refuse  bool // the target refuses it whole (max_binlog_cache_size)
		point   string
		after   string
		n       int
	}{
		{name: "one connection, rows written, not committed", workers: 1, point: CrashInTxn, n: 2},
		{name: "one connection, committed, not noted", workers: 1, point: CrashCommitted, n: 2},
		{name: "parallel, a unit's rows written, not committed", workers: 8, point: CrashInTxn, n: 7},
		{name: "parallel, some units of a batch committed", workers: 8, point: CrashCommitted, n: 7},
		{name: "a part written in the sequence's transaction", workers: 8, big: true, point: CrashPart, n: 2},
		{name: "a sequence's transaction holds all, not committed", workers: 8, big: true, point: CrashInTxn, after: CrashPart, n: 1},
		{name: "a sequence's transaction committed, not noted", workers: 8, big: true, point: CrashCommitted, after: CrashPart, n: 1},
		{name: "the window recorded, no piece written", workers: 8, big: true, refuse: true, point: CrashWindow, n: 1},
		{name: "a piece committed, the checkpoint not moved", workers: 8, big: true, refuse: true, point: CrashPiece, n: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cache := "DEFAULT"
			if tc.refuse {
				cache = "1048576"
			}
			tgt.Exec(t, "DROP DATABASE IF EXISTS db", "DROP DATABASE IF EXISTS "+MetaSchema,
				"CREATE DATABASE db", "CREATE TABLE db.t (id int NOT NULL PRIMARY KEY, v longtext)",
				"SET GLOBAL max_binlog_cache_size = "+cache)
			txns, want := crashScript(uint64(len(tc.name)), tc.big)
			st := startJetStream(t)
			end := publishCrashScript(t, st, "src", txns, 2)
			hook := &crashHook{point: tc.point, after: tc.after, n: tc.n}
			env := crashEnv(t, st, tgt.Port, tc.workers)
			env.Epoch = 1
			err := runUntil(t, &Applier{env: env, task: "crash", source: "src", hook: hook}, db, end)
			if !errors.Is(err, errCrashed) {
				t.Fatalf("the applier did not stop at %s (reached %d times, want %d): %v", tc.point, hook.seen, hook.n, err)
			}
			env.Epoch = 2
			if err := runUntil(t, &Applier{env: env, task: "crash", source: "src"}, db, end); err != nil {
				t.Fatalf("the restarted applier: %v", err)
			}
			var rows [][]string
			for id, v := range want {
				rows = append(rows, []string{fmt.Sprint(id), v})
			}
			sum := harness.CompareRows(t, tc.name, rows, harness.Rows(t, db, "SELECT id, v FROM db.t"))
			t.Logf("stopped at %s, restarted: %d rows identical, checksum %s", tc.point, len(rows), sum)
		})
	}
}

// crashEnv is an applier's environment: the store, and a catalog holding
// task crash (database db, workers connections) in sync on source src.
func crashEnv(t testing.TB, st *jetstream.Store, port, workers int) Env {
	task := fmt.Sprintf(`name: crash
task-mode: all
target-database:
  host: 127.0.0.1
  port: %d
  user: root
  password: ""
mysql-instances:
  - source-id: src
    block-allow-list: only
    syncer-config-name: s
block-allow-list:
  only:
    do-dbs: [db]
syncers:
  s:
    worker-count: %d
`, port, workers)
	source := fmt.Sprintf(`source-id: src
flavor: mariadb
from:
  host: 127.0.0.1
  port: %d
  user: root
  password: ""
`, port)
	state := &catalog.State{
		Sources: map[string]*catalog.Source{"src": {ID: "src", File: "src.yaml", YAML: source}},
		Tasks: map[string]*catalog.Task{"crash": {Name: "crash", File: "crash.yaml", YAML: task, Mode: "all",
			Sources: map[string]*catalog.TaskSource{"src": {Stage: catalog.StageSync, Start: dmnode.Position{File: "mysql-bin.000001", Pos: 4}}}}},
	}
	return Env{Node: "n1", Store: st, Catalog: func() *catalog.State { return state },
		Log: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// runUntil runs the applier until it returns, or until the target's
// checkpoint reaches end (then it is stopped and nil returned).
func runUntil(t testing.TB, a *Applier, db *sql.DB, end dmnode.Position) error {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	deadline := time.After(2 * time.Minute)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			return err
		case <-deadline:
			cancel()
			<-done
			return fmt.Errorf("the checkpoint did not reach %s within 2 minutes", end)
		case <-tick.C:
		}
		cp, err := readCheckpoint(ctx, db, a.task, a.source)
		if err != nil && !strings.Contains(err.Error(), "doesn't exist") {
			cancel()
			<-done
			return err
		}
		if cp.Compare(end) >= 0 {
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				return err
			}
			return nil
		}
	}
}

// A transaction sent in parts whose insert the target rejects (a row it
// already holds) fails on the duplicate key: nothing of the transaction
// is committed and the checkpoint stays before it.
func TestApplyBigTxnRejectedRow(t *testing.T) {
	tgt := harness.StartMariaDB(t, harness.Options{ServerID: 100})
	db := tgt.DB(t)
	txns, _ := crashScript(7, true)
	// The first row of the transaction in parts, already on the target
	// with another value.
	var dup int32
	for _, txn := range txns {
		if len(txn) > 1 && len(txn[0].rows) == 200 {
			dup = txn[0].rows[0][0].(int32)
		}
	}
	tgt.Exec(t, "CREATE DATABASE db", "CREATE TABLE db.t (id int NOT NULL PRIMARY KEY, v longtext)",
		fmt.Sprintf("INSERT INTO db.t VALUES (%d, 'there before')", dup))
	st := startJetStream(t)
	end := publishCrashScript(t, st, "src", txns, 2)
	env := crashEnv(t, st, tgt.Port, 8)
	env.Epoch = 1
	err := runUntil(t, &Applier{env: env, task: "crash", source: "src"}, db, end)
	var ae *ApplyError
	if !errors.As(err, &ae) && (err == nil || !strings.Contains(err.Error(), "Duplicate entry")) {
		t.Fatalf("the applier: %v, want a duplicate key error", err)
	}
	var v string
	if err := db.QueryRow("SELECT v FROM db.t WHERE id = ?", dup).Scan(&v); err != nil || v != "there before" {
		t.Fatalf("row %d: %q, %v; want the target's own", dup, v, err)
	}
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM db.t WHERE v LIKE 'big %'").Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d rows of the rejected transaction on the target (%v), want none", n, err)
	}
	t.Logf("rejected: %v", err)
}

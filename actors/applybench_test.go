package actors

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/config"
	"github.com/dmnode/dmnode/jetstream"
	"github.com/dmnode/dmnode/tests/harness"
)

// BenchmarkApplyCatchUp measures a catch-up: an applier with 16 workers
// applies a relayed backlog of small transactions (each moves a value
// between two of 10,000 rows, one in ten also inserts one) into a real
// MariaDB. It reports upstream transactions per second; on a shared
// machine the figure is indicative only. Run it alone:
//
//	go test -run '^$' -bench ApplyCatchUp -benchtime 3x ./actors/
func BenchmarkApplyCatchUp(b *testing.B) {
	tgt := harness.StartMariaDB(b, harness.Options{ServerID: 100})
	db := tgt.DB(b)
	const rows, txns = 10_000, 5_000
	rng := rand.New(rand.NewPCG(1, 2))
	vals := map[int32]string{}
	var script []crashTxn
	next := int32(rows + 1)
	for i := range txns {
		x, y := int32(1+rng.IntN(rows)), int32(1+rng.IntN(rows))
		if x == y {
			y = x%rows + 1
		}
		txn := crashTxn{}
		for _, id := range []int32{x, y} {
			before, ok := vals[id]
			if !ok {
				before = "0"
			}
			after := fmt.Sprint(i)
			txn = append(txn, crashEvent{typ: replication.UPDATE_ROWS_EVENTv1, rows: [][]any{{id, before}, {id, after}}})
			vals[id] = after
		}
		if i%10 == 0 {
			txn = append(txn, crashEvent{typ: replication.WRITE_ROWS_EVENTv1, rows: [][]any{{next, "new"}}})
			next++
		}
		script = append(script, txn)
	}
	var total time.Duration
	for range b.N {
		b.StopTimer()
		tgt.Exec(b, "DROP DATABASE IF EXISTS db", "DROP DATABASE IF EXISTS "+MetaSchema,
			"CREATE DATABASE db", "CREATE TABLE db.t (id int NOT NULL PRIMARY KEY, v longtext)",
			fmt.Sprintf("INSERT INTO db.t SELECT seq, '0' FROM db.seq_1_to_%d", rows))
		st := startJetStream(b)
		end := publishCrashScript(b, st, "src", script, 20)
		env := crashEnv(b, st, tgt.Port, 16)
		env.Epoch = 1
		b.StartTimer()
		began := time.Now()
		if err := runUntil(b, &Applier{env: env, task: "crash", source: "src"}, db, end); err != nil {
			b.Fatal(err)
		}
		total += time.Since(began)
	}
	b.ReportMetric(float64(txns*b.N)/total.Seconds(), "txn/s")
}

// BenchmarkApplySysbench measures the applier's catch-up of a relayed
// backlog shaped as the bench's incr workload (tests/bench) on sysbench's
// table: rounds of five transactions (1-row insert, update and delete
// autocommits; 10 inserts, a 10-row update and a 5-row delete in one;
// 5 one-row updates in one), 33 row events a round, into a real MariaDB,
// at the task's default worker-count. Sub-benchmark mix is 3,000 rounds,
// mix-safe the same in safe mode, bulk one INSERT of 100,000 rows (a
// transaction sent in parts). It
// reports row events per second and the CPU time per 100k row events of
// this process (applier and JetStream) and of the target server, which on
// a shared machine say more than the rate. Run it alone:
//
//	go test -run '^$' -bench ApplySysbench -benchtime 3x ./actors/
func BenchmarkApplySysbench(b *testing.B) {
	const base = 100_000
	for _, bc := range []struct {
		name         string
		rounds, bulk int
		// perTxn is the bulk's rows per transaction.
		perTxn int
		// safe replays the whole script in safe mode, as an incremental
		// task started from a position does its backlog (BENCH=incr).
		safe bool
	}{{"mix", 3000, 0, 0, false}, {"mix-safe", 3000, 0, 0, true}, {"bulk", 0, 100_000, 100_000, false},
		// Batched inserts: transactions of 1,000 rows, each within one
		// relay message.
		{"batches", 0, 100_000, 1000, false}} {
		b.Run(bc.name, func(b *testing.B) {
			tgt := harness.StartMariaDB(b, harness.Options{ServerID: 100, ExtraArgs: []string{"--innodb-buffer-pool-size=512M", "--innodb-log-file-size=512M"}})
			db := tgt.DB(b)
			script, events := sysbenchScript(base, bc.rounds, bc.bulk, bc.perTxn)
			var wall time.Duration
			var self, target float64
			for range b.N {
				b.StopTimer()
				tgt.Exec(b, "DROP DATABASE IF EXISTS db", "DROP DATABASE IF EXISTS "+MetaSchema,
					"CREATE DATABASE db", "CREATE TABLE db.t "+sbtestCols,
					fmt.Sprintf("INSERT INTO db.t SELECT seq, seq %% 1000003, LPAD(seq, 120, 'c'), LPAD(seq, 60, 'p') FROM db.seq_1_to_%d", base))
				st := startJetStream(b)
				end := publishScript(b, st, "src", "CREATE TABLE t "+sbtestCols, 4, script, 20)
				env := crashEnv(b, st, tgt.Port, config.DefaultWorkerCount)
				env.Epoch = 1
				if bc.safe {
					env.Catalog().Tasks["crash"].Sources["src"].SafeUntil = end
				}
				self0, target0 := selfCPU(), procCPU(b, tgt.Pid())
				b.StartTimer()
				began := time.Now()
				if err := runUntil(b, &Applier{env: env, task: "crash", source: "src"}, db, end); err != nil {
					b.Fatal(err)
				}
				wall += time.Since(began)
				b.StopTimer()
				self += selfCPU() - self0
				target += procCPU(b, tgt.Pid()) - target0
				b.StartTimer()
			}
			n := float64(events * b.N)
			b.ReportMetric(n/wall.Seconds(), "events/s")
			b.ReportMetric(self/n*1e5, "self-CPU-s/100k")
			b.ReportMetric(target/n*1e5, "target-CPU-s/100k")
		})
	}
}

const sbtestCols = "(id int NOT NULL, k int NOT NULL DEFAULT 0, c char(120) NOT NULL DEFAULT '', pad char(60) NOT NULL DEFAULT '', PRIMARY KEY (id), KEY k_1 (k))"

// sysbenchScript scripts rounds of the bench's five transaction shapes
// on ids 1..base, then, when bulk is set, transactions of perTxn rows
// (the last one fewer) inserting bulk rows in events of 40; it returns them
// and their row events.
func sysbenchScript(base, rounds, bulk, perTxn int) ([]crashTxn, int) {
	perTxn = max(perTxn, 1)
	rng := rand.New(rand.NewPCG(7, 1))
	vals := map[int32][]any{}
	get := func(id int32) []any {
		if v, ok := vals[id]; ok {
			return v
		}
		return []any{id, id % 1000003, fmt.Sprintf("%120d", id), fmt.Sprintf("%60d", id)}
	}
	row := func(id int32) []any {
		return []any{id, (id*7919 + 104729) % 1000003, fmt.Sprintf("%0120d", id*31), fmt.Sprintf("%060d", id*17)}
	}
	update := func(id int32, f func(r []any) []any) [][]any {
		before := get(id)
		after := f(slices.Clone(before))
		vals[id] = after
		return [][]any{before, after}
	}
	next, del := int32(base+1), int32(base+1)
	var txns []crashTxn
	events := 0
	ins := func(n int) crashEvent {
		e := crashEvent{typ: replication.WRITE_ROWS_EVENTv1}
		for range n {
			e.rows = append(e.rows, row(next))
			vals[next] = row(next)
			next++
		}
		return e
	}
	dels := func(n int) crashEvent {
		e := crashEvent{typ: replication.DELETE_ROWS_EVENTv1}
		for range n {
			e.rows = append(e.rows, get(del))
			delete(vals, del)
			del++
		}
		return e
	}
	for range rounds {
		txns = append(txns, crashTxn{ins(1)})
		id := int32(1 + rng.IntN(base))
		txns = append(txns, crashTxn{{typ: replication.UPDATE_ROWS_EVENTv1, rows: update(id, func(r []any) []any {
			r[1] = r[1].(int32) + 1
			r[2] = reverse(r[2].(string))
			return r
		})}})
		txns = append(txns, crashTxn{dels(1)})
		lo := int32(1 + rng.IntN(base-9))
		up := crashEvent{typ: replication.UPDATE_ROWS_EVENTv1}
		for id := lo; id < lo+10; id++ {
			up.rows = append(up.rows, update(id, func(r []any) []any { r[1] = r[1].(int32) + 1; return r })...)
		}
		txns = append(txns, crashTxn{ins(10), up, dels(5)})
		var five crashTxn
		for range 5 {
			id := int32(1 + rng.IntN(base))
			five = append(five, crashEvent{typ: replication.UPDATE_ROWS_EVENTv1, rows: update(id, func(r []any) []any {
				r[1] = r[1].(int32) + 1
				r[3] = reverse(r[3].(string))
				return r
			})})
		}
		txns = append(txns, five)
		events += 33
	}
	for left := bulk; left > 0; left -= perTxn {
		var txn crashTxn
		for n := min(perTxn, left); n > 0; n -= 40 {
			txn = append(txn, ins(min(40, n)))
		}
		txns = append(txns, txn)
	}
	return txns, events + bulk
}

func reverse(s string) string {
	r := []byte(s)
	slices.Reverse(r)
	return string(r)
}

// publishScript relays txns on db.t, created by ddl with cols columns,
// through a tailer incarnation in batches of up to per transactions, and
// returns the end of the last one (publishCrashScript for any table).
func publishScript(t testing.TB, st *jetstream.Store, source, ddl string, cols int, txns []crashTxn, per int) dmnode.Position {
	t.Helper()
	ctx := t.Context()
	r, hdr, table, at := scriptTailerFor(t, st, source, ddl, cols)
	for i, txn := range txns {
		r.begin(hdr(replication.MARIADB_GTID_EVENT))
		for _, e := range txn {
			if err := r.rows(ctx, hdr(e.typ), &replication.RowsEvent{Table: table, ColumnCount: uint64(cols), Rows: e.rows}); err != nil {
				t.Fatal(err)
			}
		}
		if err := r.commit(ctx, hdr(replication.XID_EVENT)); err != nil {
			t.Fatal(err)
		}
		if (i+1)%per == 0 {
			if err := r.flush(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := r.flush(ctx); err != nil {
		t.Fatal(err)
	}
	return dmnode.Position{File: "mysql-bin.000001", Pos: at()}
}

// selfCPU is this process's CPU time so far, user and system, in seconds.
func selfCPU() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// procCPU is a process's CPU time so far, user and system, in seconds.
func procCPU(t testing.TB, pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	u, _ := strconv.ParseFloat(f[11], 64)
	sy, _ := strconv.ParseFloat(f[12], 64)
	return (u + sy) / 100 // USER_HZ
}

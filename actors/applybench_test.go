package actors

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/replication"

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

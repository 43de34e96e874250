package apply

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sync"
	"testing"
	"time"
)

func txn(rows int, keys ...string) Txn { return Txn{Keys: keys, Rows: rows} }

func TestPlan(t *testing.T) {
	for _, tc := range []struct {
		name    string
		txns    []Txn
		workers int
		maxRows int
		want    []Unit
	}{
		{name: "nothing", workers: 4, maxRows: 10},
		{name: "one worker: one unit", workers: 1, maxRows: 100,
			txns: []Txn{txn(1, "a"), txn(1, "b"), txn(1, "a")},
			want: []Unit{{First: 0, End: 3, Rows: 3, After: -1}}},
		{name: "independent: a unit each", workers: 4, maxRows: 100,
			txns: []Txn{txn(1, "a"), txn(1, "b"), txn(1, "c"), txn(1, "d")},
			want: []Unit{{0, 1, 1, -1}, {1, 2, 1, -1}, {2, 3, 1, -1}, {3, 4, 1, -1}}},
		{name: "a conflict joins the open unit", workers: 4, maxRows: 100,
			txns: []Txn{txn(1, "a"), txn(1, "a", "b"), txn(1, "c"), txn(1, "d")},
			want: []Unit{{0, 2, 2, -1}, {2, 3, 1, -1}, {3, 4, 1, -1}}},
		{name: "a conflict with a closed unit waits for it", workers: 4, maxRows: 100,
			txns: []Txn{txn(1, "a"), txn(1, "b"), txn(1, "c"), txn(1, "a")},
			want: []Unit{{0, 1, 1, -1}, {1, 2, 1, -1}, {2, 3, 1, -1}, {3, 4, 1, 0}}},
		{name: "the last writer counts", workers: 5, maxRows: 100,
			txns: []Txn{txn(1, "a"), txn(1, "b"), txn(1, "c", "a"), txn(1, "d"), txn(1, "a", "b")},
			want: []Unit{{0, 1, 1, -1}, {1, 2, 1, -1}, {2, 3, 1, 0}, {3, 4, 1, -1}, {4, 5, 1, 2}}},
		{name: "small transactions share a unit up to a share of the batch", workers: 2, maxRows: 100,
			txns: []Txn{txn(1, "a"), txn(1, "b"), txn(1, "c"), txn(1, "d"), txn(4, "e"), txn(4, "f")},
			want: []Unit{{0, 5, 8, -1}, {5, 6, 4, -1}}},
		{name: "maxRows bounds a chain of conflicts", workers: 2, maxRows: 2,
			txns: []Txn{txn(1, "a"), txn(1, "a"), txn(1, "a"), txn(3, "a")},
			want: []Unit{{0, 2, 2, -1}, {2, 3, 1, 0}, {3, 4, 3, 1}}},
		{name: "joining the open unit keeps a conflict with a closed one", workers: 4, maxRows: 100,
			txns: []Txn{txn(1, "a"), txn(1, "b"), txn(1, "b", "a")},
			want: []Unit{{0, 1, 1, -1}, {1, 3, 2, 0}}},
		{name: "no keys, no dependencies", workers: 8, maxRows: 100,
			txns: []Txn{txn(1), txn(1)},
			want: []Unit{{0, 1, 1, -1}, {1, 2, 1, -1}}},
	} {
		got := Plan(tc.txns, tc.workers, tc.maxRows)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: units\n%v, want\n%v", tc.name, got, tc.want)
		}
	}
}

// kvTable is a simulated target table: transactions lock the keys they
// write (two units that write one key must never run at once), buffer
// their writes and commit them whole.
type kvTable struct {
	mu      sync.Mutex
	rows    map[string]int
	locks   map[string]int // key → unit holding it
	commits []int          // units in commit order
	bad     []string
}

type kvOp struct {
	key string
	val int // -1 deletes
}

func (kv *kvTable) run(t *Turn, unit int, ops []kvOp, wait func() error, fail bool) error {
	kv.mu.Lock()
	held := map[string]bool{}
	for _, op := range ops {
		if u, ok := kv.locks[op.key]; ok && u != unit {
			kv.bad = append(kv.bad, fmt.Sprintf("unit %d writes %s while unit %d holds it", unit, op.key, u))
			continue
		}
		kv.locks[op.key], held[op.key] = unit, true
	}
	kv.mu.Unlock()
	release := func() {
		kv.mu.Lock()
		for k := range held {
			delete(kv.locks, k)
		}
		kv.mu.Unlock()
	}
	defer release()
	if fail {
		if !t.Head() {
			return ErrYield // tried alone again, as a target error is
		}
		return errors.New("the target refuses unit")
	}
	if err := wait(); err != nil {
		return err
	}
	kv.mu.Lock()
	defer kv.mu.Unlock()
	for _, op := range ops {
		if op.val < 0 {
			delete(kv.rows, op.key)
		} else {
			kv.rows[op.key] = op.val
		}
	}
	if n := len(kv.commits); n > 0 && kv.commits[n-1] != unit-1 || n == 0 && unit != 0 {
		kv.bad = append(kv.bad, fmt.Sprintf("unit %d committed after %v", unit, kv.commits))
	}
	kv.commits = append(kv.commits, unit)
	return nil
}

// workload scripts n transactions of 1 to 4 writes over a few keys, some
// hot, with blind values (a replica writes after images).
func workload(rng *rand.Rand, n int) ([][]kvOp, []Txn) {
	var script [][]kvOp
	var txns []Txn
	for i := range n {
		var ops []kvOp
		var keys []string
		for range 1 + rng.IntN(4) {
			k := fmt.Sprintf("k%d", rng.IntN(40))
			if rng.IntN(5) == 0 {
				k = fmt.Sprintf("hot%d", rng.IntN(2))
			}
			v := i
			if rng.IntN(6) == 0 {
				v = -1
			}
			ops = append(ops, kvOp{k, v})
			keys = append(keys, k)
		}
		script = append(script, ops)
		txns = append(txns, Txn{Keys: keys, Rows: len(ops)})
	}
	return script, txns
}

// execute runs the plan of script on a kvTable with workers; unit failAt
// (-1: none) fails.
func execute(t *testing.T, rng *rand.Rand, script [][]kvOp, txns []Txn, workers, failAt int) (*kvTable, int, error) {
	units := Plan(txns, workers, 8)
	kv := &kvTable{rows: map[string]int{}, locks: map[string]int{}}
	var jitter sync.Mutex
	pause := func() {
		jitter.Lock()
		d := time.Duration(rng.IntN(200)) * time.Microsecond
		jitter.Unlock()
		time.Sleep(d)
	}
	n, err := Execute(context.Background(), units, workers, func(ctx context.Context, i int, turn *Turn) error {
		var ops []kvOp
		for _, s := range script[units[i].First:units[i].End] {
			ops = append(ops, s...)
		}
		pause()
		return kv.run(turn, i, ops, func() error {
			// Some units run out of patience and yield.
			wctx, cancel := context.WithCancel(ctx)
			defer cancel()
			jitter.Lock()
			yield := rng.IntN(10) == 0
			jitter.Unlock()
			if yield {
				cancel()
			}
			return turn.Wait(wctx)
		}, i == failAt)
	})
	if len(kv.bad) > 0 {
		t.Fatalf("workers %d: %v", workers, kv.bad)
	}
	if len(kv.commits) != n {
		t.Fatalf("workers %d: %d units committed, Execute says %d", workers, len(kv.commits), n)
	}
	return kv, n, err
}

// replay applies the first n units' transactions one by one.
func replay(script [][]kvOp, units []Unit, n int) map[string]int {
	rows := map[string]int{}
	for _, u := range units[:n] {
		for _, ops := range script[u.First:u.End] {
			for _, op := range ops {
				if op.val < 0 {
					delete(rows, op.key)
				} else {
					rows[op.key] = op.val
				}
			}
		}
	}
	return rows
}

// One scripted workload executed by 1 and by 8 workers ends in the same
// table, the one the transactions give in source order; a failed unit
// leaves exactly the units before it committed.
func TestExecuteSameState(t *testing.T) {
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 18))
		script, txns := workload(rng, 200)
		one, n1, err := execute(t, rng, script, txns, 1, -1)
		serial := Plan(txns, 1, 8)
		if err != nil || n1 != len(serial) {
			t.Fatalf("seed %d, one worker: %d of %d units, %v", seed, n1, len(serial), err)
		}
		all := replay(script, serial, n1)
		if !reflect.DeepEqual(one.rows, all) {
			t.Fatalf("seed %d: one worker left %v, want %v", seed, one.rows, all)
		}
		units := Plan(txns, 8, 8)
		eight, n8, err := execute(t, rng, script, txns, 8, -1)
		if err != nil || n8 != len(units) {
			t.Fatalf("seed %d, 8 workers: %d of %d units, %v", seed, n8, len(units), err)
		}
		if !reflect.DeepEqual(eight.rows, one.rows) {
			t.Fatalf("seed %d: 8 workers left %v, one left %v", seed, eight.rows, one.rows)
		}
		failAt := rng.IntN(len(units))
		failed, nf, err := execute(t, rng, script, txns, 8, failAt)
		if err == nil || nf != failAt {
			t.Fatalf("seed %d: unit %d failing: %d committed, %v", seed, failAt, nf, err)
		}
		if want := replay(script, units, failAt); !reflect.DeepEqual(failed.rows, want) {
			t.Fatalf("seed %d: after unit %d failed the table is %v, want %v", seed, failAt, failed.rows, want)
		}
	}
}

// A unit waits for the unit it depends on to commit before it starts.
func TestExecuteWaitsForDependency(t *testing.T) {
	units := []Unit{{0, 1, 1, -1}, {1, 2, 1, -1}, {2, 3, 1, 0}}
	var mu sync.Mutex
	var events []string
	release := make(chan struct{})
	n, err := Execute(context.Background(), units, 3, func(ctx context.Context, i int, t *Turn) error {
		mu.Lock()
		events = append(events, fmt.Sprintf("start %d", i))
		mu.Unlock()
		if i == 0 {
			<-release
		}
		if i == 1 {
			close(release)
		}
		if err := t.Wait(ctx); err != nil {
			return err
		}
		mu.Lock()
		events = append(events, fmt.Sprintf("commit %d", i))
		mu.Unlock()
		return nil
	})
	if err != nil || n != 3 {
		t.Fatalf("%d units, %v", n, err)
	}
	at := map[string]int{}
	for i, e := range events {
		at[e] = i
	}
	if at["start 2"] < at["commit 0"] || at["commit 0"] > at["commit 1"] || at["commit 1"] > at["commit 2"] {
		t.Fatalf("events %v: want unit 2 started after unit 0 committed, and commits in order", events)
	}
}

// A cancelled context stops dispatching and returns its error.
func TestExecuteCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	units := []Unit{{0, 1, 1, -1}, {1, 2, 1, -1}, {2, 3, 1, 1}}
	n, err := Execute(ctx, units, 1, func(ctx context.Context, i int, t *Turn) error {
		if i == 1 {
			cancel()
			return ctx.Err()
		}
		return nil
	})
	if n != 1 || !errors.Is(err, context.Canceled) {
		t.Fatalf("%d units, %v; want 1 and context.Canceled", n, err)
	}
}

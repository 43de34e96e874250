// Package apply is the applier's pure core: it turns upstream row changes
// (already transformed for the target) into the SQL statements that apply
// them (statements.go: compaction, multi-row statements, safe mode,
// keyless tables, generated columns), and plans and orders the commits of
// upstream transactions on a target written over several connections. No
// database, no NATS, no clock.
//
// Every upstream transaction commits on the target whole, in one target
// transaction (a Unit), which may hold several consecutive upstream
// transactions. Parallelism comes from dependencies between units, as in
// MySQL 8's WRITESET replica: each transaction names its write set (the
// unique-key values it touches, before and after, per target table and
// key); a unit depends on the last earlier unit whose write set meets its
// own, and may start only once that unit committed, so that no two units
// that write one row ever run at once.
//
// Units commit in source order (as a replica with
// replica_preserve_commit_order): a unit may run its statements early but
// commits only after every earlier unit committed, so the target always
// shows a prefix of the source's commit order, and a unit that fails never
// has a later one committed past it. Execute coordinates that; the caller
// runs each unit and calls Turn.Wait between its statements and its
// commit.
package apply

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Txn is one upstream transaction as the planner sees it.
type Txn struct {
	// Keys is the write set: two transactions that share a key must
	// commit in their order and never run at once.
	Keys []string
	// Rows is the number of row changes, the unit's measure of size.
	Rows int
}

// Unit is one target transaction: the upstream transactions [First, End)
// in source order.
type Unit struct {
	First, End int
	Rows       int
	// After is the last earlier unit that shares a key with this one
	// (-1: none): the unit may start once After committed.
	After int
}

// Plan groups txns, in order, into units for workers connections. A unit
// takes the next transaction while it is smaller than an even share of the
// batch (rows / workers: every worker gets some, and each commit carries
// as much as it can; four times as many smaller units applied no faster
// in BenchmarkApplyCatchUp), or when the transaction conflicts with it (it
// would wait for the unit anyway); it never grows past maxRows rows unless
// one transaction alone is larger.
func Plan(txns []Txn, workers, maxRows int) []Unit {
	if len(txns) == 0 {
		return nil
	}
	workers, maxRows = max(workers, 1), max(maxRows, 1)
	total := 0
	for _, t := range txns {
		total += t.Rows
	}
	share := total
	if workers > 1 {
		share = (total + workers - 1) / workers
	}
	share = min(max(share, 1), maxRows)
	last := map[string]int{} // key → the last unit that writes it
	var units []Unit
	for i, t := range txns {
		cur := len(units) - 1
		// dep is the last closed unit t conflicts with; withCur says
		// whether it conflicts with the open one.
		dep, withCur := -1, false
		for _, k := range t.Keys {
			u, ok := last[k]
			switch {
			case !ok:
			case u == cur:
				withCur = true
			case u > dep:
				dep = u
			}
		}
		join := cur >= 0 && units[cur].Rows+t.Rows <= maxRows && (units[cur].Rows < share || withCur)
		if !join {
			units = append(units, Unit{First: i, After: -1})
			if withCur {
				dep = cur
			}
			cur++
		}
		u := &units[cur]
		u.End, u.Rows = i+1, u.Rows+t.Rows
		u.After = max(u.After, dep)
		for _, k := range t.Keys {
			last[k] = cur
		}
	}
	return units
}

// ErrYield is returned by Turn.Wait when the unit should roll back and run
// again once every earlier unit committed: it waited for its turn longer
// than the caller allows, and may hold a lock (a gap, a non-unique index
// entry) an earlier unit waits for, which the target cannot see as a
// deadlock. A run that fails before its turn returns it too, to be run
// again alone.
var ErrYield = errors.New("yield to the units before")

// ErrEarlierFailed is returned by Turn.Wait when an earlier unit failed:
// the unit must roll back, since committing would show a state the source
// never had.
var ErrEarlierFailed = errors.New("an earlier unit failed")

// Turn is a unit's place in the commit order.
type Turn struct {
	e    *exec
	i    int
	head bool
}

// Head reports whether every earlier unit has committed: the run is alone
// in its turn, Wait returns at once.
func (t *Turn) Head() bool { return t.head }

// Wait blocks until every earlier unit has committed; the unit may then
// commit. It returns ErrEarlierFailed when one failed, ErrYield when ctx
// ends while the context Execute was given has not (the caller bounds the
// wait with a deadline), and the error of Execute's context when that
// ends.
func (t *Turn) Wait(ctx context.Context) error {
	if t.head || t.i == 0 {
		return nil
	}
	select {
	case <-t.e.done[t.i-1]:
	default:
		select {
		case <-t.e.done[t.i-1]:
		case <-ctx.Done():
			if err := t.e.ctx.Err(); err != nil {
				return err
			}
			return ErrYield
		}
	}
	if t.e.failed[t.i-1] {
		return ErrEarlierFailed
	}
	t.head = true
	return nil
}

type exec struct {
	ctx    context.Context
	done   []chan struct{} // closed when the unit committed or failed
	failed []bool          // written before done closes
}

// Execute runs units on at most workers goroutines, in their order: unit i
// starts when a worker is free and unit After committed. run executes a
// unit: its statements, then t.Wait, then its commit; it returns nil once
// committed. A run that returns ErrYield is run again, alone, once the
// units before it committed. Execute returns how many units committed
// (always a prefix of units) and the error of the first that failed; units
// after a failure are not committed.
func Execute(ctx context.Context, units []Unit, workers int, run func(ctx context.Context, i int, t *Turn) error) (int, error) {
	e := &exec{ctx: ctx, done: make([]chan struct{}, len(units)), failed: make([]bool, len(units))}
	for i := range e.done {
		e.done[i] = make(chan struct{})
	}
	errs := make([]error, len(units))
	slots := make(chan struct{}, max(workers, 1))
	var wg sync.WaitGroup
	started := 0
dispatch:
	for i, u := range units {
		if u.After >= i {
			errs[i] = fmt.Errorf("unit %d depends on a later unit %d", i, u.After)
			break
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			break dispatch
		}
		if u.After >= 0 {
			select {
			case <-e.done[u.After]:
			case <-ctx.Done():
				<-slots
				break dispatch
			}
			if e.failed[u.After] {
				<-slots
				break
			}
		}
		started++
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			errs[i] = e.unit(i, run)
			e.failed[i] = errs[i] != nil
			close(e.done[i])
		}()
	}
	wg.Wait()
	committed := 0
	for committed < started && errs[committed] == nil {
		committed++
	}
	switch {
	case committed < len(errs) && errs[committed] != nil:
		return committed, errs[committed]
	case committed < len(units):
		if err := ctx.Err(); err != nil {
			return committed, err
		}
		return committed, ErrEarlierFailed
	}
	return committed, nil
}

// unit runs unit i until it commits or fails.
func (e *exec) unit(i int, run func(ctx context.Context, i int, t *Turn) error) error {
	t := &Turn{e: e, i: i, head: i == 0}
	for {
		err := run(e.ctx, i, t)
		if !errors.Is(err, ErrYield) {
			return err
		}
		if t.head {
			return fmt.Errorf("unit %d yielded while alone in its turn", i)
		}
		if err := t.Wait(e.ctx); err != nil {
			return err
		}
	}
}

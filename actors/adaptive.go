package actors

import (
	"net"
	"strconv"
	"sync"

	"github.com/dmnode/dmnode/core/adaptive"
	"github.com/dmnode/dmnode/core/config"
)

// Adaptive concurrency. A task's file rarely sets thread counts, and the
// defaults (DM's pool-size and worker-count, 16 each) are far from what a
// given target takes: three loaders of 16 connections into one table of a
// small target spend their time waiting on each other. So each writer
// starts small and lets an adaptive.Limit move it between one and the
// task's setting (its maximum) by the throughput it measures; the loaders
// of one task into one target on this node share one budget of that size,
// since they load the same server. An applier's limit is its own: while it
// keeps up with its source, a step up brings no gain and it settles low.

// Where the limits start: a loader with two connections, an applier with
// four (it runs a batch's independent upstream transactions on them,
// committing in the source's order; with one it commits the batch and
// its checkpoint in one transaction).
const (
	loadStartConns  = 2
	applyStartConns = 4
)

// applyLimit is an applier's limit over workers connections (the task's
// worker-count; one for a sharded task).
func applyLimit(workers int) *adaptive.Limit {
	return adaptive.New(adaptive.Config{Min: 1, Max: workers, Start: min(applyStartConns, workers)})
}

// budgets holds a budget per task and target address.
var budgets = struct {
	sync.Mutex
	m map[string]*adaptive.Budget
}{m: map[string]*adaptive.Budget{}}

func targetBudget(task string, target config.DBConfig, total int) *adaptive.Budget {
	key := task + "\x00" + net.JoinHostPort(target.Host, strconv.Itoa(target.Port))
	budgets.Lock()
	defer budgets.Unlock()
	b, ok := budgets.m[key]
	if !ok {
		b = adaptive.NewBudget(total)
		budgets.m[key] = b
	}
	return b
}

// adapt sets up the loader's limit, its share of the task's budget and
// the gate its workers pass.
func (ld *loadRun) adapt(task string, target config.DBConfig, pool int) {
	ld.limit = adaptive.New(adaptive.Config{Min: 1, Max: pool, Start: min(loadStartConns, pool)})
	ld.budget = targetBudget(task, target, pool)
	ld.budget.Join(ld.l.source, ld.limit)
	ld.gate = adaptive.NewGate(func() int {
		n, _ := ld.limit.Current()
		return ld.budget.Grant(ld.l.source, n)
	})
}

// connections returns the connections the loader may use now and why.
func (ld *loadRun) connections() (int, string) {
	if ld.limit == nil {
		return 0, ""
	}
	n, why := ld.limit.Current()
	if g := ld.budget.Grant(ld.l.source, n); g < n {
		return g, why + "; capped by the task's budget for this target"
	}
	return n, why
}

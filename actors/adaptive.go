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
// small target spend their time waiting on each other. So writers start
// small and an adaptive.Limit moves them between one connection and the
// task's setting (its maximum) by the throughput it measures. The loaders
// of one task into one target on this node share one limit, judged on
// their throughput together, each using an equal share of it: they load
// the same server, and when one finishes the others take its connections
// at once. Their throughput rises on its own while the dump starts and
// when it ends, so a step up is kept only once a window back at the lower
// limit confirms it (adaptive.Config.Verify). An applier's limit is its
// own: while it keeps up with its source, a step up brings no gain and it
// settles low.

// Where the limits start: the loaders of a task into one target with four
// connections between them, an applier with four (it runs a batch's
// independent upstream transactions on them, committing in the source's
// order; with one it commits the batch and its checkpoint in one
// transaction).
const (
	loadStartConns  = 4
	applyStartConns = 4
)

// applyLimit is an applier's limit over workers connections (the task's
// worker-count; one for a sharded task).
func applyLimit(workers int) *adaptive.Limit {
	return adaptive.New(adaptive.Config{Min: 1, Max: workers, Start: min(applyStartConns, workers)})
}

// budgets holds the budget of each task and target address while a
// loader of it runs.
var budgets = struct {
	sync.Mutex
	m map[string]*adaptive.Budget
}{m: map[string]*adaptive.Budget{}}

func budgetKey(task string, target config.DBConfig) string {
	return task + "\x00" + net.JoinHostPort(target.Host, strconv.Itoa(target.Port))
}

// joinBudget adds loader source to the budget of task and target (created
// with a limit of at most pool connections) and returns it.
func joinBudget(task string, target config.DBConfig, pool int, source string) *adaptive.Budget {
	key := budgetKey(task, target)
	budgets.Lock()
	defer budgets.Unlock()
	b, ok := budgets.m[key]
	if !ok {
		b = adaptive.NewBudget(adaptive.Config{Min: 1, Max: pool, Start: min(loadStartConns, pool), Verify: true})
		budgets.m[key] = b
	}
	b.Join(source)
	return b
}

// leaveBudget removes loader source from the budget, and the budget once
// no loader is left.
func leaveBudget(task string, target config.DBConfig, source string, b *adaptive.Budget) {
	budgets.Lock()
	defer budgets.Unlock()
	if b.Leave(source) && budgets.m[budgetKey(task, target)] == b {
		delete(budgets.m, budgetKey(task, target))
	}
}

// adapt sets up the loader's share of the task's budget for the target and
// the gate its workers pass; the returned func leaves the budget.
func (ld *loadRun) adapt(task string, target config.DBConfig, pool int) func() {
	ld.budget = joinBudget(task, target, pool, ld.l.source)
	ld.limit = ld.budget.Limit()
	ld.gate = adaptive.NewGate(func() int {
		n, _ := ld.budget.Share(ld.l.source)
		return n
	})
	return func() { leaveBudget(task, target, ld.l.source, ld.budget) }
}

// connections returns the connections the loader may use now and why.
func (ld *loadRun) connections() (int, string) {
	if ld.budget == nil {
		return 0, ""
	}
	return ld.budget.Share(ld.l.source)
}

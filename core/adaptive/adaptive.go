// Package adaptive sizes the number of connections a writer uses against a
// target while it runs, so that a task needs no hand-set thread counts. A
// Limit starts small and climbs while throughput rises with it; when a step
// up brings no gain, or latency grows while throughput does not, it steps
// back and holds, probing again later (a hill climb on measured throughput,
// with a multiplicative decrease on congestion, in the manner of TCP
// Vegas and Netflix's gradient limiter). A Budget shares one ceiling among
// the writers into one target. Pure: time is passed in.
package adaptive

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Config bounds a Limit.
type Config struct {
	// Min and Max bound the limit; Max is the task's own setting when the
	// user gave one. Start is where it begins (Min when zero).
	Min, Max, Start int
	// Window is how long each limit is measured before it is judged
	// (one second when zero).
	Window time.Duration
}

// Judgement thresholds: a step up must raise throughput by gain to be kept;
// latency over congested times its best, without a throughput gain, is
// congestion. hold is how many windows the limit stays after a step back
// before it probes upwards again.
const (
	gain      = 0.05
	congested = 2.0
	hold      = 5
)

// Limit is one writer's concurrency limit. Safe for concurrent use.
type Limit struct {
	mu  sync.Mutex
	cfg Config

	cur    int
	reason string

	// the window being measured
	start   time.Time
	units   int64
	ops     int64
	latency time.Duration

	// what the previous window measured, at prevLimit
	prevRate  float64
	prevLimit int
	stepped   int  // the last decision's step: +1 up, -1 down, 0 none
	probeDown bool // the next probe goes down: the last one up did not pay
	holdLeft  int
	bestLat   time.Duration // lowest mean latency seen
}

// New returns a Limit at cfg.Start.
func New(cfg Config) *Limit {
	if cfg.Min < 1 {
		cfg.Min = 1
	}
	if cfg.Max < cfg.Min {
		cfg.Max = cfg.Min
	}
	if cfg.Start < cfg.Min {
		cfg.Start = cfg.Min
	}
	if cfg.Start > cfg.Max {
		cfg.Start = cfg.Max
	}
	if cfg.Window <= 0 {
		cfg.Window = time.Second
	}
	return &Limit{cfg: cfg, cur: cfg.Start, reason: "start"}
}

// Current returns the limit and why it is what it is.
func (l *Limit) Current() (int, string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cur, l.reason
}

// Done records one finished unit of work (a statement group, a chunk):
// units of progress (rows) that took latency on its connection, finished
// at now. At the end of a window it judges the window and may change the
// limit; it returns the limit in force after.
func (l *Limit) Done(now time.Time, units int64, latency time.Duration) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.start.IsZero() {
		l.start = now
	}
	l.units += units
	l.ops++
	l.latency += latency
	if now.Sub(l.start) >= l.cfg.Window {
		l.judge(now)
	}
	return l.cur
}

// judge ends the window at now.
func (l *Limit) judge(now time.Time) {
	secs := now.Sub(l.start).Seconds()
	rate := float64(l.units) / secs
	lat := l.latency / time.Duration(max(l.ops, 1))
	l.start, l.units, l.ops, l.latency = now, 0, 0, 0
	if l.bestLat == 0 || lat < l.bestLat {
		l.bestLat = lat
	}
	prev, prevLimit, stepped := l.prevRate, l.prevLimit, l.stepped
	l.prevRate, l.prevLimit, l.stepped = rate, l.cur, 0
	switch {
	case prevLimit == 0:
		// The first window: nothing to compare with yet.
		l.up(fmt.Sprintf("probing: %.0f/s at %d", rate, l.cur))
	case stepped > 0 && rate >= prev*(1+gain):
		l.up(fmt.Sprintf("throughput rose %.0f%% from %d to %d", 100*(rate/prev-1), prevLimit, l.cur))
	case stepped > 0:
		l.set(prevLimit, fmt.Sprintf("no gain from %d to %d connections (%.0f/s vs %.0f/s)", prevLimit, l.cur, rate, prev))
		l.holdLeft, l.probeDown = hold, true
	case stepped < 0 && rate >= prev*(1-gain):
		// As fast with fewer: keep the lower limit, and try lower still
		// after a while.
		l.reason = fmt.Sprintf("as fast with %d connections as with %d (%.0f/s vs %.0f/s)", l.cur, prevLimit, rate, prev)
		l.holdLeft = hold
	case stepped < 0:
		l.set(prevLimit, fmt.Sprintf("slower with %d connections than with %d (%.0f/s vs %.0f/s)", l.cur, prevLimit, rate, prev))
		l.holdLeft, l.probeDown = hold, false
	case float64(lat) > congested*float64(l.bestLat) && rate < prev*(1+gain) && l.cur > l.cfg.Min:
		l.set(max(l.cfg.Min, l.cur*3/4), fmt.Sprintf("latency %v is over %.0f× its best %v without more throughput", lat.Round(time.Millisecond), congested, l.bestLat.Round(time.Millisecond)))
		l.holdLeft = hold
	case l.holdLeft > 0:
		l.holdLeft--
	case l.probeDown && l.cur > l.cfg.Min:
		l.set(l.cur-1, fmt.Sprintf("probing below %d", l.cur))
		l.stepped = -1
	default:
		l.probeDown = false
		l.up(fmt.Sprintf("probing above %d", l.cur))
	}
}

// up raises the limit by one, or says it is at the maximum.
func (l *Limit) up(reason string) {
	if l.cur >= l.cfg.Max {
		l.reason = fmt.Sprintf("at the maximum, %d", l.cfg.Max)
		return
	}
	l.set(l.cur+1, reason)
	l.stepped = 1
}

func (l *Limit) set(n int, reason string) {
	l.cur = min(max(n, l.cfg.Min), l.cfg.Max)
	l.reason = reason
}

// Budget shares a ceiling of connections among the writers into one
// target (the loaders or appliers of a task's sources on one node). Safe
// for concurrent use.
type Budget struct {
	mu    sync.Mutex
	total int
	held  map[string]int
}

// NewBudget returns a budget of total connections.
func NewBudget(total int) *Budget {
	return &Budget{total: max(total, 1), held: map[string]int{}}
}

// Grant returns how many of want connections writer id may use: want when
// the budget has room, else what is left after the others (at least one,
// so that no writer stops). The grant replaces id's previous one.
func (b *Budget) Grant(id string, want int) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	others := 0
	for k, n := range b.held {
		if k != id {
			others += n
		}
	}
	n := max(1, min(want, b.total-others))
	b.held[id] = n
	return n
}

// Release returns id's connections to the budget.
func (b *Budget) Release(id string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.held, id)
}

// Gate admits at most a changing number of holders at once: the workers
// of a writer each hold it while they use a connection, and size tells how
// many may. Safe for concurrent use.
type Gate struct {
	mu      sync.Mutex
	held    int
	size    func() int
	changed chan struct{} // closed and replaced when a holder leaves
}

// NewGate returns a gate that admits size() holders.
func NewGate(size func() int) *Gate {
	return &Gate{size: size, changed: make(chan struct{})}
}

// Acquire blocks until the gate admits the caller or ctx ends (then it
// returns ctx's error and the caller holds nothing).
func (g *Gate) Acquire(ctx context.Context) error {
	for {
		g.mu.Lock()
		if g.held < max(1, g.size()) {
			g.held++
			g.mu.Unlock()
			return nil
		}
		wait := g.changed
		g.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Release lets one holder go; a waiting caller is admitted if the size
// allows.
func (g *Gate) Release() {
	g.mu.Lock()
	g.held--
	close(g.changed)
	g.changed = make(chan struct{})
	g.mu.Unlock()
}

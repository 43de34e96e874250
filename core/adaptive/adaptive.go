// Package adaptive sizes the number of connections a writer uses against a
// target while it runs, so that a task needs no hand-set thread counts. A
// Limit starts small and climbs while throughput rises with it; when a step
// up brings no gain, or latency grows while throughput does not, it steps
// back and holds, probing again later (a hill climb on measured throughput,
// with a multiplicative decrease on congestion, in the manner of TCP
// Vegas and Netflix's gradient limiter). It climbs only while its
// connections are busy: a writer that waits on its input is limited by
// that, not by the target (TCP's rule for an application-limited sender,
// RFC 7661). A writer whose throughput moves on its own can have each step
// up confirmed by a window back at the lower limit (Config.Verify). A
// Budget shares one limit among the writers into one target.
// Pure: time is passed in.
package adaptive

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Config bounds a Limit.
type Config struct {
	// Min and Max bound the limit; Max is the task's own setting when the
	// user gave one. Start is where it begins (Min when zero).
	Min, Max, Start int
	// Verify keeps a step up only once a window back at the lower limit
	// confirms it: the step's throughput must beat the mean of the windows
	// before and after it (A/B/A), which cancels a throughput that rises
	// or falls on its own, as a loader's does while its dump starts and
	// ends. A climb then takes three windows a step instead of one: the
	// step, the window back, and one at the kept limit, the next step's
	// baseline.
	Verify bool
	// Window is how long each limit is measured before it is judged
	// (one second when zero). A window also lasts until each connection
	// of the limit finished opsPerConn units of work on average: a window
	// of a statement or two measures the statements' sizes and timing,
	// not the limit (on a loaded host one message took seconds to load).
	Window time.Duration
}

// Judgement thresholds: a step up must raise throughput by gain to be kept;
// a step down is kept when throughput does not fall. Latency (per unit of
// work) over congested times its best, without a throughput gain, is
// congestion. A rise of throughput by freed at the same limit means the
// target has more room (a writer beside this one finished, a competing
// load ended): the limit climbs again at once. hold is how many windows
// the limit stays after a step back before it probes again; bestDecay is
// how much the best latency is allowed to grow a window, so that a best
// seen at a quiet moment long ago fades. A window whose connections were
// busy less than busyShare of the time on average (the work's
// connection-time over the window's, against the limit) was limited by
// the writer's input: it says nothing of what more connections would do.
const (
	gain       = 0.05
	congested  = 2.0
	freed      = 0.25
	hold       = 5
	bestDecay  = 1.02
	opsPerConn = 2
	busyShare  = 0.75
)

// Limit is one writer's concurrency limit, moved one connection at a
// time. (Doubling steps while they paid, as TCP's slow start does,
// overshot to 11-16 connections on the 2-core bench host, where a window
// of noise looked like a gain, and the copy was slower for it.) A rise of
// throughput at the same limit (the target has more room) ends a hold
// and probes upwards at once. Safe for concurrent use.
type Limit struct {
	mu  sync.Mutex
	cfg Config

	cur    int
	reason string
	// floor is the lowest limit that means anything: a Budget's writers
	// get a connection each however low the limit, so it is their count
	// (at most Max); 0 when not set, and Min applies.
	floor int

	// the window being measured
	start   time.Time
	units   int64
	ops     int64
	latency time.Duration
	busy    time.Duration // connection-time spent on the window's work
	busyOps int64         // units that reported it (DoneOn)

	// what the previous window measured, at prevLimit
	prevRate  float64
	prevLimit int
	stepped   int     // the last decision's step: > 0 up, < 0 down, 0 none
	probeDown bool    // the next probe goes down: the last one up did not pay
	holdLeft  int     // windows to stay before probing again
	bestLat   float64 // lowest latency per unit seen (decaying), in seconds

	// a step up being verified (Config.Verify): the window back at the
	// lower limit is under way; upRate was measured at upLimit, baseRate
	// at the lower limit before the step
	verifying        bool
	upRate, baseRate float64
	upLimit          int
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
	return l.done(now, units, latency, -1)
}

// DoneOn is Done from a writer that knows how long its work held
// connections: busy is that time, summed over the connections a unit
// used. A window in which they were mostly idle then holds the limit (see
// busyShare); with Done alone every window is judged on its throughput.
func (l *Limit) DoneOn(now time.Time, units int64, latency, busy time.Duration) int {
	return l.done(now, units, latency, busy)
}

func (l *Limit) done(now time.Time, units int64, latency, busy time.Duration) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.start.IsZero() {
		// The first window starts when its first unit began, so that
		// the unit is not counted as done in no time.
		l.start = now.Add(-latency)
	}
	l.units += units
	l.ops++
	l.latency += latency
	if busy >= 0 {
		l.busy += busy
		l.busyOps++
	}
	if now.Sub(l.start) >= l.cfg.Window && l.ops >= int64(opsPerConn*l.cur) {
		l.judge(now)
	}
	return l.cur
}

// judge ends the window at now.
func (l *Limit) judge(now time.Time) {
	secs := now.Sub(l.start).Seconds()
	rate := float64(l.units) / secs
	// Latency per unit of work, so that a window of small statements (a
	// chunk's last) does not look faster than one of large ones.
	lat := l.latency.Seconds() / float64(max(l.units, l.ops, 1))
	// Connections in use on average (Little's law): under busyShare of
	// the limit, the writer waited on its input, not on the target.
	inUse := l.busy.Seconds() / secs
	idle := l.busyOps == l.ops && inUse < busyShare*float64(l.cur)
	l.start, l.units, l.ops, l.latency, l.busy, l.busyOps = now, 0, 0, 0, 0, 0
	if l.bestLat == 0 || lat < l.bestLat {
		l.bestLat = lat
	} else {
		l.bestLat = min(lat, l.bestLat*bestDecay)
	}
	prev, prevLimit, stepped := l.prevRate, l.prevLimit, l.stepped
	l.prevRate, l.prevLimit, l.stepped = rate, l.cur, 0
	if l.verifying {
		l.verifying = false
		if base := (l.baseRate + rate) / 2; !idle && l.upRate >= base*(1+gain) {
			l.set(l.upLimit, fmt.Sprintf("throughput rose %.0f%% from %d to %d connections, against the windows before and after at %d",
				100*(l.upRate/base-1), l.cur, l.upLimit, l.cur))
		} else {
			l.reason = fmt.Sprintf("no gain from %d to %d connections once the window back at %d is counted (%.0f/s vs %.0f/s)",
				l.cur, l.upLimit, l.cur, l.upRate, (l.baseRate+rate)/2)
			l.holdLeft, l.probeDown = hold, true
		}
		return
	}
	switch {
	case idle && stepped > 0:
		// The step up was not used: whatever the throughput did, the
		// input set it. Fewer connections do the same.
		l.set(prevLimit, fmt.Sprintf("%.1f of %d connections busy on average: the work waits on its input, not on the target", inUse, l.cur))
		l.holdLeft, l.probeDown = hold, false
	case idle:
		// Nothing to learn of more connections or of fewer: the limit
		// holds until its connections are busy again.
		l.reason = fmt.Sprintf("%.1f of %d connections busy on average: the work waits on its input, not on the target", inUse, l.cur)
		l.holdLeft = max(0, l.holdLeft-1)
	case prevLimit == 0:
		// The first window: nothing to compare with yet.
		l.up(fmt.Sprintf("probing: %.0f/s at %d", rate, l.cur))
	case stepped > 0 && rate >= prev*(1+gain) && l.cfg.Verify:
		l.verifying, l.upRate, l.baseRate, l.upLimit = true, rate, prev, l.cur
		l.set(prevLimit, fmt.Sprintf("throughput rose %.0f%% from %d to %d: back at %d for a window to confirm it",
			100*(rate/prev-1), prevLimit, l.upLimit, prevLimit))
	case stepped > 0 && rate >= prev*(1+gain):
		l.up(fmt.Sprintf("throughput rose %.0f%% from %d to %d", 100*(rate/prev-1), prevLimit, l.cur))
	case stepped > 0:
		l.set(prevLimit, fmt.Sprintf("no gain from %d to %d connections (%.0f/s vs %.0f/s)", prevLimit, l.cur, rate, prev))
		l.holdLeft, l.probeDown = hold, true
	case stepped < 0 && rate >= prev:
		// As fast with fewer: keep the lower limit, and try lower still
		// after a while.
		l.reason = fmt.Sprintf("as fast with %d connections as with %d (%.0f/s vs %.0f/s)", l.cur, prevLimit, rate, prev)
		l.holdLeft = hold
	case stepped < 0:
		l.set(prevLimit, fmt.Sprintf("slower with %d connections than with %d (%.0f/s vs %.0f/s)", l.cur, prevLimit, rate, prev))
		l.holdLeft, l.probeDown = hold, false
	case prevLimit == l.cur && prev > 0 && rate >= prev*(1+freed) && l.cur < l.cfg.Max:
		l.holdLeft, l.probeDown = 0, false
		l.up(fmt.Sprintf("throughput rose %.0f%% at %d connections: probing above", 100*(rate/prev-1), l.cur))
	case lat > congested*l.bestLat && rate < prev*(1+gain) && l.cur > l.lowest():
		l.set(max(l.lowest(), l.cur*3/4), fmt.Sprintf("latency %v per unit is over %.0f× its best %v without more throughput",
			seconds(lat), congested, seconds(l.bestLat)))
		l.holdLeft = hold
	case l.holdLeft > 0:
		l.holdLeft--
	case l.probeDown && l.cur > l.lowest():
		l.set(l.cur-1, fmt.Sprintf("probing below %d", l.cur))
		l.stepped = -1
	default:
		l.probeDown = false
		l.up(fmt.Sprintf("probing above %d", l.cur))
	}
}

// lowest is the lowest the limit goes: Min, or the floor a Budget set.
func (l *Limit) lowest() int { return max(l.cfg.Min, l.floor) }

// setFloor raises (or lowers back) the lowest limit to n, at most Max, and
// the limit to it if it is lower.
func (l *Limit) setFloor(n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.floor = min(n, l.cfg.Max)
	if l.cur < l.lowest() {
		l.cur = l.lowest()
		l.reason = fmt.Sprintf("one connection for each of %d writers", l.floor)
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
	l.cur = min(max(n, l.lowest()), l.cfg.Max)
	l.reason = reason
}

// seconds is a latency in seconds as a readable duration.
func seconds(s float64) time.Duration {
	d := time.Duration(s * float64(time.Second))
	if d > time.Millisecond {
		return d.Round(10 * time.Microsecond)
	}
	return d
}

// Budget is one Limit for several writers into one target (the loaders of
// a task's sources on one node). They load the same server, so the limit
// is judged on their throughput together, and each writer still running
// may use an equal share of it, and at least one connection: the limit
// does not go below their count, where a step would change nothing (with
// eight writers and a limit of 4, steps from 4 to 8 were judged on noise
// alone). A limit of each writer's own, judged on
// its part alone, measured a fraction of the statements (a window of one
// or two on a loaded host), counted as gain what it took from the others,
// and needed many windows to take back the connections of a writer that
// finished; a shared one has three times the statements per window, and
// when a writer leaves the others' shares grow at once. Safe for
// concurrent use.
type Budget struct {
	limit   *Limit
	mu      sync.Mutex
	writers []string       // in the order they joined
	joined  map[string]int // how many times each joined and did not leave
}

// NewBudget returns a budget whose limit is cfg's: Max is the ceiling of
// connections over every writer.
func NewBudget(cfg Config) *Budget {
	return &Budget{limit: New(cfg), joined: map[string]int{}}
}

// Limit is the budget's limit: every writer reports its work done to it.
func (b *Budget) Limit() *Limit { return b.limit }

// Join adds writer id. A writer that joins again before it left (a
// restarted writer whose old run has not returned yet) keeps its place,
// and leaves when it left as many times.
func (b *Budget) Join(id string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.joined[id] == 0 {
		b.writers = append(b.writers, id)
	}
	b.joined[id]++
	b.limit.setFloor(len(b.writers))
}

// Leave removes writer id; the others' shares grow at once. It reports
// whether no writer is left.
func (b *Budget) Leave(id string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.joined[id] > 1 {
		b.joined[id]--
		return false
	}
	delete(b.joined, id)
	if i := slices.Index(b.writers, id); i >= 0 {
		b.writers = slices.Delete(b.writers, i, i+1)
	}
	b.limit.setFloor(len(b.writers))
	return len(b.writers) == 0
}

// Share returns how many connections writer id may use now and why: its
// part of the limit, divided as evenly as it goes (the writers that joined
// first get the remainder), at least one so that no writer stops.
func (b *Budget) Share(id string) (int, string) {
	n, why := b.limit.Current()
	b.mu.Lock()
	defer b.mu.Unlock()
	k := len(b.writers)
	i := slices.Index(b.writers, id)
	if k <= 1 || i < 0 {
		return n, why
	}
	share := n / k
	if i < n%k {
		share++
	}
	return max(1, share), fmt.Sprintf("%s; %d of the %d shared by %d writers into this target", why, max(1, share), n, k)
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

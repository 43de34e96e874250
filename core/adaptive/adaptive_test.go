package adaptive

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// target models a server whose throughput grows with connections up to
// knee, then stays flat (or falls by drop per extra connection); a
// statement's latency follows from it (connections over throughput).
type target struct {
	knee    int
	perConn float64 // rows/s one connection moves
	drop    float64 // fraction of throughput lost per connection past the knee
}

func (t target) rate(n int) float64 {
	r := float64(min(n, t.knee)) * t.perConn
	if n > t.knee {
		r *= max(0.1, 1-t.drop*float64(n-t.knee))
	}
	return r
}

// tick advances now by 100 ms in which the limit's n connections, busy
// the whole tick, move t's rows at n connections (times noise): one unit
// of work each. Latency per row is then the target's (Little's law).
func tick(l *Limit, now time.Time, t target, noise float64) time.Time {
	n, _ := l.Current()
	now = now.Add(100 * time.Millisecond)
	for range n {
		l.DoneOn(now, int64(t.rate(n)*noise/10/float64(n)), 100*time.Millisecond, 100*time.Millisecond)
	}
	return now
}

// run drives a Limit against t for windows seconds of virtual time and
// returns the limits it chose, one a window.
func run(l *Limit, t target, windows int) []int {
	now := time.Unix(0, 0)
	var seen []int
	for range windows {
		for range 10 {
			now = tick(l, now, t, 1)
		}
		n, _ := l.Current()
		seen = append(seen, n)
	}
	return seen
}

func TestLimitFindsTheKnee(t *testing.T) {
	for _, verify := range []bool{false, true} {
		t.Run(fmt.Sprintf("verify=%v", verify), func(t *testing.T) { findsTheKnee(t, verify) })
	}
}

func findsTheKnee(t *testing.T, verify bool) {
	for _, tc := range []struct {
		name   string
		target target
		max    int
		lo, hi int // where the limit must settle, the last 20 windows
	}{
		{"knee at 4", target{knee: 4, perConn: 10000}, 16, 3, 5},
		{"knee at 1: no gain from more", target{knee: 1, perConn: 30000}, 16, 1, 2},
		{"throughput falls past the knee", target{knee: 3, perConn: 10000, drop: 0.2}, 16, 2, 4},
		{"bounded by the task's setting", target{knee: 12, perConn: 10000}, 6, 6, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := New(Config{Min: 1, Max: tc.max, Start: 2, Verify: verify})
			seen := run(l, tc.target, 60)
			for i, n := range seen[40:] {
				if n < tc.lo || n > tc.hi {
					t.Fatalf("window %d: limit %d outside [%d, %d]; limits %v", 40+i, n, tc.lo, tc.hi, seen)
				}
			}
			if _, reason := l.Current(); reason == "" {
				t.Errorf("no reason given")
			}
		})
	}
}

func TestLimitReasons(t *testing.T) {
	l := New(Config{Min: 1, Max: 8, Start: 1})
	tg := target{knee: 2, perConn: 10000}
	var reasons []string
	now := time.Unix(0, 0)
	for range 8 {
		for range 10 {
			now = tick(l, now, tg, 1)
		}
		n, r := l.Current()
		reasons = append(reasons, fmt.Sprintf("%d: %s", n, r))
	}
	all := strings.Join(reasons, "\n")
	for _, want := range []string{"throughput rose", "no gain from 2 to 3"} {
		if !strings.Contains(all, want) {
			t.Errorf("reasons lack %q:\n%s", want, all)
		}
	}
}

func TestBudget(t *testing.T) {
	b := NewBudget(Config{Min: 1, Max: 16, Start: 5})
	b.Join("a")
	if n, _ := b.Share("a"); n != 5 {
		t.Fatalf("a alone has %d, want the whole limit 5", n)
	}
	b.Join("b")
	b.Join("c")
	b.Join("a") // again, before it left: keeps its place
	var got []int
	for _, id := range []string{"a", "b", "c"} {
		n, why := b.Share(id)
		if !strings.Contains(why, "shared by 3 writers") {
			t.Errorf("%s's reason %q does not say the limit is shared", id, why)
		}
		got = append(got, n)
	}
	if fmt.Sprint(got) != "[2 2 1]" {
		t.Fatalf("shares of 5 among 3: %v, want [2 2 1]", got)
	}
	if b.Leave("a"); fmt.Sprint(b.writers) != "[a b c]" {
		t.Fatalf("a left once of the twice it joined: writers %v, want [a b c]", b.writers)
	}
	if b.Leave("a") {
		t.Fatal("Leave reported no writer left with b and c")
	}
	if n, _ := b.Share("c"); n != 2 {
		t.Fatalf("c has %d after a left, want 2 (b 3, c 2 of 5)", n)
	}
	if n, _ := b.Share("b"); n != 3 {
		t.Fatalf("b has %d after a left, want 3", n)
	}
	b.Leave("b")
	if n, _ := b.Share("c"); n != 5 {
		t.Fatalf("c alone has %d, want 5", n)
	}
	if !b.Leave("c") {
		t.Fatal("Leave of the last writer did not report it")
	}
	small := NewBudget(Config{Min: 1, Max: 16, Start: 1})
	small.Join("a")
	small.Join("b")
	if n, _ := small.Share("b"); n != 1 {
		t.Fatalf("b has %d of a limit of 1 between two, want at least 1", n)
	}
}

// A budget's limit does not go under its writers' count, where each gets
// one connection whatever the limit says: steps there would be judged on
// noise. It stays where it is when writers leave.
func TestBudgetFloor(t *testing.T) {
	b := NewBudget(Config{Min: 1, Max: 16, Start: 4})
	for i := range 8 {
		b.Join(fmt.Sprintf("w%d", i))
	}
	if n, why := b.Limit().Current(); n != 8 || !strings.Contains(why, "8 writers") {
		t.Fatalf("8 writers on a limit started at 4: %d (%s), want 8", n, why)
	}
	// A target at its knee with 2 connections: the limit steps down but
	// not under the writers.
	l, now := b.Limit(), time.Unix(0, 0)
	for range 30 {
		for range 10 {
			now = tick(l, now, target{knee: 2, perConn: 10000, drop: 0.1}, 1)
		}
		if n, _ := l.Current(); n < 8 {
			t.Fatalf("the limit went to %d under 8 writers", n)
		}
	}
	for i := range 5 {
		b.Leave(fmt.Sprintf("w%d", i))
	}
	if n, _ := b.Limit().Current(); n < 8 {
		t.Fatalf("the limit fell to %d when writers left; the others take their connections", n)
	}
	capped := NewBudget(Config{Min: 1, Max: 2, Start: 1})
	for i := range 3 {
		capped.Join(fmt.Sprintf("w%d", i))
	}
	if n, _ := capped.Limit().Current(); n != 2 {
		t.Fatalf("3 writers under a maximum of 2: limit %d, want the maximum", n)
	}
}

// On a noisy machine (each window's throughput off by up to 8%, seeded) the
// limit stays near the knee instead of wandering off.
func TestLimitUnderNoise(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	tg := target{knee: 4, perConn: 10000}
	l := New(Config{Min: 1, Max: 16, Start: 2})
	now := time.Unix(0, 0)
	var seen []int
	for range 200 {
		for range 10 {
			now = tick(l, now, tg, 1+(rng.Float64()*2-1)*0.08)
		}
		n, _ := l.Current()
		seen = append(seen, n)
	}
	for i, n := range seen[40:] {
		if n < 2 || n > 7 {
			t.Fatalf("window %d: limit %d outside [2, 7]; limits %v", 40+i, n, seen)
		}
	}
}

func TestGate(t *testing.T) {
	size := 2
	var mu sync.Mutex
	g := NewGate(func() int { mu.Lock(); defer mu.Unlock(); return size })
	ctx := context.Background()
	if err := g.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	if err := g.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	third := make(chan error, 1)
	go func() { third <- g.Acquire(ctx) }()
	select {
	case err := <-third:
		t.Fatalf("a third holder got in past a size of 2 (err %v)", err)
	default:
	}
	mu.Lock()
	size = 1
	mu.Unlock()
	g.Release() // one holder left, size 1: still full
	select {
	case err := <-third:
		t.Fatalf("a holder got in while the gate was full (err %v)", err)
	default:
	}
	g.Release()
	if err := <-third; err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := g.Acquire(cctx); err == nil {
		t.Fatal("Acquire on a full gate with an ended context succeeded")
	}
}

// server models a target that several writers load at once: its
// throughput grows with the connections in use over all of them up to
// knee, then falls by drop per connection past it, and each writer gets a
// share in proportion to its connections. A writer's latency per row is
// then the target's (Little's law: connections over throughput).
type server struct {
	knee    int
	perConn float64
	drop    float64
}

func (s server) total(n int) float64 {
	return target{knee: s.knee, perConn: s.perConn, drop: s.drop}.rate(n)
}

// simWriter is one loader of the simulation: rows to write, and the
// window it finished in, or -1.
type simWriter struct {
	id       string
	rows     float64
	finished int
}

// simulate runs writers (one per entry of rows) into s for at most
// windows windows of ten 100 ms ticks, sharing a Budget as the loaders of
// a task do (a limit between 1 and maxConns, starting at start, its steps
// up verified). It
// returns the connections in use at the end of every window, summed over
// the writers still running, and the writers.
func simulate(s server, start, maxConns int, rows []float64, windows int) ([]int, []*simWriter) {
	b := NewBudget(Config{Min: 1, Max: maxConns, Start: start, Verify: true})
	var ws []*simWriter
	for i, r := range rows {
		w := &simWriter{id: fmt.Sprintf("w%d", i+1), rows: r, finished: -1}
		b.Join(w.id)
		ws = append(ws, w)
	}
	now := time.Unix(0, 0)
	var inUse []int
	for win := range windows {
		sum := 0
		for range 10 {
			now = now.Add(100 * time.Millisecond)
			conns := map[string]int{}
			sum = 0
			for _, w := range ws {
				if w.finished < 0 {
					conns[w.id], _ = b.Share(w.id)
					sum += conns[w.id]
				}
			}
			if sum == 0 {
				return inUse, ws
			}
			rate := s.total(sum)
			for _, w := range ws {
				n, ok := conns[w.id]
				if !ok {
					continue
				}
				moved := min(w.rows, rate*float64(n)/float64(sum)/10)
				w.rows -= moved
				// Each of the n connections finished a statement of
				// its share of the rows in the tick.
				for range n {
					b.Limit().DoneOn(now, int64(moved)/int64(n), 100*time.Millisecond, 100*time.Millisecond)
				}
				if w.rows < 1 {
					w.finished = win
					b.Leave(w.id)
				}
			}
		}
		sum = 0
		for _, w := range ws {
			if w.finished < 0 {
				n, _ := b.Share(w.id)
				sum += n
			}
		}
		inUse = append(inUse, sum)
	}
	return inUse, ws
}

// windowsTo returns how many windows from window from on the connections
// in use need to reach at least want, or -1 if they never do.
func windowsTo(inUse []int, from, want int) int {
	for i := from; i < len(inUse); i++ {
		if inUse[i] >= want {
			return i - from
		}
	}
	return -1
}

// The loaders of a task share a target: when one finishes, the others
// must take its connections back at once, and at the start they must reach
// the knee within a few windows. With a limit of each loader's own (its
// start 2, one connection a probe, probing only after a five-window hold,
// a step down kept when 5 % slower, the budget only a cap) this same
// simulation needed: knee at 8, 3 windows after the first loader finished
// and 13 after the second; knee at 12, 4 and 14; knee at 4, 8; one loader
// from the start to a knee at 12, 10 windows. With the shared limit: 0
// windows after every finish but one (1), and 3, 7, 0 and 7 from the
// start (one connection a window from 4; from 2 for each of three own
// limits the start needed 1, 2 and 0). The loaders' steps up are verified
// (Config.Verify, a window back at the lower limit), one connection every
// three windows after the first: 9, 21, 0 and 21 from the start, the
// finishes unchanged.
func TestLimitSharedTargetClimbsBack(t *testing.T) {
	for _, tc := range []struct {
		name   string
		server server
		rows   []float64
		// most windows allowed to reach the knee: from the start, and
		// after each loader but the last finished
		start, after int
	}{
		{"knee at 8, loaders of 3 sizes", server{knee: 8, perConn: 10000, drop: 0.03}, []float64{300e3, 600e3, 1500e3}, 10, 1},
		{"knee at 12, steep fall past it", server{knee: 12, perConn: 8000, drop: 0.08}, []float64{400e3, 800e3, 2400e3}, 22, 2},
		{"knee at 4, two loaders", server{knee: 4, perConn: 20000, drop: 0.05}, []float64{300e3, 1500e3}, 1, 1},
		{"knee at 12, one loader", server{knee: 12, perConn: 8000, drop: 0.03}, []float64{2000e3}, 22, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inUse, ws := simulate(tc.server, 4, 16, tc.rows, 400)
			if got := windowsTo(inUse, 0, tc.server.knee); got < 0 || got > tc.start {
				t.Errorf("from the start, %d windows to reach the knee (%d connections), want at most %d; connections %v", got, tc.server.knee, tc.start, inUse)
			} else {
				t.Logf("from the start: %d windows to the knee; connections %v", got, inUse)
			}
			for _, w := range ws[:len(ws)-1] {
				if w.finished < 0 {
					t.Fatalf("%s did not finish in %d windows; connections %v", w.id, len(inUse), inUse)
				}
				// The remaining loaders must reach the knee again: count
				// from the window after the finish.
				got := windowsTo(inUse, w.finished+1, tc.server.knee)
				if got < 0 || got > tc.after {
					t.Errorf("after %s finished (window %d), %d windows to reach the knee again, want at most %d; connections %v",
						w.id, w.finished, got, tc.after, inUse)
				} else {
					t.Logf("after %s finished (window %d): %d windows to the knee", w.id, w.finished, got)
				}
			}
			// Past the knee the target loses throughput: the limits must
			// not pile up at the budget either (the last 5 windows before
			// each finish are near the knee, not at 16).
			for _, w := range ws {
				if w.finished >= 5 {
					for i := w.finished - 5; i < w.finished; i++ {
						if inUse[i] > 2*tc.server.knee {
							t.Errorf("window %d: %d connections, over twice the knee %d; connections %v", i, inUse[i], tc.server.knee, inUse)
							break
						}
					}
				}
			}
		})
	}
}

// A window lasts until each connection finished two units of work: on a
// loaded host a statement takes seconds, and a window of one or two
// measures them, not the limit.
func TestLimitWindowWaitsForWork(t *testing.T) {
	l := New(Config{Min: 1, Max: 16, Start: 4})
	now := time.Unix(0, 0)
	for i := range 7 {
		now = now.Add(2 * time.Second)
		if n := l.Done(now, 5000, 8*time.Second); n != 4 {
			t.Fatalf("after %d statements of 2 s the limit moved to %d; a window of 4 connections needs 8", i+1, n)
		}
	}
	now = now.Add(2 * time.Second)
	if n, why := l.Done(now, 5000, 8*time.Second), l.reason; n == 4 {
		t.Fatalf("after 8 statements the window was not judged: %d, %q", n, why)
	}
}

// A writer whose input is slower than the target (a loader waiting on the
// dump while it ramps up) moves more rows at the same limit as its input
// grows: that rise is the input's, and it must not raise the limit. Once
// the input outruns the target the connections are busy and the limit
// climbs to the knee as usual.
func TestLimitWaitsOnInput(t *testing.T) {
	tg := target{knee: 8, perConn: 10000}
	l := New(Config{Min: 1, Max: 16, Start: 4})
	now := time.Unix(0, 0)
	var seen []int
	for win := range 40 {
		// The input: 5k rows/s rising by 1k a window to 25k (under the
		// 40k that 4 connections move), then unbounded from window 20.
		supply := 5000 + 1000*float64(min(win, 20))
		if win >= 20 {
			supply = 1e12
		}
		for range 10 {
			n, _ := l.Current()
			moved := min(supply, tg.rate(n))
			used := moved / tg.rate(n) // share of the tick each connection is busy
			now = now.Add(100 * time.Millisecond)
			for range n {
				busy := time.Duration(used * float64(100*time.Millisecond))
				l.DoneOn(now, int64(moved/10/float64(n)), busy, busy)
			}
		}
		n, why := l.Current()
		seen = append(seen, n)
		if win < 20 && n > 4 {
			t.Fatalf("window %d: the limit rose to %d (%s) while the input, not the target, set the pace; limits %v", win, n, why, seen)
		}
		if win == 19 && !strings.Contains(why, "waits on its input") {
			t.Errorf("window %d: reason %q does not say the work waits on its input", win, why)
		}
	}
	if got := windowsTo(seen, 20, tg.knee); got < 0 || got > 6 {
		t.Fatalf("%d windows to reach the knee %d once the input outran the target, want at most 6; limits %v", got, tg.knee, seen)
	}
}

// A writer's throughput that rises on its own (a loader's, while its dump
// starts and ends and the host's CPU moves between them) makes every step
// up look like a gain. Verified steps (A/B/A) cancel the rise: against a
// target that takes no more than 3 connections, the limit stays at most
// one above where it started; unverified, it climbs with the rise.
func TestLimitVerifiesStepsUnderARise(t *testing.T) {
	climb := func(verify bool) []int {
		tg := target{knee: 3, perConn: 10000}
		l := New(Config{Min: 1, Max: 16, Start: 4, Verify: verify})
		now := time.Unix(0, 0)
		var seen []int
		for win := range 12 {
			rise := 1 + 0.25*float64(min(win, 8)) // a quarter more each window, for 8 windows
			for range 10 {
				now = tick(l, now, tg, rise)
			}
			n, _ := l.Current()
			seen = append(seen, n)
		}
		return seen
	}
	plain, verified := climb(false), climb(true)
	if slices.Max(plain) <= 5 {
		t.Errorf("unverified, the limit stayed at most %d under the rise: the test shows nothing; limits %v", slices.Max(plain), plain)
	}
	if got := slices.Max(verified); got > 5 {
		t.Errorf("verified, the limit climbed to %d under a rise of the throughput's own; limits %v (unverified %v)", got, verified, plain)
	}
	t.Logf("limits under the rise: unverified %v, verified %v", plain, verified)
}

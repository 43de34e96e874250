package adaptive

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"
)

// target models a server whose throughput grows with connections up to
// knee, then stays flat (or falls by drop per extra connection), while each
// statement's latency grows once connections exceed the knee.
type target struct {
	knee    int
	perConn float64 // rows/s one connection moves
	drop    float64 // fraction of throughput lost per connection past the knee
	base    time.Duration
}

func (t target) rate(n int) float64 {
	r := float64(min(n, t.knee)) * t.perConn
	if n > t.knee {
		r *= max(0.1, 1-t.drop*float64(n-t.knee))
	}
	return r
}

func (t target) latency(n int) time.Duration {
	if n <= t.knee {
		return t.base
	}
	return t.base * time.Duration(n) / time.Duration(t.knee)
}

// run drives a Limit against t for windows seconds of virtual time, ten
// operations a window, and returns the limits it chose, one a window.
func run(l *Limit, t target, windows int) []int {
	now := time.Unix(0, 0)
	var seen []int
	for range windows {
		for range 10 {
			n, _ := l.Current()
			now = now.Add(100 * time.Millisecond)
			l.Done(now, int64(t.rate(n)/10), t.latency(n))
		}
		n, _ := l.Current()
		seen = append(seen, n)
	}
	return seen
}

func TestLimitFindsTheKnee(t *testing.T) {
	for _, tc := range []struct {
		name   string
		target target
		max    int
		lo, hi int // where the limit must settle, the last 20 windows
	}{
		{"knee at 4", target{knee: 4, perConn: 10000, base: 5 * time.Millisecond}, 16, 3, 5},
		{"knee at 1: no gain from more", target{knee: 1, perConn: 30000, base: 5 * time.Millisecond}, 16, 1, 2},
		{"throughput falls past the knee", target{knee: 3, perConn: 10000, drop: 0.2, base: 5 * time.Millisecond}, 16, 2, 4},
		{"bounded by the task's setting", target{knee: 12, perConn: 10000, base: 5 * time.Millisecond}, 6, 6, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := New(Config{Min: 1, Max: tc.max, Start: 2})
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
	tg := target{knee: 2, perConn: 10000, base: 5 * time.Millisecond}
	var reasons []string
	now := time.Unix(0, 0)
	for range 8 {
		for range 10 {
			n, _ := l.Current()
			now = now.Add(100 * time.Millisecond)
			l.Done(now, int64(tg.rate(n)/10), tg.latency(n))
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
	b := NewBudget(8)
	if got := b.Grant("a", 5); got != 5 {
		t.Fatalf("a granted %d, want 5", got)
	}
	if got := b.Grant("b", 5); got != 3 {
		t.Fatalf("b granted %d, want the 3 left", got)
	}
	if got := b.Grant("c", 4); got != 1 {
		t.Fatalf("c granted %d, want at least 1", got)
	}
	b.Release("a")
	if got := b.Grant("c", 4); got != 4 {
		t.Fatalf("c granted %d after a left, want 4", got)
	}
	if got := b.Grant("b", 2); got != 2 {
		t.Fatalf("b lowered its grant to %d, want 2", got)
	}
}

// On a noisy machine (each window's throughput off by up to 8%, seeded) the
// limit stays near the knee instead of wandering off.
func TestLimitUnderNoise(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	tg := target{knee: 4, perConn: 10000, base: 5 * time.Millisecond}
	l := New(Config{Min: 1, Max: 16, Start: 2})
	now := time.Unix(0, 0)
	var seen []int
	for range 200 {
		for range 10 {
			n, _ := l.Current()
			noise := 1 + (rng.Float64()*2-1)*0.08
			now = now.Add(100 * time.Millisecond)
			l.Done(now, int64(tg.rate(n)*noise/10), tg.latency(n))
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

package actors

import (
	"math"
	"testing"
	"time"
)

func TestRate(t *testing.T) {
	var r rate
	t0 := time.Unix(1000, 0)
	if got := r.sample(0, t0); got != 0 {
		t.Fatalf("first sample: %v", got)
	}
	// 100 rows in one second, then 200 in one second: 100, then 0.3·200 + 0.7·100.
	for _, step := range []struct {
		count int64
		at    time.Duration
		want  float64
	}{{100, time.Second, 100}, {300, 2 * time.Second, 130}, {300, 3 * time.Second, 91}} {
		if got := r.sample(step.count, t0.Add(step.at)); math.Abs(got-step.want) > 1e-9 {
			t.Fatalf("after %d at %v: rate %v, want %v", step.count, step.at, got, step.want)
		}
	}
}

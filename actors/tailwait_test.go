package actors

import (
	"context"
	"testing"
	"time"
)

// An exact deadline is kept while it is asked for again, replaced when
// another is; an inexact one keeps any earlier live context.
func TestEventWait(t *testing.T) {
	var w eventWait
	defer w.stop()
	ctx := context.Background()
	d := time.Now().Add(time.Hour)
	c1 := w.until(ctx, d, true)
	if c2 := w.until(ctx, d, true); c2 != c1 {
		t.Error("same exact deadline: a new context")
	}
	if c3 := w.until(ctx, d.Add(time.Second), false); c3 != c1 {
		t.Error("a later inexact deadline: a new context")
	}
	c4 := w.until(ctx, d.Add(time.Second), true)
	if c4 == c1 || c1.Err() == nil {
		t.Error("another exact deadline: the old context kept")
	}
	if dl, _ := c4.Deadline(); !dl.Equal(d.Add(time.Second)) {
		t.Errorf("deadline %v, want %v", dl, d.Add(time.Second))
	}
	c5 := w.until(ctx, time.Now().Add(-time.Second), true)
	if c5.Err() == nil {
		t.Error("a past deadline: context not done")
	}
	if c6 := w.until(ctx, time.Now().Add(time.Hour), false); c6 == c5 || c6.Err() != nil {
		t.Error("an ended context kept")
	}
}

// The loop's wait per event: a context per event, against eventWait.
func BenchmarkEventWait(b *testing.B) {
	ch := make(chan int, 1)
	get := func(ctx context.Context) {
		ch <- 1
		select {
		case <-ch:
		case <-ctx.Done():
		}
	}
	b.Run("per-event", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			get(ctx)
			cancel()
		}
	})
	b.Run("kept", func(b *testing.B) {
		b.ReportAllocs()
		var w eventWait
		defer w.stop()
		for range b.N {
			get(w.until(context.Background(), time.Now().Add(time.Second), false))
		}
	})
}

package actors

import (
	"context"
	"time"
)

// eventWait gives the tailer's loop the context its read of the next
// binlog event waits with. Making one per event (a timer and a context)
// is a cost of its own at hundreds of thousands of events a second, so a
// context is kept while its deadline still suits: until the deadline the
// loop wants, when it must wake then (a pending batch's linger), or any
// deadline not later, when waking early only costs a turn of the loop.
type eventWait struct {
	ctx      context.Context
	cancel   context.CancelFunc
	deadline time.Time
}

// until returns a context of parent that ends at deadline or, unless
// exact is set, possibly earlier.
func (w *eventWait) until(parent context.Context, deadline time.Time, exact bool) context.Context {
	if w.ctx != nil && w.ctx.Err() == nil &&
		(w.deadline.Equal(deadline) || !exact && w.deadline.Before(deadline)) {
		return w.ctx
	}
	w.stop()
	w.ctx, w.cancel = context.WithDeadline(parent, deadline)
	w.deadline = deadline
	return w.ctx
}

// stop releases the context kept, if any.
func (w *eventWait) stop() {
	if w.cancel != nil {
		w.cancel()
		w.ctx, w.cancel = nil, nil
	}
}

package actors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/jetstream"
)

// Holding an applier at a source position, for an exact verification on
// live data (package verify) and for cutover.
//
// To compare source and target at one point, the verifier needs the
// target's state at exactly the source position P of its consistent
// snapshot. The applier is asked to apply every transaction that ends at
// or before P, to apply none after it, and to wait there while the
// target's snapshot is taken. Blocking the source's writes instead (FLUSH
// TABLES WITH READ LOCK until the target caught up) would stall the
// application for the whole replication lag, and reading the target
// "soon after" is what gave false alarms and rechecks.
//
// The request is a desired state in the KV bucket (key hold.TASK.SOURCE,
// an ApplyHold), which the applier watches; the applier answers in
// held.TASK.SOURCE (an ApplyHeld). The applier looks at it only between
// upstream transactions, after committing what it built, so what it holds
// on the target is always a whole prefix of the source's commit order.
// The exchange has two phases, because P is not known before the source's
// snapshot is taken and the applier must not pass it meanwhile:
//
//  1. ApplyHold{ID, At: zero}: stop before the next transaction. The
//     applier commits what it built, answers ApplyHeld{ID, Applied} and
//     waits. The verifier then takes the source's snapshot at P; since the
//     applier stopped first, Applied ≤ P.
//  2. ApplyHold{ID, At: P}: the applier applies the transactions up to P;
//     before the first one that ends after P (or when it has applied P
//     itself) it commits, answers ApplyHeld{ID, At: P, Applied, Beyond}
//     and waits. An idle source sends no later transaction: the verifier
//     then asks HoldReached, which also accepts an applier that applied
//     all the tailer relayed after a heartbeat at or past P.
//
// Deleting the key (or replacing it by another ID) lets the applier go
// on. An applier never waits for one hold longer than MaxHold: a verifier
// that died cannot stop replication. The pause the target sees is the time
// to take the snapshots: milliseconds.

// ApplyHold asks the applier of a task and source to stop (see above).
type ApplyHold struct {
	ID string `json:"id"`
	// At is the position to stop at; zero: stop before the next
	// transaction.
	At dmnode.Position `json:"at"`
}

// ApplyHeld is the applier's answer to an ApplyHold.
type ApplyHeld struct {
	ID string          `json:"id"`
	At dmnode.Position `json:"at"`
	// Applied is the end of the last transaction committed on the target;
	// nothing after it is.
	Applied dmnode.Position `json:"applied"`
	// Beyond: the applier has read a transaction that ends after At, so
	// every transaction up to At is applied.
	Beyond bool `json:"beyond,omitempty"`
}

// MaxHold is the longest an applier waits in one phase of a hold. The
// verifier gives up waiting for an answer sooner (MaxHold - 2s), and takes
// the target's snapshot as soon as it has one.
const MaxHold = 15 * time.Second

func holdKey(task, source string) string { return jetstream.HoldKey(task, source) }
func heldKey(task, source string) string { return jetstream.HeldKey(task, source) }

// applyHold is the applier's side: a watch on its hold key, read without
// blocking between transactions.
type applyHold struct {
	env     Env
	task    string
	source  string
	log     *slog.Logger
	w       jetstream.KeyWatch
	cur     *ApplyHold // the current request, nil when none
	expired string     // the ID of a hold given up after MaxHold
	// since is when the request sinceReq was first obeyed: MaxHold
	// counts from there, for each phase, so that an applier holding at
	// the position it was asked to reach waits the full MaxHold for the
	// target's snapshot, however long it took to get there.
	since    time.Time
	sinceReq ApplyHold
	answered ApplyHeld // the last answer written
	// retryAt is when a watch that ended and could not be opened again
	// is tried again (zero: it never ended).
	retryAt time.Time
}

// openHold watches the applier's hold key. A failure to watch is not
// fatal to replication: the applier then cannot be held, and a
// verification that asks times out saying so.
func openHold(ctx context.Context, env Env, task, source string, log *slog.Logger) *applyHold {
	h := &applyHold{env: env, task: task, source: source, log: log}
	if env.Store == nil {
		return h
	}
	w, err := env.Store.Watch(ctx, holdKey(task, source))
	if err != nil {
		log.Warn("watch hold requests; verification cannot hold this applier", "err", err)
		return h
	}
	h.w = w
	return h
}

// reopen replaces a watch that ended. A failure is logged and leaves the
// applier without holds until a later attempt (retryHold) succeeds.
func (h *applyHold) reopen(ctx context.Context) {
	if h.w != nil {
		h.w.Stop()
		h.w = nil
	}
	w, err := h.env.Store.Watch(ctx, holdKey(h.task, h.source))
	if err != nil {
		h.log.Warn("watch hold requests again; verification cannot hold this applier until it works", "err", err)
		h.retryAt = time.Now().Add(retryHold)
		return
	}
	h.log.Info("the watch of hold requests ended; watching again")
	h.w = w
}

// retryHold is how long an applier whose hold watch could not be opened
// again waits before it tries once more.
const retryHold = 5 * time.Second

func (h *applyHold) stop() {
	if h.w != nil {
		h.w.Stop()
	}
}

// poll takes the updates waiting, without blocking (block: wait for one
// until the timer or ctx ends).
func (h *applyHold) poll(ctx context.Context, block <-chan time.Time) error {
	if h.w == nil {
		return nil
	}
	for {
		var e jetstream.KeyUpdate
		var ok bool
		if block != nil {
			select {
			case e, ok = <-h.w.Updates():
			case <-block:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
			block = nil
		} else {
			select {
			case e, ok = <-h.w.Updates():
			default:
				return nil
			}
		}
		if !ok {
			// The watch's subscription closed (its consumer could not
			// be reset on a loaded server, say): watch again, which
			// delivers the key's current value, rather than stop
			// replication for it.
			h.reopen(ctx)
			if h.w == nil {
				return nil
			}
			continue
		}
		if e.Initial {
			continue // the initial values have been delivered
		}
		if e.Deleted {
			h.cur = nil
			continue
		}
		var req ApplyHold
		if err := json.Unmarshal(e.Value, &req); err != nil || req.ID == "" || req.ID == h.expired {
			h.cur = nil
			continue
		}
		h.cur = &req
	}
}

// holdBefore is called before the applier applies a transaction ending
// at end: while a hold asks it to stop before it, it commits what it
// built, answers and waits.
func (r *applyRun) holdBefore(ctx context.Context, end dmnode.Position) error {
	h := r.hold
	if h == nil || h.w == nil {
		return nil
	}
	if err := h.poll(ctx, nil); err != nil {
		return err
	}
	for h.cur != nil && (h.cur.At.IsZero() || end.Compare(h.cur.At) > 0) {
		if err := r.holdHere(ctx, !h.cur.At.IsZero()); err != nil {
			return err
		}
	}
	return nil
}

// holdIdle is called after each commit of the read loop: a request to
// stop is answered at once, and a hold at a position is answered with
// what is applied, so that an idle source, which sends no transaction
// after the position, does not keep a verification waiting (see
// HoldReached).
func (r *applyRun) holdIdle(ctx context.Context) error {
	h := r.hold
	if h != nil && h.w == nil && !h.retryAt.IsZero() && time.Now().After(h.retryAt) {
		h.reopen(ctx)
	}
	if h == nil || h.w == nil {
		return nil
	}
	if err := h.poll(ctx, nil); err != nil {
		return err
	}
	for h.cur != nil && (h.cur.At.IsZero() || r.applied.Compare(h.cur.At) >= 0) {
		if err := r.holdHere(ctx, false); err != nil {
			return err
		}
	}
	if h.cur != nil {
		return r.answerHold(ctx, false)
	}
	return nil
}

// holdHere commits what was built, answers the hold and waits until it
// changes (lifted, replaced, or moved to a position) or MaxHold has
// passed since it was first seen.
func (r *applyRun) holdHere(ctx context.Context, beyond bool) error {
	if err := r.commit(ctx); err != nil {
		return err
	}
	h := r.hold
	req := *h.cur
	if err := r.answerHold(ctx, beyond); err != nil {
		return err
	}
	if h.since.IsZero() || h.sinceReq != req {
		h.since, h.sinceReq = time.Now(), req
	}
	timer := time.NewTimer(max(0, MaxHold-time.Since(h.since)))
	defer timer.Stop()
	for h.cur != nil && *h.cur == req {
		if time.Since(h.since) >= MaxHold {
			h.expired, h.cur = req.ID, nil
			h.log.Warn("hold given up: nobody lifted it", "id", req.ID, "after", MaxHold)
			return nil
		}
		if err := h.poll(ctx, timer.C); err != nil {
			return err
		}
	}
	return nil
}

// answerHold writes the applier's answer to the current hold, unless it
// wrote the same one last.
func (r *applyRun) answerHold(ctx context.Context, beyond bool) error {
	h := r.hold
	ans := ApplyHeld{ID: h.cur.ID, At: h.cur.At, Applied: r.applied, Beyond: beyond && !h.cur.At.IsZero()}
	if ans == h.answered {
		return nil
	}
	if err := h.env.Store.Put(ctx, heldKey(h.task, h.source), ans); err != nil {
		return fmt.Errorf("answer hold: %w", err)
	}
	h.answered = ans
	return nil
}

// Holds is the verifier's side of holding the appliers of one task.
type Holds struct {
	Store jetstream.CheckpointStore
	Task  string
}

// Stop asks the applier of source to stop before its next transaction and
// waits until it has; it returns the position it stopped at.
// A hold of another ID younger than 2×MaxHold is refused: another
// verification or cutover of the task holds its appliers.
func (hs Holds) Stop(ctx context.Context, source, id string) (dmnode.Position, error) {
	if err := hs.claim(ctx, source, id); err != nil {
		return dmnode.Position{}, err
	}
	var ans ApplyHeld
	err := hs.wait(ctx, source, func() (bool, error) {
		if _, err := hs.Store.Load(ctx, heldKey(hs.Task, source), &ans); err != nil {
			return false, err
		}
		return ans.ID == id && ans.At.IsZero(), nil
	})
	return ans.Applied, err
}

// HoldAt lets the applier of source, stopped by Stop, apply up to at and
// waits until it holds there.
func (hs Holds) HoldAt(ctx context.Context, source, id string, at dmnode.Position, since time.Time) error {
	if err := hs.Store.Put(ctx, holdKey(hs.Task, source), ApplyHold{ID: id, At: at}); err != nil {
		return err
	}
	return hs.wait(ctx, source, func() (bool, error) {
		var ans ApplyHeld
		if _, err := hs.Store.Load(ctx, heldKey(hs.Task, source), &ans); err != nil {
			return false, err
		}
		if ans.ID != id || ans.At != at {
			return false, nil
		}
		return HoldReached(ctx, hs.Store, source, ans.Applied, at, ans.Beyond, since)
	})
}

// claim writes the hold request id for source. While another one holds
// it (a verification running, or one whose client died and whose step is
// finishing on the node), it waits for that one to be lifted, for at most
// 2×MaxHold, after which a hold counts as abandoned and is taken over.
func (hs Holds) claim(ctx context.Context, source, id string) error {
	data, err := json.Marshal(ApplyHold{ID: id})
	if err != nil {
		return err
	}
	key := holdKey(hs.Task, source)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		e, ok, err := hs.Store.Get(ctx, key)
		switch {
		case err != nil:
		case !ok:
			_, err = hs.Store.Save(ctx, key, json.RawMessage(data), 0)
		default:
			var other ApplyHold
			if json.Unmarshal(e.Value, &other) == nil && other.ID != id && time.Since(e.Created) < 2*MaxHold {
				select {
				case <-tick.C:
					continue
				case <-ctx.Done():
					return fmt.Errorf("another verification or cutover of task %s is holding the applier of source %s; try again in a moment", hs.Task, source)
				}
			}
			_, err = hs.Store.Save(ctx, key, json.RawMessage(data), e.Rev)
		}
		if errors.Is(err, jetstream.ErrFenced) {
			continue // another verifier wrote it meanwhile: look again
		}
		if err != nil {
			return fmt.Errorf("hold the applier of source %s: %w", source, err)
		}
		return nil
	}
}

// Release lifts the holds id of the sources; the appliers go on. A hold
// another verifier took meanwhile is left alone.
func (hs Holds) Release(ctx context.Context, id string, sources ...string) error {
	ctx = context.WithoutCancel(ctx)
	var errs []error
	for _, s := range sources {
		key := holdKey(hs.Task, s)
		e, ok, err := hs.Store.Get(ctx, key)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !ok {
			continue
		}
		var h ApplyHold
		if json.Unmarshal(e.Value, &h) != nil || h.ID != id {
			continue
		}
		if err := hs.Store.DeleteIf(ctx, key, e.Rev); err != nil && !errors.Is(err, jetstream.ErrFenced) {
			errs = append(errs, fmt.Errorf("release the applier of source %s: %w", s, err))
		}
	}
	return errors.Join(errs...)
}

func (hs Holds) wait(ctx context.Context, source string, done func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, MaxHold-2*time.Second)
	defer cancel()
	for {
		ok, err := done()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the applier of task %s source %s did not stop within %s: is it running and current?", hs.Task, source, MaxHold-2*time.Second)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// HoldReached reports whether an applier that committed everything up to
// applied holds every transaction up to p: it applied p itself, or read a
// transaction beyond it (beyond), or the source is idle: the tailer, after
// since (when p was read on the source), heard a heartbeat at or past p
// with nothing pending, and the applier applied all it published.
func HoldReached(ctx context.Context, store jetstream.CheckpointStore, source string, applied, p dmnode.Position, beyond bool, since time.Time) (bool, error) {
	if beyond || applied.Compare(p) >= 0 {
		return true, nil
	}
	tail, err := jetstream.LoadTailProgress(ctx, store, source)
	if err != nil {
		return false, err
	}
	return tail.Upstream.Compare(p) >= 0 && tail.CaughtUp.After(since) && applied.Compare(tail.Published) >= 0, nil
}

// Applied returns the position the applier of a task and source last
// reported as committed, with the tailer's progress.
func Applied(ctx context.Context, store jetstream.CheckpointStore, task, source string) (ApplyProgress, jetstream.TailProgress, error) {
	var ap ApplyProgress
	if _, err := store.Load(ctx, applyProgKey(task, source), &ap); err != nil {
		return ap, jetstream.TailProgress{}, err
	}
	tp, err := jetstream.LoadTailProgress(ctx, store, source)
	return ap, tp, err
}

package actors

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-sql-driver/mysql"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/catalog"
	"github.com/dmnode/dmnode/core/config"
	"github.com/dmnode/dmnode/core/plan"
	"github.com/dmnode/dmnode/jetstream"
)

// Relay retention.
//
// A source's relay (its BINLOG_<source> stream) is kept by the source's
// tailer: the tailer writes the stream, so it is the one actor that knows
// it and that must slow down when it is full. Alongside the reading loop,
// each tailer incarnation runs a retention loop that, every
// retentionEvery:
//
//   - works out the oldest position any task on the source still needs:
//     for a task in sync (running, paused or stopped alike) the checkpoint
//     its applier committed to the target's dmnode_meta.checkpoint, which is
//     exactly where a restarted applier resumes (the KV progress report is
//     advisory: it lags, and it outlives a task deleted without --purge);
//     for a task still copying (dump, load) its snapshot position, from
//     which it will replay; a task with no position yet, or whose target
//     cannot be read, holds everything. A full-mode task and one that is
//     done need nothing;
//   - purges the stream below the first message holding a transaction that
//     ends after that position and after the tailer's own checkpoint (a
//     restarted tailer re-reads from there and checks what it read against
//     the stream), never the last message, and, with DM's purge.expires,
//     keeps what no task needs for that many hours; before purging it
//     records where the relay now starts, which an applier checks;
//   - measures the stream's bytes against the source's relay-max-size: a
//     full relay makes the tailer stop reading the source at the next
//     transaction boundary (it checkpoints, closes the binlog connection and
//     waits); when purging frees space it reads on from its checkpoint.
//     Nothing is discarded: the source keeps the binlog meanwhile;
//   - checks, with SHOW BINARY LOGS, that the binlog the tailer still has to
//     read (from its checkpoint on) will stay on the source longer than
//     binlog-purge-margin (the purge guard), from the source's expiry and
//     size limit and its recent write rate.
//
// It reports all this under progress.relay.<source> for task status and
// the metrics.

// retentionEvery is the period of the retention loop, fullEvery its
// period while the tailer waits for room (so that it reads on soon after
// the appliers free some); the purge guard queries the source every
// guardEvery.
const (
	retentionEvery = 2 * time.Second
	fullEvery      = 250 * time.Millisecond
	guardEvery     = 10 * time.Second
)

// errRelayFull stops a tailer's reading loop when the relay is full; the
// tailer waits for room and reads on from its checkpoint.
var errRelayFull = errors.New("relay full")

func relayProgKey(source string) string { return jetstream.ProgressKey("relay", "", source) }

// relayStartKey holds the end position of the last message purged from a
// source's relay: the relay holds every transaction that ends after it.
func relayStartKey(source string) string { return jetstream.RelayStartKey(source) }

// RelayGapError is an applier's that needs transactions its source's
// relay no longer holds: purged before this task needed them (a task
// submitted with a start position older than every other task's).
type RelayGapError struct {
	Task, Source string
	From, Start  dmnode.Position
}

func (e *RelayGapError) Error() string {
	return fmt.Sprintf("task %s needs the binlog of source %s from %s, but the relay only holds what follows %s (the rest was purged once no task then needed it); "+
		"start the task from a position at or after %s, or as a fresh copy (task-mode all)", e.Task, e.Source, e.From, e.Start, e.Start)
}

// checkRelayHolds returns a permanent *RelayGapError when the relay of
// source no longer holds every transaction after from.
func checkRelayHolds(ctx context.Context, store jetstream.CheckpointStore, task, source string, from dmnode.Position) error {
	start, err := jetstream.LoadRelayStart(ctx, store, source)
	if err != nil {
		return err
	}
	if relayGap(from, start) {
		return Permanent(&RelayGapError{Task: task, Source: source, From: from, Start: start})
	}
	return nil
}

// relayGap reports whether a reader that needs every transaction after
// from misses some in a relay that holds those after start.
func relayGap(from, start dmnode.Position) bool {
	return !start.IsZero() && from.Compare(start) < 0
}

// RelayProgress is what a source's retention loop reports, for status and
// metrics.
type RelayProgress struct {
	Bytes    uint64 `json:"bytes"`     // bytes the relay stream holds
	MaxBytes int64  `json:"max_bytes"` // relay-max-size
	Msgs     uint64 `json:"msgs"`
	// Full is set while the tailer waits for room: it does not read the
	// source. FullSince is when it started waiting.
	Full      bool      `json:"full"`
	FullSince time.Time `json:"full_since,omitzero"`
	// Oldest is the oldest position a task needs and HeldBy names that
	// task (or says why everything is held).
	Oldest dmnode.Position `json:"oldest"`
	HeldBy string          `json:"held_by,omitempty"`
	// Purged counts the messages the loop purged since the tailer started.
	Purged  uint64     `json:"purged"`
	Guard   PurgeGuard `json:"guard"`
	Updated time.Time  `json:"updated"`
}

// relayGate is shared by a tailer's reading loop and its retention loop:
// the first adds what it publishes, the second sets what the stream holds
// after each measure. Safe for concurrent use.
type relayGate struct {
	max     int64
	stored  atomic.Int64 // bytes at the last measure
	added   atomic.Int64 // bytes published since
	waiting atomic.Bool  // the tailer waits for room
	since   atomic.Int64 // unix nanoseconds the wait began
	// room is signalled after every measure; one slot, a missed signal is
	// made up by the next.
	room chan struct{}
}

func newRelayGate(max int64) *relayGate {
	return &relayGate{max: max, room: make(chan struct{}, 1)}
}

// published counts n bytes the tailer published.
func (g *relayGate) published(n int) { g.added.Add(int64(n)) }

// full reports whether the relay holds relay-max-size or more, as last
// measured plus what was published since.
func (g *relayGate) full() bool { return g.held() >= g.max }

func (g *relayGate) held() int64 { return g.stored.Load() + g.added.Load() }

// roomy reports whether a tailer that stopped may read on: the relay is
// below nine tenths of its cap, so that it does not reconnect to the
// source for every message the appliers free.
func (g *relayGate) roomy() bool { return g.held() < g.max-g.max/10 }

// measure records what the stream holds. The caller reads the count of
// bytes published since the last measure (startMeasure) before it asks the
// stream, so a publish in between is counted twice rather than not at all.
func (g *relayGate) startMeasure() int64 { return g.added.Swap(0) }

func (g *relayGate) measured(bytes uint64) {
	g.stored.Store(int64(bytes))
	select {
	case g.room <- struct{}{}:
	default:
	}
}

// waitRoom blocks, when the relay is full, until it is below nine tenths
// of its cap; it returns ctx's error when ctx ends first.
func (g *relayGate) waitRoom(ctx context.Context, log *slog.Logger) error {
	if !g.full() {
		return nil
	}
	g.since.Store(time.Now().UnixNano())
	g.waiting.Store(true)
	defer g.waiting.Store(false)
	log.Warn("relay full: stopped reading the source until tasks free space",
		"relay_bytes", g.held(), "relay_max_bytes", g.max)
	for !g.roomy() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-g.room:
		}
	}
	log.Info("relay has room again: reading the source", "relay_bytes", g.stored.Load(), "relay_max_bytes", g.max)
	return nil
}

// retention is one tailer incarnation's retention loop.
type retention struct {
	env    Env
	source string
	src    *config.Source
	relay  jetstream.Relay
	log    *slog.Logger
	gate   *relayGate

	prog RelayProgress
	// tailPos is the tailer's checkpoint as last loaded: a restarted
	// tailer reads the source from there and checks what it reads against
	// the relay, so the relay keeps what follows it too.
	tailPos dmnode.Position
	srcDB   *sql.DB
	targets map[string]*targetConn // by task name
	guard   guardSampler
	lastLog time.Time // of the guard's warnings, rate-limited
	lastErr time.Time // of the loop's errors, rate-limited

	// ends caches the end position of relay messages by sequence (a
	// message never changes), needHint is the last pass's answer for the
	// oldest need: a pass every 250 ms while the relay is full reads a
	// message or two near it instead of a binary search's worth.
	ends     map[uint64]dmnode.Position
	needHint uint64
	lastSeq  uint64
}

// endsCached bounds ends.
const endsCached = 4096

// msgEnd is msgEnd through the cache.
func (k *retention) msgEnd(ctx context.Context, seq uint64) (dmnode.Position, error) {
	if p, ok := k.ends[seq]; ok {
		return p, nil
	}
	p, err := msgEnd(ctx, k.relay, seq)
	if err != nil {
		return p, err
	}
	if k.ends == nil || len(k.ends) >= endsCached {
		k.ends = map[uint64]dmnode.Position{}
	}
	k.ends[seq] = p
	return p, nil
}

// targetConn is the connection to a task's target, for the task file it
// was opened for.
type targetConn struct {
	yaml string
	db   *sql.DB
}

func newRetention(env Env, source string, src *config.Source, relay jetstream.Relay, log *slog.Logger) *retention {
	return &retention{env: env, source: source, src: src, relay: relay, log: log,
		gate: newRelayGate(src.RelayMaxBytes), targets: map[string]*targetConn{}}
}

func (k *retention) close() {
	if k.srcDB != nil {
		k.srcDB.Close()
	}
	for _, t := range k.targets {
		t.db.Close()
	}
}

// around runs tail, the tailer's reading loop, with the retention loop
// beside it: while the relay is full it waits before (re)starting tail,
// and tail returns errRelayFull when it stops reading for room. need gives
// the position a restarted tail reads from, to explain an error of a
// binlog that is no longer on the source.
func (k *retention) around(ctx context.Context, tail func(context.Context) error, need func() dmnode.Position) error {
	defer k.close()
	if err := k.measure(ctx); err != nil {
		return err
	}
	var cp TailCheckpoint
	if _, err := k.env.Store.Load(ctx, tailKey(k.source), &cp); err != nil {
		return err
	}
	k.tailPos = cp.Pos
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		k.run(ctx)
	}()
	defer func() {
		cancel()
		<-done
	}()
	for {
		if err := k.gate.waitRoom(ctx, k.log); err != nil {
			return nil // ctx ended
		}
		err := tail(ctx)
		if errors.Is(err, errRelayFull) {
			continue
		}
		if err != nil {
			return k.explainLost(ctx, err, need())
		}
		return nil
	}
}

// run is the retention loop; it ends with ctx. Its errors are logged
// (at most once a minute) and the pass is tried again: retention never
// stops the tailer.
func (k *retention) run(ctx context.Context) {
	var lastGuard time.Time
	for {
		wait := retentionEvery
		if k.gate.waiting.Load() {
			wait = fullEvery
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		err := k.pass(ctx)
		if time.Since(lastGuard) >= guardEvery && ctx.Err() == nil {
			lastGuard = time.Now()
			err = errors.Join(err, k.checkGuard(ctx))
		}
		k.report(ctx)
		if err != nil && ctx.Err() == nil && time.Since(k.lastErr) >= time.Minute {
			k.lastErr = time.Now()
			k.log.Warn("relay retention", "err", err)
		}
	}
}

// measure reads the stream's size into the gate and the report.
func (k *retention) measure(ctx context.Context) error {
	added := k.gate.startMeasure()
	info, err := k.relay.Info(ctx)
	if err != nil {
		k.gate.published(int(added)) // still not measured
		return err
	}
	k.gate.measured(info.Bytes)
	k.prog.Bytes, k.prog.Msgs, k.prog.MaxBytes = info.Bytes, info.Msgs, k.gate.max
	return nil
}

// pass purges what no task needs and measures the stream.
func (k *retention) pass(ctx context.Context) error {
	info, err := k.relay.Info(ctx)
	if err != nil {
		return err
	}
	oldest, by, hold := oldestNeed(k.needs(ctx), k.tailPos)
	k.prog.Oldest, k.prog.HeldBy = oldest, by
	var purgeErr error
	if info.LastSeq < k.lastSeq {
		// The stream was made again: its sequences mean other messages.
		k.ends, k.needHint = nil, 0
	}
	k.lastSeq = info.LastSeq
	if !hold && info.Msgs > 0 {
		need := info.LastSeq + 1 // no task needs anything
		if !oldest.IsZero() {
			end := func(seq uint64) (dmnode.Position, error) { return k.msgEnd(ctx, seq) }
			if need, err = searchAfter(info, oldest, k.needHint, end); err != nil {
				return err
			}
			k.needHint = need
		}
		var young uint64
		if k.src.Purge.Expires > 0 {
			cutoff := time.Now().Add(-time.Duration(k.src.Purge.Expires) * time.Hour)
			if young, err = firstNewer(ctx, k.relay, cutoff); err != nil {
				return err
			}
		}
		if below := purgeTarget(info.FirstSeq, info.LastSeq, need, young); below > 0 {
			// Recorded first: an applier checks against it that the relay
			// still holds what it needs.
			end, err := k.msgEnd(ctx, below-1)
			if err != nil {
				return err
			}
			if err := k.env.Store.Put(ctx, relayStartKey(k.source), end); err != nil {
				return err
			}
			if purgeErr = k.relay.PurgeBelow(ctx, below); purgeErr == nil {
				k.prog.Purged += below - info.FirstSeq
				k.log.Debug("relay purged", "below_seq", below, "oldest_needed", oldest.String(), "held_by", by)
			}
		}
	}
	return errors.Join(purgeErr, k.measure(ctx))
}

// taskNeed is what one task needs of the relay.
type taskNeed struct {
	Task string
	// Pos is the position after which the task needs every transaction;
	// zero when it holds the whole relay, for the reason Why.
	Pos dmnode.Position
	Why string
}

// needs lists what each task on the source needs of the relay.
func (k *retention) needs(ctx context.Context) []taskNeed {
	st := k.env.Catalog()
	var out []taskNeed
	for _, name := range st.TaskNames() {
		t := st.Tasks[name]
		ts, ok := t.Sources[k.source]
		if !ok || t.Mode == catalog.ModeFull || ts.Stage == catalog.StageDone {
			continue // never reads binlog
		}
		n := taskNeed{Task: name, Pos: ts.Start}
		if ts.Stage == catalog.StageSync {
			p, err := k.targetCheckpoint(ctx, t)
			switch {
			case err != nil:
				n.Pos, n.Why = dmnode.Position{}, "its target's checkpoint cannot be read: "+err.Error()
			case !p.IsZero():
				n.Pos = p
			}
		}
		if n.Pos.IsZero() && n.Why == "" {
			n.Why = "it has no binlog position yet"
		}
		out = append(out, n)
	}
	return out
}

// targetCheckpoint reads the position a task's applier committed on its
// target for this source; zero when it has committed none.
func (k *retention) targetCheckpoint(ctx context.Context, t *catalog.Task) (dmnode.Position, error) {
	c := k.targets[t.Name]
	if c == nil || c.yaml != t.YAML {
		if c != nil {
			c.db.Close()
			delete(k.targets, t.Name)
		}
		p, err := plan.Of(t)
		if err != nil {
			return dmnode.Position{}, fmt.Errorf("decode task: %w", err)
		}
		db, err := OpenDB(ctx, p.Task.TargetDatabase, 1)
		if err != nil {
			return dmnode.Position{}, err
		}
		c = &targetConn{yaml: t.YAML, db: db}
		k.targets[t.Name] = c
	}
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	p, err := readCheckpoint(qctx, c.db, t.Name, k.source)
	if isMissingTable(err) {
		return dmnode.Position{}, nil // no applier has run on this target yet
	}
	return p, err
}

// oldestNeed returns the oldest position the tasks and the tailer (from
// its checkpoint tail, when known) need and who needs it, or hold (with
// the reason in by) when some task holds the whole relay. When nobody
// needs anything it returns the zero position, hold false.
func oldestNeed(needs []taskNeed, tail dmnode.Position) (oldest dmnode.Position, by string, hold bool) {
	for _, n := range needs {
		if n.Pos.IsZero() {
			return dmnode.Position{}, "task " + n.Task + " holds the whole relay: " + n.Why, true
		}
		if oldest.IsZero() || n.Pos.Compare(oldest) < 0 {
			oldest, by = n.Pos, "task "+n.Task
		}
	}
	if !tail.IsZero() && (oldest.IsZero() || tail.Compare(oldest) < 0) {
		oldest, by = tail, "the tailer's checkpoint"
	}
	return oldest, by, false
}

// purgeTarget returns the sequence below which a relay holding messages
// first..last may be purged, or 0 for none. need is the first message a
// task needs (last+1 when none does); young, when not 0, the first message
// written within purge.expires, which stays too. The last message always
// stays: a restarted tailer reads from it what it published.
func purgeTarget(first, last, need, young uint64) uint64 {
	below := min(need, last)
	if young > 0 {
		below = min(below, young)
	}
	if below <= first {
		return 0
	}
	return below
}

// firstNewer finds the first message stored after t (LastSeq+1 when none
// is); stream timestamps grow with the sequence.
func firstNewer(ctx context.Context, relay jetstream.Relay, t time.Time) (uint64, error) {
	info, err := relay.Info(ctx)
	if err != nil {
		return 0, err
	}
	lo, hi := info.FirstSeq, info.LastSeq+1
	for lo < hi {
		mid := lo + (hi-lo)/2
		m, err := relay.Get(ctx, mid)
		if err != nil {
			return 0, err
		}
		if m.Time.After(t) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo, nil
}

// report writes the relay's figures for status.
func (k *retention) report(ctx context.Context) {
	k.prog.Full = k.gate.waiting.Load()
	k.prog.FullSince = time.Time{}
	if k.prog.Full {
		k.prog.FullSince = time.Unix(0, k.gate.since.Load()).UTC()
	}
	k.prog.Updated = time.Now().UTC()
	if err := k.env.Store.Put(ctx, relayProgKey(k.source), k.prog); err != nil && ctx.Err() == nil {
		k.log.Debug("report relay progress", "err", err)
	}
}

// pauseForRoom ends a tailer's reading loop at a transaction boundary when
// the relay is full: what is read is published and checkpointed, so the
// loop reads on from there once there is room.
func (r *tailRun) pauseForRoom(ctx context.Context) error {
	if err := r.flush(ctx); err != nil {
		return err
	}
	if r.read.Compare(r.cp.Pos) > 0 {
		if err := r.saveCheckpoint(ctx); err != nil {
			return err
		}
	}
	r.reportProgress(ctx)
	return errRelayFull
}

// LostBinlogError is a tailer's when the binlog it has to read next is no
// longer on the source: what it held reaches no task any more.
type LostBinlogError struct {
	Source string
	Need   dmnode.Position
	Oldest string   // the source's oldest binlog, "" when it has none
	Tasks  []string // the tasks on the source
	Err    error
}

func (e *LostBinlogError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "source %s: binlog file %s, which dmnode still has to read (from %s), is no longer on the source", e.Source, e.Need.File, e.Need)
	if e.Oldest != "" {
		fmt.Fprintf(&b, " (its oldest binlog is %s)", e.Oldest)
	}
	b.WriteString(": it was purged before it was relayed, and the changes it held cannot reach the target. The way out is a fresh copy: ")
	tasks := e.Tasks
	if len(tasks) == 0 {
		tasks = []string{"TASK"}
	}
	for _, t := range tasks {
		fmt.Fprintf(&b, "dmnode task stop %s; dmnode task delete %s --purge; ", t, t)
	}
	fmt.Fprintf(&b, "dmnode source remove %s (this removes its relay and tailer checkpoint); dmnode source add SOURCE.yaml; empty the tasks' target tables; ", e.Source)
	for _, t := range tasks {
		fmt.Fprintf(&b, "dmnode task start <file of task %s> --remove-meta; ", t)
	}
	b.WriteString("and keep the source's binlog longer than the copy takes (binlog_expire_logs_seconds) so it does not happen again")
	return b.String()
}

func (e *LostBinlogError) Unwrap() error { return e.Err }

// explainLost turns a tailer error that says the binlog at need is gone
// (ER_MASTER_FATAL_ERROR_READING_BINLOG, 1236) into a permanent
// LostBinlogError, when SHOW BINARY LOGS confirms that need's file is not
// on the source any more. Any other error is returned as it is.
func (k *retention) explainLost(ctx context.Context, err error, need dmnode.Position) error {
	var me *gomysql.MyError
	var de *mysql.MySQLError
	if (!errors.As(err, &me) || me.Code != 1236) && (!errors.As(err, &de) || de.Number != 1236) {
		return err
	}
	// A connection of its own: the retention loop may still use its one.
	db, derr := OpenDB(ctx, k.src.From, 1)
	if derr != nil {
		return err
	}
	defer db.Close()
	logs, lerr := binaryLogs(ctx, db)
	if lerr != nil || need.IsZero() || hasLog(logs, need.File) {
		return err
	}
	le := &LostBinlogError{Source: k.source, Need: need, Err: err}
	if len(logs) > 0 {
		le.Oldest = logs[0].Name
	}
	st := k.env.Catalog()
	for _, name := range st.TaskNames() {
		if _, ok := st.Tasks[name].Sources[k.source]; ok {
			le.Tasks = append(le.Tasks, name)
		}
	}
	k.log.Error("binlog needed by dmnode is gone from the source", "need", need.String(), "oldest", le.Oldest)
	return Permanent(le)
}

// PurgeSource removes what a removed source left in the cluster: its
// relay stream and the record of where it starts, its tailer's checkpoint
// and its progress and error reports. A source added again under the same
// id then starts afresh.
func PurgeSource(ctx context.Context, store interface {
	jetstream.CheckpointStore
	jetstream.Relays
}, source string) error {
	if err := store.DeleteRelay(ctx, source); err != nil {
		return err
	}
	return store.Delete(ctx, tailKey(source), jetstream.SourceStartKey(source), tailProgKey(source), relayProgKey(source), relayStartKey(source),
		jetstream.ErrorKey(catalog.KindTail, "", source))
}

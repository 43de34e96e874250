package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/adaptive"
	"github.com/dmnode/dmnode/core/apply"
	"github.com/dmnode/dmnode/core/catalog"
	"github.com/dmnode/dmnode/core/config"
	"github.com/dmnode/dmnode/core/schema"
	"github.com/dmnode/dmnode/jetstream"
)

// Applier replays one source's binlog stream into the target for one task.
// Every upstream transaction commits on the target whole, in one target
// transaction that also writes the position applied into
// dmnode_meta.checkpoint, so after any crash it resumes exactly after the
// last committed transaction: nothing lost or doubled. With several
// workers (the syncer's worker-count) independent transactions run on
// several connections but commit in the source's order (see parallel.go).
// Changes up to the task's SafeUntil position (rows that chunks of a redone
// dump may already hold) are applied idempotently: INSERT as REPLACE,
// UPDATE as DELETE plus REPLACE.
//
// The statements and their grouping into target transactions are planned
// by core/apply (pure); the applier reads the stream, compiles table plans
// and commits the planned target transactions through a Target
// (target.go), from its start (targetstart.go: the fence, the checkpoint,
// the apply window) to its end; its unit tests replace it with a fake.
type Applier struct {
	env    Env
	task   string
	source string
	// hook is a test's crash points (nil in production).
	hook ApplyHook
	// open opens the target: openMariaTarget when nil (a test gives a
	// fake).
	open targetOpener
}

// ApplyHook lets a test stop the apply path at its crash points, as a
// process killed there would stop. At is called at each point; a non-nil
// error makes the applier return it at once, leaving what a killed
// process leaves: an open target transaction is abandoned (the server
// rolls it back), nothing in memory is saved.
type ApplyHook interface {
	At(point string) error
}

// Crash points of the apply path (ApplyHook).
const (
	// CrashInTxn: a target transaction holds its rows (or its checkpoint),
	// not yet committed.
	CrashInTxn = "in-txn"
	// CrashCommitted: a target transaction committed, the applier has not
	// taken note (its position, its progress report).
	CrashCommitted = "committed"
	// CrashWindow: the apply window was recorded before a transaction is
	// written in pieces; no piece is written.
	CrashWindow = "window"
	// CrashPart: a part of a sequence is written into the sequence's
	// target transaction, the rest not yet.
	CrashPart = "part"
	// CrashPiece: a piece of a transaction written in pieces committed,
	// the checkpoint not yet.
	CrashPiece = "piece"
)

// crashAt consults the test hook at point.
func (r *applyRun) crashAt(point string) error { return r.a.crashAt(point) }

func (a *Applier) crashAt(point string) error {
	if a.hook == nil {
		return nil
	}
	if err := a.hook.At(point); err != nil {
		return fmt.Errorf("stopped at crash point %s: %w", point, err)
	}
	return nil
}

// ApplyProgress is what the applier reports for status.
type ApplyProgress struct {
	Applied    dmnode.Position `json:"applied"`
	EventTime  uint32          `json:"event_time"`
	RowsInsert int64           `json:"rows_insert"`
	RowsUpdate int64           `json:"rows_update"`
	RowsDelete int64           `json:"rows_delete"`
	// Rate is the recent rate of row changes applied, per second.
	Rate    float64   `json:"rate"`
	Updated time.Time `json:"updated"`
	// Connections is how many target connections the applier spreads a
	// batch over now, as its adaptive limit chose, and ConnectionsWhy
	// says why.
	Connections    int    `json:"connections,omitempty"`
	ConnectionsWhy string `json:"connections_why,omitempty"`
	// Transactions the target refused whole, for their size, and that
	// were written in pieces in safe mode instead (see bigtxn.go):
	// InPieces names the one being written, PiecesTxns counts them, and
	// PiecesLast and PiecesAt tell the last one and when it was done.
	InPieces   string    `json:"in_pieces,omitempty"`
	PiecesTxns int64     `json:"pieces_txns,omitempty"`
	PiecesLast string    `json:"pieces_last,omitempty"`
	PiecesAt   time.Time `json:"pieces_at,omitzero"`
}

func applyProgKey(task, source string) string {
	return jetstream.ProgressKey("apply", task, source)
}

// Bounds of one target transaction: it commits after this many row
// changes, or when no more changes are waiting. 8,000 took less of the
// target's CPU in BenchmarkApplySysbench (the bench's incr shapes applied
// alone), but in the whole catch-up (BENCH=incr) it was faster in 1 of 3
// interleaved rounds, took more of dmnode's CPU in 3 of 3 and once more
// than 300 MiB of memory.
const applyMaxRows = config.ApplyMaxRows

// applyStartTimeout bounds an applier's start, from opening the target
// to its first read of the relay: a few round trips to the target, to
// JetStream and, for a sharded task, to the leader. A call that never
// answers (a peer that died while it held the request) then fails the
// start, naming the step, and the host starts the applier again, instead
// of an applier that runs and applies nothing.
var applyStartTimeout = time.Minute

var errStartSlow = errors.New("the start took too long")

func (a *Applier) Run(ctx context.Context) error {
	te, err := loadTask(a.env, a.task, a.source)
	if err != nil {
		return err
	}
	if te.state.Stage != catalog.StageSync {
		return nil
	}
	// Cancelled, not given a deadline: a JetStream call under a context
	// without one gets its own few seconds, and one with a deadline would
	// wait for all of it.
	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	slow := time.AfterFunc(applyStartTimeout, func() { cancel(errStartSlow) })
	var step string
	st, err := a.start(sctx, te, &step)
	slow.Stop()
	if err != nil {
		if ctx.Err() == nil && errors.Is(context.Cause(sctx), errStartSlow) {
			err = fmt.Errorf("applier start: %s did not finish within %v: %w", step, applyStartTimeout, err)
		}
		return err
	}
	cancel(nil)
	r, target, relay, seq := st.run, st.target, st.relay, st.seq
	defer target.Close()
	r.hold = openHold(ctx, a.env, a.task, a.source, a.env.Log)
	defer r.hold.stop()
	for {
		err := r.consume(ctx, relay, seq)
		switch {
		case errors.Is(err, errPieces):
			// Read again from the checkpoint, which is just before the
			// transaction to write in pieces.
			r.lastEnd = r.applied
		case errors.Is(err, errRewind):
			// Read again from the checkpoint: the released shard tables
			// re-sync, what was applied before is passed over.
			r.shard.rewind()
			target.Rewind()
			r.lastEnd = r.applied
			if !r.shard.Reached.IsZero() && r.shard.Reached.Compare(r.safeUntil) > 0 {
				r.safeUntil = r.shard.Reached
			}
		default:
			return err
		}
		if seq, err = firstAfter(ctx, relay, r.applied); err != nil {
			return err
		}
	}
}

// applyStart is what an applier's start prepared: the run, its open
// target, the relay, and the sequence to read it from.
type applyStart struct {
	run    *applyRun
	target TargetSession
	relay  jetstream.Relay
	seq    uint64
}

// start opens the target, claims its fence, reads where to resume and
// finds that place in the relay. *step names what it is doing, for the
// error of a start that takes too long. On an error the target is closed.
func (a *Applier) start(ctx context.Context, te *taskEnv, step *string) (*applyStart, error) {
	// Transactions run on the syncer's worker-count connections; a
	// sharded task's re-sync after a DDL lock needs them in one.
	workers := max(1, te.inst.Sync.WorkerCount)
	if te.task.ShardMode != "" {
		workers = 1
	}
	open := a.open
	if open == nil {
		open = openMariaTarget
	}
	*step = "opening the target"
	target, err := open(ctx, targetSpec{DB: te.task.TargetDatabase, Conns: workers + 1, Task: a.task, Source: a.source,
		Epoch: a.env.Epoch, Rules: te.rules, CrashAt: a.crashAt, Log: a.env.Log})
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	st, err := a.resume(ctx, te, target, workers, step)
	if err != nil {
		target.Close()
		return nil, err
	}
	return st, nil
}

// resume is start once the target is open.
func (a *Applier) resume(ctx context.Context, te *taskEnv, target TargetSession, workers int, step *string) (*applyStart, error) {
	// The fence is claimed before the checkpoint is read: from there on
	// no older incarnation (of this applier or of the loader) can write.
	// Rows up to the last window handed to parallel workers may be on the
	// target already: replayed in safe mode.
	*step = "claiming the target's fence and reading its checkpoint"
	applied, window, err := startOn(ctx, target)
	if err != nil {
		return nil, err
	}
	if applied.IsZero() {
		applied = te.state.Start
	}
	safeUntil := te.state.SafeUntil
	if window.Compare(safeUntil) > 0 {
		safeUntil = window
	}
	if applied.IsZero() {
		return nil, Permanent(fmt.Errorf("no start position for task %s source %s", a.task, a.source))
	}
	*step = "opening the relay"
	relay, err := a.env.Store.Relay(ctx, a.source)
	if err != nil {
		return nil, err
	}
	if err := checkRelayHolds(ctx, a.env.Store, a.task, a.source, applied); err != nil {
		return nil, err
	}
	*step = "finding " + applied.String() + " in the relay"
	seq, err := firstAfter(ctx, relay, applied)
	if err != nil {
		return nil, err
	}
	*step = "reading the applier's progress"
	var prog ApplyProgress
	if _, err := a.env.Store.Load(ctx, applyProgKey(a.task, a.source), &prog); err != nil {
		return nil, err
	}
	prog.Applied = applied
	r := &applyRun{
		a: a, te: te, log: a.env.Log, target: target,
		applied: applied, started: applied, safeUntil: safeUntil, prog: prog, lastEnd: applied,
		limit: applyLimit(workers),
	}
	if window.Compare(applied) > 0 {
		// A window past the checkpoint that names a transaction's first
		// event was recorded to write that transaction in pieces.
		r.piecesAt = window
	}
	// The resync state: shard DDL coordination, and the tables a
	// rejected DDL quarantined (quarantine.go), for every task.
	*step = "reading the shard state and registering with the leader"
	if err := r.openShard(ctx); err != nil {
		return nil, err
	}
	return &applyStart{run: r, target: target, relay: relay, seq: seq}, nil
}

// consume reads the stream from seq.
func (r *applyRun) consume(ctx context.Context, relay jetstream.Relay, seq uint64) error {
	r.log.Info("applying binlog", "from", r.applied.String(), "stream_seq", seq, "safe_until", r.safeUntil.String())
	// The relay is read in order, at most applyMaxMsgs messages and 8 MiB
	// waiting in the client's buffer (jetstream.Relay.Read). A reader
	// whose relay lost its quorum gives up after a few attempts; the
	// host's backoff retries instead.
	cur, err := relay.Read(ctx, seq)
	if err != nil {
		return err
	}
	defer r.abandonBig()
	return r.run(ctx, relay, seq, cur)
}

// firstAfter finds the sequence of the first stream message that holds a
// transaction ending after p: a batch, or the first message of a
// transaction's part sequence. Messages' order positions grow with the
// sequence (RelayHeaders.Order), so a binary search over message headers
// finds it.
func firstAfter(ctx context.Context, relay jetstream.Relay, p dmnode.Position) (uint64, error) {
	info, err := relay.Info(ctx)
	if err != nil {
		return 0, err
	}
	return searchAfter(info, p, 0, func(seq uint64) (dmnode.Position, error) { return msgEnd(ctx, relay, seq) })
}

// searchAfter is firstAfter over the messages info describes, reading a
// message's end position with end. hint, when not 0, is an earlier answer
// for a position at or before p: the search then goes forward from it,
// doubling its steps, and reads a few messages near the hint instead of
// about log2(messages) spread over the stream (each read of a message in
// another block makes the server load that block).
func searchAfter(info jetstream.RelayInfo, p dmnode.Position, hint uint64, end func(seq uint64) (dmnode.Position, error)) (uint64, error) {
	lo, hi := info.FirstSeq, info.LastSeq+1
	if info.Msgs == 0 {
		return max(hi, 1), nil
	}
	after := func(seq uint64) (bool, error) {
		e, err := end(seq)
		return e.Compare(p) > 0, err
	}
	if hint > lo && hint < hi {
		before, err := after(hint - 1)
		if err != nil {
			return 0, err
		}
		if !before {
			lo = hint
			for step := uint64(1); lo < hi; step *= 2 {
				probe := min(lo+step-1, hi-1)
				ok, err := after(probe)
				if err != nil {
					return 0, err
				}
				if ok {
					hi = probe
					break
				}
				lo = probe + 1
			}
		}
	}
	for lo < hi {
		mid := lo + (hi-lo)/2
		ok, err := after(mid)
		if err != nil {
			return 0, err
		}
		if ok {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo, nil
}

func msgEnd(ctx context.Context, relay jetstream.Relay, seq uint64) (dmnode.Position, error) {
	m, err := relay.Get(ctx, seq)
	if err != nil {
		return dmnode.Position{}, err
	}
	h, err := jetstream.ParseRelayHeaders(m.Header)
	if err != nil {
		return dmnode.Position{}, fmt.Errorf("stream message %d: %w", seq, err)
	}
	return h.Order(), nil
}

type applyRun struct {
	a   *Applier
	te  *taskEnv
	log *slog.Logger
	// target is the target database: the applier reaches it through
	// Target alone.
	target    Target
	applied   dmnode.Position
	appliedAt uint32
	safeUntil dmnode.Position
	prog      ApplyProgress
	rate      rate

	// the target batch being built: row changes, and statements on
	// dmnode's own tables that commit with the checkpoint
	ops   []apply.Change
	stmts []stmt
	rows  int
	// marks ends each upstream transaction's changes in ops (parallel.go).
	marks []txnMark
	// limit chooses how many of the workers a batch is spread over
	// (adaptive.go).
	limit     *adaptive.Limit
	pending   dmnode.Position
	pendAt    uint32
	counts    [3]int64
	upSchemas *schema.Tracker
	// ddlNow is the DDL being applied and its one parse (ddlstmt.go).
	ddlNow *ddlText

	// rows and message bytes in the target transaction being built,
	// counted in the metrics when it commits
	batch      [3]int64
	batchBytes int64

	// started is the position this incarnation started from: the first
	// DDL after it may have run on the target before a crash.
	started dmnode.Position
	// lastEnd is the end of the last transaction read.
	lastEnd dmnode.Position
	// big is the part sequence being applied (bigtxn.go), asm puts its
	// fragmented parts together, and piecesAt names the transaction to
	// write in pieces.
	big      *bigTxn
	asm      jetstream.Assembler
	piecesAt dmnode.Position
	// shard is the shard DDL coordination of a task with a shard-mode.
	shard *shardState
	// hold stops the applier at a position for verification (hold.go).
	hold *applyHold
}

// Reading the stream: the ordered consumer is iterated (not fetched, which
// would create a consumer on the server for every fetch), and the target
// transaction is committed when the stream runs dry, after applyMaxMsgs
// messages, or applyMaxDelay after it was started, whichever comes first.
const (
	applyMaxMsgs  = 64
	applyMaxDelay = 50 * time.Millisecond
)

// stallAfter is how long a reader may see nothing while its stream holds
// messages it has not delivered before it is restarted: a consumer lost
// with a node may otherwise go unnoticed.
const stallAfter = 5 * time.Second

func (r *applyRun) run(ctx context.Context, relay jetstream.Relay, next uint64, it jetstream.RelayCursor) error {
	defer it.Stop()
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	lastReport := time.Time{}
	msgs, started := 0, time.Time{}
	lastMsg := time.Now()
	for ctx.Err() == nil {
		wait := applyMaxDelay
		if msgs > 0 {
			wait = max(time.Millisecond, applyMaxDelay-time.Since(started))
		}
		m, pending, ok, err := it.Next(wait)
		switch {
		case err == nil && ok:
			lastMsg = time.Now()
			// The stream has one subject, so its messages arrive
			// without gaps; a gap is a purge that raced this start.
			// (Seq 0: the message came without its metadata.)
			if m.Seq > next {
				return fmt.Errorf("stream of source %s skipped from %d to %d (purged before they were read); reading again", r.a.source, next, m.Seq)
			}
			if m.Seq != 0 {
				next = m.Seq + 1
				r.a.env.metrics().Pending(jetstream.BinlogStream(r.a.source), pending)
			}
			r.batchBytes += int64(len(m.Data))
			if err := r.message(ctx, m.Header, m.Data); err != nil {
				return err
			}
			if msgs == 0 {
				started = time.Now()
			}
			msgs++
			if msgs < applyMaxMsgs && time.Since(started) < applyMaxDelay {
				continue
			}
		case err == nil:
			if time.Since(lastMsg) >= stallAfter {
				lastMsg = time.Now()
				if info, err := relay.Info(ctx); err == nil && info.LastSeq >= next {
					return fmt.Errorf("stream of source %s holds messages up to %d but none arrived after %d for %s; reading again",
						r.a.source, info.LastSeq, next-1, stallAfter)
				}
			}
		case ctx.Err() != nil:
			return nil
		default:
			return fmt.Errorf("read binlog batches: %w", err)
		}
		if err := r.commit(ctx); err != nil {
			return err
		}
		if err := r.pollHolds(); err != nil {
			return err
		}
		if err := r.holdIdle(ctx); err != nil {
			return err
		}
		msgs = 0
		if time.Since(lastReport) >= time.Second {
			r.report(ctx)
			lastReport = time.Now()
		}
	}
	return nil
}

// txn adds one upstream transaction to the target transaction being built.
func (r *applyRun) txn(ctx context.Context, t *dmnode.Txn) error {
	if t.End.Compare(r.applied) <= 0 || (!r.pending.IsZero() && t.End.Compare(r.pending) <= 0) {
		return nil // applied before
	}
	if err := r.holdBefore(ctx, t.End); err != nil {
		return err
	}
	safe := r.te.inst.Sync.SafeMode || t.End.Compare(r.safeUntil) <= 0
	replay := false
	if r.shard != nil {
		replay = r.shard.enter(t.End)
		defer r.shard.leave(t.End)
	}
	defer func() { r.lastEnd = t.End }()
	for i := range t.Changes {
		c := &t.Changes[i]
		if r.shard != nil && !r.shard.applies(c.Table, t.End, replay) {
			continue
		}
		if c.DDL != "" {
			if err := r.commit(ctx); err != nil {
				return err
			}
			if err := r.ddl(ctx, c, t); err != nil {
				return err
			}
			continue
		}
		if err := r.change(ctx, c, safe); err != nil {
			return err
		}
	}
	r.pending, r.pendAt = t.End, t.Time
	r.markTxn(t.End, t.Time)
	if r.rows >= applyMaxRows {
		return r.commit(ctx)
	}
	return nil
}

func (r *applyRun) change(ctx context.Context, c *dmnode.Change, safe bool) error {
	if len(c.Rows) == 0 || !r.te.rules.Replicated(c.Table.Schema, c.Table.Table) {
		return nil
	}
	// One rows event holds changes of one kind.
	skip, err := r.te.rules.FilterDML(c.Table.Schema, c.Table.Table, c.Rows[0].Kind)
	if err != nil {
		return Permanent(err)
	}
	if skip {
		return nil
	}
	p, err := r.target.Plan(ctx, c.Table, c.Columns, func() *schema.Table { return r.upstream(ctx, c.Table) })
	if err != nil {
		return err
	}
	n := len(r.ops)
	if r.ops, err = apply.Rows(r.ops, p, c, safe); err != nil {
		return Permanent(err)
	}
	for _, op := range r.ops[n:] {
		r.rows++
		r.counts[op.Kind-dmnode.Insert]++
		r.batch[op.Kind-dmnode.Insert]++
	}
	return nil
}

// commit writes the statements built so far and the position after them in
// one target transaction, which first checks that this incarnation still
// holds the target fence.
func (r *applyRun) commit(ctx context.Context) error {
	if r.pending.IsZero() {
		return nil
	}
	pos, at := r.pending, r.pendAt
	if r.shard != nil {
		pos = r.shard.checkpoint(pos)
	}
	uniques, err := r.target.Uniques(ctx, r.ops)
	if err != nil {
		return err
	}
	began, rows := time.Now(), r.rows
	if n, _ := r.limit.Current(); n > 1 && len(r.marks) > 1 && len(r.stmts) == 0 && r.shard.stateless() {
		if err := r.commitParallel(ctx, n, pos, at, uniques); err != nil {
			return err
		}
	} else {
		state, saved, err := r.stateStmts()
		if err != nil {
			return err
		}
		txn := targetTxn{Stmts: append(r.withLoad(ctx, r.ops, statements(r.ops, uniques, r.rowsPerStmt())), r.stmts...), State: state, Pos: pos, At: at}
		if err := r.target.Commit(ctx, txn); err != nil {
			return fmt.Errorf("apply up to %s: %w", pos, err)
		}
		saved()
	}
	if rows > 0 {
		r.limit.Done(time.Now(), int64(rows), time.Since(began))
	}
	r.applied, r.appliedAt = pos, at
	r.ops, r.stmts, r.rows, r.pending, r.marks = r.ops[:0], r.stmts[:0], 0, dmnode.Position{}, r.marks[:0]
	r.countCommitted()
	return nil
}

// countCommitted counts the committed target transaction's row changes
// and message bytes in the metrics.
func (r *applyRun) countCommitted() {
	m := r.a.env.metrics()
	for i, n := range r.batch {
		if n > 0 {
			m.Rows(PhaseSync, (dmnode.Insert + dmnode.ChangeKind(i)).String(), n)
		}
	}
	m.Bytes(PhaseSync, r.batchBytes)
	r.batch, r.batchBytes = [3]int64{}, 0
}

// upstream returns the schema of an upstream table for creating a missing
// target table: the version in force where the applier reads, from the
// source's schema history, else one created by a replicated CREATE TABLE.
func (r *applyRun) upstream(ctx context.Context, id dmnode.TableID) *schema.Table {
	v, ok, err := r.a.env.Store.Schemas().Table(ctx, r.a.source, id.Schema, id.Table, r.lastEnd)
	if err != nil {
		r.log.Warn("read the schema history", "table", id.String(), "at", r.lastEnd.String(), "err", err)
	}
	if ok && v.Table != nil {
		return v.Table
	}
	if r.upSchemas != nil {
		if t, ok := r.upSchemas.Get(id.Schema, id.Table); ok {
			return t
		}
	}
	return nil
}

func (r *applyRun) report(ctx context.Context) {
	p := r.prog
	p.Applied, p.EventTime = r.applied, r.appliedAt
	if p.EventTime == 0 {
		p.EventTime = r.prog.EventTime
	}
	p.RowsInsert += r.counts[0]
	p.RowsUpdate += r.counts[1]
	p.RowsDelete += r.counts[2]
	r.prog, r.counts = p, [3]int64{}
	now := time.Now()
	p.Rate = r.rate.sample(p.RowsInsert+p.RowsUpdate+p.RowsDelete, now)
	p.Updated = now.UTC()
	p.Connections, p.ConnectionsWhy = r.limit.Current()
	r.prog.Updated, r.prog.Rate = p.Updated, p.Rate
	if err := r.a.env.Store.Put(ctx, applyProgKey(r.a.task, r.a.source), p); err != nil && ctx.Err() == nil {
		r.log.Debug("report apply progress", "err", err)
	}
}

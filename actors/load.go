package actors

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"
	"golang.org/x/sync/errgroup"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/adaptive"
	"github.com/dmnode/dmnode/core/catalog"
	"github.com/dmnode/dmnode/core/rules"
	"github.com/dmnode/dmnode/core/schema"
	"github.com/dmnode/dmnode/core/sqlgen"
	"github.com/dmnode/dmnode/jetstream"
)

// Loader writes one source's dumped chunks to the target. It consumes the
// task's snapshot stream with a durable consumer and acknowledges a message
// only after its rows are committed, so a restarted loader gets every
// unacknowledged message again. Rows are written with LOAD DATA LOCAL ...
// REPLACE from memory or, where the target refuses that, INSERTed, or
// REPLACEd where some are already on the target; either way writing a
// message twice is harmless. Several workers (the task's pool-size) each load a message in
// its own target transaction; acknowledgements are sent beside them.
type Loader struct {
	env    Env
	task   string
	source string
}

// LoadProgress is what the loader reports for status.
type LoadProgress struct {
	RowsLoaded int64 `json:"rows_loaded"`
	// Rate is the recent rate of rows written, per second.
	Rate float64 `json:"rate"`
	// Connections is how many target connections the loader uses now,
	// as its adaptive limit chose, and ConnectionsWhy says why.
	Connections    int    `json:"connections,omitempty"`
	ConnectionsWhy string `json:"connections_why,omitempty"`
	// Loaded is set once every row of the source is committed, before
	// the secondary indexes left for after the load are added
	// (loadindex.go).
	Loaded  bool      `json:"loaded,omitempty"`
	Updated time.Time `json:"updated"`
}

// Statement size of the loader's multi-row INSERTs, by the estimate of
// sqlgen.RowSize: large enough to amortise a statement's round trip and
// parsing, small enough to stay far below max_allowed_packet (1 MiB is
// the smallest default, of MySQL 5.5; a message, and so a statement of
// one row, is under 1 MiB anyway).
const (
	loadStmtBytes      = 128 << 10
	loadMaxRowsPerStmt = 5000
)

// loadRowsPerStmt is the applier's rows per multi-row statement.
const loadRowsPerStmt = 500

func loadProgKey(task, source string) string { return jetstream.ProgressKey("load", task, source) }

func (l *Loader) Run(ctx context.Context) error {
	te, err := loadTask(l.env, l.task, l.source)
	if err != nil {
		return err
	}
	if te.state.Stage != catalog.StageDump && te.state.Stage != catalog.StageLoad {
		return nil
	}
	pool := max(te.inst.Load.PoolSize, 1)
	db, err := openWriteTarget(ctx, te.task.TargetDatabase, pool)
	if err != nil {
		return fmt.Errorf("target: %w", err)
	}
	defer db.Close()
	if err := prepareMeta(ctx, db); err != nil {
		return err
	}
	if err := claimFence(ctx, db, l.task, l.source, l.env.Epoch); err != nil {
		return err
	}
	queue, err := l.env.Store.SnapshotQueue(ctx, l.task)
	if err != nil {
		return err
	}
	// A consumer of its own per incarnation: messages a dead incarnation
	// fetched but never acknowledged are delivered again at once, and a
	// stale incarnation still running elsewhere can neither fetch (and sit
	// on) this one's messages nor acknowledge any
	// (jetstream.SnapshotQueue.Consume). The fence claimed above keeps a
	// stale incarnation that starts late from getting here.
	//
	// Room for every fragment of the largest message besides: its
	// fragments are all delivered before the first is acknowledged.
	cons, err := queue.Consume(ctx, l.source, l.env.Epoch, loadMaxAckPending(pool)+jetstream.MaxFragments, loadPrefetch(pool))
	if err != nil {
		return err
	}
	defer cons.Stop()
	var prog LoadProgress
	if _, err := l.env.Store.Load(ctx, loadProgKey(l.task, l.source), &prog); err != nil {
		return err
	}
	ld := &loadRun{l: l, queue: queue, tables: newTargetTables(db, te.rules, l.env.Log), rows: prog.RowsLoaded,
		stmtBytes: te.inst.Load.StatementSize, maxAck: loadMaxAckPending(pool) + jetstream.MaxFragments}
	// A task's statement-size asks for INSERT statements of that size.
	ld.loadData.Store(ld.stmtBytes == 0)
	if te.inst.Load.AddIndexAfterLoad {
		ld.tables.deferIndexes = ld.deferIndexes
	}
	defer ld.adapt(te.task.Name, te.task.TargetDatabase, pool)()
	return ld.run(ctx, cons, pool)
}

type loadRun struct {
	rate  rate
	l     *Loader
	queue jetstream.SnapshotQueue
	// limit (the budget's, shared with the task's other loaders into
	// the target), budget and gate decide how many workers write at
	// once (adaptive.go).
	limit  *adaptive.Limit
	budget *adaptive.Budget
	gate   *adaptive.Gate
	tables *targetTables
	rows   int64 // atomic
	// received counts the consumer's deliveries (fragments too), acked
	// the confirmed acknowledgements: their difference is what this
	// incarnation holds. maxAck is the consumer's MaxAckPending (0:
	// unknown). stallAfter (loadStallAfter when 0) is how long without a
	// delivery before fetch asks the server whether it should have had one.
	received, acked atomic.Int64
	maxAck          int
	stallAfter      time.Duration
	// loadData is set while the target accepts LOAD DATA LOCAL.
	loadData atomic.Bool
	// loaded is set once every row is committed (LoadProgress.Loaded).
	loaded atomic.Bool
	// stmtBytes bounds the INSERT statements: the task's statement-size,
	// or 0 for loadStmtBytes.
	stmtBytes int
	// Time the workers spent, summed over them, for the finish log: in
	// target transactions, preparing statements, and waiting for work.
	execNs, buildNs, idleNs atomic.Int64
	// For the finish log: when the first message was committed, and the
	// adaptive limit's changes ("3@1.2s": 3 connections from 1.2 s on).
	started     time.Time
	firstLoaded atomic.Int64 // unix ns
	trajMu      sync.Mutex
	traj        []string
	lastLimit   int
}

// track records the limit in force after a message (the one the task's
// loaders into the target share), for the finish log, and logs a change
// with this loader's share and the reason.
func (ld *loadRun) track(limit int) {
	ld.trajMu.Lock()
	defer ld.trajMu.Unlock()
	if limit == ld.lastLimit || len(ld.traj) > 64 {
		return
	}
	ld.lastLimit = limit
	ld.traj = append(ld.traj, fmt.Sprintf("%d@%.1fs", limit, time.Since(ld.started).Seconds()))
	share, why := ld.connections()
	ld.l.env.Log.Info("load connections", "limit", limit, "share", share, "why", why, "rows", atomic.LoadInt64(&ld.rows))
}

// Loader buffers. Every message held is at most 1 MiB (the stream's max
// payload), so a loader holds at most (maxAckPending) MiB of dumped rows.
const (
	// loadFetchWait is how long a fetch waits for messages while the dump
	// runs; loadDrainWait once it finished, so that the end of the load
	// is noticed promptly.
	loadFetchWait = 500 * time.Millisecond
	loadDrainWait = 20 * time.Millisecond
	// loadAckWait bounds the wait for the server to confirm an
	// acknowledgement.
	loadAckWait = time.Minute
	// loadStallAfter is how long the fetcher goes without a delivery
	// before it compares what the consumer says it delivered with what
	// arrived (stalled).
	loadStallAfter = time.Minute
)

// snapMsg is one message of the snapshot stream: one stream message, or
// the fragments of a larger one put together (fetch).
type snapMsg struct {
	ms   []jetstream.SnapshotMsg
	data []byte
}

// loaded is a message whose rows are committed, waiting for its
// acknowledgement.
type loaded struct {
	m    snapMsg
	rows int
}

func (ld *loadRun) run(ctx context.Context, cons jetstream.SnapshotConsumer, pool int) error {
	ld.started = time.Now()
	// Fetched messages wait here for a free worker; when it is full the
	// fetcher waits. The consumer's MaxAckPending (loadMaxAckPending)
	// bounds what is fetched, in a worker, or waiting for its ack.
	msgs := make(chan snapMsg, loadQueued)
	// Committed messages wait here for their acknowledgement, so a worker
	// goes on to the next message without waiting for the server to
	// confirm one (a confirmed ack costs a stream write, and an fsync with
	// SyncAlways). It holds every message the consumer lets be pending, so
	// a worker never waits for it.
	acks := make(chan loaded, loadMaxAckPending(pool))
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(msgs)
		return ld.fetch(gctx, cons, msgs)
	})
	var workers sync.WaitGroup
	for range pool {
		workers.Add(1)
		g.Go(func() error {
			defer workers.Done()
			return ld.work(gctx, msgs, acks)
		})
	}
	g.Go(func() error {
		workers.Wait()
		close(acks)
		return nil
	})
	g.Go(func() error {
		for a := range acks {
			if err := ld.ack(gctx, a); err != nil {
				return err
			}
		}
		return nil
	})
	start := ld.started
	err := g.Wait()
	ld.report(context.WithoutCancel(ctx))
	if errors.Is(err, errLoadDone) {
		if err := ld.finishIndexes(ctx); err != nil {
			return err
		}
		// The stream goes before the stage is recorded: once the stage is
		// past load no loader runs again to drop it, while a loader that
		// runs again on a dropped stream finds it empty and done.
		if err := ld.queue.Drop(ctx, ld.l.source); err != nil {
			ld.l.env.Log.Warn("the source's snapshot stream stays until the task is deleted", "err", err)
		}
		if err := ld.l.env.Propose(ctx, catalog.Command{Op: catalog.OpStageDone, Name: ld.l.task, Src: ld.l.source, Stage: catalog.StageLoad}); err != nil {
			return fmt.Errorf("record load done: %w", err)
		}
		ld.l.env.Log.Info("load finished", "rows", atomic.LoadInt64(&ld.rows), "took", time.Since(start).Round(time.Millisecond),
			"workers", pool, "in_target", time.Duration(ld.execNs.Load()).Round(time.Millisecond),
			"preparing", time.Duration(ld.buildNs.Load()).Round(time.Millisecond),
			"waiting", time.Duration(ld.idleNs.Load()).Round(time.Millisecond),
			"first_loaded_after", ld.firstLoadedAfter().Round(time.Millisecond), "limit", strings.Join(ld.traj, " "))
		return nil
	}
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// work loads messages until msgs is closed and hands each to the acker.
// A worker loads only while the gate admits it: the adaptive limit decides
// how many of the pool's connections are in use.
//
// A worker passes the gate before it takes a message, so that only the
// workers the limit admits hold one: the others hold no rows.
func (ld *loadRun) work(ctx context.Context, msgs <-chan snapMsg, acks chan<- loaded) error {
	waitFrom := time.Now()
	for {
		if err := ld.gate.Acquire(ctx); err != nil {
			return err
		}
		m, ok := <-msgs
		if !ok {
			ld.gate.Release()
			return nil
		}
		ld.idleNs.Add(int64(time.Since(waitFrom)))
		began := time.Now()
		n, err := ld.apply(ctx, m.data)
		ld.gate.Release()
		if err != nil {
			return err
		}
		now := time.Now()
		// One message, one connection: the time it took is the time it
		// held the connection, so the limit sees when the workers wait
		// on the dump rather than on the target.
		took := now.Sub(began)
		ld.track(ld.limit.DoneOn(now, int64(n), took, took))
		ld.firstLoaded.CompareAndSwap(0, now.UnixNano())
		select {
		case acks <- loaded{m, n}:
		case <-ctx.Done():
			return ctx.Err()
		}
		waitFrom = time.Now()
	}
}

// loadAckAttempt is how long one attempt at an acknowledgement waits
// for its confirmation. A confirmation can be lost (the consumer's
// leader killed holding it): an attempt that timed out is made again, up
// to loadAckWait in all, so a lost one costs an attempt, not the whole
// wait. Acknowledging again is harmless: the server confirms an
// acknowledged message again.
var loadAckAttempt = 10 * time.Second

// ack acknowledges a committed message, confirmed by the server so that
// the drain check counts it, and records its rows.
func (ld *loadRun) ack(ctx context.Context, a loaded) error {
	// The client's default wait for a confirmation (5 s) is short for a
	// server that fsyncs every write on a loaded host: an ack that timed
	// out restarted the loader.
	ctx, cancel := context.WithTimeout(ctx, loadAckWait)
	defer cancel()
	for _, m := range a.m.ms {
		if err := ackAttempts(ctx, m); err != nil {
			return err
		}
		ld.acked.Add(1)
	}
	atomic.AddInt64(&ld.rows, int64(a.rows))
	met := ld.l.env.metrics()
	met.Rows(PhaseLoad, dmnode.Insert.String(), int64(a.rows))
	met.Bytes(PhaseLoad, int64(len(a.m.data)))
	met.Pending(jetstream.SnapshotStream(ld.l.task, ld.l.source), a.m.ms[len(a.m.ms)-1].Pending())
	return nil
}

// ackAttempts acknowledges m in attempts of loadAckAttempt until ctx ends.
func ackAttempts(ctx context.Context, m jetstream.SnapshotMsg) error {
	return inAttempts(ctx, loadAckAttempt, m.Ack)
}

// inAttempts calls fn with a context of attempt's deadline within ctx,
// again while it times out (a reply lost with a stream's or consumer's
// leader), until it succeeds, fails otherwise, or ctx ends. fn must be
// safe to repeat.
func inAttempts(ctx context.Context, attempt time.Duration, fn func(context.Context) error) error {
	for {
		actx, cancel := context.WithTimeout(ctx, attempt)
		err := fn(actx)
		cancel()
		if err == nil || ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
	}
}

// firstLoadedAfter is how long after the start the first message was
// committed.
func (ld *loadRun) firstLoadedAfter() time.Duration {
	f := ld.firstLoaded.Load()
	if f == 0 {
		return 0
	}
	return time.Unix(0, f).Sub(ld.started)
}

// What the loader holds besides the messages in its workers: loadQueued
// put together and waiting for a worker, and loadPrefetch(pool) received
// and not yet read. A message is up to 1 MiB.
const loadQueued = 2

func loadPrefetch(pool int) int { return min(max(pool/2, 2), 8) }

// loadMaxAckPending is the loader consumer's MaxAckPending: messages in a
// worker, waiting for one, or waiting for their acknowledgement.
func loadMaxAckPending(pool int) int { return 4 * pool }

var errLoadDone = errors.New("load done")

// fetch pulls messages until the dump is finished and every message is
// acknowledged, then returns errLoadDone. It puts fragmented messages
// together (frags), holding one at most.
//
// The consumer reads through one continuous subscription
// (jetstream.SnapshotQueue.Consume), which cons.Stop ends.
func (ld *loadRun) fetch(ctx context.Context, cons jetstream.SnapshotConsumer, out chan<- snapMsg) error {
	stop := context.AfterFunc(ctx, cons.Stop)
	defer stop()
	lastReport, lastDelivery := time.Now(), time.Now()
	f := &fragments{log: ld.l.env.Log}
	for {
		if time.Since(lastReport) > time.Second {
			ld.report(ctx)
			lastReport = time.Now()
		}
		wait := loadFetchWait
		if ld.dumpFinished() {
			wait = loadDrainWait
		}
		m, ok, err := cons.Next(wait)
		if err == nil && ok {
			ld.received.Add(1)
			lastDelivery = time.Now()
			sm, ok, err := f.add(ctx, m)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			select {
			case out <- sm:
			case <-ctx.Done():
				return ctx.Err()
			}
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			return err
		}
		if time.Since(lastDelivery) >= cmp.Or(ld.stallAfter, loadStallAfter) {
			if err := ld.stalled(ctx, cons); err != nil {
				return err
			}
			lastDelivery = time.Now()
		}
		done, onlyHeld, err := ld.drained(ctx, cons, len(f.held))
		if onlyHeld {
			// Nothing else left: the held fragments are the unfinished
			// message of a dumper that died (its chunk was dumped again).
			if err := f.drop(ctx); err != nil {
				return err
			}
			continue
		}
		if err != nil || done {
			if done {
				return errLoadDone
			}
			return err
		}
	}
}

// stalled returns an error when the consumer, after a long wait without a
// delivery, says it delivered messages that never arrived (lost in a
// server's failover: JetStream would deliver them again only after the
// ten-minute AckWait), or holds messages it does not deliver although
// this incarnation has room for them. The host then starts the loader
// again, whose new consumer delivers everything unacknowledged at once;
// rows loaded twice are replaced, not doubled.
func (ld *loadRun) stalled(ctx context.Context, cons jetstream.SnapshotConsumer) error {
	pending, ackPending, err := cons.Pending(ctx)
	if err != nil {
		return err
	}
	held := uint64(max(ld.received.Load()-ld.acked.Load(), 0))
	if ackPending > held {
		return fmt.Errorf("the load consumer of source %s counts %d messages delivered and unacknowledged, this loader holds %d: deliveries were lost; starting the loader again to have them delivered again", ld.l.source, ackPending, held)
	}
	if pending > 0 && ld.maxAck > 0 && ackPending < uint64(ld.maxAck) {
		return fmt.Errorf("the load consumer of source %s holds %d messages but delivered none for %s with room for %d more; starting the loader again", ld.l.source, pending, cmp.Or(ld.stallAfter, loadStallAfter), uint64(ld.maxAck)-ackPending)
	}
	return nil
}

// dumpFinished reports whether the catalog records the dump as finished.
func (ld *loadRun) dumpFinished() bool {
	t, ok := ld.l.env.Catalog().Tasks[ld.l.task]
	return ok && t.Sources[ld.l.source] != nil && t.Sources[ld.l.source].Stage == catalog.StageLoad
}

// drained reports whether the dumper finished and nothing is left to
// load, or (onlyHeld) nothing but the held fragments.
func (ld *loadRun) drained(ctx context.Context, cons jetstream.SnapshotConsumer, held int) (done, onlyHeld bool, err error) {
	if !ld.dumpFinished() {
		return false, false, nil
	}
	pending, ackPending, err := cons.Pending(ctx)
	if err != nil {
		return false, false, err
	}
	if pending > 0 || ackPending > uint64(held) {
		return false, false, nil
	}
	if held > 0 {
		return false, true, nil
	}
	return ackPending == 0, false, nil
}

// fragments puts the fragments of the snapshot stream's large messages
// together (jetstream.Assembler). The dumper publishes a message's
// fragments consecutively, so at most one message is put together at a
// time. Fragments that cannot be put together are acknowledged and
// dropped, with a warning: a message left unfinished by a dumper that died
// (its chunk is not done, so it is dumped again), or the rest of one whose
// acknowledgements were cut short by a crash (its rows are committed).
type fragments struct {
	log  *slog.Logger
	asm  jetstream.Assembler
	held []jetstream.SnapshotMsg
}

// add takes the next message; it returns a whole message and true, or
// false while one is being put together.
func (f *fragments) add(ctx context.Context, m jetstream.SnapshotMsg) (snapMsg, bool, error) {
	dropped := f.asm.Dropped
	data, whole, err := f.asm.Add(m.Data())
	if f.asm.Dropped > dropped {
		if err := f.drop(ctx); err != nil {
			return snapMsg{}, false, err
		}
	}
	if errors.Is(err, jetstream.ErrFragmentOrder) {
		f.log.Warn("dropping a dumped fragment that continues no message", "err", err)
		if err := m.Ack(ctx); err != nil {
			return snapMsg{}, false, err
		}
		return snapMsg{}, false, nil
	}
	if err != nil {
		return snapMsg{}, false, Permanent(fmt.Errorf("snapshot stream: %w", err))
	}
	if !whole {
		f.held = append(f.held, m)
		return snapMsg{}, false, nil
	}
	ms := append(f.held, m)
	f.held = nil
	return snapMsg{ms: ms, data: data}, true, nil
}

// drop acknowledges and forgets the fragments held.
func (f *fragments) drop(ctx context.Context) error {
	if len(f.held) == 0 {
		return nil
	}
	f.log.Warn("dropping the fragments of a dumped message that was never finished", "fragments", len(f.held))
	for _, m := range f.held {
		if err := m.Ack(ctx); err != nil {
			return err
		}
	}
	f.held = nil
	f.asm.Reset()
	return nil
}

// apply writes a message's rows to the target in one transaction and
// returns how many it wrote.
//
// It loads the rows with LOAD DATA ... REPLACE where it can (see
// applyLoadData). Otherwise it INSERTs, and REPLACEs only when that fails
// on a duplicate key:
// the transaction is all or nothing, so an INSERT that commits wrote rows
// none of which existed, exactly what REPLACE would have written, and one
// that fails wrote nothing. Rows already on the target (a message
// delivered again after a crash, a chunk dumped again by a restarted
// dumper) thus still end up as REPLACE leaves them, and the first load of
// a chunk, nearly always, pays no more than a plain INSERT.
func (ld *loadRun) apply(ctx context.Context, data []byte) (int, error) {
	start := time.Now()
	head, rr, err := jetstream.DecodeRowBatchHead(data)
	if err != nil {
		return 0, Permanent(err)
	}
	var upErr error // a failed read of the schema is retried, not a missing schema
	plan, err := ld.tables.plan(ctx, head.Table, head.Columns, func() (up *schema.Table) {
		up, upErr = dumpSchema(ctx, ld.l.env, ld.l.task, ld.l.source, head.Table)
		return up
	})
	if upErr != nil {
		return 0, fmt.Errorf("read the dumped schema of %s: %w", head.Table, upErr)
	}
	if err != nil {
		return 0, err
	}
	fence := func(tx *sql.Tx) error { return checkFence(ctx, tx, ld.l.task, ld.l.source, ld.l.env.Epoch) }
	if ld.loadData.Load() {
		buf := getLoadFile(len(data) + len(data)/8)
		file, n, ok, err := loadDataFile((*buf)[:0], plan, rr)
		if err != nil {
			return 0, Permanent(err)
		}
		if ok {
			done, err := ld.applyLoadData(ctx, plan, file, fence, start)
			*buf = file
			putLoadFile(buf) // the statement has read it
			if err != nil {
				return 0, fmt.Errorf("load %s chunk %d: %w", head.Table, head.Chunk, err)
			}
			if done {
				return n, nil
			}
		}
		start = time.Now()
	}
	rb, err := jetstream.DecodeRowBatch(data)
	if err != nil {
		return 0, Permanent(err)
	}
	rows := make([][]any, len(rb.Rows))
	for i, r := range rb.Rows {
		if rows[i], err = plan.Apply(r); err != nil {
			return 0, Permanent(err)
		}
		rows[i] = plan.WriteRow(rows[i]) // generated columns are the target's to compute
	}
	stmtBytes := loadStmtBytes
	if ld.stmtBytes > 0 {
		stmtBytes = ld.stmtBytes
	}
	ends := sqlgen.SplitRows(rows, loadMaxRowsPerStmt, stmtBytes)
	for _, replace := range []bool{false, true} {
		stmts := make([]stmt, 0, len(ends))
		from := 0
		for _, end := range ends {
			q, args := sqlgen.Insert(plan.TargetSchema, plan.TargetTable, plan.WriteColumns(), rows[from:end], replace)
			stmts = append(stmts, stmt{query: q, args: args})
			from = end
		}
		built := time.Now()
		ld.buildNs.Add(int64(built.Sub(start)))
		err = execTx(ctx, ld.tables.db, stmts, fence)
		ld.execNs.Add(int64(time.Since(built)))
		if !isDuplicateKey(err) {
			break
		}
		ld.l.env.Log.Debug("rows of a dumped chunk already on the target; loading it with REPLACE", "table", rb.Table, "chunk", rb.Chunk, "part", rb.Part)
		start = time.Now()
	}
	if err != nil {
		return 0, fmt.Errorf("load %s chunk %d: %w", rb.Table, rb.Chunk, err)
	}
	return len(rb.Rows), nil
}

// loadDataFiles numbers the in-memory files LOAD DATA reads, whose names
// the driver keeps in a process-wide registry.
var loadDataFiles atomic.Uint64

// loadFiles holds the buffers of LOAD DATA files for the next message: a
// file is about a message's size (up to 1 MiB), and one made per message
// had the collector and the scavenger clear and return a megabyte each
// time.
var loadFiles sync.Pool

// getLoadFile returns an empty buffer of at least size bytes.
func getLoadFile(size int) *[]byte {
	if b, ok := loadFiles.Get().(*[]byte); ok && cap(*b) >= size {
		return b
	}
	b := make([]byte, 0, size)
	return &b
}

// putLoadFile keeps b for getLoadFile, unless it grew past a few messages
// (a message of very large rows).
func putLoadFile(b *[]byte) {
	if cap(*b) <= 4<<20 {
		*b = (*b)[:0]
		loadFiles.Put(b)
	}
}

// loadDataFile appends to dst the rows rr reads, as plan.Apply and
// WriteRow and then sqlgen.AppendTSVRow would write them, without a Go
// value per row or field (the message's text goes into the file as it
// is), and returns the file and its rows. It declines (ok false) where only
// Apply gives the rows (a column mapping) and for a value with no LOAD
// DATA form; a corrupt message or a row of the wrong length is an error,
// as for Apply.
//
// Measured on the 2-core bench host (3 x 300k sbtest rows): the loader's
// decoding into values, Apply and AppendTSVRow with its growing buffer
// took a third of the loader's CPU and most of its allocations.
func loadDataFile(dst []byte, plan *rules.TablePlan, rr *jetstream.RowReader) (file []byte, rows int, ok bool, err error) {
	if plan.Maps() {
		return nil, 0, false, nil
	}
	upstream := len(plan.Columns) - len(plan.ExtraValues)
	// The extracted columns' fields, and which columns are written.
	var extra []byte
	for i, v := range plan.ExtraValues {
		if !plan.Written(upstream + i) {
			continue
		}
		var ok bool
		if extra, ok = sqlgen.AppendTSVValue(append(extra, '\t'), v); !ok {
			return nil, 0, false, nil
		}
	}
	written := make([]bool, upstream)
	first := -1 // the first written upstream column
	for i := range written {
		if written[i] = plan.Written(i); written[i] && first < 0 {
			first = i
		}
	}
	if first < 0 {
		// No upstream column is written: leave the rare case to Apply.
		return nil, 0, false, nil
	}
	for {
		n, more := rr.Next()
		if !more {
			break
		}
		if n != upstream {
			return nil, 0, false, fmt.Errorf("apply plan of source %q table %s.%s: row has %d values, the table has %d columns",
				plan.Source, plan.Schema, plan.Table, n, upstream)
		}
		for i := range n {
			v := rr.Value()
			if !written[i] {
				continue
			}
			if i != first {
				dst = append(dst, '\t')
			}
			switch v.Kind {
			case jetstream.KindString:
				dst = sqlgen.AppendTSVString(dst, v.Bytes)
			case jetstream.KindInt:
				dst = strconv.AppendInt(dst, v.Int, 10)
			case jetstream.KindUint:
				dst = strconv.AppendUint(dst, v.Uint, 10)
			case jetstream.KindNil:
				dst = append(dst, `\N`...)
			case jetstream.KindFloat64:
				dst = strconv.AppendFloat(dst, v.Float, 'g', -1, 64)
			case jetstream.KindFloat32:
				dst = strconv.AppendFloat(dst, v.Float, 'g', -1, 32)
			default:
				return nil, 0, false, rr.Err()
			}
		}
		dst = append(append(dst, extra...), '\n')
		rows++
	}
	if err := rr.Err(); err != nil {
		return nil, 0, false, err
	}
	return dst, rows, true, nil
}

// applyLoadData writes the rows of file (loadDataFile) with one LOAD DATA
// LOCAL ... REPLACE from memory, in a transaction with the fence check,
// and reports whether it did. It declines (false, nil), leaving the rows
// to the INSERT path, when the target refuses the statement (then for the
// rest of the run), and when the target rejects or warns about a row: LOAD
// DATA LOCAL turns errors such as a too-long value into warnings, so the
// transaction is rolled back on any warning and INSERT, which fails loudly
// in strict mode, gets the rows. Connection errors, deadlocks and lock
// wait timeouts are returned.
//
// Measured on this repo's 2-core bench host (300k sbtest rows merged by
// 6 connections): LOAD DATA 176-188k rows/s, prepared 500-row INSERTs
// 168k, interpolated ones 149-159k.
func (ld *loadRun) applyLoadData(ctx context.Context, plan *rules.TablePlan, data []byte, fence func(*sql.Tx) error, start time.Time) (bool, error) {
	built := time.Now()
	ld.buildNs.Add(int64(built.Sub(start)))
	defer func() { ld.execNs.Add(int64(time.Since(built))) }()

	tx, err := ld.tables.db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("begin target transaction: %w", err)
	}
	defer tx.Rollback()
	if err := fence(tx); err != nil {
		return false, err
	}
	_, _, warnings, err := execLoadData(ctx, tx, "dmnode-load", plan, data)
	var me *mysql.MySQLError
	switch {
	case err == nil && warnings > 0:
		ld.l.env.Log.Debug("LOAD DATA warned about rows; loading them with INSERT", "table", plan.Schema+"."+plan.Table, "warnings", warnings)
		return false, nil
	case err == nil:
		if err := tx.Commit(); err != nil {
			return false, fmt.Errorf("commit target transaction: %w", err)
		}
		return true, nil
	case !errors.As(err, &me) || me.Number == 1205 || me.Number == 1213:
		return false, fmt.Errorf("target: load data: %w", err)
	case loadRefused(me):
		if ld.loadData.CompareAndSwap(true, false) {
			ld.l.env.Log.Info("the target refuses LOAD DATA LOCAL; loading with multi-row INSERT", "err", err)
		}
		return false, nil
	default:
		ld.l.env.Log.Debug("LOAD DATA rejected rows; loading them with INSERT", "table", plan.Schema+"."+plan.Table, "err", err)
		return false, nil
	}
}

// loadRefused reports whether the target refuses LOAD DATA LOCAL itself:
// local_infile off on either side (1148, 3948, 2068) or the statement not
// supported (1235).
func loadRefused(me *mysql.MySQLError) bool {
	switch me.Number {
	case 1148, 3948, 2068, 1235:
		return true
	}
	return false
}

// isDuplicateKey reports whether the target rejected a row for a
// duplicate key (ER_DUP_ENTRY).
func isDuplicateKey(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == 1062
}

func (ld *loadRun) report(ctx context.Context) {
	if err := ld.putProgress(ctx); err != nil && ctx.Err() == nil {
		ld.l.env.Log.Debug("report load progress", "err", err)
	}
}

// putProgress writes the loader's progress.
func (ld *loadRun) putProgress(ctx context.Context) error {
	now := time.Now()
	rows := atomic.LoadInt64(&ld.rows)
	p := LoadProgress{RowsLoaded: rows, Rate: ld.rate.sample(rows, now), Loaded: ld.loaded.Load(), Updated: now.UTC()}
	p.Connections, p.ConnectionsWhy = ld.connections()
	return ld.l.env.Store.Put(ctx, loadProgKey(ld.l.task, ld.l.source), p)
}

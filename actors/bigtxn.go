package actors

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/apply"
	"github.com/dmnode/dmnode/jetstream"
)

// Transactions larger than a message. The tailer sends such a transaction
// as a sequence of parts (jetstream/parts.go); the applier streams the
// parts into one target transaction, on one connection, and commits it
// with the checkpoint: exactly-once as for any other transaction. It holds
// one part and at most applyMaxRows prepared row changes at a time, never
// the whole transaction. Whatever was read before the sequence is committed
// first, so in parallel mode the sequence follows the work of the workers.
// It is one upstream transaction in one target transaction, as every
// other (parallel.go).
//
// A target may refuse a transaction that large (TiDB's
// txn-total-size-limit, errors 8004 and 8025; MySQL and MariaDB's
// max_binlog_cache_size, error 1197). Then, for that transaction only, the
// applier records the transaction's first position as its apply window,
// reads the sequence again from its start and writes it in pieces of
// applyMaxRows changes, each its own target transaction, in safe mode
// (INSERT as REPLACE, UPDATE as DELETE plus REPLACE), and moves the
// checkpoint with the last piece. Until then the target may show the
// transaction in part; a crash in the middle replays it from its start, in
// pieces and safe mode again (the window says so), which leaves every row
// as upstream left it.

// bigTxn is the part sequence being applied.
type bigTxn struct {
	begin  dmnode.Position // the transaction's first event: its name
	next   int             // number of the next message of the sequence
	parts  int             // parts applied
	skip   bool            // applied before
	pieces bool            // written in pieces, not in one transaction
	safe   bool
	replay bool // shard: read before
	tx     PartsTxn
	counts [3]int64 // r.counts when it began, restored on a fallback
	// files and kept are two sets of buffers of LOAD DATA's rows and
	// their changes, flip the one the next write fills, and loading the
	// load under way on the other (writeBig).
	files   [2][]byte
	kept    [2][]apply.Change
	flip    int
	loading *bigLoad
}

// abandonLoad waits for the load under way, if any, and drops it: the
// transaction is to be rolled back.
func (b *bigTxn) abandonLoad() {
	if b.loading != nil {
		<-b.loading.done
		b.loading = nil
	}
}

// bigLoadMinRows is the fewest row changes a write of the sequence sends
// as LOAD DATA (PartsTxn.Load); fewer go as INSERT, one round trip instead
// of three.
const bigLoadMinRows = 100

// errPieces makes the applier read its stream again from the checkpoint,
// to write the transaction the target refused whole in pieces.
var errPieces = errors.New("read the transaction again to write it in pieces")

// isTxnTooLarge reports whether the target refused a transaction for its
// size.
func isTxnTooLarge(err error) bool {
	var me *mysql.MySQLError
	if !errors.As(err, &me) {
		return false
	}
	switch me.Number {
	case 1197, // ER_TRANS_CACHE_FULL: over max_binlog_cache_size
		8004, // TiDB ErrTxnTooLarge: over txn-total-size-limit
		8025: // TiDB ErrEntryTooLarge
		return true
	}
	return false
}

// message folds one stream message into the target work.
func (r *applyRun) message(ctx context.Context, hdr jetstream.Header, payload []byte) error {
	h, err := jetstream.ParseRelayHeaders(hdr)
	if err != nil {
		return Permanent(fmt.Errorf("stream of source %s: %w", r.a.source, err))
	}
	if !h.Part {
		if r.big != nil {
			return Permanent(fmt.Errorf("stream of source %s: a batch inside the part sequence of the transaction at %s", r.a.source, r.big.begin))
		}
		b, err := jetstream.DecodeBatch(payload)
		if err != nil {
			return Permanent(fmt.Errorf("stream of source %s: %w", r.a.source, err))
		}
		for i := range b.Txns {
			if err := r.txn(ctx, &b.Txns[i]); err != nil {
				return err
			}
		}
		return nil
	}
	switch {
	case h.N == 0 && r.big == nil:
		r.big = &bigTxn{begin: h.Begin}
	case h.N == 0 || r.big == nil || r.big.begin != h.Begin || h.N != r.big.next:
		want := "the start of a sequence"
		if r.big != nil {
			want = fmt.Sprintf("message %d of the transaction at %s", r.big.next, r.big.begin)
		}
		return Permanent(fmt.Errorf("stream of source %s: message %d of the transaction at %s where %s was due",
			r.a.source, h.N, h.Begin, want))
	}
	r.big.next++
	data, whole, err := r.asm.Add(payload)
	if err != nil || r.asm.Dropped > 0 {
		return Permanent(fmt.Errorf("stream of source %s: transaction at %s, message %d: fragments broken: %w", r.a.source, h.Begin, h.N, err))
	}
	if !whole {
		if h.Last {
			return Permanent(fmt.Errorf("stream of source %s: transaction at %s ends inside a fragmented part", r.a.source, h.Begin))
		}
		return nil
	}
	t, err := jetstream.DecodeTxnPart(data)
	if err != nil {
		return Permanent(fmt.Errorf("stream of source %s: transaction at %s: %w", r.a.source, h.Begin, err))
	}
	if h.Last {
		t.End, t.Time = h.End, h.Time
	}
	return r.part(ctx, t, h.Last)
}

// part applies one part of the sequence being read.
func (r *applyRun) part(ctx context.Context, t *dmnode.Txn, last bool) error {
	b := r.big
	if b.parts == 0 && last {
		// The whole transaction in one part (fragmented): as any other.
		r.big = nil
		return r.txn(ctx, t)
	}
	if b.parts == 0 {
		if err := r.beginBig(ctx); err != nil {
			return err
		}
	}
	b.parts++
	if !b.skip {
		for i := range t.Changes {
			c := &t.Changes[i]
			if r.shard != nil && !r.shard.applies(c.Table, b.begin, b.replay) {
				continue
			}
			if c.DDL != "" {
				return Permanent(fmt.Errorf("stream of source %s: DDL inside the part sequence of the transaction at %s", r.a.source, b.begin))
			}
			if err := r.change(ctx, c, b.safe); err != nil {
				return err
			}
			if r.rows >= applyMaxRows {
				if err := r.writeBig(ctx); err != nil {
					return err
				}
			}
		}
	}
	if !last {
		return nil
	}
	return r.endBig(ctx, t.End, t.Time)
}

// beginBig commits what was read before the sequence and opens the
// target transaction it is applied in.
func (r *applyRun) beginBig(ctx context.Context) error {
	b := r.big
	// A transaction's first event comes before its end and after the end
	// of every earlier transaction: it compares with transaction ends as
	// the transaction's end does.
	if b.begin.Compare(r.applied) < 0 {
		b.skip = true
		return nil
	}
	if err := r.commit(ctx); err != nil {
		return err
	}
	b.counts = r.counts
	b.pieces = b.begin == r.piecesAt
	b.safe = r.te.inst.Sync.SafeMode || b.pieces || b.begin.Compare(r.safeUntil) <= 0
	if r.shard != nil {
		b.replay = r.shard.enter(b.begin)
	}
	if b.pieces {
		r.log.Warn("applying a transaction in pieces in safe mode: the target refused it whole", "txn", b.begin.String())
		r.prog.InPieces = b.begin.String()
		r.report(ctx)
		return nil
	}
	tx, err := r.target.BeginParts(ctx)
	if err != nil {
		return err
	}
	b.tx = tx
	r.log.Info("applying a transaction sent in parts in one target transaction", "txn", b.begin.String())
	return nil
}

// writeBig writes the row changes prepared so far: into the sequence's
// target transaction, or as a piece of their own.
//
// A run of inserts, as an INSERT ... SELECT logs, goes as one LOAD DATA,
// which the target takes faster than multi-row INSERTs, and goes on while
// the applier reads and prepares the next run: one load at a time, each
// waited for before anything else is written in the transaction
// (BenchmarkApplySysbench/bulk, one 100k-row transaction: 80k rows/s with
// INSERTs, 105k with loads written in turn, more with the next run
// prepared meanwhile).
func (r *applyRun) writeBig(ctx context.Context) error {
	b := r.big
	if len(r.ops) == 0 {
		return nil
	}
	if !b.pieces && len(r.ops) >= bigLoadMinRows && r.loads(ctx) {
		file, ok := apply.LoadFile(b.files[b.flip][:0], r.ops)
		b.files[b.flip] = file
		if ok {
			if err := r.waitLoad(ctx); err != nil {
				return err
			}
			ops := append(b.kept[b.flip][:0], r.ops...)
			b.kept[b.flip] = ops
			b.flip ^= 1
			l := &bigLoad{ops: ops, done: make(chan error, 1)}
			tx := b.tx
			go func() {
				ok, err := tx.Load(ctx, ops[0].Plan, file, len(ops), ops[0].Safe)
				l.ok = ok
				l.done <- err
			}()
			b.loading = l
			r.ops, r.rows, r.marks = r.ops[:0], 0, r.marks[:0]
			return r.crashAt(CrashPart)
		}
	}
	if err := r.waitLoad(ctx); err != nil {
		return err
	}
	ops := r.ops
	r.ops, r.rows, r.marks = r.ops[:0], 0, r.marks[:0]
	return r.execBig(ctx, ops)
}

// bigLoad is a LOAD DATA of the sequence under way (writeBig).
type bigLoad struct {
	ops  []apply.Change // its rows, for the INSERTs should it decline
	ok   bool           // set before done is sent on
	done chan error
}

// waitLoad waits for the sequence's LOAD DATA under way, if any, and, when
// the target declined it, writes its rows with INSERTs.
func (r *applyRun) waitLoad(ctx context.Context) error {
	b := r.big
	l := b.loading
	if l == nil {
		return nil
	}
	b.loading = nil
	if err := <-l.done; err != nil {
		return r.bigFailed(ctx, err)
	}
	if l.ok {
		return nil
	}
	return r.execBig(ctx, l.ops)
}

// execBig writes ops with INSERT, UPDATE and DELETE statements: into the
// sequence's target transaction, or as a piece of their own.
func (r *applyRun) execBig(ctx context.Context, ops []apply.Change) error {
	b := r.big
	uniques, err := r.target.Uniques(ctx, ops)
	if err != nil {
		return err
	}
	stmts := statements(ops, uniques, loadRowsPerStmt)
	if b.pieces {
		if err := r.target.CommitPiece(ctx, targetTxn{Stmts: stmts}); err != nil {
			return fmt.Errorf("apply a piece of the transaction at %s: %w", b.begin, err)
		}
		return r.crashAt(CrashPiece)
	}
	for _, g := range groupStmts(stmts, groupBytes) {
		if err := b.tx.Exec(ctx, g); err != nil {
			return r.bigFailed(ctx, err)
		}
	}
	return r.crashAt(CrashPart)
}

// bigFailed handles an error of the sequence's target transaction: the
// target's refusal of its size turns to writing it in pieces.
func (r *applyRun) bigFailed(ctx context.Context, err error) error {
	b := r.big
	b.abandonLoad()
	b.tx.Rollback()
	b.tx = nil
	if !isTxnTooLarge(err) {
		return classifyTargetError(fmt.Errorf("apply the transaction at %s: %w", b.begin, err))
	}
	r.log.Warn("the target refused a transaction for its size; writing it in pieces in safe mode",
		"txn", b.begin.String(), "err", err)
	// Recorded before any piece is written: a restart replays the
	// transaction in pieces and safe mode (see Run).
	if b.begin.Compare(r.safeUntil) > 0 {
		if err := r.recordWindow(ctx, b.begin); err != nil {
			return err
		}
		r.safeUntil = b.begin
		if err := r.crashAt(CrashWindow); err != nil {
			return err
		}
	}
	r.piecesAt = b.begin
	r.counts = b.counts
	return errPieces
}

// endBig writes the rest of the sequence and the checkpoint at its end.
func (r *applyRun) endBig(ctx context.Context, end dmnode.Position, at uint32) (err error) {
	b := r.big
	defer func() { r.big, r.lastEnd = nil, end }()
	if b.skip {
		return nil
	}
	if r.shard != nil {
		// Passed only once committed: a transaction the target refused
		// whole is read again, to be written in pieces, and is no
		// replay then.
		defer func() {
			if err == nil {
				r.shard.leave(end)
			}
		}()
	}
	if err := r.writeBig(ctx); err != nil {
		return err
	}
	if err := r.waitLoad(ctx); err != nil {
		return err
	}
	pos := end
	if r.shard != nil {
		pos = r.shard.checkpoint(pos)
	}
	state, saved, err := r.stateStmts()
	if err != nil {
		return err
	}
	last := targetTxn{State: state, Pos: pos, At: at}
	if b.pieces {
		if err := r.target.CommitPiece(ctx, last); err != nil {
			return fmt.Errorf("apply up to %s: %w", pos, err)
		}
		r.prog.InPieces = ""
		r.prog.PiecesTxns++
		r.prog.PiecesLast = b.begin.String()
		r.prog.PiecesAt = time.Now().UTC()
		r.log.Warn("applied a transaction in pieces", "txn", b.begin.String(), "end", end.String())
	} else {
		if err := b.tx.Checkpoint(ctx, last); err != nil {
			// The checkpoint may be what tips the transaction over the
			// target's size limit.
			return r.bigFailed(ctx, fmt.Errorf("apply up to %s: %w", pos, err))
		}
		if err := r.crashAt(CrashInTxn); err != nil {
			return err
		}
		if err := b.tx.Commit(); err != nil {
			return r.bigFailed(ctx, fmt.Errorf("commit target transaction: %w", err))
		}
	}
	saved()
	if err := r.crashAt(CrashCommitted); err != nil {
		return err
	}
	r.applied, r.appliedAt = pos, at
	r.countCommitted()
	return nil
}

// abandonBig rolls back the sequence being applied, if any, when the
// reading stops.
func (r *applyRun) abandonBig() {
	if r.big != nil && r.big.tx != nil {
		r.big.abandonLoad()
		r.big.tx.Rollback()
	}
	r.big = nil
	r.asm.Reset()
	r.ops, r.rows, r.marks = r.ops[:0], 0, r.marks[:0]
}

// recordWindow records pos as the apply window: a restart replays up to
// there in safe mode.
func (r *applyRun) recordWindow(ctx context.Context, pos dmnode.Position) error {
	if err := r.target.RecordWindow(ctx, pos); err != nil {
		return fmt.Errorf("record apply window up to %s: %w", pos, err)
	}
	return nil
}

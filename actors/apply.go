package actors

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	njs "github.com/nats-io/nats.go/jetstream"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/catalog"
	"github.com/dmnode/dmnode/core/rules"
	"github.com/dmnode/dmnode/core/schema"
	"github.com/dmnode/dmnode/core/sqlgen"
	"github.com/dmnode/dmnode/jetstream"
)

// Applier replays one source's binlog stream into the target for one task.
// It writes the position it has applied into dmnode_meta.checkpoint in the
// same target transaction as the rows, so after any crash it resumes exactly
// after the last committed transaction: nothing is lost or applied twice.
// Changes up to the task's SafeUntil position (rows that chunks of a redone
// dump may already hold) are applied idempotently: INSERT as REPLACE,
// UPDATE as DELETE plus REPLACE.
type Applier struct {
	env    Env
	task   string
	source string
}

// ApplyProgress is what the applier reports for status.
type ApplyProgress struct {
	Applied    dmnode.Position `json:"applied"`
	EventTime  uint32          `json:"event_time"`
	RowsInsert int64           `json:"rows_insert"`
	RowsUpdate int64           `json:"rows_update"`
	RowsDelete int64           `json:"rows_delete"`
	Updated    time.Time       `json:"updated"`
}

func applyProgKey(task, source string) string {
	return jetstream.Key("progress", "apply", task, source)
}

// Bounds of one target transaction: it commits after this many row
// changes, or when no more changes are waiting.
const applyMaxRows = 2000

func (a *Applier) Run(ctx context.Context) error {
	te, err := loadTask(a.env, a.task, a.source)
	if err != nil {
		return err
	}
	if te.state.Stage != catalog.StageSync {
		return nil
	}
	db, err := OpenDB(ctx, te.task.TargetDatabase, 2)
	if err != nil {
		return fmt.Errorf("target: %w", err)
	}
	defer db.Close()
	for _, q := range []string{"CREATE DATABASE IF NOT EXISTS " + MetaSchema, checkpointDDL} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return classifyTargetError(fmt.Errorf("create checkpoint table: %w", err))
		}
	}
	applied, err := a.readCheckpoint(ctx, db)
	if err != nil {
		return err
	}
	if applied.IsZero() {
		applied = te.state.Start
	}
	if applied.IsZero() {
		return Permanent(fmt.Errorf("no start position for task %s source %s", a.task, a.source))
	}
	stream, err := a.env.Store.BinlogStream(ctx, a.source)
	if err != nil {
		return err
	}
	seq, err := firstAfter(ctx, stream, applied)
	if err != nil {
		return err
	}
	var prog ApplyProgress
	if _, err := a.env.Store.Load(ctx, applyProgKey(a.task, a.source), &prog); err != nil {
		return err
	}
	prog.Applied = applied
	r := &applyRun{
		a: a, db: db, te: te, log: a.env.Log, tables: newTargetTables(db, te.rules),
		applied: applied, safeUntil: te.state.SafeUntil, prog: prog,
	}
	a.env.Log.Info("applying binlog", "from", applied.String(), "stream_seq", seq, "safe_until", te.state.SafeUntil.String())
	cons, err := stream.OrderedConsumer(ctx, njs.OrderedConsumerConfig{
		FilterSubjects: []string{jetstream.BinlogSubject(a.source)},
		DeliverPolicy:  njs.DeliverByStartSequencePolicy,
		OptStartSeq:    seq,
	})
	if err != nil {
		return fmt.Errorf("read stream of source %s: %w", a.source, err)
	}
	return r.run(ctx, cons)
}

// readCheckpoint reads the applied position from the target, fencing off
// a newer incarnation's checkpoint.
func (a *Applier) readCheckpoint(ctx context.Context, db *sql.DB) (dmnode.Position, error) {
	var p dmnode.Position
	var gtid sql.NullString
	var epoch uint64
	err := db.QueryRowContext(ctx, `SELECT binlog_file, binlog_pos, binlog_gtid, epoch FROM `+MetaSchema+
		`.checkpoint WHERE task = ? AND source = ?`, a.task, a.source).Scan(&p.File, &p.Pos, &gtid, &epoch)
	if errors.Is(err, sql.ErrNoRows) {
		return dmnode.Position{}, nil
	}
	if err != nil {
		return dmnode.Position{}, fmt.Errorf("read checkpoint from target: %w", err)
	}
	if epoch > a.env.Epoch {
		return dmnode.Position{}, fmt.Errorf("target checkpoint of epoch %d, this applier has epoch %d: %w", epoch, a.env.Epoch, jetstream.ErrFenced)
	}
	p.GTID = gtid.String
	return p, nil
}

// firstAfter finds the sequence of the first stream message that holds a
// transaction ending after p. Batch end positions grow with the sequence,
// so a binary search over message headers finds it.
func firstAfter(ctx context.Context, stream njs.Stream, p dmnode.Position) (uint64, error) {
	info, err := stream.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("read stream info: %w", err)
	}
	lo, hi := info.State.FirstSeq, info.State.LastSeq+1
	if info.State.Msgs == 0 {
		return max(hi, 1), nil
	}
	first, err := msgEnd(ctx, stream, lo)
	if err != nil {
		return 0, err
	}
	// The first message's transactions must not start after p, or the
	// stream misses what lies between.
	_ = first
	for lo < hi {
		mid := lo + (hi-lo)/2
		end, err := msgEnd(ctx, stream, mid)
		if err != nil {
			return 0, err
		}
		if end.Compare(p) > 0 {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo, nil
}

func msgEnd(ctx context.Context, stream njs.Stream, seq uint64) (dmnode.Position, error) {
	m, err := stream.GetMsg(ctx, seq)
	if err != nil {
		return dmnode.Position{}, fmt.Errorf("read stream message %d: %w", seq, err)
	}
	p, _, err := jetstream.HeaderPosition(m.Header)
	return p, err
}

type applyRun struct {
	a         *Applier
	db        *sql.DB
	te        *taskEnv
	log       *slog.Logger
	tables    *targetTables
	applied   dmnode.Position
	appliedAt uint32
	safeUntil dmnode.Position
	prog      ApplyProgress

	// the target transaction being built
	stmts     []stmt
	rows      int
	pending   dmnode.Position
	pendAt    uint32
	counts    [3]int64
	upSchemas *schema.Tracker
}

func (r *applyRun) run(ctx context.Context, cons njs.Consumer) error {
	lastReport := time.Time{}
	for {
		batch, err := cons.Fetch(64, njs.FetchMaxWait(200*time.Millisecond))
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("fetch binlog batches: %w", err)
		}
		for m := range batch.Messages() {
			b, err := jetstream.DecodeBatch(m.Data())
			if err != nil {
				return Permanent(fmt.Errorf("stream of source %s: %w", r.a.source, err))
			}
			for i := range b.Txns {
				if err := r.txn(ctx, &b.Txns[i]); err != nil {
					return err
				}
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, njs.ErrNoMessages) && ctx.Err() == nil {
			return fmt.Errorf("fetch binlog batches: %w", err)
		}
		if ctx.Err() != nil {
			return nil
		}
		if err := r.commit(ctx); err != nil {
			return err
		}
		if time.Since(lastReport) >= time.Second {
			r.report(ctx)
			lastReport = time.Now()
		}
	}
}

// txn adds one upstream transaction to the target transaction being built.
func (r *applyRun) txn(ctx context.Context, t *dmnode.Txn) error {
	if t.End.Compare(r.applied) <= 0 || (!r.pending.IsZero() && t.End.Compare(r.pending) <= 0) {
		return nil // applied before
	}
	safe := r.te.inst.Sync.SafeMode || t.End.Compare(r.safeUntil) <= 0
	for i := range t.Changes {
		c := &t.Changes[i]
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
	if r.rows >= applyMaxRows {
		return r.commit(ctx)
	}
	return nil
}

func (r *applyRun) change(ctx context.Context, c *dmnode.Change, safe bool) error {
	if !r.te.rules.Allowed(c.Table.Schema, c.Table.Table) {
		return nil
	}
	p, err := r.tables.plan(ctx, c.Table, c.Columns, func() *schema.Table { return r.upstream(ctx, c.Table) })
	if err != nil {
		return err
	}
	key := targetKey(p, c.Key, len(c.Columns))
	var inserts [][]any
	flush := func() {
		if len(inserts) > 0 {
			q, args := sqlgen.Insert(p.TargetSchema, p.TargetTable, p.Columns, inserts, safe)
			r.stmts = append(r.stmts, stmt{q, args})
			inserts = nil
		}
	}
	for _, rc := range c.Rows {
		before, after, err := applyPlan(p, rc)
		if err != nil {
			return Permanent(err)
		}
		r.rows++
		switch rc.Kind {
		case dmnode.Insert:
			inserts = append(inserts, after)
			r.counts[0]++
			if len(inserts) == loadRowsPerStmt {
				flush()
			}
		case dmnode.Update:
			flush()
			r.counts[1]++
			if safe {
				q, args := sqlgen.Delete(p.TargetSchema, p.TargetTable, p.Columns, key, before)
				r.stmts = append(r.stmts, stmt{q, args})
				q, args = sqlgen.Insert(p.TargetSchema, p.TargetTable, p.Columns, [][]any{after}, true)
				r.stmts = append(r.stmts, stmt{q, args})
			} else {
				q, args := sqlgen.Update(p.TargetSchema, p.TargetTable, p.Columns, key, before, after)
				r.stmts = append(r.stmts, stmt{q, args})
			}
		case dmnode.Delete:
			flush()
			r.counts[2]++
			q, args := sqlgen.Delete(p.TargetSchema, p.TargetTable, p.Columns, key, before)
			r.stmts = append(r.stmts, stmt{q, args})
		}
	}
	flush()
	return nil
}

func applyPlan(p *rules.TablePlan, rc dmnode.RowChange) (before, after []any, err error) {
	if rc.Before != nil {
		if before, err = p.Apply(rc.Before); err != nil {
			return nil, nil, err
		}
	}
	if rc.After != nil {
		if after, err = p.Apply(rc.After); err != nil {
			return nil, nil, err
		}
	}
	return before, after, nil
}

// commit writes the statements built so far and the position after them in
// one target transaction. The checkpoint row is locked first, so a stale
// incarnation (lower epoch) fails instead of writing.
func (r *applyRun) commit(ctx context.Context) error {
	if r.pending.IsZero() {
		return nil
	}
	pos, at := r.pending, r.pendAt
	err := execTx(ctx, r.db, r.stmts, func(tx *sql.Tx) error { return r.fence(ctx, tx, pos, at) })
	if err != nil {
		return fmt.Errorf("apply up to %s: %w", pos, err)
	}
	r.applied, r.appliedAt = pos, at
	r.stmts, r.rows, r.pending = r.stmts[:0], 0, dmnode.Position{}
	return nil
}

func (r *applyRun) fence(ctx context.Context, tx *sql.Tx, pos dmnode.Position, at uint32) error {
	var epoch uint64
	err := tx.QueryRowContext(ctx, `SELECT epoch FROM `+MetaSchema+`.checkpoint WHERE task = ? AND source = ? FOR UPDATE`,
		r.a.task, r.a.source).Scan(&epoch)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("lock checkpoint: %w", err)
	}
	if epoch > r.a.env.Epoch {
		return fmt.Errorf("checkpoint written by epoch %d, this applier has epoch %d: %w", epoch, r.a.env.Epoch, jetstream.ErrFenced)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO `+MetaSchema+`.checkpoint
		(task, source, epoch, binlog_file, binlog_pos, binlog_gtid, event_time) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON DUPLICATE KEY UPDATE epoch = VALUES(epoch), binlog_file = VALUES(binlog_file), binlog_pos = VALUES(binlog_pos),
		binlog_gtid = VALUES(binlog_gtid), event_time = VALUES(event_time)`,
		r.a.task, r.a.source, r.a.env.Epoch, pos.File, pos.Pos, pos.GTID, at)
	if err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	return nil
}

// ddl applies a schema change. dmnode creates tables and databases that
// appear upstream; other DDL needs shard coordination that dmnode does not
// have yet, so the task stops at it with the statement named rather than
// letting rows of a changed shape fail later.
func (r *applyRun) ddl(ctx context.Context, c *dmnode.Change, t *dmnode.Txn) error {
	id := c.Table
	inScope := r.te.rules.AllowedSchema(id.Schema)
	if id.Table != "" {
		inScope = r.te.rules.Allowed(id.Schema, id.Table)
	}
	if inScope {
		if err := r.execDDL(ctx, c); err != nil {
			return err
		}
	}
	r.pending, r.pendAt = t.End, t.Time
	return r.commit(ctx)
}

func (r *applyRun) execDDL(ctx context.Context, c *dmnode.Change) error {
	tr := schema.NewTracker()
	d, err := tr.Apply(c.DDLSchema, c.DDL)
	if err != nil && !(errors.Is(err, schema.ErrUnknownTable) && d.Kind == schema.CreateTable) {
		return Permanent(fmt.Errorf("parse DDL %q: %w", abbreviate(c.DDL), err))
	}
	switch d.Kind {
	case schema.CreateDatabase:
		target, _, err := r.te.rules.Route(d.Schema, "")
		if err != nil {
			return Permanent(err)
		}
		_, err = r.db.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS "+sqlgen.QuoteIdent(target))
		return classifyTargetError(err)
	case schema.CreateTable:
		up, ok := tr.Get(d.Tables[0].Schema, d.Tables[0].Name)
		if !ok {
			break // CREATE TABLE ... LIKE: the target table is created with its first row
		}
		if r.upSchemas == nil {
			r.upSchemas = schema.NewTracker()
		}
		r.upSchemas.Put(up)
		_, err := r.tables.plan(ctx, c.Table, up.ColumnNames(), func() *schema.Table { return up })
		return err
	default:
		return Permanent(fmt.Errorf("DDL on replicated tables is not supported yet, the task stops at it: %q at position %s; apply it on the target by hand, then skip it (not supported yet) or redo the task",
			abbreviate(c.DDL), r.pending))
	}
	return nil
}

// upstream returns the schema of an upstream table for creating a missing
// target table: one created by a replicated CREATE TABLE, else the one the
// source's tailer tracks.
func (r *applyRun) upstream(ctx context.Context, id dmnode.TableID) *schema.Table {
	if r.upSchemas != nil {
		if t, ok := r.upSchemas.Get(id.Schema, id.Table); ok {
			return t
		}
	}
	var cp TailCheckpoint
	if _, err := r.a.env.Store.Load(ctx, tailKey(r.a.source), &cp); err != nil || cp.Schemas == nil {
		return nil
	}
	tr := schema.NewTracker()
	if err := json.Unmarshal(cp.Schemas, tr); err != nil {
		return nil
	}
	t, _ := tr.Get(id.Schema, id.Table)
	return t
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
	p.Updated = time.Now().UTC()
	r.prog.Updated = p.Updated
	if err := r.a.env.Store.Put(ctx, applyProgKey(r.a.task, r.a.source), p); err != nil && ctx.Err() == nil {
		r.log.Debug("report apply progress", "err", err)
	}
}

package actors

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	njs "github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/catalog"
	"github.com/dmnode/dmnode/core/schema"
	"github.com/dmnode/dmnode/core/sqlgen"
	"github.com/dmnode/dmnode/jetstream"
)

// Loader writes one source's dumped chunks to the target. It consumes the
// task's snapshot stream with a durable consumer and acknowledges a message
// only after its rows are committed, so a restarted loader gets every
// unacknowledged message again. Rows are written with REPLACE, which makes
// writing a message twice harmless.
type Loader struct {
	env    Env
	task   string
	source string
}

// LoadProgress is what the loader reports for status.
type LoadProgress struct {
	RowsLoaded int64 `json:"rows_loaded"`
	// Rate is the recent rate of rows written, per second.
	Rate    float64   `json:"rate"`
	Updated time.Time `json:"updated"`
}

// Rows per REPLACE statement: large enough to amortise round trips, small
// enough to stay under max_allowed_packet for ordinary rows.
const loadRowsPerStmt = 500

func loadProgKey(task, source string) string { return jetstream.Key("progress", "load", task, source) }

func (l *Loader) Run(ctx context.Context) error {
	te, err := loadTask(l.env, l.task, l.source)
	if err != nil {
		return err
	}
	if te.state.Stage != catalog.StageDump && te.state.Stage != catalog.StageLoad {
		return nil
	}
	pool := max(te.inst.Load.PoolSize, 1)
	db, err := OpenDB(ctx, te.task.TargetDatabase, pool)
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
	stream, err := l.env.Store.SnapshotStream(ctx, l.task)
	if err != nil {
		return err
	}
	// A fresh consumer per incarnation: messages a dead incarnation
	// fetched but never acknowledged are delivered again at once instead of
	// after AckWait, and a stale incarnation still running elsewhere fails
	// on its next acknowledgement because its consumer is gone.
	durable := "load_" + jetstream.Token(l.source)
	if err := stream.DeleteConsumer(ctx, durable); err != nil && !errors.Is(err, njs.ErrConsumerNotFound) {
		return fmt.Errorf("reset load consumer: %w", err)
	}
	cons, err := stream.CreateOrUpdateConsumer(ctx, njs.ConsumerConfig{
		Durable:       durable,
		FilterSubject: jetstream.SnapshotSubject(l.task, l.source),
		AckPolicy:     njs.AckExplicitPolicy,
		AckWait:       10 * time.Minute,
		MaxAckPending: 2 * pool,
	})
	if err != nil {
		return fmt.Errorf("create load consumer: %w", err)
	}
	var prog LoadProgress
	if _, err := l.env.Store.Load(ctx, loadProgKey(l.task, l.source), &prog); err != nil {
		return err
	}
	ld := &loadRun{l: l, tables: newTargetTables(db, te.rules), rows: prog.RowsLoaded}
	return ld.run(ctx, cons, pool)
}

type loadRun struct {
	rate    rate
	l       *Loader
	tables  *targetTables
	schemas map[dmnode.TableID]*schema.Table
	rows    int64 // atomic
}

func (ld *loadRun) run(ctx context.Context, cons njs.Consumer, pool int) error {
	msgs := make(chan njs.Msg, pool) // bounded: the fetcher waits for a free worker
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(msgs)
		return ld.fetch(gctx, cons, pool, msgs)
	})
	for range pool {
		g.Go(func() error {
			for m := range msgs {
				if err := ld.apply(gctx, m); err != nil {
					return err
				}
			}
			return nil
		})
	}
	err := g.Wait()
	ld.report(context.WithoutCancel(ctx))
	if errors.Is(err, errLoadDone) {
		if err := ld.l.env.Propose(ctx, catalog.Command{Op: catalog.OpStageDone, Name: ld.l.task, Src: ld.l.source, Stage: catalog.StageLoad}); err != nil {
			return fmt.Errorf("record load done: %w", err)
		}
		ld.l.env.Log.Info("load finished", "rows", atomic.LoadInt64(&ld.rows))
		return nil
	}
	if ctx.Err() != nil {
		return nil
	}
	return err
}

var errLoadDone = errors.New("load done")

// fetch pulls messages until the dump is finished and every message is
// acknowledged, then returns errLoadDone.
func (ld *loadRun) fetch(ctx context.Context, cons njs.Consumer, pool int, out chan<- njs.Msg) error {
	lastReport := time.Now()
	for {
		batch, err := cons.Fetch(pool, njs.FetchMaxWait(500*time.Millisecond))
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("fetch dumped chunks: %w", err)
		}
		n := 0
		for m := range jetstream.Messages(ctx, batch) {
			n++
			select {
			case out <- m:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, njs.ErrNoMessages) && ctx.Err() == nil {
			return fmt.Errorf("fetch dumped chunks: %w", err)
		}
		if time.Since(lastReport) > time.Second {
			ld.report(ctx)
			lastReport = time.Now()
		}
		if n > 0 {
			continue
		}
		done, err := ld.drained(ctx, cons)
		if err != nil || done {
			if done {
				return errLoadDone
			}
			return err
		}
	}
}

// drained reports whether the dumper finished and nothing is left to load.
func (ld *loadRun) drained(ctx context.Context, cons njs.Consumer) (bool, error) {
	st := ld.l.env.Catalog()
	t, ok := st.Tasks[ld.l.task]
	if !ok || t.Sources[ld.l.source] == nil || t.Sources[ld.l.source].Stage != catalog.StageLoad {
		return false, nil
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return false, fmt.Errorf("read load consumer: %w", err)
	}
	return info.NumPending == 0 && info.NumAckPending == 0, nil
}

func (ld *loadRun) apply(ctx context.Context, m njs.Msg) error {
	rb, err := jetstream.DecodeRowBatch(m.Data())
	if err != nil {
		return Permanent(err)
	}
	plan, err := ld.tables.plan(ctx, rb.Table, rb.Columns, func() *schema.Table { return ld.upstream(ctx, rb.Table) })
	if err != nil {
		return err
	}
	var stmts []stmt
	rows := make([][]any, 0, min(len(rb.Rows), loadRowsPerStmt))
	for _, r := range rb.Rows {
		out, err := plan.Apply(r)
		if err != nil {
			return Permanent(err)
		}
		rows = append(rows, out)
		if len(rows) == loadRowsPerStmt {
			q, args := sqlgen.Insert(plan.TargetSchema, plan.TargetTable, plan.Columns, rows, true)
			stmts = append(stmts, stmt{q, args})
			rows = make([][]any, 0, loadRowsPerStmt)
		}
	}
	if len(rows) > 0 {
		q, args := sqlgen.Insert(plan.TargetSchema, plan.TargetTable, plan.Columns, rows, true)
		stmts = append(stmts, stmt{q, args})
	}
	fence := func(tx *sql.Tx) error { return checkFence(ctx, tx, ld.l.task, ld.l.source, ld.l.env.Epoch) }
	if err := execTx(ctx, ld.tables.db, stmts, fence); err != nil {
		return fmt.Errorf("load %s chunk %d: %w", rb.Table, rb.Chunk, err)
	}
	// Acknowledged only after commit, and confirmed by the server, so
	// the message is not lost if this node dies now.
	if err := m.DoubleAck(ctx); err != nil {
		return fmt.Errorf("acknowledge chunk of %s: %w", rb.Table, err)
	}
	atomic.AddInt64(&ld.rows, int64(len(rb.Rows)))
	met := ld.l.env.metrics()
	met.Rows(PhaseLoad, dmnode.Insert.String(), int64(len(rb.Rows)))
	met.Bytes(PhaseLoad, int64(len(m.Data())))
	if md, err := m.Metadata(); err == nil {
		met.Pending(jetstream.SnapshotStream(ld.l.task), md.NumPending)
	}
	return nil
}

// upstream returns the dumped schema of an upstream table, for creating its
// target table.
func (ld *loadRun) upstream(ctx context.Context, id dmnode.TableID) *schema.Table {
	if ld.schemas == nil {
		m, err := dumpSchemas(ctx, ld.l.env, ld.l.task, ld.l.source)
		if err != nil {
			return nil
		}
		ld.schemas = m
	}
	return ld.schemas[id]
}

func (ld *loadRun) report(ctx context.Context) {
	now := time.Now()
	rows := atomic.LoadInt64(&ld.rows)
	p := LoadProgress{RowsLoaded: rows, Rate: ld.rate.sample(rows, now), Updated: now.UTC()}
	if err := ld.l.env.Store.Put(ctx, loadProgKey(ld.l.task, ld.l.source), p); err != nil && ctx.Err() == nil {
		ld.l.env.Log.Debug("report load progress", "err", err)
	}
}

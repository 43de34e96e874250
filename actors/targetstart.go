package actors

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/config"
	"github.com/dmnode/dmnode/core/rules"
)

// An applier incarnation's target, from its start: Applier.Run opens a
// TargetSession (openMariaTarget, or a unit test's fake), readies it and
// reads where the last incarnation left off through StartTarget, then
// reaches it through Target alone until it closes it. No code of the
// applier outside mariaTarget and its helpers holds a connection.
//
// As for the other parts of Target (targetddl.go), a method is called
// from the applier's goroutine only, blocks on the target's round trips
// and honours ctx; a statement the target server refuses comes back
// Permanent, connection trouble as it is, retryable.

// StartTarget is the target as an applier incarnation finds it when it
// starts: dmnode's tables, the fence, and where the incarnation before it
// left off. Run calls Prepare, ClaimFence, Checkpoint and ApplyWindow, in
// that order, once each, before any other method of the session.
type StartTarget interface {
	// Prepare creates dmnode's tables on the target (dmnode_meta) unless
	// they exist.
	Prepare(ctx context.Context) error
	// ClaimFence raises the task and source's fence to the epoch the
	// session was opened with (targetSpec.Epoch, the one every later
	// transaction checks): from then on no older incarnation, of the
	// applier or of the loader, can write. It fails with
	// jetstream.ErrFenced when a newer incarnation holds the fence.
	ClaimFence(ctx context.Context) error
	// Checkpoint returns the position the target's checkpoint says is
	// applied, committed with the rows; zero when there is none. Read
	// after ClaimFence, it cannot move under the incarnation's feet.
	Checkpoint(ctx context.Context) (dmnode.Position, error)
	// ApplyWindow returns the apply window last recorded
	// (PartsTarget.RecordWindow); zero when none is. Rows up to it may
	// be on the target past the checkpoint, and a window past the
	// checkpoint names a transaction to write in pieces.
	ApplyWindow(ctx context.Context) (dmnode.Position, error)
}

// TargetSession is the target of one applier incarnation, over the
// connections it opened: StartTarget to begin, then Target.
type TargetSession interface {
	Target
	StartTarget
	// Rewind drops everything the session knows of target tables (their
	// plans, unique keys, the tables checked and the schemas created),
	// as a new session would know nothing, before the applier reads its
	// stream again from the checkpoint after a shard DDL lock released
	// tables to re-sync. Not concurrent with any other method.
	Rewind()
	// Close releases the session's connections.
	Close() error
}

// targetSpec is what opening an applier's target takes.
type targetSpec struct {
	DB           config.DBConfig
	Conns        int // connections at most: the workers, and one for DDL and the parts of a transaction
	Task, Source string
	// Epoch is the incarnation's assignment epoch: the fence it claims
	// and checks in every transaction.
	Epoch uint64
	// Rules are the task's compiled rules for the source, planning the
	// target tables.
	Rules *rules.Rules
	// CrashAt consults a test's crash points (Applier.crashAt).
	CrashAt func(point string) error
	Log     *slog.Logger
}

// targetOpener opens an applier's target session.
type targetOpener func(ctx context.Context, spec targetSpec) (TargetSession, error)

// openMariaTarget opens a session on a MySQL-protocol server (MariaDB,
// MySQL, TiDB).
func openMariaTarget(ctx context.Context, spec targetSpec) (TargetSession, error) {
	db, err := openWriteTarget(ctx, spec.DB, spec.Conns)
	if err != nil {
		return nil, err
	}
	return &mariaTarget{db: db, task: spec.Task, source: spec.Source, epoch: spec.Epoch, rules: spec.Rules,
		tables: newTargetTables(db, spec.Rules, spec.Log), crashAt: spec.CrashAt, log: spec.Log}, nil
}

func (m *mariaTarget) Prepare(ctx context.Context) error { return prepareMeta(ctx, m.db) }

func (m *mariaTarget) ClaimFence(ctx context.Context) error {
	return claimFence(ctx, m.db, m.task, m.source, m.epoch)
}

func (m *mariaTarget) Checkpoint(ctx context.Context) (dmnode.Position, error) {
	return readCheckpoint(ctx, m.db, m.task, m.source)
}

func (m *mariaTarget) ApplyWindow(ctx context.Context) (dmnode.Position, error) {
	return readApplyWindow(ctx, m.db, m.task, m.source)
}

func (m *mariaTarget) Rewind() { m.tables = newTargetTables(m.db, m.rules, m.log) }

func (m *mariaTarget) Close() error { return m.db.Close() }

// readCheckpoint reads the applied position of a task and source from the
// target; zero when there is none.
func readCheckpoint(ctx context.Context, db *sql.DB, task, source string) (dmnode.Position, error) {
	var p dmnode.Position
	var gtid sql.NullString
	err := db.QueryRowContext(ctx, `SELECT binlog_file, binlog_pos, binlog_gtid FROM `+MetaSchema+
		`.checkpoint WHERE task = ? AND source = ?`, task, source).Scan(&p.File, &p.Pos, &gtid)
	if errors.Is(err, sql.ErrNoRows) {
		return dmnode.Position{}, nil
	}
	if err != nil {
		return dmnode.Position{}, fmt.Errorf("read checkpoint from target: %w", err)
	}
	p.GTID = gtid.String
	return p, nil
}

// readApplyWindow reads the end of the batch last handed to the workers,
// or the first event of a transaction being written in pieces; zero when
// there is none.
func readApplyWindow(ctx context.Context, db *sql.DB, task, source string) (dmnode.Position, error) {
	var p dmnode.Position
	var gtid sql.NullString
	err := db.QueryRowContext(ctx, `SELECT binlog_file, binlog_pos, binlog_gtid FROM `+MetaSchema+
		`.apply_window WHERE task = ? AND source = ?`, task, source).Scan(&p.File, &p.Pos, &gtid)
	if errors.Is(err, sql.ErrNoRows) {
		return dmnode.Position{}, nil
	}
	if err != nil {
		return dmnode.Position{}, fmt.Errorf("read apply window from target: %w", err)
	}
	p.GTID = gtid.String
	return p, nil
}

// startOn readies an incarnation's target and reads where the one before
// it left off: dmnode's tables, the fence claimed before the checkpoint
// is read, the checkpoint and the apply window.
func startOn(ctx context.Context, t StartTarget) (applied, window dmnode.Position, err error) {
	if err := t.Prepare(ctx); err != nil {
		return applied, window, err
	}
	if err := t.ClaimFence(ctx); err != nil {
		return applied, window, err
	}
	if applied, err = t.Checkpoint(ctx); err != nil {
		return applied, window, err
	}
	window, err = t.ApplyWindow(ctx)
	return applied, window, err
}

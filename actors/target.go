package actors

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/go-sql-driver/mysql"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/rules"
	"github.com/dmnode/dmnode/core/schema"
	"github.com/dmnode/dmnode/core/sqlgen"
	"github.com/dmnode/dmnode/jetstream"
)

// MetaSchema is the target schema where dmnode keeps the applied position
// of every task and source, committed in the same transaction as the rows.
const MetaSchema = "dmnode_meta"

const checkpointDDL = `CREATE TABLE IF NOT EXISTS ` + MetaSchema + `.checkpoint (
	task        VARCHAR(128) NOT NULL,
	source      VARCHAR(128) NOT NULL,
	epoch       BIGINT UNSIGNED NOT NULL,
	binlog_file VARCHAR(255) NOT NULL,
	binlog_pos  INT UNSIGNED NOT NULL,
	binlog_gtid TEXT,
	event_time  INT UNSIGNED NOT NULL,
	updated_at  TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
	PRIMARY KEY (task, source)
)`

// fenceDDL holds, per task and source, the assignment epoch of the actor
// allowed to write rows to the target. Each loader or applier incarnation
// raises it when it starts and checks it, under a shared lock, in every
// transaction: an incarnation on a node that was cut off and replaced
// cannot write after its successor started.
const fenceDDL = `CREATE TABLE IF NOT EXISTS ` + MetaSchema + `.fence (
	task   VARCHAR(128) NOT NULL,
	source VARCHAR(128) NOT NULL,
	epoch  BIGINT UNSIGNED NOT NULL,
	PRIMARY KEY (task, source)
)`

// ddlInflightDDL records, per task and source, an EXCHANGE PARTITION while
// it runs (it swaps rows both ways, so a replay cannot just run it again):
// the row, with a fingerprint of the exchanged table's rows before, is
// written before the statement and deleted in the transaction of the
// checkpoint after it. A restart that finds it compares the fingerprint.
const ddlInflightDDL = `CREATE TABLE IF NOT EXISTS ` + MetaSchema + `.ddl_inflight (
	task        VARCHAR(128) NOT NULL,
	source      VARCHAR(128) NOT NULL,
	pos         VARCHAR(512) NOT NULL,
	fingerprint VARCHAR(64) NOT NULL,
	PRIMARY KEY (task, source)
)`

// prepareMeta creates dmnode's tables on the target.
func prepareMeta(ctx context.Context, db *sql.DB) error {
	for _, q := range []string{"CREATE DATABASE IF NOT EXISTS " + MetaSchema, checkpointDDL, onlineDDLTable, fenceDDL, applyWindowDDL, ddlInflightDDL} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return classifyTargetError(fmt.Errorf("create %s tables on the target: %w", MetaSchema, err))
		}
	}
	return nil
}

// claimFence raises the fence of a task and source to epoch and fails with
// ErrFenced when a newer incarnation already holds it.
func claimFence(ctx context.Context, db *sql.DB, task, source string, epoch uint64) error {
	_, err := db.ExecContext(ctx, `INSERT INTO `+MetaSchema+`.fence (task, source, epoch) VALUES (?, ?, ?)
		ON DUPLICATE KEY UPDATE epoch = GREATEST(epoch, VALUES(epoch))`, task, source, epoch)
	if err != nil {
		return fmt.Errorf("claim target fence: %w", err)
	}
	var held uint64
	if err := db.QueryRowContext(ctx, `SELECT epoch FROM `+MetaSchema+`.fence WHERE task = ? AND source = ?`, task, source).Scan(&held); err != nil {
		return fmt.Errorf("read target fence: %w", err)
	}
	if held != epoch {
		return fmt.Errorf("target fence of %s/%s held by epoch %d, this incarnation has %d: %w", task, source, held, epoch, jetstream.ErrFenced)
	}
	return nil
}

// checkFence verifies, inside a write transaction, that this incarnation
// still holds the fence; the shared lock keeps a successor's claim waiting
// until the transaction ends.
func checkFence(ctx context.Context, tx *sql.Tx, task, source string, epoch uint64) error {
	var held uint64
	err := tx.QueryRowContext(ctx, `SELECT epoch FROM `+MetaSchema+`.fence WHERE task = ? AND source = ? LOCK IN SHARE MODE`, task, source).Scan(&held)
	if err != nil {
		return fmt.Errorf("check target fence: %w", err)
	}
	if held != epoch {
		return fmt.Errorf("target fence of %s/%s taken over by epoch %d, this incarnation has %d: %w", task, source, held, epoch, jetstream.ErrFenced)
	}
	return nil
}

// targetTables prepares target tables for one task and source: it compiles
// and caches the per-table plan, creates the target table from the upstream
// schema when it does not exist, and checks that a pre-created one has
// every column the plan writes. Safe for concurrent use.
type targetTables struct {
	db    *sql.DB
	rules *rules.Rules

	mu    sync.Mutex
	plans map[string]*rules.TablePlan // by upstream table and column list
	ready map[string]bool             // target tables checked or created
	// uniques holds each plan's target unique keys (targetUniques).
	uniques map[*rules.TablePlan][][]int
}

func newTargetTables(db *sql.DB, r *rules.Rules) *targetTables {
	return &targetTables{db: db, rules: r, plans: map[string]*rules.TablePlan{}, ready: map[string]bool{},
		uniques: map[*rules.TablePlan][][]int{}}
}

// plan returns the compiled plan for an upstream table with the given
// columns, preparing its target table on first use. upstream supplies the
// schema used to create a missing target table; it may return nil when
// none is known, and a missing table is then an error.
func (tt *targetTables) plan(ctx context.Context, id dmnode.TableID, columns []string, upstream func() *schema.Table) (*rules.TablePlan, error) {
	key := id.Schema + "\x00" + id.Table + "\x00" + strings.Join(columns, "\x00")
	tt.mu.Lock()
	defer tt.mu.Unlock()
	if p, ok := tt.plans[key]; ok {
		return p, nil
	}
	p, err := tt.rules.Plan(id.Schema, id.Table, columns)
	if err != nil {
		return nil, Permanent(fmt.Errorf("plan %s: %w", id, err))
	}
	tkey := p.TargetSchema + "\x00" + p.TargetTable
	if !tt.ready[tkey] {
		if err := tt.prepare(ctx, p, upstream); err != nil {
			return nil, err
		}
		tt.ready[tkey] = true
	}
	tt.plans[key] = p
	return p, nil
}

// forget drops the cached plans of an upstream table and the record of
// checked target tables, after a schema change: the next row compiles its
// plan and checks its target table again.
func (tt *targetTables) forget(schemaName, table string) {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	prefix := schemaName + "\x00" + table + "\x00"
	for k := range tt.plans {
		if strings.HasPrefix(k, prefix) {
			delete(tt.plans, k)
		}
	}
	for k := range tt.ready {
		delete(tt.ready, k)
	}
	clear(tt.uniques)
}

func (tt *targetTables) prepare(ctx context.Context, p *rules.TablePlan, upstream func() *schema.Table) error {
	cols, err := targetColumns(ctx, tt.db, p.TargetSchema, p.TargetTable)
	if err != nil {
		return err
	}
	if cols == nil {
		up := upstream()
		if up == nil {
			return Permanent(fmt.Errorf("target table %s.%s does not exist and the schema of %s.%s is not known; create it on the target",
				p.TargetSchema, p.TargetTable, p.Schema, p.Table))
		}
		create, err := schema.TargetCreateTable(up, p.TargetSchema, p.TargetTable, p.Extra)
		if err != nil {
			return Permanent(fmt.Errorf("derive target table for %s.%s: %w", p.Schema, p.Table, err))
		}
		if _, err := tt.db.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS "+sqlgen.QuoteIdent(p.TargetSchema)); err != nil {
			return fmt.Errorf("create target schema %s: %w", p.TargetSchema, err)
		}
		if _, err := tt.db.ExecContext(ctx, create); err != nil {
			return Permanent(fmt.Errorf("create target table: %s: %w", create, err))
		}
		return nil
	}
	var missing []string
	for _, c := range p.Columns {
		if !cols[strings.ToLower(c)] {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return Permanent(fmt.Errorf("target table %s.%s has no column %s, which rows of %s.%s carry; add the column(s) to the target table",
			p.TargetSchema, p.TargetTable, strings.Join(missing, ", "), p.Schema, p.Table))
	}
	return nil
}

// targetColumns returns the lower-cased column names of a target table, or
// nil when it does not exist.
func targetColumns(ctx context.Context, db *sql.DB, schemaName, table string) (map[string]bool, error) {
	rows, err := db.QueryContext(ctx, `SELECT COLUMN_NAME FROM information_schema.COLUMNS
		WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?`, schemaName, table)
	if err != nil {
		return nil, fmt.Errorf("read columns of target %s.%s: %w", schemaName, table, err)
	}
	defer rows.Close()
	var cols map[string]bool
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, fmt.Errorf("read columns of target %s.%s: %w", schemaName, table, err)
		}
		if cols == nil {
			cols = map[string]bool{}
		}
		cols[strings.ToLower(c)] = true
	}
	return cols, rows.Err()
}

// TargetKey returns the indexes of the target row that identify a row: the
// upstream key (or every upstream column when it has none) plus the
// extracted columns, which join the key of a merged table.
func TargetKey(p *rules.TablePlan, upstreamKey []int, upstreamCols int) []int {
	var key []int
	if len(upstreamKey) > 0 {
		key = append(key, upstreamKey...)
	} else {
		for i := range upstreamCols {
			key = append(key, i)
		}
	}
	for i := range p.Extra {
		key = append(key, upstreamCols+i)
	}
	return key
}

// stmt is one SQL statement with its arguments.
type stmt struct {
	query string
	args  []any
}

// execTx runs statements in one target transaction, then fn inside the
// same transaction (for the checkpoint), and commits.
func execTx(ctx context.Context, db *sql.DB, stmts []stmt, fn func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin target transaction: %w", err)
	}
	defer tx.Rollback()
	if fn != nil {
		if err := fn(tx); err != nil {
			return err
		}
	}
	for _, g := range groupStmts(stmts, groupBytes) {
		if _, err := tx.ExecContext(ctx, g.query, g.args...); err != nil {
			return classifyTargetError(fmt.Errorf("target: %s: %w", abbreviate(g.query), err))
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit target transaction: %w", err)
	}
	return nil
}

// groupBytes bounds the estimated size of statements sent together: well
// under the 16 MiB default max_allowed_packet of MariaDB and TiDB's 64 MiB.
const groupBytes = 1 << 20

// groupStmts joins consecutive statements into multi-statement queries of
// up to about limit bytes, so that a transaction of many small row changes
// costs a few round trips instead of one per statement. Parameters are
// interpolated by the driver (InterpolateParams), which takes the joined
// parameters in order; connections allow several statements per query
// (MultiStatements).
func groupStmts(stmts []stmt, limit int) []stmt {
	var out []stmt
	var b strings.Builder
	var args []any
	size, n := 0, 0
	flush := func() {
		if n == 0 {
			return
		}
		out = append(out, stmt{b.String(), args})
		b.Reset()
		args, size, n = nil, 0, 0
	}
	for _, s := range stmts {
		est := stmtSize(s)
		if n > 0 && size+est > limit {
			flush()
		}
		if n > 0 {
			b.WriteString(";\n")
		}
		b.WriteString(s.query)
		args = append(args, s.args...)
		size += est
		n++
	}
	flush()
	return out
}

// stmtSize estimates a statement's size once its parameters are
// interpolated.
func stmtSize(s stmt) int {
	n := len(s.query)
	for _, a := range s.args {
		switch v := a.(type) {
		case string:
			n += 2*len(v) + 2
		case []byte:
			n += 2*len(v) + 10
		default:
			n += 24
		}
	}
	return n
}

// classifyTargetError marks errors the target server returns for a
// statement (a row or DDL it rejects) as permanent, except deadlocks and
// lock wait timeouts; connection trouble stays retryable.
func classifyTargetError(err error) error {
	var me *mysql.MySQLError
	if !errors.As(err, &me) {
		return err
	}
	switch me.Number {
	case 1205, 1213: // lock wait timeout, deadlock
		return err
	}
	return Permanent(err)
}

func abbreviate(q string) string {
	if len(q) > 160 {
		return q[:160] + "…"
	}
	return q
}

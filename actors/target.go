package actors

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/apply"
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

// metaSchemaDDL creates MetaSchema binary: its tables key rows by task
// name and source id, which must compare as they are written, not folded
// to one case as the server's default collation may compare them. (A
// binary collation still ignores trailing spaces; names cannot have them.)
// Tables created before keep their collation, and task submit refuses
// names that differ only in case from another task's or source's.
const metaSchemaDDL = "CREATE DATABASE IF NOT EXISTS " + MetaSchema + " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"

// prepareMeta creates dmnode's tables on the target.
func prepareMeta(ctx context.Context, db *sql.DB) error {
	for _, q := range []string{metaSchemaDDL, checkpointDDL, onlineDDLTable, fenceDDL, applyWindowDDL, ddlInflightDDL} {
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
//
// The traits it keeps (rules.ColumnTraits) are read from the target
// server's information_schema: what the existing target table generates
// and how it compares, which no upstream definition says. The upstream
// table, when one is created, is the schema.Table model.
type targetTables struct {
	db    *sql.DB
	rules *rules.Rules

	mu    sync.Mutex
	plans map[string]*rules.TablePlan // by upstream table and column list
	// ready holds the target tables checked or created, with their
	// columns' traits (generated, case-insensitive).
	ready map[string]map[string]rules.ColumnTraits
	// preparing holds the target tables being checked or created, closed
	// when done: the lock is not held over their round trips, so that an
	// estate of thousands of tables is prepared by all workers at once.
	preparing map[string]chan struct{}
	schemas   map[string]bool // target schemas created
	// uniques holds each plan's target unique keys (targetUniques).
	uniques apply.Uniques
	// dialect adapts the CREATE TABLE statements to the target.
	dialect targetDialect
	logger  *slog.Logger
	// deferIndexes, when set, is given the CREATE TABLE of a table about
	// to be created and returns the statement to run instead: the
	// loader's, with add-index-after-load, records the table's secondary
	// indexes and leaves them out (loadindex.go).
	deferIndexes func(ctx context.Context, schemaName, table, create string) (string, error)
}

func newTargetTables(db *sql.DB, r *rules.Rules, log *slog.Logger) *targetTables {
	return &targetTables{db: db, rules: r, logger: log, plans: map[string]*rules.TablePlan{}, ready: map[string]map[string]rules.ColumnTraits{},
		uniques: apply.Uniques{}, preparing: map[string]chan struct{}{}, schemas: map[string]bool{}}
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
	var traits map[string]rules.ColumnTraits
	for {
		var ok bool
		if traits, ok = tt.ready[tkey]; ok {
			break
		}
		if busy, ok := tt.preparing[tkey]; ok {
			tt.mu.Unlock()
			select {
			case <-busy:
			case <-ctx.Done():
				tt.mu.Lock()
				return nil, ctx.Err()
			}
			tt.mu.Lock()
			continue
		}
		done := make(chan struct{})
		tt.preparing[tkey] = done
		tt.mu.Unlock()
		traits, err = tt.prepare(ctx, p, upstream)
		tt.mu.Lock()
		delete(tt.preparing, tkey)
		close(done)
		if err != nil {
			return nil, err
		}
		tt.ready[tkey] = traits
	}
	p = p.WithTarget(traits)
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
	clear(tt.schemas)
}

func (tt *targetTables) prepare(ctx context.Context, p *rules.TablePlan, upstream func() *schema.Table) (map[string]rules.ColumnTraits, error) {
	cols, err := targetColumns(ctx, tt.db, p.TargetSchema, p.TargetTable)
	if err != nil {
		return nil, err
	}
	if cols == nil {
		up := upstream()
		if up == nil {
			return nil, Permanent(fmt.Errorf("target table %s.%s does not exist and the schema of %s.%s is not known; create it on the target",
				p.TargetSchema, p.TargetTable, p.Schema, p.Table))
		}
		create, err := schema.TargetCreateTable(up, p.TargetSchema, p.TargetTable, p.Extra)
		if err != nil {
			return nil, Permanent(fmt.Errorf("derive target table for %s.%s: %w", p.Schema, p.Table, err))
		}
		tt.mu.Lock()
		created := tt.schemas[p.TargetSchema]
		tt.mu.Unlock()
		if !created {
			if _, err := tt.db.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS "+sqlgen.QuoteIdent(p.TargetSchema)); err != nil {
				return nil, fmt.Errorf("create target schema %s: %w", p.TargetSchema, err)
			}
			tt.mu.Lock()
			tt.schemas[p.TargetSchema] = true
			tt.mu.Unlock()
		}
		if tt.deferIndexes != nil {
			if create, err = tt.deferIndexes(ctx, p.TargetSchema, p.TargetTable, create); err != nil {
				return nil, err
			}
		}
		run, err := tt.dialect.adapt(ctx, tt.db, tt.logger, create)
		if err != nil {
			return nil, err
		}
		for _, q := range run {
			if _, err := tt.db.ExecContext(ctx, q); err != nil {
				return nil, Permanent(fmt.Errorf("create target table: %s: %w", q, err))
			}
		}
		// Read back: the created table says which columns it generates.
		return targetColumns(ctx, tt.db, p.TargetSchema, p.TargetTable)
	}
	var missing []string
	for _, c := range p.Columns {
		if _, ok := cols[strings.ToLower(c)]; !ok {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return nil, Permanent(fmt.Errorf("target table %s.%s has no column %s, which rows of %s.%s carry; add the column(s) to the target table",
			p.TargetSchema, p.TargetTable, strings.Join(missing, ", "), p.Schema, p.Table))
	}
	return cols, nil
}

// targetColumns returns the columns of a target table by lower-cased
// name, or nil when it does not exist. A column is generated when
// information_schema says so in EXTRA: "VIRTUAL GENERATED" or "STORED
// GENERATED" on MySQL, MariaDB and TiDB, "ROW START"/"ROW END" for
// MariaDB's system-versioned tables. An invisible column that is not
// generated (EXTRA "INVISIBLE") is written like any other: it holds data,
// and naming it in the column list writes it on MySQL and MariaDB alike.
func targetColumns(ctx context.Context, db *sql.DB, schemaName, table string) (map[string]rules.ColumnTraits, error) {
	rows, err := db.QueryContext(ctx, targetColumnsQuery, schemaName, table)
	if err != nil {
		return nil, fmt.Errorf("read columns of target %s.%s: %w", schemaName, table, err)
	}
	defer rows.Close()
	var cols map[string]rules.ColumnTraits
	for rows.Next() {
		var c, extra, collation, dataType string
		if err := rows.Scan(&c, &extra, &collation, &dataType); err != nil {
			return nil, fmt.Errorf("read columns of target %s.%s: %w", schemaName, table, err)
		}
		if cols == nil {
			cols = map[string]rules.ColumnTraits{}
		}
		cols[strings.ToLower(c)] = columnTraits(extra, collation, dataType)
	}
	return cols, rows.Err()
}

const targetColumnsQuery = `SELECT COLUMN_NAME, COALESCE(EXTRA, ''), COALESCE(COLLATION_NAME, ''), COALESCE(DATA_TYPE, '')
	FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?`

// columnTraits derives a target column's traits from information_schema's
// EXTRA, COLLATION_NAME and DATA_TYPE.
func columnTraits(extra, collation, dataType string) rules.ColumnTraits {
	extra = strings.ToUpper(extra)
	collation = strings.ToLower(collation)
	text := textTypes[strings.ToLower(dataType)]
	if characterTypes[strings.ToLower(dataType)] {
		text = collation != "" && collation != "binary"
	}
	return rules.ColumnTraits{
		Generated: strings.Contains(extra, "GENERATED") || strings.Contains(extra, "ROW START") || strings.Contains(extra, "ROW END"),
		FoldCase:  strings.HasSuffix(collation, "_ci"),
		Text:      text,
	}
}

// textTypes are the DATA_TYPEs whose values LOAD DATA reads from text as
// an INSERT reads their literals (rules.ColumnTraits.Text); characterTypes
// are so only with a collation that compares characters.
var (
	textTypes = map[string]bool{
		"tinyint": true, "smallint": true, "mediumint": true, "int": true, "bigint": true,
		"decimal": true, "float": true, "double": true,
		"date": true, "time": true, "datetime": true, "timestamp": true, "year": true,
		"json": true,
	}
	characterTypes = map[string]bool{
		"char": true, "varchar": true, "tinytext": true, "text": true, "mediumtext": true, "longtext": true,
	}
)

// TargetKey returns the indexes of the target row that identify a row
// (apply.TargetKey).
func TargetKey(p *rules.TablePlan, upstreamKey []int, upstreamCols int) []int {
	return apply.TargetKey(p, upstreamKey, upstreamCols)
}

// stmt is one SQL statement with its arguments.
type stmt struct {
	query string
	args  []any
	// load, when set, is what the statement runs instead of query.
	load *loadStmt
}

// loadStmt is a LOAD DATA of a unit's inserts (apply.LoadFile) that a stmt
// carries; fallback are the statements of the same rows, run when the
// target declines the load (loadInTx).
type loadStmt struct {
	plan     *rules.TablePlan
	file     []byte
	rows     int
	safe     bool
	fallback []stmt
	// refused is called when the target refuses LOAD DATA LOCAL itself.
	refused func(error)
}

// withFallbacks returns stmts with every load replaced by its fallback.
func withFallbacks(stmts []stmt) []stmt {
	if !slices.ContainsFunc(stmts, func(s stmt) bool { return s.load != nil }) {
		return stmts
	}
	var out []stmt
	for _, s := range stmts {
		if s.load != nil {
			out = append(out, s.load.fallback...)
		} else {
			out = append(out, s)
		}
	}
	return out
}

// execGroup runs one group of groupStmts in tx: its query, or its load,
// and the load's fallback when the target declined it.
func execGroup(ctx context.Context, tx *sql.Tx, g stmt) error {
	l := g.load
	if l == nil {
		if _, err := tx.ExecContext(ctx, g.query, g.args...); err != nil {
			return &stmtError{query: g.query, err: err}
		}
		return nil
	}
	done, refused, err := loadInTx(ctx, tx, l.plan, l.file, l.rows, l.safe)
	if err != nil {
		return &stmtError{query: "LOAD DATA LOCAL INFILE INTO TABLE " + sqlgen.QuoteTable(l.plan.TargetSchema, l.plan.TargetTable), err: err}
	}
	if refused != nil && l.refused != nil {
		l.refused(refused)
	}
	if done {
		return nil
	}
	for _, f := range groupStmts(l.fallback, groupBytes) {
		if err := execGroup(ctx, tx, f); err != nil {
			return err
		}
	}
	return nil
}

// execTx runs statements in one target transaction, then fn inside the
// same transaction (for the checkpoint), and commits. A deadlock, lock wait
// timeout or a TiDB conflict the server asks to retry rolls the transaction
// back and runs it again, up to txAttempts times; a transaction that still
// fails, or that the target rejects, is a permanent error (an
// ApplyError naming the statement, its table and the way out): the actor
// parks, and task status shows it, instead of retrying for ever.
func execTx(ctx context.Context, db *sql.DB, stmts []stmt, fn func(*sql.Tx) error) error {
	groups := groupStmts(stmts, groupBytes)
	var err error
	for attempt := 1; attempt <= txAttempts; attempt++ {
		if err = execTxOnce(ctx, db, groups, fn); err == nil || !isRetryable(err) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(attempt) * 100 * time.Millisecond):
		}
	}
	if isRetryable(err) {
		// Still conflicting with other writers (appliers of other
		// sources into the same tables, readers, the target's own
		// work): nothing of the transaction is written, and the
		// actor's restart runs it again from the checkpoint. Never a
		// reason to stop the task.
		return fmt.Errorf("the target still reports a lock conflict after %d attempts; the applier runs the transaction again from its checkpoint: %w", txAttempts, err)
	}
	var se *stmtError
	if err == nil || !errors.As(err, &se) {
		return err
	}
	culprit := se.query
	if stmts = withFallbacks(stmts); !oneTable(stmts) {
		culprit = findCulprit(ctx, db, stmts)
	}
	return Permanent(&ApplyError{Table: stmtTable(culprit), Statement: abbreviate(culprit), Err: se.err})
}

// txAttempts bounds the runs of a transaction that hits lock conflicts.
const txAttempts = 5

func execTxOnce(ctx context.Context, db *sql.DB, groups []stmt, fn func(*sql.Tx) error) error {
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
	for _, g := range groups {
		if err := execGroup(ctx, tx, g); err != nil {
			return classifyTargetError(err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit target transaction: %w", err)
	}
	return nil
}

// stmtError is a statement the target failed.
type stmtError struct {
	query string
	err   error
}

func (e *stmtError) Error() string { return "target: " + abbreviate(e.query) + ": " + e.err.Error() }
func (e *stmtError) Unwrap() error { return e.err }

// ApplyError is a transaction the target rejects: the statement (cut to a
// readable length), the table it writes and the server's error.
type ApplyError struct {
	Table     string
	Statement string
	Err       error
}

func (e *ApplyError) Error() string {
	return fmt.Sprintf("the target rejects a change of table %s: %v; statement: %s; nothing of the transaction was written and the task waits here: "+
		"fix the target table (or the row upstream), then pause and resume the task (dmnode task pause NAME && dmnode task resume NAME), "+
		"which applies it again from the checkpoint", e.Table, e.Err, e.Statement)
}

func (e *ApplyError) Unwrap() error { return e.Err }

// oneTable reports whether every statement writes the same table, which
// then names the table of any of them that fails.
func oneTable(stmts []stmt) bool {
	for _, s := range stmts {
		if stmtTable(s.query) != stmtTable(stmts[0].query) {
			return false
		}
	}
	return true
}

// findCulprit runs stmts one by one in a transaction it rolls back, to name
// the statement of a multi-statement query the target rejected. It returns
// the statement that fails, or the first when none does.
func findCulprit(ctx context.Context, db *sql.DB, stmts []stmt) string {
	if len(stmts) == 0 {
		return ""
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return stmts[0].query
	}
	defer tx.Rollback()
	for _, s := range stmts {
		if _, err := tx.ExecContext(ctx, s.query, s.args...); err != nil {
			return s.query
		}
	}
	return stmts[0].query
}

// stmtTable returns the schema.table a generated statement writes, as its
// text names it; "" when it names none.
func stmtTable(q string) string {
	for _, kw := range []string{"INTO TABLE ", "INSERT INTO ", "REPLACE INTO ", "DELETE FROM ", "UPDATE "} {
		i := strings.Index(q, kw)
		if i < 0 {
			continue
		}
		rest := q[i+len(kw):]
		var parts []string
		for len(parts) < 2 && strings.HasPrefix(rest, "`") {
			end := 1
			for end < len(rest) {
				if rest[end] == '`' {
					if end+1 < len(rest) && rest[end+1] == '`' {
						end += 2
						continue
					}
					break
				}
				end++
			}
			if end >= len(rest) {
				break
			}
			parts = append(parts, strings.ReplaceAll(rest[1:end], "``", "`"))
			rest = rest[end+1:]
			if !strings.HasPrefix(rest, ".") {
				break
			}
			rest = rest[1:]
		}
		return strings.Join(parts, ".")
	}
	return ""
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
		out = append(out, stmt{query: b.String(), args: args})
		b.Reset()
		args, size, n = nil, 0, 0
	}
	for _, s := range stmts {
		if s.load != nil {
			// A load is a statement of its own.
			flush()
			out = append(out, s)
			continue
		}
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
	if s.load != nil {
		return len(s.load.file)
	}
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
// statement (a row or DDL it rejects) as permanent, except the conflicts
// that running the transaction again resolves (isRetryable); connection
// trouble stays retryable.
func classifyTargetError(err error) error {
	var me *mysql.MySQLError
	if !errors.As(err, &me) || retryableCodes[me.Number] {
		return err
	}
	return Permanent(err)
}

// retryableCodes are server errors that running the transaction again
// resolves: MySQL's lock wait timeout and deadlock, and TiDB's write
// conflict, retryable transaction, changed schema and storage timeouts.
var retryableCodes = map[uint16]bool{
	1205: true, 1213: true, // lock wait timeout, deadlock
	8002: true, 8022: true, 8028: true, // TiDB: select for update, retryable txn, schema changed
	9001: true, 9002: true, 9003: true, 9004: true, 9005: true, 9007: true, // TiDB: PD/TiKV timeouts, busy, resolve lock, region, write conflict
}

// isRetryable reports whether err is a server error of retryableCodes.
func isRetryable(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && retryableCodes[me.Number]
}

func abbreviate(q string) string {
	if len(q) > 160 {
		return q[:160] + "…"
	}
	return q
}

// Target is the target database as the applier sees it: the plans and
// unique keys of target tables and the target transactions of row changes
// it commits (RowTarget), the schema changes it runs (DDLTarget), the
// transactions sent in parts (PartsTarget) and its resync state
// (ResyncTarget). Applier.Run opens it as a TargetSession, which also
// creates dmnode's tables, claims the fence and reads the checkpoint
// (StartTarget, targetstart.go): the applier reaches the target through
// the session alone, no code of the applier outside mariaTarget and its
// helpers holds a connection. mariaTarget is the implementation on a
// MySQL-protocol server (MariaDB, MySQL, TiDB); the applier's unit tests
// run on a fake.
type Target interface {
	RowTarget
	DDLTarget
	PartsTarget
	ResyncTarget
}

// RowTarget is the target as the applier's loop of row changes sees it.
// Every target transaction holds whole upstream transactions and the
// checkpoint at their end, so the target holds a transaction's rows
// exactly when its checkpoint says it applied them. Plan, Uniques, Forget
// and ForgetAll are safe for concurrent use; CommitUnit runs on several
// connections at once (parallel.go).
type RowTarget interface {
	// Plan returns the compiled plan for an upstream table with the
	// given columns, preparing its target table on first use
	// (targetTables.plan).
	Plan(ctx context.Context, id dmnode.TableID, columns []string, upstream func() *schema.Table) (*rules.TablePlan, error)
	// Uniques returns the unique keys of the target tables of changes.
	Uniques(ctx context.Context, changes []apply.Change) (apply.Uniques, error)
	// Forget drops the cached plans of an upstream table and the record
	// of checked target tables, after a DDL changed them: the next row
	// compiles its plan and checks its target table again.
	Forget(schemaName, table string)
	// ForgetAll drops every cached plan and checked target table, after
	// a DDL changed a target table other sources also write.
	ForgetAll()
	// Commit runs txn alone in one target transaction: a lock conflict
	// runs it again; a statement the target rejects is a Permanent
	// ApplyError.
	Commit(ctx context.Context, txn targetTxn) error
	// CommitUnit runs txn as a unit of a batch written over several
	// connections (apply.Execute): its statements, then, in its turn
	// (turn.Wait), the checkpoint and the commit. It returns
	// apply.ErrYield to be run again after the units before it.
	CommitUnit(ctx context.Context, txn targetTxn, turn *apply.Turn) error
}

// targetTxn is one target transaction of row changes.
type targetTxn struct {
	// Stmts are the row statements, and statements on dmnode's own
	// tables that commit with them.
	Stmts []stmt
	// State is written with the checkpoint: the applier's resync state.
	State []stmt
	// Pos and At are the checkpoint: the end of the last upstream
	// transaction, and its commit time.
	Pos dmnode.Position
	At  uint32
}

// mariaTarget is the Target of an applier on a MySQL-protocol server.
type mariaTarget struct {
	db           *sql.DB
	task, source string
	epoch        uint64
	// tables are the applier's target tables, made again on a rewind
	// from rules.
	tables *targetTables
	rules  *rules.Rules
	// crashAt consults a test's crash points (applyRun.crashAt).
	crashAt func(point string) error
	// dialect is the target's kind, read before the first DDL.
	dialect targetDialect
	// noLoad is set once the target refused LOAD DATA LOCAL.
	noLoad atomic.Bool
	log    *slog.Logger
}

func (m *mariaTarget) Plan(ctx context.Context, id dmnode.TableID, columns []string, upstream func() *schema.Table) (*rules.TablePlan, error) {
	return m.tables.plan(ctx, id, columns, upstream)
}

func (m *mariaTarget) Uniques(ctx context.Context, changes []apply.Change) (apply.Uniques, error) {
	return m.tables.uniquesFor(ctx, changes)
}

func (m *mariaTarget) Forget(schemaName, table string) { m.tables.forget(schemaName, table) }
func (m *mariaTarget) ForgetAll()                      { m.tables.forgetAll() }

// checkpoint checks the fence and writes the checkpoint of txn, then its
// state, in tx.
func (m *mariaTarget) checkpoint(ctx context.Context, tx *sql.Tx, txn targetTxn) error {
	if err := checkFence(ctx, tx, m.task, m.source, m.epoch); err != nil {
		return err
	}
	if err := writeCheckpoint(ctx, tx, m.task, m.source, m.epoch, txn.Pos, txn.At); err != nil {
		return err
	}
	for _, s := range txn.State {
		if _, err := tx.ExecContext(ctx, s.query, s.args...); err != nil {
			return fmt.Errorf("write shard resync state: %w", err)
		}
	}
	return nil
}

func (m *mariaTarget) Commit(ctx context.Context, txn targetTxn) error {
	err := execTx(ctx, m.db, txn.Stmts, func(tx *sql.Tx) error {
		if err := m.checkpoint(ctx, tx, txn); err != nil {
			return err
		}
		return m.crashAt(CrashInTxn)
	})
	if err != nil {
		return err
	}
	return m.crashAt(CrashCommitted)
}

// CommitUnit runs one unit. Alone in its turn it runs as any single
// target transaction (Commit: retried after a deadlock, the failing
// statement named); before its turn a failing statement yields, to be
// run again alone, where a failure is the transaction's own.
func (m *mariaTarget) CommitUnit(ctx context.Context, txn targetTxn, turn *apply.Turn) error {
	if turn.Head() {
		return m.Commit(ctx, txn)
	}
	tx, err := m.db.BeginTx(ctx, nil)
	if err != nil {
		return apply.ErrYield
	}
	defer tx.Rollback()
	if err := checkFence(ctx, tx, m.task, m.source, m.epoch); err != nil {
		return err
	}
	for _, g := range groupStmts(txn.Stmts, groupBytes) {
		if err := execGroup(ctx, tx, g); err != nil {
			return apply.ErrYield
		}
	}
	if err := m.crashAt(CrashInTxn); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, unitPatience)
	err = turn.Wait(wctx)
	cancel()
	if err != nil {
		return err
	}
	if err := m.checkpoint(ctx, tx, txn); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit target transaction: %w", err)
	}
	return m.crashAt(CrashCommitted)
}

// loads reports whether the applier may send its units' inserts as LOAD
// DATA (loadStmt): the target is MySQL or MariaDB and has not refused it.
func (m *mariaTarget) loads(ctx context.Context) bool {
	if m.noLoad.Load() {
		return false
	}
	_, tidb, err := m.dialect.target(ctx, m.db, m.log)
	return err == nil && !tidb
}

// loadRefused records that the target refuses LOAD DATA LOCAL.
func (m *mariaTarget) loadRefused(err error) {
	if m.noLoad.CompareAndSwap(false, true) {
		m.log.Info("the target refuses LOAD DATA LOCAL; inserts are written with multi-row INSERT", "err", err)
	}
}

// writeCheckpoint writes the applied position of a task and source in tx.
func writeCheckpoint(ctx context.Context, tx *sql.Tx, task, source string, epoch uint64, pos dmnode.Position, at uint32) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO `+MetaSchema+`.checkpoint
		(task, source, epoch, binlog_file, binlog_pos, binlog_gtid, event_time) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON DUPLICATE KEY UPDATE epoch = VALUES(epoch), binlog_file = VALUES(binlog_file), binlog_pos = VALUES(binlog_pos),
		binlog_gtid = VALUES(binlog_gtid), event_time = VALUES(event_time)`,
		task, source, epoch, pos.File, pos.Pos, pos.GTID, at)
	if err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	return nil
}

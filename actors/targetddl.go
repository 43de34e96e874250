package actors

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/go-sql-driver/mysql"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/rules"
	"github.com/dmnode/dmnode/core/sqlgen"
	"github.com/dmnode/dmnode/core/tidb"
)

// The applier's paths other than its loop of row changes: schema changes
// (ddl.go, shard.go), transactions sent in parts (bigtxn.go) and the
// resync state (shard.go). Each sees the target through one of the
// interfaces below, composed into Target; mariaTarget implements them on
// a MySQL-protocol server, the unit tests on a fake.
//
// Unless its doc says otherwise a method is called from the applier's
// goroutine only, blocks on the target's round trips and honours ctx. A
// statement or read the target server refuses comes back Permanent
// (classifyTargetError), except the lock conflicts that running it again
// resolves; connection trouble comes back as it is, retryable. Errors are
// wrapped with what was being done, and the table.

// DDLTarget is the target as the applier's DDL path sees it: the
// statements it runs, what it reads of target tables to run each upstream
// DDL once, also when a crash replays it, and dmnode's records of DDL in
// dmnode_meta.
type DDLTarget interface {
	// Dialect reports whether the target is TiDB and which release; it
	// is read on first use, then remembered.
	Dialect(ctx context.Context) (tidb.Version, bool, error)
	// AdaptDDL returns the statements to run for one routed DDL
	// statement: the statement itself, or on TiDB its adaptation
	// (tidb.AdaptDDL). A statement TiDB cannot run is a Permanent error
	// naming the reason and the fix.
	AdaptDDL(ctx context.Context, stmt string) ([]string, error)
	// ExecDDL runs one DDL statement, outside any transaction (DDL
	// commits on its own). nil when the target ran it. A refusal that
	// says the change is there already (the database, table, column or
	// index exists, or is gone) wraps errDDLPresent, a missing or
	// duplicate partition errPartitionPresent; like any other refusal
	// they are Permanent, and the caller decides whether a replay after
	// a crash explains them (a *ddlRefusal carries the server's message).
	ExecDDL(ctx context.Context, stmt string) error
	// CreateSchema creates a target database unless it exists.
	CreateSchema(ctx context.Context, name string) error
	// TableExists reports whether a target table (or view) exists.
	TableExists(ctx context.Context, schemaName, table string) (bool, error)
	// ShowCreateTable returns the CREATE TABLE of a target table; ok is
	// false when the target has no such table, or it is a view.
	ShowCreateTable(ctx context.Context, schemaName, table string) (create string, ok bool, err error)
	// PartitionMethod returns how a target table is partitioned
	// (information_schema's PARTITION_METHOD: RANGE, KEY, LINEAR HASH…),
	// "" when it is not, or does not exist.
	PartitionMethod(ctx context.Context, schemaName, table string) (string, error)
	// PartitionsFingerprint sums up the partitions of a target table:
	// their names and bounds, in order. Adding, dropping or reorganising
	// a partition changes it.
	PartitionsFingerprint(ctx context.Context, schemaName, table string) (string, error)
	// RowsFingerprint sums up the rows of a target table whatever their
	// order: exchanging a partition with another table changes it unless
	// both held the same rows. "" when the table does not exist.
	RowsFingerprint(ctx context.Context, schemaName, table string) (string, error)
	// InflightDDL returns the task and source's record of a guarded DDL
	// in dmnode_meta.ddl_inflight: the position of the statement and the
	// fingerprint taken before it ran; pos is "" when there is none.
	InflightDDL(ctx context.Context) (pos, fingerprint string, err error)
	// RecordInflightDDL writes the record of a guarded DDL, replacing
	// any, committed before it returns. The applier deletes it with the
	// checkpoint after the statement (a statement of that targetTxn).
	RecordInflightDDL(ctx context.Context, pos, fingerprint string) error
	// KeptOnlineDDL returns the ALTERs of an online schema change tool's
	// shadow table kept for the real table schemaName.table in
	// dmnode_meta.online_ddl (written by the applier with its
	// checkpoints), in the order they were kept.
	KeptOnlineDDL(ctx context.Context, schemaName, table string) ([]keptDDL, error)
	// CreateMarker creates table name of dmnode_meta unless it exists:
	// the marker a RENAME TABLE renames along with the tables it renames
	// (renameWithMarker). name is a plain identifier (renameMarkers).
	CreateMarker(ctx context.Context, name string) error
	// DropMarker drops table name of dmnode_meta if it exists.
	DropMarker(ctx context.Context, name string) error
}

// keptDDL is an ALTER of a shadow table kept until the swap: the
// statement and the current database it ran in.
type keptDDL struct {
	DB, Query string
}

// PartsTarget is the target as the applier sees it for a transaction sent
// in parts (bigtxn.go): one target transaction it streams the parts into,
// and, when the target refuses that for its size, pieces committed one by
// one after the apply window that makes a restart replay them in safe
// mode. None of these methods consults the crash points (the applier
// does, around them).
type PartsTarget interface {
	// BeginParts opens a target transaction, on a connection of its own,
	// for the parts of one upstream transaction.
	BeginParts(ctx context.Context) (PartsTxn, error)
	// CommitPiece runs txn.Stmts in one target transaction of their own
	// that first checks the fence; when txn.Pos is set, the checkpoint
	// and txn.State commit with them (the piece after the last). A lock
	// conflict runs it again; a statement the target rejects is a
	// Permanent ApplyError, as Commit.
	CommitPiece(ctx context.Context, txn targetTxn) error
	// RecordWindow writes pos as the task and source's apply window,
	// the fence checked, committed before it returns: a restart replays
	// up to pos in safe mode, and in pieces a transaction whose first
	// event is pos past the checkpoint.
	RecordWindow(ctx context.Context, pos dmnode.Position) error
}

// PartsTxn is the target transaction of a transaction sent in parts. Its
// methods are for one goroutine. After an error of Exec, Checkpoint or
// Commit nothing of it is written and it is to be rolled back; the error
// is the target's as it came (isTxnTooLarge reads it).
type PartsTxn interface {
	// Exec runs one statement in the transaction.
	Exec(ctx context.Context, s stmt) error
	// Load writes rows inserts of plan p, given as LOAD DATA's rows
	// (apply.LoadFile), in the transaction, and reports whether it did.
	// It declines (false, nil), having written nothing, when the target
	// cannot take them so: then the INSERT statements of the same rows
	// (REPLACE in safe mode) are to be run instead, and fail as they do.
	Load(ctx context.Context, p *rules.TablePlan, file []byte, rows int, safe bool) (bool, error)
	// Checkpoint checks the fence and writes the checkpoint at txn.Pos,
	// then txn.State, in the transaction.
	Checkpoint(ctx context.Context, txn targetTxn) error
	// Commit commits the transaction.
	Commit() error
	// Rollback abandons the transaction; after Commit it does nothing.
	Rollback()
}

// ResyncTarget holds the applier's resync state on the target (shard.go):
// the shard DDL holds and quarantined tables, written with the checkpoint
// as targetTxn.State.
type ResyncTarget interface {
	// ResyncState creates the table of resync states unless it exists,
	// and returns the task and source's state as last committed; ok is
	// false when there is none.
	ResyncState(ctx context.Context) (state string, ok bool, err error)
}

var (
	// errDDLPresent: the target refused a DDL because its change is there
	// already (ExecDDL).
	errDDLPresent = errors.New("the change is on the target already")
	// errPartitionPresent: the target refused a partition DDL for a
	// partition it lacks or has already (ExecDDL).
	errPartitionPresent = errors.New("the partition change is on the target already, or its partitions differ")
)

// ddlRefusal is the target's refusal of a DDL that may say its change is
// there already; its text is the server's error.
type ddlRefusal struct {
	kind    error // errDDLPresent or errPartitionPresent
	Message string
	err     error
}

func (e *ddlRefusal) Error() string   { return e.err.Error() }
func (e *ddlRefusal) Unwrap() []error { return []error{e.kind, e.err} }

func (m *mariaTarget) Dialect(ctx context.Context) (tidb.Version, bool, error) {
	return m.dialect.target(ctx, m.db, m.log)
}

func (m *mariaTarget) AdaptDDL(ctx context.Context, stmt string) ([]string, error) {
	return m.dialect.adapt(ctx, m.db, m.log, stmt)
}

func (m *mariaTarget) ExecDDL(ctx context.Context, stmt string) error {
	_, err := m.db.ExecContext(ctx, stmt)
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case 1007, 1008, 1050, 1051, 1060, 1061, 1091: // database, table, column, key exists or is gone
			err = &ddlRefusal{kind: errDDLPresent, Message: me.Message, err: err}
		case 1507, 1517: // no such partition, duplicate partition name
			err = &ddlRefusal{kind: errPartitionPresent, Message: me.Message, err: err}
		}
	}
	return classifyTargetError(err)
}

func (m *mariaTarget) CreateSchema(ctx context.Context, name string) error {
	if _, err := m.db.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS "+sqlgen.QuoteIdent(name)); err != nil {
		return classifyTargetError(fmt.Errorf("create target schema %s: %w", name, err))
	}
	return nil
}

func (m *mariaTarget) TableExists(ctx context.Context, schemaName, table string) (bool, error) {
	var n int
	err := m.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?", schemaName, table).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("look up target table %s.%s: %w", schemaName, table, err)
	}
	return n > 0, nil
}

func (m *mariaTarget) ShowCreateTable(ctx context.Context, schemaName, table string) (string, bool, error) {
	var name, create string
	err := m.db.QueryRowContext(ctx, "SHOW CREATE TABLE "+sqlgen.QuoteIdent(schemaName)+"."+sqlgen.QuoteIdent(table)).Scan(&name, &create)
	var me *mysql.MySQLError
	switch {
	case errors.As(err, &me):
		return "", false, nil // no such table (1146), or a view
	case err != nil:
		return "", false, fmt.Errorf("read target table %s.%s: %w", schemaName, table, err)
	}
	return create, true, nil
}

func (m *mariaTarget) PartitionMethod(ctx context.Context, schemaName, table string) (string, error) {
	var method sql.NullString
	err := m.db.QueryRowContext(ctx, "SELECT MAX(PARTITION_METHOD) FROM information_schema.PARTITIONS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?", schemaName, table).Scan(&method)
	if err != nil {
		return "", fmt.Errorf("read partitioning of target %s.%s: %w", schemaName, table, err)
	}
	return method.String, nil
}

func (m *mariaTarget) PartitionsFingerprint(ctx context.Context, schemaName, table string) (string, error) {
	var n, list sql.NullString
	err := m.db.QueryRowContext(ctx, "SELECT COUNT(*), GROUP_CONCAT(CONCAT_WS(':', PARTITION_NAME, PARTITION_DESCRIPTION) ORDER BY PARTITION_ORDINAL_POSITION SEPARATOR ',') "+
		"FROM information_schema.PARTITIONS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND PARTITION_NAME IS NOT NULL", schemaName, table).Scan(&n, &list)
	if err != nil {
		return "", fmt.Errorf("read partitions of target %s.%s: %w", schemaName, table, err)
	}
	fp := sha256.Sum256([]byte(n.String + ":" + list.String))
	return hex.EncodeToString(fp[:16]), nil
}

// RowsFingerprint is the rows' count and the sum of a CRC32 of each row.
func (m *mariaTarget) RowsFingerprint(ctx context.Context, schemaName, table string) (string, error) {
	cols, err := m.db.QueryContext(ctx, "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION", schemaName, table)
	if err != nil {
		return "", fmt.Errorf("read columns of target %s.%s: %w", schemaName, table, err)
	}
	var parts []string
	for cols.Next() {
		var c string
		if err := cols.Scan(&c); err != nil {
			cols.Close()
			return "", fmt.Errorf("read columns of target %s.%s: %w", schemaName, table, err)
		}
		q := sqlgen.QuoteIdent(c)
		parts = append(parts, q, "ISNULL("+q+")")
	}
	cols.Close()
	if err := cols.Err(); err != nil {
		return "", fmt.Errorf("read columns of target %s.%s: %w", schemaName, table, err)
	}
	if len(parts) == 0 {
		return "", nil // no such table: the statement itself fails
	}
	var n, sum sql.NullString
	q := "SELECT COUNT(*), SUM(CRC32(CONCAT_WS(',', " + strings.Join(parts, ", ") + "))) FROM " + sqlgen.QuoteIdent(schemaName) + "." + sqlgen.QuoteIdent(table)
	if err := m.db.QueryRowContext(ctx, q).Scan(&n, &sum); err != nil {
		return "", classifyTargetError(fmt.Errorf("fingerprint target %s.%s: %w", schemaName, table, err))
	}
	return n.String + ":" + sum.String, nil
}

func (m *mariaTarget) InflightDDL(ctx context.Context) (string, string, error) {
	var pos, fp string
	err := m.db.QueryRowContext(ctx, "SELECT pos, fingerprint FROM "+MetaSchema+".ddl_inflight WHERE task = ? AND source = ?",
		m.task, m.source).Scan(&pos, &fp)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return "", "", fmt.Errorf("read %s.ddl_inflight: %w", MetaSchema, err)
	}
	return pos, fp, nil
}

func (m *mariaTarget) RecordInflightDDL(ctx context.Context, pos, fingerprint string) error {
	_, err := m.db.ExecContext(ctx, "REPLACE INTO "+MetaSchema+".ddl_inflight (task, source, pos, fingerprint) VALUES (?, ?, ?, ?)",
		m.task, m.source, pos, fingerprint)
	if err != nil {
		return fmt.Errorf("write %s.ddl_inflight: %w", MetaSchema, err)
	}
	return nil
}

func (m *mariaTarget) KeptOnlineDDL(ctx context.Context, schemaName, table string) ([]keptDDL, error) {
	rows, err := m.db.QueryContext(ctx, "SELECT current_db, stmt FROM "+MetaSchema+
		".online_ddl WHERE task = ? AND source = ? AND db = ? AND tbl = ? ORDER BY seq", m.task, m.source, schemaName, table)
	if err != nil {
		return nil, fmt.Errorf("read kept online DDL: %w", err)
	}
	defer rows.Close()
	var all []keptDDL
	for rows.Next() {
		var k keptDDL
		if err := rows.Scan(&k.DB, &k.Query); err != nil {
			return nil, fmt.Errorf("read kept online DDL: %w", err)
		}
		all = append(all, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read kept online DDL: %w", err)
	}
	return all, nil
}

func (m *mariaTarget) CreateMarker(ctx context.Context, name string) error {
	if _, err := m.db.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS "+MetaSchema+"."+name+" (x int)"); err != nil {
		return classifyTargetError(fmt.Errorf("create rename marker: %w", err))
	}
	return nil
}

func (m *mariaTarget) DropMarker(ctx context.Context, name string) error {
	if _, err := m.db.ExecContext(ctx, "DROP TABLE IF EXISTS "+MetaSchema+"."+name); err != nil {
		return fmt.Errorf("drop rename marker %s.%s: %w", MetaSchema, name, err)
	}
	return nil
}

func (m *mariaTarget) BeginParts(ctx context.Context) (PartsTxn, error) {
	tx, err := m.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin target transaction: %w", err)
	}
	return &mariaPartsTxn{m: m, tx: tx}, nil
}

func (m *mariaTarget) CommitPiece(ctx context.Context, txn targetTxn) error {
	return execTx(ctx, m.db, txn.Stmts, func(tx *sql.Tx) error {
		if txn.Pos.IsZero() {
			return checkFence(ctx, tx, m.task, m.source, m.epoch)
		}
		return m.checkpoint(ctx, tx, txn)
	})
}

func (m *mariaTarget) RecordWindow(ctx context.Context, pos dmnode.Position) error {
	return execTx(ctx, m.db, nil, func(tx *sql.Tx) error {
		if err := checkFence(ctx, tx, m.task, m.source, m.epoch); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO `+MetaSchema+`.apply_window (task, source, binlog_file, binlog_pos, binlog_gtid)
			VALUES (?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE binlog_file = VALUES(binlog_file), binlog_pos = VALUES(binlog_pos),
			binlog_gtid = VALUES(binlog_gtid)`, m.task, m.source, pos.File, pos.Pos, pos.GTID)
		return err
	})
}

func (m *mariaTarget) ResyncState(ctx context.Context) (string, bool, error) {
	if _, err := m.db.ExecContext(ctx, shardStateDDL); err != nil {
		return "", false, classifyTargetError(fmt.Errorf("create %s.shard_resync on the target: %w", MetaSchema, err))
	}
	var data string
	err := m.db.QueryRowContext(ctx, `SELECT state FROM `+MetaSchema+`.shard_resync WHERE task = ? AND source = ?`,
		m.task, m.source).Scan(&data)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", false, nil
	case err != nil:
		return "", false, fmt.Errorf("read shard resync state: %w", err)
	}
	return data, true, nil
}

// mariaPartsTxn is a PartsTxn on one connection of the target's pool.
type mariaPartsTxn struct {
	m  *mariaTarget
	tx *sql.Tx
}

func (p *mariaPartsTxn) Exec(ctx context.Context, s stmt) error {
	if _, err := p.tx.ExecContext(ctx, s.query, s.args...); err != nil {
		return fmt.Errorf("target: %s: %w", abbreviate(s.query), err)
	}
	return nil
}

// Load runs one LOAD DATA LOCAL ... REPLACE of file inside a savepoint.
// REPLACE is what safe mode writes; outside it the rows are to be new, as
// an INSERT's, so the statement counts only when it affected exactly rows
// rows (a replaced row counts twice). A warning (LOAD DATA LOCAL turns a
// value the target rejects into one), a row already there, or a target
// that refuses the statement undoes it to the savepoint and declines;
// TiDB is not asked. Lock conflicts, a transaction grown past the
// target's limit and connection errors are returned, as Exec returns
// them.
func (p *mariaPartsTxn) Load(ctx context.Context, plan *rules.TablePlan, file []byte, rows int, safe bool) (bool, error) {
	if !p.m.loads(ctx) {
		return false, nil
	}
	done, refused, err := loadInTx(ctx, p.tx, plan, file, rows, safe)
	if refused != nil {
		p.m.loadRefused(refused)
	}
	return done, err
}

// loadInTx runs one LOAD DATA LOCAL ... REPLACE of file into plan's
// target table inside a savepoint of tx, and reports whether it wrote the
// rows (PartsTxn.Load says when it declines); refused is the target's
// error when it refuses LOAD DATA LOCAL itself.
func loadInTx(ctx context.Context, tx *sql.Tx, plan *rules.TablePlan, file []byte, rows int, safe bool) (done bool, refused, err error) {
	if _, err := tx.ExecContext(ctx, "SAVEPOINT dmnode_load"); err != nil {
		return false, nil, fmt.Errorf("target: savepoint: %w", err)
	}
	q, affected, warnings, err := execLoadData(ctx, tx, "dmnode-apply", plan, file)
	var me *mysql.MySQLError
	switch {
	case err == nil && warnings == 0 && (safe || affected == int64(rows)):
		return true, nil, nil
	case err != nil && (!errors.As(err, &me) || isRetryable(err) || isTxnTooLarge(err)):
		return false, nil, fmt.Errorf("target: %s: %w", abbreviate(q), err)
	case me != nil && loadRefused(me):
		refused = err
	}
	if _, err := tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT dmnode_load"); err != nil {
		return false, refused, fmt.Errorf("target: rollback to savepoint: %w", err)
	}
	return false, refused, nil
}

// execLoadData loads file into plan's target table with one LOAD DATA
// LOCAL on tx, and returns the statement, the rows it affected and the
// warnings it raised. The file is served under a reader name made from
// prefix, registered for the statement's time. The loader and the
// applier share it; each judges the outcome its own way.
func execLoadData(ctx context.Context, tx *sql.Tx, prefix string, plan *rules.TablePlan, file []byte) (q string, affected, warnings int64, err error) {
	name := fmt.Sprintf("%s-%d", prefix, loadDataFiles.Add(1))
	mysql.RegisterReaderHandler(name, func() io.Reader { return bytes.NewReader(file) })
	defer mysql.DeregisterReaderHandler(name)
	q = sqlgen.LoadData("Reader::"+name, plan.TargetSchema, plan.TargetTable, plan.WriteColumns())
	res, err := tx.ExecContext(ctx, q)
	if err != nil {
		return q, 0, 0, err
	}
	if affected, err = res.RowsAffected(); err != nil {
		return q, 0, 0, err
	}
	err = tx.QueryRowContext(ctx, "SELECT @@warning_count").Scan(&warnings)
	return q, affected, warnings, err
}

func (p *mariaPartsTxn) Checkpoint(ctx context.Context, txn targetTxn) error {
	return p.m.checkpoint(ctx, p.tx, txn)
}

func (p *mariaPartsTxn) Commit() error { return p.tx.Commit() }
func (p *mariaPartsTxn) Rollback()     { p.tx.Rollback() }

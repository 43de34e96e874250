package actors

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/go-sql-driver/mysql"
	"github.com/pingcap/tidb/pkg/parser"

	"github.com/dmnode/dmnode/core/sqltext"
	"github.com/dmnode/dmnode/core/tidb"
)

// sqlLog is the process's statement recorder, nil when it is off. When
// sqltext.LogEnv names a file, every process records the shape of each
// distinct statement it sends to a target database there: one line per
// shape, appended. The end-to-end tests set it and parse every recorded
// statement with TiDB's parser, so a statement TiDB would refuse fails the
// suite even though the tests run against MariaDB. Unset (the default),
// targets are opened as plain pools.
var sqlLog = openSQLLog(os.Getenv(sqltext.LogEnv))

// statementLog records each distinct statement shape once. A shape is the
// statement with its literals and value lists folded (TiDB's normalizer),
// so a million row inserts record one line. Safe for concurrent use.
type statementLog struct {
	mu   sync.Mutex
	f    *os.File
	seen map[string]bool
	// refuse, when set (sqltext.RefuseEnv), makes connections to a target
	// that reports a TiDB version answer like TiDB (refuseLikeTiDB).
	refuse *tidbRefusals
}

// tidbRefusals is what the recorder refuses on a TiDB-shaped target: the
// DDL of core/tidb's table always, and transactions over txnLimit bytes
// of statements when it is set.
type tidbRefusals struct {
	txnLimit int64
}

func openSQLLog(path string) *statementLog {
	if path == "" {
		return nil
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		fmt.Fprintf(os.Stderr, "dmnode: %s: %v; statements sent to targets are not recorded\n", sqltext.LogEnv, err)
		return nil
	}
	l := &statementLog{f: f, seen: map[string]bool{}}
	if v, ok := os.LookupEnv(sqltext.RefuseEnv); ok {
		l.refuse = &tidbRefusals{}
		if n, ok := strings.CutPrefix(v, "txn-limit="); ok {
			limit, err := strconv.ParseInt(n, 10, 64)
			if err != nil || limit <= 0 {
				fmt.Fprintf(os.Stderr, "dmnode: %s=%q: want txn-limit=BYTES; no size limit\n", sqltext.RefuseEnv, v)
			}
			l.refuse.txnLimit = limit
		}
	}
	return l
}

// record appends query, unless a statement of its shape was recorded
// before. Statements are kept as sent (with their placeholders); a
// multi-statement query is one entry. Newlines are escaped so that one
// line is one entry: the reader undoes sqltext.EscapeLine.
func (l *statementLog) record(query string) {
	for _, stmt := range sqltext.SplitStatements(query) {
		_, digest := parser.NormalizeDigest(stmt)
		l.mu.Lock()
		if !l.seen[digest.String()] {
			l.seen[digest.String()] = true
			l.f.WriteString(sqltext.EscapeLine(stmt) + "\n")
		}
		l.mu.Unlock()
	}
}

// recordingConnector wraps a target's connector so that every statement
// sent on its connections is recorded. It adds nothing else: each call is
// passed on to the driver's own connection.
type recordingConnector struct {
	driver.Connector
	log *statementLog
}

func (c recordingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	rc := &recordingConn{Conn: conn, log: c.log}
	if c.log.refuse != nil {
		if rc.tidb, rc.isTiDB, err = serverTiDB(ctx, conn); err != nil {
			conn.Close()
			return nil, err
		}
	}
	return rc, nil
}

// serverTiDB reads the version a new connection's server reports.
func serverTiDB(ctx context.Context, conn driver.Conn) (tidb.Version, bool, error) {
	q, ok := conn.(driver.QueryerContext)
	if !ok {
		return tidb.Version{}, false, errors.New("target connection: the MySQL driver's connection cannot query")
	}
	rows, err := q.QueryContext(ctx, "SELECT VERSION()", nil)
	if err != nil {
		return tidb.Version{}, false, fmt.Errorf("read target version: %w", err)
	}
	defer rows.Close()
	vals := make([]driver.Value, 1)
	if err := rows.Next(vals); err != nil && err != io.EOF {
		return tidb.Version{}, false, fmt.Errorf("read target version: %w", err)
	}
	var v string
	switch x := vals[0].(type) {
	case []byte:
		v = string(x)
	case string:
		v = x
	}
	tv, isTiDB := tidb.ParseVersion(v)
	return tv, isTiDB, nil
}

// refuseLikeTiDB returns the error TiDB would answer to query, on a
// connection whose server reports a TiDB version while the recorder
// refuses (sqltext.RefuseEnv): a DDL core/tidb's table says TiDB refuses,
// with TiDB's code and text, or 8004 when the statements of the
// transaction (or the statement alone, outside one) exceed the configured
// size. The size counted is the statements' bytes, a stand-in for the
// key-value size TiDB counts.
func (c *recordingConn) refuseLikeTiDB(query string, args []driver.NamedValue) error {
	rf := c.log.refuse
	if rf == nil || !c.isTiDB {
		return nil
	}
	for _, stmt := range sqltext.SplitStatements(query) {
		if !isSchemaChange(stmt) {
			continue
		}
		if r := tidb.Refuses(c.tidb, stmt); r != nil {
			return &mysql.MySQLError{Number: r.Code, Message: r.Message}
		}
	}
	if rf.txnLimit <= 0 {
		return nil
	}
	size := int64(len(query))
	for _, a := range args {
		size += int64(len(fmt.Sprint(a.Value)))
	}
	if c.inTx {
		c.txBytes += size
		size = c.txBytes
	}
	if size > rf.txnLimit {
		return &mysql.MySQLError{Number: tidb.ErrTxnTooLarge, Message: fmt.Sprintf("Transaction is too large, size: %d", size)}
	}
	return nil
}

// isSchemaChange reports whether stmt starts with CREATE or ALTER.
func isSchemaChange(stmt string) bool {
	s := strings.TrimLeft(stmt, " \t\r\n(")
	if len(s) < 6 {
		return false
	}
	w := strings.ToUpper(s[:6])
	return w == "CREATE" || w[:5] == "ALTER"
}

// driverConn is what go-sql-driver/mysql's connections implement; the
// wrapper keeps all of it, so database/sql treats it as it would the
// driver's own connection (argument conversion, session reset, pings).
type driverConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
	driver.NamedValueChecker
}

type recordingConn struct {
	driver.Conn
	log *statementLog
	// With the recorder refusing like TiDB: the server's version, and
	// the open transaction's size so far.
	tidb    tidb.Version
	isTiDB  bool
	inTx    bool
	txBytes int64
}

// refusingTx ends the connection's transaction for the size count.
type refusingTx struct {
	driver.Tx
	c *recordingConn
}

func (t refusingTx) Commit() error {
	t.c.inTx, t.c.txBytes = false, 0
	return t.Tx.Commit()
}

func (t refusingTx) Rollback() error {
	t.c.inTx, t.c.txBytes = false, 0
	return t.Tx.Rollback()
}

func (c *recordingConn) inner() (driverConn, error) {
	dc, ok := c.Conn.(driverConn)
	if !ok {
		return nil, errors.New("target connection: the MySQL driver's connection lacks an interface dmnode relies on")
	}
	return dc, nil
}

func (c *recordingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	dc, err := c.inner()
	if err != nil {
		return nil, err
	}
	tx, err := dc.BeginTx(ctx, opts)
	if err != nil || c.log.refuse == nil {
		return tx, err
	}
	c.inTx, c.txBytes = true, 0
	return refusingTx{Tx: tx, c: c}, nil
}

func (c *recordingConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	c.log.record(query)
	dc, err := c.inner()
	if err != nil {
		return nil, err
	}
	return dc.PrepareContext(ctx, query)
}

func (c *recordingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	c.log.record(query)
	if err := c.refuseLikeTiDB(query, args); err != nil {
		return nil, err
	}
	dc, err := c.inner()
	if err != nil {
		return nil, err
	}
	return dc.ExecContext(ctx, query, args)
}

func (c *recordingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	c.log.record(query)
	if err := c.refuseLikeTiDB(query, args); err != nil {
		return nil, err
	}
	dc, err := c.inner()
	if err != nil {
		return nil, err
	}
	return dc.QueryContext(ctx, query, args)
}

func (c *recordingConn) Ping(ctx context.Context) error {
	dc, err := c.inner()
	if err != nil {
		return err
	}
	return dc.Ping(ctx)
}

func (c *recordingConn) ResetSession(ctx context.Context) error {
	dc, err := c.inner()
	if err != nil {
		return err
	}
	return dc.ResetSession(ctx)
}

func (c *recordingConn) IsValid() bool {
	dc, err := c.inner()
	return err == nil && dc.IsValid()
}

func (c *recordingConn) CheckNamedValue(v *driver.NamedValue) error {
	dc, err := c.inner()
	if err != nil {
		return err
	}
	return dc.CheckNamedValue(v)
}

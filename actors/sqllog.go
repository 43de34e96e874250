package actors

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/pingcap/tidb/pkg/parser"

	"github.com/dmnode/dmnode/core/sqltext"
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
	return &statementLog{f: f, seen: map[string]bool{}}
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
	return &recordingConn{Conn: conn, log: c.log}, nil
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
	return dc.BeginTx(ctx, opts)
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
	dc, err := c.inner()
	if err != nil {
		return nil, err
	}
	return dc.ExecContext(ctx, query, args)
}

func (c *recordingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	c.log.record(query)
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

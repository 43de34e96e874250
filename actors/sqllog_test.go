package actors

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/dmnode/dmnode/core/sqltext"
	"github.com/dmnode/dmnode/core/tidb"
)

// The target statement recorder (sqllog.go) over a fake driver connection
// with every interface the MySQL driver's has: what it records, what it
// passes on, and what it refuses like TiDB.

type fakeConn struct {
	mu      sync.Mutex
	version string
	sent    []string
}

func (c *fakeConn) Prepare(query string) (driver.Stmt, error) { return nil, errors.New("not prepared") }
func (c *fakeConn) Close() error                              { return nil }
func (c *fakeConn) Begin() (driver.Tx, error)                 { return fakeTx{}, nil }
func (c *fakeConn) BeginTx(context.Context, driver.TxOptions) (driver.Tx, error) {
	return fakeTx{}, nil
}
func (c *fakeConn) PrepareContext(_ context.Context, query string) (driver.Stmt, error) {
	c.note(query)
	return nil, errors.New("not prepared")
}
func (c *fakeConn) ExecContext(_ context.Context, query string, _ []driver.NamedValue) (driver.Result, error) {
	c.note(query)
	return driver.RowsAffected(1), nil
}
func (c *fakeConn) QueryContext(_ context.Context, query string, _ []driver.NamedValue) (driver.Rows, error) {
	c.note(query)
	return &fakeRows{vals: []driver.Value{[]byte(c.version)}}, nil
}
func (c *fakeConn) Ping(context.Context) error                   { return nil }
func (c *fakeConn) ResetSession(context.Context) error           { return nil }
func (c *fakeConn) IsValid() bool                                { return true }
func (c *fakeConn) CheckNamedValue(*driver.NamedValue) error     { return driver.ErrSkip }
func (c *fakeConn) note(q string)                                { c.mu.Lock(); c.sent = append(c.sent, q); c.mu.Unlock() }
func (c *fakeConn) Connect(context.Context) (driver.Conn, error) { return c, nil }
func (c *fakeConn) Driver() driver.Driver                        { return nil }

type fakeTx struct{}

func (fakeTx) Commit() error   { return nil }
func (fakeTx) Rollback() error { return nil }

type fakeRows struct {
	vals []driver.Value
	done bool
}

func (r *fakeRows) Columns() []string { return []string{"v"} }
func (r *fakeRows) Close() error      { return nil }
func (r *fakeRows) Next(dest []driver.Value) error {
	if r.done {
		return io.EOF
	}
	r.done = true
	copy(dest, r.vals)
	return nil
}

// openLog opens a recorder on a temporary file, refusing as refuse says
// (nil: not refusing).
func openLog(t *testing.T, refuse *string) (*statementLog, string) {
	t.Helper()
	t.Setenv(sqltext.RefuseEnv, "")
	if refuse == nil {
		os.Unsetenv(sqltext.RefuseEnv)
	} else {
		os.Setenv(sqltext.RefuseEnv, *refuse)
	}
	path := filepath.Join(t.TempDir(), "sql.log")
	l := openSQLLog(path)
	if l == nil {
		t.Fatal("no recorder")
	}
	t.Cleanup(func() { l.f.Close() })
	return l, path
}

func recorded(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

// Each statement shape is recorded once, a multi-statement query as its
// statements; every statement still reaches the server.
func TestStatementLogRecords(t *testing.T) {
	ctx := t.Context()
	l, path := openLog(t, nil)
	fc := &fakeConn{version: "10.11.6-MariaDB"}
	db := sql.OpenDB(recordingConnector{Connector: fc, log: l})
	defer db.Close()
	for _, s := range []string{"INSERT INTO t VALUES (1)", "INSERT INTO t VALUES (2)", "UPDATE t SET a = 1 WHERE id = 3;\nDELETE FROM t WHERE id = 4"} {
		if _, err := db.ExecContext(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	var v string
	if err := db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&v); err != nil || v != "10.11.6-MariaDB" {
		t.Fatalf("query: %q, %v", v, err)
	}
	if _, err := db.PrepareContext(ctx, "SELECT a FROM t WHERE id = ?"); err == nil {
		t.Fatal("the fake prepares nothing")
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	tx.Commit()
	if err := db.PingContext(ctx); err != nil {
		t.Fatal(err)
	}
	got := recorded(t, path)
	want := []string{"INSERT INTO t VALUES (1)", "UPDATE t SET a = 1 WHERE id = 3", "DELETE FROM t WHERE id = 4", "SELECT VERSION()", "SELECT a FROM t WHERE id = ?"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("recorded\n%q\nwant\n%q", got, want)
	}
	if len(fc.sent) != 5 {
		t.Errorf("the server got %d statements, want 5: %q", len(fc.sent), fc.sent)
	}
}

// On a TiDB-shaped target the refusing recorder answers like TiDB: DDL
// that TiDB refuses, and a transaction over the size limit; on other
// targets it refuses nothing.
func TestStatementLogRefusesLikeTiDB(t *testing.T) {
	ctx := t.Context()
	limit := "txn-limit=120"
	l, _ := openLog(t, &limit)
	if l.refuse == nil || l.refuse.txnLimit != 120 {
		t.Fatalf("refusals %+v", l.refuse)
	}
	fc := &fakeConn{version: "5.7.25-TiDB-v5.4.0"}
	db := sql.OpenDB(recordingConnector{Connector: fc, log: l})
	defer db.Close()
	db.SetMaxOpenConns(1)
	var me *mysql.MySQLError
	_, err := db.ExecContext(ctx, "ALTER TABLE t ADD COLUMN g geometry")
	if !errors.As(err, &me) || me.Number == 0 {
		t.Fatalf("a DDL TiDB refuses: %v", err)
	}
	if _, err := db.ExecContext(ctx, "\n  ALTER TABLE t ADD COLUMN a int, ADD COLUMN b int"); !errors.As(err, &me) {
		t.Fatalf("several changes in one ALTER on TiDB 5.4: %v", err)
	}
	if _, err := db.ExecContext(ctx, "CREATE TABLE x (id int PRIMARY KEY)"); err != nil {
		t.Fatalf("a DDL TiDB runs: %v", err)
	}
	// The transaction's statements add up; a new one starts from zero.
	for round := range 2 {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		row := "INSERT INTO t (id, v) VALUES (?, ?)"
		if _, err := tx.ExecContext(ctx, row, 1, "aaaaaaaaaa"); err != nil {
			t.Fatalf("round %d, first insert: %v", round, err)
		}
		if _, err := tx.ExecContext(ctx, row, 2, "bbbbbbbbbb"); err != nil {
			t.Fatalf("round %d, second insert: %v", round, err)
		}
		_, err = tx.ExecContext(ctx, row, 3, "cccccccccc")
		if !errors.As(err, &me) || me.Number != tidb.ErrTxnTooLarge {
			t.Fatalf("round %d, over the limit: %v", round, err)
		}
		if round == 0 {
			tx.Rollback()
		} else {
			tx.Commit()
		}
	}
	if _, err := db.QueryContext(ctx, "SELECT "+strings.Repeat("1, ", 60)+"1"); !errors.As(err, &me) || me.Number != tidb.ErrTxnTooLarge {
		t.Fatalf("one statement over the limit: %v", err)
	}

	other := &fakeConn{version: "8.0.36"}
	db2 := sql.OpenDB(recordingConnector{Connector: other, log: l})
	defer db2.Close()
	if _, err := db2.ExecContext(ctx, "ALTER TABLE t ADD COLUMN g geometry"); err != nil {
		t.Errorf("refused on a target that is not TiDB: %v", err)
	}
}

func TestOpenSQLLog(t *testing.T) {
	if openSQLLog("") != nil {
		t.Error("a recorder with no file")
	}
	if openSQLLog(filepath.Join(t.TempDir(), "no", "such", "dir", "sql.log")) != nil {
		t.Error("a recorder on a file that cannot be created")
	}
	bad := "txn-limit=lots"
	l, _ := openLog(t, &bad)
	if l.refuse == nil || l.refuse.txnLimit > 0 {
		t.Errorf("refusals %+v with a limit that is no number", l.refuse)
	}
	for stmt, want := range map[string]bool{"create table t (a int)": true, " (ALTER TABLE t": true, "alter table t": true, "ALTER": false,
		"INSERT INTO t": false, "drop": false, "": false} {
		if isSchemaChange(stmt) != want {
			t.Errorf("isSchemaChange(%q) = %v", stmt, !want)
		}
	}
}

// bareConn lacks the interfaces the recorder relies on.
type bareConn struct{}

func (bareConn) Prepare(string) (driver.Stmt, error) { return nil, errors.New("no") }
func (bareConn) Close() error                        { return nil }
func (bareConn) Begin() (driver.Tx, error)           { return nil, errors.New("no") }

func TestRecordingConnLacksInterfaces(t *testing.T) {
	l, _ := openLog(t, nil)
	c := &recordingConn{Conn: bareConn{}, log: l}
	ctx := t.Context()
	if _, err := c.ExecContext(ctx, "SELECT 1", nil); err == nil || !strings.Contains(err.Error(), "lacks an interface") {
		t.Errorf("exec: %v", err)
	}
	if _, err := c.QueryContext(ctx, "SELECT 1", nil); err == nil {
		t.Error("query on a bare connection")
	}
	if _, err := c.BeginTx(ctx, driver.TxOptions{}); err == nil {
		t.Error("begin on a bare connection")
	}
	if _, err := c.PrepareContext(ctx, "SELECT 1"); err == nil {
		t.Error("prepare on a bare connection")
	}
	if c.Ping(ctx) == nil || c.ResetSession(ctx) == nil || c.IsValid() || c.CheckNamedValue(&driver.NamedValue{}) == nil {
		t.Error("a bare connection passed a check")
	}
	if _, _, err := serverTiDB(ctx, bareConn{}); err == nil {
		t.Error("version read on a connection that cannot query")
	}
}

package harness

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// startTimeout bounds how long a starting mariadbd may take to accept
// connections, including InnoDB crash recovery after Kill.
const startTimeout = 60 * time.Second

// Options configures a MariaDB server started by StartMariaDB.
type Options struct {
	// ServerID is the server_id; 0 means 1.
	ServerID int
	// GTIDStrict turns on gtid_strict_mode.
	GTIDStrict bool
	// ExtraArgs are appended to mariadbd's command line and so override the
	// defaults, e.g. "--binlog-format=MIXED".
	ExtraArgs []string
}

// Server is a throw-away mariadbd on 127.0.0.1, with the binlog on in ROW
// format with full row images. User root has no password over TCP. The
// server and its files are removed when the test ends.
type Server struct {
	Port     int
	DataDir  string // the data directory, also holding the socket
	ServerID int

	dir  string // the temp dir holding DataDir, removed at cleanup
	args []string
	c    *child
}

// StartMariaDB initialises a data directory, starts mariadbd on a free port
// and waits until root can log in over TCP. The server is stopped and its
// files removed at cleanup; its error log is printed if the test failed.
//
// The server runs with: log-bin, binlog_format=ROW, binlog_row_image=FULL,
// the given server_id, skip-name-resolve, a 64M InnoDB buffer pool,
// innodb_flush_log_at_trx_commit=2 and sync_binlog=0 (durable against a
// killed server, not a crashed machine), and utf8mb4 as the server character
// set (TiDB's default, where MariaDB's built-in default is latin1).
//
// Without mariadbd on the machine the test is skipped, or failed when the
// environment variable CI is set. Under go test -short it is skipped: the
// short run is the unit suite that needs no server (make test measures
// its coverage), and the full run that follows it runs these tests.
func StartMariaDB(t testing.TB, opt Options) *Server {
	t.Helper()
	if testing.Short() {
		t.Skip("needs MariaDB: skipped under -short")
	}
	mariadbd, installDB := mariadbBinaries(t)
	if opt.ServerID == 0 {
		opt.ServerID = 1
	}
	// A temp dir of our own rather than t.TempDir: the socket path must stay
	// under the kernel's 108-byte limit whatever the test is called.
	dir, err := os.MkdirTemp("", "mariadb-")
	if err != nil {
		t.Fatalf("create mariadb dir: %v", err)
	}
	s := &Server{DataDir: filepath.Join(dir, "data"), ServerID: opt.ServerID, dir: dir}
	t.Cleanup(func() { s.cleanup(t) })

	// Every server gets a tmpdir of its own: servers bootstrapped at the
	// same time in a shared /tmp collide on temporary table names.
	if err := os.MkdirAll(s.tmpDir(), 0o700); err != nil {
		t.Fatalf("create mariadb tmpdir: %v", err)
	}
	install := exec.Command(installDB, "--no-defaults", "--datadir="+s.DataDir,
		"--auth-root-authentication-method=normal", "--skip-test-db", "--tmpdir="+s.tmpDir())
	if os.Geteuid() == 0 {
		install.Args = append(install.Args, "--user=root")
	}
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("mariadb-install-db: %v\n%s", err, out)
	}

	// The port FreePort finds can be taken before mariadbd binds it: retry
	// with another one when that is why the server failed to start.
	for attempt := 1; ; attempt++ {
		_ = os.Remove(s.errorLogPath()) // judge this attempt by its own log
		s.Port = FreePort(t)
		s.args = s.mariadbdArgs(mariadbd, opt)
		err := s.start()
		if err == nil {
			break
		}
		if attempt < 3 && strings.Contains(s.errorLog(), "Address already in use") {
			t.Logf("port %d was taken, retrying on another: %v\n%s", s.Port, err, s.errorLog())
			continue
		}
		t.Fatalf("start mariadbd (server_id %d, port %d): %v\nerror log:\n%s",
			s.ServerID, s.Port, err, s.errorLog())
	}
	return s
}

// mariadbBinaries finds mariadbd and mariadb-install-db, skipping or failing
// the test when they are missing.
func mariadbBinaries(t testing.TB) (mariadbd, installDB string) {
	t.Helper()
	mariadbd, err1 := lookPath("mariadbd")
	installDB, err2 := lookPath("mariadb-install-db")
	if err := errors.Join(err1, err2); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("MariaDB is required in CI: %v", err)
		}
		t.Skipf("MariaDB is not installed (apt-get install mariadb-server): %v", err)
	}
	return mariadbd, installDB
}

// lookPath finds name on PATH or in /usr/sbin, where Debian puts mariadbd and
// which is not on every user's PATH.
func lookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	p := filepath.Join("/usr/sbin", name)
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%s not found on PATH or in /usr/sbin", name)
}

// Pid returns the server's process id, e.g. to read its CPU time from
// /proc/PID/stat.
func (s *Server) Pid() int { return s.c.cmd.Process.Pid }

func (s *Server) tmpDir() string { return filepath.Join(s.dir, "tmp") }

func (s *Server) mariadbdArgs(mariadbd string, opt Options) []string {
	args := []string{
		mariadbd,
		"--no-defaults",
		"--datadir=" + s.DataDir,
		"--bind-address=127.0.0.1",
		"--port=" + strconv.Itoa(s.Port),
		"--socket=" + filepath.Join(s.DataDir, "mysql.sock"),
		"--tmpdir=" + s.tmpDir(),
		"--pid-file=" + filepath.Join(s.DataDir, "mariadbd.pid"),
		"--log-error=" + s.errorLogPath(),
		"--skip-name-resolve",
		"--server-id=" + strconv.Itoa(opt.ServerID),
		"--log-bin=mysql-bin",
		"--binlog-format=ROW",
		"--binlog-row-image=FULL",
		"--character-set-server=utf8mb4",
		"--collation-server=utf8mb4_general_ci",
		"--innodb-buffer-pool-size=64M",
		"--innodb-flush-log-at-trx-commit=2",
		"--sync-binlog=0",
	}
	if os.Geteuid() == 0 {
		args = append(args, "--user=root")
	}
	if opt.GTIDStrict {
		args = append(args, "--gtid-strict-mode=ON")
	}
	return append(args, opt.ExtraArgs...)
}

func (s *Server) errorLogPath() string { return filepath.Join(s.dir, "error.log") }

// errorLog returns the tail of the server's error log.
func (s *Server) errorLog() string {
	b, err := os.ReadFile(s.errorLogPath())
	if err != nil {
		return fmt.Sprintf("(read error log: %v)", err)
	}
	const max = 16 << 10
	if len(b) > max {
		b = append([]byte("...\n"), b[len(b)-max:]...)
	}
	return string(b)
}

// start starts mariadbd with s.args and waits until root can log in over TCP.
// On failure the server is not running.
func (s *Server) start() error {
	out, err := os.OpenFile(filepath.Join(s.dir, "mariadbd.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer out.Close() // the child holds its own descriptor
	cmd := exec.Command(s.args[0], s.args[1:]...)
	cmd.Stdout = out
	cmd.Stderr = out
	c, err := startChild(cmd)
	if err != nil {
		return err
	}
	if err := s.waitReady(c); err != nil {
		c.kill()
		return err
	}
	s.c = c
	return nil
}

// waitReady polls until root can log in, the server exits or startTimeout
// passes.
func (s *Server) waitReady(c *child) error {
	deadline := time.NewTimer(startTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		err := s.ping()
		if err == nil {
			return nil
		}
		select {
		case <-c.done:
			return fmt.Errorf("mariadbd exited (%v); last login attempt: %w", c.err, err)
		case <-deadline.C:
			return fmt.Errorf("no login within %v: %w", startTimeout, err)
		case <-tick.C:
		}
	}
}

// ping logs in as root over TCP. If the data directory has no
// root@127.0.0.1, it adds one over the socket, out of the binlog.
func (s *Server) ping() error {
	err := pingDSN(s.DSN(""))
	var myErr *mysql.MySQLError
	if !errors.As(err, &myErr) || myErr.Number != 1045 { // ER_ACCESS_DENIED_ERROR
		return err
	}
	sock := fmt.Sprintf("root@unix(%s)/?multiStatements=true", filepath.Join(s.DataDir, "mysql.sock"))
	db, err := sql.Open("mysql", sock)
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.Exec("SET sql_log_bin = 0; " +
		"CREATE USER IF NOT EXISTS 'root'@'127.0.0.1'; " +
		"GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION")
	if err != nil {
		return fmt.Errorf("grant root@127.0.0.1 over the socket: %w", err)
	}
	return pingDSN(s.DSN(""))
}

func pingDSN(dsn string) error {
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return db.PingContext(ctx)
}

// cleanup stops the server and removes its files.
func (s *Server) cleanup(t testing.TB) {
	if s.c != nil {
		if err := s.c.stop(startTimeout); err != nil {
			t.Errorf("mariadbd on port %d did not shut down within %v; killed", s.Port, startTimeout)
		}
		if t.Failed() {
			t.Logf("error log of mariadbd (server_id %d, port %d):\n%s", s.ServerID, s.Port, s.errorLog())
		}
	}
	if err := os.RemoveAll(s.dir); err != nil {
		t.Errorf("remove mariadb dir: %v", err)
	}
}

// DSN returns a go-sql-driver DSN for root on database db ("" for none),
// with multiStatements and interpolateParams on.
func (s *Server) DSN(db string) string {
	return fmt.Sprintf("root@tcp(127.0.0.1:%d)/%s?multiStatements=true&interpolateParams=true", s.Port, db)
}

// DB opens a connection pool to the server with no default database; it is
// closed at cleanup.
func (s *Server) DB(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", s.DSN(""))
	if err != nil {
		t.Fatalf("open %s: %v", s.DSN(""), err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// Exec runs stmts in order on one connection, so session state such as USE
// carries from one to the next. It fails the test, naming the statement, on
// the first error.
func (s *Server) Exec(t testing.TB, stmts ...string) {
	t.Helper()
	db, err := sql.Open("mysql", s.DSN(""))
	if err != nil {
		t.Fatalf("open %s: %v", s.DSN(""), err)
	}
	defer db.Close()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatalf("connect to mariadb on port %d: %v", s.Port, err)
	}
	defer conn.Close()
	for _, stmt := range stmts {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("exec on mariadb port %d: %s: %v", s.Port, stmt, err)
		}
	}
}

// Kill sends SIGKILL to the server and waits for it to exit. Restart brings
// it back.
func (s *Server) Kill(t testing.TB) {
	t.Helper()
	s.c.kill()
}

// Restart starts the server again on the same data directory and port, after
// Kill or a crash, and waits until it accepts connections. A running server
// is shut down first.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	if err := s.c.stop(startTimeout); err != nil {
		t.Fatalf("mariadbd on port %d did not shut down within %v; killed", s.Port, startTimeout)
	}
	if err := s.start(); err != nil {
		// The cleanup prints the error log.
		t.Fatalf("restart mariadbd (server_id %d, port %d): %v", s.ServerID, s.Port, err)
	}
}

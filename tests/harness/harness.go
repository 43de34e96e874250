// Package harness runs the real programs that dmnode's end-to-end tests need:
// throw-away MariaDB servers (StartMariaDB), the dmnode binary (BuildDmnode,
// StartProcess, Run), and the checks every scenario ends with (Rows,
// CompareRows, Eventually).
//
// Everything a helper starts is registered with t.Cleanup and stopped there,
// children die with the test binary (Linux parent-death signal) so a test
// that times out leaves no server behind, and nothing synchronises with
// time.Sleep: tests poll with Eventually, which reports the last error when
// its deadline passes.
//
// A package that uses BuildDmnode, or wants goroutine-leak checking, runs its
// tests through Main:
//
//	func TestMain(m *testing.M) { harness.Main(m) }
//
// MariaDB comes from the machine: mariadbd and mariadb-install-db must be on
// PATH (or in /usr/sbin). When they are missing StartMariaDB skips the test,
// unless the environment variable CI is set, in which case it fails it.
package harness

import (
	"errors"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// Main runs the package's tests, removes the binaries BuildDmnode built,
// checks that the tests leaked no goroutine (only when they passed, so a
// failure is not buried under leak reports) and exits with the result.
func Main(m *testing.M) {
	code := m.Run()
	removeBuilds()
	if s := DialectSummary(); s != "" {
		fmt.Println(s)
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// FreePort returns a TCP port on 127.0.0.1 that was free when asked. Another
// process may take it before the caller binds it; StartMariaDB retries on
// that race.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	return port
}

// Eventually calls fn at once and then every 100ms until it returns nil. If
// timeout passes first it fails the test (t.Fatalf) with fn's last error.
func Eventually(t testing.TB, timeout time.Duration, fn func() error) {
	t.Helper()
	if err := Within(timeout, fn); err != nil {
		t.Fatalf("not within %v: %v", timeout, err)
	}
}

// Within is Eventually without a test: it returns fn's last error when
// timeout passes.
func Within(timeout time.Duration, fn func() error) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		err := fn()
		if err == nil {
			return nil
		}
		select {
		case <-deadline.C:
			return err
		case <-tick.C:
		}
	}
}

// errTimeout is returned by waitDone when a process did not exit in time.
var errTimeout = errors.New("timed out")

// waitDone waits until done is closed or timeout passes.
func waitDone(done <-chan struct{}, timeout time.Duration) error {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-done:
		return nil
	case <-timer.C:
		return errTimeout
	}
}

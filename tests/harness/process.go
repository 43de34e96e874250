package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// stopTimeout is how long a child gets to exit after SIGTERM before it is
// killed.
const stopTimeout = 30 * time.Second

// child is a started command and the goroutine that reaps it. The goroutine
// ends when the process exits; whoever owns the child waits on done before
// the test ends, so no goroutine outlives its test.
type child struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error // cmd.Wait's result; read only after done is closed
}

// startChild starts cmd so that it is killed if the test binary dies, and
// reaps it in the background.
func startChild(cmd *exec.Cmd) (*child, error) {
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

// exited reports whether the process has exited.
func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL and waits for the process to exit.
func (c *child) kill() {
	if !c.exited() {
		_ = c.cmd.Process.Signal(syscall.SIGKILL)
	}
	<-c.done
}

// stop sends SIGTERM and waits up to timeout; then it kills the process and
// returns errTimeout.
func (c *child) stop(timeout time.Duration) error {
	if !c.exited() {
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
	}
	if err := waitDone(c.done, timeout); err != nil {
		// A Go program prints every goroutine's stack on SIGQUIT: the log
		// then shows where it hung.
		_ = c.cmd.Process.Signal(syscall.SIGQUIT)
		_ = waitDone(c.done, 3*time.Second)
		c.kill()
		return err
	}
	return nil
}

// The one build of dmnode per test binary.
var (
	buildOnce sync.Once
	buildDir  string // removed by Main
	buildBin  string
	buildErr  error
)

// BuildDmnode builds ./cmd/dmnode with `go build` from the module root (the
// nearest directory above the working directory holding go.mod) once per test
// binary, and returns the path of the binary. A failed build fails every
// test that asks. Main removes the binary when the tests are done.
func BuildDmnode(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() { buildBin, buildErr = buildDmnode() })
	if buildErr != nil {
		t.Fatalf("build dmnode: %v", buildErr)
	}
	return buildBin
}

func buildDmnode() (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "dmnode-build-")
	if err != nil {
		return "", err
	}
	buildDir = dir
	bin := filepath.Join(dir, "dmnode")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/dmnode")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/dmnode in %s: %w\n%s", root, err, out)
	}
	return bin, nil
}

// removeBuilds removes what BuildDmnode built. It runs after every test has
// returned.
func removeBuilds() {
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
}

// ModuleRoot walks up from the working directory to the one holding go.mod.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// Process is a running child process, typically a dmnode node. Its stdout and
// stderr go to one file in the test's temp dir, printed when the test fails.
type Process struct {
	name    string
	logPath string
	c       *child
}

// StartProcess starts bin with args. The child inherits the environment plus
// extraEnv ("KEY=value"). At cleanup it is stopped (SIGTERM, then SIGKILL
// after 30s) and waited for, and its output is logged if the test failed;
// a failed test's child still running is first sent SIGQUIT, so that a Go
// program's log ends with its goroutines (those running dmnode's code).
func StartProcess(t testing.TB, bin string, args []string, extraEnv ...string) *Process {
	t.Helper()
	logFile, err := os.CreateTemp(t.TempDir(), filepath.Base(bin)+"-*.log")
	if err != nil {
		t.Fatalf("create process log: %v", err)
	}
	defer logFile.Close() // the child holds its own descriptor
	cmd := exec.Command(bin, args...)
	cmd.Env = withDialectEnv(t, append(os.Environ(), extraEnv...))
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	c, err := startChild(cmd)
	if err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	p := &Process{name: filepath.Base(bin), logPath: logFile.Name(), c: c}
	t.Cleanup(func() {
		if t.Failed() && !c.exited() {
			// A failed test's processes show where each of their
			// goroutines waits: a stall then names its call.
			_ = c.cmd.Process.Signal(syscall.SIGQUIT)
			_ = waitDone(c.done, 5*time.Second)
		}
		if err := c.stop(stopTimeout); err != nil {
			t.Errorf("%s did not exit within %v of SIGTERM; killed", p.name, stopTimeout)
		}
		if t.Failed() {
			t.Logf("output of %s %v:\n%s", p.name, args, ownStacks(p.Log()))
		}
	})
	return p
}

// Pid returns the process id, e.g. to read /proc/PID/status.
func (p *Process) Pid() int { return p.c.cmd.Process.Pid }

// Kill sends SIGKILL and waits for the process to exit.
func (p *Process) Kill(t testing.TB) {
	t.Helper()
	p.c.kill()
}

// Stop sends SIGTERM and waits for the process to exit. If it has not exited
// within 30s it is killed and the test fails.
func (p *Process) Stop(t testing.TB) {
	t.Helper()
	if err := p.c.stop(stopTimeout); err != nil {
		t.Fatalf("%s did not exit within %v of SIGTERM; killed", p.name, stopTimeout)
	}
}

// Exited reports whether the process has exited, and if so cmd.Wait's error
// (nil for exit status 0).
func (p *Process) Exited() (bool, error) {
	if !p.c.exited() {
		return false, nil
	}
	return true, p.c.err
}

// Log returns everything the process has written to stdout and stderr so far.
func (p *Process) Log() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("(read %s: %v)", p.logPath, err)
	}
	return string(b)
}

// Run runs bin with args to completion and returns its combined stdout and
// stderr, and the error from running it (an *exec.ExitError for a non-zero
// exit). The command is killed when the test's context ends.
func Run(t testing.TB, bin string, args ...string) (string, error) {
	t.Helper()
	ctx := t.Context()
	if ctx.Err() != nil { // called from a cleanup
		ctx = context.Background()
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = withDialectEnv(t, os.Environ())
	cmd.SysProcAttr = childAttr()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Wait waits for the process to exit by itself, failing the test (after a
// SIGKILL) if it has not within timeout; it returns cmd.Wait's error.
func (p *Process) Wait(t testing.TB, timeout time.Duration) error {
	t.Helper()
	if err := waitDone(p.c.done, timeout); err != nil {
		p.c.kill()
		t.Fatalf("%s did not exit within %v; killed", p.name, timeout)
	}
	return p.c.err
}

// Signal sends sig to the process, e.g. SIGSTOP and SIGCONT to freeze it.
func (p *Process) Signal(t testing.TB, sig os.Signal) {
	t.Helper()
	if err := p.c.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %s: %v", p.name, err)
	}
}

// ownModule prefixes the functions of dmnode's own packages in a stack.
const ownModule = "github.com/dmnode/dmnode/"

// ownStacks shortens the goroutine dump a Go process prints on SIGQUIT to
// the goroutines that run dmnode's own code: the embedded NATS server's
// hundreds of idle goroutines would bury them. Output before the dump is
// kept as it is.
func ownStacks(log string) string {
	at := strings.Index(log, "SIGQUIT: quit")
	if at < 0 {
		return log
	}
	var b strings.Builder
	b.WriteString(log[:at])
	blocks := strings.Split(log[at:], "\n\n")
	left := 0
	for i, g := range blocks {
		if i == 0 || strings.Contains(g, ownModule) {
			b.WriteString(g)
			b.WriteString("\n\n")
			continue
		}
		left++
	}
	fmt.Fprintf(&b, "(%d goroutines without dmnode's code left out)\n", left)
	return b.String()
}

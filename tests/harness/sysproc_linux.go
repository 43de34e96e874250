package harness

import "syscall"

// childAttr makes the kernel kill a child when the test binary dies, so a
// test that panics or times out leaves no server running.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

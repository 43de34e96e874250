//go:build !linux

package harness

import "syscall"

// childAttr has no parent-death signal to offer outside Linux: a test binary
// that dies may leave its children running.
func childAttr() *syscall.SysProcAttr { return nil }

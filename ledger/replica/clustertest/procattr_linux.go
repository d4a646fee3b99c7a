package clustertest

import "syscall"

// childAttr makes the kernel SIGKILL a child when the thread that started
// it exits, so that a test binary killed by its -timeout leaves no servers
// behind. (Go threads rarely exit, so this is a backstop, not the rule:
// Cleanup kills every child.)
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

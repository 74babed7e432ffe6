package clustertest

import "syscall"

// sysProcAttr makes the processes a test starts die with the test binary,
// should it be killed before its cleanups run.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

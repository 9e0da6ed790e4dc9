//go:build linux

package wake

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// Yield gives this CPU to another thread of any process, for spinners that
// wait for a peer: the one way libshmif yields the CPU (a system call).
func Yield() { unix.Syscall(unix.SYS_SCHED_YIELD, 0, 0, 0) }

// SpinNeedsYield says whether spinners must yield now and then: when the
// process may run on one CPU only, the peer it waits for may be queued
// behind it. With a CPU to itself a spinner does not yield (each yield is
// a system call, and the point of spinning is to make none).
var SpinNeedsYield = runtime.NumCPU() == 1

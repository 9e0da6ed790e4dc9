//go:build linux

package wake

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	futexWaitOp  = 0 // FUTEX_WAIT
	futexWakeOp  = 1 // FUTEX_WAKE
	futexPrivate = 128
)

// FutexWake wakes every waiter on addr.
func FutexWake(addr *uint32, private bool) {
	op := uintptr(futexWakeOp)
	if private {
		op |= futexPrivate
	}
	unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), op, uintptr(1<<31-1), 0, 0, 0)
}

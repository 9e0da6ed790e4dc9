//go:build linux && !(cgo && shmif_cwait)

package wake

import (
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// FutexWait sleeps while *addr holds val, for at most d (d < 0: no limit).
// It returns on a wake-up, when *addr no longer holds val, on a signal
// and when d has passed; callers look again and decide. private words are
// in process memory, the others in a shared mapping.
func FutexWait(addr *uint32, val uint32, d time.Duration, private bool) {
	op := uintptr(futexWaitOp)
	if private {
		op |= futexPrivate
	}
	var ts *unix.Timespec
	if d >= 0 {
		t := unix.NsecToTimespec(int64(d))
		ts = &t
	}
	unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), op, uintptr(val), uintptr(unsafe.Pointer(ts)), 0, 0)
}

//go:build linux

package vxlan

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// recvmmsg and sendmmsg are the batch system calls, which x/sys/unix does not
// wrap. The message headers, iovecs and names they point to are Go memory kept
// alive by the rxBatch and txBatch that own them and by the caller's buffers.

func recvmmsg(fd int, msgs []unix.Mmsghdr, flags int) (int, error) {
	n, _, e := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(fd),
		uintptr(unsafe.Pointer(&msgs[0])), uintptr(len(msgs)), uintptr(flags), 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

func sendmmsg(fd int, msgs []unix.Mmsghdr, flags int) (int, error) {
	n, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd),
		uintptr(unsafe.Pointer(&msgs[0])), uintptr(len(msgs)), uintptr(flags), 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

//go:build linux && cgo && shmif_cwait

package wake

/*
#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

// Waits until woken, *addr != val, or ns nanoseconds (ns < 0: no limit),
// across signals: their handlers run here, on this thread's own stack.
static void shmif_futex_wait(unsigned int *addr, unsigned int val, long long ns, int private)
{
	struct timespec ts, *t = NULL, end, now;
	int op = FUTEX_WAIT | (private ? FUTEX_PRIVATE_FLAG : 0);

	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += ns / 1000000000;
	end.tv_nsec += ns % 1000000000;
	if (end.tv_nsec >= 1000000000) {
		end.tv_sec++;
		end.tv_nsec -= 1000000000;
	}
	for (;;) {
		if (ns >= 0) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			long long left = (end.tv_sec - now.tv_sec) * 1000000000LL + (end.tv_nsec - now.tv_nsec);
			if (left <= 0)
				return;
			ts.tv_sec = left / 1000000000;
			ts.tv_nsec = left % 1000000000;
			t = &ts;
		}
		if (syscall(SYS_futex, addr, op, val, t, NULL, 0) == 0 || errno != EINTR)
			return;
	}
}
*/
import "C"

import (
	"time"
	"unsafe"
)

// FutexWait sleeps while *addr holds val, for at most d (d < 0: no limit);
// see futexwait.go. Built into libshmif.so (the shmif_cwait tag), it waits
// in C, on the thread's own stack, and goes on waiting after a signal: a C
// host's signal handler installed without SA_ONSTACK then runs on that
// stack, which has room for it, rather than on a goroutine stack, which
// may not (and the thread does not go back to spinning in Go after every
// signal).
func FutexWait(addr *uint32, val uint32, d time.Duration, private bool) {
	p := C.int(0)
	if private {
		p = 1
	}
	C.shmif_futex_wait((*C.uint)(unsafe.Pointer(addr)), C.uint(val), C.longlong(d), p)
}

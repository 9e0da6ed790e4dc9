// Command capi is libshmif's C face, built with -buildmode=c-shared.
//
// The public functions are defined in shmif.c, which includes
// include/rump/rump.h and forwards each one to a Go export of this package
// named shmifgo_<function>: so every prototype of the header is compiled
// against a definition, and every struct the exports use is the header's,
// seen through cgo. A header that drifts from the code breaks the build.
//
// Each export only converts C types, looks the interface up by its unit
// number, calls core/shmif and turns the error into an errno value; it
// recovers a panic into EIO, so that no Go failure takes the C host down.
// Nothing here prints, exits or keeps a Go pointer in C memory.
package main

/*
#cgo CFLAGS: -I${SRCDIR}/../include -Wall -Werror
#include <stdlib.h>
#include <rump/rump.h>

void libshmif_restore_nofile(void);
void libshmif_restore_sigpipe(void);
*/
import "C"

import (
	"errors"
	"unsafe"

	"github.com/libshmif/libshmif/capi/internal/stackroom"
	"github.com/libshmif/libshmif/core/shmif"
	"golang.org/x/sys/unix"
)

func main() {}

func init() {
	// The environment variables that configure new interfaces are read
	// with getenv(3), so that a C host's setenv(3) is seen.
	shmif.Getenv = getenv
	// Go's syscall package has raised RLIMIT_NOFILE for itself by now;
	// give the host its own limit back (limits.c). And its SIG_IGN for
	// SIGPIPE, which the runtime's handler replaced (sigpipe.c).
	C.libshmif_restore_nofile()
	C.libshmif_restore_sigpipe()
}

// getenv is getenv(3), so that a C host's setenv(3) is seen.
func getenv(name string) string {
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	v := C.getenv(cs)
	if v == nil {
		return ""
	}
	return C.GoString(v)
}

//export shmifgo_init
func shmifgo_init() C.int { return 0 }

// errno turns a Go error into the value a C caller gets.
func errno(err error) C.int {
	switch e := err.(type) {
	case nil:
		return 0
	case unix.Errno:
		return C.int(e)
	}
	var e unix.Errno
	if errors.As(err, &e) {
		return C.int(e)
	}
	return C.int(unix.EIO)
}

// catch turns a panic into EIO so that no Go failure takes the C host down.
// Every export defers it.
func catch(rc *C.int) {
	if r := recover(); r != nil {
		*rc = C.int(unix.EIO)
	}
}

func lookup(ifnum C.int) (*shmif.Interface, C.int) {
	room()
	i, err := shmif.Lookup(int(ifnum))
	return i, errno(err)
}

// room grows the goroutine's stack so that it has room for a C signal
// handler: a host's handler installed without SA_ONSTACK runs on whatever
// stack its thread is on, and while a thread of the host runs Go code that
// is a goroutine stack, which starts small; a signal frame with the CPU's
// vector state takes several KiB. (Blocking waits run in C, on the
// thread's own stack: core/internal/wake.) It costs nothing once the
// stack is large enough (stackroom).
func room() { stackroom.Grow() }

// goString copies a NUL-terminated C string of at most max bytes; ok is
// false when no NUL comes within max bytes.
func goString(p *C.char, max int) (s string, ok bool) {
	b := unsafe.Slice((*byte)(unsafe.Pointer(p)), max)
	for n, c := range b {
		if c == 0 {
			return string(b[:n]), true
		}
	}
	return "", false
}

// path reads a C path argument: EFAULT when NULL, EINVAL when empty, E2BIG
// when no NUL comes within the 1024 bytes a linkstr may have.
func path(p *C.char) (string, C.int) {
	if p == nil {
		return "", C.int(unix.EFAULT)
	}
	s, ok := goString(p, shmif.MaxLinkstr)
	switch {
	case !ok:
		return "", C.int(unix.E2BIG)
	case s == "":
		return "", C.int(unix.EINVAL)
	}
	return s, 0
}

// bytesOf views C memory as a byte slice without copying.
func bytesOf(p unsafe.Pointer, n uintptr) []byte {
	if n == 0 || p == nil {
		return nil
	}
	return unsafe.Slice((*byte)(p), n)
}

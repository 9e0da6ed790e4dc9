// Package vde is the vde:// bridge endpoint: any libvdeplug URL (a
// vde_switch, ptp://, hub://, vxvde://, slirp://, tap://, ...), through
// libvdeplug.so.2 loaded at run time, so that neither building nor running
// libshmif needs it unless vde:// is used. There is no cgo: the library is
// called through purego, which works in programs built with
// CGO_ENABLED=0 and inside libshmif.so alike.
//
//	vde://VDEURL       e.g. vde:///run/vde.ctl (a switch), vde://vxvde://239.1.2.3
//
// Everything after "vde://" is libvdeplug's: its own options included.
// libvdeplug modules hand over a 1-byte frame now and then when a packet
// was for them rather than for us; frames under 14 bytes are dropped and
// counted as such.
package vde

import (
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/ebitengine/purego"
	"github.com/libshmif/libshmif/core/bridge/internal/fdio"
	"github.com/libshmif/libshmif/core/bridge/internal/spec"
	"golang.org/x/sys/unix"
)

// Library is the shared library loaded; Debian ships it in libvdeplug2.
const Library = "libvdeplug.so.2"

// interfaceVersion is LIBVDEPLUG_INTERFACE_VERSION, which vde_open passes
// to vde_open_real.
const interfaceVersion = 1

var lib struct {
	once  sync.Once
	err   error
	open  func(url, descr string, version int32, args uintptr) uintptr
	recv  func(conn uintptr, buf *byte, n uintptr, flags int32) int
	send  func(conn uintptr, buf *byte, n uintptr, flags int32) int
	data  func(conn uintptr) int32
	close func(conn uintptr) int32
	errno func() *int32 // __errno_location: C memory, read at once
}

// noLibrary is the error when the library name cannot be loaded; it
// matches unix.ELIBACC.
func noLibrary(name string) error {
	return fmt.Errorf("cannot load %s (install the Debian package libvdeplug2; vde_plug is in vdeplug, vde_switch in vde2): %w", name, unix.ELIBACC)
}

func load() error {
	lib.once.Do(func() { lib.err = loadFrom(Library) })
	return lib.err
}

// loadFrom loads the library name and binds its functions.
func loadFrom(name string) error {
	h, err := purego.Dlopen(name, purego.RTLD_NOW|purego.RTLD_LOCAL)
	if err != nil {
		return noLibrary(name)
	}
	for _, s := range []struct {
		fn   any
		name string
	}{
		{&lib.open, "vde_open_real"}, {&lib.recv, "vde_recv"}, {&lib.send, "vde_send"},
		{&lib.data, "vde_datafd"}, {&lib.close, "vde_close"}, {&lib.errno, "__errno_location"},
	} {
		sym, err := purego.Dlsym(h, s.name)
		if err != nil {
			return fmt.Errorf("%s has no %s: %w", name, s.name, unix.ELIBBAD)
		}
		purego.RegisterFunc(s.fn, sym)
	}
	return nil
}

// Endpoint is a libvdeplug connection.
type Endpoint struct {
	url    string
	conn   uintptr
	datafd int
	stop   int          // eventfd that Close signals
	mu     sync.RWMutex // held for reading around library calls, for writing by Close
	closed atomic.Bool
	wmu    sync.Mutex
	st     struct{ nothing, lost atomic.Uint64 }
}

// Stats are a VDE endpoint's own counters.
type Stats struct {
	Nothing uint64 // frames under 14 bytes from the module: dropped
	Lost    uint64 // frames vde_send did not take
}

func (s Stats) String() string { return fmt.Sprintf("nothing=%d lost=%d", s.Nothing, s.Lost) }

// Open opens a vde:// URL.
func Open(s string) (*Endpoint, error) {
	inner, ok := strings.CutPrefix(s, "vde://")
	if !ok {
		return nil, spec.Errorf(s, "expected vde://VDEURL")
	}
	if err := load(); err != nil {
		return nil, spec.Wrap(s, "vde", err)
	}
	conn, errno := open(inner)
	if conn == 0 {
		if errno == 0 {
			errno = unix.EINVAL
		}
		return nil, spec.Wrap(s, "vde_open "+inner, errno)
	}
	e := &Endpoint{url: s, conn: conn, datafd: int(lib.data(conn))}
	stop, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		lib.close(conn)
		return nil, spec.Wrap(s, "eventfd", err)
	}
	e.stop = stop
	return e, nil
}

// open calls vde_open_real and reads errno on the same thread.
func open(url string) (uintptr, unix.Errno) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	conn := lib.open(url, "shmif_bridge", interfaceVersion, 0)
	if conn != 0 {
		return conn, 0
	}
	return 0, unix.Errno(*lib.errno())
}

// ReadFrames waits for the module's descriptor, then receives frames as
// long as it stays readable and bufs last.
func (e *Endpoint) ReadFrames(bufs [][]byte, lens []int) (int, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	n := 0
	timeout := -1 // wait for the first frame, not for the others
	for n < len(bufs) {
		if e.closed.Load() {
			return 0, fdio.Closed(e.url)
		}
		fds := [2]unix.PollFd{{Fd: int32(e.datafd), Events: unix.POLLIN}, {Fd: int32(e.stop), Events: unix.POLLIN}}
		k, err := unix.Poll(fds[:], timeout)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return 0, err
		case fds[1].Revents != 0:
			return 0, fdio.Closed(e.url)
		case k == 0:
			return n, nil
		case fds[0].Revents&unix.POLLNVAL != 0:
			return 0, fmt.Errorf("vde: the module's descriptor is closed: %w", unix.EBADF)
		}
		buf := bufs[n]
		r := lib.recv(e.conn, &buf[0], uintptr(len(buf)), 0)
		runtime.KeepAlive(buf)
		switch {
		case r == 0 && fds[0].Revents&(unix.POLLHUP|unix.POLLERR) != 0:
			if n > 0 {
				return n, nil
			}
			return 0, fmt.Errorf("vde: the connection ended: %w", io.EOF)
		case r < 0:
			// EAGAIN or EINTR inside the module: look again.
		case r < 14:
			e.st.nothing.Add(1) // an empty datagram too
		default:
			lens[n] = r
			n++
			timeout = 0
		}
	}
	return n, nil
}

// WriteFrames sends frames, one vde_send each.
func (e *Endpoint) WriteFrames(frames [][]byte) (int, error) {
	e.wmu.Lock()
	defer e.wmu.Unlock()
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed.Load() {
		return 0, fdio.Closed(e.url)
	}
	for _, f := range frames {
		if lib.send(e.conn, &f[0], uintptr(len(f)), 0) < 0 {
			e.st.lost.Add(1)
		}
		runtime.KeepAlive(f)
	}
	return len(frames), nil
}

// MaxFrame is the largest frame read whole: a frame with an 802.1Q tag.
func (e *Endpoint) MaxFrame() int { return 1518 }

// Close ends a blocked ReadFrames, waits for calls in progress to leave
// the library, and closes the connection.
func (e *Endpoint) Close() error {
	if e.closed.Swap(true) {
		return nil
	}
	var one [8]byte
	one[0] = 1
	unix.Write(e.stop, one[:])
	e.mu.Lock()
	defer e.mu.Unlock()
	lib.close(e.conn)
	unix.Close(e.stop)
	return nil
}

func (e *Endpoint) String() string { return e.url }

// Stats returns the endpoint's counters.
func (e *Endpoint) Stats() Stats { return Stats{Nothing: e.st.nothing.Load(), Lost: e.st.lost.Load()} }

package wake

import (
	"encoding/binary"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Watcher waits for wake-ups on one bus file. A waiter must Arm it, then
// Drain it, then check the ring, and Wait only if the check found nothing:
// no wake-up written after the check is lost. A Watcher serves one waiter:
// waiters sharing one would drain each other's wake-ups.
//
// The inotify watch exists only from Arm to Close: every watch on the bus
// file makes every wake-up write dearer for every sender (by about 150 ns),
// so receivers that spin or find frames hold none.
type Watcher struct {
	ino   int    // inotify instance
	path  string // the bus file, as /proc/self/fd/N
	wd    int    // the watch, once armed
	armed bool
}

// Closing an inotify instance that held a watch waits for an RCU grace
// period in the kernel, about 10 ms, which made every interface destroy
// take that long. Instances are kept for reuse instead: removing a watch is
// quick.
var pool struct {
	sync.Mutex
	free []int
}

const poolMax = 8

func getInstance() (int, error) {
	pool.Lock()
	if n := len(pool.free); n > 0 {
		ino := pool.free[n-1]
		pool.free = pool.free[:n-1]
		pool.Unlock()
		return ino, nil
	}
	pool.Unlock()
	return unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
}

// putInstance keeps an inotify instance without a watch for reuse, emptied
// of events, or closes it when enough are kept.
func putInstance(ino int) {
	w := Watcher{ino: ino}
	w.Drain()
	pool.Lock()
	defer pool.Unlock()
	if len(pool.free) < poolMax {
		pool.free = append(pool.free, ino)
		return
	}
	unix.Close(ino)
}

// NewWatcher watches the file open as busFd. The watch follows the open
// file, not its name: /proc/self/fd/N resolves to the file itself.
func NewWatcher(busFd int) (*Watcher, error) {
	ino, err := getInstance()
	if err != nil {
		return nil, err
	}
	return &Watcher{ino: ino, path: "/proc/self/fd/" + strconv.Itoa(busFd)}, nil
}

// Arm starts watching the bus file, until Close. It fails when the watch
// cannot be added (the inotify watch limit); the caller then has to poll.
func (w *Watcher) Arm() error {
	if w.armed {
		return nil
	}
	wd, err := unix.InotifyAddWatch(w.ino, w.path, unix.IN_MODIFY)
	if err != nil {
		return err
	}
	w.wd, w.armed = wd, true
	return nil
}

// Drain forgets the wake-ups received so far.
func (w *Watcher) Drain() {
	var buf [4096]byte
	for {
		n, err := unix.Read(w.ino, buf[:])
		if n <= 0 || err != nil {
			return
		}
	}
}

// Close releases the watcher's descriptors. No Wait may be running.
func (w *Watcher) Close() error {
	if w.armed {
		unix.InotifyRmWatch(w.ino, uint32(w.wd))
		w.armed = false
	}
	putInstance(w.ino)
	return nil
}

// WaitFor blocks until the bus watched by w is written to (w may be nil:
// then only the rest counts), stop is set, or timeout passes (a negative
// timeout waits without limit). It reports whether stop ended it.
func WaitFor(w *Watcher, stop *Flag, timeout time.Duration) (stopped bool) {
	ms := -1
	if timeout >= 0 {
		ms = int((timeout + time.Millisecond - 1) / time.Millisecond)
	}
	fds := []unix.PollFd{{Fd: int32(stop.fd), Events: unix.POLLIN}, {Fd: -1}}
	if w != nil {
		fds[1] = unix.PollFd{Fd: int32(w.ino), Events: unix.POLLIN}
	}
	for {
		_, err := unix.Poll(fds, ms)
		if err != unix.EINTR {
			return fds[0].Revents&unix.POLLIN != 0
		}
	}
}

// Flag is a level-triggered flag that a descriptor shows: readable while
// it is set. It ends WaitFor calls (set while an interface is down, or to
// stop a goroutine), and it is the poll descriptor event loops wait on.
type Flag struct{ fd int }

// NewFlag returns a clear Flag.
func NewFlag() (*Flag, error) {
	fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	return &Flag{fd: fd}, nil
}

// Fd returns the descriptor that polls readable while the flag is set.
func (f *Flag) Fd() int { return f.fd }

// Set sets the flag until Clear.
func (f *Flag) Set() {
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	unix.Write(f.fd, one[:])
}

// Clear clears the flag.
func (f *Flag) Clear() {
	var buf [8]byte
	unix.Read(f.fd, buf[:])
}

// Close releases the flag. No WaitFor may be using it.
func (f *Flag) Close() error { return unix.Close(f.fd) }

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
	kick  int    // eventfd that ends every Wait while it is set
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
	free []instance
}

type instance struct{ ino, kick int }

const poolMax = 8

func getInstance() (instance, error) {
	pool.Lock()
	if n := len(pool.free); n > 0 {
		in := pool.free[n-1]
		pool.free = pool.free[:n-1]
		pool.Unlock()
		return in, nil
	}
	pool.Unlock()
	ino, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return instance{}, err
	}
	kick, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(ino)
		return instance{}, err
	}
	return instance{ino, kick}, nil
}

// putInstance keeps an instance without a watch for reuse, emptied of
// events and kicks, or closes it when enough are kept.
func putInstance(in instance) {
	w := Watcher{ino: in.ino, kick: in.kick}
	w.Drain()
	w.Unkick()
	pool.Lock()
	defer pool.Unlock()
	if len(pool.free) < poolMax {
		pool.free = append(pool.free, in)
		return
	}
	unix.Close(in.kick)
	unix.Close(in.ino)
}

// NewWatcher watches the file open as busFd. The watch follows the open
// file, not its name: /proc/self/fd/N resolves to the file itself.
func NewWatcher(busFd int) (*Watcher, error) {
	in, err := getInstance()
	if err != nil {
		return nil, err
	}
	return &Watcher{ino: in.ino, kick: in.kick, path: "/proc/self/fd/" + strconv.Itoa(busFd)}, nil
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

// Wait blocks until the bus is written to, Kick is called, or timeout
// passes (a negative timeout waits without limit). It reports whether it
// ended because of Kick.
func (w *Watcher) Wait(timeout time.Duration) (kicked bool) {
	ms := -1
	if timeout >= 0 {
		ms = int((timeout + time.Millisecond - 1) / time.Millisecond)
	}
	fds := []unix.PollFd{{Fd: int32(w.ino), Events: unix.POLLIN}, {Fd: int32(w.kick), Events: unix.POLLIN}}
	for {
		_, err := unix.Poll(fds, ms)
		if err != unix.EINTR {
			return fds[1].Revents&unix.POLLIN != 0
		}
	}
}

// Kick ends every Wait, now and until Unkick.
func (w *Watcher) Kick() {
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	unix.Write(w.kick, one[:])
}

// Unkick undoes Kick.
func (w *Watcher) Unkick() {
	var buf [8]byte
	unix.Read(w.kick, buf[:])
}

// Close releases the watcher's descriptors. No Wait may be running.
func (w *Watcher) Close() error {
	if w.armed {
		unix.InotifyRmWatch(w.ino, uint32(w.wd))
		w.armed = false
	}
	putInstance(instance{w.ino, w.kick})
	return nil
}

// WaitFor blocks until the bus watched by w is written to (w may be nil:
// then only the rest counts), kick becomes readable, or timeout passes (a
// negative timeout waits without limit). It reports whether kick ended it.
func WaitFor(w *Watcher, kick *Kicker, timeout time.Duration) (kicked bool) {
	ms := -1
	if timeout >= 0 {
		ms = int((timeout + time.Millisecond - 1) / time.Millisecond)
	}
	fds := []unix.PollFd{{Fd: int32(kick.fd), Events: unix.POLLIN}, {Fd: -1}}
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

// Kicker ends waits: while it is set, every WaitFor on it returns at once.
type Kicker struct{ fd int }

// NewKicker returns an unset Kicker.
func NewKicker() (*Kicker, error) {
	fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	return &Kicker{fd: fd}, nil
}

// Set sets the kicker until Clear.
func (k *Kicker) Set() {
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	unix.Write(k.fd, one[:])
}

// Clear undoes Set.
func (k *Kicker) Clear() {
	var buf [8]byte
	unix.Read(k.fd, buf[:])
}

// Close releases the kicker. No WaitFor may be using it.
func (k *Kicker) Close() error { return unix.Close(k.fd) }

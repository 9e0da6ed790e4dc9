package wake

import (
	"encoding/binary"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Watcher waits for wake-ups on one bus file. One Watcher may be waited on
// by several goroutines at once. Callers must Drain before they check the
// ring and Wait only after the check found nothing, so no wake-up is lost.
type Watcher struct {
	ino  int // inotify instance watching the bus file
	wd   int // the watch
	kick int // eventfd that ends every Wait while it is set
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
	wd, err := unix.InotifyAddWatch(in.ino, "/proc/self/fd/"+strconv.Itoa(busFd), unix.IN_MODIFY)
	if err != nil {
		putInstance(in)
		return nil, err
	}
	return &Watcher{ino: in.ino, wd: wd, kick: in.kick}, nil
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
	_, err := unix.InotifyRmWatch(w.ino, uint32(w.wd))
	putInstance(instance{w.ino, w.kick})
	if err != nil && err != unix.EINVAL {
		return err
	}
	return nil
}

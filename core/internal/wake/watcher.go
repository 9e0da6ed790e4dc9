//go:build linux

package wake

import (
	"encoding/binary"
	"os"
	"slices"
	"sync"

	"golang.org/x/sys/unix"
)

// watcher is the process's one inotify instance. Every hub whose bus has
// waiters or listeners adds a watch for IN_MODIFY on its bus file; one
// goroutine reads the events and bumps the hubs that were written. One
// instance for the whole process, however many buses and interfaces it
// has: instances are limited to 128 per user on most systems, watches to
// many thousands. The goroutine waits in Go's poller, so it holds no
// thread while nothing happens.
var watcher struct {
	once sync.Once
	fd   int
	err  error

	mu   sync.Mutex
	hubs map[int32]*Hub // by watch descriptor
}

func startWatcher() error {
	watcher.once.Do(func() {
		watcher.fd, watcher.err = unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
		if watcher.err != nil {
			return
		}
		watcher.hubs = make(map[int32]*Hub)
		// os.NewFile registers the non-blocking descriptor with Go's
		// poller; reads then park the goroutine, not a thread.
		go readEvents(os.NewFile(uintptr(watcher.fd), "inotify"))
	})
	return watcher.err
}

// readEvents runs for the life of the process.
func readEvents(f *os.File) {
	var buf [64 * unix.SizeofInotifyEvent]byte
	for {
		n, err := f.Read(buf[:])
		if err != nil || n <= 0 {
			return
		}
		// Bump outside the lock: a hub takes its own lock, then this
		// one, to add a watch.
		type seen struct {
			h    *Hub
			mask uint32
		}
		var events []seen
		watcher.mu.Lock()
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			wd := int32(binary.NativeEndian.Uint32(buf[off:]))
			mask := binary.NativeEndian.Uint32(buf[off+4:])
			nameLen := int(binary.NativeEndian.Uint32(buf[off+12:]))
			if h := watcher.hubs[wd]; h != nil {
				k := slices.IndexFunc(events, func(e seen) bool { return e.h == h })
				if k < 0 {
					events = append(events, seen{h, mask})
				} else {
					events[k].mask |= mask
				}
			}
			off += unix.SizeofInotifyEvent + nameLen
		}
		watcher.mu.Unlock()
		for _, e := range events {
			e.h.event(e.mask)
		}
	}
}

// addWatch watches path (the bus file, as /proc/self/fd/N, which names the
// open file itself) for h, for the events of mask, or changes the mask of
// h's watch (a second watch on one file in one instance is the same watch).
func addWatch(path string, mask uint32, h *Hub) (int32, error) {
	if err := startWatcher(); err != nil {
		return -1, err
	}
	wd, err := unix.InotifyAddWatch(watcher.fd, path, mask)
	if err != nil {
		return -1, err
	}
	watcher.mu.Lock()
	watcher.hubs[int32(wd)] = h
	watcher.mu.Unlock()
	return int32(wd), nil
}

func removeWatch(wd int32) {
	watcher.mu.Lock()
	delete(watcher.hubs, wd)
	watcher.mu.Unlock()
	unix.InotifyRmWatch(watcher.fd, uint32(wd))
}

//go:build linux

package wake

import (
	"encoding/binary"
	"sync"

	"golang.org/x/sys/unix"
)

// watcher is the process's one inotify instance. Every hub whose bus has
// waiters adds a watch for IN_MODIFY on its bus file; one goroutine reads
// the events and bumps the hubs that were written. One instance for the
// whole process, however many buses and interfaces it has: instances are
// limited to 128 per user on most systems, watches to many thousands.
var watcher struct {
	once sync.Once
	fd   int
	err  error

	mu   sync.Mutex
	hubs map[int32]*Hub // by watch descriptor
}

func startWatcher() error {
	watcher.once.Do(func() {
		watcher.fd, watcher.err = unix.InotifyInit1(unix.IN_CLOEXEC)
		if watcher.err != nil {
			return
		}
		watcher.hubs = make(map[int32]*Hub)
		go readEvents(watcher.fd)
	})
	return watcher.err
}

// readEvents runs for the life of the process, blocked in read(2) while
// nothing is written.
func readEvents(fd int) {
	var buf [64 * unix.SizeofInotifyEvent]byte
	for {
		n, err := unix.Read(fd, buf[:])
		if err == unix.EINTR {
			continue
		}
		if err != nil || n <= 0 {
			return
		}
		watcher.mu.Lock()
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			wd := int32(binary.NativeEndian.Uint32(buf[off:]))
			nameLen := int(binary.NativeEndian.Uint32(buf[off+12:]))
			if h := watcher.hubs[wd]; h != nil {
				h.bump()
			}
			off += unix.SizeofInotifyEvent + nameLen
		}
		watcher.mu.Unlock()
	}
}

// addWatch watches path (the bus file, as /proc/self/fd/N, which names the
// open file itself) for h.
func addWatch(path string, h *Hub) (int32, error) {
	if err := startWatcher(); err != nil {
		return -1, err
	}
	wd, err := unix.InotifyAddWatch(watcher.fd, path, unix.IN_MODIFY)
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

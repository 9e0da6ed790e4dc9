// Package dump is NetBSD's shmif_dumpbus(1) and shmif_pcapin(1) as a library:
// take a copy of a bus file and list its frames exactly as shmif_dumpbus 1.19
// does (docs/protocol.md §8), follow a live bus frame by frame, and put the
// frames of a capture file on a bus. For the tools of shell harnesses it
// also names records with cursors (Cursor, Image.WalkSince: only what was
// written since), sums a bus up (Image.Inspect), empties one under its
// readers (Empty), and selects and describes frames (ParseFilter, Summary).
//
// Dumping leaves the bus file as it was: it is neither created nor resized,
// and the bus lock, when taken for a consistent copy, is released at once.
// Everything read from it is checked, so that a damaged bus gives an Error,
// never a crash or an endless walk.
//
//	img, err := dump.Snapshot("bus")
//	if err != nil { ... }
//	err = dump.Dump(img, os.Stdout, nil)
package dump

import (
	"os"
	"time"

	"github.com/libshmif/libshmif/core/internal/buslock"
	"github.com/libshmif/libshmif/core/internal/layout"
	"golang.org/x/sys/unix"
)

// DefaultLockWait is how long Snapshot waits for the bus lock before it
// copies the bus without it. Bus users hold the lock for microseconds, so
// a lock held this long is wedged.
const DefaultLockWait = time.Second

// Image is a copy of a bus file.
type Image struct {
	Path   string // the path it was read from
	Data   []byte // the file's first min(Size, layout.BusSize) bytes
	Size   int64  // the file's size
	Locked bool   // the copy was taken under the bus lock, so it is consistent

	// LockBusy reports that the lock was held by someone else for the
	// whole wait: the copy was taken without it and may be torn.
	LockBusy bool
}

// Snapshot copies the bus file at path, waiting up to DefaultLockWait for
// the bus lock. See SnapshotWait.
func Snapshot(path string) (*Image, error) {
	return SnapshotWait(path, DefaultLockWait)
}

// SnapshotWait copies the bus file at path. When the file is a bus of this
// host's byte order, at least layout.BusSize bytes long and writable by us, the
// copy is taken under the bus lock, held only for the copy; the lock word in
// the copy reads as it did before we took it. If the lock cannot be had
// within wait, the copy is taken without it and LockBusy is set. Other files
// (read-only, byte-swapped, short, not regular) are copied without the lock,
// as NetBSD's shmif_dumpbus always does.
//
// The file is opened, examined and mapped in the same steps as
// shmif_dumpbus; a failed step is an *os.PathError with Op "open", "stat"
// or "mmap". An empty file gives an error for which errors.Is(err,
// ErrEmpty) holds.
func SnapshotWait(path string, wait time.Duration) (*Image, error) {
	// O_NONBLOCK so that a FIFO cannot block the open.
	const flags = unix.O_CLOEXEC | unix.O_NONBLOCK
	writable := true
	fd, err := unix.Open(path, unix.O_RDWR|flags, 0)
	if err != nil {
		writable = false
		fd, err = unix.Open(path, unix.O_RDONLY|flags, 0)
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	if st.Size == 0 && st.Mode&unix.S_IFMT == unix.S_IFREG {
		return nil, &os.PathError{Op: "read", Path: path, Err: ErrEmpty}
	}
	// Only a bus we could write to ourselves is locked: root can open a
	// file without write permission, but should not write to it.
	lockable := writable && st.Mode&unix.S_IFMT == unix.S_IFREG &&
		st.Size >= layout.BusSize && st.Mode&0o222 != 0
	prot := unix.PROT_READ
	if lockable {
		prot |= unix.PROT_WRITE
	}
	n := int(min(st.Size, layout.BusSize))
	mapping, err := unix.Mmap(fd, 0, n, prot, unix.MAP_SHARED)
	if err != nil {
		return nil, &os.PathError{Op: "mmap", Path: path, Err: err}
	}
	defer unix.Munmap(mapping)

	img := &Image{Path: path, Data: make([]byte, n), Size: st.Size}
	err = guard(path, func() {
		if lockable && layout.NativeEndian.Uint32(mapping) == layout.Magic {
			img.Locked, img.LockBusy = copyLocked(layout.NewMem(mapping), img.Data, wait)
			if img.Locked {
				return
			}
		}
		copy(img.Data, mapping)
	})
	if err != nil {
		return nil, err
	}
	return img, nil
}

// guard runs fn, turning a fault on the mapping (the file shrank while we
// read it) into an error.
func guard(path string, fn func()) error {
	if layout.CatchFault(fn) {
		return &TruncatedError{Path: path, Size: -1}
	}
	return nil
}

// whileLocked is set by tests: it runs with the lock held, before the copy.
var whileLocked func()

// copyLocked copies the bus into dst under the bus lock, waiting at most
// wait for it. It reports whether it got the lock; if not, dst is untouched
// and busy is set.
func copyLocked(m *layout.Mem, dst []byte, wait time.Duration) (locked, busy bool) {
	err := buslock.TryWith(m, wait, func() error {
		if whileLocked != nil {
			whileLocked()
		}
		copy(dst, m.Bytes())
		return nil
	})
	if err != nil {
		return false, true
	}
	// Show the lock as it was before we took it: free.
	layout.NativeEndian.PutUint32(dst[layout.OffLock:], 0)
	layout.NativeEndian.PutUint32(dst[layout.OffSpare:], 0)
	return true, false
}

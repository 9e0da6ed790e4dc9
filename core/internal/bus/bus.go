// Package bus attaches to a shmif bus file: it opens or creates the file,
// checks that it is a bus, maps it, and runs code against the mapping under
// the bus lock with protection against the file being truncated under it.
//
// Errors are syscall.Errno values (golang.org/x/sys/unix), so callers can
// compare them directly and hand them to C unchanged.
package bus

import (
	"errors"
	"sync/atomic"

	"github.com/libshmif/libshmif/core/internal/buslock"
	"github.com/libshmif/libshmif/core/internal/layout"
	"github.com/libshmif/libshmif/core/internal/ring"
	"github.com/libshmif/libshmif/core/internal/wake"
	"golang.org/x/sys/unix"
)

// DefaultMode is the permission a new bus file gets (before the umask), as
// NetBSD's rumpuser_open gives it.
const DefaultMode = 0o644

// Bus is one attachment to a bus file: an open descriptor and a shared
// mapping of its first megabyte. A Bus is safe for concurrent use.
type Bus struct {
	fd     int
	path   string
	bytes  []byte
	mem    *layout.Mem
	broken atomic.Bool // the mapping faulted: the file was truncated or replaced
}

// Open attaches to the bus file at path, creating it with mode (subject to
// the umask) if it does not exist. Symbolic links are followed.
//
// Errors: ENOENT for an empty path; the open(2) errors (EACCES, EISDIR,
// ENOENT, ENAMETOOLONG, ...); EINVAL for a FIFO, socket or device; ENOEXEC
// for a file that is not a shmif bus of this host's byte order, which is left
// unchanged.
func Open(path string, mode uint32) (*Bus, error) {
	if path == "" {
		return nil, unix.ENOENT
	}
	// O_NONBLOCK so that a FIFO cannot block the open; it has no effect
	// on the regular files we keep.
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC|unix.O_NONBLOCK, mode)
	if err == unix.ENXIO {
		// open(2) says ENXIO for a socket; report it like any other
		// file that is not a regular one.
		var st unix.Stat_t
		if unix.Stat(path, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFSOCK {
			err = unix.EINVAL
		}
	}
	if err != nil {
		return nil, err
	}
	b, err := attach(fd, path)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	return b, nil
}

func attach(fd int, path string) (*Bus, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, unix.EINVAL
	}
	if err := checkForeign(fd, st.Size); err != nil {
		return nil, err
	}
	if st.Size < layout.BusSize {
		// Never shrink: a longer file with the magic keeps its tail.
		if err := unix.Ftruncate(fd, layout.BusSize); err != nil {
			return nil, err
		}
	}
	mapping, err := unix.Mmap(fd, 0, layout.BusSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return nil, err
	}
	b := &Bus{fd: fd, path: path, bytes: mapping, mem: layout.NewMem(mapping)}
	err = b.Guard(func(m *layout.Mem) error {
		return buslock.With(m, func() error {
			switch m.Magic() {
			case 0:
				ring.Init(m)
			case layout.Magic:
			default:
				return unix.ENOEXEC
			}
			return nil
		})
	})
	if err != nil {
		unix.Munmap(mapping)
		return nil, err
	}
	return b, nil
}

// checkForeign refuses, without changing it, a non-empty file that is not a
// bus: one whose magic is neither ours nor zero, or whose magic is zero but
// which holds data anyway.
func checkForeign(fd int, size int64) error {
	if size == 0 {
		return nil
	}
	var magic [4]byte
	n, err := unix.Pread(fd, magic[:], 0)
	if err != nil {
		return err
	}
	if n == 4 && layout.NativeEndian.Uint32(magic[:]) == layout.Magic {
		return nil
	}
	// Zero magic: a bus nobody initialised yet, unless it holds data.
	// Read it in pieces: this is the rare path.
	var chunk [64 << 10]byte
	for off := int64(0); off < min(size, layout.BusSize); {
		n, err := unix.Pread(fd, chunk[:min(int64(len(chunk)), layout.BusSize-off)], off)
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
		for _, c := range chunk[:n] {
			if c != 0 {
				// Another process may have initialised the bus
				// since we read its magic.
				if n, _ := unix.Pread(fd, magic[:], 0); n == 4 && layout.NativeEndian.Uint32(magic[:]) == layout.Magic {
					return nil
				}
				return unix.ENOEXEC
			}
		}
		off += int64(n)
	}
	return nil
}

// Path returns the path the bus was opened with.
func (b *Bus) Path() string { return b.path }

// Mem returns the mapping. Code that touches it must run inside Guard or
// WithLock, which turn a fault on a truncated file into EIO.
func (b *Bus) Mem() *layout.Mem { return b.mem }

// errBroken is returned once the mapping has faulted.
var errBroken = unix.EIO

// Guard runs fn, turning a memory fault on the mapping (the file was
// truncated by someone) into EIO. Once that has happened every later call
// fails with EIO at once: detach and attach again.
func (b *Bus) Guard(fn func(m *layout.Mem) error) (err error) {
	if b.broken.Load() {
		return errBroken
	}
	// Probing the last word finds a file that was cut short even where
	// the pages fn touches are still there.
	if layout.CatchFault(func() { b.mem.Probe(); err = fn(b.mem) }) {
		b.broken.Store(true)
		return errBroken
	}
	return err
}

// WithLock runs fn with the bus lock held, inside Guard.
func (b *Bus) WithLock(fn func(m *layout.Mem) error) error {
	return b.Guard(func(m *layout.Mem) error {
		return buslock.With(m, func() error {
			if m.Magic() != layout.Magic {
				return unix.ENOEXEC
			}
			return fn(m)
		})
	})
}

// Notify wakes every reader of the bus (the 4-byte write at offset 4).
func (b *Bus) Notify() error {
	if b.broken.Load() {
		return errBroken
	}
	return wake.Notify(b.fd)
}

// NewWatcher returns a watcher for wake-ups on this bus.
func (b *Bus) NewWatcher() (*wake.Watcher, error) { return wake.NewWatcher(b.fd) }

// Close unmaps the bus and closes its file, which stays where it is.
func (b *Bus) Close() error {
	err := unix.Munmap(b.bytes)
	return errors.Join(err, unix.Close(b.fd))
}

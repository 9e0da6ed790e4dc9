//go:build linux

package bus

import (
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libshmif/libshmif/core/internal/buslock"
	"github.com/libshmif/libshmif/core/internal/layout"
	"github.com/libshmif/libshmif/core/internal/ring"
	"github.com/libshmif/libshmif/core/internal/sidecar"
	"github.com/libshmif/libshmif/core/internal/wake"
	"golang.org/x/sys/unix"
)

// DefaultMode is the permission a new bus file gets (before the umask), as
// NetBSD's rumpuser_open gives it.
const DefaultMode = 0o644

// Bus is this process's attachment to a bus file: an open descriptor, a
// shared mapping of its first megabyte and the hub its waiters wait on. A
// Bus is safe for concurrent use.
type Bus struct {
	id     fileID
	fd     int
	path   string
	bytes  []byte
	mem    *layout.Mem
	hub    *wake.Hub
	refs   int         // attachments; guarded by open.mu
	broken atomic.Bool // the mapping faulted: the file was truncated or replaced

	// side is libshmif's private state beside the bus, nil without it.
	// With it, writers make NetBSD's wake-up write only while eager: a
	// process that is not a registered libshmif process has the bus file
	// open (see sidecar.Foreign), or SHMIF_WAKE=always.
	side     *sidecar.State
	sideMu   sync.RWMutex // held to read side outside an attachment's life (rescans)
	st       unix.Stat_t
	eager    atomic.Bool
	scanning atomic.Bool // a rescan is due
	stamped  atomic.Bool // the version word reads 3
}

// WakeEnv names the environment variable that makes writers wake the bus
// with NetBSD's wake-up write after every batch ("always"), as without a
// sidecar: for peers libshmif cannot see (NetBSD rump kernels in another
// pid namespace, run by another user).
const WakeEnv = "SHMIF_WAKE"

// Getenv reads WakeEnv; the C face sets it to getenv(3).
var Getenv = os.Getenv

type fileID struct{ dev, ino uint64 }

// open is the process's table of attached buses.
var open = struct {
	sync.Mutex
	buses map[fileID]*Bus
}{buses: make(map[fileID]*Bus)}

// Open attaches to the bus file at path, creating it with mode (subject to
// the umask) if it does not exist. Symbolic links are followed. An existing
// file is accepted if it is empty, if it carries the bus magic (a shorter
// one is extended to 1 MiB, as NetBSD does; a longer one is not shrunk), or
// if it is exactly 1 MiB of zeros (a bus whose creator has not yet written
// its header); anything else is refused with ENOEXEC and left unchanged.
//
// Errors: ENOENT for an empty path; the open(2) errors (EACCES, EISDIR,
// ENOENT, ENAMETOOLONG, EROFS, ...); EINVAL for a FIFO, socket or device;
// ENOEXEC for a file that is not a bus (or a bus of the other byte order);
// ENOSPC when the file system has no room for a new bus (a file this call
// created is removed again).
func Open(path string, mode uint32) (*Bus, error) {
	if path == "" {
		return nil, unix.ENOENT
	}
	// O_NONBLOCK so that a FIFO cannot block the open; it has no effect
	// on the regular files we keep.
	const flags = unix.O_RDWR | unix.O_CLOEXEC | unix.O_NONBLOCK
	created := true
	fd, err := unix.Open(path, flags|unix.O_CREAT|unix.O_EXCL, mode&0o777)
	if err == unix.EEXIST {
		created = false
		fd, err = unix.Open(path, flags, 0)
		if err == unix.ENOENT {
			// A symbolic link to a file that does not exist yet:
			// O_EXCL does not follow it, O_CREAT does. The file it
			// names is not removed on failure (the link would be).
			fd, err = unix.Open(path, flags|unix.O_CREAT, mode&0o777)
		}
	}
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
	b, err := share(fd, path, func(fd int, st *unix.Stat_t) error { return prepare(fd, st) })
	if err != nil {
		unix.Close(fd)
		if created {
			unix.Unlink(path)
		}
		return nil, err
	}
	return b, nil
}

// OpenExisting attaches to an existing, initialised bus file for reading
// (tools such as a follower): it neither creates, resizes nor initialises
// the file. It takes the bus lock to read, so it needs write permission.
// Errors: those of open(2); EINVAL for a file that is not a regular file;
// ENODATA for an empty file; ENOEXEC for a file without the bus magic or
// shorter than a bus.
func OpenExisting(path string) (*Bus, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	b, err := share(fd, path, func(fd int, st *unix.Stat_t) error {
		if st.Size == 0 {
			return unix.ENODATA
		}
		if st.Size < layout.BusSize {
			return unix.ENOEXEC
		}
		if magic, err := readMagic(fd); err != nil || magic != layout.Magic {
			return unix.ENOEXEC
		}
		return nil
	})
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	return b, nil
}

// share returns the process's Bus for the file open as fd, which it keeps
// or closes: the one already attached, or a new one once check has passed.
func share(fd int, path string, check func(int, *unix.Stat_t) error) (*Bus, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, unix.EINVAL
	}
	id := fileID{st.Dev, st.Ino}
	open.Lock()
	defer open.Unlock()
	if b := open.buses[id]; b != nil && !b.broken.Load() {
		b.refs++
		unix.Close(fd)
		return b, nil
	}
	if err := check(fd, &st); err != nil {
		return nil, err
	}
	b, err := attach(fd, path)
	if err != nil {
		return nil, err
	}
	b.id, b.refs = id, 1
	open.buses[id] = b
	return b, nil
}

// prepare makes the file open as fd a bus of the right size, or refuses it
// unchanged.
func prepare(fd int, st *unix.Stat_t) error {
	if st.Size > 0 {
		magic, err := readMagic(fd)
		if err != nil {
			return err
		}
		switch {
		case magic == layout.Magic:
		case st.Size == layout.BusSize && magic == 0:
			// A bus not yet initialised; unless it holds data.
			if zero, err := allZero(fd); err != nil || !zero {
				if err == nil {
					err = unix.ENOEXEC
				}
				return err
			}
		default:
			return unix.ENOEXEC
		}
	}
	if st.Size >= layout.BusSize {
		return nil
	}
	// Reserve the blocks, so that a full file system says so now (ENOSPC)
	// rather than with a fault when the mapping is first written.
	// Never shrink: a longer file with the magic keeps its tail.
	err := unix.Fallocate(fd, 0, 0, layout.BusSize)
	if err == unix.EOPNOTSUPP || err == unix.ENOSYS {
		err = unix.Ftruncate(fd, layout.BusSize)
	}
	return err
}

func readMagic(fd int) (uint32, error) {
	var b [4]byte
	n, err := unix.Pread(fd, b[:], 0)
	if err != nil {
		return 0, err
	}
	if n < 4 {
		return 0, nil
	}
	return layout.NativeEndian.Uint32(b[:]), nil
}

// allZero reports whether the first BusSize bytes of fd are zero, reading
// them in pieces: this is the rare path.
func allZero(fd int) (bool, error) {
	var chunk [64 << 10]byte
	for off := int64(0); off < layout.BusSize; {
		n, err := unix.Pread(fd, chunk[:], off)
		if err != nil {
			return false, err
		}
		if n == 0 {
			return true, nil
		}
		for _, c := range chunk[:n] {
			if c != 0 {
				// Another process may have initialised the bus
				// since we read its magic.
				magic, _ := readMagic(fd)
				return magic == layout.Magic, nil
			}
		}
		off += int64(n)
	}
	return true, nil
}

func attach(fd int, path string) (*Bus, error) {
	mapping, err := unix.Mmap(fd, 0, layout.BusSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return nil, err
	}
	b := &Bus{fd: fd, path: path, bytes: mapping, mem: layout.NewMem(mapping), hub: wake.NewHub(fd)}
	b.eager.Store(true)
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
	b.openSidecar()
	return b, nil
}

// openSidecar attaches to the bus's sidecar, when it can be had, shares
// its wake-up words, and decides whether the wake-up write is needed.
func (b *Bus) openSidecar() {
	if err := unix.Fstat(b.fd, &b.st); err != nil {
		return
	}
	side, err := sidecar.Open(&b.st)
	if err != nil {
		return // without it: the wake-up write after every batch
	}
	b.side = side
	b.hub.Share(side.Word(), side.Sleepers())
	if Getenv(WakeEnv) == "always" {
		return
	}
	if b.rescan() {
		b.rescanAfter(rescanDelay, 4)
	}
	// Whoever opens or closes the bus file from now on may be a peer
	// that waits for the wake-up write.
	b.hub.WatchOpens(b.rescanSoon)
}

// rescanDelay lets a process that opens the bus file finish its attach
// before it is looked at.
const rescanDelay = 2 * time.Millisecond

func (b *Bus) rescanSoon() { b.rescanAfter(rescanDelay, 4) }

// rescanAfter schedules a rescan after d, unless one is due, and then at
// most retries more, 5 times further apart each, while a foreign process is
// seen: a libshmif process opens the bus file before it registers in the
// sidecar, and registering may take a while on a loaded machine.
func (b *Bus) rescanAfter(d time.Duration, retries int) {
	if b.scanning.Swap(true) {
		return
	}
	time.AfterFunc(d, func() {
		b.scanning.Store(false)
		if b.rescan() && retries > 0 {
			b.rescanAfter(5*d, retries-1)
		}
	})
}

// rescan looks for processes other than registered libshmif ones that have
// the bus open, and reports whether it found one. When one appears, a
// wake-up write at once wakes it if it already sleeps: it may have attached
// between the last write and now.
func (b *Bus) rescan() bool {
	b.sideMu.RLock()
	defer b.sideMu.RUnlock()
	if b.side == nil || b.broken.Load() {
		return false // closed meanwhile
	}
	foreign := b.side.Foreign(b.st.Dev, b.st.Ino, b.st.Mode, b.st.Uid, b.st.Gid)
	if was := b.eager.Swap(foreign); foreign && !was {
		wake.Notify(b.fd)
	}
	return foreign
}

// Sidecar returns the bus's private state, or nil.
func (b *Bus) Sidecar() *sidecar.State { return b.side }

// Path returns the path the bus was first opened with in this process.
func (b *Bus) Path() string { return b.path }

// Mem returns the mapping. Code that touches it must run inside Guard or
// WithLock, which turn a fault on a truncated file into EIO.
func (b *Bus) Mem() *layout.Mem { return b.mem }

// Hub returns the hub the bus's waiters in this process wait on.
func (b *Bus) Hub() *wake.Hub { return b.hub }

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
	return b.WithLockWithin(buslock.Limit{}, fn)
}

// WithLockWithin is WithLock for a caller with a deadline of its own: it
// gives up with ETIMEDOUT when the lock cannot be had within limit
// (buslock.WithLimit).
func (b *Bus) WithLockWithin(limit buslock.Limit, fn func(m *layout.Mem) error) error {
	return b.Guard(func(m *layout.Mem) error {
		return buslock.WithLimit(m, limit, func() error {
			if m.Magic() != layout.Magic {
				return unix.ENOEXEC
			}
			return fn(m)
		})
	})
}

// Notify wakes every reader of the bus after frames were written: the
// waiters of this process through the hub, everyone else with the wake-up
// write at offset 4.
func (b *Bus) Notify() error {
	b.hub.Changed()
	// A write at offset 4 would extend a file truncated under us, which
	// then no longer reads as a bus: look at the mapping first.
	if err := b.Guard(func(*layout.Mem) error { return nil }); err != nil {
		return err
	}
	if b.quiet() {
		b.stamp()
		return nil
	}
	return wake.Notify(b.fd)
}

// quiet reports whether every process that may wait on the bus is a
// libshmif process of the sidecar, woken by its futex word: then the
// wake-up write is not needed. Poll descriptors wait on inotify, so any
// in any process need it too.
func (b *Bus) quiet() bool {
	return b.side != nil && !b.eager.Load() && b.side.Pollers() == 0 && !b.side.Broken()
}

// stamp sets the version word, which NetBSD's wake-up write sets, to 3
// once, so that a bus only libshmif processes write to still reads as a
// bus that carried frames (NetBSD's shmif_dumpbus refuses version 0).
func (b *Bus) stamp() {
	if b.stamped.Load() {
		return
	}
	b.Guard(func(m *layout.Mem) error {
		if m.Version() == 0 {
			m.SetVersion(layout.Version)
		}
		return nil
	})
	b.stamped.Store(true)
}

// AddPoller counts a poll descriptor's group in (+1) or out (-1): while
// there is one on the bus, in any process, writers make the wake-up write.
func (b *Bus) AddPoller(delta int32) {
	if b.side != nil {
		b.side.AddPollers(delta)
	}
}

// Close detaches; the last attachment of the process unmaps the bus and
// closes its file, which stays where it is.
func (b *Bus) Close() error {
	open.Lock()
	b.refs--
	last := b.refs == 0
	if last && open.buses[b.id] == b {
		delete(open.buses, b.id)
	}
	open.Unlock()
	if !last {
		return nil
	}
	b.hub.Unwatch()
	b.sideMu.Lock()
	if b.side != nil {
		b.side.Close()
		b.side = nil
	}
	b.sideMu.Unlock()
	err := unix.Munmap(b.bytes)
	return errors.Join(err, unix.Close(b.fd))
}

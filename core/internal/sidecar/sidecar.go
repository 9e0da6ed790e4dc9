//go:build linux

// Package sidecar is libshmif's private state beside a bus (docs/protocol.md
// §9.13): a small shared-memory file that only libshmif processes know of,
// found from the bus file's identity (device and inode), never in or after
// the bus file, which NetBSD peers map and truncate to 1 MiB. It holds what
// lets libshmif processes skip system calls on the hot path and deliver
// without loss:
//
//   - a futex word that every change of the bus bumps, and the number of
//     libshmif waiters sleeping on it, so that writers wake sleepers with
//     one futex call and only when there are some;
//   - a table of the libshmif processes attached to the bus, so that a
//     process can tell whether every process that has the bus file open is
//     a libshmif one (then nobody needs NetBSD's wake-up write);
//   - the positions of lossless readers, which writers must not overwrite,
//     and their progress words, which writers waiting for room sleep on.
//
// The file is /dev/shm/shmif-DEV-INO, created on demand with the bus file's
// permission bits, initialised and changed under flock(2), and removed by
// the last process that leaves it (or, when every process of it was killed,
// by the next process of the same user that opens a sidecar). Entries of dead processes (their pid
// gone, or reused: the start time differs) are reclaimed. When the file
// cannot be had or is damaged, Open fails and libshmif works as it does
// without it: slower, as correct.
package sidecar

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"unsafe"

	"github.com/libshmif/libshmif/core/internal/layout"
	"github.com/libshmif/libshmif/core/internal/wake"
	"golang.org/x/sys/unix"
)

// Layout, version 1. Offsets in bytes; every word is native-endian and
// naturally aligned.
const (
	magic   = 0x53484d53 // "SHMS"
	version = 1

	offMagic   = 0
	offVersion = 4
	offSize    = 8
	offSlots   = 12
	offDev     = 16
	offIno     = 24

	offWord     = 64 // futex word: bumped on every change of the bus
	offSleepers = 68 // libshmif waiters asleep on the word
	offPollers  = 72 // poll descriptors, which wait on inotify, not the word

	offLossless = 128 // lossless readers registered (a hint for writers)

	slotBase = 256
	slotSize = 64
	nslots   = 1024
	// Size is the size of the file.
	Size = slotBase + nslots*slotSize
)

// A slot: a process of the bus, or a lossless reader.
const (
	slotKind     = 0  // u32: free, process or lossless
	slotPid      = 4  // u32
	slotStart    = 8  // u64: the process's start time, in clock ticks since boot
	slotPidNS    = 16 // u64: the inode of its pid namespace
	slotPos      = 24 // u64: lossless: stream position writers must not pass
	slotProgress = 32 // u32: lossless: futex word, bumped when the reader moves
	slotWaiting  = 36 // u32: lossless: writers asleep on the progress word
	slotMaxWait  = 40 // u64: lossless: how long writers wait for it, ns
	slotExpired  = 48 // u32: lossless: progress + 1 when a writer last gave up waiting
)

const (
	kindFree     = 0
	kindProcess  = 1
	kindLossless = 2
)

// Dir is where sidecar files live; a variable so that tests can move it.
var Dir = "/dev/shm"

// State is a process's view of a bus's sidecar.
type State struct {
	path   string
	f      *os.File
	mem    []byte
	self   int         // this process's slot
	broken atomic.Bool // the mapping faulted: the file was truncated
}

// errBroken is what calls on a broken sidecar report.
var errBroken = errors.New("sidecar: the file was truncated under its mapping")

// safe runs fn, which touches the mapping, unless the sidecar is broken.
// Whoever may write the bus may truncate its sidecar: a fault then breaks
// the sidecar for this process, which from then on works as it does
// without one (Broken), instead of dying of SIGBUS.
func (s *State) safe(fn func()) bool {
	if s.broken.Load() {
		return false
	}
	if layout.CatchFault(fn) {
		s.broken.Store(true)
		return false
	}
	return true
}

// Broken reports whether the sidecar's mapping faulted: callers then act as
// without a sidecar.
func (s *State) Broken() bool { return s.broken.Load() }

// ErrDamaged reports a sidecar file that is not one, or not of this
// version.
var ErrDamaged = errors.New("sidecar: damaged or of another version")

// Path returns the sidecar file of the bus file with the given identity.
func Path(dev, ino uint64) string {
	return fmt.Sprintf("%s/shmif-%x-%x", Dir, dev, ino)
}

// Open attaches this process to the sidecar of the bus file described by
// st, creating the file if needed with st's permission bits, and registers
// the process in it.
func Open(st *unix.Stat_t) (*State, error) {
	path := Path(st.Dev, st.Ino)
	sweepOnce.Do(func() { sweep(path) })
	for tries := 0; tries < 8; tries++ {
		s, retry, err := open(path, st)
		if !retry {
			return s, err
		}
	}
	return nil, fmt.Errorf("sidecar: %s keeps being replaced", path)
}

func open(path string, st *unix.Stat_t) (s *State, retry bool, err error) {
	// Never through a symbolic link: /dev/shm is writable by everyone,
	// and a link planted there must not make us write elsewhere.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, false, err
	}
	defer func() {
		if s == nil {
			f.Close()
		}
	}()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		return nil, false, err
	}
	defer unix.Flock(int(f.Fd()), unix.LOCK_UN)
	// The last process of the file may have removed it after we opened
	// it: then start again with the file now at path.
	var fst, pst unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &fst); err != nil {
		return nil, false, err
	}
	if fst.Nlink == 0 || unix.Lstat(path, &pst) != nil || pst.Ino != fst.Ino {
		return nil, true, nil
	}
	// Only a file of ours or of the bus's owner is the bus's sidecar: one
	// planted by a user who may not write the bus must not let that user
	// hold its writers back (a fake lossless reader) or reach them.
	if fst.Mode&unix.S_IFMT != unix.S_IFREG || (fst.Uid != uint32(os.Geteuid()) && fst.Uid != st.Uid) {
		return nil, false, ErrDamaged
	}
	fresh := fst.Size == 0
	if fresh {
		// Anyone who may write the bus may share its sidecar.
		if err := f.Chmod(os.FileMode(st.Mode & 0o666)); err != nil {
			return nil, false, err
		}
		if err := f.Truncate(Size); err != nil {
			return nil, false, err
		}
	} else if fst.Size != Size {
		return nil, false, ErrDamaged
	}
	mem, err := unix.Mmap(int(f.Fd()), 0, Size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, false, err
	}
	s = &State{path: path, f: f, mem: mem, self: -1}
	damaged := false
	slot := -1
	// Someone may truncate the file under us even now.
	if layout.CatchFault(func() {
		if fresh {
			s.init(st)
		} else if s.u32(offMagic) != magic || s.u32(offVersion) != version || s.u32(offSize) != Size ||
			s.u32(offSlots) != nslots || s.u64(offDev) != st.Dev || s.u64(offIno) != st.Ino {
			damaged = true
			return
		}
		s.reclaim()
		if !s.anyAlive() && !fresh {
			// Every process that used it is gone (the bus may even be
			// a new file that got the old one's inode): start afresh.
			clear(s.mem[offWord:])
		}
		slot = s.claim(kindProcess)
	}) || damaged {
		unix.Munmap(mem)
		return nil, false, ErrDamaged
	}
	if slot < 0 {
		unix.Munmap(mem)
		return nil, false, errors.New("sidecar: no free slot")
	}
	s.self = slot
	return s, false, nil
}

func (s *State) init(st *unix.Stat_t) {
	clear(s.mem)
	s.store32(offVersion, version)
	s.store32(offSize, Size)
	s.store32(offSlots, nslots)
	atomic.StoreUint64(s.p64(offDev), st.Dev)
	atomic.StoreUint64(s.p64(offIno), st.Ino)
	s.store32(offMagic, magic)
}

// Close unregisters the process; the last one removes the file.
func (s *State) Close() error {
	fd := int(s.f.Fd())
	unix.Flock(fd, unix.LOCK_EX)
	s.safe(func() {
		s.freeSlot(s.self)
		s.reclaim()
		if !s.anyAlive() {
			os.Remove(s.path)
		}
	})
	unix.Flock(fd, unix.LOCK_UN)
	unix.Munmap(s.mem)
	return s.f.Close()
}

// Word returns the futex word that every change of the bus bumps, and
// Sleepers the count of libshmif waiters asleep on it.
func (s *State) Word() *uint32     { return s.p32(offWord) }
func (s *State) Sleepers() *uint32 { return s.p32(offSleepers) }

// Pollers is the count of poll descriptors on the bus, in all processes:
// they wait on inotify, so a writer that sees some must make the wake-up
// write. A broken sidecar reports one, so that writers make it.
func (s *State) Pollers() (n uint32) {
	n = 1
	s.safe(func() { n = atomic.LoadUint32(s.p32(offPollers)) })
	return n
}

// AddPollers adds delta to the count of poll descriptors.
func (s *State) AddPollers(delta int32) {
	s.safe(func() { atomic.AddUint32(s.p32(offPollers), uint32(delta)) })
}

func (s *State) p32(off int) *uint32       { return (*uint32)(unsafe.Pointer(&s.mem[off])) }
func (s *State) p64(off int) *uint64       { return (*uint64)(unsafe.Pointer(&s.mem[off])) }
func (s *State) u32(off int) uint32        { return atomic.LoadUint32(s.p32(off)) }
func (s *State) u64(off int) uint64        { return atomic.LoadUint64(s.p64(off)) }
func (s *State) store32(off int, v uint32) { atomic.StoreUint32(s.p32(off), v) }
func (s *State) slot(i int) int            { return slotBase + i*slotSize }
func (s *State) kind(i int) uint32         { return s.u32(s.slot(i) + slotKind) }
func (s *State) slot32(i, off int) *uint32 { return s.p32(s.slot(i) + off) }
func (s *State) slot64(i, off int) *uint64 { return s.p64(s.slot(i) + off) }

// Process identity: pid, start time and pid namespace.
type identity struct {
	pid   uint32
	start uint64
	ns    uint64
}

var me = func() identity {
	id := identity{pid: uint32(os.Getpid())}
	id.start, _ = startTime(os.Getpid())
	id.ns = pidNS()
	return id
}()

func pidNS() uint64 {
	var st unix.Stat_t
	if unix.Stat("/proc/self/ns/pid", &st) != nil {
		return 0
	}
	return st.Ino
}

// startTime returns a process's start time (field 22 of /proc/PID/stat).
func startTime(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// Fields after the command, which is in parentheses and may contain
	// anything.
	i := lastIndex(b, ')')
	if i < 0 {
		return 0, ErrDamaged
	}
	fields := splitFields(b[i+1:])
	if len(fields) < 20 {
		return 0, ErrDamaged
	}
	return strconv.ParseUint(string(fields[19]), 10, 64)
}

func lastIndex(b []byte, c byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == c {
			return i
		}
	}
	return -1
}

func splitFields(b []byte) [][]byte {
	var out [][]byte
	for i := 0; i < len(b); {
		for i < len(b) && (b[i] == ' ' || b[i] == '\n') {
			i++
		}
		j := i
		for j < len(b) && b[j] != ' ' && b[j] != '\n' {
			j++
		}
		if j > i {
			out = append(out, b[i:j])
		}
		i = j
	}
	return out
}

// alive reports whether the process of slot i is still there: a process of
// our pid namespace whose pid exists with the same start time. Processes of
// other namespaces cannot be checked and count as alive.
func (s *State) alive(i int) bool {
	id := identity{pid: atomic.LoadUint32(s.slot32(i, slotPid)), start: atomic.LoadUint64(s.slot64(i, slotStart)),
		ns: atomic.LoadUint64(s.slot64(i, slotPidNS))}
	if id.ns != me.ns {
		return true
	}
	if id == me {
		return true
	}
	start, err := startTime(int(id.pid))
	return err == nil && start == id.start && !zombie(int(id.pid))
}

func zombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	i := lastIndex(b, ')')
	return i >= 0 && i+2 < len(b) && (b[i+2] == 'Z' || b[i+2] == 'X')
}

// claim takes a free slot for this process; needs the file lock.
func (s *State) claim(kind uint32) int {
	for i := range nslots {
		if s.kind(i) != kindFree {
			continue
		}
		off := s.slot(i)
		clear(s.mem[off+4 : off+slotSize])
		atomic.StoreUint32(s.slot32(i, slotPid), me.pid)
		atomic.StoreUint64(s.slot64(i, slotStart), me.start)
		atomic.StoreUint64(s.slot64(i, slotPidNS), me.ns)
		atomic.StoreUint32(s.slot32(i, slotKind), kind)
		return i
	}
	return -1
}

func (s *State) freeSlot(i int) {
	if i < 0 {
		return
	}
	if s.kind(i) == kindLossless {
		atomic.AddUint32(s.p32(offLossless), ^uint32(0))
		// Writers waiting for this reader go on.
		atomic.AddUint32(s.slot32(i, slotProgress), 1)
		wake.FutexWake(s.slot32(i, slotProgress), false)
	}
	atomic.StoreUint32(s.slot32(i, slotKind), kindFree)
}

// reclaim frees the slots of dead processes; needs the file lock.
func (s *State) reclaim() {
	for i := range nslots {
		if s.kind(i) != kindFree && !s.alive(i) {
			s.freeSlot(i)
		}
	}
}

func (s *State) anyAlive() bool {
	for i := range nslots {
		if s.kind(i) != kindFree {
			return true
		}
	}
	return false
}

// Registered reports whether process pid of this pid namespace is
// registered, and Foreign whether any registered process is of another pid
// namespace (whose openers this process cannot see).
func (s *State) Registered(pid int) bool {
	for i := range nslots {
		if s.kind(i) == kindProcess && atomic.LoadUint32(s.slot32(i, slotPid)) == uint32(pid) &&
			atomic.LoadUint64(s.slot64(i, slotPidNS)) == me.ns {
			return true
		}
	}
	return false
}

// OtherNamespaces reports whether a registered process is of another pid
// namespace than this one.
func (s *State) OtherNamespaces() bool {
	for i := range nslots {
		if s.kind(i) != kindFree && atomic.LoadUint64(s.slot64(i, slotPidNS)) != me.ns {
			return true
		}
	}
	return false
}

// Package netbsd is a model of NetBSD's shmif driver (if_shmem.c and
// shmif_busops.c), written from docs/protocol.md for tests only: a foreign
// peer on a bus that shares no code with libshmif, so that tests can show
// that libshmif and a rump kernel get along. It does exactly what NetBSD
// does, flaws included: it stores shm_last before it writes the record
// there, leaves the pid word alone, never takes the lock over, and wakes
// readers with a 4-byte write at offset 4.
package netbsd

import (
	"encoding/binary"
	"errors"
	"os"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The bus file layout (docs/protocol.md §1), for 64-bit hosts.
const (
	BusSize         = 1 << 20
	HeaderSize      = 32
	DataSize        = BusSize - HeaderSize
	FrameHeaderSize = 24
	Magic           = 0xCA11D054
	Version         = 3

	OffMagic   = 0
	OffVersion = 4
	OffGen     = 8
	OffFirst   = 16
	OffLast    = 20
	OffLock    = 24
	OffSpare   = 28

	// Within a frame header.
	OffLen    = 0
	OffSec    = 4
	OffUsec   = 8
	OffPad    = 12
	OffSender = 16

	MaxFrame = 1514
	MinFrame = 14
)

var ne = binary.NativeEndian

// Bus is a mapped bus file.
type Bus struct {
	File *os.File
	Mem  []byte // BusSize bytes, MAP_SHARED

	// RecordPid makes Lock store the process id in the spare word after
	// taking the lock, as libshmif does (NetBSD does not): to play a
	// libshmif writer that dies holding the lock.
	RecordPid bool
}

// Attach opens path as a rump kernel does (O_RDWR|O_CREAT, 0644), resizes
// it to 1 MiB and maps it, and initialises the magic and first under the
// lock if the bus is new. It fails on a wrong magic.
func Attach(path string) (*Bus, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := f.Truncate(BusSize); err != nil {
		f.Close()
		return nil, err
	}
	mem, err := unix.Mmap(int(f.Fd()), 0, BusSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		f.Close()
		return nil, err
	}
	b := &Bus{File: f, Mem: mem}
	b.Lock()
	switch b.load32(OffMagic) {
	case 0:
		b.store32(OffMagic, Magic)
		b.store32(OffFirst, DataSize)
	case Magic:
	default:
		b.Unlock()
		b.Close()
		return nil, errors.New("netbsd: not a shmif bus")
	}
	b.Unlock()
	return b, nil
}

// Close unmaps the bus and closes its file.
func (b *Bus) Close() error {
	unix.Munmap(b.Mem)
	return b.File.Close()
}

func (b *Bus) word(off int) *uint32 { return (*uint32)(unsafe.Pointer(&b.Mem[off])) }

func (b *Bus) load32(off int) uint32     { return atomic.LoadUint32(b.word(off)) }
func (b *Bus) store32(off int, v uint32) { atomic.StoreUint32(b.word(off), v) }

// Gen, First and Last read the header words.
func (b *Bus) Gen() uint64 {
	return atomic.LoadUint64((*uint64)(unsafe.Pointer(&b.Mem[OffGen])))
}
func (b *Bus) First() uint32 { return b.load32(OffFirst) }
func (b *Bus) Last() uint32  { return b.load32(OffLast) }

func (b *Bus) setGen(v uint64) {
	atomic.StoreUint64((*uint64)(unsafe.Pointer(&b.Mem[OffGen])), v)
}

// Lock is shmif_lockbus: compare-and-swap 0 to 1, 1001 tries between 1 ms
// naps, forever.
func (b *Bus) Lock() {
	w := b.word(OffLock)
	for {
		for range 1001 {
			if atomic.CompareAndSwapUint32(w, 0, 1) {
				if b.RecordPid {
					b.store32(OffSpare, uint32(os.Getpid()))
				}
				return
			}
		}
		time.Sleep(time.Millisecond)
	}
}

// TryLock makes one attempt.
func (b *Bus) TryLock() bool { return atomic.CompareAndSwapUint32(b.word(OffLock), 0, 1) }

// Unlock is shmif_unlockbus: an atomic swap back to 0.
func (b *Bus) Unlock() { atomic.SwapUint32(b.word(OffLock), 0) }

// Wakeup is the wake-up write: the value 3 at offset 4.
func (b *Bus) Wakeup() error {
	var v [4]byte
	ne.PutUint32(v[:], Version)
	_, err := b.File.WriteAt(v[:], OffVersion)
	return err
}

func data(b *Bus) []byte { return b.Mem[HeaderSize:] }

func advance(off, delta uint32) uint32 {
	off += delta
	if off >= DataSize {
		off -= DataSize
	}
	return off
}

// busRead is shmif_busread.
func (b *Bus) busRead(dst []byte, off uint32) (uint32, bool) {
	d := data(b)
	chunk := min(uint32(len(dst)), DataSize-off)
	copy(dst, d[off:off+chunk])
	wrap := off+chunk == DataSize
	if chunk == uint32(len(dst)) {
		return (off + chunk) % DataSize, wrap
	}
	copy(dst[chunk:], d[:uint32(len(dst))-chunk])
	return uint32(len(dst)) - chunk, wrap
}

// nextPktOff is shmif_nextpktoff.
func (b *Bus) nextPktOff(off uint32) uint32 {
	var h [4]byte
	b.busRead(h[:], off)
	return advance(off, FrameHeaderSize+ne.Uint32(h[:]))
}

// advanceFirst is shmif_advancefirst, with NetBSD's exact condition.
func (b *Bus) advanceFirst(off, n uint32) {
	first := b.First()
	for off <= first+FrameHeaderSize && off+n > first {
		first = b.nextPktOff(first)
	}
	b.store32(OffFirst, first)
}

// busWrite is shmif_buswrite.
func (b *Bus) busWrite(off uint32, src []byte) (uint32, bool) {
	d := data(b)
	n := uint32(len(src))
	chunk := min(n, DataSize-off)
	filled := off+chunk == DataSize
	extra := uint32(0)
	if filled {
		extra = 1
	}
	b.advanceFirst(off, chunk+extra)
	copy(d[off:off+chunk], src[:chunk])
	if chunk == n {
		return (off + chunk) % DataSize, filled
	}
	b.advanceFirst(0, n-chunk)
	copy(d[:n-chunk], src[chunk:])
	return n - chunk, filled
}

// Step names the points of Send at which a test can stop a writer, as if
// it were killed there.
type Step int

const (
	StepNone       Step = iota
	StepLastStored      // shm_last names the new record; nothing of it is written
	StepHeader          // the header is written, no frame bytes
	StepHalfFrame       // the header and half the frame are written
	StepFrame           // everything is written but gen
)

// Send writes one frame as shmif_start does (lock, last = nextpktoff(last),
// header, frame, gen++ on wrap, unlock) and wakes the bus. With stop it
// returns at that step, still holding the lock. The header's padding word
// gets pad (NetBSD leaves stack garbage there).
func (b *Bus) Send(frame []byte, sender uint64, pad uint32, stop Step) error {
	var h [FrameHeaderSize]byte
	now := time.Now()
	ne.PutUint32(h[OffLen:], uint32(len(frame)))
	ne.PutUint32(h[OffSec:], uint32(now.Unix()))
	ne.PutUint32(h[OffUsec:], uint32(now.Nanosecond()/1000))
	ne.PutUint32(h[OffPad:], pad)
	ne.PutUint64(h[OffSender:], sender)

	b.Lock()
	last := b.nextPktOff(b.Last())
	b.store32(OffLast, last)
	if stop == StepLastStored {
		return nil
	}
	off, wrap := b.busWrite(last, h[:])
	if stop == StepHeader {
		return nil
	}
	half := len(frame) / 2
	off, w := b.busWrite(off, frame[:half])
	wrap = wrap || w
	if stop == StepHalfFrame {
		return nil
	}
	_, w = b.busWrite(off, frame[half:])
	wrap = wrap || w
	if stop == StepFrame {
		return nil
	}
	if wrap {
		b.setGen(b.Gen() + 1)
	}
	b.Unlock()
	return b.Wakeup()
}

// Reader is shmif_rcv's state: the next record and its generation.
type Reader struct {
	b       *Bus
	next    uint32
	devgen  uint64
	ino     int
	Overrun int // times the reader was lapped (NetBSD counts nothing)
}

// NewReader starts at shm_last, as shmif_init does, with an inotify watch
// for IN_MODIFY on the bus file, as rumpuser's shmif_user.c sets up.
func (b *Bus) NewReader() (*Reader, error) {
	ino, err := unix.InotifyInit1(unix.IN_CLOEXEC)
	if err != nil {
		return nil, err
	}
	if _, err := unix.InotifyAddWatch(ino, b.File.Name(), unix.IN_MODIFY); err != nil {
		unix.Close(ino)
		return nil, err
	}
	b.Lock()
	r := &Reader{b: b, next: b.Last(), devgen: b.Gen(), ino: ino}
	b.Unlock()
	return r, nil
}

// Close releases the watch.
func (r *Reader) Close() error { return unix.Close(r.ino) }

// stillValid is NetBSD's stillvalid_p.
func (r *Reader) stillValid() bool {
	b := r.b
	gendiff := uint32(b.Gen() - r.devgen)
	if gendiff > 1 {
		return false
	}
	dev := r.next
	lastoff := b.nextPktOff(b.Last())
	first := b.First()
	if first >= lastoff {
		lastoff += DataSize
		if gendiff == 0 {
			dev += DataSize
		}
	} else if gendiff != 0 {
		return false
	}
	return first <= dev && dev <= lastoff
}

// Next returns the next frame of at least 14 bytes (the header's sender in
// sender), or ok false if the reader has caught up. Like NetBSD it reads
// whatever the record says, up to MaxFrame bytes; longer records, which
// panic a NetBSD kernel, are reported as an error.
func (r *Reader) Next(buf []byte) (n int, sender uint64, ok bool, err error) {
	b := r.b
	for {
		b.Lock()
		if r.devgen == b.Gen() && b.nextPktOff(b.Last()) == r.next {
			b.Unlock()
			return 0, 0, false, nil
		}
		if !r.stillValid() {
			r.Overrun++
			r.next = b.First()
			if b.First() > b.Last() {
				r.devgen = b.Gen() - 1
			} else {
				r.devgen = b.Gen()
			}
		}
		var h [FrameHeaderSize]byte
		off, wrap := b.busRead(h[:], r.next)
		l := ne.Uint32(h[OffLen:])
		if l > MaxFrame {
			b.Unlock()
			return 0, 0, false, errors.New("netbsd: record longer than 1514 bytes (a NetBSD kernel panics)")
		}
		off, w := b.busRead(buf[:l], off)
		r.next = off
		b.Unlock()
		if wrap || w {
			r.devgen++
		}
		if l < MinFrame {
			continue
		}
		return int(l), ne.Uint64(h[OffSender:]), true, nil
	}
}

// Wait blocks until the bus file is written to (the wake-up) or timeout
// passes, as the receive thread's watchwait does; it reports whether a
// wake-up came.
func (r *Reader) Wait(timeout time.Duration) bool {
	fds := []unix.PollFd{{Fd: int32(r.ino), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, int(timeout/time.Millisecond))
		if err == unix.EINTR {
			continue
		}
		if n <= 0 {
			return false
		}
		var buf [4096]byte
		unix.Read(r.ino, buf[:])
		return true
	}
}

// NextWrite returns where the next record will go (read without the lock).
func (b *Bus) NextWrite() uint32 { return b.nextPktOff(b.Last()) }

// Data returns the ring's data area.
func (b *Bus) Data() []byte { return data(b) }

// Package laps_test attacks the receive path's lap and damage rules
// (docs/protocol.md §9.4 to §9.8) from outside: it knows the bus only as
// docs/protocol.md §1 to §4 describe it, and the library only by its
// public Go API (core/shmif).
//
// The tests play three parts besides libshmif's own interfaces:
//
//   - a stranger, who maps the bus file and writes header words (gen,
//     first, last), a record's padding (sequence) word or a record header,
//     with or without the bus lock (§4);
//   - a NetBSD-order writer (§3.1, §2.4, §2.5): the lock word taken by
//     compare-and-swap, last stored before the record is written, first
//     moved piece by piece, gen incremented after a wrap, a padding word
//     of its choosing, the wake-up write of §5.1;
//   - paused receivers: interfaces that simply do not receive while
//     writers lap them, or child processes stopped with SIGSTOP.
//
// Frames are self-checking (see frame.go's layout in mkFrame): a receiver
// tells a torn frame, bytes from inside another frame, a duplicate and a
// reordered frame from a whole one.
//
// Every test logs its seed; SHMIF_SEED=N reruns it. SHMIF_STRESS=full
// makes the storms longer. Tests that show a defect live in files with the
// build tag hostile_defects:
//
//	go test -count=1 -tags hostile_defects ./tests/hostile/laps/
package laps_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/libshmif/libshmif/core/shmif"
)

// Layout, docs/protocol.md §1 (amd64).
const (
	busSize  = 1 << 20
	dataOff  = 32
	dataSize = 0xFFFE0
	hdrSize  = 24
	maxFrame = 1514
	minFrame = 14

	offMagic = 0
	offVer   = 4
	offGen   = 8
	offFirst = 16
	offLast  = 20
	offLock  = 24
	offSpare = 28

	busMagic = 0xCA11D054

	// maxRecords is a ring's worth of records (§9.6).
	maxRecords = 43690
)

func full() bool { return os.Getenv("SHMIF_STRESS") == "full" }

func pick[T any](short, long T) T {
	if full() {
		return long
	}
	return short
}

// seed returns the test's seed: SHMIF_SEED if set, else a random one,
// logged so that a failure can be run again.
func seed(t testing.TB) uint64 {
	t.Helper()
	if s := os.Getenv("SHMIF_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 0, 64)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("seed %d (SHMIF_SEED)", v)
		return v
	}
	v := uint64(time.Now().UnixNano())
	t.Logf("seed %d (rerun with SHMIF_SEED=%d)", v, v)
	return v
}

func newRand(s uint64) *rand.Rand { return rand.New(rand.NewPCG(s, s^0x9e3779b97f4a7c15)) }

// ---------------------------------------------------------------------
// The bus as a stranger sees it: a shared mapping of the file.

type bus struct {
	f *os.File
	m []byte
}

func mapBus(t testing.TB, path string) *bus {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	m, err := unix.Mmap(int(f.Fd()), 0, busSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		f.Close()
		t.Fatal(err)
	}
	b := &bus{f: f, m: m}
	t.Cleanup(b.close)
	return b
}

func (b *bus) close() {
	if b.m != nil {
		unix.Munmap(b.m)
		b.m = nil
		b.f.Close()
	}
}

func (b *bus) w32(off int) *uint32 { return (*uint32)(unsafe.Pointer(&b.m[off])) }
func (b *bus) w64(off int) *uint64 { return (*uint64)(unsafe.Pointer(&b.m[off])) }

func (b *bus) gen() uint64       { return atomic.LoadUint64(b.w64(offGen)) }
func (b *bus) first() uint32     { return atomic.LoadUint32(b.w32(offFirst)) }
func (b *bus) last() uint32      { return atomic.LoadUint32(b.w32(offLast)) }
func (b *bus) setGen(g uint64)   { atomic.StoreUint64(b.w64(offGen), g) }
func (b *bus) setFirst(v uint32) { atomic.StoreUint32(b.w32(offFirst), v) }
func (b *bus) setLast(v uint32)  { atomic.StoreUint32(b.w32(offLast), v) }

// lock takes the bus lock as NetBSD does (§4.1): compare-and-swap of 0 to
// 1, 1001 tries between 1 ms naps. It leaves no pid: a NetBSD peer.
func (b *bus) lock() {
	w := b.w32(offLock)
	for {
		for i := 0; i < 1001; i++ {
			if atomic.CompareAndSwapUint32(w, 0, 1) {
				return
			}
			if i%64 == 63 {
				runtime.Gosched()
			}
		}
		time.Sleep(time.Millisecond)
	}
}

func (b *bus) unlock() { atomic.StoreUint32(b.w32(offLock), 0) }

// wake is NetBSD's wake-up write (§5.1): the integer 3 at file offset 4.
func (b *bus) wake() {
	var v [4]byte
	binary.NativeEndian.PutUint32(v[:], 3)
	b.f.WriteAt(v[:], offVer)
}

// busread copies len(p) bytes of the data area from off (§2.2) and
// returns the offset after them and whether the read touched the end.
func (b *bus) busread(p []byte, off uint32) (uint32, bool) {
	if off >= dataSize {
		off = 0
		if len(p) == 0 {
			return 0, true
		}
	}
	chunk := min(uint32(len(p)), dataSize-off)
	copy(p, b.m[dataOff+int(off):dataOff+int(off+chunk)])
	wrap := off+chunk == dataSize
	if int(chunk) == len(p) {
		return (off + chunk) % dataSize, wrap
	}
	rest := uint32(len(p)) - chunk
	copy(p[chunk:], b.m[dataOff:dataOff+int(rest)])
	return rest, wrap
}

// hdr is a frame header (§1.3).
type hdr struct {
	Len, Sec, Usec, Pad uint32
	Sender              uint64
}

func (b *bus) header(off uint32) hdr {
	var p [hdrSize]byte
	b.busread(p[:], off)
	return hdr{
		Len: binary.NativeEndian.Uint32(p[0:]), Sec: binary.NativeEndian.Uint32(p[4:]),
		Usec: binary.NativeEndian.Uint32(p[8:]), Pad: binary.NativeEndian.Uint32(p[12:]),
		Sender: binary.NativeEndian.Uint64(p[16:]),
	}
}

func (h hdr) bytes() []byte {
	p := make([]byte, hdrSize)
	binary.NativeEndian.PutUint32(p[0:], h.Len)
	binary.NativeEndian.PutUint32(p[4:], h.Sec)
	binary.NativeEndian.PutUint32(p[8:], h.Usec)
	binary.NativeEndian.PutUint32(p[12:], h.Pad)
	binary.NativeEndian.PutUint64(p[16:], h.Sender)
	return p
}

// poke writes p into the data area at off, wrapping at the end, without
// moving first: a stranger's write.
func (b *bus) poke(off uint32, p []byte) {
	for i, c := range p {
		b.m[dataOff+int((off+uint32(i))%dataSize)] = c
	}
}

func adv(off, n uint32) uint32 {
	off += n
	if off >= dataSize {
		off -= dataSize
	}
	return off
}

// nextpktoff is §2.3. A first of dataSize reads the header at 0.
func (b *bus) nextpktoff(off uint32) uint32 {
	if off >= dataSize {
		off = 0
	}
	return adv(off, hdrSize+b.header(off).Len)
}

// records walks the chain from first to the next write position, as a
// reader of the whole ring would; it stops at an insane length or after
// too many steps. It returns the record offsets.
func (b *bus) records() []uint32 {
	first, next := b.first(), b.nextpktoff(b.last())
	off := first
	if off >= dataSize {
		off = 0
	}
	var out []uint32
	// first == next: the ring is full, the oldest record starts where the
	// next one goes; walk the whole lap.
	full := off == next
	for i := 0; i < maxRecords+2 && (off != next || (i == 0 && full)); i++ {
		h := b.header(off)
		if h.Len > maxFrame {
			break
		}
		out = append(out, off)
		off = adv(off, hdrSize+h.Len)
	}
	return out
}

// ---------------------------------------------------------------------
// A NetBSD-order writer (§3.1 with §2.4, §2.5), on the stranger's mapping.

type netbsdWriter struct {
	b      *bus
	sender uint64
	pad    func() uint32 // the padding word of each record
	wrap   bool
}

// advancefirst is §2.4, storing first as it goes, as NetBSD does.
func (w *netbsdWriter) advancefirst(off, n uint32) {
	first := w.b.first()
	for off <= first+hdrSize && off+n > first {
		first = w.b.nextpktoff(first)
		w.b.setFirst(first)
	}
}

// buswrite is §2.5.
func (w *netbsdWriter) buswrite(off uint32, p []byte) uint32 {
	n := uint32(len(p))
	chunk := min(n, dataSize-off)
	filled := off+chunk == dataSize
	extra := uint32(0)
	if filled {
		extra = 1
	}
	w.advancefirst(off, chunk+extra)
	copy(w.b.m[dataOff+int(off):], p[:chunk])
	if filled {
		w.wrap = true
	}
	if chunk == n {
		return (off + chunk) % dataSize
	}
	w.advancefirst(0, n-chunk)
	copy(w.b.m[dataOff:], p[chunk:])
	return n - chunk
}

// send writes frames in NetBSD's order: under the lock, last first, then
// the record, then gen; one wake-up after them all.
func (w *netbsdWriter) send(frames ...[]byte) {
	for _, f := range frames {
		now := time.Now()
		h := hdr{Len: uint32(len(f)), Sec: uint32(now.Unix()), Usec: uint32(now.Nanosecond() / 1000),
			Pad: w.pad(), Sender: w.sender}
		w.b.lock()
		last := w.b.nextpktoff(w.b.last())
		w.b.setLast(last)
		w.wrap = false
		off := w.buswrite(last, h.bytes())
		w.buswrite(off, f)
		if w.wrap {
			w.b.setGen(w.b.gen() + 1)
		}
		w.b.unlock()
	}
	w.b.wake()
}

// ---------------------------------------------------------------------
// Self-checking frames.
//
// Layout: broadcast destination, source, ethertype 0x88b5; then at 14 the
// magic "LAPS", at 18 the writer id (4), at 22 the writer's frame number
// (8), at 30 the frame length (4), filler derived from id and number, and
// the CRC-32 of everything before it in the last 4 bytes.

const (
	minTest   = 40
	frameTail = 4
)

var lapsMagic = []byte("LAPS")

func mkFrame(id uint32, seq uint64, n int) []byte {
	if n < minTest {
		n = minTest
	}
	f := make([]byte, n)
	for i := 0; i < 6; i++ {
		f[i] = 0xff
	}
	f[6], f[7], f[8], f[9], f[10], f[11] = 0x02, 0x1a, 0x95, byte(id>>16), byte(id>>8), byte(id)
	f[12], f[13] = 0x88, 0xb5
	copy(f[14:], lapsMagic)
	binary.LittleEndian.PutUint32(f[18:], id)
	binary.LittleEndian.PutUint64(f[22:], seq)
	binary.LittleEndian.PutUint32(f[30:], uint32(n))
	x := uint32(seq)*2654435761 ^ id*40503
	for i := 34; i < n-frameTail; i++ {
		x = x*1664525 + 1013904223
		f[i] = byte(x >> 24)
	}
	binary.LittleEndian.PutUint32(f[n-frameTail:], crc32.ChecksumIEEE(f[:n-frameTail]))
	return f
}

// parseFrame checks a received frame; ok is false for anything no writer
// of these tests sent whole.
func parseFrame(f []byte) (id uint32, seq uint64, ok bool) {
	if len(f) < minTest || string(f[14:18]) != "LAPS" {
		return 0, 0, false
	}
	if binary.LittleEndian.Uint32(f[30:]) != uint32(len(f)) {
		return 0, 0, false
	}
	if crc32.ChecksumIEEE(f[:len(f)-frameTail]) != binary.LittleEndian.Uint32(f[len(f)-frameTail:]) {
		return 0, 0, false
	}
	id = binary.LittleEndian.Uint32(f[18:])
	seq = binary.LittleEndian.Uint64(f[22:])
	return id, seq, true
}

// tally is what a receiver saw.
type tally struct {
	got      uint64            // whole frames of ours
	foreign  uint64            // torn, invented or bytes from inside a frame
	dup      uint64            // a frame number not above the last one of its writer
	last     map[uint32]uint64 // per writer: last number + 1
	seen     map[[2]uint64]bool
	firstBad []byte
}

func newTally() *tally { return &tally{last: map[uint32]uint64{}, seen: map[[2]uint64]bool{}} }

func (t *tally) add(f []byte) (id uint32, seq uint64, ok bool) {
	id, seq, ok = parseFrame(f)
	if !ok {
		t.foreign++
		if t.firstBad == nil {
			t.firstBad = append([]byte(nil), f...)
		}
		return
	}
	k := [2]uint64{uint64(id), seq}
	if t.seen[k] || seq+1 <= t.last[id] {
		t.dup++
		return id, seq, false
	}
	t.seen[k] = true
	t.last[id] = seq + 1
	t.got++
	return id, seq, true
}

func (t *tally) String() string {
	return fmt.Sprintf("got %d foreign %d dup %d", t.got, t.foreign, t.dup)
}

// drain receives with timeout 0 until EAGAIN, bounded; it returns how many
// frames it received and fails on errors other than EAGAIN.
func drain(t testing.TB, ifc *shmif.Interface, tl *tally) int {
	t.Helper()
	buf := make([]byte, maxFrame)
	n := 0
	deadline := time.Now().Add(20 * time.Second)
	for {
		k, err := ifc.Recv(buf, 0)
		if errors.Is(err, syscall.EAGAIN) {
			return n
		}
		if err != nil {
			t.Fatalf("%s Recv: %v", ifc.Name(), err)
		}
		tl.add(buf[:k])
		n++
		if time.Now().After(deadline) {
			t.Fatalf("%s: drain did not end in 20 s (%d frames): a receiver that never catches up", ifc.Name(), n)
		}
	}
}

// recvOne waits up to 5 s for one frame (a bound against hangs, not a
// timing assertion: the frame is on the bus before the call).
func recvOne(t testing.TB, ifc *shmif.Interface) ([]byte, error) {
	buf := make([]byte, maxFrame)
	k, err := ifc.Recv(buf, 5*time.Second)
	if err != nil {
		return nil, err
	}
	return buf[:k], nil
}

// newBus makes a bus path in a fresh directory.
func newBus(t testing.TB) string {
	return filepath.Join(t.TempDir(), "bus")
}

// open opens an interface with reception starting after the records
// already on the bus, so that nothing is received twice by design (§3.2).
func open(t testing.TB, path string) *shmif.Interface {
	t.Helper()
	ifc, err := shmif.Open(path, -1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ifc.Destroy() })
	if err := ifc.SetStart(shmif.StartNext); err != nil {
		t.Fatal(err)
	}
	if err := ifc.Down(); err != nil {
		t.Fatal(err)
	}
	if err := ifc.Up(); err != nil {
		t.Fatal(err)
	}
	return ifc
}

// sender is a libshmif writer of numbered frames.
type sender struct {
	ifc *shmif.Interface
	id  uint32
	seq uint64
	rng *rand.Rand
}

func (s *sender) frame(n int) []byte {
	f := mkFrame(s.id, s.seq, n)
	s.seq++
	return f
}

func (s *sender) randLen() int {
	switch s.rng.IntN(3) {
	case 0:
		return minTest + s.rng.IntN(40)
	case 1:
		return maxFrame
	}
	return minTest + s.rng.IntN(maxFrame-minTest+1)
}

func (s *sender) send(t testing.TB, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if err := s.ifc.Send(s.frame(s.randLen())); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
}

// sendBytes sends frames until at least total record bytes went out.
func (s *sender) sendBytes(t testing.TB, total int) int {
	t.Helper()
	n, sum := 0, 0
	for sum < total {
		l := s.randLen()
		if err := s.ifc.Send(s.frame(l)); err != nil {
			t.Fatalf("Send: %v", err)
		}
		sum += hdrSize + l
		n++
	}
	return n
}

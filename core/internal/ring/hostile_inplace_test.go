package ring

// Hostile tests of two changes: record headers decoded and encoded in place
// unless they reach the end of the data area (readHeader, nextPktOff,
// Writer.writeEpoch), and the time-bounded wait of lock-free batch readers
// for the bus lock to be free (lockFreeSoon). Offsets read from the bus are
// untrusted; the fast paths must behave exactly as the copy-through paths
// (busRead, Writer.busWrite) on every offset, and never touch a byte
// outside the data area.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/libshmif/libshmif/core/internal/layout"
	"github.com/libshmif/libshmif/internal/testlib"
)

// guardedBus returns an initialised bus in an anonymous mapping whose data
// area ends exactly where the mapping's accessible part does: the page
// after it is PROT_NONE, and the slice's capacity runs onto that page, so
// that a slice expression reaching past the data area is not stopped by a
// bounds check but faults (layout.CatchFault tells).
func guardedBus(t testing.TB) *layout.Mem {
	t.Helper()
	page := unix.Getpagesize()
	b, err := unix.Mmap(-1, 0, layout.BusSize+page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Munmap(b) })
	if err := unix.Mprotect(b[layout.BusSize:], unix.PROT_NONE); err != nil {
		t.Fatal(err)
	}
	m := layout.NewMem(b[:layout.BusSize])
	Init(m)
	return m
}

const (
	poisonLen  = 4096
	poisonByte = 0xa5
)

// poisonedBus returns an initialised heap bus followed, inside the slice's
// capacity, by poison bytes: a read past the data area decodes poison
// instead of panicking, and a write past it changes them (intact tells).
type poisonedBus struct {
	m    *layout.Mem
	tail []byte
}

func newPoisonedBus(t testing.TB) poisonedBus {
	t.Helper()
	b := make([]byte, layout.BusSize+poisonLen)
	tail := b[layout.BusSize:]
	for k := range tail {
		tail[k] = poisonByte
	}
	m := layout.NewMem(b[:layout.BusSize])
	Init(m)
	return poisonedBus{m, tail}
}

func (p poisonedBus) intact() bool {
	for _, c := range p.tail {
		if c != poisonByte {
			return false
		}
	}
	return true
}

// fold is what every function of the package does to an offset read from
// the bus: an offset past DataSize is taken modulo DataSize; DataSize itself
// stays (it reads as 0, docs/protocol.md §2.2).
func fold(off uint32) uint32 {
	if off > dataSize {
		return off % dataSize
	}
	return off
}

// refRead is the reference copy out of the ring, byte by byte
// (docs/protocol.md §2.2): it returns the n bytes at off, the offset after
// them and whether the read touched the end of the data area.
func refRead(data []byte, off, n uint32) (b []byte, next uint32, wrap bool) {
	p := fold(off)
	b = make([]byte, n)
	for k := range b {
		if p == dataSize {
			p, wrap = 0, true
		}
		b[k] = data[p]
		p++
	}
	if p == dataSize {
		p, wrap = 0, true
	}
	return b, p, wrap
}

// refWrite is the reference copy into the ring, byte by byte.
func refWrite(data []byte, off uint32, src []byte) {
	p := fold(off)
	for _, c := range src {
		if p == dataSize {
			p = 0
		}
		data[p] = c
		p++
	}
}

// refHeader decodes the header at off through a plain copy.
func refHeader(data []byte, off uint32) (h layout.FrameHeader, next uint32, wrap, ok bool) {
	b, next, wrap := refRead(data, off, hdrSize)
	h.Len = layout.NativeEndian.Uint32(b[layout.OffLen:])
	h.Sec = layout.NativeEndian.Uint32(b[layout.OffSec:])
	h.Usec = layout.NativeEndian.Uint32(b[layout.OffUsec:])
	if layout.HasSeq {
		h.Seq = layout.NativeEndian.Uint32(b[layout.OffSeq:])
	}
	h.Sender = layout.NativeEndian.Uint64(b[layout.OffSender:])
	return h, next, wrap, h.Len <= layout.MaxFrame
}

// refLastInsideChain is docs/protocol.md §9.8's test for a last that a
// stranger moved into an older record: the record at last is damaged, and
// one of the records from first (0 for DataSize) on starts before last and
// ends past it.
func refLastInsideChain(data []byte, first, last uint32) bool {
	if _, _, _, ok := refHeader(data, last); ok {
		return false
	}
	dist := func(a, b uint32) uint32 { return (b + dataSize - a) % dataSize }
	off := first % dataSize
	for range dataSize/hdrSize + 1 {
		if off == last {
			return false
		}
		next, ok := refNextPktOff(data, off)
		if !ok || next == off {
			return false
		}
		if dist(off, next) > dist(off, last) {
			return true
		}
		off = next
	}
	return false
}

// refNextPktOff is docs/protocol.md §2.3 and §2.1 on a folded offset, with
// a length over MaxFrame as damage (the offset, folded, and false).
func refNextPktOff(data []byte, off uint32) (uint32, bool) {
	off = fold(off)
	b, _, _ := refRead(data, off, 4)
	n := layout.NativeEndian.Uint32(b)
	if n > layout.MaxFrame {
		return off, false
	}
	end := off + hdrSize + n
	if end >= dataSize {
		end -= dataSize
	}
	return end, true
}

// hostileOffsets are offsets a damaged bus may hold: every offset near
// either end of the data area, and offsets past it that fold onto the
// places where a header starts to wrap.
func hostileOffsets() []uint32 {
	const near = 2*hdrSize + layout.MaxFrame + 8
	var offs []uint32
	for off := uint32(0); off <= near; off++ {
		offs = append(offs, off)
	}
	for off := dataSize - near; off <= dataSize; off++ {
		offs = append(offs, off)
	}
	ends := []uint32{0, 1, hdrSize, dataSize - hdrSize - 1, dataSize - hdrSize, dataSize - hdrSize + 1,
		dataSize - 5, dataSize - 4, dataSize - 3, dataSize - 1}
	for _, laps := range []uint64{1, 2, 3, 4095, 4096} {
		for _, r := range ends {
			if v := laps*uint64(dataSize) + uint64(r); v <= 0xffffffff && v != uint64(dataSize) {
				offs = append(offs, uint32(v))
			}
		}
	}
	return append(offs, dataSize+1, 0x7fffffff, 0x80000000, 0xffffffe8, 0xfffffffc, 0xfffffffd, 0xffffffff)
}

// Every offset a bus may hold, with every kind of length word: readHeader
// and nextPktOff must return exactly what a plain copy out of the ring
// gives, and touch nothing outside the data area (a guard page after it, or
// poison inside the slice's capacity).
func TestHostileHeaderDecodeMatchesCopy(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	pb := newPoisonedBus(t)
	lens := []uint32{0, 1, 13, 14, 60, 1513, layout.MaxFrame, layout.MaxFrame + 1, 0xffff, dataSize - 1, dataSize, 0x80000000, 0xffffffff}
	offs := hostileOffsets()
	for _, bus := range []struct {
		name string
		m    *layout.Mem
	}{{"guard page", guardedBus(t)}, {"poisoned capacity", pb.m}} {
		data := bus.m.Data()
		for k := range data {
			data[k] = byte(rng.Uint32())
		}
		checked := 0
		check := func(off uint32, what string) {
			h, next, wrap, ok := readHeader(data, off)
			rh, rnext, rwrap, rok := refHeader(data, off)
			if h != rh || next != rnext || wrap != rwrap || ok != rok {
				t.Fatalf("%s, %s at %#x: readHeader = %+v, %#x, %v, %v; a plain copy gives %+v, %#x, %v, %v",
					bus.name, what, off, h, next, wrap, ok, rh, rnext, rwrap, rok)
			}
			n, ok := nextPktOff(data, off)
			rn, rok := refNextPktOff(data, off)
			if n != rn || ok != rok {
				t.Fatalf("%s, %s at %#x: nextPktOff = %#x, %v; a plain copy gives %#x, %v", bus.name, what, off, n, ok, rn, rok)
			}
			checked++
		}
		if layout.CatchFault(func() {
			for _, off := range offs {
				check(off, "random bytes")
				for _, n := range lens {
					h := layout.FrameHeader{Len: n, Sec: rng.Uint32(), Usec: rng.Uint32(), Seq: rng.Uint32(), Sender: rng.Uint64()}
					var b [layout.FrameHeaderSize]byte
					h.Encode(b[:])
					refWrite(data, off, b[:])
					check(off, fmt.Sprintf("a header of length %#x", n))
				}
			}
		}) {
			t.Fatalf("%s: a header was read outside the data area", bus.name)
		}
		t.Logf("%s: %d offsets and contents agree", bus.name, checked)
	}
	if !pb.intact() {
		t.Fatal("the bytes after the data area changed")
	}
}

// hfFrame is frame number seq, of n bytes: its seq, its length and a
// pattern that differs from frame to frame, so that a frame torn between
// two records, shifted or cut short does not compare equal.
func hfFrame(seq uint32, n int) []byte {
	f := make([]byte, n)
	for k := range f {
		f[k] = byte(seq*13) + byte(k*7) + byte(k>>8)
	}
	if n >= 8 {
		binary.LittleEndian.PutUint32(f, seq)
		binary.LittleEndian.PutUint32(f[4:], uint32(n))
	}
	return f
}

// hfCheck reports what is wrong with a frame received with header h, if
// anything: its bytes must be those of the frame its seq names, of the
// length h gives, and h's Seq the same (the writers number frames 1, 2...).
func hfCheck(h layout.FrameHeader, f []byte) (seq uint32, err error) {
	if len(f) < 8 {
		return 0, fmt.Errorf("frame of %d bytes", len(f))
	}
	seq = binary.LittleEndian.Uint32(f)
	if !bytes.Equal(f, hfFrame(seq, len(f))) {
		return seq, fmt.Errorf("torn or corrupt frame: %d bytes, says seq %d, length %d", len(f), seq, binary.LittleEndian.Uint32(f[4:]))
	}
	if layout.HasSeq && h.Seq != seq {
		return seq, fmt.Errorf("frame %d in a record numbered %d", seq, h.Seq)
	}
	return seq, nil
}

// hostileBatch reads one lock-free batch, like readBatch but without a
// testing.T (it runs in reader goroutines too). ok false: TryBegin
// declined or TryEnd refused, and the reader is as before.
func hostileBatch(r *Reader, m *layout.Mem, buf []byte) (hs []layout.FrameHeader, frames [][]byte, ok bool, err error) {
	saved := *r
	b, ok := r.TryBegin(m)
	if !ok {
		if *r != saved {
			return nil, nil, false, fmt.Errorf("TryBegin declined and changed the reader")
		}
		return nil, nil, false, nil
	}
	for {
		var h layout.FrameHeader
		ok := r.TryCopy(m, &b, buf, &h)
		if !ok {
			break
		}
		hs = append(hs, h)
		frames = append(frames, append([]byte(nil), buf[:h.Len]...))
	}
	if !r.TryEnd(m, &b) {
		*r = saved
		return nil, nil, false, nil
	}
	return hs, frames, true, nil
}

// sent is a record a test wrote: its header fields and frame.
type sent struct {
	h layout.FrameHeader
	f []byte
}

// readAll reads everything a reader has not read, in one of three ways:
// Next only ("next"), TryNext and else Next ("trynext"), or lock-free
// batches and else Next ("batch"); single goroutine, no lock taken. It
// returns the frames with their headers.
func readAll(t *testing.T, how string, r *Reader, m *layout.Mem, buf []byte) (got []sent) {
	t.Helper()
	for range 10000 {
		switch how {
		case "batch":
			hs, frames, ok, err := hostileBatch(r, m, buf)
			if err != nil {
				t.Fatal(err)
			}
			if ok && len(hs) > 0 {
				for k := range hs {
					got = append(got, sent{hs[k], frames[k]})
				}
				continue
			}
		case "trynext":
			if h, ok := tryNext(r, m, buf); ok {
				got = append(got, sent{h, append([]byte(nil), buf[:h.Len]...)})
				continue
			}
		}
		h, st := r.Next(m, buf)
		if st == Empty {
			return got
		}
		if st != Frame {
			t.Fatalf("%s reader: %v", how, st)
		}
		got = append(got, sent{h, append([]byte(nil), buf[:h.Len]...)})
	}
	t.Fatalf("%s reader: no end", how)
	return nil
}

// sameFrames reports the first difference between the frames a reader got
// and the records written (those shorter than an Ethernet header are not
// frames), or "".
func sameFrames(got, want []sent) string {
	var frames []sent
	for _, w := range want {
		if len(w.f) >= layout.MinFrame {
			frames = append(frames, w)
		}
	}
	for k := range max(len(got), len(frames)) {
		switch {
		case k >= len(got):
			return fmt.Sprintf("frame %d of %d (%d bytes, seq %d) not received", k, len(frames), len(frames[k].f), frames[k].h.Seq)
		case k >= len(frames):
			return fmt.Sprintf("received %d frames, %d written: extra %+v", len(got), len(frames), got[k].h)
		case got[k].h != frames[k].h || !bytes.Equal(got[k].f, frames[k].f):
			return fmt.Sprintf("frame %d: received %+v (%d bytes), written %+v", k, got[k].h, len(got[k].f), frames[k].h)
		}
	}
	return ""
}

// stepTo returns the length of the next frame for a writer at pos that
// heads for a header at data offset at (dataSize: at 0, after a record
// that ends exactly at the end), near the end of the data area; 0 when it
// is not near it, or past it.
func stepTo(pos, at uint32) int {
	const minRec, maxRec = hdrSize + layout.MinFrame, hdrSize + layout.MaxFrame
	if pos < dataSize-6000 || pos >= at {
		return 0
	}
	d := at - pos
	switch {
	case d >= minRec && d <= maxRec:
		return int(d - hdrSize)
	case d > maxRec:
		return int(min(layout.MaxFrame, d-minRec-hdrSize))
	}
	return 0
}

// target is a header at data offset at (dataSize: at 0, right after a
// record that ends exactly at the end of the data area), with a frame of n
// bytes (-1: any).
type target struct {
	at uint32
	n  int
}

// hostileTargets are the places near the end of the data area where the
// in-place paths must hand over to the copying ones: headers that end
// before the end, exactly at it or across it; frames that end just before
// it, exactly at it, just after it. withEmpty adds records shorter than an
// Ethernet header there (readers skip them, writers number them).
func hostileTargets(withEmpty bool) []target {
	var ts []target
	for _, back := range []uint32{2*hdrSize + layout.MaxFrame, hdrSize + layout.MaxFrame, hdrSize + layout.MaxFrame - 1,
		2 * hdrSize, 2*hdrSize - 1, hdrSize + 2, hdrSize + 1, hdrSize, hdrSize - 1, hdrSize - 2, hdrSize / 2,
		5, 4, 3, 2, 1, 0} {
		ts = append(ts, target{dataSize - back, -1})
	}
	for _, n := range []int{layout.MinFrame, 60, layout.MaxFrame - 1, layout.MaxFrame} {
		for _, past := range []int{-1, 0, 1} {
			ts = append(ts, target{uint32(int(dataSize) - int(hdrSize) - n + past), n})
		}
	}
	if withEmpty {
		ts = append(ts, target{dataSize - hdrSize, 0}, target{dataSize - hdrSize - 1, 0}, target{dataSize - hdrSize + 1, 0},
			target{dataSize - hdrSize - 13, 13}, target{dataSize - 1, 0}, target{dataSize, 0})
	}
	return ts
}

// steerer chooses frame lengths: random ones, and near the end of the data
// area ones that put a header on each target in turn, lap after lap.
type steerer struct {
	rng     *rand.Rand
	targets []target
	ti      int
	hits    []int
	empty   bool // random records shorter than an Ethernet header now and then
}

func newSteerer(seed uint64, withEmpty bool) *steerer {
	ts := hostileTargets(withEmpty)
	return &steerer{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), targets: ts, hits: make([]int, len(ts)), empty: withEmpty}
}

// next returns the length of the frame a writer at pos writes next.
func (s *steerer) next(pos uint32) int {
	tg := s.targets[s.ti]
	if pos == tg.at%dataSize {
		s.hits[s.ti]++
		s.ti = (s.ti + 1) % len(s.targets)
		if tg.n >= 0 {
			return tg.n
		}
	} else if n := stepTo(pos, tg.at); n > 0 {
		return n
	}
	if s.empty && s.rng.IntN(100) == 0 {
		return s.rng.IntN(layout.MinFrame)
	}
	if s.rng.IntN(4) == 0 {
		return layout.MaxFrame - s.rng.IntN(3)
	}
	return layout.MinFrame + s.rng.IntN(layout.MaxFrame-layout.MinFrame+1)
}

// missed returns the targets never hit.
func (s *steerer) missed() (ts []target) {
	for k, n := range s.hits {
		if n == 0 {
			ts = append(ts, s.targets[k])
		}
	}
	return ts
}

// withCopyingWriter runs fn with the writers on the copying path for every
// header (the test hook crash set, never striking).
func withCopyingWriter(fn func()) {
	crash = func() bool { return false }
	defer func() { crash = nil }()
	fn()
}

// sameWords reports whether two buses have the same header words.
func sameWords(a, b *layout.Mem) bool {
	return a.Gen() == b.Gen() && a.First() == b.First() && a.Last() == b.Last()
}

// A writer whose records start at every offset of the last 2 × HDRSIZE +
// 1514 bytes of the data area (and at 0 after a record ending exactly at
// the end), with frames of every length class after them, on a ring in
// its third generation: the bus it leaves, header words after every
// record included, is the one a writer copying every header leaves; and
// readers that read by Next, TryNext or lock-free batches get exactly the
// frames written, nothing lost or skipped, and end at the write position
// in its generation.
func TestHostileWriterEveryOffsetNearTheEnd(t *testing.T) {
	const window = 2*hdrSize + layout.MaxFrame
	const region = 8 << 10 // the bytes a case writes lie in the last and first region bytes
	w0 := dataSize - window - 200
	lens := []int{0, 13, layout.MinFrame, 60, layout.MaxFrame - 1, layout.MaxFrame}
	seeds, stride := []uint64{3, 4}, uint32(1)
	if testlib.Race {
		seeds, stride = seeds[:1], 7
	}
	fast, slow := guardedBus(t), newPoisonedBus(t)
	buf := make([]byte, layout.MaxFrame)
	cases := 0
	for _, seed := range seeds {
		// The base: a ring in its third generation, whose next record
		// goes at w0, the records of the lap before ahead of it (their
		// headers, which the writer's walk of first reads, start at
		// offsets of the seed's choosing), a reader just behind.
		base := newBus(t)
		st := newSteerer(seed, false)
		st.targets = []target{{w0, -1}}
		var hdr layout.FrameHeader
		seq := uint32(0)
		for v := look(base); v.gen < 2 || v.next != w0; v = look(base) {
			seq++
			n := st.next(v.next)
			Append(base, &hdr, hfFrame(seq, n))
		}
		var baseReader Reader
		baseReader.Skip(base)
		baseBytes := slices.Clone(base.Bytes())
		restore := func(m *layout.Mem) {
			b, d, bd := m.Bytes(), m.Data(), baseBytes[layout.HeaderSize:]
			copy(b[:layout.HeaderSize], baseBytes[:layout.HeaderSize])
			copy(d[:region], bd[:region])
			copy(d[dataSize-region:], bd[dataSize-region:])
		}
		copy(fast.Bytes(), baseBytes)
		copy(slow.m.Bytes(), baseBytes)

		for at := dataSize - window; at <= dataSize; at += stride {
			// Records up to at: one, or two when one cannot reach.
			var sizes []int
			if d := int(at - w0); d <= int(hdrSize+layout.MaxFrame) {
				sizes = []int{d - int(hdrSize)}
			} else {
				sizes = []int{d/2 - int(hdrSize), d - d/2 - int(hdrSize)}
			}
			for _, n := range lens {
				for _, batch := range []bool{false, true} {
					cases++
					restore(fast)
					restore(slow.m)
					// Then the frame at at and three that
					// place headers across the end.
					all := append(slices.Clone(sizes), n, layout.MaxFrame, 61, layout.MinFrame)
					hdr := layout.FrameHeader{Sec: at, Usec: uint32(n), Sender: uint64(cases)<<32 | 0x55aa}
					var want []sent
					var frames [][]byte
					for k, size := range all {
						s := seq + uint32(k) + 1
						h := hdr
						h.Len, h.Seq = uint32(size), s
						if !layout.HasSeq {
							h.Seq = 0
						}
						f := hfFrame(s, size)
						want = append(want, sent{h, f})
						frames = append(frames, f)
					}
					name := fmt.Sprintf("seed %d, header at %#x, frame of %d, batch %v", seed, at, n, batch)
					if layout.CatchFault(func() {
						if batch {
							hf, hs := hdr, hdr
							wf := NewWriter(fast)
							wf.AppendBatch(&hf, frames)
							withCopyingWriter(func() {
								ws := NewWriter(slow.m)
								ws.AppendBatch(&hs, frames)
							})
						} else {
							for k, f := range frames {
								hf, hs := hdr, hdr
								Append(fast, &hf, f)
								withCopyingWriter(func() { Append(slow.m, &hs, f) })
								if !sameWords(fast, slow.m) {
									t.Fatalf("%s, record %d: in place gen %d first %#x last %#x; copied gen %d first %#x last %#x",
										name, k, fast.Gen(), fast.First(), fast.Last(), slow.m.Gen(), slow.m.First(), slow.m.Last())
								}
								// The frame at at is in the third generation
								// if it reaches the end, else in the second.
								if wantGen := 2 + b2u(at+hdrSize+uint32(n) >= dataSize); k == len(sizes) && fast.Gen() != wantGen {
									t.Fatalf("%s: gen %d after the frame at %#x, want %d", name, fast.Gen(), at, wantGen)
								}
							}
						}
					}) {
						t.Fatalf("%s: the writer wrote outside the data area", name)
					}
					if !sameWords(fast, slow.m) {
						t.Fatalf("%s: in place gen %d first %#x last %#x; copied gen %d first %#x last %#x",
							name, fast.Gen(), fast.First(), fast.Last(), slow.m.Gen(), slow.m.First(), slow.m.Last())
					}
					fd, sd := fast.Data(), slow.m.Data()
					if !bytes.Equal(fd[:region], sd[:region]) || !bytes.Equal(fd[dataSize-region:], sd[dataSize-region:]) {
						t.Fatalf("%s: the records differ", name)
					}
					// The header of the frame at at is where it
					// should be, in the generation it should be.
					if h, _, _, _ := refHeader(fd, at); h != want[len(sizes)].h {
						t.Fatalf("%s: the header at %#x reads %+v, want %+v", name, at, h, want[len(sizes)].h)
					}
					if fast.Gen() != 3 {
						t.Fatalf("%s: gen %d, want 3", name, fast.Gen())
					}
					var readers [3]Reader
					for k, how := range []string{"next", "trynext", "batch"} {
						r := baseReader
						var got []sent
						if layout.CatchFault(func() { got = readAll(t, how, &r, fast, buf) }) {
							t.Fatalf("%s: the %s reader read outside the data area", name, how)
						}
						if d := sameFrames(got, want); d != "" {
							t.Fatalf("%s: %s reader: %s", name, how, d)
						}
						v := look(fast)
						if r.Lost != 0 || r.Corrupt != 0 || r.Overruns != 0 || r.next != v.next || r.gen != v.gen {
							t.Fatalf("%s: %s reader ends at %#x in generation %d, lost %d, corrupt %d, %d overruns; the writers are at %#x in generation %d",
								name, how, r.next, r.gen, r.Lost, r.Corrupt, r.Overruns, v.next, v.gen)
						}
						readers[k] = r
					}
					if readers[0] != readers[1] || readers[0] != readers[2] {
						t.Fatalf("%s: the readers differ: %+v, %+v, %+v", name, readers[0], readers[1], readers[2])
					}
				}
			}
		}
		// Nothing outside the regions was written, on either bus.
		if !bytes.Equal(fast.Data()[region:dataSize-region], baseBytes[layout.HeaderSize+region:layout.HeaderSize+dataSize-region]) ||
			!bytes.Equal(slow.m.Data()[region:dataSize-region], baseBytes[layout.HeaderSize+region:layout.HeaderSize+dataSize-region]) {
			t.Fatalf("seed %d: bytes away from the end changed", seed)
		}
	}
	if !slow.intact() {
		t.Fatal("the copying writer wrote past the data area")
	}
	t.Logf("%d cases", cases)
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// Lap after lap, a writer puts headers on every place near the end where
// the in-place paths hand over to the copying ones, with frames ending just
// before the end, at it and just after it, records too short to be frames
// among them: the bus stays identical, header words and records, to one a
// writer copying every header writes; readers by Next, TryNext and
// lock-free batches, following all along, get exactly the frames written
// and agree with each other, state for state.
func TestHostileInPlaceAcrossManyLaps(t *testing.T) {
	fast, slow := guardedBus(t), newPoisonedBus(t)
	st := newSteerer(5, true)
	laps := uint64(longRun(2*len(st.targets)+2, 20*len(st.targets)))
	hows := []string{"next", "trynext", "batch"}
	var readers [3]Reader
	var queues [3][]sent
	for k := range readers {
		readers[k].Start(fast)
	}
	bursts := rand.New(rand.NewPCG(6, 7))
	buf := make([]byte, layout.MaxFrame)
	seq, frames, gen := uint32(0), 0, uint64(0)
	for fast.Gen() < laps {
		pos := look(fast).next
		var batch [][]byte
		var written []sent
		hdr := layout.FrameHeader{Sec: uint32(frames), Usec: pos, Sender: 0x0102030405060708}
		for range 1 + bursts.IntN(12) {
			n := st.next(pos)
			seq++
			f := hfFrame(seq, n)
			h := hdr
			h.Len, h.Seq = uint32(n), seq
			if !layout.HasSeq {
				h.Seq = 0
			}
			batch = append(batch, f)
			written = append(written, sent{h, f})
			pos = advance(pos, hdrSize+uint32(n))
		}
		if layout.CatchFault(func() {
			hf, hs := hdr, hdr
			w := NewWriter(fast)
			w.AppendBatch(&hf, batch)
			if next, _ := w.Next(); next != pos {
				t.Fatalf("the writer is at %#x, its records add up to %#x", next, pos)
			}
			withCopyingWriter(func() {
				w := NewWriter(slow.m)
				w.AppendBatch(&hs, batch)
			})
		}) {
			t.Fatalf("after %d frames: the writer wrote outside the data area", frames)
		}
		frames += len(batch)
		if !sameWords(fast, slow.m) {
			t.Fatalf("after %d frames: in place gen %d first %#x last %#x; copied gen %d first %#x last %#x",
				frames, fast.Gen(), fast.First(), fast.Last(), slow.m.Gen(), slow.m.First(), slow.m.Last())
		}
		if fast.Gen() != gen {
			gen = fast.Gen()
			if !bytes.Equal(fast.Bytes(), slow.m.Bytes()) {
				t.Fatalf("after %d frames, generation %d: the buses differ", frames, gen)
			}
		}
		for k, how := range hows {
			queues[k] = append(queues[k], written...)
			var got []sent
			if layout.CatchFault(func() { got = readAll(t, how, &readers[k], fast, buf) }) {
				t.Fatalf("after %d frames: the %s reader read outside the data area", frames, how)
			}
			if d := sameFrames(got, queues[k]); d != "" {
				t.Fatalf("after %d frames, generation %d: %s reader: %s", frames, fast.Gen(), how, d)
			}
			queues[k] = queues[k][:0]
			r := &readers[k]
			if r.Lost != 0 || r.Corrupt != 0 || r.Overruns != 0 {
				t.Fatalf("after %d frames: %s reader lost %d, corrupt %d, %d overruns", frames, how, r.Lost, r.Corrupt, r.Overruns)
			}
		}
		if readers[0] != readers[1] || readers[0] != readers[2] {
			t.Fatalf("after %d frames: the readers differ: %+v, %+v, %+v", frames, readers[0], readers[1], readers[2])
		}
	}
	if !bytes.Equal(fast.Bytes(), slow.m.Bytes()) || !slow.intact() {
		t.Fatal("at the end: the buses differ, or the copying writer wrote past the data area")
	}
	if fast.Gen() >= uint64(2*len(st.targets)) {
		if m := st.missed(); len(m) > 0 {
			t.Fatalf("setup: targets never reached: %+v", m)
		}
	}
	t.Logf("%d frames in %d generations", frames, fast.Gen())
}

// probe reads up to limit times from a damaged bus, in one of the three
// ways of readAll, and checks every frame it gets against a plain copy out
// of the ring at the offset the reader says it read: the header, the bytes,
// and where the reader stands after them.
func probe(how string, r *Reader, m *layout.Mem, buf []byte, limit int) (frames int, err error) {
	data := m.Data()
	check := func(h layout.FrameHeader, f []byte) error {
		frames++
		rh, off, _, ok := refHeader(data, r.Offset)
		if !ok || rh != h || h.Len < layout.MinFrame {
			return fmt.Errorf("%s: frame %+v at %#x, a plain copy reads %+v (ok %v) there", how, h, r.Offset, rh, ok)
		}
		b, end, _ := refRead(data, off, h.Len)
		if !bytes.Equal(b, f) {
			return fmt.Errorf("%s: the frame at %#x differs from a plain copy", how, r.Offset)
		}
		if r.next != end {
			return fmt.Errorf("%s: after the frame at %#x the reader is at %#x, want %#x", how, r.Offset, r.next, end)
		}
		return nil
	}
	for range limit {
		switch how {
		case "batch":
			saved := *r
			b, ok := r.TryBegin(m)
			if ok {
				for {
					var h layout.FrameHeader
					ok := r.TryCopy(m, &b, buf, &h)
					if !ok {
						break
					}
					if err := check(h, buf[:h.Len]); err != nil {
						return frames, err
					}
				}
				if !r.TryEnd(m, &b) {
					*r = saved
				}
				continue
			} else if *r != saved {
				return frames, fmt.Errorf("TryBegin declined and changed the reader")
			}
		case "trynext":
			if h, ok := tryNext(r, m, buf); ok {
				if err := check(h, buf[:h.Len]); err != nil {
					return frames, err
				}
				continue
			}
		}
		h, st := r.Next(m, buf)
		switch st {
		case Empty:
			return frames, nil
		case Frame:
			if err := check(h, buf[:h.Len]); err != nil {
				return frames, err
			}
		default:
			return frames, fmt.Errorf("%s: %v with a buffer of MaxFrame", how, st)
		}
	}
	return frames, nil
}

// Header words any process may have written (last, first, gen: beyond the
// data area, 0xffffffff, DataSize, a header or four bytes short of it...)
// over a ring of real records, with the header they point at of every kind
// of length: readers that start there (Start, StartOldest, Skip) or were
// reading before, by Next, TryNext or batches, never read outside the data
// area and every frame they deliver is what a plain copy reads at the
// offset they read it from; NewWriter finds the newest record as a plain
// copy would; writers in place and copying leave the same bus, write
// nothing past the data area, and the frames they append after the repair
// reach readers whole.
func TestHostileHeaderWords(t *testing.T) {
	// The ring: three generations of records, headers near the end at
	// the places where the in-place paths hand over.
	tmpl := newBus(t)
	st := newSteerer(8, true)
	var hdr layout.FrameHeader
	seq := uint32(0)
	var before Reader
	for tmpl.Gen() < 3 {
		seq++
		Append(tmpl, &hdr, hfFrame(seq, st.next(look(tmpl).next)))
		if tmpl.Gen() == 2 && !before.anchored {
			before.Skip(tmpl)
		}
	}
	realLast, realFirst := tmpl.Last(), tmpl.First()
	tmplBytes := slices.Clone(tmpl.Bytes())

	lasts := []uint32{realLast, 0, 1, hdrSize - 1, hdrSize, dataSize / 2, dataSize - 2*hdrSize - layout.MaxFrame,
		dataSize - 2*hdrSize, dataSize - hdrSize - 1, dataSize - hdrSize, dataSize - hdrSize + 1, dataSize - 5,
		dataSize - 4, dataSize - 3, dataSize - 1, dataSize, dataSize + 1, 2*dataSize - hdrSize, 2*dataSize - 3,
		0x7fffffff, 0xfffffffc, 0xffffffff}
	firsts := []uint32{realFirst, 0, hdrSize, dataSize - hdrSize, dataSize - 3, dataSize - 1, dataSize, dataSize + 1, 0xffffffff}
	gens := []uint64{tmpl.Gen(), 0, 1, 1 << 40, ^uint64(0)}
	lens := []uint32{0, layout.MinFrame, 60, layout.MaxFrame, layout.MaxFrame + 1, 0xffffffff}
	if testlib.Race {
		// One goroutine: a quarter, for the race pass (make test's
		// pass without it runs the whole).
		firsts = []uint32{realFirst, dataSize - 3, dataSize, 0xffffffff}
		gens = gens[:1]
	}
	hows := []string{"next", "trynext", "batch"}
	if !layout.LoadsOrdered {
		// TryNext and batches decline at once: they would read
		// as Next does.
		hows = hows[:1]
	}
	fast, slow := guardedBus(t), newPoisonedBus(t)
	buf := make([]byte, layout.MaxFrame)
	cases, probed, resets := 0, 0, 0
	for _, last := range lasts {
		for _, first := range firsts {
			for _, gen := range gens {
				cases++
				name := fmt.Sprintf("last %#x, first %#x, gen %#x", last, first, gen)
				copy(fast.Bytes(), tmplBytes)
				data := fast.Data()
				fast.SetLast(last)
				fast.SetFirst(first)
				fast.SetGen(gen)
				// Half the cases keep the ring's bytes where
				// the words point; the others plant a header.
				if cases%2 == 0 {
					for k, off := range []uint32{last, first} {
						h := layout.FrameHeader{Len: lens[(cases/2+k)%len(lens)], Sec: uint32(cases), Seq: seq + 1, Sender: 9}
						var b [layout.FrameHeaderSize]byte
						h.Encode(b[:])
						refWrite(data, off, b[:])
					}
				}
				planted := slices.Clone(fast.Bytes())

				// Readers.
				for _, how := range hows {
					for _, start := range []string{"Start", "StartOldest", "Skip", "reading before"} {
						if layout.CatchFault(func() {
							var r Reader
							switch start {
							case "Start":
								r.Start(fast)
							case "StartOldest":
								r.StartOldest(fast)
							case "Skip":
								r.Skip(fast)
							default:
								r = before
							}
							n, err := probe(how, &r, fast, buf, 6)
							if err != nil {
								t.Fatalf("%s, %s: %v", name, start, err)
							}
							probed += n
						}) {
							t.Fatalf("%s, %s, %s: a reader read outside the data area", name, start, how)
						}
					}
				}
				if !bytes.Equal(fast.Bytes(), planted) {
					t.Fatalf("%s: readers changed the bus", name)
				}

				// NewWriter finds the newest record as a plain
				// copy does.
				copy(slow.m.Bytes(), planted)
				var wf Writer
				if layout.CatchFault(func() { wf = NewWriter(fast) }) {
					t.Fatalf("%s: NewWriter read outside the data area", name)
				}
				if last < dataSize && first <= dataSize && !refLastInsideChain(planted[layout.HeaderSize:], first, last) {
					h, end, _, ok := refHeader(planted[layout.HeaderSize:], last)
					want := last
					if ok {
						if want = end + h.Len; want >= dataSize {
							want -= dataSize
						}
					}
					if wf.next != want || wf.seq != h.Seq || wf.emptyFirst == ok {
						t.Fatalf("%s: NewWriter: next %#x, seq %d, damaged %v; a plain copy reads %+v there (ok %v): next %#x",
							name, wf.next, wf.seq, wf.emptyFirst, h, ok, want)
					}
				} else {
					resets++
					// Reset: numbered after the newest record
					// if last names one.
					want := uint32(2)
					if last < dataSize {
						if h, _, _, ok := refHeader(planted[layout.HeaderSize:], last); ok {
							want = h.Seq + 2
						}
					}
					if wf.next != 2*hdrSize || wf.seq != want {
						t.Fatalf("%s: NewWriter after a reset: next %#x, seq %d, want %#x, %d", name, wf.next, wf.seq, 2*hdrSize, want)
					}
				}
				// That NewWriter repaired the bus already: start
				// again from the damaged one.
				copy(fast.Bytes(), planted)

				// Writers, in place and copying, then readers of
				// what they append after the repair.
				var readers [3]Reader
				var want []sent
				if layout.CatchFault(func() {
					for k, n := range []int{60, layout.MaxFrame, layout.MaxFrame, layout.MaxFrame, layout.MinFrame} {
						h := layout.FrameHeader{Sec: uint32(k), Sender: 0xfeed}
						f := hfFrame(seq+uint32(k)+1, n)
						hf, hs := h, h
						Append(fast, &hf, f)
						withCopyingWriter(func() { Append(slow.m, &hs, f) })
						if !layout.HasSeq {
							hf.Seq = 0
						}
						if !sameWords(fast, slow.m) {
							t.Fatalf("%s, frame %d: in place gen %d first %#x last %#x; copied gen %d first %#x last %#x",
								name, k, fast.Gen(), fast.First(), fast.Last(), slow.m.Gen(), slow.m.First(), slow.m.Last())
						}
						// The first three repair the bus; the
						// readers then get the last two. (A
						// reader that starts before them loses,
						// rightly, what a reset drops: see
						// TestResetLapsReaderAnchoredAcrossTheEnd
						// for a reader anchored across the end.)
						if k == 2 {
							for j := range readers {
								readers[j].Skip(fast)
							}
						} else if k > 2 {
							want = append(want, sent{hf, f})
						}
					}
				}) {
					t.Fatalf("%s: a writer wrote outside the data area", name)
				}
				if !bytes.Equal(fast.Bytes(), slow.m.Bytes()) {
					t.Fatalf("%s: the writers left different buses", name)
				}
				for j, how := range hows {
					got := readAll(t, how, &readers[j], fast, buf)
					if d := sameFrames(got, want); d != "" {
						t.Fatalf("%s: after the repair, %s reader: %s", name, how, d)
					}
				}
			}
		}
	}
	if !slow.intact() {
		t.Fatal("the copying writer wrote past the data area")
	}
	t.Logf("%d cases (%d with header words out of range), %d frames read from damaged buses", cases, resets, probed)
}

// watchdog runs fn and fails the test if it has not returned within
// limit: a wait for the lock that never gives up hangs there instead of
// hanging the test binary. It returns how long fn took.
func watchdog(t *testing.T, what string, limit time.Duration, fn func()) time.Duration {
	t.Helper()
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
		return time.Since(start)
	case <-time.After(limit):
		t.Fatalf("%s: still waiting after %v", what, limit)
		return 0
	}
}

// median returns the median of ds.
func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// A lock word left set for good (a holder stopped or killed; any value but
// 0 is held): lockFreeSoon, TryBegin and TryEnd give up, having changed
// nothing, after waiting lockWait (50 µs) and not much longer (asserted on
// the median at 200 ms, and 10 s for any call, so that a loaded machine
// does not fail it; a wait is never shorter than lockWait, whatever the
// load), and the reader then reads everything under the lock. A lock word
// that flaps does not keep TryBegin looking either.
func TestHostileStuckLock(t *testing.T) {
	const bound = 200 * time.Millisecond
	m := newBus(t)
	var r Reader
	r.Skip(m)
	seq := uint32(0)
	for range 150 {
		seq++
		appendFrame(m, hfFrame(seq, 1000), 1)
	}
	lock := m.LockWord()
	buf := make([]byte, layout.MaxFrame)
	var soon, begin, end []time.Duration
	slow := 0
	timed := func(what string, fn func()) time.Duration {
		d := watchdog(t, what, 10*time.Second, fn)
		if d > bound {
			if slow++; slow > 10 {
				t.Fatalf("%s: more than 10 calls took over %v to give up, the last %v", what, bound, d)
			}
		}
		return d
	}
	for _, word := range []uint32{1, 2, 0x80000000, 0xffffffff} {
		for range 25 {
			atomic.StoreUint32(lock, word)
			soon = append(soon, timed("lockFreeSoon", func() {
				if lockFreeSoon(lock) {
					t.Errorf("lock word %#x: lockFreeSoon says it is free", word)
				}
			}))
			saved := r
			begin = append(begin, timed("TryBegin", func() {
				if _, ok := r.TryBegin(m); ok || r != saved {
					t.Errorf("lock word %#x: TryBegin began, or changed the reader", word)
				}
			}))
			// A batch that began with the lock free, copied,
			// and finds it held for good.
			var b Batch
			if layout.LoadsOrdered {
				atomic.StoreUint32(lock, 0)
				var ok bool
				if b, ok = r.TryBegin(m); !ok {
					t.Fatal("setup: TryBegin declined a plain backlog")
				}
				if !r.TryCopy(m, &b, buf, new(layout.FrameHeader)) {
					t.Fatal("setup: TryCopy declined a plain frame")
				}
				atomic.StoreUint32(lock, word)
			}
			end = append(end, timed("TryEnd", func() {
				if r.TryEnd(m, &b) {
					t.Errorf("lock word %#x: TryEnd kept copies made while the lock is held", word)
				}
			}))
			r = saved
			if t.Failed() {
				t.FailNow()
			}
		}
	}
	for _, d := range []struct {
		name string
		ds   []time.Duration
		wait bool // waits for the lock (TryBegin declines at once without lock-free reads)
	}{{"lockFreeSoon", soon, true}, {"TryBegin", begin, layout.LoadsOrdered}, {"TryEnd", end, true}} {
		t.Logf("%s with the lock held: shortest %v, median %v, longest %v", d.name, slices.Min(d.ds), median(d.ds), slices.Max(d.ds))
		if median(d.ds) > bound {
			t.Errorf("%s takes %v to give up (median of %d)", d.name, median(d.ds), len(d.ds))
		}
		if d.wait && slices.Min(d.ds) < lockWait {
			t.Errorf("%s gives up after %v: it does not wait %v for the holder", d.name, slices.Min(d.ds), lockWait)
		}
	}

	// A holder that takes and drops the lock all the time.
	if layout.LoadsOrdered && runtime.GOMAXPROCS(0) > 1 {
		atomic.StoreUint32(lock, 0)
		var stop atomic.Bool
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				atomic.StoreUint32(lock, 1)
				for range 20 {
					layout.SpinPause()
				}
				atomic.StoreUint32(lock, 0)
				for range 20 {
					layout.SpinPause()
				}
			}
		}()
		var flap []time.Duration
		began := 0
		for range 200 {
			saved := r
			flap = append(flap, timed("TryBegin, lock flapping", func() {
				if _, ok := r.TryBegin(m); ok {
					began++
				}
			}))
			r = saved
		}
		stop.Store(true)
		wg.Wait()
		t.Logf("TryBegin with the lock flapping: %d of %d began, median %v, longest %v", began, len(flap), median(flap), slices.Max(flap))
		if median(flap) > bound {
			t.Errorf("TryBegin with the lock flapping takes %v (median)", median(flap))
		}
	}

	atomic.StoreUint32(lock, 0)
	got := readAll(t, "batch", &r, m, buf)
	for k, s := range got {
		if seq, err := hfCheck(s.h, s.f); err != nil || seq != uint32(k+1) {
			t.Fatalf("frame %d: seq %d, %v", k+1, seq, err)
		}
	}
	if len(got) != int(seq) || r.Lost != 0 {
		t.Fatalf("with the lock free again: read %d of %d frames, lost %d", len(got), seq, r.Lost)
	}
}

// grabLock takes the bus lock word by hand (0 to 1), as every writer does;
// false if the test is stopping.
func grabLock(m *layout.Mem, stop *atomic.Bool) bool {
	for !atomic.CompareAndSwapUint32(m.LockWord(), 0, 1) {
		if stop.Load() {
			return false
		}
		runtime.Gosched()
	}
	return true
}

func dropLock(m *layout.Mem) { atomic.StoreUint32(m.LockWord(), 0) }

// spinFor spins for d, on the CPU.
func spinFor(d time.Duration) {
	for start := time.Now(); time.Since(start) < d; {
		layout.SpinPause()
	}
}

// A writer that holds the lock word for long stretches (30 to 200 µs,
// writing a few frames every few microseconds through the Writer API, or
// nothing at all), puts headers on every hand-over place near the end of
// the data area lap after lap, and now and then laps the readers in one
// hold; two readers read by lock-free batches, TryNext, and Next under
// the lock. No reader accepts a torn frame or a frame twice or out of
// order, none reads outside the data area, nothing is counted corrupt, and
// for each reader the frames received and the frames counted lost add up
// to the frames written. (Under the race detector lock-free copies are
// not attempted, layout.LoadsOrdered: the readers read under the lock.)
func TestHostileLongHoldsUnderBatchReaders(t *testing.T) {
	const readers, ahead = 2, 300
	m := guardedBus(t)
	total := uint32(longRun(40000, 400000))
	var seen [readers]atomic.Uint32
	var written atomic.Uint32
	var done, stop atomic.Bool
	fail := func(format string, args ...any) {
		t.Errorf(format, args...)
		stop.Store(true)
	}
	minSeen := func() uint32 {
		s := seen[0].Load()
		for k := 1; k < readers; k++ {
			s = min(s, seen[k].Load())
		}
		return s
	}
	type result struct {
		r                             Reader
		got, batched, fast, underLock uint64
	}
	var results [readers]result
	var wg sync.WaitGroup
	for i := range readers {
		results[i].r.Skip(m)
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := &results[i]
			r := &res.r
			buf := make([]byte, layout.MaxFrame)
			last := uint32(0)
			take := func(h layout.FrameHeader, f []byte, how string) bool {
				s, err := hfCheck(h, f)
				if err == nil && s <= last {
					err = fmt.Errorf("frame %d after frame %d", s, last)
				}
				if err != nil {
					fail("reader %d, %s, after frame %d: %v", i, how, last, err)
					return false
				}
				last = s
				seen[i].Store(s)
				res.got++
				return true
			}
			if layout.CatchFault(func() {
				for !stop.Load() {
					finished := done.Load()
					hs, frames, ok, err := hostileBatch(r, m, buf)
					if err != nil {
						fail("reader %d: %v", i, err)
						return
					}
					if ok && len(hs) > 0 {
						for k := range hs {
							if !take(hs[k], frames[k], "batch") {
								return
							}
						}
						res.batched += uint64(len(hs))
						continue
					}
					if h, ok := tryNext(r, m, buf); ok {
						if !take(h, buf[:h.Len], "TryNext") {
							return
						}
						res.fast++
						continue
					}
					if r.Idle(m) {
						if finished {
							return
						}
						runtime.Gosched()
						continue
					}
					if !grabLock(m, &stop) {
						return
					}
					h, st := r.Next(m, buf)
					dropLock(m)
					if st == Frame {
						if !take(h, buf[:h.Len], "Next") {
							return
						}
						res.underLock++
						continue
					}
					if finished {
						return
					}
				}
			}) {
				fail("reader %d read outside the data area", i)
			}
		}()
	}

	var holds, idleHolds, lapHolds int
	var longest time.Duration
	st := newSteerer(12, false)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer done.Store(true)
		rng := rand.New(rand.NewPCG(13, 14))
		seq, gen := uint32(0), uint64(0)
		var hdr layout.FrameHeader
		if layout.CatchFault(func() {
			for seq < total && !stop.Load() {
				lap := rng.IntN(300) == 0
				for !lap && seq >= minSeen()+ahead && !stop.Load() {
					runtime.Gosched()
				}
				hold := time.Duration(30+rng.IntN(171)) * time.Microsecond
				idle := rng.IntN(10) == 0
				if !grabLock(m, &stop) {
					return
				}
				start := time.Now()
				w := NewWriter(m)
				for !idle && seq < total {
					k := 1 + rng.IntN(4)
					if lap {
						k = 1500
					}
					frames := make([][]byte, 0, k)
					pos, _ := w.Next()
					for range k {
						if seq == total {
							break
						}
						n := st.next(pos)
						seq++
						frames = append(frames, hfFrame(seq, n))
						if pos+hdrSize+uint32(n) >= dataSize {
							gen++ // docs/protocol.md §2.6
						}
						pos = advance(pos, hdrSize+uint32(n))
					}
					w.AppendBatch(&hdr, frames)
					if next, g := w.Next(); next != pos || g != gen || m.Gen() != gen {
						fail("after frame %d: the writer is at %#x in generation %d, the bus says generation %d; its records add up to %#x in generation %d",
							seq, next, g, m.Gen(), pos, gen)
						dropLock(m)
						return
					}
					written.Store(seq)
					if lap || time.Since(start) >= hold || seq >= minSeen()+ahead {
						break
					}
					spinFor(time.Duration(2+rng.IntN(10)) * time.Microsecond)
				}
				for time.Since(start) < hold {
					layout.SpinPause()
				}
				longest = max(longest, time.Since(start))
				dropLock(m)
				holds++
				if idle {
					idleHolds++
				}
				if lap {
					lapHolds++
				}
				spinFor(time.Duration(rng.IntN(20)) * time.Microsecond)
			}
		}) {
			fail("the writer wrote outside the data area")
		}
	}()
	// A reader that stops receiving frames stops the writer (it stays
	// at most ahead frames past the readers): fail rather than hang.
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	for progress, still := uint32(0), 0; ; {
		select {
		case <-finished:
		case <-time.After(time.Second):
			p := written.Load()
			for k := range seen {
				p += seen[k].Load()
			}
			if p != progress {
				progress, still = p, 0
			} else if still++; still == 10 {
				fail("no progress for 10 s: %d frames written, the readers at %d and %d", written.Load(), seen[0].Load(), seen[1].Load())
			}
			continue
		}
		break
	}
	if t.Failed() {
		return
	}
	t.Logf("%d frames in %d holds of the lock (%d without writing, %d lapping the readers; longest %v), %d generations",
		total, holds, idleHolds, lapHolds, longest, m.Gen())
	for i := range results {
		res := &results[i]
		t.Logf("reader %d: received %d (%d in batches, %d by TryNext, %d under the lock), lost %d in %d overruns",
			i, res.got, res.batched, res.fast, res.underLock, res.r.Lost, res.r.Overruns)
		if res.got+res.r.Lost != uint64(total) || res.r.Corrupt != 0 {
			t.Errorf("reader %d: received %d + lost %d != written %d; corrupt %d", i, res.got, res.r.Lost, total, res.r.Corrupt)
		}
		if v := look(m); res.r.next != v.next || res.r.gen != v.gen {
			t.Errorf("reader %d ends at %#x in generation %d; the writer at %#x in generation %d", i, res.r.next, res.r.gen, v.next, v.gen)
		}
	}
	missed := st.missed()
	t.Logf("headers put on %d of %d hand-over places", len(st.targets)-len(missed), len(st.targets))
	if m.Gen() > uint64(2*len(st.targets)) && len(missed) > 0 {
		t.Errorf("setup: hand-over places never reached in %d generations: %+v", m.Gen(), missed)
	}
}

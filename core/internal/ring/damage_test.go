package ring

import (
	"math/rand/v2"
	"testing"

	"github.com/libshmif/libshmif/core/internal/layout"
)

// drainAll reads everything r can read now, checking every frame and that
// frame numbers only go up, and returns how many frames it got.
func drainAll(t *testing.T, r *Reader, m *layout.Mem, last *uint32) int {
	t.Helper()
	buf := make([]byte, layout.MaxFrame)
	got := 0
	for range 2 * maxRecords {
		h, st := r.Next(m, buf)
		if st != Frame {
			return got
		}
		seq := checkFrame(t, buf[:h.Len])
		if seq <= *last {
			t.Fatalf("frame %d after frame %d: delivered again", seq, *last)
		}
		*last = seq
		got++
	}
	t.Fatal("reader never caught up")
	return got
}

// killedBatch appends frames numbered from seq in one batch and stops, as
// if killed, before copy number stop (counting every copy into the ring).
// It reports whether the writer was stopped.
func killedBatch(m *layout.Mem, rng *rand.Rand, seq uint32, n int, stop int) (stopped bool) {
	copies := 0
	crash = func() bool { copies++; return copies == stop }
	defer func() {
		crash = nil
		if r := recover(); r != nil {
			if r != errKilled {
				panic(r)
			}
			stopped = true
		}
	}()
	frames := make([][]byte, n)
	for k := range frames {
		frames[k] = frame(22+rng.IntN(layout.MaxFrame-21), seq+uint32(k))
	}
	w := NewWriter(m)
	w.AppendBatch(&layout.FrameHeader{Sender: 9}, frames)
	return false
}

// Issue 10.1: a writer killed at any copy of a batch leaves no garbage for
// readers, wherever they stand, and loss is counted exactly: the next writer
// (which takes the lock over) and the readers find the bus as it was before
// the batch, plus at most bytes in the free part of the ring.
func TestWriterKilledAnywhereInBatch(t *testing.T) {
	singleGoroutine(t)
	const batch = 40
	// Enough copies to cover every copy of a batch of 40 records, each
	// two or three copies (header, frame, a split at the end).
	for stop := 1; stop <= 3*batch+1; stop++ {
		rng := rand.New(rand.NewPCG(uint64(stop), 10))
		m := newBus(t)
		// A history: a few laps, so that first moves and the batch
		// overwrites records readers have not read.
		seq := uint32(0)
		var behind, close, fresh Reader
		behind.Skip(m)
		var lastBehind, lastClose, lastFresh uint32
		for k := 0; k < 1800; k++ {
			seq++
			appendFrame(m, frame(22+rng.IntN(layout.MaxFrame-21), seq), 1)
			if k == 1100 {
				close.Skip(m)
			}
		}
		fresh.Skip(m)
		// close reads most of the way; behind is about to be lapped.
		for range 400 {
			if _, st := close.Next(m, make([]byte, layout.MaxFrame)); st != Frame {
				t.Fatal("setup")
			}
		}
		lastClose = seq - 299
		committedBefore := seq
		if !killedBatch(m, rng, seq+1, batch, stop) {
			// Not stopped: the whole batch was written.
			seq += batch
		}
		// The next writer carries on after the dead one.
		for range 300 {
			seq++
			appendFrame(m, frame(22+rng.IntN(layout.MaxFrame-21), seq), 1)
		}
		for name, c := range map[string]struct {
			r    *Reader
			last *uint32
			from uint32 // frames before this one were read or skipped
		}{
			"behind": {&behind, &lastBehind, 0},
			"close":  {&close, &lastClose, lastClose},
			"fresh":  {&fresh, &lastFresh, committedBefore},
		} {
			got := drainAll(t, c.r, m, c.last)
			// Frames the dead writer did not commit were never
			// sent; its seq numbers were reused by the next writer.
			if want := uint64(seq - c.from); uint64(got)+c.r.Lost != want {
				t.Fatalf("stop %d, %s: received %d + lost %d != %d sent (corrupt %d)", stop, name, got, c.r.Lost, want, c.r.Corrupt)
			}
			if c.r.Corrupt != 0 {
				t.Fatalf("stop %d, %s: %d corrupt records", stop, name, c.r.Corrupt)
			}
		}
	}
}

// Issue 10.2: a first of DataSize (never wrapped) on a bus that has wrapped
// is damage. The next writer repairs it; a reader that keeps up loses
// nothing, and a lapped reader counts exactly what it lost.
func TestDamagedFirstRepaired(t *testing.T) {
	m := newBus(t)
	rng := rand.New(rand.NewPCG(1, 1))
	seq := uint32(0)
	write := func(n int) {
		for range n {
			seq++
			appendFrame(m, frame(22+rng.IntN(layout.MaxFrame-21), seq), 1)
		}
	}
	write(3000) // wrapped a few times
	var keep, lapped Reader
	keep.Skip(m)
	lapped.Skip(m)
	var lastKeep, lastLapped uint32 = seq, seq
	from := seq
	for wrap := 0; wrap < 8; wrap++ {
		m.SetFirst(dataSize)
		for range 800 {
			write(1)
			drainAll(t, &keep, m, &lastKeep)
		}
		if m.First() == dataSize {
			t.Fatalf("wrap %d: first still DataSize after 800 writes", wrap)
		}
	}
	if keep.Lost != 0 || keep.Corrupt != 0 || lastKeep != seq {
		t.Fatalf("reader keeping up: lost %d corrupt %d, newest %d of %d", keep.Lost, keep.Corrupt, lastKeep, seq)
	}
	got := drainAll(t, &lapped, m, &lastLapped)
	if uint64(got)+lapped.Lost != uint64(seq-from) {
		t.Fatalf("lapped reader: received %d + lost %d != %d", got, lapped.Lost, seq-from)
	}
}

// Issue 10.3: foreign writes to the generation word neither make a reader
// deliver frames again nor count frames as lost that were not overwritten;
// loss stays bounded by what the writers really wrote; the wrap of the
// 64-bit generation is a generation like any other.
func TestForeignGenerationWrites(t *testing.T) {
	m := newBus(t)
	seq := uint32(0)
	write := func(n int) {
		for range n {
			seq++
			appendFrame(m, frame(100, seq), 1)
		}
	}
	var r Reader
	r.Skip(m)
	last := uint32(0)
	write(10)
	drainAll(t, &r, m, &last)
	for _, bump := range []uint64{1, 1000000, 1 << 40} {
		m.SetGen(m.Gen() + bump)
		if got := drainAll(t, &r, m, &last); got != 0 || r.Lost != 0 {
			t.Fatalf("gen +%d: delivered %d again, lost %d", bump, got, r.Lost)
		}
		write(10)
		if got := drainAll(t, &r, m, &last); got != 10 || r.Lost != 0 {
			t.Fatalf("gen +%d: then received %d of 10, lost %d", bump, got, r.Lost)
		}
	}
	m.SetGen(m.Gen() - 12345) // backwards
	write(10)
	if got := drainAll(t, &r, m, &last); got != 10 || r.Lost != 0 {
		t.Fatalf("gen backwards: received %d of 10, lost %d", got, r.Lost)
	}
	// Across the wrap of the generation, over several laps.
	m.SetGen(^uint64(0) - 1)
	total := 0
	for range 30 {
		write(1000)
		total += drainAll(t, &r, m, &last)
	}
	if total != 30000 || r.Lost != 0 || r.Corrupt != 0 {
		t.Fatalf("across the generation wrap: received %d of 30000, lost %d corrupt %d", total, r.Lost, r.Corrupt)
	}
	// Random damage to the header words: loss stays within what the
	// writers wrote, and every frame delivered is whole and new.
	rng := rand.New(rand.NewPCG(5, 5))
	before := seq
	lostBefore := r.Lost
	for range 400 {
		switch rng.IntN(3) {
		case 0:
			m.SetGen(rng.Uint64())
		case 1:
			m.SetFirst(rng.Uint32N(dataSize + 1))
		case 2:
			m.SetGen(m.Gen() + uint64(rng.IntN(3)))
		}
		write(1 + rng.IntN(50))
		drainAll(t, &r, m, &last)
	}
	if lost := r.Lost - lostBefore; lost > uint64(seq-before) {
		t.Fatalf("lost %d frames of %d written", lost, seq-before)
	}
}

// A reader that has read nothing yet on a fresh bus stands behind the
// dummy record, whose header is all zeros: frames of zeros that lap it
// must still count as a lap (the anchor is only ever a frame).
func TestLapOverDummyRecordWithZeroFrames(t *testing.T) {
	for _, n := range []int{700, 1400, 2000, 4000} {
		m := newBus(t)
		var r Reader
		r.Start(m)
		zero := make([]byte, 1514)
		for range n {
			Append(m, &layout.FrameHeader{Sender: 1}, zero)
		}
		got := 0
		buf := make([]byte, layout.MaxFrame)
		for {
			if _, st := r.Next(m, buf); st != Frame {
				break
			}
			got++
		}
		if uint64(got)+r.Lost != uint64(n) || r.Corrupt != 0 {
			t.Fatalf("%d zero frames: received %d + lost %d, corrupt %d", n, got, r.Lost, r.Corrupt)
		}
	}
}

// A writer that never writes past what a reader's Keep allows never laps
// it: the reader loses nothing however far behind it falls, and
// AppendLimited writes exactly the frames that fit.
func TestKeepPreventsLaps(t *testing.T) {
	singleGoroutine(t)
	m := newBus(t)
	rng := rand.New(rand.NewPCG(8, 8))
	var r Reader
	r.Skip(m)
	seq, last := uint32(0), uint32(0)
	buf := make([]byte, layout.MaxFrame)
	for round := 0; round < 200; round++ {
		// Write as much as Keep allows, in batches.
		for {
			frames := make([][]byte, 1+rng.IntN(32))
			for k := range frames {
				frames[k] = frame(22+rng.IntN(layout.MaxFrame-21), seq+uint32(k)+1)
			}
			w := NewWriter(m)
			n, need := w.AppendLimited(&layout.FrameHeader{Sender: 1}, frames, r.Keep())
			seq += uint32(n)
			if n < len(frames) {
				if need <= r.Keep() {
					t.Fatalf("stopped with need %d within the limit %d", need, r.Keep())
				}
				break
			}
		}
		// Read some of it.
		for range rng.IntN(2000) {
			h, st := r.Next(m, buf)
			if st != Frame {
				break
			}
			got := checkFrame(t, buf[:h.Len])
			if got != last+1 {
				t.Fatalf("frame %d after %d", got, last)
			}
			last = got
		}
	}
	for {
		h, st := r.Next(m, buf)
		if st != Frame {
			break
		}
		if got := checkFrame(t, buf[:h.Len]); got != last+1 {
			t.Fatalf("frame %d after %d", got, last)
		} else {
			last = got
		}
	}
	if r.Lost != 0 || r.Overruns != 0 || last != seq || m.Gen() < 10 {
		t.Fatalf("lost %d, overruns %d, read %d of %d, gen %d", r.Lost, r.Overruns, last, seq, m.Gen())
	}
}

// A stranger rewrote the time stamp of the record a reader last read (its
// anchor), so the reader takes itself for lapped and goes back to the
// oldest record: the records it read before are skipped by their numbers,
// each whole (docs/protocol.md §9.6), none delivered again, none counted
// lost or corrupt, and the frames written afterwards arrive.
func TestMistakenLapSkipsWholeRecords(t *testing.T) {
	for _, n := range []int{1, 2, 40} {
		m := newBus(t)
		w := numberedWriter{m: m, size: func(seq uint32) int { return 60 + int(seq)%700 }}
		write := w.write
		var r Reader
		r.Skip(m)
		last := uint32(0)
		// Past the first lap, so that the oldest record is a frame,
		// not the dummy.
		for range 30 {
			write(100)
			drainAll(t, &r, m, &last)
		}
		write(n)
		drainAll(t, &r, m, &last)
		if m.Gen() == 0 || last != w.seq {
			t.Fatalf("setup: gen %d, received up to %d of %d", m.Gen(), last, w.seq)
		}
		h, _, _, _ := readHeader(m.Data(), m.Last())
		h.Sec++
		var b [layout.FrameHeaderSize]byte
		h.Encode(b[:])
		copy(m.Data()[m.Last():], b[:])
		write(3)
		if got := drainAll(t, &r, m, &last); got != 3 || r.Lost != 0 || r.Corrupt != 0 {
			t.Fatalf("%d frames read, anchor damaged, 3 more written: received %d, lost %d, corrupt %d",
				n, got, r.Lost, r.Corrupt)
		}
	}
}

// After a real lap the oldest record may be a NetBSD writer's, whose
// number is its padding word, anything: one far below the newest number
// read is a new frame, delivered, not one read before (docs/protocol.md
// §9.6).
func TestLapOntoArbitraryNumber(t *testing.T) {
	for _, below := range []uint32{maxRecords, 1 << 20, 1 << 31} {
		m := newBus(t)
		w := numberedWriter{m: m, size: func(seq uint32) int { return 300 }}
		write := w.write
		var r Reader
		r.Skip(m)
		last := uint32(0)
		write(100)
		drainAll(t, &r, m, &last)
		write(5000) // more than a ring: the reader is lapped
		oldest := m.First()
		h, _, _, _ := readHeader(m.Data(), oldest)
		want := h.Seq
		h.Seq = r.seq - below
		var b [layout.FrameHeaderSize]byte
		h.Encode(b[:])
		copy(m.Data()[oldest:], b[:])
		buf := make([]byte, layout.MaxFrame)
		g, st := r.Next(m, buf)
		if st != Frame || checkFrame(t, buf[:g.Len]) != want {
			t.Fatalf("%d below the newest number: first frame after the lap: status %v, frame %d; want frame %d",
				below, st, checkFrame(t, buf[:g.Len]), want)
		}
		if r.Lost == 0 || r.Corrupt != 0 {
			t.Fatalf("%d below: lost %d, corrupt %d", below, r.Lost, r.Corrupt)
		}
	}
}

// Writers that lap a reader write frame bytes over its anchor, which read
// as a header no writer writes; a stranger who keeps gen where it was
// (c/bat.c stranger genfreeze) hides the lap from NetBSD's rule too. The
// reader must still take itself for lapped: read from its old position,
// it would deliver the inside of the writers' frames.
func TestLapWritesFrameBytesOverTheAnchor(t *testing.T) {
	ran := 0
	for _, extra := range []int{0, 1, 7, 300, 1000} {
		for _, dgen := range []uint64{0, 1, 2} {
			m := newBus(t)
			w := numberedWriter{m: m, size: func(seq uint32) int { return 600 + int(seq*37)%900 }}
			write := w.write
			var r Reader
			r.Skip(m)
			last := uint32(0)
			write(50)
			drainAll(t, &r, m, &last)
			gen, anchor := m.Gen(), r.anchorOff
			write(1000 + extra) // over a lap
			if _, _, _, ok := readHeader(m.Data(), anchor); ok {
				// A record of the writers starts at the anchor (or frame
				// bytes read as a sane header): not this test's case.
				continue
			}
			ran++
			m.SetGen(gen + dgen)
			got := drainAll(t, &r, m, &last) // fails on a torn frame
			if r.Corrupt != 0 || r.Lost == 0 || got == 0 {
				t.Fatalf("extra %d, gen %+d: received %d, lost %d, corrupt %d", extra, dgen, got, r.Lost, r.Corrupt)
			}
		}
	}
	if ran < 9 {
		t.Fatalf("only %d of 15 cases had frame bytes over the anchor", ran)
	}
}

// On a bus that never wrapped, a stranger gives the newest record, a
// caught-up reader's anchor, a length over 1514; the next writer empties
// it and appends. The reader takes the changed anchor for a lap and goes
// back to the oldest record, the dummy at 0 (number 0): the dummy, like
// every record it read, is skipped by its number, and only the new frames
// arrive (docs/protocol.md §9.6).
func TestYoungBusDamagedAnchorDeliversNothingTwice(t *testing.T) {
	for _, n := range []int{1, 5, 45} {
		m := newBus(t)
		w := numberedWriter{m: m, size: func(seq uint32) int { return 60 + int(seq)%300 }}
		write := w.write
		var r Reader
		r.Skip(m)
		last := uint32(0)
		write(n)
		drainAll(t, &r, m, &last)
		layout.NativeEndian.PutUint32(m.Data()[m.Last():], 0xfffffff0)
		write(3)
		if got := drainAll(t, &r, m, &last); got != 3 || r.Lost != 0 || m.Gen() != 0 {
			t.Fatalf("%d frames read, the newest damaged, 3 more written: received %d, lost %d (gen %d)", n, got, r.Lost, m.Gen())
		}
	}
}

// On a bus that never wrapped (first still DataSize), a stranger writes a
// gen other than 0. "Nothing overwritten yet" and a wrapped gen cannot
// both be right: the records from 0 lead to the newest, so gen is the
// damage, and the next writer keeps every record (docs/protocol.md §9.8).
// A reader behind receives all it had not read, and counts nothing lost.
func TestYoungBusGenDamageLosesNothing(t *testing.T) {
	for _, gen := range []uint64{1, 2, 1 << 40, ^uint64(0)} {
		m := newBus(t)
		seq := uint32(0)
		for range 40 {
			seq++
			appendFrame(m, frame(100+int(seq)*7, seq), 1)
		}
		var r Reader
		r.StartOldest(m)
		buf := make([]byte, layout.MaxFrame)
		for range 10 {
			if _, st := r.Next(m, buf); st != Frame {
				t.Fatalf("setup: %v", st)
			}
		}
		m.SetGen(gen)
		for range 3 {
			seq++
			appendFrame(m, frame(100, seq), 1)
		}
		last := uint32(10)
		if got := drainAll(t, &r, m, &last); got != 33 || r.Lost != 0 || m.First() == m.Last() {
			t.Fatalf("gen %#x on a young bus: received %d of 33, lost %d; first %#x last %#x",
				gen, got, r.Lost, m.First(), m.Last())
		}
	}
}

// A stranger rewrites the number (padding word) of a reader's anchor: the
// record is the same, and the reader must not take itself for lapped and
// read the ring again (docs/protocol.md §9.6).
func TestRewrittenNumberIsNoLap(t *testing.T) {
	for _, wrapped := range []bool{false, true} {
		m := newBus(t)
		w := numberedWriter{m: m, size: func(seq uint32) int { return 200 + int(seq)%900 }}
		write := w.write
		var r Reader
		r.Skip(m)
		last := uint32(0)
		if wrapped {
			for range 20 {
				write(100)
				drainAll(t, &r, m, &last)
			}
		}
		write(30)
		drainAll(t, &r, m, &last)
		off := m.Last() + layout.OffSeq
		layout.NativeEndian.PutUint32(m.Data()[off:], 0x5eed)
		write(3)
		if got := drainAll(t, &r, m, &last); got != 3 || r.Lost != 0 || r.Overruns != 0 {
			t.Fatalf("wrapped %v: received %d of 3, lost %d, overruns %d", wrapped, got, r.Lost, r.Overruns)
		}
	}
}

// numberedWriter appends frames numbered 1, 2, ... (their payloads carry
// the number, checkFrame reads it), each size(number) bytes long.
type numberedWriter struct {
	m    *layout.Mem
	seq  uint32
	size func(seq uint32) int
}

func (w *numberedWriter) write(k int) {
	for range k {
		w.seq++
		appendFrame(w.m, frame(w.size(w.seq), w.seq), 1)
	}
}

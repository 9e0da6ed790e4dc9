package ring

import (
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/libshmif/libshmif/core/internal/buslock"
	"github.com/libshmif/libshmif/core/internal/layout"
)

// readBatch reads one lock-free batch into a list of frames; ok false if
// TryBegin declined or TryEnd refused (the reader is then as before).
func readBatch(t *testing.T, r *Reader, m *layout.Mem) (frames [][]byte, hs []layout.FrameHeader, ok bool) {
	t.Helper()
	saved := *r
	b, ok := r.TryBegin(m)
	if !ok {
		if *r != saved {
			t.Fatalf("TryBegin declined and changed the reader: %+v, was %+v", *r, saved)
		}
		return nil, nil, false
	}
	buf := make([]byte, layout.MaxFrame)
	for {
		var h layout.FrameHeader
		ok := r.TryCopy(m, &b, buf, &h)
		if !ok {
			break
		}
		frames = append(frames, append([]byte(nil), buf[:h.Len]...))
		hs = append(hs, h)
	}
	if !r.TryEnd(m, &b) {
		*r = saved
		return nil, nil, false
	}
	return frames, hs, true
}

// A reader that reads its backlog in lock-free batches sees exactly what a
// reader using only Next sees, record for record and state for state, over
// laps and straddled ends.
func TestBatchFollowsNext(t *testing.T) {
	needLockFree(t)
	m := newBus(t)
	var a, b Reader
	a.Start(m)
	b.Start(m)
	bufA, bufB := make([]byte, layout.MaxFrame), make([]byte, layout.MaxFrame)
	rng := rand.New(rand.NewPCG(9, 10))
	seq, batched, frames := uint32(0), 0, 0
	for m.Gen() < 6 {
		burst := 1 + rng.IntN(40)
		if rng.IntN(20) == 0 {
			burst = 2000 // laps both readers
		}
		for range burst {
			seq++
			appendFrame(m, frame(layout.MinFrame+8+rng.IntN(layout.MaxFrame-layout.MinFrame-7), seq), 1)
		}
		for {
			got, hs, ok := readBatch(t, &a, m)
			if ok && len(got) > 0 {
				for k := range got {
					hb, sb := b.Next(m, bufB)
					if sb != Frame || hb != hs[k] || string(got[k]) != string(bufB[:hb.Len]) {
						t.Fatalf("after %d frames: batch gave %+v, Next %v %+v", frames, hs[k], sb, hb)
					}
					checkFrame(t, got[k])
					frames++
					batched++
				}
				if a != b {
					t.Fatalf("after %d frames: batch reader %+v, Next reader %+v", frames, a, b)
				}
				continue
			}
			ha, sa := a.Next(m, bufA)
			hb, sb := b.Next(m, bufB)
			if sa != sb || ha != hb || a != b {
				t.Fatalf("after %d frames: reader %v %+v %+v, Next reader %v %+v %+v", frames, sa, ha, a, sb, hb, b)
			}
			if sa != Frame {
				break
			}
			frames++
		}
	}
	if batched < frames/2 {
		t.Fatalf("only %d of %d frames read in batches", batched, frames)
	}
	t.Logf("%d frames, %d in batches, lost %d", frames, batched, a.Lost)
}

// What writers do between a batch's copies and its check decides whether
// the copies are kept: appending behind the copies keeps them (they are
// intact); coming round to them, holding the lock, or header words that
// moved back or jumped refuse them, and the reader, as it was, then reads
// intact frames under the lock, with the loss counted.
func TestBatchEndRefusesWhatWritersMayHaveReached(t *testing.T) {
	needLockFree(t)
	for _, c := range []struct {
		name   string
		keep   bool
		strike func(m *layout.Mem, seq *uint32)
	}{
		{"writer appends a few records", true, func(m *layout.Mem, seq *uint32) {
			for range 20 {
				*seq++
				appendFrame(m, frame(layout.MaxFrame, *seq), 1)
			}
		}},
		{"writer comes round to the copies", false, func(m *layout.Mem, seq *uint32) {
			for range 700 {
				*seq++
				appendFrame(m, frame(layout.MaxFrame, *seq), 1)
			}
		}},
		{"writers publish past the safe span", false, func(m *layout.Mem, seq *uint32) {
			// Append until the newest record ends past a lap less an
			// epoch after the first copy.
			for {
				v := look(m)
				if Pos(v.gen, v.next) > strikeStart+uint64(safeSpan) {
					return
				}
				*seq++
				appendFrame(m, frame(1000, *seq), 1)
			}
		}},
		{"a killed writer's unpublished epoch stops short of the copies", true, func(m *layout.Mem, seq *uint32) {
			// Publish as far as the check allows, then scribble an
			// epoch further, as a libshmif writer killed before its
			// commit leaves it: header words unchanged.
			for {
				v := look(m)
				if Pos(v.gen, v.next)+uint64(hdrSize+layout.MaxFrame+1024) > strikeStart+uint64(safeSpan) {
					break
				}
				*seq++
				appendFrame(m, frame(1000, *seq), 1)
			}
			v := look(m)
			data := m.Data()
			for k := uint32(0); k < epochBytes; k++ {
				data[(v.next+k)%dataSize] = 0xa5
			}
		}},
		{"writer comes round while a stranger holds gen back", false, func(m *layout.Mem, seq *uint32) {
			// A lap and a few records: with gen held back, the
			// header words alone show the writers a few records
			// past where the batch began.
			gen := m.Gen()
			for range 688 {
				*seq++
				appendFrame(m, frame(layout.MaxFrame, *seq), 1)
				m.SetGen(gen)
			}
		}},
		{"writer still writing", false, func(m *layout.Mem, _ *uint32) {
			atomic.StoreUint32(m.LockWord(), 1)
		}},
		{"last moved back", false, func(m *layout.Mem, _ *uint32) {
			m.SetLast(0)
		}},
		{"generation jumped", false, func(m *layout.Mem, _ *uint32) {
			m.SetGen(m.Gen() + 5)
		}},
		{"generation moved back", false, func(m *layout.Mem, _ *uint32) {
			m.SetGen(m.Gen() - 1)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := newBus(t)
			seq := uint32(0)
			// A ring that has wrapped, so that gen may move back, and
			// copies that start mid-ring, so that a lap later the
			// writers are mid-ring too.
			for v := look(m); v.gen < 2 || v.next < dataSize/2; v = look(m) {
				seq++
				appendFrame(m, frame(500, seq), 1)
			}
			var r Reader
			r.Skip(m)
			first := seq + 1
			for range 100 {
				seq++
				appendFrame(m, frame(1000, seq), 1)
			}
			v := look(m)
			strikeStart = Pos(v.gen, v.next) - uint64(r.toNext(&v))
			afterBatchCopy = func() { afterBatchCopy = nil; c.strike(m, &seq) }
			defer func() { afterBatchCopy = nil }()
			got, _, ok := readBatch(t, &r, m)
			if ok != c.keep {
				t.Fatalf("TryEnd kept the copies: %v, want %v", ok, c.keep)
			}
			next := first
			for _, f := range got {
				if s := checkFrame(t, f); s != next {
					t.Fatalf("batch frame %d, want %d", s, next)
				}
				next++
			}
			if atomic.LoadUint32(m.LockWord()) != 0 || m.Last() == 0 || strings.Contains(c.name, "stranger") {
				return // what is left is the damage's own business
			}
			buf := make([]byte, layout.MaxFrame)
			received := uint64(len(got))
			for {
				h, st := r.Next(m, buf)
				if st != Frame {
					break
				}
				checkFrame(t, buf[:h.Len])
				received++
			}
			if sent := uint64(seq - first + 1); received+r.Lost != sent {
				t.Fatalf("received %d + lost %d, sent %d", received, r.Lost, sent)
			}
		})
	}
}

// strikeStart is the stream position of the first record a batch of
// TestBatchEndRefusesWhatWritersMayHaveReached copies.
var strikeStart uint64

// A NetBSD writer stores shm_last before it writes the record there: one
// writing when a batch begins, or starting between its look at the header
// words and at the lock word, makes it decline; the frames then arrive
// whole.
func TestBatchWithNetBSDWriter(t *testing.T) {
	needLockFree(t)
	for _, during := range []bool{false, true} {
		m := newBus(t)
		var r Reader
		r.Skip(m)
		seq := uint32(0)
		for range 50 {
			seq++
			appendFrame(m, frame(300, seq), 1)
		}
		f := frame(1000, seq+1)
		var finish func()
		if during {
			beforeTryLockCheck = func() { beforeTryLockCheck = nil; finish = netbsdWrite(m, f, 500) }
		} else {
			finish = netbsdWrite(m, f, 500)
		}
		_, _, ok := readBatch(t, &r, m)
		beforeTryLockCheck = nil
		if ok {
			t.Fatalf("during %v: a batch began while a NetBSD writer held the lock", during)
		}
		finish()
		buf := make([]byte, layout.MaxFrame)
		want := uint32(1)
		for {
			got, _, ok := readBatch(t, &r, m)
			if !ok || len(got) == 0 {
				h, st := r.Next(m, buf)
				if st != Frame {
					break
				}
				got = [][]byte{buf[:h.Len]}
			}
			for _, g := range got {
				if s := checkFrame(t, g); s != want {
					t.Fatalf("frame %d, want %d", s, want)
				}
				want++
			}
		}
		if want != seq+2 || r.Lost != 0 || r.Corrupt != 0 {
			t.Fatalf("during %v: read up to %d of %d, lost %d, corrupt %d", during, want-1, seq+1, r.Lost, r.Corrupt)
		}
	}
}

// A reader copying its backlog in batches while a writer floods the bus
// under the lock never gets a torn, repeated or reordered frame, and every
// frame is either received or counted lost.
func TestBatchUnderConcurrentWriter(t *testing.T) {
	m := newBus(t)
	var r Reader
	r.Skip(m)
	total := uint32(longRun(50000, 500000))
	// Mostly a backlog of up to about half the ring, so that the reader
	// copies batches while the writer writes; now and then a lap.
	done, seen := floodUnderLock(t, m, total, 11, 64, 600, 500)
	buf := make([]byte, layout.MaxFrame)
	var got, batched uint64
	last := uint32(0)
	take := func(f []byte) {
		seq := checkFrame(t, f)
		if seq <= last {
			t.Fatalf("frame %d after frame %d", seq, last)
		}
		last = seq
		seen.Store(seq)
		got++
	}
	for {
		finished := done.Load()
		if frames, _, ok := readBatch(t, &r, m); ok && len(frames) > 0 {
			for _, f := range frames {
				take(f)
			}
			batched += uint64(len(frames))
			continue
		}
		var h layout.FrameHeader
		st := Frame
		if err := buslock.With(m, func() error { h, st = r.Next(m, buf); return nil }); err != nil {
			t.Fatal(err)
		}
		if st != Frame {
			if finished {
				break
			}
			continue
		}
		take(buf[:h.Len])
	}
	if got+r.Lost != uint64(total) {
		t.Fatalf("received %d + lost %d != sent %d", got, r.Lost, total)
	}
	t.Logf("received %d (%d in batches), lost %d in %d overruns", got, batched, r.Lost, r.Overruns)
}

// A writer's commit stores gen and then last: a batch that looks at the
// header words in between sees the new gen with the old last, the lock
// free again by its second look. The reader must come out of the batch in
// the generation it is in, whether the batch copied records or none (a
// buffer too small for the first): a reader one generation ahead of where
// it stands takes the next lap that damages its anchor for bus damage, and
// loses a lap of frames uncounted (found by tests/hostile/batch's
// TestMisfitLossCount on a busy machine: corrupt 1, 1,306 frames missing).
func TestBatchBeginSeesCommitHalfDone(t *testing.T) {
	needLockFree(t)
	for _, size := range []int{10, layout.MaxFrame} {
		m := newBus(t)
		var r Reader
		seq := uint32(0)
		for m.Gen() == 0 {
			seq++
			appendFrame(m, frame(1000, seq), 1)
		}
		// Up to a record of the end, the reader some 100 KB behind.
		for {
			v := look(m)
			if v.next > dataSize-100000 && !r.anchored {
				r.Skip(m)
			}
			if v.next+hdrSize+1000 >= dataSize {
				break
			}
			seq++
			appendFrame(m, frame(1000, seq), 1)
		}
		// The commit of a record that wraps, caught between its two
		// stores.
		oldLast := m.Last()
		seq++
		appendFrame(m, frame(1000, seq), 1)
		newLast := m.Last()
		m.SetLast(oldLast)
		beforeTryLockCheck = func() { m.SetLast(newLast) }
		ref := r
		b, ok := r.TryBegin(m)
		beforeTryLockCheck = nil
		if !ok {
			continue
		}
		buf := make([]byte, size)
		copied := 0
		for {
			if !r.TryCopy(m, &b, buf, new(layout.FrameHeader)) {
				break
			}
			copied++
		}
		if !r.TryEnd(m, &b) {
			continue
		}
		refBuf := make([]byte, size)
		for range copied {
			if _, st := ref.Next(m, refBuf); st != Frame {
				t.Fatalf("buffer %d: reference reader: %v", size, st)
			}
		}
		if r.gen != ref.gen || r.next != ref.next {
			t.Errorf("buffer %d, %d records copied: the reader is at %d in generation %d; read under the lock, at %d in generation %d",
				size, copied, r.next, r.gen, ref.next, ref.gen)
		}
	}
}

package ring

import (
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"github.com/libshmif/libshmif/core/internal/buslock"
	"github.com/libshmif/libshmif/core/internal/layout"
)

func needLockFree(t *testing.T) {
	if !layout.LoadsOrdered {
		t.Skip("lock-free reads are off on this architecture or under the race detector")
	}
}

// next reads like the receive path: TryNext, else Next.
func next(r *Reader, m *layout.Mem, buf []byte) (layout.FrameHeader, Status, bool) {
	if h, ok := tryNext(r, m, buf); ok {
		return h, Frame, true
	}
	h, st := r.Next(m, buf)
	return h, st, false
}

// A reader using TryNext sees exactly what a reader using only Next sees,
// record for record and state for state, over laps and straddled ends.
func TestTryNextFollowsNext(t *testing.T) {
	needLockFree(t)
	m := newBus(t)
	var a, b Reader
	a.Start(m)
	b.Start(m)
	bufA, bufB := make([]byte, layout.MaxFrame), make([]byte, layout.MaxFrame)
	rng := rand.New(rand.NewPCG(5, 6))
	seq, fast, frames := uint32(0), 0, 0
	for m.Gen() < 4 {
		for range 1 + rng.IntN(3) {
			seq++
			appendFrame(m, frame(layout.MinFrame+rng.IntN(layout.MaxFrame-layout.MinFrame+1), seq), 1)
		}
		for {
			ha, sa, lockFree := next(&a, m, bufA)
			hb, sb := b.Next(m, bufB)
			if sa != sb || ha != hb || a != b {
				t.Fatalf("after %d frames: TryNext reader %v %+v %+v, Next reader %v %+v %+v", frames, sa, ha, a, sb, hb, b)
			}
			if sa != Frame {
				break
			}
			if string(bufA[:ha.Len]) != string(bufB[:hb.Len]) {
				t.Fatalf("frame %d differs", checkFrame(t, bufB[:hb.Len]))
			}
			frames++
			if lockFree {
				fast++
			}
		}
	}
	if fast < frames*9/10 {
		t.Fatalf("only %d of %d frames read lock-free", fast, frames)
	}
}

// TryNext declines, changing nothing, whenever it cannot simply copy the
// next frame.
func TestTryNextDeclines(t *testing.T) {
	needLockFree(t)
	buf := make([]byte, layout.MaxFrame)
	cases := []struct {
		name  string
		setup func(m *layout.Mem, r *Reader) []byte
	}{
		{"dummy record", func(m *layout.Mem, r *Reader) []byte {
			r.Start(m)
			appendFrame(m, frame(60, 1), 1)
			return buf
		}},
		{"caught up", func(m *layout.Mem, r *Reader) []byte {
			r.Start(m)
			appendFrame(m, frame(60, 1), 1)
			r.Next(m, buf)
			r.Next(m, buf)
			return buf
		}},
		{"lock held", func(m *layout.Mem, r *Reader) []byte {
			r.Skip(m)
			appendFrame(m, frame(60, 1), 1)
			atomic.StoreUint32(m.LockWord(), 1)
			return buf
		}},
		{"backlog", func(m *layout.Mem, r *Reader) []byte {
			r.Skip(m)
			for seq := range uint32(5) {
				appendFrame(m, frame(layout.MaxFrame, seq+1), 1)
			}
			return buf
		}},
		{"lapped", func(m *layout.Mem, r *Reader) []byte {
			r.Skip(m)
			for seq := range uint32(1000) {
				appendFrame(m, frame(layout.MaxFrame, seq+1), 1)
			}
			return buf
		}},
		{"buffer too small", func(m *layout.Mem, r *Reader) []byte {
			r.Skip(m)
			appendFrame(m, frame(100, 1), 1)
			return buf[:99]
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := newBus(t)
			var r Reader
			dst := c.setup(m, &r)
			before := r
			if _, ok := tryNext(&r, m, dst); ok || r != before {
				t.Fatalf("TryNext: ok %v, reader %+v, was %+v", ok, r, before)
			}
		})
	}
}

// A writer that strikes during TryNext's copy makes it decline, and the
// reader then gets intact frames (and the loss counted) under the lock.
func TestTryNextDeclinesWhenWriterStrikes(t *testing.T) {
	needLockFree(t)
	strikes := []struct {
		name   string
		strike func(m *layout.Mem, seq *uint32)
	}{
		{"writer laps the reader", func(m *layout.Mem, seq *uint32) {
			for range 1000 {
				*seq++
				appendFrame(m, frame(layout.MaxFrame, *seq), 1)
			}
		}},
		{"writer still writing", func(m *layout.Mem, _ *uint32) {
			// Holds the lock and scribbles over every record, header
			// words not yet updated.
			atomic.StoreUint32(m.LockWord(), 1)
			clear(m.Data())
		}},
		{"writer appends one record", func(m *layout.Mem, seq *uint32) {
			*seq++
			appendFrame(m, frame(60, *seq), 1)
		}},
	}
	for _, s := range strikes {
		t.Run(s.name, func(t *testing.T) {
			m := newBus(t)
			var r Reader
			r.Skip(m)
			seq := uint32(1)
			appendFrame(m, frame(layout.MaxFrame, seq), 1)
			before := r
			afterTryCopy = func() { afterTryCopy = nil; s.strike(m, &seq) }
			defer func() { afterTryCopy = nil }()
			buf := make([]byte, layout.MaxFrame)
			if _, ok := tryNext(&r, m, buf); ok || r != before {
				t.Fatalf("TryNext accepted a copy a writer struck: reader %+v", r)
			}
			if atomic.LoadUint32(m.LockWord()) != 0 {
				return // the scribbled bus has nothing left to read
			}
			got := uint64(0)
			for {
				h, st := r.Next(m, buf)
				if st != Frame {
					break
				}
				checkFrame(t, buf[:h.Len])
				got++
			}
			if got+r.Lost != uint64(seq) {
				t.Fatalf("got %d + lost %d frames of %d", got, r.Lost, seq)
			}
		})
	}
}

// A reader copying lock-free while a writer floods the bus under the lock
// never gets a torn, repeated or reordered frame, and every frame is either
// received or counted lost.
func TestTryNextUnderConcurrentWriter(t *testing.T) {
	m := newBus(t)
	var r Reader
	r.Skip(m)
	total := uint32(longRun(20000, 100000))
	// Mostly a few frames ahead of the reader, so that it copies while
	// the writer writes; now and then a lap.
	done, seen := floodUnderLock(t, m, total, 7, 4, 8, 2000)
	buf := make([]byte, layout.MaxFrame)
	var got, fast uint64
	last := uint32(0)
	for {
		finished := done.Load()
		h, ok := tryNext(&r, m, buf)
		st := Frame
		if !ok {
			if err := buslock.With(m, func() error { h, st = r.Next(m, buf); return nil }); err != nil {
				t.Fatal(err)
			}
		} else {
			fast++
		}
		if st != Frame {
			if finished {
				break
			}
			continue
		}
		seq := checkFrame(t, buf[:h.Len])
		if seq <= last {
			t.Fatalf("frame %d after frame %d", seq, last)
		}
		last = seq
		seen.Store(seq)
		got++
	}
	if got+r.Lost != uint64(total) {
		t.Fatalf("received %d + lost %d != sent %d", got, r.Lost, total)
	}
	t.Logf("received %d (%d lock-free), lost %d in %d overruns", got, fast, r.Lost, r.Overruns)
}

// netbsdWrite writes f as NetBSD's shmif_start does, with the lock word
// set: shm_last first, then the header, then the frame (moving first as it
// goes), gen last. It stops after part bytes of the frame and returns the
// rest of the write, which also releases the lock.
func netbsdWrite(m *layout.Mem, f []byte, part int) (finish func()) {
	atomic.StoreUint32(m.LockWord(), 1)
	data := m.Data()
	last, _ := nextPktOff(data, m.Last())
	m.SetLast(last)
	var hb [layout.FrameHeaderSize]byte
	h := layout.FrameHeader{Len: uint32(len(f)), Sender: 7}
	h.Encode(hb[:])
	w := Writer{data: data, m: m, first: m.First()}
	wrap := false
	write := func(off uint32, b []byte) uint32 {
		w.clearAhead(off, uint32(len(b))) // NetBSD moves first chunk by chunk
		m.SetFirst(w.first)
		return w.busWrite(off, b, &wrap)
	}
	off := write(last, hb[:])
	off = write(off, f[:part])
	return func() {
		write(off, f[part:])
		if wrap {
			m.SetGen(m.Gen() + 1)
		}
		atomic.StoreUint32(m.LockWord(), 0)
	}
}

// A NetBSD writer stores shm_last before it writes the record there, so
// TryNext reads the header words before the lock word and the records only
// after it. A NetBSD writer that is writing when TryNext starts, or that
// starts between its reading of the header words and of the lock word,
// makes it decline, whether the slot at the new last holds nothing yet,
// half a frame, or an older lap's bytes that look like a header; the frames
// then arrive whole.
func TestTryNextWithNetBSDWriter(t *testing.T) {
	needLockFree(t)
	for _, c := range []struct {
		name    string
		wrapped bool // the slot at the new last holds an older lap's records
		part    int  // bytes of the frame written when TryNext looks
	}{
		{"header only", false, 0},
		{"half the frame", false, 500},
		{"older lap in the slot", true, 0},
	} {
		for _, during := range []bool{false, true} {
			name := c.name + "/writing when TryNext starts"
			if during {
				name = c.name + "/starts after the header words"
			}
			t.Run(name, func(t *testing.T) {
				m := newBus(t)
				seq := uint32(0)
				for c.wrapped && m.Gen() < 2 {
					seq++
					appendFrame(m, frame(100, seq), 1)
				}
				var r Reader
				r.Skip(m)
				seq++
				appendFrame(m, frame(200, seq), 1)
				buf := make([]byte, layout.MaxFrame)
				if h, st := r.Next(m, buf); st != Frame || checkFrame(t, buf[:h.Len]) != seq {
					t.Fatalf("setup: %v", st)
				}
				f := frame(1000, seq+1)
				var finish func()
				if during {
					beforeTryLockCheck = func() { beforeTryLockCheck = nil; finish = netbsdWrite(m, f, c.part) }
					defer func() { beforeTryLockCheck = nil }()
				} else {
					finish = netbsdWrite(m, f, c.part)
				}
				before := r
				if h, ok := tryNext(&r, m, buf); ok || r != before {
					t.Fatalf("TryNext accepted a record a NetBSD writer is writing: len %d, reader %+v", h.Len, r)
				}
				finish()
				h, st, _ := next(&r, m, buf)
				if st != Frame || checkFrame(t, buf[:h.Len]) != seq+1 || r.Corrupt != 0 || r.Lost != 0 {
					t.Fatalf("after the write: %v len %d, reader %+v", st, h.Len, r)
				}
			})
		}
	}
}

// A writer that finds the newest record damaged (its writer died before
// writing the header) appends after it instead of overwriting it in place:
// readers watching the header words (Idle, the spin, TryNext) see the change.
func TestRepairOfDamagedNewestRecordChangesLast(t *testing.T) {
	m := newBus(t)
	var r Reader
	r.Skip(m)
	appendFrame(m, frame(200, 1), 1)
	buf := make([]byte, layout.MaxFrame)
	r.Next(m, buf)
	// A NetBSD writer stored last for its record and died.
	data := m.Data()
	off, _ := nextPktOff(data, m.Last())
	for k := off; k < off+hdrSize+1000; k++ {
		data[k] = 0xa5
	}
	m.SetLast(off)
	if _, st := r.Next(m, buf); st != Empty || !r.Idle(m) {
		t.Fatalf("damaged newest record: %v, idle %v", st, r.Idle(m))
	}
	appendFrame(m, frame(100, 2), 1)
	if r.Idle(m) || m.Last() == off {
		t.Fatalf("a frame was appended but last is still %d", m.Last())
	}
	h, st, _ := next(&r, m, buf)
	if st != Frame || checkFrame(t, buf[:h.Len]) != 2 {
		t.Fatalf("after the repair: %v len %d", st, h.Len)
	}
	if _, st := r.Next(m, buf); st != Empty || r.Corrupt != 0 {
		t.Fatalf("then: %v, corrupt %d", st, r.Corrupt)
	}
}

// tryNext is TryNext returning the header, for tests.
func tryNext(r *Reader, m *layout.Mem, dst []byte) (h layout.FrameHeader, ok bool) {
	ok = r.TryNext(m, dst, &h)
	return h, ok
}

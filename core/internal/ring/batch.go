package ring

import (
	"sync/atomic"
	"time"

	"github.com/libshmif/libshmif/core/internal/layout"
	"github.com/libshmif/libshmif/core/internal/wake"
)

// Batch is a lock-free read of a reader's backlog in progress: TryBegin,
// then TryCopy for each record, then TryEnd. TryNext copies one frame
// close behind the writers and declines if any writer wrote meanwhile; a
// reader with a backlog would then take the lock for every batch and stop
// the writers while it copies. A Batch lets writers go on: what it copied
// is good if, when it is done, no writer holds the lock and the writers
// have not come round to the first record it copied (docs/protocol.md
// §10.3, step 5b).
type Batch struct {
	v     view
	start uint64 // stream position (Pos) of the reader when the batch began
	bytes uint32 // record bytes copied
	done  bool   // at the write position, or at a record to read under the lock

	// The first record copied: writers write the ring in order, so none
	// can have reached a later copy without first rewriting this header.
	firstOff uint32
	firstHdr layout.FrameHeader
}

const (
	// batchWindow: a reader further behind than this takes the lock,
	// which holds the writers back while it copies, so that a flooding
	// writer does not lap it (docs/protocol.md §9.9). It leaves the
	// writers room to go on while the reader copies (see safeSpan).
	batchWindow = dataSize / 2
	// safeSpan is how far past the first record a batch copied the
	// published header words may show the writers: a libshmif writer
	// killed while writing leaves up to an epoch of records it never
	// published (moving first past what it overwrites is all it did
	// before), so a lap less an epoch.
	safeSpan = dataSize - epochBytes
	// batchBytes bounds the records copied between two checks: a check
	// costs a few cache misses; a failed one throws the batch away.
	batchBytes = 64 << 10
	// lockWait bounds the wait for a moment when no writer holds the
	// lock. A writer holds it for one batch: microseconds, or some 100 µs
	// for a batch of a thousand full-sized frames. Giving up sooner sends
	// the reader to the lock, where it stops the writer while it copies
	// (a quarter of 1514-byte frames were read that way when the bound
	// was 4,096 loads, which pass in 2 µs while the line is unchanged).
	lockWait = 50 * time.Microsecond
	// beginLooks bounds TryBegin's looks at the header words that a
	// writer taking the lock made worthless.
	beginLooks = 8
)

// Set by tests: afterBatchCopy runs in TryEnd before its check, where
// writers may strike.
var afterBatchCopy func()

// TryBegin starts a lock-free read for a reader with a backlog of at most
// batchWindow bytes. It returns ok false, having changed nothing, when the
// reader is not plainly behind the writers (lapped, damaged header words,
// caught up, a whole lap behind, too far behind) or no moment without a
// writer at work came soon: the caller then reads under the lock.
func (r *Reader) TryBegin(m *layout.Mem) (b Batch, ok bool) {
	if !layout.LoadsOrdered {
		return b, false
	}
	// The header words count only when read between two looks that find
	// the lock free: a NetBSD writer stores last before it writes the
	// record there (docs/protocol.md §10.3, steps 1 to 3).
	lock := m.LockWord()
	for tries := 0; ; tries++ {
		if tries == beginLooks || !lockFreeSoon(lock) {
			return b, false
		}
		b.v = lookWords(m)
		if beforeTryLockCheck != nil {
			beforeTryLockCheck()
		}
		if atomic.LoadUint32(lock) == 0 {
			break
		}
	}
	b.v.locate(m)
	if !b.v.sane {
		return b, false
	}
	pos, gen := r.place(&b.v, m.Data())
	if pos != valid || r.caughtUp(&b.v) || r.full(&b.v) {
		return b, false
	}
	behind := r.toNext(&b.v)
	if behind > batchWindow {
		return b, false
	}
	// A writer's commit stores gen and then last (Writer.commit), and
	// may begin and end between the two looks at the lock: words read in
	// between pair the new gen with the old last, and place puts the
	// reader a generation ahead. The same words again, after everything
	// derived from them, show that no commit was caught half done
	// (docs/protocol.md §10.3, step 5b).
	if !b.v.stillSeen(m, lock) {
		return b, false
	}
	r.gen = gen
	b.start = Pos(b.v.gen, b.v.next) - uint64(behind)
	return b, true
}

// TryCopy copies the next frame of the batch into dst and moves the reader
// past it, as Next would. It returns ok false, having changed nothing, at
// the write position the batch began with, after batchBytes, and at any
// record that is not a plain frame that fits dst (a dummy or damaged record,
// a buffer too small): those are read under the lock. What it returns is
// good only once TryEnd says so.
func (r *Reader) TryCopy(m *layout.Mem, b *Batch, dst []byte, h *layout.FrameHeader) bool {
	if b.done || b.bytes >= batchBytes {
		return false
	}
	if r.caughtUp(&b.v) {
		b.done = true
		return false
	}
	data := m.Data()
	off, wrap, okh := readHeaderTo(h, data, r.next)
	if !okh || h.Len < layout.MinFrame || h.Len > uint32(len(dst)) || hdrSize+h.Len > r.toNext(&b.v) {
		b.done = true
		return false
	}
	off, wrap2 := busRead(data, off, dst[:h.Len])
	if b.bytes == 0 {
		b.firstOff, b.firstHdr = r.next, *h
	}
	r.Offset = r.next
	r.numbered = h.Seq == r.seq+1
	r.consume(r.next, h, off, wrap || wrap2)
	b.bytes += hdrSize + h.Len
	return true
}

// More reports whether TryCopy may copy more records in this batch.
func (b *Batch) More() bool { return !b.done && b.bytes < batchBytes }

// Done reports whether the batch stopped at the write position it began
// with or at a record to read under the lock, rather than at its size.
func (b *Batch) Done() bool { return b.done }

// TryEnd reports whether what the batch copied is good: no writer holds
// the lock now, and since the batch began the writers have published no
// record further than a lap less an epoch past the first record it copied
// (a writer killed while writing may have written an epoch further
// without publishing it). Loads are
// not reordered with loads (layout.LoadsOrdered): the copies were made
// before the lock was found free, so a writer that takes it later cannot
// have touched them, and one that held it before has published how far it
// wrote. A false answer means: undo the reader (the caller keeps a copy)
// and read under the lock.
func (r *Reader) TryEnd(m *layout.Mem, b *Batch) bool {
	if afterBatchCopy != nil {
		afterBatchCopy()
	}
	// A writer at work now may be writing over the copies: wait a
	// moment for it to finish and publish how far it wrote.
	if !lockFreeSoon(m.LockWord()) {
		return false
	}
	v := lookWords(m)
	if !v.sane {
		return false
	}
	// The newest record starts at last, in this generation or, if it
	// reached the end of the data area (its write counted the wrap in
	// gen), in the one before; it is at most a header and a frame long.
	// Either way the writers wrote nothing past Pos(gen, last) plus that
	// much, nor past the end of this generation's lap. (Its header would
	// tell exactly, but a NetBSD writer that took the lock since may not
	// have written it yet.)
	end := Pos(v.gen, min(v.last+hdrSize+layout.MaxFrame, dataSize))
	head := Pos(b.v.gen, b.v.next)
	// A writer that moved last back (a repair, a reset) or a stranger's
	// gen make end fall before head: nothing can be said then.
	if end < head || end-b.start > uint64(safeSpan) {
		return false
	}
	// gen is only a word any process may write. Writers write the ring in
	// order: one that came round to any copy rewrote the first copy's
	// header before it, and its stores become visible in order, so this
	// load, after the copies, sees that header changed (its seq and time
	// stamp differ from lap to lap; docs/protocol.md §9.6).
	if b.bytes == 0 {
		return true
	}
	h, _, _, ok := readHeader(m.Data(), b.firstOff)
	return ok && h == b.firstHdr
}

// lockFreeSoon reports whether the lock word reads 0 within lockWait. On
// one CPU it yields now and then, as every spinner does (wake.Pacer): the
// writer may be waiting for this CPU.
func lockFreeSoon(lock *uint32) bool {
	var start time.Time
	var pacer wake.Pacer
	for k := 1; ; k++ {
		if atomic.LoadUint32(lock) == 0 {
			return true
		}
		layout.SpinPause()
		if k%64 == 0 {
			now := time.Now()
			if start.IsZero() {
				start = now
			} else if now.Sub(start) > lockWait {
				return false
			}
			pacer.Tick(now)
		}
	}
}

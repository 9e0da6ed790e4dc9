package ring

import "github.com/libshmif/libshmif/core/internal/layout"

// Writer appends records to a bus whose lock the caller holds. It keeps the
// header words it changes (first, last, gen) in local variables and stores
// them once, in Flush: nobody may read them while the lock is held, and
// storing them per record made every record pay for stores to a cache line
// that spinning readers keep pulling to their own CPU.
type Writer struct {
	data        []byte
	m           *layout.Mem
	first, last uint32
	gen         uint64
	next        uint32 // where the next record goes
	seq         uint32 // Seq of the newest record
	dirty       bool
}

// NewWriter prepares to append to m, whose lock the caller holds. A bus
// whose header words are out of range is reset first.
func NewWriter(m *layout.Mem) Writer {
	if !headerSane(m) {
		reset(m)
	}
	w := Writer{data: m.Data(), m: m, first: m.First(), gen: m.Gen()}
	w.last = inRing(m.Last()) % dataSize
	prev, _, _, ok := readHeader(w.data, w.last)
	if !ok {
		// The newest record is damaged (say its writer died before
		// writing its header). Turn it into an empty record, which
		// every reader skips, and append after it: rewriting it in
		// place would change the bus without changing last, which
		// readers watching last (Idle, TryNext) would not notice.
		var empty [layout.FrameHeaderSize]byte
		wrap := false
		w.next = w.busWrite(w.last, empty[:], &wrap)
		if wrap {
			w.gen++
		}
		w.dirty = true
		return w
	}
	w.next = advance(w.last, hdrSize+prev.Len)
	w.seq = prev.Seq
	return w
}

// Append writes one record: hdr (whose Len must equal len(frame), at most
// layout.MaxFrame) followed by frame, right after the newest record (NetBSD's
// shmif_start). Seq is set to one more than the newest record's. gen is
// incremented if the record reaches the end of the data area.
func (w *Writer) Append(hdr *layout.FrameHeader, frame []byte) {
	w.seq++
	hdr.Seq = w.seq
	off := w.next
	w.last = off
	w.dirty = true

	var hb [layout.FrameHeaderSize]byte
	hdr.Encode(hb[:])
	wrap := false
	off = w.busWrite(off, hb[:], &wrap)
	w.next = w.busWrite(off, frame, &wrap)
	if wrap {
		w.gen++
	}
}

// Next returns where the writer's next record goes and the generation it
// will be in.
func (w *Writer) Next() (off uint32, gen uint64) { return w.next, w.gen }

// Flush stores the header words. It must be called before the lock is
// released.
func (w *Writer) Flush() {
	if !w.dirty {
		return
	}
	// Store only what changed: every store takes the header's cache
	// line from the readers watching it.
	if w.first != w.m.First() {
		w.m.SetFirst(w.first)
	}
	if w.gen != w.m.Gen() {
		w.m.SetGen(w.gen)
	}
	// last goes last: a lock-free watcher that sees it change knows the
	// records before it are complete.
	w.m.SetLast(w.last)
	w.dirty = false
}

// Append writes one record with a Writer of its own.
func Append(m *layout.Mem, hdr *layout.FrameHeader, frame []byte) {
	w := NewWriter(m)
	w.Append(hdr, frame)
	w.Flush()
}

// advanceFirst moves first past every record that a write of n bytes at off
// is about to overwrite (NetBSD's shmif_advancefirst), keeping NetBSD's
// exact condition including the HDRSIZE slack. A corrupt record in the way
// ends the walk just past the region being written.
func (w *Writer) advanceFirst(off, n uint32) {
	first := w.first
	// Each step moves first forward by at least one header, so the walk
	// ends within one lap; the bound only guards against a damaged bus.
	for steps := uint32(0); off <= first+hdrSize && off+n > first; steps++ {
		next, ok := nextPktOff(w.data, first)
		if !ok || steps > dataSize/hdrSize {
			first = min(off+n, dataSize)
			break
		}
		first = next
	}
	w.first = first
}

// busWrite copies src to data offset off, continuing at 0 at the end of the
// data area, after moving first past what it overwrites (NetBSD's
// shmif_buswrite). wrap is set when the write reaches the end.
func (w *Writer) busWrite(off uint32, src []byte, wrap *bool) uint32 {
	off = inRing(off)
	data := w.data
	n := uint32(len(src))
	chunk := min(n, dataSize-off)
	filled := off+chunk == dataSize
	extra := uint32(0)
	if filled {
		extra = 1
	}
	w.advanceFirst(off, chunk+extra)
	copy(data[off:off+chunk], src[:chunk])
	if filled {
		*wrap = true
	}
	if chunk == n {
		return (off + chunk) % dataSize
	}
	rest := n - chunk
	w.advanceFirst(0, rest)
	copy(data[:rest], src[chunk:])
	return rest
}

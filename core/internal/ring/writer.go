package ring

import "github.com/libshmif/libshmif/core/internal/layout"

// Writer appends records to a bus whose lock the caller holds.
//
// A writer may be killed at any instruction, and the next holder of the
// lock (which takes it over, see buslock and docs/protocol.md §9.1) must
// find a bus on which every reader still reads only whole frames. So a
// writer never lets a record it is writing lie inside the valid region
// [first, next write position): before it copies anything it moves first
// past every record its writes will overwrite, stores first, and only
// after the records are whole stores gen and then last (docs/protocol.md
// §9.7, §10.2). Killed anywhere, it leaves the header words describing the
// records before its own, and its half-written bytes in the free part of
// the ring, where the next writer writes over them. (NetBSD stores last
// before it writes the record there; a NetBSD peer killed while writing can
// leave one torn frame.)
//
// first, last and gen are kept in local variables while the lock is held
// and stored once per commit: storing them per record made every record pay
// for stores to a cache line that spinning readers keep pulling to their
// own CPU. seq numbers the records (docs/protocol.md §9.4).
type Writer struct {
	data        []byte
	m           *layout.Mem
	first, last uint32
	gen         uint64
	next        uint32 // where the next record goes
	seq         uint32 // Seq of the newest record

	storedFirst uint32 // first as stored on the bus
	emptyFirst  bool   // the newest record is damaged: write an empty record over it first
}

// epochBytes bounds the bytes written between two commits of the header
// words. NetBSD's walk that moves first assumes a write shorter than half
// the ring; a batch is committed in parts well below that
// (docs/protocol.md §9.7).
const epochBytes = dataSize / 4

// NewWriter prepares to append to m, whose lock the caller holds, and
// repairs what an earlier writer or a stranger left broken
// (docs/protocol.md §9.8): header words out of range reset the ring; a
// damaged newest record is emptied and appended after (rewriting it in
// place would change the bus without changing last, which lock-free
// watchers of last would not notice); a first that cannot be right
// (DataSize, "nothing overwritten yet", once the ring has wrapped; or
// inside the newest record) is moved to the newest record, which drops the
// older records from the ring for readers that had not read them: they
// count them lost, as after an overrun.
func NewWriter(m *layout.Mem) Writer { return newWriter(m, true) }

// newWriter is NewWriter; mayReset allows the reset for a last moved into
// an older record, which a writer makes once (a stranger at work may damage
// the fresh ring again at once).
func newWriter(m *layout.Mem, mayReset bool) Writer {
	if !headerSane(m) {
		// Number the reset after the newest record when last still
		// names one (only first was damaged).
		seq := uint32(0)
		if m.Last() < dataSize {
			if h, _, _, ok := readHeader(m.Data(), m.Last()); ok {
				seq = h.Seq
			}
		}
		reset(m, seq)
	}
	w := Writer{data: m.Data(), m: m, first: m.First(), gen: m.Gen(), last: m.Last()}
	w.storedFirst = w.first
	prev, _, _, ok := readHeader(w.data, w.last)
	if !ok && mayReset {
		if _, over := walkTo(w.data, w.first%dataSize, w.last); over {
			// A damaged newest record inside a record of the
			// chain from first: a stranger moved last into an
			// older record. The empty record written there would
			// overwrite a record of that chain, which readers
			// behind would read as garbage, and skip the frames
			// after it: the ring starts afresh, and no number can
			// be trusted (docs/protocol.md §9.8).
			reset(m, 0)
			return newWriter(m, false)
		}
	}
	w.seq = prev.Seq
	if ok {
		w.next = advance(w.last, hdrSize+prev.Len)
	} else {
		w.next, w.emptyFirst = w.last, true
	}
	switch {
	case w.first == dataSize && w.gen != 0:
		// "Nothing overwritten yet" on a bus whose gen says it
		// wrapped: one of them is damage. Records from 0 that lead
		// to the newest say the ring never wrapped (a stranger wrote
		// gen): they all stay; otherwise first was damaged, and the
		// newest record is the oldest known to be whole.
		if meets, _ := walkTo(w.data, 0, w.last); meets {
			w.first = 0
		} else {
			w.first = w.last
		}
	case ok && inside(w.first, w.last, w.next):
		w.first = w.last
	}
	return w
}

// inside reports whether off lies strictly inside the record that starts
// at start and ends at end, around the ring.
func inside(off, start, end uint32) bool {
	if start < end {
		return start < off && off < end
	}
	return off > start || off < end
}

// Append writes one record: hdr (whose Len is set to len(frame), at most
// layout.MaxFrame) followed by frame, right after the newest record
// (NetBSD's shmif_start, docs/protocol.md §3.1), and stores the header
// words.
func (w *Writer) Append(hdr *layout.FrameHeader, frame []byte) {
	frames := [1][]byte{frame}
	w.AppendBatch(hdr, frames[:])
}

// AppendBatch writes one record per frame, each with hdr (Len and Seq set
// per record: Seq one more than the newest record's, docs/protocol.md §9.4),
// in order, and stores the header words: once at the end, or every
// epochBytes for a long batch. gen is incremented for every record that
// reaches the end of the data area (docs/protocol.md §2.6).
func (w *Writer) AppendBatch(hdr *layout.FrameHeader, frames [][]byte) {
	if w.emptyFirst {
		w.writeEpoch(hdr, nil, hdrSize)
	}
	for len(frames) > 0 {
		n, span := 0, uint32(0)
		for n < len(frames) {
			size := hdrSize + uint32(len(frames[n]))
			if n > 0 && span+size > epochBytes {
				break
			}
			span += size
			n++
		}
		w.writeEpoch(hdr, frames[:n], span)
		frames = frames[n:]
	}
}

// writeEpoch clears the way for span bytes of records, writes them and
// commits them.
func (w *Writer) writeEpoch(hdr *layout.FrameHeader, frames [][]byte, span uint32) {
	if !w.clearAhead(w.next, span) {
		// A damaged record lies in the way, so where the records
		// after it start cannot be known: the ring starts afresh
		// (docs/protocol.md §9.8).
		reset(w.m, w.seq)
		*w = NewWriter(w.m)
		w.clearAhead(w.next, span)
	}
	if w.first != w.storedFirst {
		// Before the first byte is copied: see the type comment
		// (docs/protocol.md §9.7).
		w.m.SetFirst(w.first)
		w.storedFirst = w.first
	}
	wrap := false
	if w.emptyFirst {
		// The damaged newest record becomes an empty one, and the
		// records follow it (docs/protocol.md §9.8).
		var empty [layout.FrameHeaderSize]byte
		(&layout.FrameHeader{Seq: w.seq}).Encode(empty[:])
		w.next = w.busWrite(w.next, empty[:], &wrap)
		w.emptyFirst = false
	}
	for _, f := range frames {
		w.seq++
		hdr.Len, hdr.Seq = uint32(len(f)), w.seq
		w.last = w.next
		rec := false
		off := w.putHeader(w.next, hdr, &rec)
		w.next = w.busWrite(off, f, &rec)
		if rec {
			w.gen++
		}
	}
	if wrap {
		w.gen++
	}
	w.commit()
}

// commit stores gen and then last, the words that make the new records
// visible. last goes last: a lock-free reader that sees it change knows
// the records before it are whole (docs/protocol.md §10.2, §10.3). Both are
// release stores (docs/protocol.md §9.3).
func (w *Writer) commit() {
	if w.gen != w.m.Gen() {
		w.m.SetGen(w.gen)
	}
	if w.last != w.m.Last() {
		w.m.SetLast(w.last)
	}
}

// Next returns where the writer's next record goes and the generation it
// will be in.
func (w *Writer) Next() (off uint32, gen uint64) { return w.next, w.gen }

// Pos returns the writer's stream position: its generation times the ring
// size plus where its next record goes. Lossless readers publish the
// stream position writers may write up to (Reader.Keep).
func (w *Writer) Pos() uint64 { return Pos(w.gen, w.next) }

// Pos is the stream position of offset off in generation gen.
func Pos(gen uint64, off uint32) uint64 { return gen*uint64(dataSize) + uint64(off) }

// AppendLimited is AppendBatch for the frames that end before stream
// position limit (see Pos), from the first: it stops at the first frame
// that does not fit, and returns how many it wrote and where the next one
// would have ended (the room it needs).
func (w *Writer) AppendLimited(hdr *layout.FrameHeader, frames [][]byte, limit uint64) (n int, need uint64) {
	pos := w.Pos()
	if w.emptyFirst {
		pos += uint64(hdrSize)
	}
	for n < len(frames) {
		end := pos + uint64(hdrSize) + uint64(len(frames[n]))
		if end > limit {
			need = end
			break
		}
		pos = end
		n++
	}
	if n > 0 || w.emptyFirst {
		w.AppendBatch(hdr, frames[:n])
	}
	return n, need
}

// Append writes one record with a Writer of its own.
func Append(m *layout.Mem, hdr *layout.FrameHeader, frame []byte) {
	w := NewWriter(m)
	w.Append(hdr, frame)
}

// clearAhead moves first past every record that writing n bytes at off
// will overwrite, exactly as NetBSD's shmif_buswrite moves it chunk by
// chunk (shmif_advancefirst, with the extra byte for a chunk that fills the
// data area to its end: docs/protocol.md §2.5), once for a whole epoch
// (docs/protocol.md §9.7). It reports false if a damaged record is in the
// way.
func (w *Writer) clearAhead(off, n uint32) bool {
	off = inRing(off) % dataSize
	chunk := min(n, dataSize-off)
	extra := uint32(0)
	if off+chunk == dataSize {
		extra = 1
	}
	if !w.advanceFirst(off, chunk+extra) {
		return false
	}
	return chunk == n || w.advanceFirst(0, n-chunk)
}

// advanceFirst is NetBSD's shmif_advancefirst, with its exact condition
// including the HDRSIZE slack (docs/protocol.md §2.4). It reports false on
// a damaged record (docs/protocol.md §9.8).
func (w *Writer) advanceFirst(off, n uint32) bool {
	first := w.first
	// Each step moves first forward by at least one header, so the walk
	// ends within one lap; the bound only guards against a damaged bus.
	for steps := uint32(0); off <= first+hdrSize && off+n > first; steps++ {
		next, ok := nextPktOff(w.data, first)
		if !ok || steps > maxRecords {
			return false
		}
		first = next
	}
	w.first = first
	return true
}

// crash is set by tests: it is called before every copy into the ring, and
// when it returns true the writer copies half of that chunk and panics
// with errKilled, as a writer killed there would leave the bus.
var crash func() bool

type killed struct{}

var errKilled = killed{}

// busWrite copies src to data offset off, continuing at 0 at the end of the
// data area (NetBSD's shmif_buswrite, docs/protocol.md §2.5, without the
// walk: clearAhead did it). wrap is set when the write reaches the end.
func (w *Writer) busWrite(off uint32, src []byte, wrap *bool) uint32 {
	off = inRing(off) % dataSize
	n := uint32(len(src))
	chunk := min(n, dataSize-off)
	w.copy(w.data[off:off+chunk], src[:chunk])
	if off+chunk == dataSize {
		*wrap = true
	}
	if chunk == n {
		return (off + chunk) % dataSize
	}
	w.copy(w.data[:n-chunk], src[chunk:])
	return n - chunk
}

// putHeader writes the record header hdr at data offset off, as busWrite
// would, and returns where the frame goes: encoded in place unless it
// reaches the end of the data area (headerInPlace), or tests inject
// crashes, which need every write to go through copy.
func (w *Writer) putHeader(off uint32, hdr *layout.FrameHeader, wrap *bool) uint32 {
	if off = inRing(off); headerInPlace(off) && crash == nil {
		hdr.Encode(w.data[off : off+hdrSize])
		return off + hdrSize
	}
	var hb [layout.FrameHeaderSize]byte
	hdr.Encode(hb[:])
	return w.busWrite(off, hb[:], wrap)
}

func (w *Writer) copy(dst, src []byte) {
	if crash != nil && crash() {
		copy(dst, src[:len(src)/2])
		panic(errKilled)
	}
	copy(dst, src)
}

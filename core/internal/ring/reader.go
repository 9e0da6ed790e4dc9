package ring

import (
	"sync/atomic"

	"github.com/libshmif/libshmif/core/internal/layout"
)

// Status says what Reader.Next found.
type Status int

const (
	Frame    Status = iota // a frame was copied out
	Empty                  // the reader has caught up with the writers
	TooSmall               // the next frame does not fit the buffer; it was not consumed
)

// Reader follows the ring from one position (NetBSD's per-interface
// nextpacket and devgen, docs/protocol.md §3.2). The zero value is not
// ready: call Start.
type Reader struct {
	next uint32 // data offset of the next record header to read
	gen  uint64 // generation that next belongs to
	seq  uint32 // Seq of the last record consumed

	// numbered is set while the records read one after another carry
	// consecutive sequence numbers (libshmif writers number them; NetBSD
	// leaves the word uninitialised), so that losses can be counted
	// exactly. lapBound is the most records an overrun can have cost
	// (docs/protocol.md §9.4).
	numbered bool
	lapBound uint64

	// Offset is the data offset of the header of the record that Next
	// returned last.
	Offset uint32

	// Counters, only ever incremented.
	Lost     uint64 // frames overwritten before this reader got to them
	Overruns uint64 // times this reader was lapped
	Corrupt  uint64 // records skipped because they could not be frames

	// Where the bus stood when the reader last caught up; see Idle.
	idleGen  uint64
	idleLast uint32

	// The anchor is a record whose header, while it is unchanged on the
	// bus, proves that the reader has not been lapped: the record just
	// before its position (or the one at it). Writers write the ring in
	// order, so they cannot reach the reader's position again without
	// first overwriting that header (its seq and timestamp differ from
	// lap to lap). Unlike gen and first, which any process can damage,
	// this cannot mistake a foreign write to the header words for a lap
	// (docs/protocol.md §9.6).
	anchor    layout.FrameHeader
	anchorOff uint32
	anchored  bool
}

// Keep returns the stream position (see Pos) up to which writers may write
// without overwriting a record this reader still needs: the anchor, or
// without one the record at the reader's position, and everything after
// it. A lossless reader publishes it.
func (r *Reader) Keep() uint64 {
	off, gen := r.next, r.gen
	if r.anchored {
		off = r.anchorOff
		if r.anchorOff > r.next {
			gen-- // the anchor lies before the end of the data area
		}
	}
	// A header's worth short of a whole lap: NetBSD's walk of first has
	// that much slack.
	return Pos(gen, off) + uint64(dataSize) - uint64(hdrSize)
}

// setAnchor makes the record at off, with header h, the anchor, if it is a
// frame. Empty records (the dummy at 0, a reset's) have all-zero headers
// or nearly so, which the writers' bytes can reproduce: the previous
// anchor, earlier in the ring, still vouches for the reader's position.
func (r *Reader) setAnchor(off uint32, h *layout.FrameHeader) {
	if h.Len < layout.MinFrame {
		return
	}
	// Field by field: h was just stored a word at a time, and a copy of
	// the whole struct would load it 16 bytes at a time, which the CPU
	// cannot forward from those stores (a stall on every record read).
	r.anchor.Len, r.anchor.Sec, r.anchor.Usec, r.anchor.Seq, r.anchor.Sender = h.Len, h.Sec, h.Usec, h.Seq, h.Sender
	r.anchorOff, r.anchored = off, true
}

// anchorAt makes the record at off the anchor if its header is sane, and
// otherwise leaves the reader without one.
func (r *Reader) anchorAt(m *layout.Mem, off uint32) {
	h, _, _, ok := readHeader(m.Data(), off)
	r.anchored = false
	if ok {
		r.setAnchor(off, &h)
	}
	// Without a frame to anchor on, NetBSD's rule places the reader.
}

// intact reports whether the anchor's header is unchanged, but for its
// number (sameRecord).
func (r *Reader) intact(data []byte) bool {
	h, _, _, _ := readHeader(data, r.anchorOff)
	return sameRecord(&h, &r.anchor)
}

// sameRecord reports whether two headers at one offset are those of one
// record: the same length, time stamp and sender. The number is left out:
// it is a NetBSD writer's padding word, which anyone may rewrite without
// changing the record, and a reader that took such a write for a lap would
// go back and read the ring again, by numbers that are now wrong. Writers
// that came round cannot write the same three again: a lap takes longer
// than a time stamp's tick (a microsecond; NetBSD's 10 ms tick lets its
// records, which shift along the ring from lap to lap, meet an old one at
// the same place only hundreds of laps later).
func sameRecord(a, b *layout.FrameHeader) bool {
	return a.Len == b.Len && a.Sec == b.Sec && a.Usec == b.Usec && a.Sender == b.Sender
}

// damagedAnchor reports whether the anchor changed in a way that only a
// stranger explains: into a header no writer writes (a length over 1514),
// while it is still the newest record or the records from the reader's
// position on still meet the next write position. Writers that came round
// wrote a header there only if a record of theirs starts there, and
// otherwise frame bytes, which read as anything, insane headers too; but
// then they moved last, and the reader's position lies inside one of their
// records, where no such chain starts but by rare chance (docs/protocol.md
// §9.6).
func (r *Reader) damagedAnchor(v *view, data []byte) bool {
	h, _, _, sane := readHeader(data, r.anchorOff)
	return !sameRecord(&h, &r.anchor) && !sane && (r.anchorOff == inRing(v.last) || v.meets(data, r.next))
}

// Start positions the reader at the newest record on the bus, as NetBSD does
// on attach and on every interface up: that record is read again
// (docs/protocol.md §3.2).
func (r *Reader) Start(m *layout.Mem) {
	if !headerSane(m) {
		r.next, r.gen = 0, m.Gen()
		return
	}
	r.next = m.Last()
	r.gen = m.Gen()
	// A newest record that reaches the end of the data area was written
	// in the generation before: its own write incremented gen (NetBSD's
	// devgen = gen is one too high here, docs/protocol.md §3.2).
	if h, _, _, ok := readHeader(m.Data(), r.next); ok && r.gen > 0 &&
		r.next+hdrSize+h.Len >= dataSize {
		r.gen--
	}
	r.seq = seqBefore(m, r.next)
	r.numbered = true // until records say otherwise
	r.anchorAt(m, r.next)
	r.forgetIdle()
}

// StartOldest positions the reader at the oldest record still on the bus,
// so that Next returns everything the bus holds, as shmif_dumpbus shows it
// (docs/protocol.md §8.2), in the generation of the corrected overrun rule
// (docs/protocol.md §9.5).
func (r *Reader) StartOldest(m *layout.Mem) {
	if !headerSane(m) {
		r.next, r.gen = 0, m.Gen()
		r.anchored = false
		return
	}
	v := look(m)
	r.next, r.gen = v.oldest()
	r.seq = seqBefore(m, r.next)
	r.numbered = true // until records say otherwise
	r.anchorAt(m, r.next)
	r.forgetIdle()
}

// Skip moves the reader past everything on the bus now: only records
// written later will be read.
func (r *Reader) Skip(m *layout.Mem) {
	v := look(m)
	r.next, r.gen = v.next, v.gen
	h, _, _, _ := readHeader(m.Data(), inRing(v.last))
	r.seq = h.Seq
	r.numbered = true
	r.anchorAt(m, inRing(v.last))
	r.forgetIdle()
}

// forgetIdle clears the mark of where the reader last caught up, after the
// reader was moved: no bus state matches it.
func (r *Reader) forgetIdle() {
	r.idleGen, r.idleLast = ^uint64(0), ^uint32(0)
}

// At reports whether the reader stands exactly where w will append, with
// nothing left to read before it.
func (r *Reader) At(w *Writer) bool {
	off, gen := w.Next()
	return r.next == off && r.gen == gen
}

// SkipWritten moves a reader that was At(w) past the records w appended,
// as if it had read them, and marks it caught up. For an interface's own
// frames, which its filter would drop anyway (docs/protocol.md §6.3): a
// sender that will receive next then need not take the bus lock just to
// skip them (docs/protocol.md §9.12).
func (r *Reader) SkipWritten(w *Writer) {
	r.next, r.gen = w.Next()
	r.seq = w.seq
	r.anchorAt(w.m, w.last)
	r.idleGen, r.idleLast = w.gen, w.last
}

// Peek copies the first bytes of the frame that Next left on the bus as
// TooSmall, without consuming it.
func (r *Reader) Peek(m *layout.Mem, dst []byte) {
	busRead(m.Data(), advance(inRing(r.next)%dataSize, hdrSize), dst)
}

// Drop consumes the frame that Next left on the bus as TooSmall: for a
// frame the receiver would not accept anyway, which must not block it.
func (r *Reader) Drop(m *layout.Mem) {
	h, off, wrap, ok := readHeader(m.Data(), r.next)
	if !ok {
		return
	}
	r.setAnchor(r.next, &h)
	off, wrap2 := skip(off, h.Len)
	r.next = off
	if wrap || wrap2 {
		r.gen++
	}
	r.numbered = h.Seq == r.seq+1
	r.seq = h.Seq
}

// seqBefore returns the sequence number to count losses from for a reader
// about to read the record at off: the one before it, or its own if it is
// not a frame (the dummy record).
func seqBefore(m *layout.Mem, off uint32) uint32 {
	h, _, _, ok := readHeader(m.Data(), off)
	if !ok || h.Len < layout.MinFrame {
		return h.Seq
	}
	return h.Seq - 1
}

// view is the bus header as one Next call sees it, with the next write
// position (docs/protocol.md §2.6). Nobody else changes the header while
// we hold the lock, so it is read once per call; a process that ignores the
// lock can only make the view stale, never make an access leave the bus
// (busRead folds every offset).
type view struct {
	gen         uint64
	first, last uint32
	next        uint32 // where the next record will be written
	sane        bool
}

func look(m *layout.Mem) view {
	v := lookWords(m)
	v.locate(m)
	return v
}

// lookWords reads the header words of a view, without the records: last
// before gen, so that writers who wrap between the two loads make gen too
// new rather than pair a new last with an old gen, a lap short (which
// ring.Batch's check must not see).
func lookWords(m *layout.Mem) view {
	v := view{last: m.Last()}
	v.gen, v.first = m.Gen(), m.First()
	v.sane = v.first <= dataSize && v.last < dataSize
	return v
}

// stillSeen reports whether no writer holds the lock and the header words
// are those of v: the closing check of a lock-free read (docs/protocol.md
// §10.3). Every writer holds the lock while it writes and changes last
// with every record it commits.
func (v *view) stillSeen(m *layout.Mem, lock *uint32) bool {
	return atomic.LoadUint32(lock) == 0 && m.Last() == v.last && m.Gen() == v.gen && m.First() == v.first
}

// meets reports whether the records from off on, each of a sane length,
// end exactly at the next write position.
func (v *view) meets(data []byte, off uint32) bool {
	meets, _ := walkTo(data, off, v.next)
	return meets
}

// locate finds the next write position from the newest record.
func (v *view) locate(m *layout.Mem) {
	v.next, _ = nextPktOff(m.Data(), inRing(v.last))
}

// Idle reports, without the bus lock, that the bus has not changed since
// the reader last caught up, so that Next would find nothing: receivers that
// poll an idle bus need not take the lock, which would stall its writers. A
// false answer only means "look under the lock" (docs/protocol.md §9.9,
// §10.5).
func (r *Reader) Idle(m *layout.Mem) bool {
	return m.Last() == r.idleLast && m.Gen() == r.idleGen
}

// position classifies the reader's position against the valid region of
// the ring (NetBSD's stillvalid_p, docs/protocol.md §3.4, which knows only
// valid and lapped).
type position int

const (
	valid  position = iota
	lapped          // the writers overwrote the record at the position
	ahead           // the position lies past the next write: the bus was damaged
)

// check places the reader. With an anchor (always, but after damage) it
// trusts nothing but the anchor: intact, the reader was not lapped, and
// its generation follows from where it stands, behind the next write
// position (this lap) or past it (the lap before), whatever a stranger
// wrote into gen or first; changed, it was lapped, unless a stranger
// damaged it (damagedAnchor). Without one it uses NetBSD's rule
// (docs/protocol.md §3.4, §9.6).
func (r *Reader) check(v *view, data []byte) position {
	if r.anchored && r.damagedAnchor(v, data) {
		// A stranger's damage, or writers that stopped just short of
		// the reader's position. A reader behind the writers whose
		// records are numbered one after another stands on a record
		// from which a sound chain meets the next write position: if
		// that record's number follows the newest it read and
		// NetBSD's rule agrees that the reader was not lapped, it is
		// the next one, and the reader anchors on it, as a reader
		// placed there would (writers that come round must overwrite
		// it before anything after it). Otherwise writers came round
		// (their chain may start where it stands, or a sender may
		// have made its bytes look so), or gen is damaged too: the
		// changed anchor means a lap, which the numbers then count
		// exactly. A reader caught up, or of records without numbers
		// (NetBSD's), is placed by NetBSD's rule until it has read a
		// frame, the next anchor.
		h, _, _, ok := readHeader(data, r.next)
		switch {
		case inRing(r.next) == v.next || !r.numbered:
			r.anchored = false
		case ok && h.Seq == r.seq+1 && r.position(v) == valid:
			r.anchored = false
			r.setAnchor(r.next, &h)
		}
	}
	p, gen := r.place(v, data)
	r.gen = gen
	return p
}

// place is check without changing the reader: it returns the position and
// the generation the reader is in.
func (r *Reader) place(v *view, data []byte) (position, uint64) {
	if !r.anchored {
		return r.position(v), r.gen
	}
	// An anchor that straddles the end lies before the reader in the lap
	// before: it must be in the valid region too. A ring reset by a writer
	// (docs/protocol.md §9.8) rewrites only its start, leaving such an
	// anchor whole and the reader's place inside the new records.
	if !r.intact(data) || !v.holds(r.next) || (r.anchorOff > r.next && !v.holds(r.anchorOff)) {
		return lapped, r.gen
	}
	if r.next > v.next || r.full(v) {
		return valid, v.gen - 1
	}
	return valid, v.gen
}

// position is NetBSD's stillvalid_p (docs/protocol.md §3.4), which also
// tells a position past the next write position: damage.
func (r *Reader) position(v *view) position {
	gendiff := v.gen - r.gen
	if int64(gendiff) < 0 {
		return ahead
	}
	if gendiff > 1 {
		return lapped
	}
	first := v.first
	dev := r.next
	lastoff := v.next
	if first >= lastoff {
		// The valid region wraps: [first, end) from the previous
		// generation, then [0, lastoff) from this one.
		lastoff += dataSize
		if gendiff == 0 {
			dev += dataSize
		}
	} else if gendiff != 0 {
		return lapped
	}
	switch {
	case dev < first:
		return lapped
	case dev > lastoff:
		return ahead
	}
	return valid
}

// oldest returns the oldest record on the bus and its generation. Unlike
// NetBSD (docs/protocol.md §9.5) the generation is chosen by comparing first
// with the next write position, not with last: when the newest record
// straddles the end of the data area NetBSD's choice is one generation too
// high. A first of DataSize says nothing was overwritten yet: the oldest
// record is the dummy at 0; once the ring has wrapped that value is damage
// (writers repair it), and the oldest record known to be whole is the newest.
func (v *view) oldest() (off uint32, gen uint64) {
	switch {
	case v.first == dataSize && v.gen == 0:
		return 0, v.gen
	case v.first == dataSize:
		off = v.last
	default:
		off = v.first
	}
	if off >= v.next {
		return off, v.gen - 1
	}
	return off, v.gen
}

// holds reports whether off lies in the valid region [first, next write
// position], around the ring (docs/protocol.md §2.6): a reader outside it
// was lapped even if its anchor is intact (a writer reset the ring, or
// moved first past it before writing; docs/protocol.md §9.6). A first of
// DataSize on a bus that has wrapped is damage and says nothing; the
// anchor decides alone.
func (v *view) holds(off uint32) bool {
	switch {
	case v.first == dataSize && v.gen != 0:
		return true
	case v.first == dataSize:
		return off <= v.next
	case v.first >= v.next:
		return off >= v.first || off <= v.next
	}
	return v.first <= off && off <= v.next
}

// overrun moves a lapped reader to the oldest surviving record
// (docs/protocol.md §3.5, with the corrected rule of §9.5), anchored on
// that record (docs/protocol.md §9.6). lapBound caps the losses its
// sequence numbers may show (docs/protocol.md §9.4).
func (r *Reader) overrun(v *view, m *layout.Mem) {
	r.lapBound = (min(uint64(v.gen-r.gen), 64) + 1) * uint64(maxRecords)
	r.next, r.gen = v.oldest()
	r.anchorAt(m, r.next)
	r.Overruns++
}

// resync gives up on the current position after damage and waits for the
// next record written (docs/protocol.md §9.6).
func (r *Reader) resync(v *view, m *layout.Mem) {
	r.next = v.next
	r.gen = v.gen
	r.anchorAt(m, inRing(v.last))
	r.Corrupt++
}

// maxRecords bounds one Next call: the most records a ring can hold.
const maxRecords = dataSize/hdrSize + 1

// Next copies the next frame into dst and returns its header (NetBSD's
// shmif_rcv, docs/protocol.md §3.3). Records shorter than an Ethernet
// header (such as the dummy record) are consumed and skipped. When lapped,
// the reader resumes at the oldest surviving record and adds the frames it
// missed to Lost (exact when every writer is libshmif, which numbers its
// records; at least one otherwise; docs/protocol.md §9.4); records it has
// already read, which a lap found by mistake after damage would show again,
// are skipped by their numbers (docs/protocol.md §9.6).
func (r *Reader) Next(m *layout.Mem, dst []byte) (layout.FrameHeader, Status) {
	data := m.Data()
	v := look(m)
	wasLapped, jumped := false, false
	for range maxRecords {
		if !v.sane {
			// Damaged header words: a writer resets the ring
			// (docs/protocol.md §9.8).
			break
		}
		switch r.check(&v, data) {
		case lapped:
			was := r.next
			r.overrun(&v, m)
			// Caught before the writers reached the record the
			// reader was about to read: nothing was lost.
			wasLapped = r.next != was
		case ahead:
			if restarted(data, &v) && r.next != 0 {
				// A writer reset the ring after damage: its
				// records are sound, start at the oldest, as
				// a lapped reader would (docs/protocol.md §9.8).
				r.overrun(&v, m)
				wasLapped = true
				break
			}
			r.resync(&v, m)
			continue
		}
		if r.caughtUp(&v) {
			break
		}
		pos := r.next
		h, off, wrap, ok := readHeader(data, pos)
		if !ok || hdrSize+h.Len > r.toNext(&v) {
			// Damaged, or a record that runs past the next write
			// position: the chain is broken (a sane chain meets
			// that position exactly). The newest record is the
			// one most likely whole, and unread: go to it, once,
			// unless it is the broken one (docs/protocol.md §9.6).
			if newest := inRing(v.last); pos != newest && !jumped {
				jumped = true
				r.next, r.gen = newest, v.gen
				r.anchorAt(m, newest)
				r.Corrupt++
				continue
			}
			r.resync(&v, m)
			break
		}
		if wasLapped && r.numbered && readBefore(h.Seq, r.seq) && !restartsAt(data, &v, pos, &h) {
			// Read before: the lap was damage, not writers
			// (docs/protocol.md §9.6). Past the whole record,
			// keeping the newest number read: an empty record
			// too, the dummy at 0 (number 0) of a bus that never
			// wrapped included.
			off, wrap2 := skip(off, h.Len)
			seq := r.seq
			r.consume(pos, &h, off, wrap || wrap2)
			r.seq = seq
			continue
		}
		if wasLapped && h.Len < layout.MinFrame && r.numbered && int32(h.Seq-r.seq) > 0 {
			// An empty record that a libshmif writer numbered (an
			// emptied bus, a reset ring: docs/protocol.md §9.8)
			// tells what was lost as exactly as a frame would.
			r.countLost(h.Seq)
			wasLapped = false
		} else if wasLapped && restartsAt(data, &v, pos, &h) {
			// A ring reset that could not find the newest number
			// starts the numbers again, at 1: the records after it
			// are new, not ones read before, and at least one
			// frame was lost. (A reset that found the number
			// continues it, and the rule above counts exactly.)
			r.Lost++
			r.seq, r.numbered = h.Seq-1, false
			wasLapped = false
		}
		if h.Len > uint32(len(dst)) && h.Len >= layout.MinFrame {
			if wasLapped {
				// Counted up to this frame, which stays on the bus:
				// a lap before it is read counts from here, not
				// again from the frame before the first lap.
				r.countLost(h.Seq)
				r.seq = h.Seq - 1
				wasLapped = false
			}
			return h, TooSmall
		}
		var wrap2 bool
		if h.Len < layout.MinFrame {
			off, wrap2 = skip(off, h.Len)
		} else {
			off, wrap2 = busRead(data, off, dst[:h.Len])
		}
		if h.Len >= layout.MinFrame {
			if wasLapped {
				r.countLost(h.Seq)
				wasLapped = false
			} else {
				// The dummy record is nobody's: only frames tell.
				r.numbered = h.Seq == r.seq+1
			}
		}
		r.consume(pos, &h, off, wrap || wrap2)
		if h.Len < layout.MinFrame {
			continue
		}
		r.Offset = pos
		return h, Frame
	}
	if wasLapped {
		// Lapped, and nothing left but records read before: lost are
		// those up to the newest record.
		h, _, _, _ := readHeader(data, v.last)
		r.countLost(h.Seq + 1)
	}
	r.idleGen, r.idleLast = v.gen, v.last
	return layout.FrameHeader{}, Empty
}

// consume moves the reader past the record h at pos, which ends at off; a
// record that touched the end of the data area moves the reader into the
// next generation (docs/protocol.md §3.3).
func (r *Reader) consume(pos uint32, h *layout.FrameHeader, off uint32, wrap bool) {
	r.setAnchor(pos, h)
	r.next = off
	if wrap {
		r.gen++
	}
	r.seq = h.Seq
}

// caughtUp is NetBSD's test for "nothing new" (docs/protocol.md §3.3):
// same generation and the reader sits at the next write position. With an
// intact anchor the position alone tells: a writer that came round to the
// reader's position again would have overwritten the anchor
// (docs/protocol.md §9.6).
func (r *Reader) caughtUp(v *view) bool {
	if r.anchored {
		return v.next == r.next && !r.full(v)
	}
	return v.next == r.next && r.gen == v.gen
}

// toNext returns how many bytes of records lie between the reader and the
// next write position.
func (r *Reader) toNext(v *view) uint32 {
	if r.full(v) {
		return dataSize
	}
	return (v.next - r.next + dataSize) % dataSize
}

// full reports whether the reader stands at the next write position with
// a whole lap of records to read: its anchor is the record at its own
// position (after Start, StartOldest or an overrun), not the one before
// (docs/protocol.md §9.6). Without an anchor, NetBSD's rule tells: the
// reader is a generation behind the writers (it is valid there only when
// first is at the write position too: the writers' newest record ended
// exactly where the reader stands).
func (r *Reader) full(v *view) bool {
	if !r.anchored {
		return v.next == r.next && r.gen != v.gen
	}
	return r.anchorOff == r.next && v.next == r.next
}

// tryWindow is how far behind the writers a reader may be for TryNext to
// try: a reader with a backlog reads it in batches (Batch), or, far behind,
// under the lock (docs/protocol.md §9.9).
const tryWindow = 4 * (hdrSize + layout.MaxFrame)

// Set by tests: beforeTryLockCheck runs between TryNext's reading of the
// header words and of the lock word, afterTryCopy between its copy and its
// check, where writers may strike.
var beforeTryLockCheck, afterTryCopy func()

// TryNext is Next without the bus lock, for a reader that is a few records
// behind the writers (a request and its answer): it copies the next frame
// and then checks that no writer held the lock or moved the header since
// it looked (a seqlock read, with the bus lock word as the sequence). It
// returns ok false, having changed nothing, whenever that cannot be shown
// or the case is not a plain frame (a lap, a damaged or dummy record, a
// buffer too small, a backlog): the caller then calls Next under the lock.
// A NetBSD writer, which always holds the lock while it writes, cannot
// tell the difference. The ordering it relies on is docs/protocol.md §10.3;
// where loads may be reordered (arm64, race builds) it is not attempted
// (docs/protocol.md §10.5).
func (r *Reader) TryNext(m *layout.Mem, dst []byte, h *layout.FrameHeader) bool {
	if !layout.LoadsOrdered {
		return false
	}
	// Nothing to gain while a writer is at work. Then the header words,
	// the lock word again, and only then the records: a NetBSD writer
	// stores last before it writes the record there, so only a lock found
	// free after last was read vouches for that record (loads are not
	// reordered with loads: see layout.LoadsOrdered; docs/protocol.md
	// §10.3, steps 1 to 3). The first look at the lock is not needed for
	// that, but measurably shortens round trips.
	lock := m.LockWord()
	if atomic.LoadUint32(lock) != 0 {
		return false
	}
	v := lookWords(m)
	if beforeTryLockCheck != nil {
		beforeTryLockCheck()
	}
	if atomic.LoadUint32(lock) != 0 {
		return false
	}
	v.locate(m)
	if !v.sane {
		return false
	}
	data := m.Data()
	pos, gen := r.place(&v, data)
	if pos != valid || r.caughtUp(&v) || (v.next-r.next+dataSize)%dataSize > tryWindow {
		return false
	}
	off, wrap, okh := readHeaderTo(h, data, r.next)
	if !okh || h.Len < layout.MinFrame || h.Len > uint32(len(dst)) || hdrSize+h.Len > r.toNext(&v) {
		return false
	}
	off, wrap2 := busRead(data, off, dst[:h.Len])
	if afterTryCopy != nil {
		afterTryCopy()
	}
	// If the lock is free and the header words unchanged after the copy,
	// no writer touched the bus during it: every writer holds the lock
	// while it writes and changes last with every record (NetBSD before
	// writing it, libshmif when done; see NewWriter for a damaged newest
	// record; docs/protocol.md §10.3, step 5).
	if !v.stillSeen(m, lock) {
		return false
	}
	r.Offset = r.next
	r.gen = gen
	r.numbered = h.Seq == r.seq+1
	r.consume(r.next, h, off, wrap || wrap2)
	return true
}

// restartsAt reports whether the record at pos, with header h, is the
// first of a ring reset that could not number its records after the
// newest: they number again from 1 (docs/protocol.md §9.8).
func restartsAt(data []byte, v *view, pos uint32, h *layout.FrameHeader) bool {
	return h.Len < layout.MinFrame && pos == 0 && h.Seq == 1 && restarted(data, v)
}

// restarted reports whether the ring starts as a reset leaves it: two empty
// records at offsets 0 and HDRSIZE, numbered one after the other, the
// oldest records on the bus (docs/protocol.md §9.8).
func restarted(data []byte, v *view) bool {
	a, _, _, ok1 := readHeader(data, 0)
	b, _, _, ok2 := readHeader(data, hdrSize)
	return v.first == 0 && ok1 && ok2 && a.Len == 0 && b.Len == 0 && b.Seq == a.Seq+1
}

// countLost adds the records between the last one consumed and seq, the
// first one found after an overrun. The count is exact while the writers
// number their records; otherwise (NetBSD writers), or for a gap larger
// than the laps the writers made could hold (damage), at least one frame
// was lost (docs/protocol.md §9.4).
func (r *Reader) countLost(seq uint32) {
	missed := uint64(seq - r.seq - 1)
	if !r.numbered || missed > r.lapBound {
		missed = 1
	}
	r.Lost += missed
}

// readBefore reports whether a frame numbered seq, met after a lap, is one
// a reader whose newest number is newest has read already: numbered at most
// a ring's worth of records before it (docs/protocol.md §9.6). The word is
// a NetBSD writer's padding, anything at all, and libshmif writers number
// on from the newest record, so on a bus with NetBSD writers a number
// merely below newest proves nothing (it would be, half the time).
func readBefore(seq, newest uint32) bool { return newest-seq < maxRecords }

// skip is busRead without the copy.
func skip(off, n uint32) (next uint32, wrap bool) {
	end := off + n
	if end >= dataSize {
		return end - dataSize, true
	}
	return end, false
}

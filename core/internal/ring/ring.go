// Package ring implements the shmif ring walk of NetBSD's shmif_busops.c and
// if_shmem.c (docs/protocol.md §2, §3) over a bus in memory: how a writer
// appends records, how a reader follows them, notices that it has been lapped
// and resumes at the oldest surviving record.
//
// Every function here must be called with the bus lock held. Every offset and
// length read from the bus is checked before it is used: a corrupt bus makes
// a reader skip and count records, never read outside the bus or loop forever.
//
// A record is a frame header (layout.FrameHeaderSize bytes) followed by the frame.
// Records follow each other without alignment and may be split across the
// end of the data area. Offset 0 of a fresh bus holds an empty "dummy" record.
package ring

import "github.com/libshmif/libshmif/core/internal/layout"

const (
	hdrSize  = uint32(layout.FrameHeaderSize)
	dataSize = uint32(layout.DataSize)
)

// advance moves off by delta bytes around the ring (docs/protocol.md §2.1).
func advance(off, delta uint32) uint32 {
	off += delta
	if off >= dataSize {
		off -= dataSize
	}
	return off
}

// busRead copies len(dst) bytes from data offset off, continuing at offset 0
// if the end is reached. wrap is set when the read touches the end of the
// data area (NetBSD's shmif_busread, docs/protocol.md §2.2). off may equal
// dataSize, which reads as 0.
func busRead(data []byte, off uint32, dst []byte) (next uint32, wrap bool) {
	off = inRing(off)
	n := uint32(len(dst))
	chunk := min(n, dataSize-off)
	copy(dst, data[off:off+chunk])
	wrap = off+chunk == dataSize
	if chunk == n {
		return (off + chunk) % dataSize, wrap
	}
	copy(dst[chunk:], data[:n-chunk])
	return n - chunk, wrap
}

// readHeader decodes the record header at off. ok is false when the record
// cannot be a frame NetBSD would write (longer than layout.MaxFrame,
// docs/protocol.md §1.3).
func readHeader(data []byte, off uint32) (h layout.FrameHeader, next uint32, wrap, ok bool) {
	next, wrap, ok = readHeaderTo(&h, data, off)
	return h, next, wrap, ok
}

// readHeaderTo is readHeader decoding into *h, for the per-record paths:
// a header returned by value is stored a word at a time and then copied
// 16 bytes at a time, a load the CPU cannot forward from those stores (a
// stall of some nanoseconds on every record).
func readHeaderTo(h *layout.FrameHeader, data []byte, off uint32) (next uint32, wrap, ok bool) {
	if off = inRing(off); headerInPlace(off) {
		h.Decode(data[off : off+hdrSize])
		return off + hdrSize, false, h.Len <= layout.MaxFrame
	}
	var b [layout.FrameHeaderSize]byte
	next, wrap = busRead(data, off, b[:])
	h.Decode(b[:])
	return next, wrap, h.Len <= layout.MaxFrame
}

// headerInPlace reports whether a record header at data offset off (folded
// by inRing) ends before the end of the data area: it is then decoded and
// encoded where it lies, one copy fewer per record; otherwise it wraps, or
// ends exactly at the end and moves the position into the next generation.
func headerInPlace(off uint32) bool { return off < dataSize-hdrSize }

// nextPktOff returns the offset of the record after the one at off
// (NetBSD's shmif_nextpktoff, docs/protocol.md §2.3). ok is false if the
// record at off is corrupt.
func nextPktOff(data []byte, off uint32) (uint32, bool) {
	// Only the length is needed; it is the header's first word.
	var n uint32
	if off = inRing(off); off <= dataSize-4 {
		n = layout.NativeEndian.Uint32(data[off : off+4])
	} else {
		var b [4]byte
		busRead(data, off, b[:])
		n = layout.NativeEndian.Uint32(b[:])
	}
	if n > layout.MaxFrame {
		return off, false
	}
	return advance(off, hdrSize+n), true
}

// walkTo follows the records from data offset from towards offset to,
// around the ring, and tells how the chain ends: at to exactly (meets),
// with a record that starts before to and ends past it (over), or at a
// record of insane length, or after a ring's worth of records (neither).
func walkTo(data []byte, from, to uint32) (meets, over bool) {
	from, to = inRing(from)%dataSize, inRing(to)%dataSize
	left := (to - from + dataSize) % dataSize
	for range maxRecords {
		if left == 0 {
			return true, false
		}
		n, ok := nextPktOff(data, from)
		step := (n - from + dataSize) % dataSize
		if !ok || step == 0 {
			return false, false
		}
		if step > left {
			return false, true
		}
		left -= step
		from = n
	}
	return false, false
}

// nextWrite returns where the next record goes: just after the newest record
// at last (docs/protocol.md §2.6). If that record is corrupt, just after it
// once a writer has turned it into an empty record (see NewWriter,
// docs/protocol.md §9.8); until then, where it stands.
func nextWrite(m *layout.Mem) uint32 {
	off, _ := nextPktOff(m.Data(), inRing(m.Last()))
	return off
}

// inRing folds an offset read from the bus into [0, dataSize]. Header words
// are checked before use, but a process that ignores the lock can change
// them between the check and the use: this keeps every access inside the
// bus whatever they hold (docs/protocol.md §9.12).
func inRing(off uint32) uint32 {
	if off > dataSize {
		return off % dataSize
	}
	return off
}

// headerSane reports whether first and last lie inside the data area. A bus
// whose header fails this was damaged by someone other than a shmif driver
// (docs/protocol.md §9.8).
func headerSane(m *layout.Mem) bool {
	return m.First() <= dataSize && m.Last() < dataSize
}

// Init sets up an uninitialised bus (magic 0): magic and first. gen, last and
// version stay as they are (zero on a new file), exactly as NetBSD does
// (docs/protocol.md §1.2).
func Init(m *layout.Mem) {
	m.SetMagic(layout.Magic)
	m.SetFirst(dataSize)
}

// reset reinitialises the ring of a bus whose header is damaged beyond
// repair (docs/protocol.md §9.8): two empty records at offsets 0 and
// HDRSIZE, last at the second, first at the first, one generation later, so
// that readers see that they have been lapped and resynchronise. first is
// not DataSize ("nothing overwritten yet") because that is a state only a
// bus that never wrapped can be in: a writer that finds it on a bus with
// gen > 0 knows first was damaged. Nor does first equal last, which NetBSD
// readers assert (docs/protocol.md §3.6). seq is the number of the newest
// record before the reset: the empty records are numbered seq+1 and seq+2,
// so that the records after them continue the sequence and readers count
// exactly what the reset cost them (docs/protocol.md §9.4). When the newest
// record cannot be found, seq is 0 and the numbers start again; readers
// then count at least one frame lost.
func reset(m *layout.Mem, seq uint32) {
	var empty [layout.FrameHeaderSize]byte
	(&layout.FrameHeader{Seq: seq + 1}).Encode(empty[:])
	copy(m.Data(), empty[:])
	(&layout.FrameHeader{Seq: seq + 2}).Encode(empty[:])
	copy(m.Data()[hdrSize:], empty[:])
	m.SetLast(hdrSize)
	m.SetFirst(0)
	m.SetGen(m.Gen() + 1)
}

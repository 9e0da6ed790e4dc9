package ring

import "github.com/libshmif/libshmif/core/shm"

// advanceFirst moves the bus's first pointer past every record that a write
// of n bytes at off is about to overwrite (NetBSD's shmif_advancefirst),
// keeping NetBSD's exact condition including the HDRSIZE slack. A corrupt
// record in the way ends the walk just past the region being written.
func advanceFirst(m *shm.Mem, off, n uint32) {
	data := m.Data()
	first := m.First()
	start := first
	// Each step moves first forward by at least one header, so the walk
	// ends within one lap; the bound only guards against a damaged bus.
	for steps := uint32(0); off <= first+hdrSize && off+n > first; steps++ {
		next, ok := nextPktOff(data, first)
		if !ok || steps > dataSize/hdrSize {
			first = off + n
			break
		}
		first = next
	}
	if first != start {
		m.SetFirst(first)
	}
}

// busWrite copies src to data offset off, continuing at 0 at the end of the
// data area, after moving first past what it overwrites (NetBSD's
// shmif_buswrite). wrap is set when the write reaches the end.
func busWrite(m *shm.Mem, off uint32, src []byte, wrap *bool) uint32 {
	off = inRing(off)
	data := m.Data()
	n := uint32(len(src))
	chunk := min(n, dataSize-off)
	filled := off+chunk == dataSize
	extra := uint32(0)
	if filled {
		extra = 1
	}
	advanceFirst(m, off, chunk+extra)
	copy(data[off:off+chunk], src[:chunk])
	if filled {
		*wrap = true
	}
	if chunk == n {
		return (off + chunk) % dataSize
	}
	rest := n - chunk
	advanceFirst(m, 0, rest)
	copy(data[:rest], src[chunk:])
	return rest
}

// Append writes one record: hdr (whose Len must equal len(frame), at most
// shm.MaxFrame) followed by frame, right after the newest record. Seq is set
// to one more than the newest record's. gen is incremented if the record
// reaches the end of the data area.
func Append(m *shm.Mem, hdr *shm.FrameHeader, frame []byte) {
	w := NewWriter(m)
	w.Append(hdr, frame)
}

// Writer appends several records under one lock hold without reading back
// the record it has just written.
type Writer struct {
	m    *shm.Mem
	next uint32 // where the next record goes
	seq  uint32 // Seq of the newest record
}

// NewWriter prepares to append to m, whose lock the caller holds. A bus
// whose header words are out of range is reset first.
func NewWriter(m *shm.Mem) Writer {
	if !headerSane(m) {
		reset(m)
	}
	last := inRing(m.Last()) % dataSize
	prev, _, _, ok := readHeader(m.Data(), last)
	next := last
	if ok {
		next = advance(last, hdrSize+prev.Len)
	}
	return Writer{m: m, next: next, seq: prev.Seq}
}

// Append writes one record as the package-level Append does.
func (w *Writer) Append(hdr *shm.FrameHeader, frame []byte) {
	m := w.m
	w.seq++
	hdr.Seq = w.seq
	off := w.next
	m.SetLast(off)

	var hb [shm.FrameHeaderSize]byte
	hdr.Encode(hb[:])
	wrap := false
	off = busWrite(m, off, hb[:], &wrap)
	w.next = busWrite(m, off, frame, &wrap)
	if wrap {
		m.SetGen(m.Gen() + 1)
	}
}

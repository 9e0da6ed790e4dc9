package dump

import (
	"bufio"
	"fmt"
	"io"
	"math/bits"

	"github.com/libshmif/libshmif/core/internal/layout"
	"github.com/libshmif/libshmif/core/pcap"
)

// Values shmif_dumpbus uses (docs/protocol.md §8.2).
const (
	// Snaplen is the snapshot length of the pcap files written.
	Snaplen = 1518
	// MaxRecord is the longest record the walk accepts: shmif_dumpbus's
	// 64 KiB buffer, which it asserts a record fits. Longer lengths are
	// damage.
	MaxRecord = 64 * 1024
	// v2HeaderSize is the frame header of bus version 2: length, seconds,
	// microseconds.
	v2HeaderSize = 12
)

const dataSize = uint32(layout.DataSize)

// Header is the bus header as shmif_dumpbus shows it, in host byte order.
type Header struct {
	Swapped bool // the bus was written by a host of the other byte order
	Version uint32
	Lock    uint32
	Gen     uint64
	First   uint32
	Last    uint32

	// Holder is the spare word at offset 28, in which libshmif records
	// the process id of the lock holder (NetBSD leaves it 0). A copy
	// taken under the lock shows it, like Lock, as it was before: 0.
	Holder uint32
}

// String returns shmif_dumpbus's header line (without the newline). Like
// the C program it prints the 32-bit words as signed numbers.
func (h Header) String() string {
	return fmt.Sprintf("bus version %d, lock: %d, generation: %d, firstoff: 0x%04x, lastoff: 0x%04x",
		int32(h.Version), int32(h.Lock), h.Gen, h.First, h.Last)
}

// Record is one frame found on a bus.
type Record struct {
	Offset uint32 // data offset of the frame bytes, just after the frame header
	Sec    uint32 // sender's timestamp
	Usec   uint32
	Sender uint64 // sender id (0 on a version 2 bus)
	Frame  []byte // the frame; valid only during the callback

	// HeaderOffset is the data offset of the record's frame header, Gen
	// the generation the record was written in: together they name the
	// record for as long as it is on the bus (see Cursor).
	HeaderOffset uint32
	Gen          uint64
	// Seq is the frame header's padding word, in which libshmif writers
	// number their records (one more than the record before; an empty
	// record repeats the number before it). NetBSD leaves it
	// uninitialised; a version 2 bus has no such word (0).
	Seq uint32

	// numbered: Seq continues the number of the record before, so it
	// can be trusted to count frames (see Cursor.Numbered).
	numbered bool
}

// Line returns shmif_dumpbus's line for the n-th frame printed (counting
// from 0), without the newline.
func (r *Record) Line(n int) string {
	return fmt.Sprintf("packet %d, offset 0x%04x, length 0x%04x, ts %d/%06d",
		n, r.Offset, len(r.Frame), int32(r.Sec), int32(r.Usec))
}

func swapped32(v uint32) uint32 { return bits.ReverseBytes32(v) }

// IsSwapped reports whether magic is the bus magic of a host of the other
// byte order.
func IsSwapped(magic uint32) bool { return magic == swapped32(layout.Magic) }

// order reads the bus's integers, swapping them for a foreign bus.
type order struct{ swap bool }

func (o order) u32(b []byte) uint32 {
	v := layout.NativeEndian.Uint32(b)
	if o.swap {
		v = bits.ReverseBytes32(v)
	}
	return v
}

func (o order) u64(b []byte) uint64 {
	v := layout.NativeEndian.Uint64(b)
	if o.swap {
		v = bits.ReverseBytes64(v)
	}
	return v
}

// Header decodes the bus header and checks it as shmif_dumpbus 1.19 does:
// the magic in either byte order, bus version 2 or 3; and version 0, which
// shmif_dumpbus refuses: a bus that was never woken (the version is set by
// the wake-up write), usually one that never carried a frame, is read as a
// version 3 bus. A file shorter than the header reads as if padded with
// zeros, as a mapping of it does.
func (img *Image) Header() (Header, error) {
	var b [layout.HeaderSize]byte
	copy(b[:], img.Data)
	magic := layout.NativeEndian.Uint32(b[layout.OffMagic:])
	var o order
	if magic != layout.Magic {
		if magic != swapped32(layout.Magic) {
			return Header{}, &NotBusError{Path: img.Path, Magic: magic}
		}
		o.swap = true
	}
	h := Header{
		Swapped: o.swap,
		Version: o.u32(b[layout.OffVersion:]),
		Lock:    o.u32(b[layout.OffLock:]),
		Gen:     o.u64(b[layout.OffGen:]),
		First:   o.u32(b[layout.OffFirst:]),
		Last:    o.u32(b[layout.OffLast:]),
		Holder:  o.u32(b[layout.OffSpare:]),
	}
	if h.Version != 0 && h.Version != 2 && h.Version != layout.Version {
		return Header{}, &VersionError{Path: img.Path, Version: h.Version}
	}
	return h, nil
}

// Walk calls fn for each record on the bus, oldest first, exactly as
// shmif_dumpbus walks it: from firstoff (0 while nothing has been
// overwritten) to lastoff, across the end of the data area when firstoff
// lies after lastoff; zero-length records (the dummy record at offset 0)
// are skipped, shorter frames are not. An error from fn ends the walk and
// is returned.
//
// Two differences from the C program, both on buses where it never ends or
// reads outside the file: the walk stops after the record at lastoff (when
// that record ends at or straddles the end of the data area, shmif_dumpbus
// goes on reading stale bytes, for ever if it ends exactly at the end); and
// damage (offsets outside the data area, records longer than MaxRecord or
// beyond the end of the file, a walk that passes the end of the data area
// twice) ends the walk with an Error instead of an assertion or a crash.
func (img *Image) Walk(fn func(*Record) error) error {
	h, err := img.Header()
	if err != nil {
		return err
	}
	return img.walk(h, fn)
}

func (img *Image) walk(h Header, fn func(*Record) error) error {
	return img.walkAll(h, func(r *Record) error {
		if len(r.Frame) == 0 {
			return nil
		}
		return fn(r)
	})
}

// walkAll is Walk over every record, zero-length ones (the dummy record, the
// empty records of a reset) included.
func (img *Image) walkAll(h Header, fn func(*Record) error) error {
	if h.First > dataSize || h.Last >= dataSize {
		return &CorruptError{Path: img.Path, Damage: HeaderOutOfRange, First: h.First, Last: h.Last}
	}
	var data []byte
	if len(img.Data) > layout.HeaderSize {
		data = img.Data[layout.HeaderSize:]
	}
	o := order{swap: h.Swapped}
	hdrSize := recordHeaderSize(h)

	// read is shmif_busread over the copy, refusing bytes the file lacks.
	read := func(dst []byte, off uint32) (uint32, bool, error) {
		n := uint32(len(dst))
		chunk := min(n, dataSize-off)
		rest := n - chunk
		if uint64(off)+uint64(chunk) > uint64(len(data)) || uint64(rest) > uint64(len(data)) {
			return 0, false, &TruncatedError{Path: img.Path, Size: img.Size, Offset: off}
		}
		copy(dst, data[off:off+chunk])
		wrap := off+chunk == dataSize
		if rest == 0 {
			return (off + chunk) % dataSize, wrap, nil
		}
		copy(dst[chunk:], data[:rest])
		return rest, true, nil
	}

	// The next write position tells each record's generation. A file
	// too short to hold the newest record fails the walk below, after
	// the records it does hold.
	next := h.Last
	var lb [4]byte
	if _, _, err := read(lb[:], h.Last); err == nil {
		next = (h.Last + hdrSize + o.u32(lb[:])%dataSize) % dataSize
	}

	cur, last := h.First, h.Last
	if cur == dataSize {
		cur = 0
	}
	bonus := last < cur // the valid region wraps: go on until a read does
	wraps := 0
	hb := make([]byte, hdrSize)
	buf := make([]byte, MaxRecord)
	var rec Record
	var prevSeq uint32
	for n := 0; cur <= last || bonus; n++ {
		at := cur
		next2, wrap, err := read(hb, cur)
		if err != nil {
			return err
		}
		cur = next2
		rec = Record{Offset: cur, Sec: o.u32(hb[4:]), Usec: o.u32(hb[8:]),
			HeaderOffset: at, Gen: recordGen(h.Gen, next, at)}
		if h.Version != 2 {
			rec.Seq = o.u32(hb[layout.OffSeq:])
			rec.Sender = o.u64(hb[layout.OffSender:])
		}
		length := o.u32(hb[0:])
		if length != 0 {
			if length > MaxRecord {
				return &CorruptError{Path: img.Path, Damage: RecordTooLong, Offset: at, Length: length}
			}
			var wrap2 bool
			cur, wrap2, err = read(buf[:length], cur)
			if err != nil {
				return err
			}
			wrap = wrap || wrap2
		}
		if wrap {
			bonus = false
			// A walk of the valid region passes the end of the data
			// area at most once.
			if wraps++; wraps > 1 {
				return &CorruptError{Path: img.Path, Damage: NoPath}
			}
		}
		rec.Frame = buf[:length]
		if n == 0 {
			// Nothing before the oldest record is on the bus: only
			// the dummy record of a fresh bus is known to start the
			// numbering.
			rec.numbered = at == 0 && rec.Gen == 0 && length == 0 && rec.Seq == 0
		} else {
			rec.numbered = numberedAfter(prevSeq, rec.Seq, length)
		}
		prevSeq = rec.Seq
		if err := fn(&rec); err != nil {
			return err
		}
		if at == last {
			break // the newest record: nothing valid follows
		}
	}
	return nil
}

// recordHeaderSize is the size of the frame headers of the bus.
func recordHeaderSize(h Header) uint32 {
	if h.Version == 2 {
		return v2HeaderSize
	}
	return uint32(layout.FrameHeaderSize)
}

// recordGen returns the generation of the valid record at data offset off
// of a bus in generation gen whose next record goes to offset next. The
// generation goes up when a record reaches the end of the data area, so
// the records of this generation lie before next; those at or after it
// (the ring's older part, and a newest record that reached the end) were
// written in the generation before.
func recordGen(gen uint64, next, off uint32) uint64 {
	if off >= next && gen > 0 {
		return gen - 1
	}
	return gen
}

// numberedAfter reports whether a record of the given length numbered seq
// continues the numbering after a record numbered prev, as libshmif
// writers number records: one more for every record they append (Empty's
// empty records included); an empty record written by a repair (§9.8)
// repeats the number before it.
func numberedAfter(prev, seq, length uint32) bool {
	return seq == prev+1 || (length == 0 && seq == prev)
}

// Dump writes shmif_dumpbus's output for img: the header line and one line
// per frame to text and, if pw is not nil, a pcap record per frame. pw is
// flushed at the end.
func Dump(img *Image, text io.Writer, pw *pcap.Writer) error {
	h, err := img.Header()
	if err != nil {
		return err
	}
	tw := bufio.NewWriter(text)
	fmt.Fprintln(tw, h.String())
	n := 0
	err = img.walk(h, func(r *Record) error {
		fmt.Fprintln(tw, r.Line(n))
		n++
		if pw != nil {
			return pw.Record(r.Sec, r.Usec, r.Frame)
		}
		return nil
	})
	if ferr := tw.Flush(); err == nil {
		err = ferr
	}
	if pw != nil {
		if ferr := pw.Flush(); err == nil {
			err = ferr
		}
	}
	return err
}

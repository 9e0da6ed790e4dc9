package dump

import (
	"fmt"
	"strconv"
	"strings"
)

// A Cursor names one record of a bus: the place of a dump or a follower in
// the stream of records, so that a later dump can show only what was
// written after it (WalkSince) and say so when that is no longer possible.
//
// A place on the ring is an offset together with a generation (docs/protocol.md §2.6):
// the pair is never reused while the bus lives. The rest of the record's
// header is kept to recognise the record, and to tell a cursor of another
// bus (or of the same file created again) from one of this bus.
//
// The zero Cursor names the dummy record of a fresh bus: everything a bus
// ever carried comes after it.
type Cursor struct {
	Gen       uint64 // the generation the record was written in
	Off       uint32 // data offset of its frame header
	Seq       uint32 // its header's padding word (libshmif's record number)
	Sec, Usec uint32 // its timestamp
	Len       uint32 // its length (0 for an empty record)
	Sender    uint64 // its sender id

	// Numbered says that Seq continued the number of the record before
	// it when the cursor was taken, as libshmif writers number their
	// records: the numbers of later records then count what was written
	// after it. Records written by NetBSD carry garbage there.
	Numbered bool
}

// cursorVersion starts every cursor's text, so that the format can change
// without old cursors being misread.
const cursorVersion = "v1"

// String formats c as one shell word, e.g.
//
//	v1,gen=8,off=0x9d2c8,seq=5321,ts=2.230008,len=1442,sender=0x1b2c3d4e5f607182,numbered=1
//
// ParseCursor reads it back.
func (c Cursor) String() string {
	n := 0
	if c.Numbered {
		n = 1
	}
	return fmt.Sprintf("%s,gen=%d,off=%#x,seq=%d,ts=%d.%06d,len=%d,sender=%#x,numbered=%d",
		cursorVersion, c.Gen, c.Off, c.Seq, c.Sec, c.Usec, c.Len, c.Sender, n)
}

// cursorKeys are the fields of a cursor's text, in order.
var cursorKeys = []string{"gen", "off", "seq", "ts", "len", "sender", "numbered"}

// ParseCursor reads a cursor written by Cursor.String. Surrounding white
// space is ignored. A malformed cursor gives a *CursorError.
func ParseCursor(s string) (Cursor, error) {
	var c Cursor
	text := strings.TrimSpace(s)
	bad := func(field string, problem CursorProblem) (Cursor, error) {
		return Cursor{}, &CursorError{Text: text, Field: field, Problem: problem}
	}
	parts := strings.Split(text, ",")
	if parts[0] != cursorVersion {
		return bad("", CursorVersion)
	}
	if len(parts) != len(cursorKeys)+1 {
		return bad("", CursorFields)
	}
	for i, key := range cursorKeys {
		k, v, ok := strings.Cut(parts[i+1], "=")
		if !ok || k != key {
			return bad(key, CursorFields)
		}
		var err error
		switch key {
		case "gen":
			c.Gen, err = strconv.ParseUint(v, 10, 64)
		case "off":
			var off uint64
			off, err = parseHex(v, 32)
			c.Off = uint32(off)
			if err == nil && c.Off >= dataSize {
				return bad(key, CursorRange)
			}
		case "seq":
			c.Seq, err = parseU32(v, 10)
		case "ts":
			sec, usec, ok := strings.Cut(v, ".")
			if !ok || len(usec) != 6 {
				return bad(key, CursorSyntax)
			}
			if c.Sec, err = parseU32(sec, 10); err == nil {
				c.Usec, err = parseU32(usec, 10)
			}
		case "len":
			c.Len, err = parseU32(v, 10)
			if err == nil && c.Len > MaxRecord {
				return bad(key, CursorRange)
			}
		case "sender":
			c.Sender, err = parseHex(v, 64)
		case "numbered":
			switch v {
			case "0":
			case "1":
				c.Numbered = true
			default:
				return bad(key, CursorSyntax)
			}
		}
		if err != nil {
			return bad(key, CursorSyntax)
		}
	}
	return c, nil
}

// parseU32 parses a uint32 in base.
func parseU32(s string, base int) (uint32, error) {
	v, err := strconv.ParseUint(s, base, 32)
	return uint32(v), err
}

// parseHex parses a hexadecimal number written with 0x, as %#x writes it.
func parseHex(s string, bits int) (uint64, error) {
	digits, ok := strings.CutPrefix(s, "0x")
	if !ok {
		return 0, strconv.ErrSyntax
	}
	return strconv.ParseUint(digits, 16, bits)
}

// Cursor returns the cursor that names r.
func (r *Record) Cursor() Cursor {
	return Cursor{Gen: r.Gen, Off: r.HeaderOffset, Seq: r.Seq, Sec: r.Sec, Usec: r.Usec,
		Len: uint32(len(r.Frame)), Sender: r.Sender, Numbered: r.numbered}
}

// is reports whether r is the record c names.
func (c Cursor) is(r *Record) bool {
	return r.Gen == c.Gen && r.HeaderOffset == c.Off && r.Seq == c.Seq &&
		r.Sec == c.Sec && r.Usec == c.Usec && uint32(len(r.Frame)) == c.Len && r.Sender == c.Sender
}

// Newest returns the cursor of the newest record on the bus (the one at
// lastoff, which may be an empty record): a later WalkSince with it shows
// exactly the frames written after the copy was taken.
func (img *Image) Newest() (Cursor, error) {
	h, err := img.Header()
	if err != nil {
		return Cursor{}, err
	}
	var c Cursor
	err = img.walkAll(h, func(r *Record) error {
		c = r.Cursor()
		return nil
	})
	return c, err
}

// Resume says how the record a cursor names was found on a bus.
type Resume struct {
	// Complete reports that every frame written after the cursor's
	// record is still on the bus: the record itself, or (with numbered
	// records) a record that continues its numbering without a gap.
	Complete bool

	// Lost, when not Complete, is the number of frames written after
	// the cursor's record that were overwritten (or removed by Empty)
	// before this copy was taken, or -1 if that is not known: NetBSD
	// writers do not number their records, and a cursor of another bus
	// or of a bus file created again cannot be related to this one.
	Lost int64
}

// locate finds c on the bus: it returns how, and the index (counting every
// record, empty ones included, from the oldest) of the first record after
// it; 0 when c was not found, so that everything on the bus follows.
func (img *Image) locate(h Header, c Cursor) (Resume, int, error) {
	var (
		n         int
		found     = -1
		oldestSeq uint32
		numbered  = true // every record after the oldest continues the numbering
	)
	err := img.walkAll(h, func(r *Record) error {
		if n == 0 {
			oldestSeq = r.Seq
		} else if !r.numbered {
			numbered = false
		}
		if found < 0 && c.is(r) {
			found = n
		}
		n++
		return nil
	})
	if err != nil {
		return Resume{}, 0, err
	}
	if found >= 0 {
		return Resume{Complete: true}, found + 1, nil
	}
	unknown := Resume{Lost: -1}
	if n == 0 || !c.Numbered || !numbered || h.Gen < c.Gen || h.Version == 2 {
		return unknown, 0, nil
	}
	// The number of the last record written before the oldest one. (An
	// empty record written by a repair repeats the number before it: the
	// count is then one too low.)
	lost := int64(int32(oldestSeq - 1 - c.Seq))
	// What was lost fits in the laps the writers made since the cursor.
	if lost < 0 || uint64(lost) > (h.Gen-c.Gen+1)*uint64(maxRecords) {
		return unknown, 0, nil
	}
	if lost == 0 {
		return Resume{Complete: true}, 0, nil
	}
	return Resume{Lost: lost}, 0, nil
}

// Locate finds the record c names on the bus and says whether every frame
// written after it is still there (see Resume). It returns an error only
// for a bus it cannot walk (see Walk).
func (img *Image) Locate(c Cursor) (Resume, error) {
	h, err := img.Header()
	if err != nil {
		return Resume{}, err
	}
	res, _, err := img.locate(h, c)
	return res, err
}

// WalkSince is Walk over the frames written after the record c names, or,
// when that record is no longer on the bus (see Locate), over every frame
// still there.
func (img *Image) WalkSince(c Cursor, fn func(*Record) error) error {
	h, err := img.Header()
	if err != nil {
		return err
	}
	_, skip, err := img.locate(h, c)
	if err != nil {
		return err
	}
	n := 0
	return img.walkAll(h, func(r *Record) error {
		n++
		if n <= skip || len(r.Frame) == 0 {
			return nil
		}
		return fn(r)
	})
}

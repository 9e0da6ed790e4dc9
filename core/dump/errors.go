package dump

import (
	"os"

	"errors"
	"fmt"
	"github.com/libshmif/libshmif/core/internal/layout"
)

// Kinds of failure, to be tested with errors.Is. Every error this package
// returns is one of the types below, or an *os.PathError for a system call
// that failed on a file (Op "open", "stat", "mmap", "read", "write"), whose
// Err is a syscall.Errno.
var (
	ErrNotBus    = errors.New("not a shmif bus")
	ErrVersion   = errors.New("unhandled bus version")
	ErrTruncated = errors.New("bus file truncated")
	ErrCorrupt   = errors.New("corrupt bus")
	ErrFrameSize = errors.New("frame size not allowed on a bus")
	ErrCursor    = errors.New("malformed cursor")
	ErrFilter    = errors.New("malformed filter")
	// ErrEmpty is an empty bus file: created, but no interface has
	// attached to it yet. It holds no frames.
	ErrEmpty = errors.New("empty bus file")
)

// NotBusError is a file whose magic is not a bus's, or one with the magic
// but shorter than a bus (Short). Swapped reports that it is the magic of
// a bus written by a host of the other byte order, which can be dumped but
// not attached to.
type NotBusError struct {
	Path    string
	Magic   uint32
	Swapped bool
	Short   bool
	Size    int64 // the file's size, when Short
}

func (e *NotBusError) Error() string {
	switch {
	case e.Swapped:
		return fmt.Sprintf("dump: %s: bus of the other byte order", e.Path)
	case e.Short:
		return fmt.Sprintf("dump: %s: not a shmif bus: only %d bytes", e.Path, e.Size)
	}
	return fmt.Sprintf("dump: %s: not a shmif bus (magic %#x)", e.Path, e.Magic)
}

func (e *NotBusError) Is(target error) bool { return target == ErrNotBus }

// VersionError is a bus of a version this package does not read (2 and 3
// are read; 0, a bus that never carried a frame, is reported by Header as
// such and walked as empty).
type VersionError struct {
	Path    string
	Version uint32
}

func (e *VersionError) Error() string {
	return fmt.Sprintf("dump: %s: unhandled bus version %d", e.Path, int32(e.Version))
}

func (e *VersionError) Is(target error) bool { return target == ErrVersion }

// TruncatedError is a bus file too short for what its header says, or one
// that shrank while it was read.
type TruncatedError struct {
	Path   string
	Size   int64  // the file's size, or -1 if it shrank while read
	Offset uint32 // data offset of the record that lies beyond the end
}

func (e *TruncatedError) Error() string {
	if e.Size < 0 {
		return fmt.Sprintf("dump: %s: bus file shrank while being read", e.Path)
	}
	return fmt.Sprintf("dump: %s: bus file truncated: %d bytes, record at offset %#x lies beyond its end", e.Path, e.Size, e.Offset)
}

func (e *TruncatedError) Is(target error) bool { return target == ErrTruncated }

// Damage names what is wrong with a corrupt bus.
type Damage int

const (
	// HeaderOutOfRange: firstoff or lastoff lies outside the data area.
	HeaderOutOfRange Damage = iota
	// RecordTooLong: a record is longer than MaxRecord (or than a frame
	// may be, for a follower).
	RecordTooLong
	// NoPath: the records do not lead from firstoff to lastoff.
	NoPath
)

// CorruptError is a damaged bus.
type CorruptError struct {
	Path        string
	Damage      Damage
	First, Last uint32 // the header words (HeaderOutOfRange)
	Offset      uint32 // data offset of the damaged record (RecordTooLong)
	Length      uint32 // its length
}

func (e *CorruptError) Error() string {
	switch e.Damage {
	case HeaderOutOfRange:
		return fmt.Sprintf("dump: %s: corrupt bus: firstoff %#x or lastoff %#x outside the data area", e.Path, e.First, e.Last)
	case RecordTooLong:
		return fmt.Sprintf("dump: %s: corrupt bus: record at offset %#x has length %#x", e.Path, e.Offset, e.Length)
	}
	return fmt.Sprintf("dump: %s: corrupt bus: records do not lead from firstoff to lastoff", e.Path)
}

func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// FrameSizeError is a frame Inject refuses: longer than 1514 bytes, shorter
// than 14, or captured only in part.
type FrameSizeError struct {
	Record  int // counting from 1
	Len     int // bytes captured
	OrigLen int // bytes on the wire
}

func (e *FrameSizeError) Error() string {
	return fmt.Sprintf("dump: record %d: frame of %d bytes (%d on the wire) cannot go on a bus", e.Record, e.Len, e.OrigLen)
}

func (e *FrameSizeError) Is(target error) bool { return target == ErrFrameSize }

// notBus explains why a bus file was refused as not a bus, from the magic
// it holds now.
func notBus(path string) error {
	var b [4]byte
	size := int64(0)
	if f, err := os.Open(path); err == nil {
		f.ReadAt(b[:], 0)
		if st, err := f.Stat(); err == nil {
			size = st.Size()
		}
		f.Close()
	}
	magic := layout.NativeEndian.Uint32(b[:])
	return &NotBusError{Path: path, Magic: magic, Swapped: IsSwapped(magic),
		Short: magic == layout.Magic && size < layout.BusSize, Size: size}
}

// CursorProblem names what is wrong with a cursor's text.
type CursorProblem int

const (
	// CursorVersion: the text does not start with a cursor version this
	// package reads ("v1").
	CursorVersion CursorProblem = iota
	// CursorFields: the fields are not gen, off, seq, ts, len, sender
	// and numbered, in that order, each as key=value.
	CursorFields
	// CursorSyntax: a field's value is not a number of its form.
	CursorSyntax
	// CursorRange: off or len lies outside what a bus can hold.
	CursorRange
)

// CursorError is a cursor ParseCursor cannot read.
type CursorError struct {
	Text    string // the cursor as given, without surrounding white space
	Field   string // the field at fault, "" for the whole text
	Problem CursorProblem
}

func (e *CursorError) Error() string {
	what := map[CursorProblem]string{
		CursorVersion: "not a cursor of version " + cursorVersion,
		CursorFields:  "fields missing, misnamed or out of order",
		CursorSyntax:  "bad number",
		CursorRange:   "out of range",
	}[e.Problem]
	if e.Field != "" {
		what = e.Field + ": " + what
	}
	return fmt.Sprintf("dump: cursor %q: %s", e.Text, what)
}

func (e *CursorError) Is(target error) bool { return target == ErrCursor }

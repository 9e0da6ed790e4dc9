package dump

import (
	"errors"
	"os"
	"time"

	"github.com/libshmif/libshmif/core/internal/bus"
	"github.com/libshmif/libshmif/core/internal/layout"
	"github.com/libshmif/libshmif/core/internal/ring"
	"golang.org/x/sys/unix"
)

// Empty removes every frame from the bus file at path, under the bus lock,
// and wakes the bus: a later dump shows none of them, and readers attached
// to the bus, libshmif's or NetBSD's, read nothing of them they had not read
// yet, then the frames written after.
//
// It appends two empty records (length 0, skipped by every reader) after
// the newest record, as a writer appends frames, and then moves first to
// the first of them, so that they are all the ring holds. To a reader, that
// is an overrun that cost exactly the frames it had not read (docs/protocol.md §3.5):
//
//   - a reader that had read everything stands where the empty records
//     start; it reads them and goes on with the next frame written;
//   - a reader that was behind finds its position outside the ring (first
//     lies past it), resumes at first as after any overrun, and goes on
//     with the next frame written. A libshmif reader counts one overrun
//     and, in Lost, exactly the frames it had not read (the empty records
//     are numbered); NetBSD's counts nothing.
//
// The operation keeps what NetBSD asserts (docs/protocol.md §3.6) true: first never equals
// last; on a bus that never wrapped (gen 0) gen becomes 1, because a
// NetBSD reader that overruns asserts gen > 0; and when the newest empty
// record would reach the end of the data area, where NetBSD's overrun
// picks the wrong generation (docs/protocol.md §9.5), a third one follows it. The empty
// records are appended by libshmif's crash-consistent writer and first is
// only moved once they are whole, so an Empty killed half way leaves the
// bus as it was, or emptied; on a bus that never wrapped, killed between
// its last two stores, emptied but still in generation 0. The empty records are
// numbered as the writer numbers records (docs/protocol.md §9.4), so numbered cursors taken
// before count exactly the frames removed (see Locate).
//
// Empty needs write permission; it never creates or resizes a file. It
// returns the bus header as it was before. An empty file holds no frames:
// it is left alone and ErrEmpty returned. Other errors are those of Follow
// (an *os.PathError with Op "open", a *NotBusError, a *VersionError for a
// bus of a version other than 0 or 3), and an *os.PathError with Op "lock"
// (EDEADLK: the lock holder is alive but the bus makes no progress) or
// "write" (EIO: the file was truncated meanwhile).
func Empty(path string) (Header, error) {
	b, err := bus.OpenExisting(path)
	switch {
	case errors.Is(err, unix.ENOEXEC):
		return Header{}, notBus(path)
	case errors.Is(err, unix.ENODATA):
		return Header{}, &os.PathError{Op: "read", Path: path, Err: ErrEmpty}
	case err != nil:
		return Header{}, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer b.Close()

	var hdr Header
	err = b.WithLock(func(m *layout.Mem) error {
		hdr = Header{Version: m.Version(), Gen: m.Gen(), First: m.First(), Last: m.Last()}
		if hdr.Version != 0 && hdr.Version != layout.Version {
			return &VersionError{Path: path, Version: hdr.Version}
		}
		emptyRing(m, time.Now())
		return nil
	})
	var ve *VersionError
	switch {
	case errors.As(err, &ve):
		return Header{}, ve
	case errors.Is(err, unix.EDEADLK):
		return Header{}, &os.PathError{Op: "lock", Path: path, Err: err}
	case err != nil:
		return Header{}, &os.PathError{Op: "write", Path: path, Err: err}
	}
	if err := b.Notify(); err != nil {
		return Header{}, &os.PathError{Op: "write", Path: path, Err: err}
	}
	return hdr, nil
}

// emptyRing does Empty's work on a bus whose lock the caller holds.
func emptyRing(m *layout.Mem, now time.Time) {
	w := ring.NewWriter(m)
	start, _ := w.Next()
	hdr := layout.FrameHeader{Sec: uint32(now.Unix()), Usec: uint32(now.Nanosecond() / 1000)}
	w.AppendBatch(&hdr, [][]byte{nil, nil})
	if m.Last()+hdrSize >= dataSize {
		// The newest record reaches the end of the data area: one
		// more after it, which starts at the beginning.
		w.AppendBatch(&hdr, [][]byte{nil})
	}
	// The records are whole: first may name them. gen goes last (it is
	// a generation in which the ring holds only them, never written
	// before), so that killed in between we leave a bus emptied but in
	// generation 0, not one whose first reads as damage.
	m.SetFirst(start)
	if m.Gen() == 0 {
		m.SetGen(1)
	}
}

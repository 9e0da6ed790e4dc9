package dump

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/libshmif/libshmif/core/internal/bus"
	"github.com/libshmif/libshmif/core/internal/layout"
	"github.com/libshmif/libshmif/core/internal/ring"
	"golang.org/x/sys/unix"
)

// FollowOptions says where Follow starts and what it calls.
type FollowOptions struct {
	// FromOldest starts with the oldest frame still on the bus instead
	// of the first frame written after Follow attached.
	FromOldest bool

	// Attached, if set, is called once the reader is in place (frames
	// written from then on will be seen), with the bus header as it was.
	Attached func(Header)

	// Frame is called for every frame of at least 14 bytes, whoever sent
	// it, in bus order. r.Frame is valid only during the call. An error
	// ends Follow, which returns it.
	Frame func(r *Record) error

	// Lost, if set, is called with the number of frames that were
	// overwritten before Follow could read them.
	Lost func(n uint64)
}

// maxRecords bounds a walk over the ring: the most records it can hold.
const maxRecords = layout.DataSize/layout.FrameHeaderSize + 1

// batch is how many frames are copied out under one lock hold.
const batch = 64

// recheck bounds each wait for a wake-up, a safety net only.
const recheck = 500 * time.Millisecond

// Follow attaches to the existing bus file at path and reports its frames
// as they are written, until ctx is done; then it returns nil. It never
// creates, resizes or initialises a file: a missing, empty or foreign file
// is an error (an *os.PathError with Op "open", ErrEmpty for an empty file,
// a *NotBusError). It takes the bus lock to read, so it needs write
// permission to the file. Frames arrive through opts.Frame, losses through
// opts.Lost.
//
// Follow waits as an interface does, so frames are reported as soon as
// their sender wakes the bus.
func Follow(ctx context.Context, path string, opts FollowOptions) error {
	if opts.Frame == nil {
		opts.Frame = func(*Record) error { return nil }
	}
	b, err := bus.OpenExisting(path)
	switch {
	case errors.Is(err, unix.ENOEXEC):
		return notBus(path)
	case errors.Is(err, unix.ENODATA):
		return &os.PathError{Op: "read", Path: path, Err: ErrEmpty}
	case err != nil:
		return &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer b.Close()

	var (
		r    ring.Reader
		hdr  Header
		bufs = make([][layout.MaxFrame]byte, batch)
	)
	err = b.WithLock(func(m *layout.Mem) error {
		hdr = Header{Version: m.Version(), Gen: m.Gen(), First: m.First(), Last: m.Last()}
		if hdr.Version != 0 && hdr.Version != layout.Version {
			return &VersionError{Path: path, Version: hdr.Version}
		}
		if opts.FromOldest {
			r.StartOldest(m)
			return nil
		}
		// Start places the reader at the newest record, which Next
		// would return again: consume what it would return now.
		r.Start(m)
		for range maxRecords {
			if _, st := r.Next(m, bufs[0][:]); st != ring.Frame {
				break
			}
		}
		return nil
	})
	if err != nil {
		return followError(path, err)
	}
	if opts.Attached != nil {
		opts.Attached(hdr)
	}

	// Cancellation wakes the wait below.
	hub := b.Hub()
	stop := context.AfterFunc(ctx, hub.Changed)
	defer stop()
	recs := make([]Record, batch)
	lost := r.Lost
	for ctx.Err() == nil {
		n := 0
		var idleGen uint64
		var idleLast uint32
		err := b.WithLock(func(m *layout.Mem) error {
			for n < batch {
				h, st := r.Next(m, bufs[n][:])
				if st == ring.TooSmall {
					return &CorruptError{Path: path, Damage: RecordTooLong, Offset: r.Offset, Length: h.Len}
				}
				if st != ring.Frame {
					idleGen, idleLast = m.Gen(), m.Last()
					return nil
				}
				recs[n] = Record{
					Offset: (r.Offset + hdrSize) % dataSize, // as a dump shows it
					Sec:    h.Sec,
					Usec:   h.Usec,
					Sender: h.Sender,
					Frame:  bufs[n][:h.Len],
				}
				n++
			}
			return nil
		})
		if err != nil {
			return followError(path, err)
		}
		if r.Lost != lost && opts.Lost != nil {
			opts.Lost(r.Lost - lost)
		}
		lost = r.Lost
		for i := range n {
			if err := opts.Frame(&recs[i]); err != nil {
				return err
			}
		}
		if n == 0 {
			hub.Wait(func() bool {
				moved := true
				b.Guard(func(m *layout.Mem) error {
					moved = m.Gen() != idleGen || m.Last() != idleLast
					return nil
				})
				return moved || ctx.Err() != nil
			}, time.Now().Add(recheck))
		}
	}
	return nil
}

func followError(path string, err error) error {
	var ce *CorruptError
	var ve *VersionError
	switch {
	case errors.As(err, &ce):
		return ce
	case errors.As(err, &ve):
		return ve
	case errors.Is(err, unix.ENOEXEC):
		return notBus(path)
	case errors.Is(err, unix.EIO):
		return &TruncatedError{Path: path, Size: -1}
	}
	return &os.PathError{Op: "read", Path: path, Err: err}
}

const hdrSize = uint32(layout.FrameHeaderSize)

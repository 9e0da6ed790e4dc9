package dump

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/libshmif/libshmif/core/internal/bus"
	"github.com/libshmif/libshmif/core/internal/layout"
	"github.com/libshmif/libshmif/core/internal/ring"
	"github.com/libshmif/libshmif/core/internal/wake"
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
// creates a bus file: a missing one is an error. Frames arrive through
// opts.Frame, losses through opts.Lost.
//
// Follow waits on the bus's own wake-ups, so frames are reported as soon as
// their sender wakes the bus.
func Follow(ctx context.Context, path string, opts FollowOptions) error {
	if opts.Frame == nil {
		opts.Frame = func(*Record) error { return nil }
	}
	if _, err := os.Stat(path); err != nil {
		return sysError(fmt.Sprintf("Can't open bus file `%s'", path), err)
	}
	b, err := bus.Open(path, bus.DefaultMode)
	if errors.Is(err, unix.ENOEXEC) {
		return notBus(path)
	}
	if err != nil {
		return sysError(fmt.Sprintf("Can't open bus file `%s'", path), err)
	}
	defer b.Close()
	w, err := b.NewWatcher()
	if err == nil {
		// A follower waits most of the time: it stays armed.
		if err = w.Arm(); err != nil {
			w.Close()
		}
	}
	if err != nil {
		return sysError(fmt.Sprintf("Can't watch bus file `%s'", path), err)
	}
	defer w.Close()

	var (
		r    ring.Reader
		hdr  Header
		bufs = make([][layout.MaxFrame]byte, batch)
	)
	err = b.WithLock(func(m *layout.Mem) error {
		hdr = Header{Version: m.Version(), Gen: m.Gen(), First: m.First(), Last: m.Last()}
		if hdr.Version != 0 && hdr.Version != layout.Version {
			return &Error{
				Msg:  fmt.Sprintf("Unhandled bus version %d, program %d", int32(hdr.Version), layout.Version),
				Kind: ErrVersion,
			}
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

	// Cancellation ends the wait; the flag is closed only once the
	// cancellation is done with it.
	cancelled, err := wake.NewFlag()
	if err != nil {
		return sysError(fmt.Sprintf("Can't watch bus file `%s'", path), err)
	}
	set := make(chan struct{})
	stop := context.AfterFunc(ctx, func() { cancelled.Set(); close(set) })
	defer func() {
		if !stop() {
			<-set
		}
		cancelled.Close()
	}()
	recs := make([]Record, batch)
	lost := r.Lost
	for ctx.Err() == nil {
		w.Drain() // before the look, so a frame written after it wakes the Wait
		n := 0
		err := b.WithLock(func(m *layout.Mem) error {
			for n < batch {
				h, st := r.Next(m, bufs[n][:])
				if st == ring.TooSmall {
					return fmt.Errorf("record of %d bytes on the bus", h.Len)
				}
				if st != ring.Frame {
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
			wake.WaitFor(w, cancelled, recheck)
		}
	}
	return nil
}

func followError(path string, err error) error {
	var e *Error
	switch {
	case errors.As(err, &e):
		return e
	case errors.Is(err, unix.ENOEXEC):
		return notBus(path)
	}
	return sysError(fmt.Sprintf("Can't read bus file `%s'", path), err)
}

const hdrSize = uint32(layout.FrameHeaderSize)

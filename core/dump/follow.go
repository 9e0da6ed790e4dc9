package dump

import (
	"bytes"
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
	// of the first frame written after Follow attached. The frames on the
	// bus then are reported even if ctx is already done.
	FromOldest bool

	// Since, if not nil, starts with the first frame written after the
	// record the cursor names (see Image.WalkSince); it overrides
	// FromOldest. With either, the frames already on the bus are taken
	// from a copy made under the same lock hold in which the reader is
	// placed after them, so none is missed or seen twice, and they are
	// reported even if ctx is already done.
	Since *Cursor

	// Resumed, if set, is called with how Since was found on the bus,
	// after Attached and before any frame.
	Resumed func(Resume)

	// Attached, if set, is called once the reader is in place (frames
	// written from then on will be seen), with the bus header as it was.
	Attached func(Header)

	// AttachedAt, if set, is called after Attached with the cursor of
	// the newest record on the bus when Follow attached.
	AttachedAt func(Cursor)

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
		img  *Image // a copy taken when attaching, if needed
		prev uint32 // Seq of the last record read, while known
		bufs = make([][layout.MaxFrame]byte, batch)
	)
	havePrev := false
	err = b.WithLock(func(m *layout.Mem) error {
		hdr = Header{Version: m.Version(), Gen: m.Gen(), First: m.First(), Last: m.Last()}
		if hdr.Version != 0 && hdr.Version != layout.Version {
			return &VersionError{Path: path, Version: hdr.Version}
		}
		// The frames already on the bus come from a copy: the reader
		// starts after them.
		if opts.Since != nil || opts.FromOldest || opts.AttachedAt != nil {
			img = &Image{Path: path, Data: bytes.Clone(m.Bytes()), Size: layout.BusSize, Locked: true}
			layout.NativeEndian.PutUint32(img.Data[layout.OffLock:], 0)
			layout.NativeEndian.PutUint32(img.Data[layout.OffSpare:], 0)
		}
		// Start places the reader at the newest record, which Next
		// would return again: consume what it would return now.
		r.Start(m)
		for range maxRecords {
			if _, st := r.Next(m, bufs[0][:]); st != ring.Frame {
				break
			}
		}
		prev, havePrev = newestSeq(m), true
		return nil
	})
	if err != nil {
		return followError(path, err)
	}
	if opts.Attached != nil {
		opts.Attached(hdr)
	}
	if opts.AttachedAt != nil {
		c, err := img.Newest()
		if err != nil {
			return err
		}
		opts.AttachedAt(c)
	}
	switch {
	case opts.Since != nil:
		err = followBacklog(img, *opts.Since, opts)
	case opts.FromOldest:
		err = img.Walk(func(r *Record) error {
			if len(r.Frame) < layout.MinFrame {
				return nil // as a reader skips them
			}
			return opts.Frame(r)
		})
	}
	if err != nil {
		return err
	}

	// Cancellation wakes the wait below. The wake-up must be over before
	// the bus (and the hub with it) is closed.
	hub := b.Hub()
	woken := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(woken)
		hub.Changed()
	})
	defer func() {
		if !stop() {
			<-woken
		}
	}()
	recs := make([]Record, batch)
	lost := r.Lost
	for ctx.Err() == nil {
		n := 0
		var idleGen uint64
		var idleLast uint32
		err := b.WithLock(func(m *layout.Mem) error {
			gen, next := m.Gen(), nextWrite(m)
			for n < batch {
				overruns := r.Overruns
				h, st := r.Next(m, bufs[n][:])
				if st == ring.TooSmall {
					return &CorruptError{Path: path, Damage: RecordTooLong, Offset: r.Offset, Length: h.Len}
				}
				if st != ring.Frame {
					idleGen, idleLast = m.Gen(), m.Last()
					return nil
				}
				recs[n] = Record{
					Offset:       (r.Offset + hdrSize) % dataSize, // as a dump shows it
					Sec:          h.Sec,
					Usec:         h.Usec,
					Sender:       h.Sender,
					Frame:        bufs[n][:h.Len],
					HeaderOffset: r.Offset,
					Gen:          recordGen(gen, next, r.Offset),
					Seq:          h.Seq,
					numbered:     havePrev && r.Overruns == overruns && h.Seq == prev+1,
				}
				prev, havePrev = h.Seq, true
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

// followBacklog reports the frames of img after cursor c, for Since.
func followBacklog(img *Image, c Cursor, opts FollowOptions) error {
	if opts.Resumed != nil {
		res, err := img.Locate(c)
		if err != nil {
			return err
		}
		opts.Resumed(res)
	}
	return img.WalkSince(c, func(r *Record) error {
		if len(r.Frame) < layout.MinFrame {
			return nil // as a reader skips them
		}
		return opts.Frame(r)
	})
}

// nextWrite returns where the next record of the bus goes: after the
// newest record, whose length word may straddle the end of the data area.
func nextWrite(m *layout.Mem) uint32 {
	last := m.Last() % dataSize
	var b [4]byte
	for i := range b {
		b[i] = m.Data()[(last+uint32(i))%dataSize]
	}
	return (last + hdrSize + layout.NativeEndian.Uint32(b[:])%dataSize) % dataSize
}

// newestSeq returns the sequence word of the newest record.
func newestSeq(m *layout.Mem) uint32 {
	last := m.Last() % dataSize
	var b [4]byte
	for i := range b {
		b[i] = m.Data()[(last+uint32(layout.OffSeq)+uint32(i))%dataSize]
	}
	return layout.NativeEndian.Uint32(b[:])
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

package dump

import (
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/libshmif/libshmif/core/internal/bus"
	"github.com/libshmif/libshmif/core/internal/layout"
	"github.com/libshmif/libshmif/core/internal/ring"
	"github.com/libshmif/libshmif/core/pcap"
	"golang.org/x/sys/unix"
)

// injectChunk is how many frames Inject writes per lock hold, so that a
// long capture does not keep other bus users out for long.
const injectChunk = 256

// Inject puts frames on the bus file at path, creating the file if needed,
// as shmif_pcapin(1) does: in order, under the bus lock, with one wake-up
// after the last. Each frame keeps its capture timestamp and carries a
// sender id drawn at random for this call, so that no interface on the bus
// mistakes the frames for its own.
//
// Every frame is checked before anything is written: a frame of more than
// 1514 or fewer than 14 bytes, or one captured only in part, is refused with
// an Error (Kind ErrFrameSize) naming its record number, counting from 1.
//
// It returns the bus header as it was before the frames were written. A
// bus of another version than 0 (never written to) or 3 is refused.
func Inject(path string, frames []pcap.Record) (Header, error) {
	for i, f := range frames {
		var problem string
		switch n := len(f.Data); {
		case n < int(f.OrigLen):
			problem = fmt.Sprintf("only %d of %d bytes captured", n, f.OrigLen)
		case n > layout.MaxFrame:
			problem = fmt.Sprintf("frame of %d bytes is longer than %d", n, layout.MaxFrame)
		case n < layout.MinFrame:
			problem = fmt.Sprintf("frame of %d bytes is shorter than %d", n, layout.MinFrame)
		}
		if problem != "" {
			return Header{}, &Error{Msg: fmt.Sprintf("record %d: %s", i+1, problem), Kind: ErrFrameSize}
		}
	}
	var id [8]byte
	if _, err := rand.Read(id[:]); err != nil {
		return Header{}, sysError("random sender id", err)
	}
	sender := layout.NativeEndian.Uint64(id[:])

	b, err := bus.Open(path, bus.DefaultMode)
	if errors.Is(err, unix.ENOEXEC) {
		return Header{}, &Error{Msg: fmt.Sprintf("%s not a shmif bus", path), Kind: ErrNotBus}
	}
	if err != nil {
		return Header{}, sysError("open bus", err)
	}
	defer b.Close()

	var hdr Header
	for start := 0; start == 0 || start < len(frames); start += injectChunk {
		chunk := frames[start:min(start+injectChunk, len(frames))]
		err := b.WithLock(func(m *layout.Mem) error {
			if start == 0 {
				// Lock reads 0: it was free when we took it.
				hdr = Header{Version: m.Version(), Gen: m.Gen(), First: m.First(), Last: m.Last()}
				if hdr.Version != 0 && hdr.Version != layout.Version {
					return &Error{
						Msg:  fmt.Sprintf("bus version %d, program %d", int32(hdr.Version), layout.Version),
						Kind: ErrVersion,
					}
				}
			}
			for _, f := range chunk {
				h := layout.FrameHeader{Len: uint32(len(f.Data)), Sec: f.Sec, Usec: f.Usec, Sender: sender}
				ring.Append(m, &h, f.Data)
			}
			return nil
		})
		var e *Error
		if errors.As(err, &e) {
			return Header{}, e
		}
		if err != nil {
			return Header{}, sysError("bus", err)
		}
	}
	// Like shmif_pcapin, wake the bus even when there was nothing to add.
	if err := b.Notify(); err != nil {
		return Header{}, sysError("writev for wakeup", err)
	}
	return hdr, nil
}

package dump

import (
	"crypto/rand"
	"errors"
	"os"
	"time"

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
// as shmif_pcapin(1) does: in order, under the bus lock (injectChunk frames
// per hold), waking the bus after each hold. Lossless receivers of this
// host are waited for, as an interface's sends wait for them. Each frame keeps its capture timestamp and carries a
// sender id drawn at random for this call, so that no interface on the bus
// mistakes the frames for its own.
//
// Every frame is checked before anything is written: a frame of more than
// 1514 or fewer than 14 bytes, or one captured only in part, is refused with
// a *FrameSizeError naming its record number, counting from 1.
//
// It returns the bus header as it was before the frames were written. A
// file that is not a bus gives a *NotBusError; a bus of another version
// than 0 (never woken) or 3 a *VersionError; a failed system call an
// *os.PathError (Op "open" or "write").
func Inject(path string, frames []pcap.Record) (Header, error) {
	for i, f := range frames {
		if n := len(f.Data); n < int(f.OrigLen) || n > layout.MaxFrame || n < layout.MinFrame {
			return Header{}, &FrameSizeError{Record: i + 1, Len: n, OrigLen: int(f.OrigLen)}
		}
	}
	var id [8]byte
	rand.Read(id[:]) // never fails on Linux
	sender := layout.NativeEndian.Uint64(id[:])

	b, err := bus.Open(path, bus.DefaultMode)
	if errors.Is(err, unix.ENOEXEC) {
		return Header{}, notBus(path)
	}
	if err != nil {
		return Header{}, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer b.Close()

	var hdr Header
	side := b.Sidecar()
	var skip []int // lossless readers this call gave up waiting for
	since := time.Now()
	for start := 0; start == 0 || start < len(frames); {
		chunk := frames[start:min(start+injectChunk, len(frames))]
		var n, slot int
		var need uint64
		err := b.WithLock(func(m *layout.Mem) error {
			if start == 0 {
				// Lock reads 0: it was free when we took it.
				hdr = Header{Version: m.Version(), Gen: m.Gen(), First: m.First(), Last: m.Last()}
				if hdr.Version != 0 && hdr.Version != layout.Version {
					return &VersionError{Path: path, Version: hdr.Version}
				}
			}
			limit, s := ^uint64(0), -1
			if side != nil && side.HasLossless() {
				limit, s = side.Limit(skip)
			}
			slot = s
			w := ring.NewWriter(m)
			for _, f := range chunk {
				h := layout.FrameHeader{Len: uint32(len(f.Data)), Sec: f.Sec, Usec: f.Usec, Sender: sender}
				k, k2 := w.AppendLimited(&h, [][]byte{f.Data}, limit)
				if k == 0 {
					need = k2
					break
				}
				n++
			}
			return nil
		})
		var ve *VersionError
		if errors.As(err, &ve) {
			return Header{}, ve
		}
		if err != nil {
			return Header{}, &os.PathError{Op: "write", Path: path, Err: err}
		}
		start += n
		if start == 0 && len(frames) == 0 {
			break
		}
		if n > 0 && start < len(frames) {
			// Readers asleep catch up while the next chunk is
			// written, rather than be lapped by a long capture.
			b.Notify()
		}
		// Lossless readers are waited for, as interfaces wait for
		// them (up to each reader's bound).
		if n < len(chunk) && !side.WaitRoom(slot, need, since) {
			skip = append(skip, slot)
		}
	}
	// Like shmif_pcapin, wake the bus even when there was nothing to add.
	if err := b.Notify(); err != nil {
		return Header{}, &os.PathError{Op: "write", Path: path, Err: err}
	}
	return hdr, nil
}

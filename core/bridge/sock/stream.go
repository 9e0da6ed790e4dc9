package sock

import (
	"encoding/binary"
	"io"
	"sync"

	"github.com/libshmif/libshmif/core/bridge/internal/fdio"
	"golang.org/x/sys/unix"
)

// Stream carries frames over a byte stream, each behind its length in
// big-endian: 4 bytes for stream:// (QEMU's -netdev stream, passt,
// gvproxy's qemu protocol), 2 bytes for stdio (VDE's dpipe and vde_plug).
type Stream struct {
	url   string
	hdr   int // length prefix: 2 or 4 bytes
	peers *peers
	stdio *stdioFDs // for stdio: what Close restores

	// Reader state, for the current connection.
	rconn *fdio.FD
	rbuf  []byte
	r, w  int // unparsed bytes are rbuf[r:w]

	desync int // a length no frame can have was read: drop the peer next

	// Writer state.
	wmu  sync.Mutex
	wbuf []byte
}

// Frame length limits on a stream. Frames over 1514 bytes are read and
// reported whole (the bridge drops them); a length beyond maxStreamFrame
// cannot be a frame: the stream is out of step, and the connection is
// dropped.
const (
	maxStreamFrame = 65535 + 14
	streamBuf      = 256 << 10
)

func newStream(url string, hdr int, p *peers) *Stream {
	s := &Stream{url: url, hdr: hdr, peers: p, rbuf: make([]byte, streamBuf), wbuf: make([]byte, 0, streamBuf)}
	return s
}

// ReadFrames parses as many whole frames as are buffered (reading once
// when none is), up to len(bufs).
func (s *Stream) ReadFrames(bufs [][]byte, lens []int) (int, error) {
	for {
		if s.rconn == nil {
			c, err := s.peers.wait()
			if err != nil {
				return 0, err
			}
			s.rconn, s.r, s.w = c, 0, 0
		}
		if l := s.desync; l != 0 {
			s.desync = 0
			s.peers.stats.desync.Add(1)
			c := s.rconn
			s.rconn = nil
			if err := s.peers.ended(c, errorf("frame length %d: the stream is out of step", l)); err != nil {
				return 0, err
			}
			continue
		}
		n, err := s.parse(bufs, lens)
		if err == nil && n > 0 {
			return n, nil
		}
		if err == nil {
			err = s.fill()
		}
		if err != nil {
			c := s.rconn
			s.rconn = nil
			if err = s.peers.ended(c, err); err != nil {
				return 0, err
			}
		}
	}
}

// parse takes whole frames out of the buffer.
func (s *Stream) parse(bufs [][]byte, lens []int) (int, error) {
	n := 0
	for n < len(bufs) && s.w-s.r >= s.hdr {
		var l int
		if s.hdr == 2 {
			l = int(binary.BigEndian.Uint16(s.rbuf[s.r:]))
		} else {
			l = int(binary.BigEndian.Uint32(s.rbuf[s.r:]))
		}
		if l > maxStreamFrame {
			if n > 0 {
				return n, nil // the frames before it first
			}
			// Reported once as a frame of that length, so that the
			// bridge counts it too big; the next call drops the peer.
			lens[0] = l
			s.r = s.w
			s.desync = l
			return 1, nil
		}
		if s.w-s.r < s.hdr+l {
			break
		}
		lens[n] = l
		copy(bufs[n], s.rbuf[s.r+s.hdr:s.r+s.hdr+l])
		s.r += s.hdr + l
		n++
	}
	return n, nil
}

// fill reads once into the buffer, moving what is left of it to the front
// first.
func (s *Stream) fill() error {
	if s.r > 0 {
		s.w = copy(s.rbuf, s.rbuf[s.r:s.w])
		s.r = 0
	}
	var n int
	err := s.rconn.Read(func(fd int) error {
		var err error
		n, err = unix.Read(fd, s.rbuf[s.w:])
		return err
	})
	if err != nil {
		return err
	}
	if n == 0 {
		return io.EOF
	}
	s.w += n
	return nil
}

// WriteFrames writes frames with their lengths in as few writes as the
// socket takes; frames too long for a 2-byte length are skipped.
func (s *Stream) WriteFrames(frames [][]byte) (int, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	c := s.peers.current()
	if s.stdio != nil {
		c = s.stdio.out
	}
	if c == nil {
		s.peers.stats.nopeer.Add(uint64(len(frames)))
		// Dropped, counted here: none was written.
		return 0, nil
	}
	for done := 0; done < len(frames); {
		b := s.wbuf[:0]
		k := done
		for ; k < len(frames) && len(b)+s.hdr+len(frames[k]) <= cap(b); k++ {
			f := frames[k]
			if s.hdr == 2 {
				if len(f) > 0xFFFF {
					continue
				}
				b = binary.BigEndian.AppendUint16(b, uint16(len(f)))
			} else {
				b = binary.BigEndian.AppendUint32(b, uint32(len(f)))
			}
			b = append(b, f...)
		}
		if err := writeAll(c, b); err != nil {
			if peerGone(err) || fdio.IsClosed(err) {
				return done, s.peers.sendFailed(err, len(frames)-done)
			}
			return done, err
		}
		done = k
	}
	return len(frames), nil
}

// writeAll writes b whole, waiting while the socket is full: a frame cut
// short would put the stream out of step.
func writeAll(c *fdio.FD, b []byte) error {
	for len(b) > 0 {
		var n int
		err := c.Write(func(fd int) error {
			var err error
			n, err = unix.Write(fd, b)
			return err
		})
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// MaxFrame is the largest frame read whole.
func (s *Stream) MaxFrame() int { return 1514 }

// Close ends the connection (for a listener, the current one and the
// listener, and removes its socket file).
func (s *Stream) Close() error {
	if s.stdio != nil {
		s.peers.once.Do(func() {
			close(s.peers.closed)
			s.stdio.restore()
		})
		return nil
	}
	return s.peers.close()
}

func (s *Stream) String() string { return s.url }

// Stats returns the endpoint's counters.
func (s *Stream) Stats() Stats { return s.peers.stats.load() }

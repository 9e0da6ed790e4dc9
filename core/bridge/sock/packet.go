package sock

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"

	"github.com/libshmif/libshmif/core/bridge/internal/fdio"
	"golang.org/x/sys/unix"
)

// Packet carries one frame per packet of a unix SOCK_SEQPACKET socket
// (slirp4netns --target-type=bess, User Mode Linux's vector transport) or
// of a unix SOCK_DGRAM socket (QEMU's -netdev dgram, vfkit, gvproxy),
// batched with recvmmsg and sendmmsg.
type Packet struct {
	url    string
	seq    bool // SOCK_SEQPACKET: a 0-byte packet is the end of the connection
	peers  *peers
	rbatch *fdio.Batch
	wmu    sync.Mutex
	wbatch *fdio.Batch

	// A dgram listener sends to whoever sent to it last.
	learn bool
	to    atomic.Pointer[fdio.Addr]
}

func newPacket(url string, seq bool, p *peers) *Packet {
	e := &Packet{url: url, seq: seq, peers: p, rbatch: fdio.NewBatch(64), wbatch: fdio.NewBatch(64)}
	return e
}

// ReadFrames receives up to len(bufs) packets with one recvmmsg.
func (e *Packet) ReadFrames(bufs [][]byte, lens []int) (int, error) {
	for {
		c, err := e.peers.wait()
		if err != nil {
			return 0, err
		}
		var n int
		err = c.Read(func(fd int) error {
			var err error
			n, err = e.rbatch.Recv(fd, bufs, lens, e.learn)
			return err
		})
		if err == nil && e.seq {
			for i := range n {
				if lens[i] == 0 && !hungUp(c) {
					// An empty packet from a live peer (both
					// read as 0 bytes; after the end the socket
					// polls as hung up): the bridge counts it
					// as too small.
					continue
				}
				if lens[i] == 0 {
					// The peer closed: what came before still counts.
					if i > 0 {
						return i, nil
					}
					err = io.EOF
					break
				}
			}
		}
		if err != nil {
			if !e.seq && (peerGone(err) || errors.Is(err, unix.ENOBUFS)) {
				continue // an error report of an earlier send
			}
			if err = e.peers.ended(c, err); err != nil {
				return 0, err
			}
			continue
		}
		if e.learn {
			e.learnPeer(n)
		}
		return n, nil
	}
}

// learnPeer makes the sender of the last packet received the peer.
func (e *Packet) learnPeer(n int) {
	a := e.rbatch.Name(n - 1)
	if a.IsZero() {
		return // an unbound sender cannot be answered
	}
	if cur := e.to.Load(); cur == nil || !cur.Equal(a) {
		e.to.Store(&a)
		e.peers.stats.peers.Add(1)
	}
}

// WriteFrames sends frames, one packet each, with as few sendmmsg calls as
// the socket takes.
func (e *Packet) WriteFrames(frames [][]byte) (int, error) {
	e.wmu.Lock()
	defer e.wmu.Unlock()
	c := e.peers.current()
	var to *fdio.Addr
	if e.learn {
		to = e.to.Load()
	}
	if c == nil || (e.learn && to == nil) {
		e.peers.stats.nopeer.Add(uint64(len(frames)))
		// Dropped, counted here: none was written.
		return 0, nil
	}
	for done := 0; done < len(frames); {
		var n int
		err := c.Write(func(fd int) error {
			var err error
			n, err = e.wbatch.Send(fd, frames[done:], to)
			return err
		})
		switch {
		case err == nil:
			done += n
		case !e.seq && (peerGone(err) || errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOBUFS)):
			// Nobody at the other end now, or no room: this
			// frame is lost, not the endpoint.
			e.peers.stats.lost.Add(1)
			done++
		case peerGone(err) || fdio.IsClosed(err):
			return done, e.peers.sendFailed(err, len(frames)-done)
		default:
			return done, err
		}
	}
	return len(frames), nil
}

// MaxFrame is the largest frame read whole.
func (e *Packet) MaxFrame() int { return 1514 }

// Close closes the socket (and the listener, removing its socket file).
func (e *Packet) Close() error { return e.peers.close() }

func (e *Packet) String() string { return e.url }

// Stats returns the endpoint's counters.
func (e *Packet) Stats() Stats { return e.peers.stats.load() }

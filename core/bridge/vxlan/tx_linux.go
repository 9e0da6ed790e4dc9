package vxlan

import (
	"encoding/binary"
	"net"
	"time"

	"golang.org/x/sys/unix"
)

// Per-frame outcomes of one WriteFrames.
const (
	frameSent   = 1 << iota // at least one datagram left
	frameTooBig             // the underlay MTU refused it for some destination
)

// txBatch is the scratch of sendmmsg calls: per datagram a UDP and VXLAN
// header, the destination, and the frame it carries.
type txBatch struct {
	msgs  [maxBatch]unix.Mmsghdr
	iovs  [2 * maxBatch]unix.Iovec
	hdrs  [maxBatch][headersLen]byte
	names [maxBatch]sockaddr
	frame [maxBatch]int // index in WriteFrames' frames of each datagram
	n     int
	state []uint8 // per frame: frameSent, frameTooBig
	one   [1]dest
}

// WriteFrames sends frames in order, each to the tunnel endpoint learned or
// configured for its destination MAC, or, for broadcast, multicast and
// unknown unicast, to every flood destination; as many datagrams per
// sendmmsg as it can. A frame that does not fit the underlay MTU (the kernel
// refuses it: nothing is fragmented) or that the OS refuses for a passing
// reason (no route, ...) is counted in Stats and skipped. It returns
// len(frames) and nil unless the endpoint is closed (net.ErrClosed) or a
// system call fails for good; then it returns how many frames were fully
// handled. It must not be called concurrently with itself.
func (e *Endpoint) WriteFrames(frames [][]byte) (int, error) {
	if !e.enter() {
		return 0, net.ErrClosed
	}
	defer e.leave()
	e.txmu.Lock()
	defer e.txmu.Unlock()
	b := &e.tx
	b.n = 0
	if cap(b.state) < len(frames) {
		b.state = make([]uint8, len(frames))
	}
	state := b.state[:len(frames)]
	clear(state)
	now := e.clock()
	done, err := e.queueAll(frames, state, now)
	for i := range done {
		if state[i]&frameSent != 0 {
			e.stats.txFrames.Add(1)
		}
		if state[i]&frameTooBig != 0 {
			e.stats.txTooBig.Add(1)
		}
	}
	return done, err
}

// queueAll builds the datagrams of every frame and sends them in batches. It
// returns how many frames were fully handled.
func (e *Endpoint) queueAll(frames [][]byte, state []uint8, now time.Duration) (int, error) {
	b := &e.tx
	for i, f := range frames {
		if len(f) < etherLen {
			e.stats.txMalformed.Add(1)
			continue
		}
		if len(f)+headersLen > 0xffff {
			state[i] |= frameTooBig // no IP packet holds it
			continue
		}
		dsts := e.route(f, now)
		if len(dsts) == 0 {
			e.stats.txNoDest.Add(1)
			continue
		}
		var sport uint16
		if e.raw {
			sport = portIn(flowHash(e.seed, f), e.portLo, e.portHi)
		}
		for _, d := range dsts {
			if b.n == maxBatch {
				if sent, err := e.flush(state); err != nil {
					return b.frame[sent], err
				}
			}
			e.add(i, f, d, sport)
		}
	}
	if sent, err := e.flush(state); err != nil {
		return b.frame[sent], err
	}
	return len(frames), nil
}

// route gives the destinations of a frame: the one entry for its unicast
// destination MAC, or else the flood list.
func (e *Endpoint) route(f []byte, now time.Duration) []dest {
	if dst := macAt(f[0:6]); !dst.isGroup() {
		e.fdb.mu.Lock()
		d, ok := e.fdb.lookup(dst, now)
		e.fdb.mu.Unlock()
		if ok {
			e.tx.one[0] = d
			return e.tx.one[:]
		}
	}
	return e.fdb.flood // never changes after Open
}

// add queues one datagram: frame f (index i) to d from source port sport.
func (e *Endpoint) add(i int, f []byte, d dest, sport uint16) {
	b := &e.tx
	j := b.n
	b.n++
	h := b.hdrs[j][:]
	binary.BigEndian.PutUint16(h[0:], sport)
	binary.BigEndian.PutUint16(h[2:], d.port)
	binary.BigEndian.PutUint16(h[4:], uint16(headersLen+len(f)))
	h[6], h[7] = 0, 0 // IPv4: no checksum (RFC 7348 §5); IPv6: the kernel fills it in
	putVXLAN(h[udpLen:], e.cfg.vni)
	iov := b.iovs[2*j : 2*j+2]
	port := d.port
	if e.raw {
		iov[0].Base = &h[0]
		iov[0].SetLen(headersLen)
		port = 0 // raw sockets take no port (IPv6 ones refuse any but 0)
	} else {
		iov[0].Base = &h[udpLen]
		iov[0].SetLen(vxlanLen)
	}
	iov[1].Base = &f[0]
	iov[1].SetLen(len(f))
	m := &b.msgs[j]
	*m = unix.Mmsghdr{}
	m.Hdr.Name = &b.names[j][0]
	m.Hdr.Namelen = b.names[j].put(d, port)
	m.Hdr.Iov = &iov[0]
	m.Hdr.SetIovlen(2)
	b.frame[j] = i
}

// flush sends the queued datagrams. On a final error it returns the index of
// the first datagram whose outcome is unknown.
func (e *Endpoint) flush(state []uint8) (int, error) {
	b := &e.tx
	off := 0
	for off < b.n {
		n, err := sendmmsg(e.txfd, b.msgs[off:b.n], 0)
		switch {
		case err == nil:
			for j := off; j < off+n; j++ {
				state[b.frame[j]] |= frameSent
			}
			e.stats.txDatagrams.Add(uint64(n))
			off += n
		case err == unix.EINTR:
		case err == unix.EAGAIN:
			if err := e.wait(e.txfd, unix.POLLOUT); err != nil {
				return off, err
			}
		case err == unix.EMSGSIZE:
			state[b.frame[off]] |= frameTooBig
			off++
		case transient(err):
			e.stats.txErrors.Add(1)
			off++
		default:
			return off, socketError("sendmmsg", err)
		}
	}
	b.n = 0
	return off, nil
}

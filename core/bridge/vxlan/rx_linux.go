package vxlan

import (
	"net"

	"golang.org/x/sys/unix"
)

// VXLAN header (RFC 7348 §5): flags (8 bits, I = 0x08), 24 reserved bits,
// the 24-bit VNI, 8 reserved bits.
const (
	vxlanLen   = 8
	flagI      = 0x08
	etherLen   = 14
	maxBatch   = 256 // messages per recvmmsg or sendmmsg call (the kernel takes up to 1024)
	udpLen     = 8
	headersLen = udpLen + vxlanLen
)

func putVXLAN(h []byte, vni uint32) {
	h[0], h[1], h[2], h[3] = flagI, 0, 0, 0
	h[4], h[5], h[6], h[7] = byte(vni>>16), byte(vni>>8), byte(vni), 0
}

func vniOf(h *[vxlanLen]byte) uint32 {
	return uint32(h[4])<<16 | uint32(h[5])<<8 | uint32(h[6])
}

// rxBatch is the scratch of one recvmmsg: each datagram's VXLAN header goes
// into hdrs and its frame straight into the caller's buffer.
type rxBatch struct {
	msgs  []unix.Mmsghdr
	iovs  []unix.Iovec
	hdrs  [][vxlanLen]byte
	names []sockaddr
}

func (b *rxBatch) prepare(bufs [][]byte) []unix.Mmsghdr {
	n := len(bufs)
	if len(b.msgs) < n {
		b.msgs = make([]unix.Mmsghdr, n)
		b.iovs = make([]unix.Iovec, 2*n)
		b.hdrs = make([][vxlanLen]byte, n)
		b.names = make([]sockaddr, n)
	}
	for i, buf := range bufs {
		iov := b.iovs[2*i : 2*i+2]
		iov[0].Base = &b.hdrs[i][0]
		iov[0].SetLen(vxlanLen)
		iov[1].Base = &buf[0]
		iov[1].SetLen(len(buf))
		m := &b.msgs[i]
		*m = unix.Mmsghdr{}
		m.Hdr.Name = &b.names[i][0]
		m.Hdr.Namelen = uint32(len(b.names[i]))
		m.Hdr.Iov = &iov[0]
		m.Hdr.SetIovlen(2)
	}
	return b.msgs[:n]
}

// ReadFrames blocks until at least one frame arrives for this endpoint's VNI
// from an accepted peer, then fills bufs[0..k) and lens[0..k) with up to
// len(bufs) frames (one recvmmsg) and returns k >= 1. A frame longer than its
// buffer is cut to it and lens[i] is its full length. Every buffer must hold
// at least an Ethernet header (MaxFrame bytes to get every frame whole).
// Datagrams that are malformed, for another VNI, from an unknown peer in
// unicast mode, or whose source MAC is pinned by a static entry to another
// peer are counted in Stats and skipped. After Close it returns an error
// matching net.ErrClosed. It must not be called concurrently with itself.
func (e *Endpoint) ReadFrames(bufs [][]byte, lens []int) (int, error) {
	if !e.enter() {
		return 0, net.ErrClosed
	}
	defer e.leave()
	e.rxmu.Lock()
	defer e.rxmu.Unlock()
	n := min(len(bufs), len(lens), maxBatch)
	if n == 0 {
		return 0, unix.EINVAL
	}
	bufs = bufs[:n]
	for _, b := range bufs {
		if len(b) < etherLen {
			return 0, unix.EINVAL
		}
	}
	for {
		msgs := e.rx.prepare(bufs)
		got, err := recvmmsg(e.rxfd, msgs, unix.MSG_TRUNC)
		switch {
		case err == nil:
			if k := e.accept(bufs, lens, got); k > 0 {
				return k, nil
			}
		case err == unix.EINTR || transient(err):
			// An error queued by ICMP is reported once; the socket goes on.
		case err == unix.EAGAIN:
			if err := e.wait(e.rxfd, unix.POLLIN); err != nil {
				return 0, err
			}
		default:
			return 0, socketError("recvmmsg", err)
		}
	}
}

// accept checks the got datagrams of the last recvmmsg, learns their sources
// and moves the frames it keeps to the front of bufs.
func (e *Endpoint) accept(bufs [][]byte, lens []int, got int) int {
	now := e.clock()
	k := 0
	e.fdb.mu.Lock()
	defer e.fdb.mu.Unlock()
	for i := range got {
		size := int(e.rx.msgs[i].Len) // the whole datagram: recvmmsg had MSG_TRUNC
		hdr := &e.rx.hdrs[i]
		// RFC 7348 §5: the I flag must be set; receivers ignore the
		// reserved bits (Linux, stricter, drops them when set).
		if size < vxlanLen+etherLen || hdr[0]&flagI == 0 {
			e.stats.rxMalformed.Add(1)
			continue
		}
		if vniOf(hdr) != e.cfg.vni {
			e.stats.rxWrongVNI.Add(1)
			continue
		}
		from := e.rx.names[i].source()
		if e.allowed != nil && !e.allowed[from.addr] {
			e.stats.rxUnknownPeer.Add(1)
			continue
		}
		frame := bufs[i]
		src := macAt(frame[6:12])
		if src.isGroup() || src.isZero() {
			// Linux drops these too: no station sends from them.
			e.stats.rxMalformed.Add(1)
			continue
		}
		switch e.fdb.learn(src, from, now) {
		case moved:
			e.stats.rxStaticConflict.Add(1)
			continue
		case tableFull:
			e.stats.learnFull.Add(1)
		}
		frameLen := size - vxlanLen
		if k != i {
			copy(bufs[k], frame[:min(frameLen, len(frame))])
		}
		lens[k] = frameLen
		k++
	}
	e.stats.rxFrames.Add(uint64(k))
	return k
}

package offload

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
)

const (
	txFlags = CsumIPv4 | CsumTCPv4 | CsumUDPv4 | CsumTCPv6 | CsumUDPv6 | TSOv4 | TSOv6
	v4Flags = CsumIPv4 | CsumTCPv4 | CsumUDPv4 | TSOv4
	v6Flags = CsumTCPv6 | CsumUDPv6 | TSOv6

	maxHdrLen = vlanHdrLen + 60 + 60 // Ethernet with a tag, IPv4 and TCP, both with the most options
)

// txCaps pairs each TX request flag with the capability it needs.
var txCaps = [...]struct{ flag, cap uint32 }{
	{TSOv4, CapTSOv4},
	{TSOv6, CapTSOv6},
	{CsumIPv4, CapIPv4Tx},
	{CsumTCPv4, CapTCPv4Tx},
	{CsumUDPv4, CapUDPv4Tx},
	{CsumTCPv6, CapTCPv6Tx},
	{CsumUDPv6, CapUDPv6Tx},
}

// Tx does in software the work that flags defer (docs/protocol.md §7.3), as
// shmif does before a frame goes on the bus, and calls emit once per
// resulting frame, in order. emit's slice is valid only during the call;
// frame itself may be modified in place. With flags 0 frame is emitted
// unchanged, whatever its length.
//
// CsumIPv4 recomputes the IPv4 header checksum. CsumTCPv4, CsumUDPv4,
// CsumTCPv6 and CsumUDPv6 compute the TCP or UDP checksum of the packet whose
// length the IP header gives; Ethernet padding after it is left alone. A
// computed UDP checksum of 0 is stored as 0xFFFF.
//
// TSOv4 and TSOv6 split the TCP payload into segments of mss bytes, the last
// one possibly shorter, and emit each behind a copy of the Ethernet, IP and
// TCP headers with the length fields, the TCP sequence number and every
// checksum set, and for IPv4 the IP id of the k-th segment (from 0) set to
// the original plus k. The payload runs to the end of frame: the IP length
// field is ignored, since 64 KiB do not fit it. The TCP flags are copied to
// every segment, FIN and PSH included, as NetBSD's tcp4_segment does. A frame
// without payload gives one segment. As in NetBSD, an enabled TSO capability
// covers the checksum flags that come with the TSO flag.
//
// Frames are checked fully before any is emitted; once emitting has started,
// an error from emit stops Tx and is returned.
//
// Errors:
//   - EINVAL: flags holds an RX status flag or an unknown bit, mixes IPv4
//     and IPv6 work, or asks for both TCP and UDP; mss <= 0 with TSO; the
//     frame is not IPv4 or IPv6 (possibly behind an 802.1Q tag) of the
//     version the flags name, is cut short, has a bad IP, TCP or UDP length
//     field, is an IPv4 fragment, has IPv6 extension headers, or carries
//     another protocol than the one asked for (TCP for TSO).
//   - EOPNOTSUPP: a flag whose capability is not enabled in capenable.
//   - EMSGSIZE: a resulting frame would be longer than 1514 bytes.
//   - whatever emit returns.
func Tx(frame []byte, flags uint32, mss int, capenable uint32, emit func([]byte) error) error {
	if flags == 0 {
		return emit(frame)
	}
	if err := checkRequest(flags, capenable); err != nil {
		return err
	}
	v6 := flags&v6Flags != 0
	if flags&(TSOv4|TSOv6) != 0 {
		return segment(frame, v6, mss, emit)
	}
	if err := undefer(frame, flags, v6); err != nil {
		return err
	}
	return emit(frame)
}

// checkRequest checks a nonzero TX request against itself and capenable.
func checkRequest(flags, capenable uint32) error {
	switch {
	case flags&^txFlags != 0,
		flags&v4Flags != 0 && flags&v6Flags != 0,
		flags&(CsumTCPv4|CsumUDPv4) == CsumTCPv4|CsumUDPv4,
		flags&(CsumTCPv6|CsumUDPv6) == CsumTCPv6|CsumUDPv6,
		flags&TSOv4 != 0 && flags&CsumUDPv4 != 0,
		flags&TSOv6 != 0 && flags&CsumUDPv6 != 0:
		return unix.EINVAL
	}
	// NetBSD's TX_OFFLOAD_SUPPORTED: its stack sets M_CSUM_IPv4 alongside
	// M_CSUM_TSOv4 even where the IPv4 checksum capability is off, so an
	// enabled TSO capability is enough; segmentation computes every checksum.
	if flags&TSOv4 != 0 && capenable&CapTSOv4 != 0 || flags&TSOv6 != 0 && capenable&CapTSOv6 != 0 {
		return nil
	}
	for _, c := range txCaps {
		if flags&c.flag != 0 && capenable&c.cap == 0 {
			return unix.EOPNOTSUPP
		}
	}
	return nil
}

// packet locates the headers of a frame that Tx works on: offsets of the IP
// header, of the TCP/UDP header, and of the end of the IP packet.
type packet struct {
	l3, l4, end int
	v6          bool
	proto       byte // IPv4 protocol or IPv6 next header
}

// locate checks the Ethernet and IP headers of frame, which must be IPv6 if
// v6 and IPv4 otherwise. With tso the IP length field is ignored and the
// packet runs to the end of frame; otherwise the field gives its end, and
// anything behind that is Ethernet padding.
func locate(frame []byte, v6, tso bool) (packet, error) {
	l3, isV6, ok := link(frame)
	if !ok || isV6 != v6 {
		return packet{}, unix.EINVAL
	}
	p := packet{l3: l3, v6: v6, end: len(frame)}
	ip := frame[l3:]
	if v6 {
		if len(ip) < ipv6HdrLen || ip[0]>>4 != 6 {
			return packet{}, unix.EINVAL
		}
		p.l4 = l3 + ipv6HdrLen
		p.proto = ip[6]
		if !tso {
			p.end = p.l4 + int(binary.BigEndian.Uint16(ip[4:]))
		}
	} else {
		if len(ip) < ipv4MinHdrLen || ip[0]>>4 != 4 {
			return packet{}, unix.EINVAL
		}
		hl := int(ip[0]&0xF) * 4
		if hl < ipv4MinHdrLen || hl > len(ip) {
			return packet{}, unix.EINVAL
		}
		p.l4 = l3 + hl
		p.proto = ip[9]
		if !tso {
			n := int(binary.BigEndian.Uint16(ip[2:]))
			if n < hl {
				return packet{}, unix.EINVAL
			}
			p.end = l3 + n
		}
	}
	if p.end > len(frame) {
		return packet{}, unix.EINVAL
	}
	return p, nil
}

// l4HdrLen checks that p carries one whole, unfragmented TCP or UDP
// (proto) segment and returns the length of its header.
func (p packet) l4HdrLen(frame []byte, proto byte) (int, error) {
	// Checksums and segments make no sense for a fragment; NetBSD's stack
	// computes them before it fragments.
	if p.proto != proto || !p.v6 && isFragment(frame[p.l3:]) {
		return 0, unix.EINVAL
	}
	seg := frame[p.l4:p.end]
	if proto == protoUDP {
		// The UDP length must agree with the IP one: receivers put it in the
		// pseudo-header.
		if len(seg) < udpHdrLen || int(binary.BigEndian.Uint16(seg[4:])) != len(seg) {
			return 0, unix.EINVAL
		}
		return udpHdrLen, nil
	}
	if len(seg) < tcpMinHdrLen {
		return 0, unix.EINVAL
	}
	n := int(seg[12]>>4) * 4
	if n < tcpMinHdrLen || n > len(seg) {
		return 0, unix.EINVAL
	}
	return n, nil
}

// undefer computes the checksums flags ask for in frame (no TSO).
func undefer(frame []byte, flags uint32, v6 bool) error {
	p, err := locate(frame, v6, false)
	if err != nil {
		return err
	}
	var proto byte
	switch {
	case flags&(CsumTCPv4|CsumTCPv6) != 0:
		proto = protoTCP
	case flags&(CsumUDPv4|CsumUDPv6) != 0:
		proto = protoUDP
	}
	if proto != 0 {
		if _, err := p.l4HdrLen(frame, proto); err != nil {
			return err
		}
	}
	if len(frame) > maxFrame {
		return unix.EMSGSIZE
	}
	if flags&CsumIPv4 != 0 {
		setIPv4Sum(frame[p.l3:p.l4])
	}
	if proto != 0 {
		setL4Sum(frame[p.l4:p.end], frame[p.l3:], v6, proto)
	}
	return nil
}

// segment does TSO (see Tx).
func segment(frame []byte, v6 bool, mss int, emit func([]byte) error) error {
	if mss <= 0 {
		return unix.EINVAL
	}
	p, err := locate(frame, v6, true)
	if err != nil {
		return err
	}
	thl, err := p.l4HdrLen(frame, protoTCP)
	if err != nil {
		return err
	}
	hdrLen := p.l4 + thl
	iphl := p.l4 - p.l3
	payload := len(frame) - hdrLen
	if hdrLen+min(mss, payload) > maxFrame {
		return unix.EMSGSIZE
	}
	var hdr [maxHdrLen]byte
	copy(hdr[:], frame[:hdrLen])
	seq := binary.BigEndian.Uint32(frame[p.l4+4:])
	id := binary.BigEndian.Uint16(frame[p.l3+4:])
	for off := 0; ; off += mss {
		n := min(mss, payload-off)
		// Each segment's headers go right in front of its payload, over
		// bytes of earlier segments that were already emitted: the payload
		// is never copied.
		seg := frame[off : off+hdrLen+n]
		if off > 0 {
			copy(seg, hdr[:hdrLen])
		}
		ip := seg[p.l3:]
		if v6 {
			binary.BigEndian.PutUint16(ip[4:], uint16(thl+n))
		} else {
			binary.BigEndian.PutUint16(ip[2:], uint16(iphl+thl+n))
			binary.BigEndian.PutUint16(ip[4:], id)
			setIPv4Sum(ip[:iphl])
			id++
		}
		binary.BigEndian.PutUint32(seg[p.l4+4:], seq+uint32(off))
		setL4Sum(seg[p.l4:], ip, v6, protoTCP)
		if err := emit(seg); err != nil {
			return err
		}
		if off+n >= payload {
			return nil
		}
	}
}

// setIPv4Sum sets the checksum of the IPv4 header hdr.
func setIPv4Sum(hdr []byte) {
	hdr[10], hdr[11] = 0, 0
	binary.BigEndian.PutUint16(hdr[10:], Checksum(hdr, 0))
}

// setL4Sum sets the checksum of the TCP or UDP (proto) segment seg, whose IP
// header starts at ip.
func setL4Sum(seg, ip []byte, v6 bool, proto byte) {
	off := tcpSumOff
	if proto == protoUDP {
		off = udpSumOff
	}
	c := l4Sum(seg, off, pseudoSum(ip, v6, proto, len(seg)))
	if c == 0 && proto == protoUDP {
		c = 0xFFFF // 0 would mean "no checksum" (RFC 768)
	}
	binary.BigEndian.PutUint16(seg[off:], c)
}

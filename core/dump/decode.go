package dump

import (
	"encoding/binary"
	"net/netip"
)

// Ethertypes and IP protocol numbers the filters and summaries know.
const (
	etherIPv4   = 0x0800
	etherARP    = 0x0806
	etherRARP   = 0x8035
	etherIPv6   = 0x86dd
	etherVLAN   = 0x8100 // 802.1Q
	etherQinQ   = 0x88a8 // 802.1ad
	etherVLAN91 = 0x9100 // pre-standard stacked VLAN tag

	protoICMP  = 1
	protoTCP   = 6
	protoUDP   = 17
	protoICMP6 = 58
)

// maxTags bounds the VLAN tags looked through.
const maxTags = 4

var be = binary.BigEndian

// tag is one VLAN tag: its TPID and tag control information.
type tag struct{ tpid, tci uint16 }

// packet is what the filters and summaries read from a frame, decoded once.
// Every field is taken from bytes the frame holds: a truncated header
// leaves the layers after it undecoded.
type packet struct {
	frame    []byte
	dst, src []byte // Ethernet addresses (nil if the frame is shorter than a header)

	tags  [maxTags]tag
	ntags int
	etype uint16 // innermost ethertype, or an 802.3 length (< 0x600)
	l3    []byte // what follows it

	// ARP over Ethernet for IPv4.
	arp            bool
	arpOp          uint16
	arpSHA, arpTHA []byte
	arpSPA, arpTPA netip.Addr

	// IPv4 or IPv6 (ipv 4 or 6); proto after IPv6 extension headers.
	ipv          int
	ipSrc, ipDst netip.Addr
	proto        int
	fragment     bool   // not the first fragment: no transport header
	ipPayload    int    // payload length the IP header gives
	l4           []byte // transport header and payload (nil for fragments)
}

// decode reads frame's headers: Ethernet, VLAN tags, then ARP, IPv4 or
// IPv6 and the transport protocol.
func decode(frame []byte) *packet {
	p := &packet{frame: frame, proto: -1}
	if len(frame) < 14 {
		return p
	}
	p.dst, p.src = frame[0:6], frame[6:12]
	off := 12
	t := be.Uint16(frame[off:])
	for isVLAN(t) && p.ntags < maxTags && off+6 <= len(frame) {
		p.tags[p.ntags] = tag{tpid: t, tci: be.Uint16(frame[off+2:])}
		p.ntags++
		off += 4
		t = be.Uint16(frame[off:])
	}
	p.etype = t
	p.l3 = frame[off+2:]
	switch t {
	case etherARP, etherRARP:
		p.decodeARP()
	case etherIPv4:
		p.decodeIPv4()
	case etherIPv6:
		p.decodeIPv6()
	}
	return p
}

func isVLAN(t uint16) bool { return t == etherVLAN || t == etherQinQ || t == etherVLAN91 }

// decodeARP reads an ARP or RARP packet for IPv4 over Ethernet.
func (p *packet) decodeARP() {
	b := p.l3
	if len(b) < 28 || be.Uint16(b[0:]) != 1 || be.Uint16(b[2:]) != etherIPv4 || b[4] != 6 || b[5] != 4 {
		return
	}
	p.arp = true
	p.arpOp = be.Uint16(b[6:])
	p.arpSHA, p.arpTHA = b[8:14], b[18:24]
	p.arpSPA = netip.AddrFrom4([4]byte(b[14:18]))
	p.arpTPA = netip.AddrFrom4([4]byte(b[24:28]))
}

func (p *packet) decodeIPv4() {
	b := p.l3
	if len(b) < 20 || b[0]>>4 != 4 {
		return
	}
	ihl := int(b[0]&0x0f) * 4
	total := int(be.Uint16(b[2:]))
	if ihl < 20 || len(b) < ihl || total < ihl {
		return
	}
	p.ipv = 4
	p.ipSrc = netip.AddrFrom4([4]byte(b[12:16]))
	p.ipDst = netip.AddrFrom4([4]byte(b[16:20]))
	p.proto = int(b[9])
	p.ipPayload = total - ihl
	if be.Uint16(b[6:])&0x1fff != 0 {
		p.fragment = true
		return
	}
	p.l4 = b[ihl:min(total, len(b))]
}

// IPv6 extension headers that may come before the transport header.
const (
	ip6HopByHop = 0
	ip6Routing  = 43
	ip6Fragment = 44
	ip6AH       = 51
	ip6DstOpts  = 60
)

func (p *packet) decodeIPv6() {
	b := p.l3
	if len(b) < 40 || b[0]>>4 != 6 {
		return
	}
	p.ipv = 6
	p.ipSrc = netip.AddrFrom16([16]byte(b[8:24]))
	p.ipDst = netip.AddrFrom16([16]byte(b[24:40]))
	p.ipPayload = int(be.Uint16(b[4:]))
	nh := int(b[6])
	rest := b[40:min(40+p.ipPayload, len(b))]
	for range 8 {
		var size int
		switch nh {
		case ip6HopByHop, ip6Routing, ip6DstOpts:
			if len(rest) < 2 {
				return
			}
			size = (int(rest[1]) + 1) * 8
		case ip6AH:
			if len(rest) < 2 {
				return
			}
			size = (int(rest[1]) + 2) * 4
		case ip6Fragment:
			if len(rest) < 8 {
				return
			}
			size = 8
			if be.Uint16(rest[2:])&0xfff8 != 0 {
				p.proto = int(rest[0])
				p.fragment = true
				return
			}
		default:
			p.proto = nh
			p.l4 = rest
			return
		}
		if len(rest) < size {
			return
		}
		nh = int(rest[0])
		rest = rest[size:]
	}
}

// ports returns the TCP or UDP ports, if the frame holds them.
func (p *packet) ports() (src, dst uint16, ok bool) {
	if (p.proto != protoTCP && p.proto != protoUDP) || len(p.l4) < 4 {
		return 0, 0, false
	}
	return be.Uint16(p.l4[0:]), be.Uint16(p.l4[2:]), true
}

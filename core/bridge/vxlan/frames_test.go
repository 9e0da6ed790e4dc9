package vxlan

import (
	"encoding/binary"
	"net/netip"
)

// Inner network of the tests: the test plays a host with ourMAC/ourIP
// behind the endpoint; the kernel's VXLAN device is kernelMAC/kernelIP.
var (
	ourMAC    = mac{0x02, 0, 0, 0x77, 0, 0x01}
	kernelMAC = mac{0x02, 0, 0, 0x77, 0, 0x02}
	ourIP     = netip.MustParseAddr("192.168.77.1")
	kernelIP  = netip.MustParseAddr("192.168.77.2")
	broadcast = mac{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
)

const (
	kernelInner = "192.168.77.2/24"
	ipProtoICMP = 1
)

func ether(dst, src mac, etype uint16, payload []byte) []byte {
	f := make([]byte, 14, 14+len(payload))
	copy(f[0:], dst[:])
	copy(f[6:], src[:])
	binary.BigEndian.PutUint16(f[12:], etype)
	return append(f, payload...)
}

func arpFrame(op uint16, dst, sha mac, spa netip.Addr, tha mac, tpa netip.Addr) []byte {
	p := make([]byte, 28)
	binary.BigEndian.PutUint16(p[0:], 1)      // Ethernet
	binary.BigEndian.PutUint16(p[2:], 0x0800) // IPv4
	p[4], p[5] = 6, 4
	binary.BigEndian.PutUint16(p[6:], op)
	copy(p[8:], sha[:])
	s, d := spa.As4(), tpa.As4()
	copy(p[14:], s[:])
	copy(p[18:], tha[:])
	copy(p[24:], d[:])
	return ether(dst, sha, 0x0806, p)
}

// parseARP reads an ARP frame: op, sender MAC and IP, target IP.
func parseARP(f []byte) (op uint16, sha mac, spa, tpa netip.Addr, ok bool) {
	if len(f) < 42 || binary.BigEndian.Uint16(f[12:]) != 0x0806 {
		return 0, mac{}, netip.Addr{}, netip.Addr{}, false
	}
	p := f[14:]
	return binary.BigEndian.Uint16(p[6:]), macAt(p[8:]), netip.AddrFrom4([4]byte(p[14:18])),
		netip.AddrFrom4([4]byte(p[24:28])), true
}

func checksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}

func ipv4Frame(dst, src mac, sip, dip netip.Addr, proto byte, payload []byte) []byte {
	h := make([]byte, 20)
	h[0] = 0x45
	binary.BigEndian.PutUint16(h[2:], uint16(20+len(payload)))
	binary.BigEndian.PutUint16(h[6:], 0x4000) // DF
	h[8] = 64
	h[9] = proto
	s, d := sip.As4(), dip.As4()
	copy(h[12:], s[:])
	copy(h[16:], d[:])
	binary.BigEndian.PutUint16(h[10:], checksum(h))
	return ether(dst, src, 0x0800, append(h, payload...))
}

// parseIPv4 reads an IPv4 frame without options: addresses, protocol, payload.
func parseIPv4(f []byte) (src, dst netip.Addr, proto byte, payload []byte, ok bool) {
	if len(f) < 34 || binary.BigEndian.Uint16(f[12:]) != 0x0800 || f[14] != 0x45 {
		return
	}
	ip := f[14:]
	total := int(binary.BigEndian.Uint16(ip[2:]))
	if total < 20 || total > len(ip) {
		return
	}
	return netip.AddrFrom4([4]byte(ip[12:16])), netip.AddrFrom4([4]byte(ip[16:20])), ip[9], ip[20:total], true
}

func icmpEcho(typ byte, id, seq uint16, data []byte) []byte {
	p := make([]byte, 8, 8+len(data))
	p[0] = typ
	binary.BigEndian.PutUint16(p[4:], id)
	binary.BigEndian.PutUint16(p[6:], seq)
	p = append(p, data...)
	binary.BigEndian.PutUint16(p[2:], checksum(p))
	return p
}

// udpDatagram builds a UDP header and payload (checksum 0: none, which IPv4 allows).
func udpDatagram(sport, dport uint16, payload []byte) []byte {
	p := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint16(p[0:], sport)
	binary.BigEndian.PutUint16(p[2:], dport)
	binary.BigEndian.PutUint16(p[4:], uint16(8+len(payload)))
	return append(p, payload...)
}

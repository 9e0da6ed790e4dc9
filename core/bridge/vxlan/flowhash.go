package vxlan

import (
	"bytes"
	"encoding/binary"
	"hash/maphash"
)

// Inner EtherTypes and IP protocols the flow hash looks into.
const (
	etherIPv4  = 0x0800
	etherIPv6  = 0x86dd
	etherVLAN  = 0x8100
	etherQinQ  = 0x88a8
	protoTCP   = 6
	protoUDP   = 17
	protoDCCP  = 33
	protoSCTP  = 132
	protoUDPLt = 136
)

// flowHash hashes the flow an inner frame belongs to, as Linux's flow
// dissector does for udp_flow_src_port: for IPv4 and IPv6 the addresses, the
// protocol and, for TCP, UDP, UDP-Lite, DCCP and SCTP outside fragments, the
// ports; for anything else the two MAC addresses and the EtherType. Up to two
// VLAN tags are skipped. The two ends of a flow are put in a fixed order, so
// both directions of a connection hash alike. The seed is per endpoint, so
// the ports reveal nothing across endpoints.
func flowHash(seed maphash.Seed, frame []byte) uint32 {
	var key [38]byte
	n := flowKey(frame, &key)
	h := maphash.Bytes(seed, key[:n])
	return uint32(h) ^ uint32(h>>32)
}

// flowKey writes the fields flowHash hashes into key and returns their length.
func flowKey(frame []byte, key *[38]byte) int {
	if len(frame) < 14 {
		return copy(key[:], frame)
	}
	etype := binary.BigEndian.Uint16(frame[12:])
	off := 14
	for i := 0; i < 2 && (etype == etherVLAN || etype == etherQinQ) && len(frame) >= off+4; i++ {
		etype = binary.BigEndian.Uint16(frame[off+2:])
		off += 4
	}
	ip := frame[off:]
	switch {
	case etype == etherIPv4 && len(ip) >= 20 && ip[0]>>4 == 4:
		ihl := int(ip[0]&0x0f) * 4
		fragment := binary.BigEndian.Uint16(ip[6:])&0x3fff != 0 // MF or an offset
		var l4 []byte
		if ihl >= 20 && len(ip) >= ihl+4 && !fragment {
			l4 = ip[ihl:]
		}
		return ipKey(key, 4, ip[9], ip[12:16], ip[16:20], l4)
	case etype == etherIPv6 && len(ip) >= 40 && ip[0]>>4 == 6:
		var l4 []byte
		if len(ip) >= 44 {
			l4 = ip[40:]
		}
		return ipKey(key, 6, ip[6], ip[8:24], ip[24:40], l4)
	}
	a, b := frame[0:6], frame[6:12]
	if bytes.Compare(a, b) > 0 {
		a, b = b, a
	}
	key[0] = 0
	binary.BigEndian.PutUint16(key[1:], etype)
	copy(key[3:], a)
	copy(key[9:], b)
	return 15
}

// ipKey writes version, protocol, the ordered address pair and, for
// protocols with ports, the ports in the same order.
func ipKey(key *[38]byte, version, proto byte, src, dst, l4 []byte) int {
	var sport, dport []byte
	switch proto {
	case protoTCP, protoUDP, protoUDPLt, protoDCCP, protoSCTP:
		if l4 != nil {
			sport, dport = l4[0:2], l4[2:4]
		}
	}
	if c := bytes.Compare(src, dst); c > 0 || (c == 0 && bytes.Compare(sport, dport) > 0) {
		src, dst = dst, src
		sport, dport = dport, sport
	}
	key[0] = version
	key[1] = proto
	n := 2
	n += copy(key[n:], src)
	n += copy(key[n:], dst)
	n += copy(key[n:], sport)
	n += copy(key[n:], dport)
	return n
}

// portIn maps a hash into lo..hi-1 as Linux's udp_flow_src_port does.
func portIn(h uint32, lo, hi uint16) uint16 {
	return lo + uint16(uint64(h)*uint64(hi-lo)>>32)
}

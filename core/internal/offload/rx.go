package offload

import "encoding/binary"

// RxStatus returns the checksum status flags NetBSD's shmif would give the
// received frame for the RX capabilities enabled in capenable
// (docs/protocol.md §7.4); 0 when none is. frame is not modified.
//
// For IPv4 with CapIPv4Rx the status holds CsumIPv4, plus CsumIPv4Bad if the
// header checksum is wrong (or the header cannot be whole). A wrong header
// checksum ends the check, enabled or not, and so does a fragment. A TCP or
// UDP checksum is checked when its capability (CapTCPv4Rx, CapUDPv4Rx,
// CapTCPv6Rx, CapUDPv6Rx) is enabled, giving CsumTCPv4, CsumUDPv4, CsumTCPv6
// or CsumUDPv6, plus CsumTCPUDPBad if it is wrong. An IPv4 UDP checksum of 0
// means none and gives no flag; in IPv6, where a checksum is compulsory, it
// counts as wrong. IPv6 packets are checked only when TCP or UDP directly
// follows the IPv6 header.
//
// The TCP or UDP length is the one the IP header gives, so Ethernet padding
// does not count. A frame cut short, or otherwise malformed, gets the flags
// found up to that point.
func RxStatus(frame []byte, capenable uint32) uint32 {
	if capenable&RxCaps == 0 {
		return 0
	}
	l3, v6, ok := link(frame)
	if !ok {
		return 0
	}
	if v6 {
		return rxStatus6(frame[l3:], capenable)
	}
	return rxStatus4(frame[l3:], capenable)
}

// rxStatus4 is RxStatus for the IPv4 packet ip (up to the end of the frame).
func rxStatus4(ip []byte, capenable uint32) uint32 {
	if len(ip) < ipv4MinHdrLen || ip[0]>>4 != 4 {
		return 0
	}
	var status, bad uint32
	if capenable&CapIPv4Rx != 0 {
		status, bad = CsumIPv4, CsumIPv4Bad
	}
	hl := int(ip[0]&0xF) * 4
	if hl < ipv4MinHdrLen || hl > len(ip) || Checksum(ip[:hl], 0) != 0 {
		return status | bad
	}
	n := int(binary.BigEndian.Uint16(ip[2:]))
	if isFragment(ip) || n < hl || n > len(ip) {
		return status
	}
	switch proto := ip[9]; {
	case proto == protoTCP && capenable&CapTCPv4Rx != 0:
		return status | l4Status(ip[hl:n], ip, false, proto, CsumTCPv4)
	case proto == protoUDP && capenable&CapUDPv4Rx != 0:
		return status | l4Status(ip[hl:n], ip, false, proto, CsumUDPv4)
	}
	return status
}

// rxStatus6 is RxStatus for the IPv6 packet ip (up to the end of the frame).
func rxStatus6(ip []byte, capenable uint32) uint32 {
	if len(ip) < ipv6HdrLen || ip[0]>>4 != 6 {
		return 0
	}
	end := ipv6HdrLen + int(binary.BigEndian.Uint16(ip[4:]))
	if end > len(ip) {
		return 0
	}
	switch proto := ip[6]; {
	case proto == protoTCP && capenable&CapTCPv6Rx != 0:
		return l4Status(ip[ipv6HdrLen:end], ip, true, proto, CsumTCPv6)
	case proto == protoUDP && capenable&CapUDPv6Rx != 0:
		return l4Status(ip[ipv6HdrLen:end], ip, true, proto, CsumUDPv6)
	}
	return 0
}

// l4Status checks the TCP or UDP (proto) segment seg, whose IP header starts
// at ip, and returns flag, with CsumTCPUDPBad if the checksum is wrong; 0 if
// seg is too short for its header or is IPv4 UDP without a checksum.
func l4Status(seg, ip []byte, v6 bool, proto byte, flag uint32) uint32 {
	off, hdrLen := tcpSumOff, tcpMinHdrLen
	if proto == protoUDP {
		off, hdrLen = udpSumOff, udpHdrLen
	}
	if len(seg) < hdrLen {
		return 0
	}
	stored := binary.BigEndian.Uint16(seg[off:])
	if proto == protoUDP && stored == 0 {
		if v6 {
			return flag | CsumTCPUDPBad // compulsory in IPv6 (RFC 8200 §8.1)
		}
		return 0
	}
	// Compare as NetBSD does: recompute and compare, with a UDP sum of 0
	// sent as 0xFFFF.
	c := l4Sum(seg, off, pseudoSum(ip, v6, proto, len(seg)))
	if c == 0 && proto == protoUDP {
		c = 0xFFFF
	}
	if c != stored {
		return flag | CsumTCPUDPBad
	}
	return flag
}

// Package offload emulates in software the checksum and segmentation offload
// that a NetBSD shmif interface advertises (docs/protocol.md §7). NetBSD's
// stack hands a driver frames whose checksums or TCP segmentation were
// deferred, marked by mbuf flags (M_CSUM_*); shmif does that work itself
// before a frame goes on the bus, and on receive it reports which checksums
// it verified. Tx and RxStatus do the same over plain byte slices:
//
//	// A 64 KiB TCP frame, segmented into 1448-byte segments on the bus.
//	err := offload.Tx(frame, offload.TSOv4, 1448, capenable, ifc.Send)
//
//	// What NetBSD's stack would find in csum_flags for a received frame.
//	status := offload.RxStatus(frame, capenable)
//
// Frames are Ethernet frames without FCS: a 14-byte header with type IPv4
// (0x0800) or IPv6 (0x86DD), or an 18-byte header with an 802.1Q tag (0x8100)
// in front of one of those types.
//
// Errors are syscall.Errno values (golang.org/x/sys/unix), so callers can
// compare them directly and hand them to C unchanged.
package offload

import "encoding/binary"

// NetBSD mbuf checksum flags (M_CSUM_*), used both as TX requests and RX
// status.
const (
	CsumTCPv4     = 0x01  // TX: compute the TCP checksum; RX: TCP checksum verified
	CsumUDPv4     = 0x02  // TX: compute the UDP checksum; RX: UDP checksum verified
	CsumTCPUDPBad = 0x04  // RX only: the TCP or UDP checksum is wrong
	CsumData      = 0x08  // RX only: a partial checksum in csum_data (never set here)
	CsumTCPv6     = 0x10  // as CsumTCPv4, for TCP over IPv6
	CsumUDPv6     = 0x20  // as CsumUDPv4, for UDP over IPv6
	CsumIPv4      = 0x40  // TX: compute the IPv4 header checksum; RX: it was verified
	CsumIPv4Bad   = 0x80  // RX only: the IPv4 header checksum is wrong
	TSOv4         = 0x100 // TX only: segment a TCP/IPv4 frame (and compute its checksums)
	TSOv6         = 0x200 // TX only: segment a TCP/IPv6 frame (and compute its checksum)
)

// NetBSD IFCAP_* capability bits (docs/protocol.md §7.1), as kept in an
// interface's capenable.
const (
	CapTSOv4   = 0x80
	CapIPv4Rx  = 0x100
	CapIPv4Tx  = 0x200
	CapTCPv4Rx = 0x400
	CapTCPv4Tx = 0x800
	CapUDPv4Rx = 0x1000
	CapUDPv4Tx = 0x2000
	CapTCPv6Rx = 0x4000
	CapTCPv6Tx = 0x8000
	CapUDPv6Rx = 0x10000
	CapUDPv6Tx = 0x20000
	CapTSOv6   = 0x40000

	// Capabilities is everything shmif advertises: all twelve bits above.
	Capabilities = 0x7FF80
	// RxCaps are the receive checksum capabilities.
	RxCaps = 0x15500
	// TxCaps are the transmit capabilities, TSO included.
	TxCaps = 0x6AA80
)

// Frame layout.
const (
	maxFrame = 1514 // ETHER_HDR_LEN + ETHERMTU, the largest frame the bus carries

	etherHdrLen = 14 // destination, source, type
	vlanHdrLen  = 18 // the same with a 4-byte 802.1Q tag before the type

	typeIPv4 = 0x0800
	typeIPv6 = 0x86DD
	typeVLAN = 0x8100

	ipv4MinHdrLen = 20
	ipv6HdrLen    = 40
	tcpMinHdrLen  = 20
	udpHdrLen     = 8

	protoTCP = 6
	protoUDP = 17

	tcpSumOff = 16 // checksum offset in the TCP header
	udpSumOff = 6  // checksum offset in the UDP header
)

// Checksum returns the Internet checksum (RFC 1071) of b: the one's
// complement of the one's complement sum of b's 16-bit big-endian words, an
// odd last byte padded with a zero byte. initial is added to the sum first,
// typically the sum of a pseudo-header; any uint32 works, as it is folded.
// A buffer whose checksum field holds a correct value checksums to 0.
func Checksum(b []byte, initial uint32) uint16 {
	return ^fold(sum(b, uint64(initial)))
}

// sum adds b's big-endian words to acc without folding. Because 2^16 ≡ 1
// modulo 0xFFFF, adding 32-bit words and folding at the end gives the same
// result as adding 16-bit words with end-around carry. A buffer may be summed
// in pieces only if every piece but the last has an even length.
func sum(b []byte, acc uint64) uint64 {
	for len(b) >= 4 {
		acc += uint64(binary.BigEndian.Uint32(b))
		b = b[4:]
	}
	if len(b) >= 2 {
		acc += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		acc += uint64(b[0]) << 8
	}
	return acc
}

// fold reduces acc to 16 bits with end-around carry.
func fold(acc uint64) uint16 {
	for acc>>16 != 0 {
		acc = acc&0xFFFF + acc>>16
	}
	return uint16(acc)
}

// pseudoSum returns the sum of the TCP/UDP pseudo-header for the IP header at
// ip: the addresses, the protocol and the TCP/UDP length (RFC 793, RFC 8200
// §8.1). The 32-bit IPv6 length may be added as a plain integer for the same
// reason as in sum.
func pseudoSum(ip []byte, v6 bool, proto byte, length int) uint64 {
	if v6 {
		return sum(ip[8:40], uint64(proto)+uint64(length))
	}
	return sum(ip[12:20], uint64(proto)+uint64(length))
}

// l4Sum returns the checksum of the TCP/UDP segment seg (field at sumOff
// taken as zero, whatever it holds) with the pseudo-header sum ph. sumOff is
// even, so the two pieces keep their word alignment.
func l4Sum(seg []byte, sumOff int, ph uint64) uint16 {
	return ^fold(sum(seg[:sumOff], sum(seg[sumOff+2:], ph)))
}

// link returns the offset of the IP header in frame and whether it should be
// IPv6, from the Ethernet type (the inner one behind an 802.1Q tag). ok is
// false for a frame too short for its Ethernet header or of another type.
func link(frame []byte) (l3 int, v6 bool, ok bool) {
	if len(frame) < etherHdrLen {
		return 0, false, false
	}
	l3 = etherHdrLen
	etype := binary.BigEndian.Uint16(frame[12:])
	if etype == typeVLAN {
		if len(frame) < vlanHdrLen {
			return 0, false, false
		}
		l3 = vlanHdrLen
		etype = binary.BigEndian.Uint16(frame[16:])
	}
	switch etype {
	case typeIPv4:
		return l3, false, true
	case typeIPv6:
		return l3, true, true
	}
	return 0, false, false
}

// isFragment reports whether the IPv4 header ip is that of a fragment: more
// fragments follow, or it does not start at offset 0 (DF and the reserved bit
// do not count).
func isFragment(ip []byte) bool {
	return binary.BigEndian.Uint16(ip[6:])&0x3FFF != 0
}

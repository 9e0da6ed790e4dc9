package tap

import (
	"bytes"
	"encoding/binary"
)

// Writing a 1514-byte frame to a tap costs a system call and a pass
// through the receiving stack each; a bulk TCP transfer is mostly such
// frames, in runs of one flow. So, as Linux's GRO does for a real card,
// runs of in-order segments of one TCP flow within a batch are written as
// one frame of up to 64 KiB behind a virtio-net header that tells the
// kernel its segment size: one system call and one pass through the stack
// for the lot. Only segments whose IP and TCP checksums are right are
// merged (the merged frame's checksum is left to the kernel, which trusts
// it), so a damaged frame still reaches the stack as it was, and is
// dropped there.

const maxMerged = 65535 // an IP packet's length field

// tcpSeg describes a frame that may be merged: Ethernet without a tag,
// IPv4 without options or fragmentation, or IPv6 without extension
// headers, carrying TCP with ACK, data, and no SYN, FIN, RST, URG, ECE or
// CWR.
type tcpSeg struct {
	v6      bool
	l4      int // offset of the TCP header
	hdrLen  int // Ethernet, IP and TCP headers
	payload int
	seq     uint32
	flags   byte
	id      uint16 // IPv4 identification
}

const (
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpACK = 0x10
	tcpURG = 0x20
	tcpECE = 0x40
)

// parseSeg reports whether f may be merged, with its description.
func parseSeg(f []byte) (tcpSeg, bool) {
	var s tcpSeg
	if len(f) < 14+40+20 {
		return s, false
	}
	switch binary.BigEndian.Uint16(f[12:]) {
	case 0x0800:
		ip := f[14:]
		if ip[0] != 0x45 || ip[9] != 6 || binary.BigEndian.Uint16(ip[6:])&0x3FFF != 0 ||
			int(binary.BigEndian.Uint16(ip[2:])) != len(f)-14 {
			return s, false
		}
		s.l4, s.id = 34, binary.BigEndian.Uint16(ip[4:])
	case 0x86DD:
		ip := f[14:]
		if ip[0]>>4 != 6 || ip[6] != 6 || int(binary.BigEndian.Uint16(ip[4:])) != len(f)-54 {
			return s, false
		}
		s.l4, s.v6 = 54, true
	default:
		return s, false
	}
	tcp := f[s.l4:]
	thl := int(tcp[12]>>4) * 4
	s.flags = tcp[13]
	s.hdrLen = s.l4 + thl
	s.payload = len(f) - s.hdrLen
	if thl < 20 || s.payload <= 0 || s.flags&tcpACK == 0 ||
		s.flags&(tcpSYN|tcpFIN|tcpRST|tcpURG|tcpECE|tcpCWR) != 0 {
		return s, false
	}
	s.seq = binary.BigEndian.Uint32(tcp[4:])
	return s, true
}

// checksumsOK verifies the IPv4 header checksum and the TCP checksum.
func checksumsOK(f []byte, s tcpSeg) bool {
	ip := f[14:s.l4]
	if !s.v6 && sum(ip, 0) != 0xFFFF {
		return false
	}
	return sum(f[s.l4:], pseudo(f[14:], s.v6, len(f)-s.l4)) == 0xFFFF
}

// follows reports whether segment s of frame f continues the run whose
// first frame is f0 (segment s0) and last segment is last: same addresses,
// ports, IP fields, acknowledgment, window and TCP options, the next
// sequence number (and IPv4 identification), and room for it.
func follows(f0 []byte, s0, last tcpSeg, total int, f []byte, s tcpSeg) bool {
	if s.v6 != s0.v6 || s.hdrLen != s0.hdrLen || s.payload > s0.payload ||
		last.payload != s0.payload || last.flags&tcpPSH != 0 ||
		s.seq != last.seq+uint32(last.payload) || s0.hdrLen+total+s.payload > maxMerged+14 {
		return false
	}
	if !bytes.Equal(f[:12], f0[:12]) {
		return false
	}
	ip, ip0 := f[14:], f0[14:]
	if s.v6 {
		if !bytes.Equal(ip[:4], ip0[:4]) || !bytes.Equal(ip[6:40], ip0[6:40]) {
			return false
		}
	} else if ip[1] != ip0[1] || !bytes.Equal(ip[6:10], ip0[6:10]) || !bytes.Equal(ip[12:20], ip0[12:20]) ||
		ip[6]&0x40 == 0 && s.id != last.id+1 {
		// Without DF the identifications must run on, as the kernel
		// will number the segments should it split the frame again;
		// with DF they mean nothing (NetBSD draws them at random).
		return false
	}
	tcp, tcp0 := f[s.l4:s.hdrLen], f0[s0.l4:s0.hdrLen]
	// Ports; acknowledgment, data offset, flags but PSH, window; urgent
	// pointer and options.
	return bytes.Equal(tcp[0:4], tcp0[0:4]) && bytes.Equal(tcp[8:13], tcp0[8:13]) &&
		tcp[13]&^tcpPSH == tcp0[13]&^tcpPSH && bytes.Equal(tcp[14:16], tcp0[14:16]) &&
		bytes.Equal(tcp[18:], tcp0[18:])
}

// mergedHeader fills hdr (vnetHdrLen + s0.hdrLen bytes) with the virtio-net
// header and the headers of a frame made of f0's headers and total bytes
// of payload, whose last segment had flags lastFlags.
func mergedHeader(hdr, f0 []byte, s0 tcpSeg, total int, lastFlags byte) {
	ne := binary.NativeEndian
	hdr[0] = vnetNeedsCsum
	hdr[1] = gsoTCPv4
	if s0.v6 {
		hdr[1] = gsoTCPv6
	}
	ne.PutUint16(hdr[2:], uint16(s0.hdrLen))
	ne.PutUint16(hdr[4:], uint16(s0.payload))
	ne.PutUint16(hdr[6:], uint16(s0.l4))
	ne.PutUint16(hdr[8:], 16)
	h := hdr[vnetHdrLen : vnetHdrLen+s0.hdrLen]
	copy(h, f0[:s0.hdrLen])
	ip := h[14:]
	tcpLen := s0.hdrLen - s0.l4 + total
	if s0.v6 {
		binary.BigEndian.PutUint16(ip[4:], uint16(tcpLen))
	} else {
		binary.BigEndian.PutUint16(ip[2:], uint16(s0.l4-14+tcpLen))
		ip[10], ip[11] = 0, 0
		binary.BigEndian.PutUint16(ip[10:], ^sum(ip[:20], 0))
	}
	tcp := h[s0.l4:]
	tcp[13] |= lastFlags & tcpPSH
	// What a stack leaves for the card: the pseudo-header sum.
	tcp[16], tcp[17] = 0, 0
	binary.BigEndian.PutUint16(tcp[16:], uint16(pseudo(ip, s0.v6, tcpLen)))
}

// run returns how many frames from frames[0] make one mergeable run of
// good segments (1 when frames[0] merges with nothing), at most limit.
func run(frames [][]byte, limit int) (int, tcpSeg) {
	f0 := frames[0]
	s0, ok := parseSeg(f0)
	if !ok || len(frames) < 2 {
		return 1, s0
	}
	n, last, total := 1, s0, s0.payload
	for n < len(frames) && n < limit {
		s, ok := parseSeg(frames[n])
		if !ok || !follows(f0, s0, last, total, frames[n], s) {
			break
		}
		last, total = s, total+s.payload
		n++
	}
	if n == 1 {
		return 1, s0
	}
	// Only good segments are merged: the run ends before a bad one.
	for i := range n {
		if s, _ := parseSeg(frames[i]); !checksumsOK(frames[i], s) {
			return max(i, 1), s0
		}
	}
	return n, s0
}

package tap

import (
	"encoding/binary"

	"github.com/libshmif/libshmif/core/internal/offload"
	"golang.org/x/sys/unix"
)

// The virtio-net header (struct virtio_net_hdr, 10 bytes) that precedes
// every frame on a tap opened with IFF_VNET_HDR. The kernel then hands us
// TCP frames of up to 64 KiB to segment (gso_type) and frames whose TCP or
// UDP checksum is only a partial sum (NEEDS_CSUM); a bus carries neither,
// so both are finished here before the frames go on.
const (
	vnetHdrLen = 10

	vnetNeedsCsum = 1 // flags: checksum from csum_start, stored at csum_start+csum_offset

	gsoNone  = 0
	gsoTCPv4 = 1
	gsoTCPv6 = 4
	gsoECN   = 0x80
)

type vnetHdr struct {
	flags, gsoType                         uint8
	hdrLen, gsoSize, csumStart, csumOffset uint16
}

func parseVnet(b []byte) vnetHdr {
	ne := binary.NativeEndian
	return vnetHdr{flags: b[0], gsoType: b[1], hdrLen: ne.Uint16(b[2:]), gsoSize: ne.Uint16(b[4:]),
		csumStart: ne.Uint16(b[6:]), csumOffset: ne.Uint16(b[8:])}
}

// TCP flags that belong on one segment only.
const (
	tcpFIN = 0x01
	tcpPSH = 0x08
	tcpCWR = 0x80
)

// finish turns one frame read with header h into bus frames, calling emit
// for each (frame is modified). It returns EINVAL for what cannot be
// finished: an unknown GSO type, or a frame offload refuses.
func finish(h vnetHdr, frame []byte, emit func([]byte)) error {
	switch h.gsoType &^ gsoECN {
	case gsoNone:
		if h.flags&vnetNeedsCsum != 0 {
			cs, co := int(h.csumStart), int(h.csumOffset)
			if cs+co+2 > len(frame) {
				return unix.EINVAL
			}
			// The field holds the pseudo-header sum: the sum from
			// csum_start with it in place is the checksum.
			c := offload.Checksum(frame[cs:], 0)
			if c == 0 {
				c = 0xFFFF // a UDP checksum of 0 means none (RFC 768)
			}
			binary.BigEndian.PutUint16(frame[cs+co:], c)
		}
		emit(frame)
		return nil
	case gsoTCPv4:
		return segment(frame, offload.TSOv4, int(h.gsoSize), emit)
	case gsoTCPv6:
		return segment(frame, offload.TSOv6, int(h.gsoSize), emit)
	}
	return unix.EINVAL
}

// segment does TSO with offload.Tx, then puts the TCP flags right as Linux
// segments: FIN and PSH only on the last segment, CWR only on the first
// (offload.Tx copies them all to every segment), updating the checksum
// for the change (RFC 1624).
func segment(frame []byte, tso uint32, mss int, emit func([]byte)) error {
	l4, ok := tcpOffset(frame)
	if !ok {
		return unix.EINVAL
	}
	hdrLen := l4 + int(frame[l4+12]>>4)*4
	payload := len(frame) - hdrLen
	if hdrLen > len(frame) || mss <= 0 {
		return unix.EINVAL
	}
	flags := frame[l4+13]
	sent := 0
	return offload.Tx(frame, tso, mss, offload.Capabilities, func(seg []byte) error {
		first := sent == 0
		sent += len(seg) - hdrLen
		last := sent >= payload
		f := flags
		if !last {
			f &^= tcpFIN | tcpPSH
		}
		if !first {
			f &^= tcpCWR
		}
		if f != flags {
			setTCPFlags(seg[l4:], f)
		}
		emit(seg)
		return nil
	})
}

// tcpOffset returns where the TCP header of an IPv4 or IPv6 frame (maybe
// behind an 802.1Q tag) starts.
func tcpOffset(frame []byte) (int, bool) {
	if len(frame) < 14 {
		return 0, false
	}
	l3, etype := 14, binary.BigEndian.Uint16(frame[12:])
	if etype == 0x8100 && len(frame) >= 18 {
		l3, etype = 18, binary.BigEndian.Uint16(frame[16:])
	}
	var l4 int
	switch etype {
	case 0x0800:
		if len(frame) < l3+20 {
			return 0, false
		}
		l4 = l3 + int(frame[l3]&0xF)*4
	case 0x86DD:
		l4 = l3 + 40
	default:
		return 0, false
	}
	return l4, len(frame) >= l4+20
}

// setTCPFlags replaces the flags byte of TCP header tcp and adjusts its
// checksum incrementally: HC' = ~(~HC + ~m + m') over the 16-bit word
// holding the data offset and the flags.
func setTCPFlags(tcp []byte, f byte) {
	old := uint32(binary.BigEndian.Uint16(tcp[12:]))
	tcp[13] = f
	m := uint32(binary.BigEndian.Uint16(tcp[12:]))
	sum := uint32(^binary.BigEndian.Uint16(tcp[16:])) + (^old & 0xFFFF) + m
	for sum>>16 != 0 {
		sum = sum&0xFFFF + sum>>16
	}
	binary.BigEndian.PutUint16(tcp[16:], ^uint16(sum))
}

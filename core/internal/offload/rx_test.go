package offload

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"
)

// rxGood is the RxStatus of a correct frame with every RX capability.
func rxGood(v6 bool, proto byte) uint32 {
	switch {
	case v6 && proto == protoTCP:
		return CsumTCPv6
	case v6:
		return CsumUDPv6
	case proto == protoTCP:
		return CsumIPv4 | CsumTCPv4
	}
	return CsumIPv4 | CsumUDPv4
}

// good returns a correct frame for s, its checksums set by Tx (whose output
// the Tx tests check against the reference).
func good(t *testing.T, s spec) []byte {
	t.Helper()
	return txOne(t, build(s), csumFlags(s))
}

// rxStatus calls RxStatus and fails t if it changed the frame.
func rxStatus(t *testing.T, f []byte, caps uint32) uint32 {
	t.Helper()
	before := append([]byte(nil), f...)
	st := RxStatus(f, caps)
	if !bytes.Equal(before, f) {
		t.Fatal("RxStatus changed the frame")
	}
	return st
}

// docs/protocol.md §7.4: nothing is checked unless an RX capability is
// enabled.
func TestRxStatusNeedsRxCapability(t *testing.T) {
	f := build(spec{proto: protoTCP, payload: []byte("bad sums")})
	for _, caps := range []uint32{0, TxCaps} {
		if st := rxStatus(t, f, caps); st != 0 {
			t.Fatalf("caps %#x: %#x", caps, st)
		}
	}
}

// docs/protocol.md §7.4: correct frames get the flags of what was verified,
// and a byte flipped in the payload, in the TCP/UDP header or in the
// pseudo-header's addresses gives CsumTCPUDPBad.
func TestRxStatusGoodAndBad(t *testing.T) {
	for _, s := range variants() {
		for _, n := range []int{0, 1, 64, 1001} {
			s.payload = randBytes(n, uint64(n)+100)
			t.Run(fmt.Sprintf("%v/%d", s, n), func(t *testing.T) {
				f := good(t, s)
				want := rxGood(s.v6, s.proto)
				if st := rxStatus(t, f, RxCaps); st != want {
					t.Fatalf("good frame: %#x, want %#x", st, want)
				}
				p := parse(t, f)
				flips := [][]byte{p.l4[0:1], p.l4[len(p.l4)-1:]}
				if n > 0 {
					flips = append(flips, p.payload[n/2:])
				}
				if p.v6 {
					flips = append(flips, p.ip[8:]) // source address
				}
				for _, b := range flips {
					b[0] ^= 0x10
					if st := rxStatus(t, f, RxCaps); st != want|CsumTCPUDPBad {
						t.Fatalf("corrupted frame: %#x, want %#x", st, want|CsumTCPUDPBad)
					}
					b[0] ^= 0x10
				}
			})
		}
	}
}

// docs/protocol.md §7.4: a bad IPv4 header checksum gives CsumIPv4Bad and
// stops the check, and stops it even without CapIPv4Rx.
func TestRxStatusBadIPv4Header(t *testing.T) {
	for _, proto := range []byte{protoTCP, protoUDP} {
		f := good(t, spec{proto: proto, ipOpts: 4, payload: []byte("x")})
		f[14+8]-- // TTL
		if st := rxStatus(t, f, RxCaps); st != CsumIPv4|CsumIPv4Bad {
			t.Fatalf("%#x, want CsumIPv4|CsumIPv4Bad", st)
		}
		if st := rxStatus(t, f, RxCaps&^CapIPv4Rx); st != 0 {
			t.Fatalf("without CapIPv4Rx: %#x, want 0", st)
		}
		f[14+8]++
		f[14+22] ^= 1 // an option byte
		if st := rxStatus(t, f, RxCaps); st != CsumIPv4|CsumIPv4Bad {
			t.Fatalf("option corrupted: %#x, want CsumIPv4|CsumIPv4Bad", st)
		}
	}
}

// An IPv4 header that cannot be whole (IHL under 5, or past the frame) is
// bad.
func TestRxStatusBrokenIPv4Header(t *testing.T) {
	f := good(t, spec{proto: protoTCP})
	for _, ihl := range []byte{0x40, 0x44, 0x4F} {
		g := append([]byte(nil), f...)
		g[14] = ihl
		if st := rxStatus(t, g, RxCaps); st != CsumIPv4|CsumIPv4Bad {
			t.Fatalf("IHL %#x: %#x", ihl, st)
		}
	}
}

// docs/protocol.md §7.4: only the enabled capabilities are checked and
// reported.
func TestRxStatusOnlyEnabledCapabilities(t *testing.T) {
	tcp4 := good(t, spec{proto: protoTCP, payload: []byte("a")})
	udp4 := good(t, spec{proto: protoUDP, payload: []byte("a")})
	tcp6 := good(t, spec{v6: true, proto: protoTCP, payload: []byte("a")})
	udp6 := good(t, spec{v6: true, proto: protoUDP, payload: []byte("a")})
	for _, c := range []struct {
		name  string
		frame []byte
		caps  uint32
		want  uint32
	}{
		{"tcp4 IPv4Rx", tcp4, CapIPv4Rx, CsumIPv4},
		{"tcp4 TCPv4Rx", tcp4, CapTCPv4Rx, CsumTCPv4},
		{"tcp4 UDPv4Rx", tcp4, CapUDPv4Rx, 0},
		{"tcp4 v6 caps", tcp4, CapTCPv6Rx | CapUDPv6Rx, 0},
		{"udp4 UDPv4Rx", udp4, CapUDPv4Rx, CsumUDPv4},
		{"udp4 TCPv4Rx|IPv4Rx", udp4, CapTCPv4Rx | CapIPv4Rx, CsumIPv4},
		{"tcp6 TCPv6Rx", tcp6, CapTCPv6Rx, CsumTCPv6},
		{"tcp6 UDPv6Rx", tcp6, CapUDPv6Rx, 0},
		{"tcp6 v4 caps", tcp6, CapIPv4Rx | CapTCPv4Rx, 0},
		{"udp6 UDPv6Rx", udp6, CapUDPv6Rx, CsumUDPv6},
		{"udp6 TCPv6Rx", udp6, CapTCPv6Rx, 0},
	} {
		if st := rxStatus(t, c.frame, c.caps); st != c.want {
			t.Errorf("%s: %#x, want %#x", c.name, st, c.want)
		}
	}
}

// docs/protocol.md §7.4: fragments stop the check after the IPv4 header.
func TestRxStatusFragmentNotChecked(t *testing.T) {
	for _, off := range []uint16{0x2000, 0x0001, 0x3FFF} {
		f := good(t, spec{proto: protoUDP, payload: []byte("frag")})
		binary.BigEndian.PutUint16(f[14+6:], off)
		txOne(t, f, CsumIPv4) // fix the header checksum
		if st := rxStatus(t, f, RxCaps); st != CsumIPv4 {
			t.Fatalf("ip_off %#x: %#x, want CsumIPv4", off, st)
		}
	}
	// DF (and the reserved bit) are not fragmentation.
	f := good(t, spec{proto: protoUDP, payload: []byte("frag")})
	binary.BigEndian.PutUint16(f[14+6:], 0xC000)
	txOne(t, f, CsumIPv4)
	if st := rxStatus(t, f, RxCaps); st != CsumIPv4|CsumUDPv4 {
		t.Fatalf("DF: %#x", st)
	}
}

// docs/protocol.md §7.4: an IPv4 UDP checksum of 0 means none; in IPv6 it is
// wrong.
func TestRxStatusUDPZeroChecksum(t *testing.T) {
	f := good(t, spec{proto: protoUDP, payload: []byte("no sum")})
	f[14+20+6], f[14+20+7] = 0, 0
	if st := rxStatus(t, f, RxCaps); st != CsumIPv4 {
		t.Fatalf("IPv4: %#x, want CsumIPv4", st)
	}
	f = good(t, spec{v6: true, proto: protoUDP, payload: []byte("no sum")})
	f[14+40+6], f[14+40+7] = 0, 0
	if st := rxStatus(t, f, RxCaps); st != CsumUDPv6|CsumTCPUDPBad {
		t.Fatalf("IPv6: %#x, want CsumUDPv6|CsumTCPUDPBad", st)
	}
}

// A UDP checksum that computes to 0 is sent as 0xFFFF and verifies.
func TestRxStatusUDPSumOfZeroSentAsFFFF(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		f := txOne(t, udpSummingToZero(t, v6), csumFlags(spec{v6: v6, proto: protoUDP}))
		if st := rxStatus(t, f, RxCaps); st != rxGood(v6, protoUDP) {
			t.Fatalf("v6 %v: %#x", v6, st)
		}
	}
}

// docs/protocol.md §7.4: IPv6 packets are checked only when TCP or UDP
// follows the IPv6 header directly.
func TestRxStatusIPv6ExtensionHeaderNotChecked(t *testing.T) {
	f := good(t, spec{v6: true, proto: protoTCP, payload: []byte("ext")})
	f[14+6] = 0 // hop-by-hop options
	if st := rxStatus(t, f, RxCaps); st != 0 {
		t.Fatalf("%#x", st)
	}
}

// Ethernet padding after the IP packet does not count in the checksums.
func TestRxStatusPaddingIgnored(t *testing.T) {
	for _, s := range variants() {
		s.payload, s.pad = []byte{9}, 20
		f := good(t, s)
		copy(f[len(f)-20:], "not part of the packet")
		if st := rxStatus(t, f, RxCaps); st != rxGood(s.v6, s.proto) {
			t.Fatalf("%v: %#x", s, st)
		}
	}
}

// docs/protocol.md §7.4: other Ethernet types are left alone, tagged or not.
func TestRxStatusOtherTypes(t *testing.T) {
	f := good(t, spec{proto: protoTCP})
	f[12], f[13] = 0x08, 0x06 // ARP
	if st := rxStatus(t, f, RxCaps); st != 0 {
		t.Fatalf("ARP: %#x", st)
	}
	f = good(t, spec{vlan: true, proto: protoTCP})
	f[16], f[17] = 0x88, 0xCC // LLDP behind a tag
	if st := rxStatus(t, f, RxCaps); st != 0 {
		t.Fatalf("tagged LLDP: %#x", st)
	}
	f = good(t, spec{proto: protoTCP})
	f[14] = 0x65 // IPv4 type, version 6
	if st := rxStatus(t, f, RxCaps); st != 0 {
		t.Fatalf("IPv4 type with version 6: %#x", st)
	}
}

// A frame cut anywhere gets what could be found before the cut, and never a
// TCP/UDP flag, since the packet is not whole.
func TestRxStatusTruncated(t *testing.T) {
	for _, s := range variants() {
		s.ipOpts, s.payload = 8, []byte("truncated")
		f := good(t, s)
		l3 := len(f) - len(parse(t, f).l4) - len(parse(t, f).ip)
		for n := 0; n < len(f); n++ {
			st := rxStatus(t, f[:n], RxCaps)
			var want uint32
			switch {
			case s.v6 || n < l3+20:
			case n < l3+28: // the options are cut
				want = CsumIPv4 | CsumIPv4Bad
			default:
				want = CsumIPv4
			}
			if st != want {
				t.Fatalf("%v cut at %d: %#x, want %#x", s, n, st, want)
			}
		}
	}
}

// A TCP or UDP segment too short for its header, by the IP length, is not
// checked.
func TestRxStatusSegmentTooShort(t *testing.T) {
	f := good(t, spec{proto: protoTCP, payload: []byte("0123456789")})
	binary.BigEndian.PutUint16(f[14+2:], 20+19)
	txOne(t, f, CsumIPv4) // fix the header checksum
	if st := rxStatus(t, f, RxCaps); st != CsumIPv4 {
		t.Fatalf("IPv4/TCP: %#x, want CsumIPv4", st)
	}
	f = good(t, spec{v6: true, proto: protoUDP, payload: []byte("0123456789")})
	binary.BigEndian.PutUint16(f[14+4:], 7)
	if st := rxStatus(t, f, RxCaps); st != 0 {
		t.Fatalf("IPv6/UDP: %#x, want 0", st)
	}
}

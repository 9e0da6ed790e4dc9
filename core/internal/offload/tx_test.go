package offload

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"golang.org/x/sys/unix"
)

// variants are the frame shapes every checksum test covers.
func variants() []spec {
	var out []spec
	for _, v6 := range []bool{false, true} {
		for _, proto := range []byte{protoTCP, protoUDP} {
			for _, vlan := range []bool{false, true} {
				out = append(out, spec{v6: v6, proto: proto, vlan: vlan})
			}
		}
	}
	return out
}

func (s spec) String() string {
	name := map[bool]string{false: "IPv4", true: "IPv6"}[s.v6] + map[byte]string{protoTCP: "/TCP", protoUDP: "/UDP"}[s.proto]
	if s.vlan {
		name += "/802.1Q"
	}
	return name
}

// csumFlags returns the TX request that computes every checksum of s.
func csumFlags(s spec) uint32 {
	switch {
	case s.v6 && s.proto == protoTCP:
		return CsumTCPv6
	case s.v6:
		return CsumUDPv6
	case s.proto == protoTCP:
		return CsumIPv4 | CsumTCPv4
	}
	return CsumIPv4 | CsumUDPv4
}

// txOne runs Tx and returns the one frame it must emit.
func txOne(t *testing.T, f []byte, flags uint32) []byte {
	t.Helper()
	var out [][]byte
	if err := Tx(f, flags, 0, TxCaps, collect(&out)); err != nil {
		t.Fatalf("Tx: %v", err)
	}
	if len(out) != 1 {
		t.Fatalf("Tx emitted %d frames, want 1", len(out))
	}
	return out[0]
}

// docs/protocol.md §7.3: no deferred work, the frame passes unchanged
// (whatever it is).
func TestTxNoFlagsPassesThrough(t *testing.T) {
	for _, f := range [][]byte{{1, 2, 3}, build(spec{proto: protoUDP}), make([]byte, 3000)} {
		var got []byte
		err := Tx(f, 0, 0, 0, func(b []byte) error { got = b; return nil })
		if err != nil || &got[0] != &f[0] || len(got) != len(f) {
			t.Fatalf("len %d: emitted %d bytes (same array: %v), err %v", len(f), len(got), len(got) > 0 && &got[0] == &f[0], err)
		}
	}
}

// docs/protocol.md §7.3 checksum offload: the IPv4 header and TCP/UDP
// checksums are computed, for IPv4 and IPv6, with and without 802.1Q, and
// nothing else changes.
func TestTxChecksumOffload(t *testing.T) {
	for _, s := range variants() {
		for _, n := range []int{0, 1, 2, 3, 100, 1001} {
			s.payload = randBytes(n, uint64(n))
			t.Run(fmt.Sprintf("%v/%d", s, n), func(t *testing.T) {
				in := build(s)
				out := txOne(t, append([]byte(nil), in...), csumFlags(s))
				checkSums(t, out, true)
				p, q := parse(t, in), parse(t, out)
				if !bytes.Equal(p.payload, q.payload) || len(in) != len(out) {
					t.Fatal("payload or length changed")
				}
			})
		}
	}
}

// The two checksums are independent requests: CsumIPv4 alone leaves the TCP
// checksum alone, and CsumTCPv4 alone the IPv4 one.
func TestTxChecksumFlagsIndependent(t *testing.T) {
	in := build(spec{proto: protoTCP, payload: []byte("abc")})
	out := txOne(t, append([]byte(nil), in...), CsumIPv4)
	p := parse(t, out)
	if binary.BigEndian.Uint16(p.ip[10:]) != refIPv4Sum(p.ip) || l4Field(p) != 0xDEAD {
		t.Fatalf("CsumIPv4: ip sum %#04x, tcp sum %#04x", binary.BigEndian.Uint16(p.ip[10:]), l4Field(p))
	}
	out = txOne(t, append([]byte(nil), in...), CsumTCPv4)
	p = parse(t, out)
	if binary.BigEndian.Uint16(p.ip[10:]) != 0xDEAD || l4Field(p) != refL4Sum(p) {
		t.Fatalf("CsumTCPv4: ip sum %#04x, tcp sum %#04x", binary.BigEndian.Uint16(p.ip[10:]), l4Field(p))
	}
}

// IPv4 and TCP options are covered by the checksums.
func TestTxChecksumWithOptions(t *testing.T) {
	in := build(spec{proto: protoTCP, ipOpts: 8, tcpOpts: 12, payload: randBytes(333, 9)})
	checkSums(t, txOne(t, in, CsumIPv4|CsumTCPv4), true)
}

// Ethernet padding after the IP packet is neither checksummed nor removed.
func TestTxPaddingIgnored(t *testing.T) {
	for _, s := range variants() {
		s.payload, s.pad = []byte{1, 2, 3}, 7
		in := build(s)
		copy(in[len(in)-7:], "garbage")
		out := txOne(t, append([]byte(nil), in...), csumFlags(s))
		if len(out) != len(in) || !bytes.Equal(out[len(out)-7:], []byte("garbage")) {
			t.Fatalf("%v: padding changed", s)
		}
		checkSums(t, out, true)
	}
}

// docs/protocol.md §7.3: a computed UDP checksum of 0 is stored as 0xFFFF.
func TestTxUDPZeroChecksumStoredAsFFFF(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		in := udpSummingToZero(t, v6)
		out := txOne(t, in, csumFlags(spec{v6: v6, proto: protoUDP}))
		if got := l4Field(parse(t, out)); got != 0xFFFF {
			t.Fatalf("v6 %v: UDP checksum %#04x, want 0xffff", v6, got)
		}
	}
}

// udpSummingToZero returns a UDP frame whose UDP checksum computes to 0: a
// payload word chosen to bring the sum to 0xFFFF.
func udpSummingToZero(t *testing.T, v6 bool) []byte {
	t.Helper()
	s := spec{v6: v6, proto: protoUDP, payload: []byte{0, 0, 'x', 'y'}}
	f := build(s)
	c := refL4Sum(parse(t, f)) // with the word 0
	p := parse(t, f)
	binary.BigEndian.PutUint16(p.payload, c)
	if refL4Sum(parse(t, f)) != 0xFFFF {
		t.Fatal("could not build a UDP frame summing to 0")
	}
	return f
}

// Frames up to 1514 bytes are fine; one byte more is EMSGSIZE.
func TestTxLargestFrame(t *testing.T) {
	s := spec{proto: protoUDP, payload: make([]byte, 1514-14-20-8)}
	if err := Tx(build(s), CsumUDPv4, 0, TxCaps, collect(new([][]byte))); err != nil {
		t.Fatalf("1514 bytes: %v", err)
	}
	s.payload = append(s.payload, 0)
	if err := Tx(build(s), CsumUDPv4, 0, TxCaps, collect(new([][]byte))); err != unix.EMSGSIZE {
		t.Fatalf("1515 bytes: %v, want EMSGSIZE", err)
	}
}

// checkTSO checks segments against the frame in, with payloadLen bytes of
// TCP payload, segmented with mss: sizes, length fields, ids, sequence
// numbers, headers, the payload put back together, and every checksum.
func checkTSO(t *testing.T, in []byte, payloadLen int, segs [][]byte, mss, want int) {
	t.Helper()
	if len(segs) != want {
		t.Fatalf("%d segments, want %d", len(segs), want)
	}
	hdrLen := len(in) - payloadLen
	orig := parse(t, withLength(t, in[:hdrLen]))
	l3 := hdrLen - len(orig.ip) - orig.thl
	var payload []byte
	for k, f := range segs {
		p := parse(t, f)
		n := min(mss, payloadLen-k*mss)
		if len(f) != hdrLen+n || len(p.payload) != n {
			t.Fatalf("segment %d: %d bytes with %d of payload, want %d of payload", k, len(f), len(p.payload), n)
		}
		if !bytes.Equal(f[:l3], in[:l3]) {
			t.Fatalf("segment %d: Ethernet header changed", k)
		}
		if p.v6 {
			if !bytes.Equal(p.ip[:4], orig.ip[:4]) || !bytes.Equal(p.ip[6:], orig.ip[6:]) {
				t.Fatalf("segment %d: IPv6 header changed", k)
			}
		} else {
			if got := binary.BigEndian.Uint16(p.ip[4:]); got != binary.BigEndian.Uint16(orig.ip[4:])+uint16(k) {
				t.Fatalf("segment %d: ip_id %#x", k, got)
			}
			if got := int(binary.BigEndian.Uint16(p.ip[2:])); got != len(p.ip)+p.thl+n {
				t.Fatalf("segment %d: ip_len %d", k, got)
			}
			if !bytes.Equal(p.ip[6:10], orig.ip[6:10]) || !bytes.Equal(p.ip[12:], orig.ip[12:]) {
				t.Fatalf("segment %d: IPv4 header changed", k)
			}
		}
		if got, want := binary.BigEndian.Uint32(p.l4[4:]), binary.BigEndian.Uint32(orig.l4[4:])+uint32(k*mss); got != want {
			t.Fatalf("segment %d: seq %#x, want %#x", k, got, want)
		}
		// NetBSD's tcp4_segment copies the header unchanged: FIN and PSH stay
		// on every segment.
		if !bytes.Equal(p.l4[:4], orig.l4[:4]) || !bytes.Equal(p.l4[8:16], orig.l4[8:16]) || !bytes.Equal(p.l4[18:p.thl], orig.l4[18:orig.thl]) {
			t.Fatalf("segment %d: TCP header changed", k)
		}
		checkSums(t, f, true)
		if st, want := RxStatus(f, RxCaps), rxGood(p.v6, protoTCP); st != want {
			t.Fatalf("segment %d: RxStatus %#x, want %#x", k, st, want)
		}
		payload = append(payload, p.payload...)
	}
	if !bytes.Equal(payload, in[hdrLen:]) {
		t.Fatal("payload not put back together")
	}
}

// withLength returns a copy of f with the IP length field set to fit f.
func withLength(t *testing.T, f []byte) []byte {
	t.Helper()
	f = append([]byte(nil), f...)
	l3 := 14
	if f[12] == 0x81 {
		l3 = 18
	}
	if f[l3]>>4 == 6 {
		binary.BigEndian.PutUint16(f[l3+4:], uint16(len(f)-l3-40))
	} else {
		binary.BigEndian.PutUint16(f[l3+2:], uint16(len(f)-l3))
	}
	return f
}

// docs/protocol.md §7.3 TSO, with the brief's numbers: a 64 KiB payload (too
// big for ip_len, so ip_len is 0) in segments of 1448 gives 46 frames.
func TestTSOv4(t *testing.T) {
	for _, vlan := range []bool{false, true} {
		// Headers and segment exactly fill 1514 bytes.
		l3, opts := 14, 12
		if vlan {
			l3, opts = 18, 8
		}
		s := spec{proto: protoTCP, vlan: vlan, tcpOpts: opts, payload: randBytes(65536, 1), tcpFlags: tcpACK | tcpPSH | tcpFIN}
		in := build(s)
		binary.BigEndian.PutUint16(in[l3+2:], 0) // ip_len
		var segs [][]byte
		if err := Tx(append([]byte(nil), in...), TSOv4|CsumIPv4|CsumTCPv4, 1448, CapTSOv4, collect(&segs)); err != nil {
			t.Fatal(err)
		}
		checkTSO(t, in, 65536, segs, 1448, 46)
	}
}

func TestTSOv6(t *testing.T) {
	for _, vlan := range []bool{false, true} {
		mss := 1440
		if vlan {
			mss = 1436
		}
		s := spec{v6: true, proto: protoTCP, vlan: vlan, payload: randBytes(65536, 2), tcpFlags: tcpACK | tcpFIN}
		in := build(s)
		binary.BigEndian.PutUint16(in[len(in)-65536-20-40+4:], 0) // ip6_plen: 64 KiB and more do not fit
		var segs [][]byte
		if err := Tx(append([]byte(nil), in...), TSOv6, mss, CapTSOv6, collect(&segs)); err != nil {
			t.Fatal(err)
		}
		checkTSO(t, in, 65536, segs, mss, 46)
	}
}

// A payload that is a multiple of the MSS (NetBSD's only case) fills every
// segment; a payload of one byte, or of none, gives one frame.
func TestTSOSegmentCounts(t *testing.T) {
	for _, c := range []struct{ payload, mss, want int }{
		{4000, 1000, 4}, {4001, 1000, 5}, {1, 1448, 1}, {0, 1448, 1}, {7, 1, 7}, {1000, 1460, 1},
	} {
		for _, v6 := range []bool{false, true} {
			in := build(spec{v6: v6, proto: protoTCP, payload: randBytes(c.payload, 3)})
			var segs [][]byte
			flags := uint32(TSOv4)
			if v6 {
				flags = TSOv6
			}
			if err := Tx(append([]byte(nil), in...), flags, c.mss, TxCaps, collect(&segs)); err != nil {
				t.Fatal(err)
			}
			checkTSO(t, in, c.payload, segs, c.mss, c.want)
		}
	}
}

// The IP id wraps at 16 bits; the sequence number at 32 (testSeq is near the
// top).
func TestTSOv4IDWraps(t *testing.T) {
	in := build(spec{proto: protoTCP, id: 0xFFFE, payload: randBytes(5000, 4)})
	var segs [][]byte
	if err := Tx(append([]byte(nil), in...), TSOv4, 1000, TxCaps, collect(&segs)); err != nil {
		t.Fatal(err)
	}
	checkTSO(t, in, 5000, segs, 1000, 5)
	if id := binary.BigEndian.Uint16(parse(t, segs[4]).ip[4:]); id != 2 {
		t.Fatalf("last ip_id %d, want 2", id)
	}
}

// A TSO frame as big as a segment may be: headers plus mss is 1514 bytes.
func TestTSOLargestSegment(t *testing.T) {
	for _, c := range []struct {
		s   spec
		mss int
	}{
		{spec{proto: protoTCP}, 1460},
		{spec{proto: protoTCP, vlan: true, tcpOpts: 12}, 1444},
		{spec{v6: true, proto: protoTCP}, 1440},
	} {
		c.s.payload = randBytes(3*c.mss, 5)
		flags := uint32(TSOv4)
		if c.s.v6 {
			flags = TSOv6
		}
		if err := Tx(build(c.s), flags, c.mss, TxCaps, collect(new([][]byte))); err != nil {
			t.Fatalf("%v mss %d: %v", c.s, c.mss, err)
		}
		if err := Tx(build(c.s), flags, c.mss+1, TxCaps, collect(new([][]byte))); err != unix.EMSGSIZE {
			t.Fatalf("%v mss %d: %v, want EMSGSIZE", c.s, c.mss+1, err)
		}
	}
}

// As NetBSD's TX_OFFLOAD_SUPPORTED: an enabled TSO capability covers the
// checksum flags that come with it.
func TestTSOCapabilityCoversChecksums(t *testing.T) {
	in := build(spec{proto: protoTCP, payload: randBytes(3000, 6)})
	if err := Tx(in, TSOv4|CsumIPv4|CsumTCPv4, 1000, CapTSOv4, collect(new([][]byte))); err != nil {
		t.Fatal(err)
	}
	in = build(spec{v6: true, proto: protoTCP, payload: randBytes(3000, 6)})
	if err := Tx(in, TSOv6|CsumTCPv6, 1000, CapTSOv6, collect(new([][]byte))); err != nil {
		t.Fatal(err)
	}
}

// An error from emit stops Tx and comes back unchanged.
func TestTxEmitErrorStops(t *testing.T) {
	in := build(spec{proto: protoTCP, payload: randBytes(10000, 7)})
	stop := errors.New("stop")
	calls := 0
	err := Tx(in, TSOv4, 1000, TxCaps, func([]byte) error {
		calls++
		if calls == 3 {
			return stop
		}
		return nil
	})
	if err != stop || calls != 3 {
		t.Fatalf("err %v after %d calls", err, calls)
	}
	if err := Tx(build(spec{proto: protoUDP}), CsumUDPv4, 0, TxCaps, func([]byte) error { return stop }); err != stop {
		t.Fatalf("checksum offload: %v", err)
	}
}

// Every error case of Tx; none emits anything or touches the frame.
func TestTxErrors(t *testing.T) {
	tcp4 := build(spec{proto: protoTCP, payload: []byte("hello")})
	udp4 := build(spec{proto: protoUDP, payload: []byte("hello")})
	tcp6 := build(spec{v6: true, proto: protoTCP, payload: []byte("hello")})
	udp6 := build(spec{v6: true, proto: protoUDP, payload: []byte("hello")})
	icmp4 := build(spec{proto: 1, payload: []byte("ping")})
	vlan4 := build(spec{vlan: true, proto: protoTCP, payload: []byte("hello")})
	// edit returns a copy of f changed by fn.
	edit := func(f []byte, fn func(f []byte)) []byte {
		f = append([]byte(nil), f...)
		fn(f)
		return f
	}
	const l3 = 14
	cases := []struct {
		name  string
		frame []byte
		flags uint32
		mss   int
		caps  uint32
		want  error
	}{
		// The request.
		{"RX flag CsumTCPUDPBad", tcp4, CsumTCPv4 | CsumTCPUDPBad, 0, TxCaps, unix.EINVAL},
		{"RX flag CsumData", tcp4, CsumData, 0, TxCaps, unix.EINVAL},
		{"RX flag CsumIPv4Bad", tcp4, CsumIPv4Bad, 0, TxCaps, unix.EINVAL},
		{"unknown bit 0x400", tcp4, 0x400, 0, TxCaps, unix.EINVAL},
		{"unknown bit 31", tcp4, CsumTCPv4 | 1<<31, 0, TxCaps, unix.EINVAL},
		{"IPv4 and IPv6 work", tcp4, CsumIPv4 | CsumTCPv6, 0, TxCaps, unix.EINVAL},
		{"TCPv4 and UDPv4", tcp4, CsumTCPv4 | CsumUDPv4, 0, TxCaps, unix.EINVAL},
		{"TCPv6 and UDPv6", tcp6, CsumTCPv6 | CsumUDPv6, 0, TxCaps, unix.EINVAL},
		{"TSOv4 with UDPv4", tcp4, TSOv4 | CsumUDPv4, 1000, TxCaps, unix.EINVAL},
		{"TSOv6 with UDPv6", tcp6, TSOv6 | CsumUDPv6, 1000, TxCaps, unix.EINVAL},
		{"TSOv4 and TSOv6", tcp4, TSOv4 | TSOv6, 1000, TxCaps, unix.EINVAL},
		// Capabilities.
		{"TSOv4 not enabled", tcp4, TSOv4, 1000, TxCaps &^ CapTSOv4, unix.EOPNOTSUPP},
		{"TSOv4+CsumIPv4 without TSOv4", tcp4, TSOv4 | CsumIPv4, 1000, CapIPv4Tx, unix.EOPNOTSUPP},
		{"TSOv6 not enabled", tcp6, TSOv6, 1000, TxCaps &^ CapTSOv6, unix.EOPNOTSUPP},
		{"CsumIPv4 not enabled", tcp4, CsumIPv4, 0, TxCaps &^ CapIPv4Tx, unix.EOPNOTSUPP},
		{"CsumIPv4 with only RX enabled", tcp4, CsumIPv4, 0, RxCaps, unix.EOPNOTSUPP},
		{"CsumTCPv4 not enabled", tcp4, CsumTCPv4, 0, TxCaps &^ CapTCPv4Tx, unix.EOPNOTSUPP},
		{"CsumIPv4+TCPv4, TCPv4 not enabled", tcp4, CsumIPv4 | CsumTCPv4, 0, CapIPv4Tx, unix.EOPNOTSUPP},
		{"CsumUDPv4 not enabled", udp4, CsumUDPv4, 0, TxCaps &^ CapUDPv4Tx, unix.EOPNOTSUPP},
		{"CsumTCPv6 not enabled", tcp6, CsumTCPv6, 0, TxCaps &^ CapTCPv6Tx, unix.EOPNOTSUPP},
		{"CsumUDPv6 not enabled", udp6, CsumUDPv6, 0, TxCaps &^ CapUDPv6Tx, unix.EOPNOTSUPP},
		{"nothing enabled", udp6, CsumUDPv6, 0, 0, unix.EOPNOTSUPP},
		// The Ethernet header.
		{"empty frame", nil, CsumIPv4, 0, TxCaps, unix.EINVAL},
		{"short frame", tcp4[:13], CsumIPv4, 0, TxCaps, unix.EINVAL},
		{"ARP", edit(tcp4, func(f []byte) { f[12], f[13] = 0x08, 0x06 }), CsumIPv4, 0, TxCaps, unix.EINVAL},
		{"802.1Q cut short", vlan4[:17], CsumIPv4, 0, TxCaps, unix.EINVAL},
		{"802.1Q with ARP", edit(vlan4, func(f []byte) { f[16], f[17] = 0x08, 0x06 }), CsumIPv4, 0, TxCaps, unix.EINVAL},
		{"802.1Q in 802.1Q", edit(vlan4, func(f []byte) { f[16], f[17] = 0x81, 0x00 }), CsumIPv4, 0, TxCaps, unix.EINVAL},
		// The IP header.
		{"IPv4 work on IPv6", tcp6, CsumTCPv4, 0, TxCaps, unix.EINVAL},
		{"CsumIPv4 on IPv6", tcp6, CsumIPv4, 0, TxCaps, unix.EINVAL},
		{"IPv6 work on IPv4", tcp4, CsumTCPv6, 0, TxCaps, unix.EINVAL},
		{"TSOv6 on IPv4", tcp4, TSOv6, 1000, TxCaps, unix.EINVAL},
		{"IPv4 type, version 6", edit(tcp4, func(f []byte) { f[l3] = 0x65 }), CsumIPv4, 0, TxCaps, unix.EINVAL},
		{"IPv6 type, version 4", edit(tcp6, func(f []byte) { f[l3] = 0x45 }), CsumTCPv6, 0, TxCaps, unix.EINVAL},
		{"IPv4 cut short", tcp4[:l3+19], CsumIPv4, 0, TxCaps, unix.EINVAL},
		{"IPv6 cut short", tcp6[:l3+39], CsumTCPv6, 0, TxCaps, unix.EINVAL},
		{"IPv4 IHL 4", edit(tcp4, func(f []byte) { f[l3] = 0x44 }), CsumIPv4, 0, TxCaps, unix.EINVAL},
		{"IPv4 IHL past the frame", edit(tcp4, func(f []byte) { f[l3] = 0x4F })[:l3+40], CsumIPv4, 0, TxCaps, unix.EINVAL},
		{"ip_len under IHL", edit(tcp4, func(f []byte) { f[l3+2], f[l3+3] = 0, 19 }), CsumIPv4, 0, TxCaps, unix.EINVAL},
		{"ip_len past the frame", edit(tcp4, func(f []byte) { f[l3+3]++ }), CsumIPv4, 0, TxCaps, unix.EINVAL},
		{"ip6_plen past the frame", edit(udp6, func(f []byte) { f[l3+5]++ }), CsumUDPv6, 0, TxCaps, unix.EINVAL},
		{"IPv6 extension header", edit(tcp6, func(f []byte) { f[l3+6] = 0 }), CsumTCPv6, 0, TxCaps, unix.EINVAL},
		{"TSOv6 with extension header", edit(tcp6, func(f []byte) { f[l3+6] = 0 }), TSOv6, 1000, TxCaps, unix.EINVAL},
		{"IPv4 fragment (MF)", edit(udp4, func(f []byte) { f[l3+6] = 0x20 }), CsumUDPv4, 0, TxCaps, unix.EINVAL},
		{"IPv4 fragment (offset)", edit(tcp4, func(f []byte) { f[l3+7] = 1 }), CsumTCPv4, 0, TxCaps, unix.EINVAL},
		{"TSOv4 on a fragment", edit(tcp4, func(f []byte) { f[l3+6] = 0x20 }), TSOv4, 1000, TxCaps, unix.EINVAL},
		// The protocol.
		{"CsumTCPv4 on UDP", udp4, CsumTCPv4, 0, TxCaps, unix.EINVAL},
		{"CsumUDPv4 on TCP", tcp4, CsumUDPv4, 0, TxCaps, unix.EINVAL},
		{"CsumTCPv4 on ICMP", icmp4, CsumTCPv4, 0, TxCaps, unix.EINVAL},
		{"CsumTCPv6 on UDP", udp6, CsumTCPv6, 0, TxCaps, unix.EINVAL},
		{"CsumUDPv6 on TCP", tcp6, CsumUDPv6, 0, TxCaps, unix.EINVAL},
		{"TSOv4 on UDP", udp4, TSOv4, 1000, TxCaps, unix.EINVAL},
		{"TSOv6 on UDP", udp6, TSOv6, 1000, TxCaps, unix.EINVAL},
		// The TCP/UDP header.
		{"TCP cut short", edit(tcp4, func(f []byte) { f[l3+3] = 20 + 19 })[:l3+39], CsumTCPv4, 0, TxCaps, unix.EINVAL},
		{"TCP offset 4", edit(tcp4, func(f []byte) { f[l3+32] = 0x40 }), CsumTCPv4, 0, TxCaps, unix.EINVAL},
		{"TCP offset past the packet", edit(tcp4, func(f []byte) { f[l3+32] = 0x70 }), CsumTCPv4, 0, TxCaps, unix.EINVAL},
		{"TSO TCP header cut short", tcp4[:l3+30], TSOv4, 1000, TxCaps, unix.EINVAL},
		{"TSO TCP offset past the frame", edit(tcp4, func(f []byte) { f[l3+32] = 0xF0 }), TSOv4, 1000, TxCaps, unix.EINVAL},
		{"UDP cut short", edit(udp4, func(f []byte) { f[l3+3] = 27 })[:l3+27], CsumUDPv4, 0, TxCaps, unix.EINVAL},
		{"UDP length too big", edit(udp4, func(f []byte) { f[l3+25]++ }), CsumUDPv4, 0, TxCaps, unix.EINVAL},
		{"UDP length too small", edit(udp6, func(f []byte) { f[l3+45]-- }), CsumUDPv6, 0, TxCaps, unix.EINVAL},
		// TSO's MSS.
		{"MSS 0", tcp4, TSOv4, 0, TxCaps, unix.EINVAL},
		{"MSS -1", tcp6, TSOv6, -1, TxCaps, unix.EINVAL},
		// Sizes.
		{"frame over 1514", build(spec{proto: protoTCP, payload: make([]byte, 1461)}), CsumTCPv4, 0, TxCaps, unix.EMSGSIZE},
		{"IPv6 frame over 1514", build(spec{v6: true, proto: protoUDP, payload: make([]byte, 1453)}), CsumUDPv6, 0, TxCaps, unix.EMSGSIZE},
		{"TSOv4 segment over 1514", build(spec{proto: protoTCP, payload: make([]byte, 5000)}), TSOv4, 1461, TxCaps, unix.EMSGSIZE},
		{"TSOv6 segment over 1514", build(spec{v6: true, proto: protoTCP, payload: make([]byte, 5000)}), TSOv6, 1441, TxCaps, unix.EMSGSIZE},
		{"TSO huge MSS", build(spec{proto: protoTCP, payload: make([]byte, 5000)}), TSOv4, 1 << 40, TxCaps, unix.EMSGSIZE},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := append([]byte(nil), c.frame...)
			emitted := 0
			err := Tx(f, c.flags, c.mss, c.caps, func([]byte) error { emitted++; return nil })
			if err != c.want {
				t.Errorf("got %v, want %v", err, c.want)
			}
			if emitted != 0 || !bytes.Equal(f, c.frame) {
				t.Errorf("emitted %d frames, frame changed: %v", emitted, !bytes.Equal(f, c.frame))
			}
		})
	}
}

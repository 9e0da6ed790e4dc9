package offload

import (
	"bytes"
	"testing"
)

// fuzzSeeds are correct frames of every shape, plus some broken ones.
func fuzzSeeds() [][]byte {
	var seeds [][]byte
	for _, s := range variants() {
		s.payload = []byte("fuzz me, fuzz me")
		seeds = append(seeds, build(s))
		s.ipOpts, s.tcpOpts, s.pad = 4, 8, 3
		seeds = append(seeds, build(s))
	}
	frag := build(spec{proto: protoUDP, payload: []byte("frag")})
	frag[14+6] = 0x20
	ext := build(spec{v6: true, proto: protoTCP, payload: []byte("ext")})
	ext[14+6] = 0
	return append(seeds, frag, ext, build(spec{proto: 1, payload: []byte("icmp")}), []byte{}, make([]byte, 14))
}

// RxStatus never panics, never changes the frame, and reports only status
// flags for enabled capabilities.
func FuzzRxStatus(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s, uint32(RxCaps))
		f.Add(s, uint32(CapIPv4Rx|CapUDPv6Rx))
	}
	f.Fuzz(func(t *testing.T, frame []byte, caps uint32) {
		before := append([]byte(nil), frame...)
		st := RxStatus(frame, caps)
		if !bytes.Equal(before, frame) {
			t.Fatal("frame changed")
		}
		if st&^(CsumIPv4|CsumIPv4Bad|CsumTCPv4|CsumUDPv4|CsumTCPv6|CsumUDPv6|CsumTCPUDPBad) != 0 {
			t.Fatalf("status %#x", st)
		}
		if caps&RxCaps == 0 && st != 0 ||
			caps&CapIPv4Rx == 0 && st&(CsumIPv4|CsumIPv4Bad) != 0 ||
			caps&CapTCPv4Rx == 0 && st&CsumTCPv4 != 0 ||
			caps&CapUDPv4Rx == 0 && st&CsumUDPv4 != 0 ||
			caps&CapTCPv6Rx == 0 && st&CsumTCPv6 != 0 ||
			caps&CapUDPv6Rx == 0 && st&CsumUDPv6 != 0 {
			t.Fatalf("caps %#x: status %#x", caps, st)
		}
	})
}

// Tx never panics; when it fails it emits nothing and leaves the frame
// alone; when it succeeds its frames fit the bus and RxStatus finds every
// checksum it was asked for right.
func FuzzTx(f *testing.F) {
	for _, s := range fuzzSeeds() {
		for _, flags := range []uint32{CsumIPv4 | CsumTCPv4, CsumUDPv4, CsumTCPv6, CsumUDPv6, TSOv4 | CsumIPv4, TSOv6} {
			f.Add(s, flags, 5, uint32(TxCaps))
		}
	}
	f.Fuzz(func(t *testing.T, frame []byte, flags uint32, mss int, caps uint32) {
		orig := append([]byte(nil), frame...)
		var out [][]byte
		err := Tx(frame, flags, mss, caps, collect(&out))
		if err != nil {
			if len(out) != 0 || !bytes.Equal(frame, orig) {
				t.Fatalf("%v after emitting %d frames", err, len(out))
			}
			return
		}
		if len(out) == 0 {
			t.Fatal("nothing emitted")
		}
		if flags == 0 {
			if len(out) != 1 || !bytes.Equal(out[0], orig) {
				t.Fatal("flags 0 changed the frame")
			}
			return
		}
		tso := flags&(TSOv4|TSOv6) != 0
		if !tso && (len(out) != 1 || len(out[0]) != len(orig)) {
			t.Fatalf("%d frames, first of %d bytes, from %d", len(out), len(out[0]), len(orig))
		}
		var l4 uint32
		switch {
		case flags&(TSOv4|CsumTCPv4) != 0:
			l4 = CsumTCPv4
		case flags&CsumUDPv4 != 0:
			l4 = CsumUDPv4
		case flags&(TSOv6|CsumTCPv6) != 0:
			l4 = CsumTCPv6
		case flags&CsumUDPv6 != 0:
			l4 = CsumUDPv6
		}
		for k, g := range out {
			if len(g) > maxFrame || len(g) < etherHdrLen {
				t.Fatalf("frame %d: %d bytes", k, len(g))
			}
			st := RxStatus(g, RxCaps)
			if flags&(CsumIPv4|TSOv4) != 0 && st&(CsumIPv4|CsumIPv4Bad) != CsumIPv4 {
				t.Fatalf("frame %d: IPv4 header not fixed: status %#x", k, st)
			}
			// Without CsumIPv4 the IPv4 header checksum may be bad, which
			// stops the check.
			if l4 != 0 && st&CsumIPv4Bad == 0 && st&(l4|CsumTCPUDPBad) != l4 {
				t.Fatalf("frame %d: flags %#x, status %#x", k, flags, st)
			}
		}
	})
}

package tap

import (
	"encoding/binary"
	"testing"

	"github.com/libshmif/libshmif/core/internal/offload"
)

// segments makes the frames TSO would: n segments of mss bytes from a
// frame with the given flags, checksums set.
func segments(t *testing.T, n, mss int, flags byte) [][]byte {
	t.Helper()
	f := tcpFrame(n*mss, flags)
	binary.BigEndian.PutUint16(f[14+6:], 0x4000) // DF
	var out [][]byte
	if err := finish(vnetHdr{gsoType: gsoTCPv4, gsoSize: uint16(mss)}, f, func(s []byte) {
		out = append(out, append([]byte(nil), s...))
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRunMergesInOrderSegments(t *testing.T) {
	segs := segments(t, 10, 1000, tcpACK|tcpPSH)
	n, s0 := run(segs, maxRun)
	if n != 10 {
		t.Fatalf("run of %d, want 10", n)
	}
	hdr := make([]byte, vnetHdrLen+s0.hdrLen)
	last, _ := parseSeg(segs[9])
	mergedHeader(hdr, segs[0], s0, 10*1000, last.flags)
	h := parseVnet(hdr)
	if h.gsoType != gsoTCPv4 || h.gsoSize != 1000 || h.flags != vnetNeedsCsum || h.csumStart != 34 || h.csumOffset != 16 || h.hdrLen != 54 {
		t.Fatalf("virtio-net header %+v", h)
	}
	ip := hdr[vnetHdrLen+14:]
	if binary.BigEndian.Uint16(ip[2:]) != 20+20+10000 {
		t.Fatalf("IP length %d", binary.BigEndian.Uint16(ip[2:]))
	}
	if sum(ip[:20], 0) != 0xFFFF {
		t.Fatal("bad IP header checksum")
	}
	if hdr[vnetHdrLen+34+13] != tcpACK|tcpPSH {
		t.Fatalf("flags %#x", hdr[vnetHdrLen+34+13])
	}
	// Finishing the merged frame as a card would gives the checksum of
	// the whole segment.
	whole := append([]byte(nil), hdr[vnetHdrLen:]...)
	for _, s := range segs {
		whole = append(whole, s[54:]...)
	}
	var done []byte
	finish(vnetHdr{flags: vnetNeedsCsum, csumStart: 34, csumOffset: 16}, whole, func(f []byte) { done = f })
	if st := offload.RxStatus(done, offload.RxCaps); st&offload.CsumTCPv4 == 0 || st&offload.CsumTCPUDPBad != 0 {
		t.Fatalf("merged frame checksum status %#x", st)
	}
}

func TestRunStops(t *testing.T) {
	segs := segments(t, 6, 1000, tcpACK)
	// A damaged segment ends the run before it.
	bad := append([][]byte(nil), segs...)
	bad[3] = append([]byte(nil), segs[3]...)
	bad[3][100] ^= 1
	if n, _ := run(bad, maxRun); n != 3 {
		t.Fatalf("run of %d before a bad segment, want 3", n)
	}
	// A bad first segment goes alone.
	bad[0] = append([]byte(nil), segs[0]...)
	bad[0][100] ^= 1
	if n, _ := run(bad, maxRun); n != 1 {
		t.Fatalf("run of %d from a bad segment, want 1", n)
	}
	// Out of order.
	if n, _ := run([][]byte{segs[0], segs[2]}, maxRun); n != 1 {
		t.Fatalf("run of %d out of order", n)
	}
	// Another flow.
	other := append([]byte(nil), segs[1]...)
	other[34] ^= 1 // source port
	if n, _ := run([][]byte{segs[0], other}, maxRun); n != 1 {
		t.Fatalf("run of %d across flows", n)
	}
	// A FIN is never merged; neither is a segment after a short one.
	fin := segments(t, 2, 1000, tcpACK|tcpFIN)
	if n, _ := run(fin, maxRun); n != 1 {
		t.Fatalf("run of %d with FIN", n)
	}
	short := segments(t, 3, 500, tcpACK)
	if n, _ := run([][]byte{short[0], segs[1]}, maxRun); n != 1 {
		t.Fatalf("run of %d after a shorter segment", n)
	}
	// The limit.
	if n, _ := run(segs, 4); n != 4 {
		t.Fatalf("run of %d, limit 4", n)
	}
}

// tcp6Frame is tcpFrame over IPv6.
func tcp6Frame(payload int, flags byte) []byte {
	f := make([]byte, 14+40+20+payload)
	copy(f, macKernel[:])
	copy(f[6:], macUs[:])
	binary.BigEndian.PutUint16(f[12:], 0x86DD)
	ip := f[14:]
	ip[0], ip[6], ip[7] = 0x60, 6, 64
	binary.BigEndian.PutUint16(ip[4:], uint16(min(20+payload, 0xFFFF)))
	ip[8], ip[23] = 0xfe, 2
	ip[24], ip[39] = 0xfe, 1
	tcp := ip[40:]
	binary.BigEndian.PutUint16(tcp[0:], 1234)
	binary.BigEndian.PutUint16(tcp[2:], 80)
	binary.BigEndian.PutUint32(tcp[4:], 1000)
	tcp[12], tcp[13] = 5<<4, flags
	for i := range payload {
		tcp[20+i] = byte(i * 7)
	}
	return f
}

func TestRunMergesIPv6(t *testing.T) {
	var segs [][]byte
	if err := finish(vnetHdr{gsoType: gsoTCPv6, gsoSize: 1200}, tcp6Frame(6000, tcpACK|tcpPSH), func(s []byte) {
		segs = append(segs, append([]byte(nil), s...))
	}); err != nil {
		t.Fatal(err)
	}
	n, s0 := run(segs, maxRun)
	if n != 5 || !s0.v6 {
		t.Fatalf("run of %d (v6 %v), want 5", n, s0.v6)
	}
	hdr := make([]byte, vnetHdrLen+s0.hdrLen)
	last, _ := parseSeg(segs[4])
	mergedHeader(hdr, segs[0], s0, 6000, last.flags)
	if h := parseVnet(hdr); h.gsoType != gsoTCPv6 || h.csumStart != 54 || h.hdrLen != 74 {
		t.Fatalf("virtio-net header %+v", h)
	}
	whole := append([]byte(nil), hdr[vnetHdrLen:]...)
	for _, s := range segs {
		whole = append(whole, s[74:]...)
	}
	if got := binary.BigEndian.Uint16(whole[14+4:]); got != 20+6000 {
		t.Fatalf("IPv6 payload length %d", got)
	}
	var done []byte
	finish(vnetHdr{flags: vnetNeedsCsum, csumStart: 54, csumOffset: 16}, whole, func(f []byte) { done = f })
	if st := offload.RxStatus(done, offload.RxCaps); st&offload.CsumTCPv6 == 0 || st&offload.CsumTCPUDPBad != 0 {
		t.Fatalf("merged frame checksum status %#x", st)
	}
}

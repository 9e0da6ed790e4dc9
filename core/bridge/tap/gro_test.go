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

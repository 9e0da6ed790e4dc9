package vxlan

import (
	"fmt"
	"hash/maphash"
	"testing"
)

func BenchmarkFlowHash(b *testing.B) {
	seed := maphash.MakeSeed()
	f := tcpFrame("10.1.0.1", "10.1.0.2", 1000, 80, "payload")
	for b.Loop() {
		flowHash(seed, f)
	}
}

// BenchmarkLoopback: batches of 32 frames of 1000 bytes from one endpoint to
// another over 127.0.0.1, written and then read back in lockstep (so the
// receive queue never overflows).
func BenchmarkLoopback(b *testing.B) {
	pa, pb := freePort(b), freePort(b)
	a, err := Open(fmt.Sprintf("127.0.0.1:%d/vni=7/dstport=%d", pb, pa))
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	r, err := Open(fmt.Sprintf("127.0.0.1:%d/vni=7/dstport=%d", pa, pb))
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	const batch = 32
	frames := make([][]byte, batch)
	bufs, lens := make([][]byte, batch), make([]int, batch)
	for i := range frames {
		frames[i] = tcpFrame("10.1.0.1", "10.1.0.2", uint16(1000+i), 80, string(make([]byte, 1000-54)))
		bufs[i] = make([]byte, r.MaxFrame())
	}
	b.SetBytes(batch * 1000)
	for b.Loop() {
		if _, err := a.WriteFrames(frames); err != nil {
			b.Fatal(err)
		}
		for got := 0; got < batch; {
			k, err := r.ReadFrames(bufs[got:], lens[got:])
			if err != nil {
				b.Fatal(err)
			}
			got += k
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/frame")
}

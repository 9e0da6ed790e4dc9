package shmif

import "testing"

// benchmarkRecv measures the receive path alone: a writer fills most of the
// ring (not timed), then a reader reads it back in batches.
func benchmarkRecv(b *testing.B, size int) {
	a, c := benchPair(b)
	frames := batchOf(a, size, 32)
	rx := make([]Frame, 256)
	for k := range rx {
		rx[k].Buf = make([]byte, 1514)
	}
	fill := (1 << 20) / 2 / (size + 24) / 32 // half a ring of batches
	got := 0
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		for range fill {
			a.SendBatch(frames)
		}
		b.StartTimer()
		for {
			n, _ := c.RecvBatch(rx, 0)
			if n == 0 {
				break
			}
			got += n
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()*1e9/float64(got), "ns/frame")
}

func BenchmarkRecv60(b *testing.B)   { benchmarkRecv(b, 60) }
func BenchmarkRecv1514(b *testing.B) { benchmarkRecv(b, 1514) }

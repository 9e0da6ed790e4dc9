package shmif

import (
	"path/filepath"
	"testing"
	"time"
)

func benchPair(b *testing.B) (*Interface, *Interface) {
	path := filepath.Join(b.TempDir(), "bus")
	a, err := Open(path, -1)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { a.Destroy() })
	c, err := Open(path, -1)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Destroy() })
	return a, c
}

func batchOf(a *Interface, size, n int) [][]byte {
	frames := make([][]byte, n)
	for k := range frames {
		frames[k] = frameTo(broadcast, a.MAC(), string(make([]byte, size-14)))
	}
	return frames
}

// The Go send and receive paths allocate nothing per frame.
func TestDataPathDoesNotAllocate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bus")
	a, _ := Open(path, -1)
	defer a.Destroy()
	c, _ := Open(path, -1)
	defer c.Destroy()
	frame := frameTo(broadcast, a.MAC(), "0123456789012345678901234567890123456789012345")
	batch := batchOf(a, 60, 32)
	buf := make([]byte, 1514)
	frames := make([]Frame, 32)
	for k := range frames {
		frames[k].Buf = make([]byte, 1514)
	}
	for name, f := range map[string]func(){
		"Send":      func() { a.Send(frame) },
		"SendBatch": func() { a.SendBatch(batch) },
		"Recv":      func() { a.Send(frame); c.Recv(buf, 0) },
		"RecvBatch": func() { a.SendBatch(batch); c.RecvBatch(frames, 0) },
		"RecvEmpty": func() { c.Recv(buf, 0) },
	} {
		// AllocsPerRun counts the whole process's allocations, and
		// the bus's background work (a scan of /proc a few ms after
		// a bus file is opened, to see who else has it) allocates
		// too: an allocation of the path itself shows in every try.
		n := testing.AllocsPerRun(200, f)
		for try := 0; n != 0 && try < 4; try++ {
			time.Sleep(100 * time.Millisecond)
			n = min(n, testing.AllocsPerRun(200, f))
		}
		if n != 0 {
			t.Errorf("%s: %v allocations per call", name, n)
		}
	}
}

func benchmarkSend(b *testing.B, size, batch int) {
	a, _ := benchPair(b)
	frames := batchOf(a, size, batch)
	b.SetBytes(int64(size * batch))
	b.ReportAllocs()
	for b.Loop() {
		a.SendBatch(frames)
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "frames/s")
}

func BenchmarkSend60(b *testing.B)           { benchmarkSend(b, 60, 1) }
func BenchmarkSendBatch60x32(b *testing.B)   { benchmarkSend(b, 60, 32) }
func BenchmarkSend1514(b *testing.B)         { benchmarkSend(b, 1514, 1) }
func BenchmarkSendBatch1514x32(b *testing.B) { benchmarkSend(b, 1514, 32) }

// Writer and reader on one bus, in two goroutines (separate processes are
// measured by make bench).
func benchmarkStream(b *testing.B, size, batch int) {
	a, c := benchPair(b)
	frames := batchOf(a, size, batch)
	rx := make([]Frame, 64)
	for k := range rx {
		rx[k].Buf = make([]byte, 1514)
	}
	total := 0
	done := make(chan int)
	b.ReportAllocs()
	b.SetBytes(int64(size * batch))
	b.ResetTimer()
	go func() {
		got := 0
		for {
			n, err := c.RecvBatch(rx, 200*time.Millisecond)
			if err != nil {
				done <- got
				return
			}
			got += n
		}
	}()
	for b.Loop() {
		a.SendBatch(frames)
		total += batch
	}
	got := <-done
	lost := c.Stats().Lost
	b.ReportMetric(float64(got)/b.Elapsed().Seconds(), "delivered/s")
	b.ReportMetric(100*float64(lost)/float64(max(total, 1)), "loss%")
}

func BenchmarkStream60x32(b *testing.B)   { benchmarkStream(b, 60, 32) }
func BenchmarkStream1514x32(b *testing.B) { benchmarkStream(b, 1514, 32) }

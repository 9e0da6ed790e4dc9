package bridge_test

import (
	"encoding/binary"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libshmif/libshmif/core/bridge"
	"github.com/libshmif/libshmif/core/shmif"
)

// BenchmarkBusToBus measures a shmif:// bridge: a writer puts b.N frames
// on one bus in batches of 32, staying at most a window of frames ahead of
// what a reader on the other bus has received (a bus holds 1 MiB; a
// writer running unchecked would lap the bridge and measure losses), and
// the reader counts what arrives. frames/s is what crossed per second;
// lost% what did not. scripts/bench-bridge.sh runs it with a fixed count.
func BenchmarkBusToBus(b *testing.B) {
	for _, size := range []int{60, 1514} {
		b.Run(itoa(size)+"B", func(b *testing.B) { benchBusToBus(b, size) })
	}
}

func itoa(n int) string {
	var s []byte
	for ; n > 0; n /= 10 {
		s = append([]byte{byte('0' + n%10)}, s...)
	}
	return string(s)
}

func benchBusToBus(b *testing.B, size int) {
	dir := b.TempDir()
	bus1, bus2 := filepath.Join(dir, "bus1"), filepath.Join(dir, "bus2")
	ep, err := bridge.OpenEndpoint("shmif://" + bus2)
	if err != nil {
		b.Fatal(err)
	}
	br, err := bridge.Open(bus1, ep, bridge.Config{})
	if err != nil {
		b.Fatal(err)
	}
	if err := br.Start(); err != nil {
		b.Fatal(err)
	}
	defer br.Stop()
	w, err := shmif.Open(bus1, -1)
	if err != nil {
		b.Fatal(err)
	}
	defer w.Destroy()
	r, err := shmif.Open(bus2, -1)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Destroy()
	r.SetPromisc(true)

	const batch = 32
	frames := make([][]byte, batch)
	for i := range frames {
		frames[i] = make([]byte, size)
		copy(frames[i], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x88, 0xb5})
	}
	var got atomic.Int64
	var last time.Time
	window := int64(min(4096, (1<<20)/(size+24)/2))
	progress := make(chan struct{}, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	b.ResetTimer()
	start := time.Now()
	go func() {
		defer wg.Done()
		rx := make([]shmif.Frame, 256)
		for i := range rx {
			rx[i].Buf = make([]byte, 1514)
		}
		for got.Load() < int64(b.N) {
			n, err := r.RecvBatch(rx, 200*time.Millisecond)
			if err != nil {
				return // quiet: the rest was lost
			}
			got.Add(int64(n))
			last = time.Now()
			select {
			case progress <- struct{}{}:
			default:
			}
		}
	}()
	for sent := 0; sent < b.N; sent += batch {
		for int64(sent)-got.Load() > window {
			select {
			case <-progress:
			case <-time.After(300 * time.Millisecond):
				window = 1 << 62 // the reader gave up: finish
			}
		}
		for i, f := range frames {
			binary.BigEndian.PutUint32(f[14:], uint32(sent+i))
		}
		if _, err := w.SendBatch(frames[:min(batch, b.N-sent)]); err != nil {
			b.Fatal(err)
		}
	}
	wg.Wait()
	b.StopTimer()
	n := got.Load()
	if n == 0 {
		b.Fatal("nothing crossed")
	}
	b.ReportMetric(float64(n)/last.Sub(start).Seconds(), "frames/s")
	b.ReportMetric(100*float64(int64(b.N)-n)/float64(b.N), "lost%")
	b.ReportMetric(0, "ns/op")
}

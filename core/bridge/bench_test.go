package bridge_test

import (
	"encoding/binary"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libshmif/libshmif/core/bridge"
	"github.com/libshmif/libshmif/core/impair"
	"github.com/libshmif/libshmif/core/shmif"
	"github.com/libshmif/libshmif/internal/testlib"
)

// BenchmarkBusToBus measures a shmif:// bridge: a writer puts b.N frames
// on one bus in batches of 32, staying at most a window of frames ahead of
// what a reader on the other bus has received (a bus holds 1 MiB; a
// writer running unchecked would lap the bridge and measure losses), and
// the reader counts what arrives. frames/s is what crossed per second;
// lost% what did not. scripts/bench-bridge.sh runs it with a fixed count.
func BenchmarkBusToBus(b *testing.B) {
	for _, size := range []int{60, 1514} {
		b.Run(strconv.Itoa(size)+"B", func(b *testing.B) { benchBusToBus(b, size, joinShmif(bridge.Config{})) })
	}
}

// BenchmarkBusToBusVXLAN: the same between two buses joined by two
// bridges over VXLAN on the loopback (the multi-host path on one host):
// bus, bridge, UDP, bridge, bus.
func BenchmarkBusToBusVXLAN(b *testing.B) {
	for _, size := range []int{60, 1514} {
		b.Run(strconv.Itoa(size)+"B", func(b *testing.B) { benchBusToBus(b, size, joinVXLAN) })
	}
}

// BenchmarkBusToBusImpaired: a shmif:// bridge with an impairment stage
// that does nothing (the cost of having one), at full speed as
// BenchmarkBusToBus; and with a delay of 10ms ± 1ms at 100,000 frames/s
// offered, reporting how far each frame's arrival on the other bus is from
// the time the stage scheduled it for (p50, p99, max).
func BenchmarkBusToBusImpaired(b *testing.B) {
	b.Run("none/60B", func(b *testing.B) {
		var cfg bridge.Config
		st, err := cfg.Impair(impair.Config{Seed: 1})
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		benchBusToBus(b, 60, joinShmif(cfg))
	})
	b.Run("delay10ms1ms@100k/60B", func(b *testing.B) { benchScheduled(b, "delay 10ms 1ms", 100_000) })
}

// joinShmif joins two buses with one bridge of configuration cfg.
func joinShmif(cfg bridge.Config) func(b *testing.B, bus1, bus2 string) {
	return func(b *testing.B, bus1, bus2 string) {
		ep, err := bridge.OpenEndpoint("shmif://" + bus2)
		if err != nil {
			b.Fatal(err)
		}
		br, err := bridge.Open(bus1, ep, cfg)
		if err != nil {
			b.Fatal(err)
		}
		if err := br.Start(); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { br.Stop() })
	}
}

// joinVXLAN joins two buses with a VXLAN bridge each, sending to each
// other on 127.0.0.1.
func joinVXLAN(b *testing.B, bus1, bus2 string) {
	p1, p2 := freeUDPPort(b), freeUDPPort(b)
	for _, j := range []struct {
		bus      string
		to, mine int
	}{{bus1, p2, p1}, {bus2, p1, p2}} {
		ep, err := bridge.OpenEndpoint(fmt.Sprintf("vxlan://127.0.0.1:%d/vni=42/dstport=%d", j.to, j.mine))
		if err != nil {
			b.Fatal(err)
		}
		br, err := bridge.Open(j.bus, ep, bridge.Config{})
		if err != nil {
			b.Fatal(err)
		}
		if err := br.Start(); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { br.Stop() })
	}
}

func freeUDPPort(b *testing.B) int {
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

func benchBusToBus(b *testing.B, size int, join func(b *testing.B, bus1, bus2 string)) {
	dir := b.TempDir()
	bus1, bus2 := filepath.Join(dir, "bus1"), filepath.Join(dir, "bus2")
	join(b, bus1, bus2)
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

// benchScheduled offers b.N 60-byte frames at rate frames/s to a bridge
// with the impairment words, and compares the time each arrives on the
// other bus with the due time the stage logged for it. The stage's clock
// starts when it is made, just after t0: errors are over-estimated by that
// gap (microseconds).
func benchScheduled(b *testing.B, words string, rate float64) {
	dir := b.TempDir()
	bus1, bus2 := filepath.Join(dir, "bus1"), filepath.Join(dir, "bus2")
	settings, err := impair.ParseSettings(words)
	if err != nil {
		b.Fatal(err)
	}
	var log testlib.SyncBuffer
	var cfg bridge.Config
	t0 := time.Now()
	st, err := cfg.Impair(impair.Config{Seed: 1, LR: settings, Log: &log})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	joinShmif(cfg)(b, bus1, bus2)
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

	arrived := make([]time.Duration, b.N) // since t0, by frame number - 1
	var got atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		rx := make([]shmif.Frame, 256)
		for i := range rx {
			rx[i].Buf = make([]byte, 1514)
		}
		for got.Load() < int64(b.N) {
			n, err := r.RecvBatch(rx, time.Second)
			if err != nil {
				return
			}
			now := time.Since(t0)
			for _, f := range rx[:n] {
				if seq := binary.BigEndian.Uint32(f.Buf[14:]); int(seq) < b.N {
					arrived[seq] = now
				}
			}
			got.Add(int64(n))
		}
	}()
	frame := make([]byte, 60)
	copy(frame, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x88, 0xb5})
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		if i%10 == 0 {
			// Keep to the offered rate, 10 frames at a time.
			if ahead := time.Until(start.Add(time.Duration(float64(i) / rate * 1e9))); ahead > 0 {
				time.Sleep(ahead)
			}
		}
		binary.BigEndian.PutUint32(frame[14:], uint32(i))
		if err := w.Send(frame); err != nil {
			b.Fatal(err)
		}
	}
	offered := float64(b.N) / time.Since(start).Seconds()
	<-done
	b.StopTimer()

	// "LR 17 at=1.250000000 len=60 out due=1.260000000": frame 17 is
	// sequence number 16.
	var errs []time.Duration
	for _, line := range strings.Split(log.String(), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || f[0] != "LR" || f[4] != "out" || !strings.HasPrefix(f[5], "due=") {
			continue
		}
		n, _ := strconv.Atoi(f[1])
		due, _ := strconv.ParseFloat(strings.TrimPrefix(f[5], "due="), 64)
		if n >= 1 && n <= b.N && arrived[n-1] > 0 {
			errs = append(errs, arrived[n-1]-time.Duration(due*1e9))
		}
	}
	if len(errs) == 0 {
		b.Fatal("nothing crossed")
	}
	slices.Sort(errs)
	us := func(d time.Duration) float64 { return float64(d) / 1e3 }
	b.ReportMetric(offered, "offered-frames/s")
	b.ReportMetric(100*float64(b.N-len(errs))/float64(b.N), "lost%")
	b.ReportMetric(us(errs[len(errs)/2]), "p50-err-µs")
	b.ReportMetric(us(errs[len(errs)*99/100]), "p99-err-µs")
	b.ReportMetric(us(errs[len(errs)-1]), "max-err-µs")
	b.ReportMetric(0, "ns/op")
}

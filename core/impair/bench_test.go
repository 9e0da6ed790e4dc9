package impair

import (
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkDecide is the decision core alone, recycling its copies: the
// steady state allocates nothing.
func BenchmarkDecide(b *testing.B) {
	for _, words := range []string{"none", mixed} {
		b.Run(words[:min(len(words), 20)], func(b *testing.B) {
			d, err := NewDecider(LR, 1, mustSettings(b, words))
			if err != nil {
				b.Fatal(err)
			}
			frame := make([]byte, 1000)
			b.ReportAllocs()
			b.SetBytes(int64(len(frame)))
			var at time.Duration
			for b.Loop() {
				at += time.Microsecond
				for _, o := range d.Decide(frame, at) {
					d.Recycle(o.Frame)
				}
			}
		})
	}
}

// counter is a sink that counts frames and says when it has seen want.
type counter struct {
	n    atomic.Int64
	want int64
	done chan struct{}
}

func (c *counter) sink(_ Dir, frames [][]byte) {
	if c.n.Add(int64(len(frames))) >= c.want && c.want > 0 {
		select {
		case c.done <- struct{}{}:
		default:
		}
	}
}

// benchStage runs b.N frames of 100 bytes through a stage, offered at
// offered frames per second (0: as fast as Input takes them), and reports
// frames per second through the stage, the most frames queued at once,
// and the lateness of delivery against the schedule.
func benchStage(b *testing.B, mk func() alarm, words string, offered float64) {
	c := &counter{want: int64(b.N), done: make(chan struct{}, 1)}
	s, err := newStage(Config{Sink: c.sink, LR: mustSettings(b, words)}, mk())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	lateness := make([]time.Duration, 0, b.N)
	s.mu.Lock()
	s.late = func(d time.Duration) { lateness = append(lateness, d) }
	s.mu.Unlock()
	frame := make([]byte, 100)
	var maxQueued uint64
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		if i%100 == 0 {
			// Keep to the offered rate on average, sleeping in steps.
			if offered > 0 {
				if ahead := time.Until(start.Add(time.Duration(float64(i) / offered * 1e9))); ahead > 0 {
					time.Sleep(ahead)
				}
			}
			maxQueued = max(maxQueued, s.Counters(LR).Queued.Frames)
		}
		s.Input(LR, frame)
	}
	select {
	case <-c.done:
	case <-time.After(patience):
		b.Fatalf("%d of %d frames after %v", c.n.Load(), b.N, patience)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "frames/s")
	b.ReportMetric(float64(maxQueued), "max-queued")
	s.mu.Lock()
	slices.Sort(lateness)
	if n := len(lateness); n > 0 {
		b.ReportMetric(float64(lateness[n/2].Microseconds()), "p50-late-µs")
		b.ReportMetric(float64(lateness[n*99/100].Microseconds()), "p99-late-µs")
	}
	s.mu.Unlock()
}

// BenchmarkStage: frames per second through the running stage without
// impairment and with a 10ms ± 1ms delay, at full speed and at 100,000
// frames per second offered, with the p99 error of delivery time against
// the schedule, for the alarm of this system and the portable one.
func BenchmarkStage(b *testing.B) {
	for _, a := range alarms {
		b.Run("none/"+a.name, func(b *testing.B) { benchStage(b, a.new, "none", 0) })
		b.Run("delay10ms1ms/"+a.name, func(b *testing.B) { benchStage(b, a.new, "delay 10ms 1ms", 0) })
		b.Run("delay10ms1ms@100k/"+a.name, func(b *testing.B) { benchStage(b, a.new, "delay 10ms 1ms", 100_000) })
	}
}

package impair

import (
	"bytes"
	"encoding/binary"
	"errors"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The stage tests run on the real clock with each alarm: the one New
// picks on this system and the portable timer.
var alarms = []struct {
	name string
	new  func() alarm
}{
	{"default", newAlarm},
	{"timer", func() alarm { return newTimerAlarm() }},
}

// patience bounds every wait for frames on the real clock; it is far
// longer than any schedule in these tests, so only a stalled machine
// reaches it.
const patience = 20 * time.Second

// received is a frame as the sink saw it.
type received struct {
	seq  uint32        // from the frame's first bytes
	at   time.Duration // the stage's clock when the sink had it
	size int
}

// collector is a sink that remembers what it received.
type collector struct {
	mu    sync.Mutex
	stage *Stage
	got   [2][]received
	bytes [2]uint64
}

func (c *collector) sink(d Dir, frames [][]byte) {
	now := c.stage.clock.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, f := range frames {
		c.got[d.index()] = append(c.got[d.index()], received{binary.LittleEndian.Uint32(f), now, len(f)})
		c.bytes[d.index()] += uint64(len(f))
	}
}

func (c *collector) count(d Dir) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.got[d.index()])
}

func (c *collector) frames(d Dir) []received {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.got[d.index()])
}

// startStage starts a stage whose sink is a collector.
func startStage(t *testing.T, mk func() alarm, c Config) (*Stage, *collector) {
	t.Helper()
	col := &collector{}
	c.Sink = col.sink
	s, err := newStage(c, mk())
	if err != nil {
		t.Fatal(err)
	}
	col.stage = s
	t.Cleanup(func() { s.Close() })
	return s, col
}

func mustSettings(t testing.TB, words string) Settings {
	t.Helper()
	s, err := ParseSettings(words)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// numbered returns a frame of size bytes that starts with seq.
func numbered(seq uint32, size int) []byte {
	f := make([]byte, max(size, 4))
	binary.LittleEndian.PutUint32(f, seq)
	return f
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting after %v for %s", patience, what)
		}
		time.Sleep(time.Millisecond)
	}
}

// logEntry is one line of a decision log.
type logEntry struct {
	index int
	at    time.Duration
	dues  []time.Duration
}

func parseSeconds(t *testing.T, s string) time.Duration {
	t.Helper()
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("bad time %q in the log", s)
	}
	return time.Duration(f*1e9 + 0.5)
}

// parseLog reads the decision log of direction d.
func parseLog(t *testing.T, log string, d Dir) []logEntry {
	t.Helper()
	var entries []logEntry
	for _, line := range strings.Split(strings.TrimSpace(log), "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || f[0] != d.String() {
			continue
		}
		var e logEntry
		e.index, _ = strconv.Atoi(f[1])
		e.at = parseSeconds(t, strings.TrimPrefix(f[2], "at="))
		for _, w := range f[4:] {
			if due, ok := strings.CutPrefix(w, "due="); ok {
				e.dues = append(e.dues, parseSeconds(t, due))
			}
		}
		entries = append(entries, e)
	}
	return entries
}

func TestStageDeliversInDueOrder(t *testing.T) {
	for _, a := range alarms {
		t.Run(a.name, func(t *testing.T) {
			var log bytes.Buffer
			s, col := startStage(t, a.new, Config{
				Seed: 1,
				LR:   mustSettings(t, "delay 20ms 10ms distribution normal reorder 10%"),
				RL:   mustSettings(t, "delay 5ms 5ms"),
				Log:  &log,
			})
			const n = 2000
			for i := range n {
				if err := s.Input(LR, numbered(uint32(i+1), 60)); err != nil {
					t.Fatal(err)
				}
				if err := s.Input(RL, numbered(uint32(i+1), 60)); err != nil {
					t.Fatal(err)
				}
				if i%100 == 99 {
					time.Sleep(time.Millisecond) // spread the arrivals a little
				}
			}
			waitFor(t, "every frame", func() bool { return col.count(LR) == n && col.count(RL) == n })
			for _, d := range []Dir{LR, RL} {
				entries := parseLog(t, log.String(), d)
				if len(entries) != n {
					t.Fatalf("%v: %d log lines for %d frames", d, len(entries), n)
				}
				slices.SortStableFunc(entries, func(a, b logEntry) int { return int(a.dues[0] - b.dues[0]) })
				got := col.frames(d)
				var lateness []time.Duration
				for k, e := range entries {
					if got[k].seq != uint32(e.index) {
						t.Fatalf("%v: frame %d handed over %dth, want frame %d (due %v)", d, got[k].seq, k+1, e.index, e.dues[0])
					}
					if got[k].at < e.dues[0] {
						t.Fatalf("%v: frame %d handed over at %v, before it was due at %v", d, e.index, got[k].at, e.dues[0])
					}
					lateness = append(lateness, got[k].at-e.dues[0])
				}
				slices.Sort(lateness)
				t.Logf("%v: lateness median %v, p99 %v, max %v (not asserted)", d,
					lateness[n/2], lateness[n*99/100], lateness[n-1])
			}
			if c := s.Counters(LR); c.Reordered.Frames == 0 {
				t.Error("no frame was reordered")
			}
		})
	}
}

func TestStageSettingChangeLosesNothingScheduled(t *testing.T) {
	for _, a := range alarms {
		t.Run(a.name, func(t *testing.T) {
			s, col := startStage(t, a.new, Config{Seed: 2, LR: mustSettings(t, "delay 200ms")})
			const n = 500
			for i := range n {
				s.Input(LR, numbered(uint32(i), 100))
			}
			if err := s.Set(LR, mustSettings(t, "loss 100% limit 1 delay 0ms")); err != nil {
				t.Fatal(err)
			}
			if err := s.Apply(strings.Fields("LR rate 1kbit mtu 10 duplicate 100%")); err != nil {
				t.Fatal(err)
			}
			if r := s.Command("flap LR down"); r != "ok\n" {
				t.Fatalf("flap down: %q", r)
			}
			s.Input(LR, numbered(n, 100)) // dropped: the link is down
			waitFor(t, "the scheduled frames", func() bool { return col.count(LR) == n })
			c := s.Counters(LR)
			if c.Out.Frames != n || c.Queued.Frames != 0 || c.DroppedDown.Frames != 1 || c.In.Frames != n+1 {
				t.Errorf("counters %+v", c)
			}
			checkInvariant(t, c)
		})
	}
}

func TestStageCountersEqualSink(t *testing.T) {
	for _, a := range alarms {
		t.Run(a.name, func(t *testing.T) {
			s, col := startStage(t, a.new, Config{
				Seed: 3,
				LR:   mustSettings(t, mixed),
				RL:   mustSettings(t, "loss gemodel 5% 30% delay 2ms 1ms 25% duplicate 5% limit 50"),
			})
			// Two writers, as a bridge has one per direction, while the
			// settings change under them.
			const n = 20_000
			var wg sync.WaitGroup
			for _, d := range []Dir{LR, RL} {
				wg.Go(func() {
					for i := range n {
						if err := s.Input(d, numbered(uint32(i), 60+i%1455)); err != nil {
							t.Error(err)
							return
						}
						if i%1000 == 999 {
							time.Sleep(100 * time.Microsecond)
						}
					}
				})
			}
			wg.Go(func() {
				for i := range 50 {
					if r := s.Command("set RL delay " + strconv.Itoa(i%5) + "ms"); r != "ok\n" {
						t.Errorf("set: %q", r)
					}
					s.Counters(Both)
					time.Sleep(200 * time.Microsecond)
				}
			})
			wg.Wait()
			// Out counts a batch as the sink is called: wait until the
			// sink has the last one.
			waitFor(t, "an empty queue and the sink to have every frame out", func() bool {
				c := s.Counters(Both)
				return c.Queued.Frames == 0 && uint64(col.count(LR)+col.count(RL)) == c.Out.Frames
			})
			for _, d := range []Dir{LR, RL} {
				c := s.Counters(d)
				col.mu.Lock()
				frames, bytes := uint64(len(col.got[d.index()])), col.bytes[d.index()]
				col.mu.Unlock()
				if c.Out.Frames != frames || c.Out.Bytes != bytes || c.In.Frames != n {
					t.Errorf("%v: sink had %d frames %d bytes; counters %+v", d, frames, bytes, c)
				}
				checkInvariant(t, c)
			}
			checkInvariant(t, s.Counters(Both))
		})
	}
}

func TestStageCloseReleasesEverything(t *testing.T) {
	for _, a := range alarms {
		t.Run(a.name, func(t *testing.T) {
			before := runtime.NumGoroutine()
			col := &collector{}
			s, err := newStage(Config{Sink: col.sink, LR: mustSettings(t, "delay 1h")}, a.new())
			if err != nil {
				t.Fatal(err)
			}
			col.stage = s
			l, err := ListenControl(filepath.Join(t.TempDir(), "ctl"), 0o600)
			if err != nil {
				t.Fatal(err)
			}
			served := make(chan error, 1)
			go func() { served <- s.ServeControl(l) }()
			c := dial(t, l.Addr().String())
			c.do("show")
			for i := range 100 {
				s.Input(LR, numbered(uint32(i), 64))
			}
			s.Input(RL, numbered(0, 64))
			waitFor(t, "the RL frame", func() bool { return col.count(RL) == 1 })
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if err := <-served; err != nil {
				t.Errorf("ServeControl returned %v after Close", err)
			}
			if err := s.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
			if err := s.Input(LR, numbered(0, 64)); !errors.Is(err, unix.EBADF) {
				t.Errorf("Input after Close: %v, want EBADF", err)
			}
			if _, err := c.r.ReadString('\n'); err == nil {
				t.Error("the control connection is still open after Close")
			}
			counters := s.Counters(LR)
			if counters.DroppedClose.Frames != 100 || counters.Queued.Frames != 0 || col.count(LR) != 0 {
				t.Errorf("counters after Close %+v", counters)
			}
			checkInvariant(t, counters)
			waitFor(t, "the goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
		})
	}
}

func TestStageRealClockDelay(t *testing.T) {
	for _, a := range alarms {
		t.Run(a.name, func(t *testing.T) {
			var lateness []time.Duration
			var log bytes.Buffer
			s, col := startStage(t, a.new, Config{LR: mustSettings(t, "delay 10ms"), Log: &log})
			s.mu.Lock()
			s.late = func(d time.Duration) { lateness = append(lateness, d) }
			s.mu.Unlock()
			const n = 200
			for i := range n {
				s.Input(LR, numbered(uint32(i+1), 60))
				time.Sleep(time.Millisecond)
			}
			waitFor(t, "every frame", func() bool { return col.count(LR) == n })
			got := col.frames(LR)
			for k, e := range parseLog(t, log.String(), LR) {
				if got[k].at < e.dues[0] || e.dues[0] != e.at+10*time.Millisecond {
					t.Fatalf("frame %d at %v due %v handed over at %v", e.index, e.at, e.dues[0], got[k].at)
				}
			}
			s.mu.Lock()
			slices.Sort(lateness)
			t.Logf("lateness after a 10ms delay: median %v, max %v (not asserted)", lateness[n/2], lateness[n-1])
			s.mu.Unlock()
		})
	}
}

func TestStageRefusesBadInput(t *testing.T) {
	if _, err := New(Config{}); !errors.Is(err, unix.EINVAL) {
		t.Errorf("New without a sink: %v", err)
	}
	if _, err := New(Config{Sink: func(Dir, [][]byte) {}, RL: Settings{MTU: -1}}); !errors.Is(err, unix.EINVAL) {
		t.Errorf("New with mtu -1: %v", err)
	}
	s, err := New(Config{Sink: func(Dir, [][]byte) {}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Input(Both, nil); !errors.Is(err, unix.EINVAL) {
		t.Errorf("Input(Both): %v", err)
	}
	if err := s.Set(Dir(0), Settings{}); !errors.Is(err, unix.EINVAL) {
		t.Errorf("Set(0): %v", err)
	}
	if err := s.Set(Both, Settings{Loss: Loss{P: 1.5}}); !errors.Is(err, unix.EINVAL) {
		t.Errorf("Set loss 150%%: %v", err)
	}
	if s.Settings(LR) != (Settings{}) {
		t.Error("a refused Set changed the settings")
	}
}

package robust_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/libshmif/libshmif/core/shmif"
	"github.com/libshmif/libshmif/internal/testlib"
)

const (
	cycles = 10000
	warmup = 500
)

// maxRSSGrowth bounds the growth of resident memory over the cycles. The
// race detector's shadow memory grows with every allocation it has seen,
// so it gets more room.
var maxRSSGrowth = func() int64 {
	if testlib.Race {
		return 24 << 20
	}
	return 8 << 20
}()

// cycleBudget bounds each half of TestCreateDestroyCycles outside
// SHMIF_STRESS=full: it stops after this long even if the 10,000 cycles are
// not done. (Closing an inotify descriptor that held a watch costs about
// 9 ms in the kernel, and each destroy closes one or two.)
func cycleBudget() time.Duration {
	if os.Getenv("SHMIF_STRESS") == "full" {
		return 0
	}
	return 2 * time.Second
}

// logCycles reports how many cycles ran and how long one took.
func logCycles(t *testing.T, n int, d time.Duration) {
	t.Helper()
	t.Logf("%d cycles in %v: %v per cycle", n, d.Round(time.Millisecond), (d / time.Duration(n)).Round(time.Microsecond))
	if n < cycles {
		t.Logf("stopped at the time budget of %v before %d cycles (SHMIF_STRESS=full runs them all)", cycleBudget(), cycles)
	}
}

// usage is what a process holds: open descriptors, goroutines, resident
// memory.
type usage struct {
	fds, goroutines int
	rss             int64 // bytes
}

func (u usage) String() string {
	return fmt.Sprintf("%d fds, %d goroutines, RSS %.1f MiB", u.fds, u.goroutines, float64(u.rss)/(1<<20))
}

func measure(t *testing.T) usage {
	t.Helper()
	// The poll descriptor of a destroyed interface is closed a quarter of
	// a second after Destroy, by a timer that a loaded machine may run
	// late: count until two counts half a second apart agree.
	time.Sleep(time.Second)
	u := sample(t)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		time.Sleep(500 * time.Millisecond)
		v := sample(t)
		if v.fds == u.fds && v.goroutines == u.goroutines {
			return v
		}
		u = v
	}
	return u
}

func sample(t *testing.T) usage {
	t.Helper()
	runtime.GC()
	debug.FreeOSMemory()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	statm, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Fatal(err)
	}
	var size, rss int64
	if _, err := fmt.Sscan(string(statm), &size, &rss); err != nil {
		t.Fatal(err)
	}
	// ReadDir's own descriptor is closed by the time it returns.
	return usage{fds: len(fds), goroutines: runtime.NumGoroutine(), rss: rss * int64(os.Getpagesize())}
}

// TestCreateDestroyCycles opens and destroys an interface on one bus 10,000
// times, in this process through core/iface and in a C process through the
// C ABI, asking for the poll descriptor every 10th time (it starts a
// goroutine and opens descriptors) and sending every 100th. After a warm-up
// and at the end, the open descriptors and goroutines must be the same and
// the resident memory must not have grown by 8 MiB. Outside SHMIF_STRESS=full
// each half stops early at cycleBudget.
func TestCreateDestroyCycles(t *testing.T) {
	t.Run("Go", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "bus")
		frame := bytes.Repeat([]byte{0xff}, 60)
		start := time.Now()
		var before usage
		n := cycles
		for k := 1; k <= n; k++ {
			i, err := shmif.Open(path, -1)
			if err != nil {
				t.Fatalf("cycle %d: Open: %v", k, err)
			}
			if k%10 == 0 {
				if _, err := i.PollFd(); err != nil {
					t.Fatalf("cycle %d: PollFd: %v", k, err)
				}
			}
			if k%100 == 0 {
				if err := i.Send(frame); err != nil {
					t.Fatalf("cycle %d: Send: %v", k, err)
				}
			}
			if err := i.Destroy(); err != nil {
				t.Fatalf("cycle %d: Destroy: %v", k, err)
			}
			if k == warmup {
				before = measure(t)
			}
			if b := cycleBudget(); k > warmup && b > 0 && time.Since(start) > b {
				n = k
			}
		}
		logCycles(t, n, time.Since(start))
		after := measure(t)
		t.Logf("after %d cycles: %v; after %d: %v", warmup, before, n, after)
		checkFlat(t, before, after)
	})
	t.Run("C", func(t *testing.T) {
		dir := t.TempDir()
		bin := cc(t, "cycles", dir, "cycles")
		start := time.Now()
		cmd := exec.Command(bin, filepath.Join(dir, "bus"), fmt.Sprint(cycles), fmt.Sprint(warmup),
			fmt.Sprint(cycleBudget().Milliseconds()))
		out, _ := cmd.CombinedOutput()
		exitStatus(t, "cycles", cmd.ProcessState, string(out))
		var u [2]usage
		var at [2]int
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) != 2 {
			t.Fatalf("want 2 lines\n%s", out)
		}
		for k, l := range lines {
			if _, err := fmt.Sscanf(l, "at %d fds %d rss %d", &at[k], &u[k].fds, &u[k].rss); err != nil {
				t.Fatalf("%q: %v", l, err)
			}
			u[k].rss <<= 10
		}
		logCycles(t, at[1], time.Since(start))
		t.Logf("after %d cycles: %d fds, RSS %.1f MiB; after %d: %d fds, RSS %.1f MiB",
			at[0], u[0].fds, float64(u[0].rss)/(1<<20), at[1], u[1].fds, float64(u[1].rss)/(1<<20))
		checkFlat(t, u[0], u[1])
	})
}

func checkFlat(t *testing.T, before, after usage) {
	t.Helper()
	if after.fds != before.fds {
		t.Errorf("open descriptors: %d after warm-up, %d at the end", before.fds, after.fds)
	}
	if after.goroutines != before.goroutines {
		t.Errorf("goroutines: %d after warm-up, %d at the end", before.goroutines, after.goroutines)
	}
	if g := after.rss - before.rss; g >= maxRSSGrowth {
		t.Errorf("resident memory grew by %.1f MiB, want under %d MiB", float64(g)/(1<<20), maxRSSGrowth>>20)
	}
}

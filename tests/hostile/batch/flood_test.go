package batch_test

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// writerRun is one incarnation of a writer: its id and counter file, and
// whether it was killed.
type writerRun struct {
	id     uint32
	ctr    string
	p      *proc
	killed bool
}

// bounds returns how many frames the incarnation put on the bus, at least
// and at most: exact for one that finished.
func (w *writerRun) bounds(t *testing.T, readers []readerResult) (lo, hi uint64) {
	acked, inflight := counter(t, w.ctr)
	lo, hi = acked, acked+inflight
	for _, r := range readers {
		if x, ok := r.ids[w.id]; ok && uint64(x.last+1) > lo {
			lo = uint64(x.last + 1)
		}
	}
	if !w.killed {
		return acked, acked
	}
	return lo, hi
}

// storm runs writers against readers of the given modes for dur: writers
// are killed and restarted with probability kill per 100 ms, readers
// stopped and continued (stops of up to maxStop). It checks every frame
// (in the readers) and the accounting of every reader.
func storm(t *testing.T, modes []string, nwriters int, dur time.Duration, kill bool, maxStop time.Duration) {
	bin := bat(t)
	s := seed(t)
	rng := rand.New(rand.NewPCG(s, s^0x9e3779b97f4a7c15))
	bus, done := busDir(t)
	var readers []*proc
	for i, m := range modes {
		readers = append(readers, start(t, bin, "reader", bus, m, fmt.Sprint(s+uint64(i)), done))
	}
	var mu sync.Mutex
	var runs []*writerRun
	nextID := uint32(1)
	spawn := func() *writerRun {
		w := &writerRun{id: nextID, ctr: filepath.Join(filepath.Dir(bus), fmt.Sprintf("ctr%d", nextID))}
		nextID++
		w.p = start(t, bin, "writer", bus, fmt.Sprint(w.id), fmt.Sprint(rng.Uint64()>>1), w.ctr)
		return w
	}
	live := make([]*writerRun, nwriters)
	for i := range live {
		live[i] = spawn()
		runs = append(runs, live[i])
	}
	quit := make(chan struct{})
	stops := 0
	var wg sync.WaitGroup
	if maxStop > 0 {
		srng := rand.New(rand.NewPCG(s+1, s+2))
		wg.Add(1)
		go func() {
			defer wg.Done()
			var stoppable []*proc
			for i, r := range readers {
				if modes[i] != "lossless" && modes[i] != "losslessrecv" {
					stoppable = append(stoppable, r)
				}
			}
			stopper(srng, stoppable, maxStop, 20*time.Millisecond, quit, &stops)
		}()
	}
	kills := 0
	end := time.Now().Add(dur)
	for time.Now().Before(end) {
		time.Sleep(time.Duration(rng.IntN(100)) * time.Millisecond)
		if !kill || rng.IntN(2) == 0 {
			continue
		}
		i := rng.IntN(len(live))
		w := live[i]
		w.p.cmd.Process.Signal(syscall.SIGKILL)
		<-w.p.done
		w.killed = true
		kills++
		mu.Lock()
		live[i] = spawn()
		runs = append(runs, live[i])
		mu.Unlock()
	}
	// Stop the remaining writers the same way, at the end, so that every
	// incarnation has a counter.
	for _, w := range live {
		w.p.cmd.Process.Signal(syscall.SIGKILL)
		<-w.p.done
		w.killed = true
	}
	close(quit)
	wg.Wait()
	for _, r := range readers {
		r.cmd.Process.Signal(syscall.SIGCONT)
	}
	if err := writeFile(done); err != nil {
		t.Fatal(err)
	}
	var res []readerResult
	for i, r := range readers {
		out := r.wait(t, 60*time.Second)
		res = append(res, parseReader(t, out))
		t.Logf("reader %s: received %d lost %d corrupt %d", modes[i], res[i].total, res[i].lost, res[i].corrupt)
	}
	var lo, hi uint64
	for _, w := range runs {
		l, h := w.bounds(t, res)
		lo += l
		hi += h
	}
	t.Logf("%d writer incarnations, %d kills, %d reader stops; frames on the bus: %d..%d", len(runs), kills, stops, lo, hi)
	for i, r := range res {
		got := r.total + r.lost
		if got < lo || got > hi {
			t.Errorf("reader %s: received %d + lost %d = %d, frames on the bus %d..%d", modes[i], r.total, r.lost, got, lo, hi)
		}
		if r.corrupt != 0 {
			t.Errorf("reader %s: corrupt %d on a bus only libshmif wrote", modes[i], r.corrupt)
		}
		if (modes[i] == "lossless" || modes[i] == "losslessrecv") && r.lost != 0 {
			t.Errorf("lossless reader %s lost %d", modes[i], r.lost)
		}
		if r.ipackets != r.total {
			t.Errorf("reader %s: ipackets %d, received %d", modes[i], r.ipackets, r.total)
		}
	}
}

// TestFloodReceivers: three flooding writers (batches of 32..256 frames of
// 28..1514 bytes) against receivers of every receive call, no kills, no
// stops: frames whole, in order, and received + lost = sent exactly.
func TestFloodReceivers(t *testing.T) {
	longForm(t)
	storm(t, []string{"batch256", "batch4", "batch1", "randn", "recv", "frame"}, 3, pick(4*time.Second, 30*time.Second), false, 0)
}

// TestFloodKilledWriters: the same with writers SIGKILLed at random
// (about every 100 ms) and restarted under new ids.
func TestFloodKilledWriters(t *testing.T) {
	storm(t, []string{"batch256", "batch4", "randn", "recv"}, 2, pick(2*time.Second, 40*time.Second), true, 0)
}

// TestFloodStoppedReceivers: receivers stopped for up to 8 ms at a time
// (a flooding writer writes about a ring a millisecond), so that they
// fall a part of a lap behind or are lapped, also in the middle of a
// lock-free batch; writers killed too.
func TestFloodStoppedReceivers(t *testing.T) {
	longForm(t)
	storm(t, []string{"batch256", "batch4", "randn", "recv"}, 2, pick(6*time.Second, 40*time.Second), true, 8*time.Millisecond)
}

// TestLosslessKilledWriters: lossless receivers (shmif_recv_batch and
// shmif_recv) beside ordinary ones that are stopped at random, with
// writers SIGKILLed at random (also while they wait for a lossless
// receiver) and restarted: the lossless ones lose nothing.
func TestLosslessKilledWriters(t *testing.T) {
	storm(t, []string{"lossless", "losslessrecv", "batch256", "randn"}, 2, pick(2*time.Second, 40*time.Second), true, 8*time.Millisecond)
}

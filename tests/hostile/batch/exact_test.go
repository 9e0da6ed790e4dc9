package batch_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// exact runs nwriters writers of count frames each to the end against
// readers of the given modes (stopped at random for up to maxStop when it
// is not 0, lossless readers excepted), then checks that every reader
// received + lost exactly nwriters*count frames, that lossless readers
// lost none, and that every frame was whole and in order (in the readers).
// extra starts more processes on the bus (NetBSD writers, strangers) and
// returns how many frames they put on it; with extra, accounting is
// checked as bounds only.
func exact(t *testing.T, modes []string, nwriters int, count int, maxStop time.Duration,
	extra func(bin, bus string, s uint64) (frames int, wait func())) []readerResult {
	bin := bat(t)
	s := seed(t)
	bus, done := busDir(t)
	var readers, stoppable []*proc
	for i, m := range modes {
		rbin := bin
		if strings.HasPrefix(m, "go") {
			rbin = os.Args[0] // TestMain's Go API receiver
		}
		p := start(t, rbin, "reader", bus, m, fmt.Sprint(s+uint64(i)), done)
		readers = append(readers, p)
		if m != "lossless" && m != "losslessrecv" {
			stoppable = append(stoppable, p)
		}
	}
	quit := make(chan struct{})
	stops := 0
	var wg sync.WaitGroup
	if maxStop > 0 && len(stoppable) > 0 {
		srng := rand.New(rand.NewPCG(s+1, s+2))
		wg.Add(1)
		go func() {
			defer wg.Done()
			stopper(srng, stoppable, maxStop, 20*time.Millisecond, quit, &stops)
		}()
	}
	var writers []*proc
	for i := 1; i <= nwriters; i++ {
		writers = append(writers, start(t, bin, "writer", bus, fmt.Sprint(i), fmt.Sprint(s+uint64(100*i)),
			filepath.Join(filepath.Dir(bus), fmt.Sprintf("ctr%d", i)), fmt.Sprint(count)))
	}
	extraFrames, extraWait := 0, func() {}
	if extra != nil {
		extraFrames, extraWait = extra(bin, bus, s)
	}
	for _, w := range writers {
		w.wait(t, 120*time.Second)
	}
	extraWait()
	close(quit)
	wg.Wait()
	if err := writeFile(done); err != nil {
		t.Fatal(err)
	}
	var res []readerResult
	want := uint64(nwriters*count + extraFrames)
	for i, r := range readers {
		out := r.wait(t, 60*time.Second)
		x := parseReader(t, out)
		res = append(res, x)
		t.Logf("reader %s: received %d lost %d corrupt %d damaged/out of order %d", modes[i], x.total, x.lost, x.corrupt, x.bad)
		if extra == nil {
			if x.total+x.lost != want {
				t.Errorf("reader %s: received %d + lost %d = %d, sent %d", modes[i], x.total, x.lost, x.total+x.lost, want)
			}
			if x.corrupt != 0 {
				t.Errorf("reader %s: corrupt %d", modes[i], x.corrupt)
			}
			if (modes[i] == "lossless" || modes[i] == "losslessrecv") && x.lost != 0 {
				t.Errorf("lossless reader lost %d", x.lost)
			}
		} else if x.total > want {
			t.Errorf("reader %s: received %d of %d frames sent", modes[i], x.total, want)
		}
	}
	t.Logf("%d writers x %d frames (+%d others), %d reader stops", nwriters, count, extraFrames, stops)
	return res
}

// TestExactAccounting: two writers of 100,000 frames each to the end
// (about 85 MB/s together here, a ring every 12 ms), readers of every kind
// but misfit buffers, stopped at random for up to 16 ms, so that they fall
// from a part of a lap to more than a lap behind: received + lost =
// 200,000 for each (3,000,000 per writer in make stress).
func TestExactAccounting(t *testing.T) {
	exact(t, []string{"batch256", "batch4", "randn", "recv", "frame"}, 2, pick(100000, 3000000), 16*time.Millisecond, nil)
}

// TestLosslessInStorm: lossless receivers (batch256 and recv) beside
// ordinary ones that are stopped at random; the lossless ones must lose
// nothing and see every writer's frames one after another.
func TestLosslessInStorm(t *testing.T) {
	longForm(t)
	exact(t, []string{"lossless", "losslessrecv", "batch256", "batch4"}, 2, pick(200000, 2000000), 8*time.Millisecond, nil)
}

// TestGoAPIReceivers: Interface.RecvBatch and Interface.Recv receivers in
// their own processes (the test binary), stopped at random for up to
// 16 ms, against two writers of 100,000 frames (3,000,000 in make stress):
// whole, ordered frames and received + lost = 200,000 for each.
func TestGoAPIReceivers(t *testing.T) {
	exact(t, []string{"go", "gorecv", "batch256"}, 2, pick(100000, 3000000), 16*time.Millisecond, nil)
}

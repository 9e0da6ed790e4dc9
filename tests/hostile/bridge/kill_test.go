package hostile_test

import (
	"math/rand"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libshmif/libshmif/core/shmif"
)

// trafficSender sends test frames of one stream on an interface, a few
// every 200 µs, until stopped; sent is the last sequence number sent.
type trafficSender struct {
	sent atomic.Uint64
	stop chan struct{}
	done chan struct{}
}

func sendTraffic(t *testing.T, ifc *shmif.Interface, stream uint16, seed int64) *trafficSender {
	s := &trafficSender{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		r := rand.New(rand.NewSource(seed))
		for {
			select {
			case <-s.stop:
				return
			default:
			}
			batch := make([][]byte, 1+r.Intn(4))
			for i := range batch {
				batch[i] = makeFrame(stream, s.sent.Load()+uint64(i)+1, 42+r.Intn(1514-42+1))
			}
			n, err := ifc.SendBatch(batch)
			s.sent.Add(uint64(n))
			if err != nil {
				t.Errorf("send on stream %d: %v", stream, err)
				return
			}
			time.Sleep(200 * time.Microsecond)
		}
	}()
	return s
}

func (s *trafficSender) halt() uint64 {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	<-s.done
	return s.sent.Load()
}

// seqCount counts the copies of each sequence number of one stream among
// received frames, and the damaged test frames.
func seqCount(rs []received, stream uint16) (copies map[uint64]int, damaged int) {
	copies = map[uint64]int{}
	for _, r := range rs {
		s, q, isTest, ok := checkFrame(r.frame)
		if !isTest {
			continue
		}
		if !ok {
			damaged++
			continue
		}
		if s == stream {
			copies[q]++
		}
	}
	return
}

// checkStream checks the copies of a stream seen on a bus: none damaged,
// none invented (beyond what was sent), at most maxCopies of each, and it
// returns how many distinct frames were seen.
func checkStream(t *testing.T, where string, rs []received, stream uint16, sent uint64, maxCopies int) int {
	t.Helper()
	copies, damaged := seqCount(rs, stream)
	if damaged > 0 {
		t.Errorf("%s: %d damaged test frames", where, damaged)
	}
	over := 0
	for q, n := range copies {
		if q == 0 || q > sent {
			t.Errorf("%s: stream %d frame %d was never sent (sent %d)", where, stream, q, sent)
		}
		if n > maxCopies {
			over++
			if over <= 5 {
				t.Errorf("%s: stream %d frame %d arrived %d times (at most %d promised)", where, stream, q, n, maxCopies)
			}
		}
	}
	if over > 5 {
		t.Errorf("%s: %d frames of stream %d arrived more than %d times", where, over, stream, maxCopies)
	}
	return len(copies)
}

// TestKillNineMidTraffic: a bus-to-bus bridge is killed with SIGKILL at
// random moments while frames flow both ways, and restarted. Promises:
// writers killed anywhere leave no torn frame ("No reader ever receives a
// frame no writer sent", README), frames already on a bus when a bridge
// starts are not forwarded (shmif_bridge(1)), so no frame arrives twice;
// both buses stay readable and carry traffic afterwards.
func TestKillNineMidTraffic(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	busA, busB := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	rxA := attach(t, busA)
	rxB := attach(t, busB)
	ca, cb := collect(t, rxA), collect(t, rxB)
	txA, txB := attach(t, busA), attach(t, busB)
	sa := sendTraffic(t, txA, 1, 1)
	sb := sendTraffic(t, txB, 2, 2)
	r := rand.New(rand.NewSource(3))
	kills := 0
	var br *proc
	for round := 0; round < 10; round++ {
		br = startBridge(t, nil, busA, "shmif://"+busB)
		time.Sleep(time.Duration(50+r.Intn(300)) * time.Millisecond)
		br.cmd.Process.Kill()
		<-br.done
		kills++
		time.Sleep(time.Duration(r.Intn(30)) * time.Millisecond)
	}
	br = startBridge(t, nil, busA, "shmif://"+busB)
	time.Sleep(200 * time.Millisecond)
	nA, nB := sa.halt(), sb.halt()
	// One last frame each way must cross the final bridge.
	txA.Send(makeFrame(1, nA+1, 60))
	txB.Send(makeFrame(2, nB+1, 60))
	nA++
	nB++
	if !cb.waitFor(5*time.Second, hasSeq(1, nA)) || !ca.waitFor(5*time.Second, hasSeq(2, nB)) {
		t.Errorf("after %d kills the final bridge does not carry frames", kills)
	}
	br.stop()
	time.Sleep(50 * time.Millisecond)
	ca.close()
	cb.close()
	fa, fb := ca.frames(), cb.frames()
	crossedAB := checkStream(t, "bus b", fb, 1, nA, 1)
	crossedBA := checkStream(t, "bus a", fa, 2, nB, 1)
	// The senders' own frames on their own bus: each once, never echoed back.
	localA := checkStream(t, "bus a (local)", fa, 1, nA, 1)
	localB := checkStream(t, "bus b (local)", fb, 2, nB, 1)
	sA, sB := rxA.Stats(), rxB.Stats()
	if sA.Corrupt != 0 || sB.Corrupt != 0 {
		t.Errorf("corrupt records: a %d, b %d", sA.Corrupt, sB.Corrupt)
	}
	if sA.Lost == 0 && uint64(localA) != nA {
		t.Errorf("bus a: %d of %d local frames received without loss", localA, nA)
	}
	if sB.Lost == 0 && uint64(localB) != nB {
		t.Errorf("bus b: %d of %d local frames received without loss", localB, nB)
	}
	t.Logf("%d SIGKILLs: a→b %d of %d frames crossed, b→a %d of %d; receivers lost a=%d b=%d",
		kills, crossedAB, nA, crossedBA, nB, sA.Lost, sB.Lost)
	dumpOK(t, busA)
	dumpOK(t, busB)
}

// TestKillNineTwoBridgesNoStorm: two bridges between the same two buses,
// one of them killed with SIGKILL and restarted now and then, while
// broadcast frames flow both ways. Promise (docs/bridges.md, Loops): "each
// frame then arrives once or twice (three times when a bridge is kept off
// the CPU for longer than 20 ms as the loop forms, as a heavily loaded
// machine can do) and the loop ends at once". After the senders stop the
// buses fall silent. (Under make test beside two CPU-bound processes five
// frames arrived three times as the bridges started.)
func TestKillNineTwoBridgesNoStorm(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	busA, busB := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	ca, cb := collect(t, attach(t, busA)), collect(t, attach(t, busB))
	txA, txB := attach(t, busA), attach(t, busB)
	steady := startBridge(t, nil, busA, "shmif://"+busB)
	sa := sendTraffic(t, txA, 1, 4)
	sb := sendTraffic(t, txB, 2, 5)
	r := rand.New(rand.NewSource(6))
	for round := 0; round < 6; round++ {
		other := startBridge(t, nil, busB, "shmif://"+busA)
		time.Sleep(time.Duration(100+r.Intn(300)) * time.Millisecond)
		other.cmd.Process.Kill()
		<-other.done
	}
	// And both running together for a while, with no kill.
	other := startBridge(t, nil, busB, "shmif://"+busA)
	time.Sleep(500 * time.Millisecond)
	nA, nB := sa.halt(), sb.halt()
	// Silence: nothing new on either bus for half a second, soon after
	// the senders stop. A storm never falls silent; bridges and receivers
	// kept off the CPU (a loaded machine) may take a while to catch up.
	stopped := time.Now()
	silent := false
	for time.Since(stopped) < 10*time.Second {
		before := ca.count() + cb.count()
		time.Sleep(500 * time.Millisecond)
		if ca.count()+cb.count() == before {
			silent = true
			break
		}
	}
	t.Logf("silent %v after the senders stopped", time.Since(stopped).Round(time.Millisecond))
	if !silent {
		t.Errorf("the buses still carry frames 10 s after the senders stopped (a storm)")
	}
	crossedAB := checkStream(t, "bus b", cb.frames(), 1, nA, 3)
	crossedBA := checkStream(t, "bus a", ca.frames(), 2, nB, 3)
	echoA := checkStream(t, "bus a (local)", ca.frames(), 1, nA, 3)
	echoB := checkStream(t, "bus b (local)", cb.frames(), 2, nB, 3)
	ms, mo := steady.counters(), other.counters()
	t.Logf("two bridges: a→b %d of %d, b→a %d of %d distinct; loop drops %d + %d (steady), %d + %d (other)",
		crossedAB, nA, crossedBA, nB, ms["LR.loop"], ms["RL.loop"], mo["LR.loop"], mo["RL.loop"])
	_ = echoA
	_ = echoB
	steady.stop()
	other.stop()
	dumpOK(t, busA)
	dumpOK(t, busB)
}

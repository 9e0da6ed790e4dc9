package robust_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/libshmif/libshmif/core/shmif"
	"golang.org/x/sys/unix"
)

// stressReport is what a stress child prints when it is done, as JSON.
type stressReport struct {
	Index    int
	Recv     []uint64 // frames received intact, per sender
	Disorder []uint64 // frames whose sequence number did not increase, per sender
	Corrupt  uint64   // frames that failed their checksum or named no sender
	Lost     uint64   // receive interface's Stats().Lost
	Stats    shmif.Stats
	TxStats  shmif.Stats
	SendTime time.Duration
}

// stressChild is one stress process: interface tx sends SHMIF_FRAMES test
// frames of random sizes and then an end marker (sequence number
// SHMIF_FRAMES, 14 bytes), all broadcast; interface rx receives with
// RecvBatch from every sender, its own tx included. Sending and receiving
// use separate interfaces because Stats().Lost counts every record a reader
// was lapped over, its own interface's too: an interface that never sends
// makes "sent − received = lost" exact.
//
// The receiver of child 0 is slow on purpose while the others send (a pause
// after every small batch), so that it is lapped and its loss accounting is
// put to the test whatever the speed of the machine.
//
// Protocol on the standard streams: the child prints "ready" once both
// interfaces are up, sends after reading "go", prints "sent" when done, and
// after reading "end" (all senders are done) receives until it has every
// sender's end marker or the bus has been quiet for a while, then prints
// its stressReport.
func stressChild() {
	path := os.Getenv("SHMIF_BUS")
	index, _ := strconv.Atoi(os.Getenv("SHMIF_INDEX"))
	procs, _ := strconv.Atoi(os.Getenv("SHMIF_PROCS"))
	frames, _ := strconv.Atoi(os.Getenv("SHMIF_FRAMES"))
	if path == "" || procs < 1 || procs > 256 || frames < 1 || frames >= maxSeq {
		fatalf("stress child: bad environment")
	}
	rx, err := shmif.Open(path, -1)
	if err != nil {
		fatalf("rx: shmif.Open: %v", err)
	}
	tx, err := shmif.Open(path, -1)
	if err != nil {
		fatalf("tx: shmif.Open: %v", err)
	}
	rep := stressReport{Index: index, Recv: make([]uint64, procs), Disorder: make([]uint64, procs)}
	endCmd, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		stressReceive(rx, &rep, uint32(frames), endCmd)
	}()

	stdin := bufio.NewScanner(os.Stdin)
	fmt.Println("ready")
	if !stdin.Scan() || stdin.Text() != "go" {
		fatalf("stress child %d: no go", index)
	}
	rng := rand.New(rand.NewPCG(uint64(index), uint64(time.Now().UnixNano())))
	buf := make([]byte, maxFrame)
	start := time.Now()
	for seq := 0; seq <= frames; seq++ {
		f := buf[:minFrame]
		if seq < frames {
			f = buf[:minFrame+rng.IntN(maxFrame-minFrame+1)]
		}
		putFrame(f, index, uint32(seq), rng)
		if err := tx.Send(f); err != nil {
			fatalf("stress child %d: send %d: %v", index, seq, err)
		}
	}
	rep.SendTime = time.Since(start)
	fmt.Println("sent")
	if !stdin.Scan() || stdin.Text() != "end" {
		fatalf("stress child %d: no end", index)
	}
	close(endCmd)
	<-done
	rep.Stats, rep.TxStats = rx.Stats(), tx.Stats()
	rep.Lost = rep.Stats.Lost
	rx.Destroy()
	tx.Destroy()
	b, _ := json.Marshal(rep)
	fmt.Printf("report %s\n", b)
}

// stressQuiet is how long a receiver waits for more frames once every
// sender is done before it concludes that the rest were lost.
const stressQuiet = 300 * time.Millisecond

func stressReceive(rx *shmif.Interface, rep *stressReport, frames uint32, endCmd <-chan struct{}) {
	procs := len(rep.Recv)
	slow := rep.Index == 0
	batch := make([]shmif.Frame, 64)
	for k := range batch {
		batch[k].Buf = make([]byte, maxFrame)
	}
	next := make([]uint32, procs)
	ends, lastFrame := 0, time.Now()
	for ends < procs {
		b := batch
		if slow {
			select {
			case <-endCmd:
				slow = false
			default:
				b = batch[:8]
				time.Sleep(10 * time.Millisecond)
			}
		}
		n, err := rx.RecvBatch(b, 50*time.Millisecond)
		if errors.Is(err, unix.ETIMEDOUT) {
			select {
			case <-endCmd:
				if time.Since(lastFrame) > stressQuiet {
					return
				}
			default:
			}
			continue
		}
		if err != nil {
			fatalf("stress child %d: RecvBatch: %v", rep.Index, err)
		}
		lastFrame = time.Now()
		for _, f := range b[:n] {
			s, seq, ok := parseFrame(f.Buf[:f.Len])
			if !ok || s >= procs || seq > frames {
				rep.Corrupt++
				continue
			}
			if seq < next[s] {
				rep.Disorder[s]++
				continue
			}
			next[s] = seq + 1
			rep.Recv[s]++
			if seq == frames {
				ends++
			}
		}
	}
}

// TestStressShort runs the stress test in its short form (4 processes ×
// 5,000 frames); with SHMIF_STRESS=full (make stress), 8 × 100,000. Every
// frame is 14 to 1514 bytes, at random.
//
// Every process has a send and a receive interface on one bus; every frame
// is broadcast, so every receive interface should get every frame, its own
// process's included. Receivers may be lapped: then the frames they missed
// must be exactly accounted for in Stats().Lost. For every receiver: no
// frame damaged, none duplicated or out of order per sender, and the sum
// over senders of (sent − received) equals Lost.
func TestStressShort(t *testing.T) {
	procs, frames := 4, 5000
	if os.Getenv("SHMIF_STRESS") == "full" {
		procs, frames = 8, 100000
	}
	path := filepath.Join(t.TempDir(), "bus")
	kids := make([]*child, procs)
	for k := range kids {
		kids[k] = startChild(t, "stress", "SHMIF_BUS="+path, "SHMIF_INDEX="+strconv.Itoa(k),
			"SHMIF_PROCS="+strconv.Itoa(procs), "SHMIF_FRAMES="+strconv.Itoa(frames))
	}
	for _, k := range kids {
		k.expect(t, "ready", 30*time.Second)
	}
	start := time.Now()
	for _, k := range kids {
		fmt.Fprintln(k.stdin, "go")
	}
	for _, k := range kids {
		k.expect(t, "sent", 30*time.Minute)
	}
	sendTime := time.Since(start)
	for _, k := range kids {
		fmt.Fprintln(k.stdin, "end")
	}
	reps := make([]stressReport, procs)
	for i, k := range kids {
		l := k.expect(t, "report ", time.Minute)
		if err := json.Unmarshal([]byte(strings.TrimPrefix(l, "report ")), &reps[i]); err != nil {
			t.Fatalf("child %d: %v: %q", i, err, l)
		}
		if err := k.cmd.Wait(); err != nil {
			t.Fatalf("child %d: %v\nstderr:\n%s", i, err, k.stderr)
		}
	}
	total := time.Since(start)

	sent := uint64(frames + 1)
	var bytesSent, delivered, lost uint64
	for i, r := range reps {
		if r.TxStats.Opackets != sent {
			t.Errorf("child %d: sent %d frames, want %d", i, r.TxStats.Opackets, sent)
		}
		bytesSent += r.TxStats.Obytes
		var recv, missing, disorder uint64
		for s := range procs {
			recv += r.Recv[s]
			missing += sent - r.Recv[s]
			disorder += r.Disorder[s]
			if r.Recv[s] > sent {
				t.Errorf("receiver %d: %d frames from sender %d, which sent %d", i, r.Recv[s], s, sent)
			}
		}
		if r.Corrupt != 0 || r.Stats.Corrupt != 0 {
			t.Errorf("receiver %d: %d damaged frames, %d corrupt records counted", i, r.Corrupt, r.Stats.Corrupt)
		}
		if disorder != 0 {
			t.Errorf("receiver %d: duplicated or out of order per sender: %v", i, r.Disorder)
		}
		if r.Stats.Ipackets != recv+r.Corrupt+disorder {
			t.Errorf("receiver %d: Stats().Ipackets %d, frames seen %d", i, r.Stats.Ipackets, recv+r.Corrupt+disorder)
		}
		if missing != r.Lost {
			t.Errorf("receiver %d: sent − received = %d over all senders, Stats().Lost = %d (received per sender %v of %d)",
				i, missing, r.Lost, r.Recv, sent)
		}
		if i == 0 && r.Lost == 0 {
			t.Errorf("receiver 0, slow on purpose, was never lapped: the loss accounting went untested")
		}
		delivered += recv
		lost += r.Lost
		slow := ""
		if i == 0 {
			slow = " (slow on purpose)"
		}
		t.Logf("receiver %d%s: received %d of %d (%.1f%%), lost %d; its sender took %v",
			i, slow, recv, sent*uint64(procs), 100*float64(recv)/float64(sent*uint64(procs)), r.Lost, r.SendTime.Round(time.Millisecond))
	}
	n := sent * uint64(procs)
	t.Logf("stress %d processes × %d frames: sent %d frames (%.1f MB) in %v: %.0f frames/s, %.1f MB/s; "+
		"delivered %d of %d (%.1f%%), lost %d (%.1f%%); total %v",
		procs, frames, n, float64(bytesSent)/1e6, sendTime.Round(time.Millisecond),
		float64(n)/sendTime.Seconds(), float64(bytesSent)/1e6/sendTime.Seconds(),
		delivered, n*uint64(procs), 100*float64(delivered)/float64(n*uint64(procs)),
		lost, 100*float64(lost)/float64(n*uint64(procs)), total.Round(time.Millisecond))
}

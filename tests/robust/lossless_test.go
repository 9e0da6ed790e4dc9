package robust_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/libshmif/libshmif/core/dump"
	"github.com/libshmif/libshmif/core/pcap"
	"github.com/libshmif/libshmif/core/shmif"
)

// floodWriterChild sends SHMIF_FRAMES test frames of random sizes in
// batches of 32 as fast as it can (sender 1), then an end marker, and
// prints how long the sends took.
func floodWriterChild() {
	tx, err := shmif.Open(os.Getenv("SHMIF_BUS"), -1)
	if err != nil {
		fatalf("flood writer: %v", err)
	}
	frames, _ := strconv.Atoi(os.Getenv("SHMIF_FRAMES"))
	fmt.Println("ready")
	var line string
	fmt.Scanln(&line)
	rng := rand.New(rand.NewPCG(1, 2))
	bufs := make([][]byte, 32)
	for k := range bufs {
		bufs[k] = make([]byte, maxFrame)
	}
	batch := make([][]byte, 0, 32)
	start := time.Now()
	for seq := 0; seq < frames; {
		batch = batch[:0]
		for k := 0; k < 32 && seq < frames; k++ {
			f := bufs[k][:60+rng.IntN(maxFrame-60+1)]
			putFrame(f, 1, uint32(seq), rng)
			batch = append(batch, f)
			seq++
		}
		if _, err := tx.SendBatch(batch); err != nil {
			fatalf("flood writer: %v", err)
		}
	}
	end := make([]byte, minFrame)
	putFrame(end, 2, 0, rng)
	tx.Send(end)
	fmt.Printf("sent %d\n", time.Since(start).Microseconds())
	fmt.Scanln(&line)
}

// losslessReport is what a flood reader prints.
type losslessReport struct {
	Received, Disorder, Garbage uint64
	Lost                        uint64
	Active                      bool
}

// floodReaderChild receives one frame per call (SHMIF_LOSSLESS: the wait
// in ms, 0 for an ordinary receiver) until the end marker, checking order.
func floodReaderChild() {
	rx, err := shmif.Open(os.Getenv("SHMIF_BUS"), -1)
	if err != nil {
		fatalf("flood reader: %v", err)
	}
	ms, _ := strconv.Atoi(os.Getenv("SHMIF_LOSSLESS"))
	if err := rx.SetLossless(time.Duration(ms) * time.Millisecond); err != nil {
		fatalf("flood reader: SetLossless: %v", err)
	}
	var rep losslessReport
	_, rep.Active = rx.Lossless()
	fmt.Println("ready")
	if os.Getenv("SHMIF_STALL") == "1" {
		time.Sleep(time.Hour) // holds writers back until killed
	}
	buf := make([]byte, maxFrame)
	next := uint32(0)
	for {
		n, err := rx.Recv(buf, time.Minute)
		if err != nil {
			fatalf("flood reader: %v", err)
		}
		s, seq, ok := parseFrame(buf[:n])
		switch {
		case !ok:
			rep.Garbage++
			continue
		case s == 2:
			rep.Lost = rx.Stats().Lost
			b, _ := json.Marshal(rep)
			fmt.Println("report " + string(b))
			return
		case seq != next:
			rep.Disorder++
		}
		next = seq + 1
		rep.Received++
	}
}

// flood runs one writer of frames frames against readers in other
// processes, each receiving one frame per call, lossless with a wait of
// ms (0: ordinary receivers), and returns their reports.
func flood(t *testing.T, frames, readers, ms int) []losslessReport {
	path := filepath.Join(t.TempDir(), "bus")
	w := startChild(t, "floodwriter", "SHMIF_BUS="+path, "SHMIF_FRAMES="+strconv.Itoa(frames))
	w.expect(t, "ready", 30*time.Second)
	rs := make([]*child, readers)
	for k := range rs {
		rs[k] = startChild(t, "floodreader", "SHMIF_BUS="+path, "SHMIF_LOSSLESS="+strconv.Itoa(ms))
		rs[k].expect(t, "ready", 30*time.Second)
	}
	fmt.Fprintln(w.stdin, "go")
	sent := w.expect(t, "sent ", 5*time.Minute)
	reps := make([]losslessReport, readers)
	for k, r := range rs {
		l := r.expect(t, "report ", time.Minute)
		if err := json.Unmarshal([]byte(strings.TrimPrefix(l, "report ")), &reps[k]); err != nil {
			t.Fatal(err)
		}
	}
	us, _ := strconv.Atoi(strings.TrimPrefix(sent, "sent "))
	t.Logf("%d frames to %d readers (lossless %d ms) in %v: %.0f frames/s; reports %+v",
		frames, readers, ms, time.Duration(us)*time.Microsecond, float64(frames)/(float64(us)/1e6), reps)
	fmt.Fprintln(w.stdin, "done")
	return reps
}

// Issue 12.3: a flood of 20,000 frames (200,000 under make stress) in
// batches of 32 against a receiver that takes one frame per call in
// another process: an ordinary
// receiver loses most of them; a lossless one loses none, and neither do
// four lossless receivers of one writer.
func TestLosslessFlood(t *testing.T) {
	frames := 20000 // 29 rings of full-size frames: laps enough for the comparison
	if os.Getenv("SHMIF_STRESS") == "full" {
		frames = 200000
	}
	lossy := flood(t, frames, 1, 0)[0]
	if lossy.Active || lossy.Lost == 0 {
		t.Logf("the ordinary receiver kept up (lost %d): the comparison shows nothing on this machine", lossy.Lost)
	}
	for _, readers := range []int{1, 4} {
		for k, r := range flood(t, frames, readers, 1000) {
			if !r.Active {
				t.Fatalf("reader %d: lossless is not in effect (no sidecar?)", k)
			}
			if r.Received != uint64(frames) || r.Lost != 0 || r.Disorder != 0 || r.Garbage != 0 {
				t.Errorf("%d lossless readers: reader %d received %d of %d, lost %d, disorder %d, garbage %d",
					readers, k, r.Received, frames, r.Lost, r.Disorder, r.Garbage)
			}
		}
	}
}

// Issue 12.3: a lossless receiver that stops reading holds writers back
// only until its process dies: killed, it stops holding them back within
// milliseconds (the design figure is 10 ms; asserted loosely here, with
// the time logged); and its wait bound ends the hold anyway.
func TestLosslessReaderDeathReleasesWriters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bus")
	r := startChild(t, "floodreader", "SHMIF_BUS="+path, "SHMIF_LOSSLESS=60000", "SHMIF_STALL=1")
	r.expect(t, "ready", 30*time.Second)
	tx, err := shmif.Open(path, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Destroy()
	f := make([]byte, maxFrame)
	putFrame(f, 1, 0, rand.New(rand.NewPCG(1, 1)))
	// More than a ring of frames: the sends block on the stalled reader.
	done := make(chan time.Time, 1)
	go func() {
		for range 2000 {
			if err := tx.Send(f); err != nil {
				t.Error(err)
				break
			}
		}
		done <- time.Now()
	}()
	time.Sleep(300 * time.Millisecond)
	select {
	case <-done:
		t.Fatal("the writer was not held back by a stalled lossless reader")
	default:
	}
	killed := time.Now()
	r.cmd.Process.Signal(syscall.SIGKILL)
	r.cmd.Wait()
	select {
	case at := <-done:
		d := at.Sub(killed)
		t.Logf("the writer went on %v after the lossless reader was killed", d)
		// Milliseconds as a rule; 2 s allows for a loaded machine
		// (the race pass beside other packages).
		if d > 2*time.Second {
			t.Errorf("held back %v after the reader died", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the writer is still held back 10 s after the lossless reader died")
	}
	// A wait bound ends a hold by a live reader.
	r2 := startChild(t, "floodreader", "SHMIF_BUS="+path, "SHMIF_LOSSLESS=50", "SHMIF_STALL=1")
	r2.expect(t, "ready", 30*time.Second)
	start := time.Now()
	for range 2000 {
		if err := tx.Send(f); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("2000 sends past a stalled reader with a 50 ms bound took %v", d)
	}
}

// Injecting a capture longer than the ring (shmif_inject, shmif_pcapin)
// waits for lossless receivers as an interface's sends do, and wakes the
// bus as it goes: a lossless receiver in another process, asleep when the
// injection starts, gets every frame in order. An ordinary receiver that
// sleeps through an injection woken only at its end would lose all but the
// last ring's worth.
func TestInjectWaitsForLosslessReaders(t *testing.T) {
	const frames = 5000 // over 7 rings of 1514-byte frames
	path := filepath.Join(t.TempDir(), "bus")
	r := startChild(t, "floodreader", "SHMIF_BUS="+path, "SHMIF_LOSSLESS=10000")
	r.expect(t, "ready", 30*time.Second)
	time.Sleep(50 * time.Millisecond) // let the reader fall asleep
	rng := rand.New(rand.NewPCG(3, 4))
	recs := make([]pcap.Record, 0, frames+1)
	for seq := range frames {
		f := make([]byte, maxFrame)
		putFrame(f, 1, uint32(seq), rng)
		recs = append(recs, pcap.Record{Sec: 1, Usec: uint32(seq), OrigLen: maxFrame, Data: f})
	}
	end := make([]byte, minFrame)
	putFrame(end, 2, 0, rng)
	recs = append(recs, pcap.Record{Sec: 2, OrigLen: minFrame, Data: end})
	start := time.Now()
	if _, err := dump.Inject(path, recs); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	var rep losslessReport
	l := r.expect(t, "report ", time.Minute)
	if err := json.Unmarshal([]byte(strings.TrimPrefix(l, "report ")), &rep); err != nil {
		t.Fatal(err)
	}
	t.Logf("injected %d frames in %v; reader: %+v", frames, took, rep)
	if !rep.Active {
		t.Fatal("lossless is not in effect (no sidecar?)")
	}
	if rep.Received != frames || rep.Lost != 0 || rep.Disorder != 0 || rep.Garbage != 0 {
		t.Errorf("reader received %d of %d, lost %d, disorder %d, garbage %d",
			rep.Received, frames, rep.Lost, rep.Disorder, rep.Garbage)
	}
}

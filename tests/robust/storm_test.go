package robust_test

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/libshmif/libshmif/core/pcap"
	"github.com/libshmif/libshmif/core/shmif"
	"github.com/libshmif/libshmif/internal/netbsd"
	"github.com/libshmif/libshmif/internal/testlib"
)

// stormEnd is the sender number of the end marker, sent once the storm is
// over.
const stormEnd = 255

// stormWriterChild floods the bus SHMIF_BUS with batches of 1 to 32 test
// frames of random sizes, numbered per incarnation (sender SHMIF_INDEX),
// until it is killed.
func stormWriterChild() {
	sender, _ := strconv.Atoi(os.Getenv("SHMIF_INDEX"))
	tx, err := shmif.Open(os.Getenv("SHMIF_BUS"), -1)
	if err != nil {
		fatalf("storm writer: %v", err)
	}
	fmt.Println("ready")
	rng := rand.New(rand.NewPCG(uint64(os.Getpid()), uint64(time.Now().UnixNano())))
	batch := make([][]byte, 32)
	for k := range batch {
		batch[k] = make([]byte, maxFrame)
	}
	views := make([][]byte, 32)
	seq := uint32(0)
	for {
		n := 1 + rng.IntN(32)
		for k := range n {
			views[k] = batch[k][:minFrame+rng.IntN(maxFrame-minFrame+1)]
			putFrame(views[k], sender, seq&maxSeq, rng)
			seq++
		}
		if _, err := tx.SendBatch(views[:n]); err != nil {
			fatalf("storm writer: SendBatch: %v", err)
		}
	}
}

// stormReport is what a storm reader prints at the end, as JSON.
type stormReport struct {
	Received, Garbage uint64
	Stats             shmif.Stats
}

// stormReaderChild receives everything on the bus (SHMIF_MODE batch or
// single) until the end marker, checking every frame, then prints its
// report. It never sends, so that its Lost counter covers every record.
func stormReaderChild() {
	rx, err := shmif.Open(os.Getenv("SHMIF_BUS"), -1)
	if err != nil {
		fatalf("storm reader: %v", err)
	}
	fmt.Println("ready")
	var rep stormReport
	frames := make([]shmif.Frame, 64)
	for k := range frames {
		frames[k].Buf = make([]byte, maxFrame)
	}
	if os.Getenv("SHMIF_MODE") == "single" {
		frames = frames[:1]
	}
	for {
		n, err := rx.RecvBatch(frames, time.Minute)
		if err != nil {
			fatalf("storm reader: %v", err)
		}
		for _, f := range frames[:n] {
			rep.Received++
			s, _, ok := parseFrame(f.Buf[:f.Len])
			if !ok {
				rep.Garbage++
				continue
			}
			if s == stormEnd {
				rep.Stats = rx.Stats()
				b, _ := json.Marshal(rep)
				fmt.Println("report " + string(b))
				return
			}
		}
	}
}

// newestSeq reads the bus file and returns the number libshmif writers gave
// the newest record (the header's padding word, docs/protocol.md §9.4): on a
// bus written only by libshmif since it was new, the number of records
// written.
func newestSeq(t *testing.T, path string) uint32 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil || len(b) < netbsd.BusSize {
		t.Fatalf("reading the bus: %v", err)
	}
	last := binary.NativeEndian.Uint32(b[netbsd.OffLast:])
	var h [netbsd.FrameHeaderSize]byte
	for k := range h {
		h[k] = b[netbsd.HeaderSize+(int(last)+k)%netbsd.DataSize]
	}
	return binary.NativeEndian.Uint32(h[netbsd.OffPad:])
}

// TestStressKillStorm: four writer processes flood one bus with batches of
// checksummed frames while they are killed with SIGKILL at random, over and
// over, and restarted (issue 10.1). Readers in other processes (batch
// receive, single receive, and shmif_dumpbus -f) must never receive a frame
// that no writer sent, and for each, frames sent − received = lost
// exactly: sent is the number of records on the bus (libshmif writers
// number them; a killed writer's half-written batch was never committed,
// and the next writer reuses its numbers). Short form in make test (3 s);
// with SHMIF_STRESS=full (make stress), 60 s.
func TestStressKillStorm(t *testing.T) {
	storm := 3 * time.Second
	if os.Getenv("SHMIF_STRESS") == "full" {
		storm = time.Minute
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "bus")
	// A fresh bus: its records are numbered from 1.
	init, err := shmif.Open(path, -1)
	if err != nil {
		t.Fatal(err)
	}
	init.Destroy()
	readers := []*child{
		startChild(t, "stormreader", "SHMIF_BUS="+path, "SHMIF_MODE=batch"),
		startChild(t, "stormreader", "SHMIF_BUS="+path, "SHMIF_MODE=single"),
	}
	for _, r := range readers {
		r.expect(t, "ready", 30*time.Second)
	}
	// shmif_dumpbus -f as a third reader, its pcap on a pipe.
	follower := exec.Command(testlib.Path(t, "shmif_dumpbus"), "-f", "-p", "-", path)
	pcapOut, err := follower.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var text testlib.SyncBuffer
	follower.Stderr = &text
	if err := follower.Start(); err != nil {
		t.Fatal(err)
	}
	defer follower.Process.Kill()
	type followed struct {
		received, garbage uint64
		err               error
	}
	followDone := make(chan followed, 1)
	sawEnd := make(chan struct{})
	var endOnce sync.Once // the end marker may be seen more than once
	go func() {
		var f followed
		r, err := pcap.NewReader(bufio.NewReader(pcapOut))
		if err != nil {
			followDone <- followed{err: err}
			return
		}
		for {
			rec, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				f.err = err
				break
			}
			f.received++
			if s, _, ok := parseFrame(rec.Data); !ok {
				f.garbage++
			} else if s == stormEnd {
				endOnce.Do(func() { close(sawEnd) })
			}
		}
		followDone <- f
	}()
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(text.String(), "bus version "); {
		if time.Now().After(deadline) {
			t.Fatalf("shmif_dumpbus -f not attached in 30 s: %s", text.String())
		}
		time.Sleep(10 * time.Millisecond)
	}

	rng := rand.New(rand.NewPCG(11, 12))
	writers := make([]*child, 4)
	incarnation := 0
	spawn := func(k int) {
		incarnation++
		writers[k] = startChild(t, "stormwriter", "SHMIF_BUS="+path, "SHMIF_INDEX="+strconv.Itoa(incarnation%stormEnd))
	}
	for k := range writers {
		spawn(k)
	}
	kills := 0
	for end := time.Now().Add(storm); time.Now().Before(end); {
		time.Sleep(time.Duration(5+rng.IntN(40)) * time.Millisecond)
		k := rng.IntN(len(writers))
		writers[k].cmd.Process.Signal(syscall.SIGKILL)
		writers[k].cmd.Wait()
		kills++
		spawn(k)
	}
	for _, w := range writers {
		w.cmd.Process.Signal(syscall.SIGKILL)
		w.cmd.Wait()
	}
	// The readers catch up, then the end marker.
	time.Sleep(200 * time.Millisecond)
	tx, err := shmif.Open(path, -1)
	if err != nil {
		t.Fatal(err)
	}
	end := make([]byte, minFrame)
	putFrame(end, stormEnd, 0, rng)
	if err := tx.Send(end); err != nil {
		t.Fatal(err)
	}
	tx.Destroy()
	sent := uint64(newestSeq(t, path))

	for i, r := range readers {
		var rep stormReport
		l := r.expect(t, "report ", time.Minute)
		if err := json.Unmarshal([]byte(strings.TrimPrefix(l, "report ")), &rep); err != nil {
			t.Fatal(err)
		}
		if rep.Garbage != 0 || rep.Stats.Corrupt != 0 {
			t.Errorf("reader %d: %d frames no writer sent, %d corrupt records", i, rep.Garbage, rep.Stats.Corrupt)
		}
		if rep.Received+rep.Stats.Lost != sent {
			t.Errorf("reader %d: received %d + lost %d = %d, but %d frames were sent",
				i, rep.Received, rep.Stats.Lost, rep.Received+rep.Stats.Lost, sent)
		}
		t.Logf("reader %d: received %d, lost %d, of %d sent", i, rep.Received, rep.Stats.Lost, sent)
	}
	// The follower: the end marker is the last frame; once it has passed
	// it on (a loaded machine may delay it by far more than a fixed
	// sleep), SIGINT ends it.
	select {
	case <-sawEnd:
	case <-followDone:
		t.Fatalf("shmif_dumpbus -f ended before the end marker: %s", text.String())
	case <-time.After(time.Minute):
		t.Errorf("shmif_dumpbus -f: no end marker within a minute")
	}
	follower.Process.Signal(os.Interrupt)
	f := <-followDone
	follower.Wait()
	var lost uint64
	for _, l := range strings.Split(text.String(), "\n") {
		var n uint64
		if _, err := fmt.Sscanf(l, "shmif_dumpbus: lost %d frames", &n); err == nil {
			lost += n
		}
	}
	if f.err != nil || f.garbage != 0 || f.received+lost != sent {
		t.Errorf("shmif_dumpbus -f: received %d (garbage %d) + lost %d, %d sent; %v", f.received, f.garbage, lost, sent, f.err)
	}
	t.Logf("%d writer incarnations, %d killed at random over %v; %d frames on the bus", incarnation, kills, storm, sent)
	if kills < 10 {
		t.Errorf("only %d writers killed: the storm did not happen", kills)
	}
}

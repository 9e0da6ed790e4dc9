package robust_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/libshmif/libshmif/core/shmif"
	"golang.org/x/sys/unix"
)

// readerChild opens an interface on the bus SHMIF_BUS, prints "ready" and
// receives in a loop, with batches and single frames, until it is killed.
func readerChild() {
	i, err := shmif.Open(os.Getenv("SHMIF_BUS"), -1)
	if err != nil {
		fatalf("shmif.Open: %v", err)
	}
	i.SetSpin(0)
	batch := make([]shmif.Frame, 16)
	for k := range batch {
		batch[k].Buf = make([]byte, maxFrame)
	}
	fmt.Println("ready")
	for k := 0; ; k++ {
		var err error
		if k%2 == 0 {
			_, err = i.RecvBatch(batch, -1)
		} else {
			_, err = i.Recv(batch[0].Buf, -1)
		}
		if err != nil {
			fatalf("receive: %v", err)
		}
	}
}

// TestReaderDeathBlocksNobody: readers keep no state on the bus, so a
// reader SIGKILLed at any moment (in a wait, or in the middle of reading
// with the bus lock held) stops nobody. Three reader processes are killed,
// one after another, while this process sends a steady stream; every send
// succeeds, none waits for long, and a receiver here gets every frame
// intact, in order, with nothing lost.
func TestReaderDeathBlocksNobody(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bus")
	s, r := openIface(t, path), openIface(t, path)
	rFrames, rErr := make(chan received, 1<<16), make(chan error, 1)
	go receiveForever(r, rFrames, rErr)

	// 4,600 frames of at most 200 bytes: the ring holds more, so
	// the receiver here cannot be lapped however slow it is.
	const kills, perPhase = 3, 1500
	rng := rand.New(rand.NewPCG(7, 8))
	seq := uint32(0)
	var worst time.Duration
	send := func() {
		f := make([]byte, minFrame+rng.IntN(200-minFrame))
		putFrame(f, 1, seq, rng)
		t0 := time.Now()
		if err := s.Send(f); err != nil {
			t.Fatalf("send %d: %v", seq, err)
		}
		worst = max(worst, time.Since(t0))
		seq++
	}
	for k := range kills {
		ch := startChild(t, "reader", "SHMIF_BUS="+path)
		ch.expect(t, "ready", 20*time.Second)
		// Kill the reader in the middle of the stream it is reading.
		for n := range perPhase {
			if n == 200+300*k {
				ch.cmd.Process.Signal(unix.SIGKILL)
			}
			send()
		}
		ch.cmd.Wait()
	}
	for range 100 {
		send()
	}
	t.Logf("%d frames sent around %d reader kills; slowest send %v", seq, kills, worst)
	if worst > time.Second {
		t.Errorf("a send took %v, want under 1 s", worst)
	}

	next := uint32(0)
	deadline := time.After(20 * time.Second)
	for next < seq {
		select {
		case f := <-rFrames:
			if !f.ok || f.sender != 1 || f.seq != next {
				t.Fatalf("receiver: got frame %+v, want intact frame %d", f, next)
			}
			next++
		case err := <-rErr:
			t.Fatalf("receiver: %v", err)
		case <-deadline:
			t.Fatalf("receiver: %d of %d frames within 20 s", next, seq)
		}
	}
	if st := r.Stats(); st.Lost != 0 || st.Corrupt != 0 {
		t.Errorf("receiver: lost %d, corrupt %d, want 0", st.Lost, st.Corrupt)
	}
	r.Destroy()
	if err := <-rErr; !errors.Is(err, unix.ENXIO) {
		t.Errorf("receiver: Recv ended with %v after Destroy, want ENXIO", err)
	}
}

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
	"github.com/libshmif/libshmif/internal/netbsd"
	"golang.org/x/sys/unix"
)

// deadSender is the test-frame sender number of the dying writer.
const deadSender = 200

// deadWriterChild attaches to the bus SHMIF_BUS as a NetBSD rump kernel
// would (internal/netbsd), sends one complete frame, then starts a second
// one and stops as a writer killed there would, holding the bus lock:
// shm_last already names the new record, whose slot holds, with
// SHMIF_MODE=half, its header and the first half of the frame, and with
// SHMIF_MODE=nohdr, stale bytes from an earlier lap (not a valid header). It
// prints "ready" and sleeps with the lock held until it is killed.
func deadWriterChild() {
	b, err := netbsd.Attach(os.Getenv("SHMIF_BUS"))
	if err != nil {
		fatalf("netbsd.Attach: %v", err)
	}
	b.RecordPid = os.Getenv("SHMIF_PID") == "1"
	rng := rand.New(rand.NewPCG(3, 4))
	f := make([]byte, 1000)
	putFrame(f[:200], deadSender, 0, rng)
	if err := b.Send(f[:200], 0xdead, 0, netbsd.StepNone); err != nil {
		fatalf("send: %v", err)
	}
	putFrame(f, deadSender, 1, rng)
	switch mode := os.Getenv("SHMIF_MODE"); mode {
	case "half":
		b.Send(f, 0xdead, 0, netbsd.StepHalfFrame)
	case "nohdr":
		d, off := b.Data(), b.NextWrite()
		for k := range uint32(netbsd.FrameHeaderSize + len(f)) {
			d[(off+k)%netbsd.DataSize] = 0xa5
		}
		b.Send(f, 0xdead, 0, netbsd.StepLastStored)
	default:
		fatalf("SHMIF_MODE %q", mode)
	}
	fmt.Println("ready")
	time.Sleep(time.Hour)
}

// openIface opens an interface on path, destroyed at the end of the test.
func openIface(t *testing.T, path string) *shmif.Interface {
	t.Helper()
	i, err := shmif.Open(path, -1)
	if err != nil {
		t.Fatalf("shmif.Open(%s): %v", path, err)
	}
	t.Cleanup(func() { i.Destroy() })
	return i
}

// received is a frame as a receiver classified it.
type received struct {
	sender int
	seq    uint32
	ok     bool // a test frame, checksum correct
	len    int
}

// receiveForever receives on i with timeout -1 until Destroy ends the wait
// (ENXIO), handing every frame to out; any other error goes to errs.
func receiveForever(i *shmif.Interface, out chan<- received, errs chan<- error) {
	buf := make([]byte, maxFrame)
	for {
		n, err := i.Recv(buf, -1)
		if err != nil {
			errs <- err
			return
		}
		s, q, ok := parseFrame(buf[:n])
		out <- received{s, q, ok, n}
	}
}

// TestDeadWriterMidRecord: a writer is SIGKILLed in the middle of appending
// a record in NetBSD's order, holding the bus lock, while an interface of
// this process waits in Recv and another waits for the lock in Send. The
// lock is taken over: within a second when the writer recorded its pid as
// libshmif does (the recorded holder is dead), after the unknown-holder
// timeout of 2 s when it left none as NetBSD does. Then sends succeed, and
// every frame written after the damage reaches both receivers intact and in
// order. The damaged record may show up as one damaged frame (its header
// promised 1000 bytes; only 500 were written).
func TestDeadWriterMidRecord(t *testing.T) {
	for _, pid := range []bool{true, false} {
		for _, mode := range []string{"half", "nohdr"} {
			name := mode + "/netbsd"
			bound := 3 * time.Second
			if pid {
				name, bound = mode+"/pid", time.Second
			}
			// Each on its own bus: the two 2 s takeovers overlap.
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				// A takeover that waits too long does so every
				// time; a loaded machine only now and then.
				for try := 1; ; try++ {
					recovery := deadWriter(t, mode, pid)
					if recovery <= bound {
						break
					}
					if try == 3 {
						t.Errorf("recovery took %v, want under %v (three tries)", recovery, bound)
						break
					}
					t.Logf("recovery took %v, over %v: again", recovery, bound)
				}
			})
		}
	}
}

// deadWriter runs the test once and returns the time from SIGKILL to the
// first successful send.
func deadWriter(t *testing.T, mode string, pid bool) time.Duration {
	path := filepath.Join(t.TempDir(), "bus")
	a, c, s := openIface(t, path), openIface(t, path), openIface(t, path)
	rng := rand.New(rand.NewPCG(5, 6))
	const sender, frames = 1, 300
	frame := func(seq uint32) []byte {
		f := make([]byte, 60+rng.IntN(200))
		putFrame(f, sender, seq, rng)
		return f
	}
	aFrames, aErr := make(chan received, 2*frames), make(chan error, 1)
	go receiveForever(a, aFrames, aErr)
	if err := s.Send(frame(0)); err != nil {
		t.Fatalf("send before the damage: %v", err)
	}

	pidEnv := "SHMIF_PID=0"
	if pid {
		pidEnv = "SHMIF_PID=1"
	}
	ch := startChild(t, "deadwriter", "SHMIF_BUS="+path, "SHMIF_MODE="+mode, pidEnv)
	ch.expect(t, "ready", 20*time.Second)

	// A send now waits for the lock the child holds.
	sent := make(chan error, 1)
	var sentAt time.Time
	go func() {
		err := s.Send(frame(1))
		sentAt = time.Now()
		sent <- err
	}()
	time.Sleep(100 * time.Millisecond)
	select {
	case err := <-sent:
		t.Fatalf("send returned (%v) while the child held the bus lock", err)
	default:
	}
	killed := ch.kill(t)
	select {
	case err := <-sent:
		if err != nil {
			t.Fatalf("first send after the kill: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("send still blocked 15 s after the lock holder was killed")
	}
	recovery := sentAt.Sub(killed)
	t.Logf("%s: recovery from SIGKILL to first successful send: %v", mode, recovery)

	for seq := uint32(2); seq < frames; seq++ {
		if err := s.Send(frame(seq)); err != nil {
			t.Fatalf("send %d after the damage: %v", seq, err)
		}
	}
	// c receives what is there; a has been receiving all along.
	var cFrames []received
	buf := make([]byte, maxFrame)
	for {
		n, err := c.Recv(buf, 2*time.Second)
		if errors.Is(err, unix.ETIMEDOUT) {
			break
		}
		if err != nil {
			t.Fatalf("c: Recv: %v", err)
		}
		sn, q, ok := parseFrame(buf[:n])
		cFrames = append(cFrames, received{sn, q, ok, n})
		if ok && sn == sender && q == frames-1 {
			break
		}
	}
	var aGot []received
	deadline := time.After(10 * time.Second)
collect:
	for {
		select {
		case r := <-aFrames:
			aGot = append(aGot, r)
			if r.ok && r.sender == sender && r.seq == frames-1 {
				break collect
			}
		case err := <-aErr:
			t.Fatalf("a: blocked Recv: %v", err)
		case <-deadline:
			t.Fatalf("a: frame %d not received within 10 s (got %d frames)", frames-1, len(aGot))
		}
	}
	maxDamaged := 0
	if mode == "half" {
		maxDamaged = 1
	}
	checkAfterDamage(t, "a (blocked in Recv)", aGot, sender, frames, maxDamaged)
	checkAfterDamage(t, "c", cFrames, sender, frames, maxDamaged)
	for name, i := range map[string]*shmif.Interface{"a": a, "c": c} {
		st := i.Stats()
		t.Logf("%s: stats received %d, lost %d, corrupt %d", name, st.Ipackets, st.Lost, st.Corrupt)
	}
	a.Destroy()
	if err := <-aErr; !errors.Is(err, unix.ENXIO) {
		t.Errorf("a: blocked Recv ended with %v after Destroy, want ENXIO", err)
	}
	return recovery
}

// checkAfterDamage checks what a receiver got: frames 0..n-1 of sender, in
// order, each once and intact; the dying writer's complete frame; at most
// maxDamaged frames that fail their checksum (the torn record).
func checkAfterDamage(t *testing.T, who string, got []received, sender int, n uint32, maxDamaged int) {
	t.Helper()
	next, damaged, dead := uint32(0), 0, 0
	for _, r := range got {
		switch {
		case !r.ok:
			damaged++
			t.Logf("%s: damaged frame of %d bytes (the torn record)", who, r.len)
		case r.sender == deadSender:
			dead++
		case r.sender == sender && r.seq == next:
			next++
		default:
			t.Errorf("%s: frame %d of sender %d out of order (want %d)", who, r.seq, r.sender, next)
		}
	}
	if next != n {
		t.Errorf("%s: received frames 0..%d of %d in order", who, int(next)-1, n)
	}
	if dead != 1 {
		t.Errorf("%s: received the dying writer's complete frame %d times, want 1", who, dead)
	}
	if damaged > maxDamaged {
		t.Errorf("%s: %d damaged frames, want at most %d", who, damaged, maxDamaged)
	}
}

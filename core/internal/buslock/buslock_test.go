package buslock

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libshmif/libshmif/core/internal/layout"
	"golang.org/x/sys/unix"
)

func mapBus(t testing.TB, path string) *layout.Mem {
	t.Helper()
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CREAT, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Ftruncate(fd, layout.BusSize); err != nil {
		t.Fatal(err)
	}
	b, err := unix.Mmap(fd, 0, layout.BusSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Munmap(b) })
	return layout.NewMem(b)
}

// TestMain lets the test binary act as a child process that takes the lock
// and waits to be killed.
func TestMain(m *testing.M) {
	if path := os.Getenv("BUSLOCK_CHILD_BUS"); path != "" {
		fd, _ := unix.Open(path, unix.O_RDWR, 0)
		b, _ := unix.Mmap(fd, 0, layout.BusSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
		mem := layout.NewMem(b)
		lock(mem, Limit{})
		os.Stdout.WriteString("locked\n")
		time.Sleep(time.Hour)
	}
	os.Exit(m.Run())
}

// docs/protocol.md §4: the lock excludes across goroutines (and processes:
// same word).
func TestMutualExclusion(t *testing.T) {
	m := layout.NewMem(make([]byte, layout.BusSize))
	var wg sync.WaitGroup
	counter := m.Data()[:8]
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 2000 {
				if err := lock(m, Limit{}); err != nil {
					t.Error(err)
					return
				}
				// A non-atomic read-modify-write: lost updates show a
				// broken lock.
				v := layout.NativeEndian.Uint64(counter)
				layout.NativeEndian.PutUint64(counter, v+1)
				unlock(m)
			}
		}()
	}
	wg.Wait()
	if v := layout.NativeEndian.Uint64(counter); v != 8000 {
		t.Fatalf("counter %d want 8000", v)
	}
	if *m.LockWord() != 0 || *m.SpareWord() != 0 {
		t.Fatal("lock or holder word left set")
	}
}

// The holder's pid is recorded in the spare word while the lock is held.
func TestHolderRecorded(t *testing.T) {
	m := layout.NewMem(make([]byte, layout.BusSize))
	lock(m, Limit{})
	if *m.LockWord() != 1 || *m.SpareWord() != uint32(os.Getpid()) {
		t.Fatalf("lock %d holder %d", *m.LockWord(), *m.SpareWord())
	}
	unlock(m)
}

// Issue: a process killed while holding the lock does not wedge the bus;
// waiters take over it, long before they would give up.
func TestDeadHolderTakenOver(t *testing.T) {
	// Only the dead pid may get the lock taken over here, not the
	// timeout for holders that left none.
	defer func(d time.Duration) { UnknownHolderTimeout = d }(UnknownHolderTimeout)
	UnknownHolderTimeout = time.Hour
	path := t.TempDir() + "/bus"
	m := mapBus(t, path)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "BUSLOCK_CHILD_BUS="+path)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if line, _ := bufio.NewReader(out).ReadString('\n'); line != "locked\n" {
		t.Fatalf("child said %q", line)
	}
	if *m.SpareWord() != uint32(cmd.Process.Pid) {
		t.Fatalf("holder %d, child %d", *m.SpareWord(), cmd.Process.Pid)
	}
	// Waiters are already spinning when the holder dies.
	const waiters = 3
	var took atomic.Int32
	done := make(chan time.Duration, waiters)
	var killed time.Time
	var killedMu sync.Mutex
	for range waiters {
		go func() {
			if err := lock(m, Limit{}); err != nil {
				t.Error(err)
			}
			took.Add(1)
			killedMu.Lock()
			d := time.Since(killed)
			killedMu.Unlock()
			unlock(m)
			done <- d
		}()
	}
	time.Sleep(50 * time.Millisecond)
	if took.Load() != 0 {
		t.Fatal("lock taken while the holder lives")
	}
	// Killed but not reaped: a zombie is as dead as a holder can be.
	killedMu.Lock()
	cmd.Process.Kill()
	killed = time.Now()
	killedMu.Unlock()
	defer cmd.Wait()
	// A waiter that does not see the holder die gives up with EDEADLK
	// after GiveUpTimeout (10 s): that, not a second lost to a loaded
	// machine, is the failure to catch.
	var worst time.Duration
	for range waiters {
		select {
		case d := <-done:
			worst = max(worst, d)
		case <-time.After(30 * time.Second):
			t.Fatal("waiters still blocked 30 s after the holder died")
		}
	}
	if worst >= GiveUpTimeout/2 {
		t.Fatalf("took %v to recover", worst)
	}
	t.Logf("all %d waiters had the lock %v after the holder was killed", waiters, worst)
}

// A holder that left no pid (a NetBSD peer, or a process that died in the
// instant after taking the lock) is taken over after UnknownHolderTimeout.
func TestUnknownHolderTakenOverAfterTimeout(t *testing.T) {
	defer func(d time.Duration) { UnknownHolderTimeout = d }(UnknownHolderTimeout)
	UnknownHolderTimeout = 100 * time.Millisecond
	m := layout.NewMem(make([]byte, layout.BusSize))
	*m.LockWord() = 1
	start := time.Now()
	if err := lock(m, Limit{}); err != nil {
		t.Fatal(err)
	}
	// The upper bound tells a takeover from waiting for GiveUpTimeout; it
	// leaves room for a loaded machine.
	if d := time.Since(start); d < UnknownHolderTimeout || d > UnknownHolderTimeout+5*time.Second {
		t.Fatalf("took over after %v", d)
	}
	unlock(m)
}

// A live holder is never taken over; the waiter gives up with EDEADLK.
func TestLiveHolderNotTakenOver(t *testing.T) {
	defer func(d time.Duration) { GiveUpTimeout = d }(GiveUpTimeout)
	GiveUpTimeout = 200 * time.Millisecond
	m := layout.NewMem(make([]byte, layout.BusSize))
	*m.LockWord() = 1
	*m.SpareWord() = 1 // init: alive and not us
	if err := lock(m, Limit{}); !errors.Is(err, unix.EDEADLK) {
		t.Fatalf("got %v want EDEADLK", err)
	}
	if *m.SpareWord() != 1 {
		t.Fatal("holder word changed")
	}
}

// NetBSD proceeds without the lock on a damaged lock word; we repair it.
func TestDamagedLockWordRepaired(t *testing.T) {
	m := layout.NewMem(make([]byte, layout.BusSize))
	*m.LockWord() = 7
	if err := lock(m, Limit{}); err != nil {
		t.Fatal(err)
	}
	if *m.LockWord() != 1 {
		t.Fatalf("lock word %d", *m.LockWord())
	}
	unlock(m)
}

// A waiter that has waited long for one holder must not take the lock
// from the next holder just because that one recorded no pid: the unknown
// holder's own time counts, not the waiter's.
func TestUnknownHolderTimedFromHandOff(t *testing.T) {
	defer func(d time.Duration) { UnknownHolderTimeout = d }(UnknownHolderTimeout)
	UnknownHolderTimeout = 200 * time.Millisecond
	m := layout.NewMem(make([]byte, layout.BusSize))
	*m.LockWord() = 1
	atomic.StoreUint32(m.SpareWord(), 1) // init: alive, not us
	got := make(chan time.Time, 1)
	go func() {
		lock(m, Limit{})
		got <- time.Now()
	}()
	time.Sleep(300 * time.Millisecond)
	handOff := time.Now()
	atomic.StoreUint32(m.SpareWord(), 0) // a NetBSD peer holds it now
	select {
	case at := <-got:
		if d := at.Sub(handOff); d < UnknownHolderTimeout {
			t.Fatalf("took the lock %v after the hand-off", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("never took over the unknown holder")
	}
}

// Issue 10.4: a holder that left no pid (a NetBSD peer) but makes the bus
// progress (it writes frames: last changes) is never taken over, however
// long it holds the lock; the waiter gets the lock when it is released.
// The waiter is not fooled by having seen the lock busy at every look.
func TestNoTakeoverWhileBusMakesProgress(t *testing.T) {
	defer func(d time.Duration) { UnknownHolderTimeout = d }(UnknownHolderTimeout)
	// Far above the 20 ms between the holder's frames: a holder goroutine
	// late by a few hundred ms on a loaded machine has not stopped.
	UnknownHolderTimeout = time.Second
	m := layout.NewMem(make([]byte, layout.BusSize))
	atomic.StoreUint32(m.LockWord(), 1) // a NetBSD peer: no pid
	before := takeovers.Load()
	var released atomic.Int64
	go func() {
		// Writes a frame every 20 ms for 1.5 s, holding the lock.
		for k := range 75 {
			m.SetLast(uint32(24 * (k + 1)))
			time.Sleep(20 * time.Millisecond)
		}
		released.Store(time.Now().UnixNano())
		atomic.StoreUint32(m.LockWord(), 0)
	}()
	err := With(m, func() error {
		if released.Load() == 0 {
			t.Error("took the lock while its holder was writing")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := takeovers.Load() - before; n != 0 {
		t.Fatalf("%d takeovers", n)
	}
}

// With releases the lock when fn panics (a fault on a truncated mapping).
func TestWithReleasesOnPanic(t *testing.T) {
	m := layout.NewMem(make([]byte, layout.BusSize))
	func() {
		defer func() { recover() }()
		With(m, func() error { panic("fault") })
	}()
	if *m.LockWord() != 0 || *m.SpareWord() != 0 {
		t.Fatalf("lock %d holder %d after a panic", *m.LockWord(), *m.SpareWord())
	}
	TryWith(m, time.Millisecond, func() error { return nil })
	func() {
		defer func() { recover() }()
		TryWith(m, time.Millisecond, func() error { panic("fault") })
	}()
	if *m.LockWord() != 0 {
		t.Fatal("TryWith left the lock held after a panic")
	}
}

// A caller with a deadline gives up at it (ETIMEDOUT) when a live holder
// keeps the lock, instead of waiting GiveUpTimeout; a dead holder is
// taken over at the deadline all the same.
func TestWithLimit(t *testing.T) {
	m := layout.NewMem(make([]byte, layout.BusSize))
	w, spare := m.LockWord(), m.SpareWord()
	atomic.StoreUint32(w, 1)
	atomic.StoreUint32(spare, 1) // init: alive and not us
	start := time.Now()
	err := WithLimit(m, Limit{Deadline: start.Add(30 * time.Millisecond)}, func() error { return nil })
	if took := time.Since(start); !errors.Is(err, unix.ETIMEDOUT) || took > 2*time.Second {
		t.Fatalf("held by a live process: %v after %v, want ETIMEDOUT at the deadline", err, took)
	}
	start = time.Now()
	err = WithLimit(m, Limit{Wait: 30 * time.Millisecond}, func() error { return nil })
	if took := time.Since(start); !errors.Is(err, unix.ETIMEDOUT) || took > 2*time.Second {
		t.Fatalf("held by a live process, 30 ms to wait: %v after %v, want ETIMEDOUT", err, took)
	}
	// A dead holder: taken over by the deadline at the latest.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	atomic.StoreUint32(spare, uint32(cmd.Process.Pid))
	ran := false
	if err := WithLimit(m, Limit{Wait: 5 * time.Millisecond}, func() error { ran = true; return nil }); err != nil || !ran {
		t.Fatalf("held by a dead process: %v, ran %v", err, ran)
	}
}

package hostile_test

import (
	"math/rand/v2"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// damageCases lists the cases of c/bushostile.c.
func damageCases(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command(program(t, "bushostile"), t.TempDir(), "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	cases := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(cases) < 40 {
		t.Fatalf("only %d damage cases: %q", len(cases), cases)
	}
	return cases
}

// TestBusDamage writes garbage into the header words and the ring of a bus
// under a sender A and a receiver B (with frames waiting for B): first,
// last and gen at edge values (0, DataSize-1, DataSize, 0xffffffff, gen 0
// after a wrap, gen + 5), the lock word 2 and 0xffffffff, a lock held by a
// dead pid, by no pid and by a pid over the kernel's limit, records of
// length 0, 13, 1515, 65535 and 0xffffffff (newest, waiting, straddling the
// end of the ring), sequence and sender words, the whole ring random, zero,
// 0xff or a lattice of fake records, and the magic. The promises (README,
// "Hostile bus contents" and "Dead lock holders"; libshmif(3)
// COMPATIBILITY): only documented errors (ENOEXEC once the magic is gone,
// the file then left unchanged by a refused attach); no frame under 14 or
// over 1514 bytes delivered, and no torn or repeated frame when only header
// words were damaged; no call blocks for seconds (a dead holder's lock is
// taken over within milliseconds, a pid-less holder's after 2 s); A's next
// send repairs the header so that B and a newcomer both receive it; gen
// damage makes no frame lost; frames that were waiting for B and are gone
// after a repair are counted in lost or corrupt (docs/protocol.md §9.4:
// when the numbers do not run on, a lapped reader "counts 1: at least one
// frame was lost"); with the whole ring and header random (seed
// 0x1234567), the first frame written after the repair reaches B.
func TestBusDamage(t *testing.T) {
	t.Parallel()
	cases := damageCases(t)
	// Three processes, so that the 2-second lock takeovers overlap.
	groups := make([][]string, 3)
	for i, c := range cases {
		groups[i%3] = append(groups[i%3], c)
	}
	for i, g := range groups {
		t.Run(itoa(i), func(t *testing.T) {
			t.Parallel()
			run(t, 60*time.Second, nil, program(t, "bushostile"), append([]string{t.TempDir(), "cases"}, g...)...)
		})
	}
}

// TestBusFuzz: rounds of random damage (edge values in first, last, gen,
// the newest record's and older records' lengths, random ring bytes,
// version) between random sends, batches and receives of every kind: only
// documented results, frames of 14..1514 bytes, no call over 3 s; every 100
// rounds A's next frame reaches B (logged when it does not: recovery after
// arbitrary ring damage is not promised for every frame).
func TestBusFuzz(t *testing.T) {
	t.Parallel()
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	// The bound tells a hang: make stress's 50,000 rounds take minutes.
	run(t, pick(time.Minute, 15*time.Minute), nil, program(t, "bushostile"), t.TempDir(), "fuzz", itoa(pick(800, 50000)), itoa(int(seed)))
}

// TestBusLockHeldByLiveProcess: the bus lock held by a live process (the
// test, or the program's own pid) with no progress: a send fails with
// EDEADLK after 10 s, counted in oerrors (rump.h: "EDEADLK (the bus lock
// stayed held for 10 seconds by a live process while the bus made no
// progress"); receives with timeouts 100 ms and 0 end by their deadline
// (rump.h: "0 only looks ... A timeout is a deadline"); once released, the
// bus works again.
func TestBusLockHeldByLiveProcess(t *testing.T) {
	t.Parallel()
	run(t, 60*time.Second, nil, program(t, "bushostile"), t.TempDir(), "deadlock")
}

// TestStoppedLockHolder: a libshmif writer stopped (SIGSTOP, as a debugger
// or job control does) while it holds the bus lock; another process's
// receives with timeouts 0 and 100 ms end by their deadline.
func TestStoppedLockHolder(t *testing.T) {
	t.Parallel()
	bus := busPath(t)
	w := startProc(t, nil, program(t, "writer"), bus, "batch1000", "1")
	w.expect(t, "ready", 10*time.Second)
	probe := startProc(t, nil, program(t, "bushostile"), t.TempDir(), "probe", bus)
	probe.expect(t, "ready", 10*time.Second)
	held := false
	for range 2000 {
		w.cmd.Process.Signal(stopSignal)
		// The header is read once the writer is stopped: a writer
		// still running (a signal takes effect when it next runs)
		// would release the lock and leave nothing to test.
		if !waitStopped(w.cmd.Process.Pid, 10*time.Second) {
			t.Fatalf("the writer did not stop within 10 s of SIGSTOP")
		}
		if h, err := readHeader(bus); err == nil && h[0] == 1 && int(h[1]) == w.cmd.Process.Pid {
			held = true
			break
		}
		w.cmd.Process.Signal(contSignal)
		time.Sleep(time.Duration(100+rand.IntN(900)) * time.Microsecond)
	}
	if !held {
		t.Skip("the writer was never stopped while it held the lock")
	}
	defer w.cmd.Process.Signal(contSignal)
	probe.stdin.Write([]byte("go\n"))
	probe.finish(t, 60*time.Second, "probe")
}

// TestRecvBatchReceivedOnEIO: the bus file truncated to nothing at random
// moments while four threads call shmif_recv_batch and one sends: a
// shmif_recv_batch that fails never reports frames (rump.h: "*received
// (required) is set to the number of frames filled in, also on error (then
// 0)").
func TestRecvBatchReceivedOnEIO(t *testing.T) {
	t.Parallel()
	run(t, 120*time.Second, nil, program(t, "bushostile"), t.TempDir(), "truncbatch", itoa(pick(60, 2000)))
}

// TestTruncatedUnderLiveInterfaces: the bus file truncated to 0, 100, 4096
// and 512 KiB bytes while a thread sends batches and two receive: no
// SIGBUS, only EIO (rump.h: "Memory faults on the bus mapping (the bus file
// truncated by another process) are caught and reported as EIO"); after a
// truncation below a page, send and up fail with EIO; frames lost so are
// counted in oerrors; unset and set the linkstr brings the interfaces back.
func TestTruncatedUnderLiveInterfaces(t *testing.T) {
	t.Parallel()
	run(t, 60*time.Second, nil, program(t, "bushostile"), t.TempDir(), "truncate")
}

// TestRenamedOver: a new file renamed over the bus path: the attached
// interfaces keep talking, a newcomer by path reaches the new file and not
// the old one, and re-attaching joins the newcomer (rump.h: "A bus file that
// is removed or renamed over stays attached as it was").
func TestRenamedOver(t *testing.T) {
	t.Parallel()
	run(t, 30*time.Second, nil, program(t, "bushostile"), t.TempDir(), "rename")
}

//go:build hostile_defects

// Tests that show defects found by the hostile tests and not fixed yet.
// They fail today; run them with
//
//	go test -tags hostile_defects -run Defect ./tests/hostile/capi/
//
// and move each into the default build once its defect is fixed.
package hostile_test

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestDefectFirstMovedByStranger: a stranger moves the header's first word
// forward, past records a receiver has not read but that nobody overwrote.
// libshmif(3) COMPATIBILITY: "Readers do not trust the header's generation
// and first-record words to tell whether they were lapped, so a stranger's
// write to them makes no reader deliver a frame again or count frames lost
// that were not overwritten." Today the receiver skips the frames between
// its position and first and counts them in lost (first=last: 1 of 5
// waiting frames received, lost +4; first=pending: 2 of 5, lost +3).
// (docs/protocol.md §9.6 describes this very behaviour: "a reader whose
// position lies outside the valid region [first, next write position] is
// lapped": the man page and the README's wording promise more.)
func TestDefectFirstMovedByStranger(t *testing.T) {
	run(t, 60*time.Second, nil, program(t, "bushostile"), t.TempDir(), "cases",
		"first=last", "first=last/nowrap", "first=pending")
}

// TestDefectResetDropsFramesUncounted: header words out of range (first or
// last 0xffffffff, last DataSize, random words): the next writer resets the
// ring (docs/protocol.md §9.8: "so that every reader finds itself lapped"),
// and the five frames that were waiting for the receiver are gone, but
// neither lost nor corrupt moves: the loss is invisible. §9.4: when the
// numbers do not run on, a lapped reader "counts 1: at least one frame was
// lost"; struct shmif_stats promises that lost counts records overwritten
// before the reader reached them and corrupt records skipped as damaged.
func TestDefectResetDropsFramesUncounted(t *testing.T) {
	run(t, 60*time.Second, nil, program(t, "bushostile"), t.TempDir(), "cases",
		"first=0xffffffff", "first=0xffffffff/nowrap", "last=0xffffffff", "last=DataSize", "words=random",
		"ring+words=random")
}

// TestDefectFirstFrameAfterRepairSkipped: the whole ring and the header
// words overwritten with random bytes (seed 0x1234567): the next send
// resets the ring, but the receiver that was attached through it never
// gets that frame (it counts one corrupt record and moves past it); it gets
// the frames after. A newcomer gets the frame. The frame was written whole,
// after the repair: README "damaged records are skipped and counted
// (corrupt), a damaged header is repaired by the next writer"; §9.8 "the
// ring is reset ... so that every reader finds itself lapped" (a lapped
// reader resumes at the oldest record, which is this frame).
func TestDefectFirstFrameAfterRepairSkipped(t *testing.T) {
	run(t, 60*time.Second, nil, program(t, "bushostile"), t.TempDir(), "cases", "ring+words=random/seed0")
}

// TestDefectReceiveTimeoutUnderHeldLock: the bus lock held by a live
// process that makes no progress (a stopped process, a hung NetBSD peer).
// shmif_recv with timeout 100 ms and with timeout 0 block 10 s and return
// EDEADLK. rump.h: "Timeouts are in milliseconds: 0 only looks ... A
// timeout is a deadline"; an event loop that polls with timeout 0 freezes
// for 10 s. (ERRORS lists EDEADLK for the receive calls; the deadline
// promise says they should give up by their timeout: ETIMEDOUT or EAGAIN.)
func TestDefectReceiveTimeoutUnderHeldLock(t *testing.T) {
	run(t, 60*time.Second, nil, program(t, "bushostile"), t.TempDir(), "deadlock")
}

// TestDefectRlimitChangedBeforeFirstCall: the host lowers its soft
// RLIMIT_NOFILE from 64 to 56 before its first libshmif call (or after
// rump_init), then attaches a bus: the limit is 64 again afterwards.
// rump.h: "libshmif gives the host its limit back: the one it had when the
// library was loaded or, if the host changed it before the first libshmif
// call, the one it had then"; "The process's limits and signal
// dispositions are left as the host set them."
func TestDefectRlimitChangedBeforeFirstCall(t *testing.T) {
	prlimit(t)
	for _, v := range []string{"first", "init"} {
		t.Run(v, func(t *testing.T) {
			run(t, 30*time.Second, nil, "prlimit", "--nofile=64:4096", program(t, "files"), "nofile", t.TempDir(), "64", v)
		})
	}
}

// TestDefectSignalHandlersWithoutOnstack: the storm of TestSignalStorm
// with handlers installed without SA_ONSTACK (sa_flags 0 or SA_RESTART),
// each using 2 KiB of stack and free to nest. rump.h: "Handlers the host
// installs for ... SIGUSR1, SIGALRM ... with or without SA_ONSTACK or
// SA_RESTART, keep working, also when they interrupt a thread inside
// libshmif". About one storm of 200-300 ms in 20-30 kills the process with
// a Go runtime fatal error (SIGABRT): "fatal error: unexpected signal
// during runtime execution" in runtime.exitsyscall under
// runtime.cgocallbackg, "traceback did not unwind completely", "unknown
// caller pc", always on a goroutine stack of 4 KiB: the handler's frame
// lands on a small Go stack. The test runs storms until one crashes, at
// most 40 of 300 ms.
func TestDefectSignalHandlersWithoutOnstack(t *testing.T) {
	bin := program(t, "signals")
	runs := 0
	for i := range 40 {
		flags := []string{"none", "restart"}[i%2]
		r := runRaw(t, 30*time.Second, nil, bin, busPath(t), flags, "after", "300", "2048")
		runs++
		if r.hung || r.status.Signaled() || r.status.ExitStatus() != 0 {
			tail := r.stderr
			if len(tail) > 3000 {
				tail = tail[:3000]
			}
			t.Fatalf("storm %d (flags %s): hung %v, status %v\n%s", runs, flags, r.hung, r.status, tail)
		}
	}
	t.Logf("%d storms without a crash", runs)
}

// TestDefectCancelDuringSpinLost: shmif_cancel while the receiver spins
// (before it blocks) is noticed only by the 1-second safety net of the
// wait. With spin 100 ms and the cancel 20 ms into the receive, the
// receiver returns ECANCELED after ~980 ms (down and destroy in the same
// place release it when the spin ends, ~80 ms). With the default spin of
// 50 us and cancels at random moments of the first 80 us of a receive, 9 of
// 81 cancelled receives took ~1000 ms. rump.h shmif_cancel: "make every
// thread blocked in shmif_recv ... return ECANCELED"; README: "Why no
// wake-up is lost" — this one is lost and rescued by the time-out.
func TestDefectCancelDuringSpinLost(t *testing.T) {
	run(t, 200*time.Second, nil, program(t, "starts"), "spinrelease", t.TempDir())
}

// TestDefectStoppedLockHolder: the realistic form of
// TestDefectReceiveTimeoutUnderHeldLock. A libshmif writer is stopped
// (SIGSTOP, as a debugger or a job-control stop does) while it holds the
// bus lock; another process then attaches and receives with timeouts 0 and
// 100 ms: each blocks for the 10 s of the EDEADLK rule instead of ending by
// its deadline (rump.h: "0 only looks ... A timeout is a deadline").
func TestDefectStoppedLockHolder(t *testing.T) {
	bus := busPath(t)
	w := startProc(t, nil, program(t, "writer"), bus, "batch1000", "1")
	w.expect(t, "ready", 10*time.Second)
	probe := startProc(t, nil, program(t, "bushostile"), t.TempDir(), "probe", bus)
	probe.expect(t, "ready", 10*time.Second)
	held := false
	for range 2000 {
		w.cmd.Process.Signal(stopSignal)
		time.Sleep(2 * time.Millisecond) // let the stop take effect
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

//go:build hostile_defects

// Tests that show defects found by the hostile tests and not fixed yet, or
// (TestDefectSignalHandlersWithoutOnstack) kept as the record of a limit
// the header now states. They fail today; run them with
//
//	go test -tags hostile_defects -run Defect ./tests/hostile/capi/
//
// and move each into the default build once its defect is fixed.
package hostile_test

import (
	"testing"
	"time"
)

// TestDefectFirstFrameAfterDamage: random damage to the header words and
// the ring between the calls of a sender A and a receiver B (c/bushostile.c
// fuzz, strict: after every round A sends and B must receive that very
// frame). Seed 23 misses one frame in 800 rounds, as do about half of the
// seeds tried (1 in 1,600 rounds; it was 26 in 800 before a writer reset
// the ring for a last moved into an older record and a reader went to the
// newest record after a broken chain: docs/protocol.md §9.6, §9.8). What
// is left: last moved to a place whose bytes read as a sane header (an
// empty record, say); A appends after it, and B, left without an anchor by
// earlier damage, finds itself past the new write position and resumes
// after A's frame. The frames that were waiting may be lost; the frame
// written after the damage should not be.
func TestDefectFirstFrameAfterDamage(t *testing.T) {
	run(t, 120*time.Second, nil, program(t, "bushostile"), t.TempDir(), "fuzz", "800", "23", "strict", "1")
}

// TestDefectSignalHandlersWithoutOnstack: the storm of TestSignalStorm
// with handlers installed without SA_ONSTACK (sa_flags 0 or SA_RESTART),
// each using 2 KiB of stack and free to nest, starting while the threads
// make their first calls. About one storm of 200-300 ms in 20-30 killed the
// process with a Go runtime fatal error (SIGABRT): "fatal error: unexpected
// signal during runtime execution" in runtime.exitsyscall under
// runtime.cgocallbackg, "traceback did not unwind completely", "unknown
// caller pc", always on a goroutine stack of 4 KiB. rump.h now states the
// limit (a thread's first call runs on a 4 KiB goroutine stack; give such
// handlers SA_ONSTACK); this test stays as the record. It runs storms until
// one crashes, at most 40 of 300 ms.
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

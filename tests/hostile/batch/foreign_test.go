package batch_test

import (
	"fmt"
	"testing"
	"time"
)

// netbsdMix runs two flooding libshmif writers and one NetBSD-style writer
// (c/bat.c netbsd: the lock word taken by compare-and-swap, last stored
// before the record, the lock held 0..6 us between header and frame, gen
// after the data, the wake-up write every 32 frames) against receivers of
// every kind, stopped at random, with a walker that takes the lock every
// 200 us and checks that the chain of records from first meets the next
// write position with every length sane. NetBSD records carry no sequence
// numbers, so loss is counted as at least one per gap: frames must be
// whole and in order and received <= sent.
func netbsdMix(t *testing.T) []readerResult {
	return exact(t, []string{"batch256", "batch4", "randn", "recv"}, 2, pick(150000, 1500000), 8*time.Millisecond,
		func(bin, bus string, s uint64) (int, func()) {
			n := pick(60000, 600000)
			p := start(t, bin, "netbsd", bus, "900", fmt.Sprint(s+7), fmt.Sprint(n), "3")
			w := start(t, bin, "walker", bus, "3000")
			return n, func() { p.wait(t, 120*time.Second); w.wait(t, 120*time.Second) }
		})
}

// TestNetBSDWriterMix: see netbsdMix. (That the readers also count no
// corrupt record is TestDefectNetBSDMixCorrupt.)
func TestNetBSDWriterMix(t *testing.T) {
	netbsdMix(t)
}

// stranger runs a process that scribbles WHAT without the bus lock for the
// writers' whole run.
func stranger(what string, ms int) func(bin, bus string, s uint64) (int, func()) {
	return func(bin, bus string, s uint64) (int, func()) {
		return 0, func() {}
	}
}

//go:build hostile_defects

package batch_test

import (
	"testing"
	"time"
)

// TestDefectGenFreeze: a stranger stores the gen it first read (0), over
// and over (c/bat.c stranger genfreeze), so that gen never moves while two
// flooding libshmif writers lap the receivers (stopped at random for up
// to 8 ms); a walker takes the lock every 200 us and finds the ring sound
// every time (gen places no record, and libshmif writers commit whole
// records). The receivers' anchors (docs/protocol.md 9.6) are there to
// catch laps that gen does not show, yet receivers deliver torn frames
// (wrong type field or CRC), with shmif_recv_batch and shmif_recv alike:
// 2 of 20 reader runs of 4 s in one series, 1 of 16 in another. Up to
// eight rounds, stopping at the first failure.
func TestDefectGenFreeze(t *testing.T) {
	for round := 0; round < 8 && !t.Failed(); round++ {
		exact(t, []string{"batch256", "batch4", "randn", "recv"}, 2, 150000, 8*time.Millisecond,
			func(bin, bus string, s uint64) (int, func()) {
				_, sw := strangerRun(t, "genfreeze", 4000)(bin, bus, s)
				w := start(t, bin, "walker", bus, "4000")
				return 0, func() { sw(); w.wait(t, 60*time.Second) }
			})
	}
}

// TestDefectStrangerGen: a stranger rewrites only gen without the lock
// every 0..2 ms (c/bat.c stranger gen: +1 or -1 for 0..50 us and put back,
// or moved by -1, 0 or +1 for good), while two writers flood and
// receivers of every kind, stopped at random for up to 8 ms, stream a
// backlog and get lapped. gen places no record, so every record on the bus
// stays whole; yet about one run in four a receiver delivers a torn frame
// (type field wrong: "check -2"), seen with shmif_recv_batch (batch4) and
// shmif_recv alike. Up to eight rounds, stopping at the first failure.
func TestDefectStrangerGen(t *testing.T) {
	for round := 0; round < 8 && !t.Failed(); round++ {
		exact(t, []string{"batch256", "batch4", "randn", "recv"}, 2, 150000, 8*time.Millisecond,
			strangerRun(t, "gen", 4000))
	}
}

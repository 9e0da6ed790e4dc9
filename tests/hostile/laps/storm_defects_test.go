//go:build hostile_defects

package laps_test

import (
	"fmt"
	"testing"
)

// TestDefectStormGenLossExact: in the gen storm (TestStormStrangerGen: two
// libshmif writers, two receivers stopped and continued at random, a
// stranger rewriting gen without the lock), a receiver now and then gives
// up its position as damage (Corrupt becomes 1, though no record is
// damaged) and skips a few thousand frames without counting them in Lost:
// received + Lost < sent. No frame is torn or delivered twice, and
// nothing is counted lost that was received, so README's promise for gen
// holds; what fails is §9.4's exact loss count: a stranger's gen write
// makes a reader skip frames uncounted (whether they were still on the bus
// cannot be told from outside). Not every storm shows it (about one 2.5 s
// storm in ten when measured); this test runs several, SHMIF_STRESS=full
// more.
func TestDefectStormGenLossExact(t *testing.T) {
	n := pick(8, 40)
	for i := 0; i < n; i++ {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			res := stormGen(t)
			for k, r := range res.receivers {
				t.Logf("receiver%d: corrupt %d", k+1, r.Corrupt)
			}
			exactLoss(t, res)
		})
	}
}

// noDups fails for every frame a receiver delivered twice.
func noDups(t *testing.T, res stormResult) {
	t.Helper()
	for i, r := range res.receivers {
		if r.Dup > 0 || r.Reorder > 0 {
			t.Errorf("receiver%d: %d frames delivered twice, %d out of order (%d corrupt, %d lost)", i+1, r.Dup, r.Reorder, r.Corrupt, r.Lost)
		}
	}
	lossBalance(t, res)
}

// TestDefectStormPadDuplicates: a stranger that, without the lock,
// rewrites only the padding (sequence) word of records in the half ring
// behind the write position makes lapped receivers deliver frames again,
// by the hundred thousand in a 2.5 s storm (every storm measured), and
// count frames lost that they received. The README promises no duplicate
// only for a stranger's write to gen; that the padding word should not
// cause them either is this test's reading (§9.6 trusts the anchor's
// whole header and the sequence numbers behind it).
func TestDefectStormPadDuplicates(t *testing.T) {
	noDups(t, storm(t, stormConfig{stranger: "pad", dur: stormDur()}))
}

// TestDefectStormPadSlowDuplicates: the same with one padding-word write
// a millisecond: the duplicates do not need a flood of stranger writes.
func TestDefectStormPadSlowDuplicates(t *testing.T) {
	noDups(t, storm(t, stormConfig{stranger: "padslow", dur: stormDur()}))
}

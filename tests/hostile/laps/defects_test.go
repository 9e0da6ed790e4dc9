//go:build hostile_defects

package laps_test

import (
	"fmt"
	"testing"
)

// TestDefectHeaderWordDamage runs the cases of words_test.go's table that
// show a defect (their defect field names it); see TestHeaderWordDamage
// for what each trial checks.
func TestDefectHeaderWordDamage(t *testing.T) { headerWordDamage(t, true) }

// TestDefectCraftedLapHeldGen: the crafted lap of craftedLap, and a
// stranger stores gen back to its value before the lap (only a header
// word). The reader takes its insane anchor for damage (a sane chain
// meets the next write position from its position), NetBSD's rule then
// reads the held gen, and the reader delivers 76 bytes from inside
// another frame: a frame no writer sent.
func TestDefectCraftedLapHeldGen(t *testing.T) {
	s := seed(t)
	bad := 0
	trials := pick(5, 40)
	var first string
	for k := 0; k < trials; k++ {
		got, fake, lost := craftedLap(t, s+uint64(k), true)
		if n, kinds := countFake(got, fake); n != 0 {
			bad++
			if first == "" {
				first = fmt.Sprintf("trial %d: %s; lost %d", k, kinds, lost)
			}
		}
	}
	if bad > 0 {
		t.Errorf("SHMIF_SEED=%d: %d of %d trials delivered a frame from inside another frame; %s", s, bad, trials, first)
	}
}

// TestDefectAnchorInsaneYoungBus: TestAnchorInsaneByStranger on a bus that
// has not wrapped yet (gen 0, first still DataSize).
func TestDefectAnchorInsaneYoungBus(t *testing.T) { anchorInsane(t, true) }

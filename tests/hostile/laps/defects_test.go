//go:build hostile_defects

package laps_test

import (
	"fmt"
	"testing"
)

// TestDefectHeaderWordDamage runs every case of words_test.go's table with
// the first-frame check too; see TestHeaderWordDamage for what each trial
// checks. The cases marked with a defect fail:
//
//   - sane-last-moved-back (last-older-record and last-and-gen 40 of 40,
//     last-first 20-27 of 40): last moved back to an older record, whose
//     header is sane. Nothing shows that last moved; the writer appends
//     after that record and numbers its frames after it, so the first of
//     them carries a number a reader has read already, and a reader that
//     the overwriting sends back to the oldest record skips it as read
//     before. The frames after it arrive.
//
//   - last-inside-record (last-inside-older-record and last-inside-newest
//     1-3 of 40, last-zero 18-22 of 40): last moved inside a record, at
//     bytes that read as a sane header (a length of 0 or 1, say): the
//     writer appends there, over the tail of that record, and a reader
//     behind may deliver the record torn, and lose the first frame.
//     (Where the bytes read as an insane header the writer resets the
//     ring, and these pass.)
//
//   - sane-last-moved-forward (last-next-write, about 1 in 100 trials):
//     last moved to the next write position, where a record of the lap
//     before still reads as sane: a reader caught up reads that old
//     record as new (one frame delivered twice), and the first frame
//     after the damage can be lost.
//
// first-random misses the first frame in about 1 of 200 trials here.
func TestDefectHeaderWordDamage(t *testing.T) { headerWordDamage(t, true) }

// TestDefectCraftedLapHeldGen: the crafted lap of craftedLap, and a
// stranger stores gen back to its value before the lap (only a header
// word). The reader takes its insane anchor for damage (a sane chain
// meets the next write position from its position), NetBSD's rule then
// reads the held gen, and the reader delivers 76 bytes from inside
// another frame: a frame no writer sent. (A sender that chooses its bytes
// and a stranger together: anyone who may write the bus may also write a
// whole record of their own under the lock.)
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

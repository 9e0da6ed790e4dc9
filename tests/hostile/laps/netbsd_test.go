package laps_test

import (
	"fmt"
	"testing"
)

// netbsdLap: a NetBSD-order writer (harness: last stored before the
// record, first moved piece by piece) whose padding word is pad(i) writes
// to a libshmif reader, which reads some frames, then pauses while the
// writer laps it (1.5 rings), then reads; then the writer sends 20 more
// frames, one receive after each. NetBSD leaves its stack's garbage in
// the padding word, often the same value every time (the same stack
// frame). Returns frames received after the lap, and of the 20 sent
// after the reader caught up, how many arrived.
func netbsdLap(t *testing.T, ts uint64, pad func(i uint32) uint32) (tl *tally, late int, lost uint64, msg string) {
	rng := newRand(ts)
	path := newBus(t)
	r := open(t, path)
	b := mapBus(t, path)
	var i uint32
	nw := &netbsdWriter{b: b, sender: 0x7777, pad: func() uint32 { i++; return pad(i) }}
	seq := uint64(0)
	send := func(n int) {
		for k := 0; k < n; k++ {
			nw.send(mkFrame(9, seq, minTest+rng.IntN(maxFrame-minTest)))
			seq++
		}
	}
	tl = newTally()
	send(200)
	drain(t, r, tl)
	if tl.got != seq {
		return tl, 0, 0, fmt.Sprintf("before the lap: got %d of %d", tl.got, seq)
	}
	// Lap the reader: about 1.5 rings of records.
	for sum := 0; sum < dataSize*3/2; {
		l := minTest + rng.IntN(maxFrame-minTest)
		nw.send(mkFrame(9, seq, l))
		seq++
		sum += hdrSize + l
	}
	drain(t, r, tl)
	before := tl.got
	for k := 0; k < 20; k++ {
		send(1)
		drain(t, r, tl)
	}
	late = int(tl.got - before)
	return tl, late, r.Stats().Lost, ""
}

// TestNetBSDWriterRandomPadding: with a random padding word, a lapped
// libshmif reader must deliver no invented or duplicated frame, count at
// least one lost frame, and receive every frame sent after it caught up.
func TestNetBSDWriterRandomPadding(t *testing.T) {
	netbsdPadding(t, "random", func(rng uint64) func(uint32) uint32 {
		r := newRand(rng)
		return func(uint32) uint32 { return r.Uint32() }
	})
}

func netbsdPadding(t *testing.T, name string, mk func(uint64) func(uint32) uint32) {
	s := seed(t)
	trials := pick(10, 60)
	bad := 0
	for k := 0; k < trials; k++ {
		ts := s + uint64(k)
		tl, late, lost, msg := netbsdLap(t, ts, mk(ts))
		if msg == "" && (tl.foreign != 0 || tl.dup != 0) {
			msg = fmt.Sprintf("%v (first bad % x)", tl, head(tl.firstBad))
		}
		if msg == "" && lost == 0 {
			msg = fmt.Sprintf("lapped, yet lost 0 (%v)", tl)
		}
		if msg == "" && late != 20 {
			msg = fmt.Sprintf("of 20 frames sent after the reader caught up, %d arrived (%v, lost %d)", late, tl, lost)
		}
		if msg != "" {
			if bad < 3 {
				t.Errorf("padding %s, SHMIF_SEED=%d trial %d: %s", name, s, k, msg)
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("padding %s: %d of %d trials failed (SHMIF_SEED=%d)", name, bad, trials, s)
	}
}

// TestNetBSDWriterConstantPadding: netbsdLap with the padding words
// a NetBSD kernel may well leave: the same value in every record (0, or a
// stack address's low word), or small numbers. Such numbers lie within a ring's worth below the
// newest number read (§9.6 "read before"); the reader must still
// deliver the frames after the lap.
func TestNetBSDWriterConstantPadding(t *testing.T) {
	for _, c := range []struct {
		name string
		pad  func(uint64) func(uint32) uint32
	}{
		{"zero", func(uint64) func(uint32) uint32 { return func(uint32) uint32 { return 0 } }},
		{"constant", func(s uint64) func(uint32) uint32 { v := uint32(s); return func(uint32) uint32 { return v } }},
		{"counter-from-0", func(uint64) func(uint32) uint32 { return func(i uint32) uint32 { return i / 7 } }},
	} {
		t.Run(c.name, func(t *testing.T) { netbsdPadding(t, c.name, c.pad) })
	}
}

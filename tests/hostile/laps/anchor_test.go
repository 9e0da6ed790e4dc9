package laps_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"
)

// TestAnchorInsaneByStranger: a stranger turns a reader's anchor (the
// header of the record before its position, docs/protocol.md §9.6) into
// an insane header (length over 1514), for a reader caught up (its anchor
// is the newest record, which the next writer must repair, §9.8) and for
// readers 1..30 records behind (an older record of the chain). Then the
// writer sends frames. No reader may deliver a frame no writer sent, or a
// frame twice, and every frame sent after the damage must arrive (the
// records from the reader's position still meet the next write position:
// nothing was lapped).
func TestAnchorInsaneByStranger(t *testing.T) { anchorInsane(t, false) }

// TestAnchorInsaneByStrangerYoungBus: the same on a bus that has not
// wrapped yet (gen 0, first still DataSize). A reader caught up delivered
// the ring again (39 of 45 frames, 20 of 20 trials): taking the changed
// anchor for a lap, it went back to the dummy record at 0, whose number,
// 0, it took for its newest, so that no record after it looked read.
func TestAnchorInsaneByStrangerYoungBus(t *testing.T) { anchorInsane(t, true) }

// anchorInsane runs the trials, on buses that have wrapped or on young
// ones.
func anchorInsane(t *testing.T, young bool) {
	s := seed(t)
	trials := pick(30, 300)
	fails := map[string]int{}
	runs := map[string]int{}
	var firstMsg []string
	for k := 0; k < trials; k++ {
		ts := s + uint64(k)
		rng := newRand(ts)
		path := newBus(t)
		w := &sender{ifc: open(t, path), id: 1, rng: rng}
		r := open(t, path)
		b := mapBus(t, path)
		tl := newTally()
		rounds := 0
		if !young {
			rounds = 2 + rng.IntN(3)
		}
		for i := 0; i < rounds; i++ {
			w.sendBytes(t, dataSize/2)
			drain(t, r, tl)
		}
		w.send(t, 40)
		behind := 0
		if k%3 != 0 {
			behind = 1 + rng.IntN(30)
		}
		// Read all but the newest behind records.
		recs := b.records()
		buf := make([]byte, maxFrame)
		for tl.got+uint64(behind) < w.seq {
			n, err := r.Recv(buf, 0)
			if err != nil {
				t.Fatalf("Recv: %v", err)
			}
			tl.add(buf[:n])
		}
		anchor := recs[len(recs)-1-behind]
		var insane [4]byte
		binary.NativeEndian.PutUint32(insane[:], uint32(maxFrame+1+rng.IntN(1<<20)))
		b.lock()
		b.poke(anchor, insane[:])
		b.unlock()
		after := w.seq
		w.send(t, 5)
		drain(t, r, tl)
		st := r.Stats()
		kind := "caught-up"
		if behind > 0 {
			kind = "behind"
		}
		runs[kind]++
		var msg string
		if tl.foreign != 0 || tl.dup != 0 {
			msg = fmt.Sprintf("SHMIF_SEED=%d (trial %d), young %v, %d behind: %v (first bad % x)", s, k, young, behind, tl, head(tl.firstBad))
		}
		for q := after; q < w.seq && msg == ""; q++ {
			if !tl.seen[[2]uint64{1, q}] {
				msg = fmt.Sprintf("SHMIF_SEED=%d (trial %d), young %v, %d behind: frame %d sent after the damage never arrived (%v, lost %d corrupt %d)",
					s, k, young, behind, q, tl, st.Lost, st.Corrupt)
			}
		}
		if msg != "" {
			fails[kind]++
			if len(firstMsg) < 4 {
				firstMsg = append(firstMsg, msg)
			}
		}
		r.Destroy()
		w.ifc.Destroy()
		b.close()
	}
	for _, m := range firstMsg {
		t.Error(m)
	}
	for kind, n := range fails {
		t.Errorf("%s readers: %d of %d trials failed (SHMIF_SEED=%d)", kind, n, runs[kind], s)
	}
}

// craftedLap sets up a real lap that looks like a stranger's damage to the
// reader: one writer's frames are crafted so that, after it has lapped a
// paused reader, the bytes at the reader's old anchor read as an insane
// header and the bytes at its old position read as a sane record header
// whose length ends exactly at the next write position (§9.6: "the
// records from the reader's position on still meet the next write
// position ... where no such chain starts but by rare chance": a sender
// chooses its frame bytes, so chance has nothing to do with it). If
// holdGen, a stranger then stores gen back to the value it had before the
// lap (touching only a header word), which hides the lap from NetBSD's
// rule. It returns what the reader received and the fake frame: the
// bytes from inside the crafted frame that a fooled reader would deliver.
func craftedLap(t *testing.T, ts uint64, holdGen bool) (got [][]byte, fake []byte, lost uint64) {
	rng := newRand(ts)
	path := newBus(t)
	w := &sender{ifc: open(t, path), id: 1, rng: rng}
	r := open(t, path)
	b := mapBus(t, path)
	tl := newTally()
	// Wrap the ring, so that records fill it, then read everything up to
	// a 60-byte anchor record.
	for i := 0; i < 2+rng.IntN(3); i++ {
		w.sendBytes(t, dataSize/2)
		drain(t, r, tl)
	}
	if err := w.ifc.Send(w.frame(60)); err != nil {
		t.Fatal(err)
	}
	drain(t, r, tl)
	if tl.got != w.seq {
		t.Fatalf("warm-up: got %d of %d", tl.got, w.seq)
	}
	a0 := b.last()
	p := b.nextpktoff(a0)
	if a0 != (p+dataSize-hdrSize-60)%dataSize {
		t.Fatalf("anchor at %#x, position %#x", a0, p)
	}
	anchorSeq := b.header(a0).Pad
	g0 := b.gen()

	// Fill dataSize-400 bytes from p, then one 476-byte frame F from
	// p-400 to p+100: the anchor (p-84) and the position lie in F's data.
	fill := dataSize - 400
	for fill > 2*(hdrSize+maxFrame) {
		if err := w.ifc.Send(w.frame(maxFrame)); err != nil {
			t.Fatal(err)
		}
		fill -= hdrSize + maxFrame
	}
	r1 := fill / 2
	for _, rec := range []int{r1, fill - r1} {
		if err := w.ifc.Send(w.frame(rec - hdrSize)); err != nil {
			t.Fatal(err)
		}
	}
	if got := b.nextpktoff(b.last()); got != (p+dataSize-400)%dataSize {
		t.Fatalf("filler ends at %#x, want %#x", got, (p+dataSize-400)%dataSize)
	}
	const flen = 476
	f := make([]byte, flen)
	copy(f, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 0x66, 0x88, 0xb5})
	// F's data starts at p-376: the anchor's length word is F[292:296],
	// the fake header at the position is F[376:400], the fake frame
	// F[400:476].
	binary.NativeEndian.PutUint32(f[292:], 0xFFFFFFFF)
	fakeLen := flen - 400
	binary.NativeEndian.PutUint32(f[376:], uint32(fakeLen))
	binary.NativeEndian.PutUint32(f[388:], anchorSeq+1)
	binary.NativeEndian.PutUint64(f[392:], 0x6666)
	copy(f[400:], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 0x66, 0x88, 0xb5, 'F', 'A', 'K', 'E'})
	fake = append([]byte(nil), f[400:]...)
	if err := w.ifc.Send(f); err != nil {
		t.Fatal(err)
	}
	if next := b.nextpktoff(b.last()); next != (p+100)%dataSize {
		t.Fatalf("F ends at %#x, want %#x", next, (p+100)%dataSize)
	}
	if h := b.header(a0); h.Len <= maxFrame {
		t.Fatalf("anchor reads %d, want insane", h.Len)
	}
	if h := b.header(p); int(h.Len) != fakeLen {
		t.Fatalf("position reads %d, want %d", h.Len, fakeLen)
	}
	if holdGen {
		b.lock()
		b.setGen(g0)
		b.unlock()
	}
	buf := make([]byte, maxFrame)
	for i := 0; i < 5000; i++ {
		n, err := r.Recv(buf, 0)
		if err != nil {
			break
		}
		got = append(got, append([]byte(nil), buf[:n]...))
	}
	lost = r.Stats().Lost
	r.Destroy()
	w.ifc.Destroy()
	b.close()
	return got, fake, lost
}

func countFake(got [][]byte, fake []byte) (fakes int, kinds string) {
	var legit, crafted, other int
	for _, g := range got {
		switch {
		case bytes.Equal(g, fake):
			fakes++
		case len(g) == 476 && g[11] == 0x66:
			crafted++
		default:
			if _, _, ok := parseFrame(g); ok {
				legit++
			} else {
				other++
			}
		}
	}
	return fakes, fmt.Sprintf("%d frames: %d fake, %d crafted F, %d numbered, %d other", len(got), fakes, crafted, legit, other)
}

// TestCraftedLapGenIntact: the crafted lap of craftedLap with gen left as
// the writers put it. The reader's anchor reads insane, and its position
// starts a sane chain that meets the next write position, but gen shows
// the lap: the reader must not deliver the bytes at its old position.
func TestCraftedLapGenIntact(t *testing.T) {
	s := seed(t)
	for k := 0; k < pick(5, 40); k++ {
		got, fake, lost := craftedLap(t, s+uint64(k), false)
		if n, kinds := countFake(got, fake); n != 0 {
			t.Fatalf("SHMIF_SEED=%d trial %d: a frame from inside another frame was delivered; %s; lost %d", s, k, kinds, lost)
		}
	}
}

package shmif

import (
	"testing"
	"time"
)

// Frames carry the wall-clock time of their send, to the microsecond
// (docs/protocol.md §1.3: sec and usec).
func TestSendStampsWallClock(t *testing.T) {
	a, b := openPair(t)
	buf := make([]byte, 1514)
	for k := 0; k < 50; k++ {
		before := time.Now().Truncate(time.Microsecond)
		if err := a.Send(frameTo(broadcast, a.MAC(), "stamp")); err != nil {
			t.Fatal(err)
		}
		after := time.Now()
		frames := []Frame{{Buf: buf}}
		if _, err := b.RecvBatch(frames, time.Second); err != nil {
			t.Fatal(err)
		}
		got := time.Unix(int64(frames[0].Sec), int64(frames[0].Usec)*1000)
		if got.Before(before) || got.After(after) {
			t.Fatalf("frame %d stamped %v, sent between %v and %v", k, got, before, after)
		}
		time.Sleep(time.Duration(k) * 10 * time.Microsecond)
	}
}

// An anchor serves for stampAnchor and is then renewed, so that a step of
// the system clock reaches the stamps.
func TestStampClockRenewsItsAnchor(t *testing.T) {
	var c stampClock
	c.now()
	first := c.anchor.Load()
	c.now()
	if c.anchor.Load() != first {
		t.Fatal("a fresh anchor was renewed")
	}
	old := time.Now().Add(-2 * stampAnchor)
	c.anchor.Store(&old)
	before := time.Now()
	got := c.now()
	if c.anchor.Load() == &old {
		t.Fatalf("an anchor %v old was kept", 2*stampAnchor)
	}
	if got.Before(before) || got.After(time.Now()) {
		t.Fatalf("stamp %v outside the call", got)
	}
}

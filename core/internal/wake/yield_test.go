//go:build linux

package wake

import (
	"testing"
	"time"
)

// Yields that come straight back space the next ones out, up to once a
// millisecond; one that ran someone else brings them back to every few
// microseconds.
func TestNextGap(t *testing.T) {
	gap := time.Duration(0)
	for range 20 {
		gap = nextGap(gap, 500*time.Nanosecond)
	}
	if gap != maxYieldGap {
		t.Fatalf("after 20 empty yields the gap is %v, want %v", gap, maxYieldGap)
	}
	if g := nextGap(minYieldGap, 2*time.Microsecond); g != 2*minYieldGap {
		t.Fatalf("an empty yield doubled %v to %v", minYieldGap, g)
	}
	if g := nextGap(maxYieldGap, 50*time.Microsecond); g != minYieldGap {
		t.Fatalf("a yield that handed the CPU over left the gap at %v, want %v", g, minYieldGap)
	}
}

// A Pacer yields only when spinners must, and not before the gap since
// its last yield has passed.
func TestPacerTick(t *testing.T) {
	saved, savedNeed, savedGap := yield, SpinNeedsYield, yieldGap.Load()
	defer func() { yield, SpinNeedsYield = saved, savedNeed; yieldGap.Store(savedGap) }()
	yields := 0
	yield = func() { yields++ }

	SpinNeedsYield = false
	var p Pacer
	now := time.Now()
	for k := range 100 {
		p.Tick(now.Add(time.Duration(k) * time.Millisecond))
	}
	if yields != 0 {
		t.Fatalf("%d yields in a process with several CPUs", yields)
	}

	SpinNeedsYield = true
	yieldGap.Store(int64(100 * time.Microsecond))
	p = Pacer{}
	p.Tick(now) // starts the clock
	p.Tick(now.Add(50 * time.Microsecond))
	if yields != 0 {
		t.Fatalf("yielded before the gap had passed")
	}
	p.Tick(time.Now().Add(time.Millisecond))
	if yields != 1 {
		t.Fatalf("%d yields once the gap had passed, want 1", yields)
	}
	if g := time.Duration(yieldGap.Load()); g != 200*time.Microsecond {
		t.Fatalf("after a yield that came straight back the gap is %v, want 200µs", g)
	}
}

package bridge

import (
	"testing"
	"time"
)

// The repeat guard forwards identical frames from one side at most once in
// repeatWindow (20 ms), and in loopRepeatWindow (500 ms) only for a while
// after a loop was seen. A bridge that has seen no loop must not act as if
// it had; one that has must, and for loopAlert only. Times are made with
// Add, so that they keep the monotonic reading the rules use.
func TestLoopAlertOnlyAfterALoop(t *testing.T) {
	b := &Bridge{hash: newHasher()}
	f := make([]byte, 60)
	copy(f, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x06})
	admitted := func(from side, at time.Time, frame []byte) bool {
		var tl tally
		return len(b.admit(from, [][]byte{append([]byte(nil), frame...)}, at, &tl)) == 1
	}
	now := time.Now()
	if !admitted(busSide, now, f) {
		t.Fatal("a first frame was dropped")
	}
	if admitted(busSide, now.Add(10*time.Millisecond), f) {
		t.Fatal("the same frame 10 ms later was forwarded again")
	}
	if !admitted(busSide, now.Add(100*time.Millisecond), f) {
		t.Fatal("the same frame 100 ms later was dropped by a bridge that saw no loop")
	}
	// The copy sent to the endpoint comes back from it: a loop.
	g := append([]byte(nil), f...)
	g[20] = 1
	if !admitted(busSide, now.Add(200*time.Millisecond), g) || admitted(endpointSide, now.Add(201*time.Millisecond), g) {
		t.Fatal("a frame back from where its copy went was not taken for a loop")
	}
	if admitted(busSide, now.Add(400*time.Millisecond), f) {
		t.Fatal("after a loop, the same frame 300 ms later was forwarded again")
	}
	if !admitted(busSide, now.Add(201*time.Millisecond+loopAlert+time.Second), f) {
		t.Fatal("loop alert outlived loopAlert")
	}
}

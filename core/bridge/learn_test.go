package bridge_test

import (
	"testing"
	"time"

	"github.com/libshmif/libshmif/core/bridge"
)

// expect reads what reaches the pipe's far side within a short time and
// checks it is exactly the frames listed, in order.
func expect(t *testing.T, p *pipe, want ...[]byte) {
	t.Helper()
	for i, w := range want {
		select {
		case f := <-p.out:
			if string(f) != string(w) {
				t.Fatalf("frame %d to the endpoint: got %x, want %x", i, f[:14], w[:14])
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("frame %d not forwarded to the endpoint", i)
		}
	}
	select {
	case f := <-p.out:
		t.Fatalf("unexpected frame to the endpoint: %x", f[:14])
	case <-time.After(50 * time.Millisecond):
	}
}

// With learning, unicast stays on the side where its destination is;
// broadcast and unknown destinations cross; addresses age.
func TestLearning(t *testing.T) {
	b, p, bus := pipeBridge(t, bridge.Config{Learning: true, AgeingTime: 300 * time.Millisecond})
	n := node(t, bus)

	// A and B are on the bus, C behind the endpoint.
	fromA := frame(bcast, macA, 60, 1) // learns A
	n.Send(fromA)
	expect(t, p, fromA)
	fromB := frame(macA, macB, 60, 2) // A is on the bus: filtered; learns B
	n.Send(fromB)
	expect(t, p)
	fromC := frame(macA, macC, 60, 3) // from the endpoint to A: crosses; learns C
	p.in <- fromC
	if got := recvN(t, n, 1)[0]; string(got) != string(fromC) {
		t.Fatal("frame from C to A did not reach the bus")
	}
	toC := frame(macC, macA, 60, 4) // to C, behind the endpoint: crosses
	n.Send(toC)
	expect(t, p, toC)
	cToC := frame(macC, macC, 60, 5) // C to itself, from the endpoint: filtered
	p.in <- cToC
	unknown := frame([6]byte{0x02, 9, 9, 9, 9, 9}, macB, 60, 6)
	n.Send(unknown) // unknown destination: crosses
	expect(t, p, unknown)
	waitFor(t, "filtered count", func() bool { return b.Stats().ToBus.Filtered == 1 })
	if extra := recvAll(t, n, 50*time.Millisecond); len(extra) != 0 {
		t.Fatalf("%d frames reached the bus", len(extra))
	}
	if st := b.Stats(); st.ToEndpoint.Filtered != 1 {
		t.Fatalf("counters: %v", st)
	}

	// A ages out: a frame to A from the bus crosses again.
	time.Sleep(500 * time.Millisecond)
	again := frame(macA, macB, 60, 7)
	n.Send(again)
	expect(t, p, again)
}

// Without learning every frame crosses.
func TestNoLearningFloods(t *testing.T) {
	_, p, bus := pipeBridge(t, bridge.Config{})
	n := node(t, bus)
	fromA := frame(bcast, macA, 60, 1)
	fromB := frame(macA, macB, 60, 2)
	n.Send(fromA)
	n.Send(fromB)
	expect(t, p, fromA, fromB)
}

package vxlan

import (
	"net/netip"
	"testing"
	"time"
)

func testTable() *fdb {
	return &fdb{byMAC: make(map[mac]entry), learning: true, ageing: 10 * time.Second, dstPort: 4789}
}

func from(a string) dest { return dest{addr: netip.MustParseAddr(a), port: 40000} }

// TestLearnAndAge: a learned entry points at the outer source address and
// dstport (not the source port), is refreshed by every frame, and ages out
// ageing after the last one (Linux's ageing, counted from the last frame
// received).
func TestLearnAndAge(t *testing.T) {
	tb := testTable()
	m := mac{2, 0, 0, 0, 0, 1}
	if v := tb.learn(m, from("10.0.0.2"), 0); v != learned {
		t.Fatalf("learn = %v", v)
	}
	want := dest{addr: netip.MustParseAddr("10.0.0.2"), port: 4789}
	if d, ok := tb.lookup(m, 9*time.Second); !ok || d != want {
		t.Fatalf("lookup at 9s = %v, %v; want %v", d, ok, want)
	}
	tb.learn(m, from("10.0.0.2"), 5*time.Second) // refreshed
	if _, ok := tb.lookup(m, 14999*time.Millisecond); !ok {
		t.Fatal("refreshed entry gone before 15s")
	}
	if _, ok := tb.lookup(m, 15*time.Second); ok {
		t.Fatal("entry still there at 15s, 10s after its last frame")
	}
	if len(tb.byMAC) != 0 {
		t.Fatalf("aged entry kept: %v", tb.byMAC)
	}
}

// TestLearnMoves: a learned station that shows up behind another tunnel
// endpoint moves there; a static one does not, and its frames are dropped.
func TestLearnMoves(t *testing.T) {
	tb := testTable()
	m, s := mac{2, 0, 0, 0, 0, 1}, mac{2, 0, 0, 0, 0, 2}
	tb.byMAC[s] = entry{dst: dest{addr: netip.MustParseAddr("10.0.0.9"), port: 9}, static: true}
	tb.learn(m, from("10.0.0.2"), 0)
	if v := tb.learn(m, from("10.0.0.3"), time.Second); v != learned {
		t.Fatalf("move = %v", v)
	}
	if d, _ := tb.lookup(m, time.Second); d.addr != netip.MustParseAddr("10.0.0.3") {
		t.Errorf("after the move: %v", d)
	}
	if v := tb.learn(s, from("10.0.0.2"), 0); v != moved {
		t.Errorf("static entry from elsewhere = %v, want moved (drop)", v)
	}
	if v := tb.learn(s, from("10.0.0.9"), 0); v != learned {
		t.Errorf("static entry from its own peer = %v", v)
	}
	if d, ok := tb.lookup(s, time.Hour); !ok || d.port != 9 {
		t.Errorf("static entry after an hour: %v, %v", d, ok)
	}
}

// TestLearnLimits: maxaddress bounds the per-MAC entries (static ones count);
// nolearning learns nothing and checks nothing, as in Linux.
func TestLearnLimits(t *testing.T) {
	tb := testTable()
	tb.max = 2
	tb.byMAC[mac{2, 0, 0, 0, 0, 9}] = entry{dst: from("10.0.0.9"), static: true}
	if v := tb.learn(mac{2, 0, 0, 0, 0, 1}, from("10.0.0.2"), 0); v != learned {
		t.Fatalf("first = %v", v)
	}
	if v := tb.learn(mac{2, 0, 0, 0, 0, 2}, from("10.0.0.2"), 0); v != tableFull {
		t.Fatalf("over maxaddress = %v, want tableFull", v)
	}
	// Once the learned entry ages out there is room again.
	if v := tb.learn(mac{2, 0, 0, 0, 0, 2}, from("10.0.0.2"), 11*time.Second); v != learned {
		t.Fatalf("after ageing = %v", v)
	}

	tb = testTable()
	tb.learning = false
	tb.byMAC[mac{2, 0, 0, 0, 0, 9}] = entry{dst: from("10.0.0.9"), static: true}
	if v := tb.learn(mac{2, 0, 0, 0, 0, 9}, from("10.0.0.2"), 0); v != learned {
		t.Errorf("nolearning, static elsewhere = %v", v)
	}
	tb.learn(mac{2, 0, 0, 0, 0, 1}, from("10.0.0.2"), 0)
	if len(tb.byMAC) != 1 {
		t.Errorf("nolearning learned: %v", tb.byMAC)
	}
}

// TestSnapshot: flood destinations first as zero-MAC static entries, then
// per-MAC entries in address order with their age.
func TestSnapshot(t *testing.T) {
	tb := testTable()
	tb.flood = []dest{{addr: netip.MustParseAddr("fe80::1"), port: 4789, scope: 3}}
	tb.learn(mac{2, 0, 0, 0, 0, 2}, from("10.0.0.2"), time.Second)
	tb.byMAC[mac{2, 0, 0, 0, 0, 1}] = entry{dst: dest{addr: netip.MustParseAddr("10.0.0.3"), port: 1}, static: true}
	got := tb.snapshot(3 * time.Second)
	want := []string{
		"00:00:00:00:00:00 dst [fe80::1%3]:4789 static",
		"02:00:00:00:00:01 dst 10.0.0.3:1 static",
		"02:00:00:00:00:02 dst 10.0.0.2:4789 age 2s",
	}
	if len(got) != len(want) {
		t.Fatalf("snapshot %v", got)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("entry %d: %q, want %q", i, got[i], want[i])
		}
	}
}

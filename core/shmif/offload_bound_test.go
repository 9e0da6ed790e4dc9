package shmif

import (
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/libshmif/libshmif/core/internal/offload"
	"golang.org/x/sys/unix"
)

// Issue 10 (smaller points): SendOffload with TSO refuses a frame one byte
// longer than MaxOffloadFrame with EMSGSIZE (counted in oerrors, nothing on
// the bus) and takes a frame of exactly MaxOffloadFrame, which arrives as
// every segment of its payload.
func TestTSOFrameBound(t *testing.T) {
	const mss = 1448
	a, b := openPair(t)
	if err := a.SetCapEnable(offload.CapTSOv4); err != nil {
		t.Fatal(err)
	}
	tso := uint32(offload.TSOv4 | offload.CsumIPv4 | offload.CsumTCPv4)

	over := tcpFrame(b.MAC(), a.MAC(), MaxOffloadFrame+1-54)
	if len(over) != MaxOffloadFrame+1 {
		t.Fatalf("test frame of %d bytes", len(over))
	}
	if err := a.SendOffload(over, tso, mss); !errors.Is(err, unix.EMSGSIZE) {
		t.Fatalf("%d-byte frame: got %v, want EMSGSIZE", len(over), err)
	}
	if s := a.Stats(); s.Oerrors != 1 || s.Opackets != 0 {
		t.Fatalf("after the refused frame: stats %+v", s)
	}
	if _, err := b.Recv(make([]byte, 1514), 0); !errors.Is(err, unix.EAGAIN) {
		t.Fatalf("a refused frame reached the bus (%v)", err)
	}

	payload := MaxOffloadFrame - 54
	exact := tcpFrame(b.MAC(), a.MAC(), payload)
	if err := a.SendOffload(exact, tso, mss); err != nil {
		t.Fatalf("%d-byte frame (MaxOffloadFrame): %v", len(exact), err)
	}
	segments := (payload + mss - 1) / mss
	frames := make([]Frame, 64)
	for k := range frames {
		frames[k].Buf = make([]byte, 1514)
	}
	got, carried := 0, 0
	for got < segments {
		n, err := b.RecvBatch(frames, time.Second)
		if err != nil {
			t.Fatalf("after %d of %d segments: %v", got, segments, err)
		}
		for _, f := range frames[:n] {
			ip := f.Buf[14:f.Len]
			if s := binary.BigEndian.Uint32(ip[24:]); s != uint32(1+carried) {
				t.Fatalf("segment %d: seq %d, want %d", got, s, 1+carried)
			}
			carried += len(ip) - 40
			got++
		}
	}
	if carried != payload || got != segments {
		t.Fatalf("%d segments carried %d bytes, want %d and %d", got, carried, segments, payload)
	}
	if s := a.Stats(); s.Opackets != uint64(segments) || s.Oerrors != 1 {
		t.Fatalf("stats %+v", s)
	}
}

package bridge_test

import (
	"sync"
	"testing"
	"time"

	"github.com/libshmif/libshmif/core/bridge"
)

// delayStage holds every frame for a fixed time, drops every third, and
// on the way out makes one frame too big for a bus.
type delayStage struct {
	mu    sync.Mutex
	delay time.Duration
	emit  bridge.Emit
	n     int
	read  map[uint32]time.Time // when each frame was read
}

func (s *delayStage) Input(frame []byte, now time.Time) {
	s.mu.Lock()
	s.n++
	n := s.n
	s.read[seq(frame)] = now
	s.mu.Unlock()
	if n%3 == 0 {
		return
	}
	f := append([]byte(nil), frame...)
	if n == 4 {
		f = append(f, make([]byte, 1600)...)
	}
	time.AfterFunc(s.delay, func() { s.emit([][]byte{f}) })
}

func TestStageDelaysAndDrops(t *testing.T) {
	st := &delayStage{delay: 30 * time.Millisecond, read: map[uint32]time.Time{}}
	b, p, bus := pipeBridge(t, bridge.Config{ToBus: func(e bridge.Emit) bridge.Stage {
		st.emit = e
		return st
	}})
	n := node(t, bus)
	for i := range 9 {
		p.in <- frame(bcast, macA, 100, uint32(i))
		time.Sleep(time.Millisecond)
	}
	got := recvN(t, n, 5) // 9 frames, 3 dropped, 1 too big
	for _, f := range got {
		s := seq(f)
		if s%3 == 2 || s == 3 {
			t.Errorf("frame %d should not have arrived", s)
		}
		st.mu.Lock()
		read := st.read[s]
		st.mu.Unlock()
		if d := time.Since(read); d < st.delay {
			t.Errorf("frame %d arrived %v after it was read, before the delay", s, d)
		}
	}
	waitFor(t, "counters", func() bool { s := b.Stats().ToBus; return s.TooBig == 1 && s.Frames == 5 })
	if s := b.Stats().ToBus; s.Frames != 5 {
		t.Fatalf("counters: %v", s)
	}
	// Emits after Stop are dropped, not written to a closed endpoint.
	b.Stop()
	st.emit([][]byte{frame(bcast, macA, 100, 99)})
}

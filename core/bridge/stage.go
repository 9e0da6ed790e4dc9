package bridge

import (
	"sync"
	"time"
)

// Stage sits in one direction of a bridge, between the reader and the
// writer, where an impairment model (delay, loss, duplication, reordering,
// rate) plugs in. Without one a bridge writes each batch it reads at once.
//
// The bridge calls Input with every frame of the direction that passed
// its rules (sizes, loops, learning), in order, with the time its batch
// was read. The stage hands frames on by calling the Emit it was made
// with, at once from Input or later from a goroutine of its own.
type Stage interface {
	// Input takes one frame; frame is valid only during the call, so a
	// stage that keeps it keeps a copy.
	Input(frame []byte, now time.Time)
}

// Emit writes frames to the destination of a stage's direction, in order,
// counting them (Frames, Bytes) and dropping, counted, those the
// destination cannot carry (under 14 or over 1514 bytes for a bus). frames
// are needed only during the call. It may be called from any goroutine;
// the bridge runs one call at a time. After the bridge stops it drops what
// it is given.
type Emit func(frames [][]byte)

// emitter serializes a stage's emits and turns a write error into the
// bridge's end.
type emitter struct {
	mu    sync.Mutex
	b     *Bridge
	write func([][]byte) error
}

func (e *emitter) emit(frames [][]byte) {
	if len(frames) == 0 || e.b.stopping.Load() {
		return
	}
	e.mu.Lock()
	err := e.write(frames)
	e.mu.Unlock()
	if err != nil {
		e.b.fail(err)
	}
}

// staged returns the deliver function of a direction with the stage that
// newStage makes.
func (b *Bridge) staged(newStage func(Emit) Stage, write func([][]byte) error) func([][]byte, time.Time) error {
	e := &emitter{b: b, write: write}
	st := newStage(e.emit)
	return func(frames [][]byte, now time.Time) error {
		for _, f := range frames {
			st.Input(f, now)
		}
		return nil
	}
}

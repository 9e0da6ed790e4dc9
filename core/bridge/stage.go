package bridge

import (
	"sync"
	"time"
)

// Stage sits in one direction of a bridge between the reader and the
// writer, where an impairment model (delay, loss, duplication, reordering,
// rate) plugs in. Without one a bridge writes each batch it reads at once.
//
// The bridge calls Push from its reader and Pop from its writer, never both
// at the same time. Frames that do not fit the destination (under 14 or
// over 1514 bytes for a bus) are counted and dropped after Pop.
type Stage interface {
	// Push hands the stage one frame read at now. frame is valid only
	// during the call: a stage that keeps it keeps a copy.
	Push(frame []byte, now time.Time)

	// Pop appends to dst the frames due at now, in the order they are to
	// be written, and returns them with the time the next frame it holds
	// falls due (the zero Time when it holds none). The bridge writes the
	// frames before it calls Pop again; until then the stage must not
	// reuse their memory, Push included.
	Pop(now time.Time, dst [][]byte) ([][]byte, time.Time)
}

// staged runs a Stage: the reader pushes and kicks, a writer goroutine pops
// whatever is due and sleeps until the next frame is.
type staged struct {
	mu    sync.Mutex
	stage Stage
	kick  chan struct{}
}

func newStaged(s Stage) *staged {
	return &staged{stage: s, kick: make(chan struct{}, 1)}
}

// push hands a batch to the stage and wakes the writer.
func (s *staged) push(frames [][]byte, now time.Time) {
	if len(frames) == 0 {
		return
	}
	s.mu.Lock()
	for _, f := range frames {
		s.stage.Push(f, now)
	}
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// run writes what the stage releases until stop is closed or write fails.
func (s *staged) run(stop <-chan struct{}, write func([][]byte) error) error {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var due [][]byte
	for {
		s.mu.Lock()
		var next time.Time
		due, next = s.stage.Pop(time.Now(), due[:0])
		s.mu.Unlock()
		if len(due) > 0 {
			if err := write(due); err != nil {
				return err
			}
			continue
		}
		var wake <-chan time.Time
		if !next.IsZero() {
			timer.Reset(time.Until(next))
			wake = timer.C
		}
		select {
		case <-stop:
			timer.Stop()
			return nil
		case <-s.kick:
		case <-wake:
		}
		timer.Stop()
	}
}

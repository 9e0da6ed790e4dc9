package impair

import (
	"sync"
	"time"
)

// An alarm is the stage's clock and its one timer. now counts from the
// alarm's creation on the monotonic clock; set arms the timer for a time
// on that clock (at once if it is past), replacing any earlier setting;
// wait blocks until the timer fires (or spuriously) and returns false once
// the alarm is closed. set and close may be called while wait blocks.
type alarm interface {
	now() time.Duration
	set(at time.Duration)
	wait() bool
	close()
}

// never is a time no alarm is set for.
const never = time.Duration(1<<63 - 1)

// timerAlarm is the portable alarm, a time.Timer. The Go runtime may wake
// it up to a millisecond late on an idle process (its poller sleeps in
// whole milliseconds), which is why Linux has its own.
type timerAlarm struct {
	start  time.Time
	t      *time.Timer
	closed chan struct{}
	once   sync.Once
}

func newTimerAlarm() *timerAlarm {
	a := &timerAlarm{start: time.Now(), t: time.NewTimer(time.Hour), closed: make(chan struct{})}
	a.t.Stop()
	return a
}

func (a *timerAlarm) now() time.Duration { return time.Since(a.start) }

func (a *timerAlarm) set(at time.Duration) { a.t.Reset(at - a.now()) }

func (a *timerAlarm) wait() bool {
	select {
	case <-a.t.C:
		return true
	case <-a.closed:
		return false
	}
}

func (a *timerAlarm) close() {
	a.once.Do(func() {
		close(a.closed)
		a.t.Stop()
	})
}

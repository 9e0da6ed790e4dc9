package shmif

import (
	"sync/atomic"
	"time"
)

// stampClock gives the wall-clock time stamps of sent frames for one
// monotonic clock read: time.Now reads the wall clock and the monotonic
// clock, and on virtual machines each read is tens of nanoseconds, a
// noticeable part of a single-frame send. The time is the wall time of an
// anchor plus the monotonic time since; the anchor is renewed every
// stampAnchor, so that a step of the system clock shows in the stamps
// within that time.
type stampClock struct{ anchor atomic.Pointer[time.Time] }

// stampAnchor is how long an anchor serves.
const stampAnchor = time.Second

// now returns the time to stamp frames with.
func (c *stampClock) now() time.Time {
	if a := c.anchor.Load(); a != nil {
		if d := time.Since(*a); d >= 0 && d < stampAnchor {
			return a.Add(d)
		}
	}
	t := time.Now()
	c.anchor.Store(&t)
	return t
}

// stamps is the clock of every interface of the process.
var stamps stampClock

package bridge

import (
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/libshmif/libshmif/core/shmif"
)

// Direction counts what happened to the frames read on one side of a
// bridge. Frames and Bytes were written to the other side; each frame not
// written is counted under one reason.
type Direction struct {
	Frames, Bytes uint64 // written
	TooSmall      uint64 // under 14 bytes: no Ethernet header
	TooBig        uint64 // over 1514 bytes (a shmif bus carries no more)
	Loop          uint64 // came back from the side the bridge had sent it to
	Filtered      uint64 // learning: the destination is on the side it came from
	Errors        uint64 // lost to a write error of the other side, or in flight when the bridge stopped
}

func (d Direction) String() string {
	return fmt.Sprintf("frames=%d bytes=%d small=%d big=%d loop=%d filtered=%d errors=%d",
		d.Frames, d.Bytes, d.TooSmall, d.TooBig, d.Loop, d.Filtered, d.Errors)
}

// Stats are a bridge's counters.
type Stats struct {
	ToEndpoint Direction   // read from the bus, for the endpoint
	ToBus      Direction   // read from the endpoint, for the bus
	Bus        shmif.Stats // the bridge's interface on the bus (Lost: frames overwritten before the bridge read them)
	Endpoint   string      // the endpoint's own counters, when it keeps any
}

// String formats the counters as one line, with the endpoint named by
// name.
func (s Stats) line(name string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "bus->%s %v; %s->bus %v; bus lost=%d corrupt=%d",
		name, s.ToEndpoint, name, s.ToBus, s.Bus.Lost, s.Bus.Corrupt)
	if s.Endpoint != "" {
		fmt.Fprintf(&b, "; %s %s", name, s.Endpoint)
	}
	return b.String()
}

// String formats the counters as one line.
func (s Stats) String() string { return s.line("endpoint") }

// counters are a Direction updated by one loop and read by anyone.
type counters struct {
	frames, bytes, small, big, loop, filtered, errors atomic.Uint64
}

func (c *counters) load() Direction {
	return Direction{
		Frames: c.frames.Load(), Bytes: c.bytes.Load(),
		TooSmall: c.small.Load(), TooBig: c.big.Load(),
		Loop: c.loop.Load(), Filtered: c.filtered.Load(), Errors: c.errors.Load(),
	}
}

// tally gathers one batch's counts, added to counters at once.
type tally struct{ small, big, loop, filtered uint64 }

func (c *counters) add(t *tally) {
	if t.small != 0 {
		c.small.Add(t.small)
	}
	if t.big != 0 {
		c.big.Add(t.big)
	}
	if t.loop != 0 {
		c.loop.Add(t.loop)
	}
	if t.filtered != 0 {
		c.filtered.Add(t.filtered)
	}
	*t = tally{}
}

func (c *counters) wrote(frames [][]byte) {
	var n uint64
	for _, f := range frames {
		n += uint64(len(f))
	}
	c.frames.Add(uint64(len(frames)))
	c.bytes.Add(n)
}

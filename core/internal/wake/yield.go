//go:build linux

package wake

import (
	"runtime"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Yield gives this CPU to another thread of any process, for spinners that
// wait for a peer: the one way libshmif yields the CPU (a system call).
func Yield() { unix.Syscall(unix.SYS_SCHED_YIELD, 0, 0, 0) }

// SpinNeedsYield says whether spinners must yield now and then: when the
// process may run on one CPU only, the peer it waits for may be queued
// behind it. With several CPUs a spinner does not yield (each yield is a
// system call, and the point of spinning is to make none).
var SpinNeedsYield = runtime.NumCPU() == 1

// A process that may run on one CPU cannot tell whether that CPU is its
// own (a benchmark pins each peer to a CPU of its own) or shared with the
// peer it waits for (a one-CPU machine, or peers pinned together). A yield
// answers it: one that comes straight back found nobody else to run. So
// spinners yield often while yields hand the CPU over, and half as often
// after each one that came straight back, down to once every maxYieldGap:
// a spinner alone on its CPU then makes about a thousand system calls a
// second at most, and one that shares it still lets its peer run within
// a scheduler slice.
const (
	minYieldGap = 2 * time.Microsecond
	maxYieldGap = time.Millisecond
	// handedOver: a yield that took longer ran someone else. An empty
	// sched_yield costs 0.3-1 µs; a switch to another thread and back
	// costs more than this alone.
	handedOver = 5 * time.Microsecond
)

// yieldGap is the process's current time between a spinner's yields,
// learnt by all its spinners together: whether yields come straight back
// is a property of the CPU the process runs on, not of one wait.
var yieldGap atomic.Int64

// Pacer spaces the yields of one spinning wait. The zero value is ready:
// the first Tick only starts the clock.
type Pacer struct{ last time.Time }

// Tick is called now and then (every microsecond or so) by a spinner,
// with the current time. It yields when the process needs spinners to
// yield and the gap since this spinner's last yield has passed.
func (p *Pacer) Tick(now time.Time) {
	if !SpinNeedsYield {
		return
	}
	if p.last.IsZero() {
		p.last = now
		return
	}
	gap := time.Duration(yieldGap.Load())
	if now.Sub(p.last) < max(gap, minYieldGap) {
		return
	}
	yield()
	p.last = time.Now()
	yieldGap.Store(int64(nextGap(gap, p.last.Sub(now))))
}

// yield is Yield, replaced by tests.
var yield = Yield

// nextGap is the gap between yields after one that took took.
func nextGap(gap, took time.Duration) time.Duration {
	if took > handedOver {
		return minYieldGap
	}
	return min(max(2*gap, minYieldGap), maxYieldGap)
}

//go:build linux

package sidecar

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/libshmif/libshmif/core/internal/wake"
	"golang.org/x/sys/unix"
)

// Lossless readers. A reader publishes the stream position (generation ×
// ring size + offset) up to which writers may write without overwriting
// anything it has not read; a writer that would pass it waits, spinning
// and then asleep on the reader's progress word, for at most the time the
// reader asked for, then writes anyway (the reader counts the frames lost).

// Lossless is a lossless reader's slot.
type Lossless struct {
	s *State
	i int
}

// ErrFull reports that the sidecar has no room for another lossless
// reader.
var ErrFull = errors.New("sidecar: no free slot")

// NewLossless registers a lossless reader that writers wait for at most
// maxWait, with the limit it publishes first.
func (s *State) NewLossless(maxWait time.Duration, limit uint64) (l *Lossless, err error) {
	err = errBroken
	s.safe(func() { l, err = s.newLossless(maxWait, limit) })
	return l, err
}

func (s *State) newLossless(maxWait time.Duration, limit uint64) (*Lossless, error) {
	fd := int(s.f.Fd())
	if err := unix.Flock(fd, unix.LOCK_EX); err != nil {
		return nil, err
	}
	defer unix.Flock(fd, unix.LOCK_UN)
	i := s.claim(kindLossless)
	if i < 0 {
		s.reclaim()
		if i = s.claim(kindLossless); i < 0 {
			return nil, ErrFull
		}
	}
	atomic.StoreUint64(s.slot64(i, slotMaxWait), uint64(maxWait))
	atomic.StoreUint64(s.slot64(i, slotPos), limit)
	atomic.AddUint32(s.p32(offLossless), 1)
	return &Lossless{s: s, i: i}, nil
}

// Publish moves the reader's limit forward and wakes writers waiting for
// it. The atomic add is a full barrier, as the one of a writer that
// announces it waits: either the writer sees the new limit or the reader
// sees the writer.
func (l *Lossless) Publish(limit uint64) { l.s.safe(func() { l.publish(limit) }) }

func (l *Lossless) publish(limit uint64) {
	s, i := l.s, l.i
	atomic.StoreUint64(s.slot64(i, slotPos), limit)
	atomic.AddUint32(s.slot32(i, slotProgress), 1)
	if atomic.LoadUint32(s.slot32(i, slotWaiting)) != 0 {
		wake.FutexWake(s.slot32(i, slotProgress), false)
	}
}

// Slot returns the reader's slot, which writers name it by.
func (l *Lossless) Slot() int { return l.i }

// Close unregisters the reader: writers waiting for it go on at once.
func (l *Lossless) Close() {
	fd := int(l.s.f.Fd())
	unix.Flock(fd, unix.LOCK_EX)
	l.s.safe(func() { l.s.freeSlot(l.i) })
	unix.Flock(fd, unix.LOCK_UN)
}

// HasLossless reports whether any lossless reader may be registered.
func (s *State) HasLossless() (has bool) {
	s.safe(func() { has = s.u32(offLossless) != 0 })
	return has
}

// Limit returns the lowest limit of the lossless readers other than those
// in skip, and the slot that sets it (-1: none). A reader that a writer gave
// up waiting for does not count until it reads again: a stalled reader
// costs writers one wait, not one per send.
func (s *State) Limit(skip []int) (limit uint64, slot int) {
	limit, slot = ^uint64(0), -1
	s.safe(func() { limit, slot = s.limit(skip) })
	return limit, slot
}

func (s *State) limit(skip []int) (limit uint64, slot int) {
	limit, slot = ^uint64(0), -1
	// Slots are claimed lowest first: the scan stops once it has seen as
	// many lossless readers as are registered, rather than touch all
	// 1024 slots (64 KiB) for every batch. A reader that registers after
	// the count was read is not waited for by this batch, as if it had
	// registered a moment later.
	registered, seen := atomic.LoadUint32(s.p32(offLossless)), uint32(0)
	for i := 0; i < nslots && seen < registered; i++ {
		if s.kind(i) != kindLossless {
			continue
		}
		if seen++; contains(skip, i) {
			continue
		}
		if atomic.LoadUint32(s.slot32(i, slotExpired)) == atomic.LoadUint32(s.slot32(i, slotProgress))+1 {
			continue
		}
		if p := atomic.LoadUint64(s.slot64(i, slotPos)); p < limit {
			limit, slot = p, i
		}
	}
	return limit, slot
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// spinFor is how long a writer watches a reader's limit before it sleeps.
const spinFor = 20 * time.Microsecond

// livenessEvery is how often a waiting writer checks that the reader it
// waits for is alive: a dead reader stops holding writers back within it.
const livenessEvery = 5 * time.Millisecond

// WaitRoom waits until lossless reader slot lets the writer write up to
// need, the reader goes away, or the reader's wait bound (counted from
// since) passes. It reports false when the bound passed or the slot is
// someone else's now: the writer then writes without that reader.
func (s *State) WaitRoom(slot int, need uint64, since time.Time) (ok bool) {
	ok = true // broken: nothing to wait for
	s.safe(func() { ok = s.waitRoom(slot, need, since) })
	return ok
}

func (s *State) waitRoom(slot int, need uint64, since time.Time) bool {
	maxWait := time.Duration(atomic.LoadUint64(s.slot64(slot, slotMaxWait)))
	deadline := since.Add(maxWait)
	start := time.Now()
	lastCheck := start
	for {
		if s.kind(slot) != kindLossless {
			return true // gone: nothing to wait for
		}
		if atomic.LoadUint64(s.slot64(slot, slotPos)) >= need {
			return true
		}
		now := time.Now()
		if !now.Before(deadline) {
			atomic.StoreUint32(s.slot32(slot, slotExpired), atomic.LoadUint32(s.slot32(slot, slotProgress))+1)
			return false
		}
		if now.Sub(lastCheck) >= livenessEvery {
			lastCheck = now
			if !s.alive(slot) {
				s.releaseDead(slot)
				return true
			}
		}
		if now.Sub(start) < spinFor {
			continue
		}
		// Announce, look again, sleep.
		p := s.slot32(slot, slotProgress)
		seen := atomic.LoadUint32(p)
		atomic.AddUint32(s.slot32(slot, slotWaiting), 1)
		if s.kind(slot) == kindLossless && atomic.LoadUint64(s.slot64(slot, slotPos)) < need {
			wake.FutexWait(p, seen, min(deadline.Sub(now), livenessEvery), false)
		}
		atomic.AddUint32(s.slot32(slot, slotWaiting), ^uint32(0))
	}
}

// releaseDead frees the slot of a lossless reader whose process is gone.
func (s *State) releaseDead(slot int) {
	fd := int(s.f.Fd())
	unix.Flock(fd, unix.LOCK_EX)
	if s.kind(slot) == kindLossless && !s.alive(slot) {
		s.freeSlot(slot)
	}
	unix.Flock(fd, unix.LOCK_UN)
}

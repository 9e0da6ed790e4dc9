// Package buslock implements the shmif bus lock (docs/protocol.md §4): a
// spin lock on the shared word at offset 24, 0 unlocked and 1 locked, taken
// by compare-and-swap and released by a store of 0. NetBSD rump kernels take
// the same word the same way, so they and libshmif exclude each other.
//
// There is one way in: With runs a function under the lock and releases
// the lock when it returns or panics (a fault on a truncated mapping
// panics), so no path leaves the lock held; TryWith is its bounded variant
// for tools that must neither hang nor seize a bus.
//
// NetBSD's lock is wedged for good when a holder dies. libshmif also records
// the holder's process id in the spare header word at offset 28 (NetBSD
// leaves that word alone) so that waiters can tell a dead holder from a slow
// one and take the lock over (docs/protocol.md §9.1). Process ids are only
// meaningful to peers in the same pid namespace: peers in different
// containers must not share a bus if they may die holding the lock.
//
// The ordering the lock gives is docs/protocol.md §10.1.
package buslock

import (
	"os"
	"sync/atomic"
	"time"

	"github.com/libshmif/libshmif/core/internal/layout"
	"github.com/libshmif/libshmif/core/internal/wake"
	"golang.org/x/sys/unix"
)

// NetBSD's tries and nap (docs/protocol.md §4.1), and how often a waiter
// judges the holder (docs/protocol.md §9.1).
const (
	cooldown = 1001                  // failed attempts before a nap (NetBSD's LOCK_COOLDOWN)
	nap      = time.Millisecond      // the nap
	probe    = 10 * time.Millisecond // how often a waiter checks whether the holder is alive
)

// Tunables, variables so that tests can shorten them.
var (
	// UnknownHolderTimeout is how long a holder that left no process id (a
	// NetBSD peer, or a libshmif process killed in the instant between
	// taking the lock and recording itself) may hold the lock while the
	// bus makes no progress at all (lock word, first, last and gen
	// unchanged) before a waiter takes the lock over. NetBSD peers hold
	// the lock for microseconds (docs/protocol.md §9.1).
	UnknownHolderTimeout = 2 * time.Second
	// GiveUpTimeout bounds the wait for a holder that is alive but lets
	// the bus make no progress (a stopped process, or a damaged lock
	// word): the call then fails with EDEADLK instead of hanging its
	// caller. A bus that makes progress is waited for as long as it
	// takes, as NetBSD does (docs/protocol.md §9.1).
	GiveUpTimeout = 10 * time.Second
)

var self = uint32(os.Getpid())

// With takes the bus lock, runs fn and releases the lock, also when fn
// panics. It returns fn's error, or EDEADLK when the lock could not be had
// (see GiveUpTimeout) and then fn is not run.
//
// The lock word and its values are NetBSD's; how a waiter waits is not part
// of the protocol. NetBSD naps 1 ms after 1001 failed attempts, which lets a
// busy writer lap a reader while it sleeps (a ring of 60-byte frames fills
// in a few milliseconds). libshmif waiters watch the word with plain loads
// (so the holder keeps its cache line), then yield the CPU, and only nap
// once the lock has been held for longer than any bus operation takes
// (docs/protocol.md §9.2).
func With(m *layout.Mem, fn func() error) error {
	return WithLimit(m, Limit{}, fn)
}

// Limit is how long a caller with a deadline of its own (a receive with a
// timeout) waits for the lock: until Deadline, or, if that is zero, for
// Wait from when it finds the lock taken (zero too: no limit). A relative
// Wait costs no clock read when the lock is free at once.
type Limit struct {
	Deadline time.Time
	Wait     time.Duration
}

// deadline is the limit as a time, for a wait that began at start.
func (l Limit) deadline(start time.Time) time.Time {
	if l.Deadline.IsZero() && l.Wait > 0 {
		return start.Add(l.Wait)
	}
	return l.Deadline
}

// WithLimit is With for callers that have a deadline of their own: once
// limit has passed it gives up with ETIMEDOUT without running fn, unless
// the holder is found dead then (it is taken over).
func WithLimit(m *layout.Mem, limit Limit, fn func() error) error {
	if err := lock(m, limit); err != nil {
		return err
	}
	defer unlock(m)
	return fn()
}

// TryWith is With for tools: it waits at most wait for the lock, then gives
// up with EBUSY without running fn, and never takes a lock over.
func TryWith(m *layout.Mem, wait time.Duration, fn func() error) error {
	if err := tryLock(m, wait); err != nil {
		return err
	}
	defer unlock(m)
	return fn()
}

// lock takes the lock NetBSD's way, a compare-and-swap of 0 to 1
// (shmif_lockbus, docs/protocol.md §4.1; sequentially consistent, so it
// includes the acquire barrier, §10.1), then records our pid (§9.1).
func lock(m *layout.Mem, limit Limit) error {
	w, spare := m.LockWord(), m.SpareWord()
	if atomic.CompareAndSwapUint32(w, 0, 1) {
		atomic.StoreUint32(spare, self)
		return nil
	}
	return lockSlow(m, w, spare, limit)
}

// How long a waiter spins and yields before it starts to nap.
const busyWait = 2 * time.Millisecond

// progress is what a waiter watches to tell a holder at work from a dead
// one: any change means the bus moved (docs/protocol.md §9.1).
type progress struct {
	holder      uint32
	first, last uint32
	gen         uint64
}

func watch(m *layout.Mem, spare *uint32) progress {
	return progress{holder: atomic.LoadUint32(spare), first: m.First(), last: m.Last(), gen: m.Gen()}
}

func lockSlow(m *layout.Mem, w, spare *uint32, limit Limit) error {
	start := time.Now()
	deadline := limit.deadline(start)
	lastProbe := start
	// Takeover and giving up are judged on how long the bus has made no
	// progress, not on how long we have waited: a waiter starved by a
	// busy bus must not mistake the holder of the moment for a dead one.
	seen, stuck := watch(m, spare), start
	var pacer wake.Pacer
	for {
		free := false
		for tries := 0; tries <= cooldown; tries++ {
			v := atomic.LoadUint32(w)
			if v == 0 {
				free = true
				if atomic.CompareAndSwapUint32(w, 0, 1) {
					atomic.StoreUint32(spare, self)
					return nil
				}
			}
			// NetBSD proceeds without the lock when the word holds
			// anything but 0 or 1; we repair the word and take it
			// (docs/protocol.md §4.1, §9.1).
			if v > 1 && atomic.CompareAndSwapUint32(w, v, 1) {
				atomic.StoreUint32(spare, self)
				return nil
			}
		}
		now := time.Now()
		if p := watch(m, spare); free || p != seen {
			seen, stuck = p, now
		}
		if now.Sub(start) < busyWait {
			// With one CPU the holder may be waiting for this one;
			// otherwise it runs elsewhere, and a yield would only
			// cost a system call.
			pacer.Tick(now)
			continue
		}
		if !deadline.IsZero() && !now.Before(deadline) {
			// Out of time: one look at whether the holder is dead
			// (then the lock is ours), else give up.
			if takeOver(w, spare, seen.holder, now.Sub(stuck)) {
				return nil
			}
			return unix.ETIMEDOUT
		}
		time.Sleep(nap)
		if now.Sub(lastProbe) < probe {
			continue
		}
		lastProbe = now
		held := now.Sub(stuck)
		if takeOver(w, spare, seen.holder, held) {
			return nil
		}
		if held > GiveUpTimeout {
			return unix.EDEADLK
		}
	}
}

// takeovers counts locks taken over, for tests.
var takeovers atomic.Int64

// takeOver takes the lock from a holder that is gone: one whose recorded
// process no longer exists, or one that recorded nothing and has held the
// lock while the bus made no progress for UnknownHolderTimeout. Of several
// waiters only the one whose compare-and-swap of the spare word succeeds
// becomes the holder (docs/protocol.md §9.1). The ring the dead holder left
// is safe to use (docs/protocol.md §9.7).
func takeOver(w, spare *uint32, holder uint32, held time.Duration) bool {
	switch {
	case holder == self:
		return false // another thread of this process: alive by definition
	case holder == 0 || holder > 1<<22: // PID_MAX_LIMIT
		if held < UnknownHolderTimeout {
			return false
		}
	default:
		if alive(holder) {
			return false
		}
	}
	if !atomic.CompareAndSwapUint32(spare, holder, self) {
		return false
	}
	if atomic.CompareAndSwapUint32(w, 1, 1) {
		takeovers.Add(1)
		return true
	}
	// The word was released meanwhile: we only own the spare word.
	atomic.CompareAndSwapUint32(spare, self, 0)
	return false
}

// unlock releases the lock.
//
// NetBSD releases with an atomic swap (shmif_unlockbus, docs/protocol.md
// §4.2); a release store is enough for a lock and is invisible to peers
// (docs/protocol.md §9.3, §10.1). It matters for speed: the swap (like Go's
// atomic store on amd64) makes the CPU wait until every record just copied
// has reached the cache, while spinning peers keep taking the header's
// cache line away in between. The pid is cleared first: cleared after the
// lock word, it could wipe out the pid the next holder has just recorded
// (docs/protocol.md §9.1).
func unlock(m *layout.Mem) {
	layout.StoreRelease32(m.SpareWord(), 0)
	layout.StoreRelease32(m.LockWord(), 0)
}

// tryLock takes the lock like lock, but gives up with EBUSY after wait and
// never takes a lock over (for tools, docs/protocol.md §8.5, §9.1).
func tryLock(m *layout.Mem, wait time.Duration) error {
	w, spare := m.LockWord(), m.SpareWord()
	deadline := time.Now().Add(wait)
	for {
		for tries := 0; tries <= cooldown; tries++ {
			if atomic.CompareAndSwapUint32(w, 0, 1) {
				atomic.StoreUint32(spare, self)
				return nil
			}
		}
		if time.Now().After(deadline) {
			return unix.EBUSY
		}
		time.Sleep(nap)
	}
}

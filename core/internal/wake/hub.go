//go:build linux

package wake

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libshmif/libshmif/core/internal/layout"
	"golang.org/x/sys/unix"
)

// Hub is where the waiters of one bus in this process wait, and what its
// writers wake. The futex word is bumped on every change that a waiter
// must see; writers bump and wake only when a waiter has announced itself,
// so that a bus whose readers spin or keep up costs no system call. The
// words are the process's own, or shared by the libshmif processes of the
// bus (Share), so that they wake each other without a file write.
type Hub struct {
	words atomic.Pointer[words] // the futex words in use
	own   words                 // the process's own

	// ownWords is own with private set, what a hub falls back to when the
	// shared memory its words were in faults (it was truncated).
	ownWords *words

	path      string // the bus file as /proc/self/fd/N
	mu        sync.Mutex
	waiting   int    // waiters and listeners of this process
	openClose func() // called on opens and closes of the bus file, if set
	wd        int32  // the inotify watch, while mask != 0
	mask      uint32 // what the watch is for
	watchOK   bool
	listeners []*func()
	listening atomic.Bool

	fence atomic.Uint32 // a locked instruction: a full memory barrier
}

// words are a hub's futex word, bumped when the bus changes, and the count
// of waiters announced, in process memory or shared with other processes.
type words struct {
	word, sleepers *uint32
	private        bool
	wordv, sleepv  uint32 // the storage of the process's own
}

// NewHub returns the hub of the bus open as busFd, with its words in
// process memory.
func NewHub(busFd int) *Hub {
	// The process's watcher starts with its first bus, so that its
	// goroutine and descriptor are there for the life of the process
	// from then on, not from some later wait.
	startWatcher()
	h := &Hub{path: "/proc/self/fd/" + strconv.Itoa(busFd)}
	h.own.word, h.own.sleepers, h.own.private = &h.own.wordv, &h.own.sleepv, true
	h.ownWords = &h.own
	h.words.Store(h.ownWords)
	return h
}

// Share makes the hub use word and sleepers, in memory shared with the
// other libshmif processes of the bus. Call it before the hub is used.
// Shared memory can be truncated by whoever may write it: a fault on it
// makes the hub go back to its own words for good (waiters in other
// processes then see this process's changes by the file watch alone).
func (h *Hub) Share(word, sleepers *uint32) {
	h.words.Store(&words{word: word, sleepers: sleepers})
}

// safely runs fn on the words w; a fault on shared words makes the hub
// fall back to its own ones, and reports false.
func (h *Hub) safely(w *words, fn func()) bool {
	if w.private {
		fn()
		return true
	}
	if layout.CatchFault(fn) {
		h.words.CompareAndSwap(w, h.ownWords)
		return false
	}
	return true
}

// WatchOpens calls fn, from another goroutine, whenever a process opens or
// closes the bus file, from now until the hub's bus is closed (Unwatch).
func (h *Hub) WatchOpens(fn func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.openClose = fn
	h.updateWatch()
}

// Unwatch removes the hub's watch, whatever it was for: the bus is being
// closed.
func (h *Hub) Unwatch() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.openClose, h.waiting = nil, 0
	h.updateWatch()
}

// Wait waits once for the bus to change: it returns true at once if ready
// reports true, and otherwise sleeps until a wake-up, a signal, or the
// deadline (zero: none); the caller looks again and decides. ready is
// called after the waiter has announced itself, so that a writer who
// changes the bus after ready looked will wake it. It reports false if the
// deadline had passed before it slept.
//
// While it waits, the bus file is watched for the wake-up writes of NetBSD
// peers (and of libshmif processes that do not share this hub's words); if
// the watch cannot be had (the inotify watch limit), the wait is cut to
// pollInterval, as NetBSD polls on hosts without a watch.
func (h *Hub) Wait(ready func() bool, deadline time.Time) bool {
	w := h.words.Load()
	var s uint32
	if !h.safely(w, func() { s = atomic.LoadUint32(w.word) }) {
		w = h.words.Load()
		s = atomic.LoadUint32(w.word)
	}
	watched := h.enter(w)
	defer h.leave(w)
	if ready() {
		return true
	}
	d := time.Duration(-1)
	if !deadline.IsZero() {
		if d = time.Until(deadline); d <= 0 {
			return false
		}
	}
	if !watched && (d < 0 || d > pollInterval) {
		d = pollInterval
	}
	// A futex call on memory that went away fails (EFAULT) without a
	// signal: no need to guard it.
	FutexWait(w.word, s, d, w.private)
	return true
}

// pollInterval is how often a waiter looks at the bus when it cannot watch
// the file (NetBSD polls every 10 ms on such hosts).
const pollInterval = 10 * time.Millisecond

// enter announces a waiter and makes sure the bus file is watched. The
// atomic add is a full barrier: the announcement is visible before the
// waiter looks at the bus (see Changed).
func (h *Hub) enter(w *words) (watched bool) {
	h.safely(w, func() { atomic.AddUint32(w.sleepers, 1) })
	h.mu.Lock()
	defer h.mu.Unlock()
	h.waiting++
	h.updateWatch()
	return h.watchOK
}

func (h *Hub) leave(w *words) {
	h.mu.Lock()
	if h.waiting > 0 {
		h.waiting--
	}
	h.updateWatch()
	h.mu.Unlock()
	h.safely(w, func() { atomic.AddUint32(w.sleepers, ^uint32(0)) })
}

// updateWatch gives the watch the mask it needs now: modifications while
// someone waits or listens, opens and closes while someone wants them.
// Needs mu.
func (h *Hub) updateWatch() {
	var mask uint32
	if h.waiting > 0 {
		mask |= unix.IN_MODIFY
	}
	if h.openClose != nil {
		mask |= unix.IN_OPEN | unix.IN_CLOSE_WRITE | unix.IN_CLOSE_NOWRITE
	}
	if mask == h.mask && (h.watchOK || mask == 0) {
		return
	}
	if mask == 0 {
		if h.watchOK {
			removeWatch(h.wd)
		}
		h.mask, h.watchOK = 0, false
		return
	}
	wd, err := addWatch(h.path, mask, h)
	h.wd, h.mask, h.watchOK = wd, mask, err == nil
}

// Listen calls fn after every change of the bus from now on, until the
// returned function is called: on every bump (a wake-up write of another
// process, a waiter's wake-up) and on every Changed of this process, even
// with no waiter. fn must be quick and must not call the hub. For poll
// descriptors, which event loops wait on in place of a futex: one listener
// per bus serves them all, without a thread of its own.
func (h *Hub) Listen(fn func()) (stop func()) {
	p := &fn
	h.mu.Lock()
	h.listeners = append(h.listeners, p)
	h.listening.Store(true)
	h.waiting++
	h.updateWatch()
	h.mu.Unlock()
	return func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		for k, q := range h.listeners {
			if q == p {
				h.listeners = append(h.listeners[:k], h.listeners[k+1:]...)
				if h.waiting > 0 {
					h.waiting--
				}
				h.updateWatch()
				break
			}
		}
		h.listening.Store(len(h.listeners) > 0)
	}
}

func (h *Hub) notifyListeners() {
	if !h.listening.Load() {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, fn := range h.listeners {
		(*fn)()
	}
}

// Changed wakes every waiter of the hub, if there is one, after the bus
// changed: frames written, or an interface's state that its receivers
// wait on. The barrier orders the caller's stores to the bus before the
// look at the waiters: with the one in enter, either the waiter sees the
// change or the writer sees the waiter.
func (h *Hub) Changed() {
	h.fence.Add(1)
	w := h.words.Load()
	sleeping := false
	h.safely(w, func() {
		if sleeping = atomic.LoadUint32(w.sleepers) != 0; sleeping {
			atomic.AddUint32(w.word, 1)
		}
	})
	if sleeping {
		FutexWake(w.word, w.private)
	}
	if w != h.words.Load() {
		h.bumpOwn() // fell back just now: wake this process's waiters
	}
	h.notifyListeners()
}

// bumpOwn wakes whoever waits on the hub's own words.
func (h *Hub) bumpOwn() {
	atomic.AddUint32(h.own.word, 1)
	FutexWake(h.own.word, true)
}

// event handles what the watch saw.
func (h *Hub) event(mask uint32) {
	if mask&unix.IN_MODIFY != 0 {
		w := h.words.Load()
		if h.safely(w, func() { atomic.AddUint32(w.word, 1) }) {
			FutexWake(w.word, w.private)
		} else {
			h.bumpOwn()
		}
		h.notifyListeners()
	}
	if mask&(unix.IN_OPEN|unix.IN_CLOSE_WRITE|unix.IN_CLOSE_NOWRITE) != 0 {
		h.mu.Lock()
		fn := h.openClose
		h.mu.Unlock()
		if fn != nil {
			fn()
		}
	}
}

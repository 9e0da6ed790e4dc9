//go:build linux

package wake

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Hub is where the waiters of one bus in this process wait, and what its
// writers wake. The futex word is bumped on every change that a waiter
// must see; writers bump and wake only when a waiter has announced itself,
// so that a bus whose readers spin or keep up costs no system call.
type Hub struct {
	word     *uint32 // futex word: bumped when the bus changes
	sleepers *uint32 // waiters announced
	private  bool    // the words are in process memory
	own      struct{ word, sleepers uint32 }

	path      string // the bus file as /proc/self/fd/N
	mu        sync.Mutex
	waiting   int   // waiters and listeners of this process
	wd        int32 // the inotify watch while waiting > 0
	watchOK   bool
	listeners []*func()
	listening atomic.Bool

	fence atomic.Uint32 // a locked instruction: a full memory barrier
}

// NewHub returns the hub of the bus open as busFd, with its words in
// process memory.
func NewHub(busFd int) *Hub {
	// The process's watcher starts with its first bus, so that its
	// goroutine and descriptor are there for the life of the process
	// from then on, not from some later wait.
	startWatcher()
	h := &Hub{path: "/proc/self/fd/" + strconv.Itoa(busFd), private: true}
	h.word, h.sleepers = &h.own.word, &h.own.sleepers
	return h
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
	s := atomic.LoadUint32(h.word)
	watched := h.enter()
	defer h.leave()
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
	futexWait(h.word, s, d, h.private)
	return true
}

// pollInterval is how often a waiter looks at the bus when it cannot watch
// the file (NetBSD polls every 10 ms on such hosts).
const pollInterval = 10 * time.Millisecond

// enter announces a waiter and makes sure the bus file is watched. The
// atomic add is a full barrier: the announcement is visible before the
// waiter looks at the bus (see Changed).
func (h *Hub) enter() (watched bool) {
	atomic.AddUint32(h.sleepers, 1)
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.watchLocked()
}

func (h *Hub) leave() {
	h.mu.Lock()
	h.unwatchLocked()
	h.mu.Unlock()
	atomic.AddUint32(h.sleepers, ^uint32(0))
}

func (h *Hub) watchLocked() bool {
	if h.waiting == 0 {
		wd, err := addWatch(h.path, h)
		h.wd, h.watchOK = wd, err == nil
	}
	h.waiting++
	return h.watchOK
}

func (h *Hub) unwatchLocked() {
	if h.waiting--; h.waiting == 0 && h.watchOK {
		removeWatch(h.wd)
		h.watchOK = false
	}
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
	h.watchLocked()
	h.mu.Unlock()
	return func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		for k, q := range h.listeners {
			if q == p {
				h.listeners = append(h.listeners[:k], h.listeners[k+1:]...)
				h.unwatchLocked()
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
	if atomic.LoadUint32(h.sleepers) != 0 {
		atomic.AddUint32(h.word, 1)
		futexWake(h.word, h.private)
	}
	h.notifyListeners()
}

// bump moves the word, wakes its waiters and tells the listeners: the bus
// file was written by someone.
func (h *Hub) bump() {
	atomic.AddUint32(h.word, 1)
	futexWake(h.word, h.private)
	h.notifyListeners()
}

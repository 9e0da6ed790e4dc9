package shmif

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/libshmif/libshmif/core/internal/bus"
	"github.com/libshmif/libshmif/core/internal/layout"
	"github.com/libshmif/libshmif/core/internal/wake"
	"golang.org/x/sys/unix"
)

// poller is an interface's poll descriptor: an eventfd that is readable
// while frames may be waiting, for event loops. A receive that finds
// nothing clears it, then looks again, so a frame is never left waiting
// behind a cleared descriptor; what arrives later sets it again, through
// the pollGroup of its bus.
type poller struct {
	i     *Interface
	ready *wake.Flag
	group *pollGroup
}

// pollGroup serves the poll descriptors of one bus in this process with
// one listener on the bus's hub: however many interfaces poll a bus, it
// costs one inotify watch and no thread.
type pollGroup struct {
	b       *bus.Bus
	mu      sync.Mutex
	members map[*poller]struct{}
	stop    func() // ends the listening
}

var pollGroups = struct {
	sync.Mutex
	m map[*bus.Bus]*pollGroup
}{m: make(map[*bus.Bus]*pollGroup)}

// retireDelay is how long a destroyed interface's poll descriptor stays
// open, readable, before it is closed: closing it at once would remove it
// from an epoll set before a waiting epoll_wait had collected the event.
const retireDelay = 250 * time.Millisecond

// PollFd returns a descriptor that polls readable while a frame may be
// waiting. It belongs to the interface: never read or close it. UnsetLinkstr
// and Destroy make it readable, so that event loops waiting on it return,
// and close it a quarter of a second later: do not use it after them.
// Errors: ENXIO if destroyed, ENETDOWN without a bus, EMFILE or ENFILE when
// no descriptor can be had.
func (i *Interface) PollFd() (int, error) {
	i.cfg.Lock()
	defer i.cfg.Unlock()
	switch {
	case i.destroyed:
		return -1, unix.ENXIO
	case i.bus == nil:
		return -1, unix.ENETDOWN
	case i.poll != nil:
		return i.poll.ready.Fd(), nil
	}
	ready, err := wake.NewFlag()
	if err != nil {
		return -1, err
	}
	p := &poller{i: i, ready: ready}
	// Frames may be waiting already.
	p.ready.Set()
	joinPollGroup(i.bus, p)
	i.poll = p
	return p.ready.Fd(), nil
}

func joinPollGroup(b *bus.Bus, p *poller) {
	pollGroups.Lock()
	defer pollGroups.Unlock()
	g := pollGroups.m[b]
	if g == nil {
		g = &pollGroup{b: b, members: make(map[*poller]struct{})}
		pollGroups.m[b] = g
		stop := b.Hub().Listen(g.changed)
		// Poll descriptors wait on inotify: writers of every process
		// must make the wake-up write while there are some.
		b.AddPoller(1)
		g.stop = func() { b.AddPoller(-1); stop() }
	}
	g.mu.Lock()
	g.members[p] = struct{}{}
	g.mu.Unlock()
	p.group = g
}

// changed sets the descriptors of the members whose bus changed since
// their interface last caught up.
func (g *pollGroup) changed() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for p := range g.members {
		p.setIfChanged(g.b)
	}
}

// testHookPollLooked, if set, runs between a poll group's look and its
// setting of the descriptor, with what the look found; tests widen that
// window with it.
var testHookPollLooked atomic.Pointer[func(idle bool)]

// setIfChanged sets the descriptor if the bus changed since the interface
// last caught up. It looks and sets under rx, as a receive that finds
// nothing clears and looks: set outside rx, a look made before a receive
// took the last frame could set the descriptor after that receive had
// cleared it, leaving it readable with nothing to read. b is the
// interface's bus: it stays attached while the interface is a member of
// b's group.
func (p *poller) setIfChanged(b *bus.Bus) {
	i := p.i
	i.rx.Lock()
	defer i.rx.Unlock()
	idle := false
	b.Guard(func(m *layout.Mem) error {
		idle = i.unchanged(m)
		return nil
	})
	if hook := testHookPollLooked.Load(); hook != nil {
		(*hook)(idle)
	}
	if !idle {
		p.ready.Set()
	}
}

// retire leaves the group, makes the descriptor readable and closes it
// after retireDelay. The last member ends the group's listening. Needs the
// interface's cfg held for writing.
func (p *poller) retire() {
	g := p.group
	pollGroups.Lock()
	g.mu.Lock()
	delete(g.members, p)
	last := len(g.members) == 0
	if last {
		delete(pollGroups.m, g.b)
	}
	g.mu.Unlock()
	pollGroups.Unlock()
	if last {
		g.stop()
	}
	p.ready.Set()
	ready := p.ready
	time.AfterFunc(retireDelay, func() { ready.Close() })
}

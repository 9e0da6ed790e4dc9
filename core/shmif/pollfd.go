package shmif

import (
	"github.com/libshmif/libshmif/core/internal/layout"
	"github.com/libshmif/libshmif/core/internal/wake"
	"golang.org/x/sys/unix"
)

// poller makes an eventfd readable while frames may be waiting, for event
// loops. A goroutine turns the bus's wake-ups into eventfd signals; a
// receive that finds nothing clears the eventfd, then looks again, so a
// frame is never left waiting behind a cleared descriptor.
type poller struct {
	ready   *wake.Flag // the descriptor event loops wait on
	stop    *wake.Flag // ends the forwarder
	watch   *wake.Watcher
	pending func() bool // whether the bus changed since the reader caught up
	done    chan struct{}
}

// PollFd returns a descriptor that polls readable while a frame may be
// waiting. It belongs to the interface: never read or close it; it is closed
// by UnsetLinkstr and Destroy. Errors: ENXIO if destroyed, ENETDOWN without
// a bus.
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
	p, err := newPoller(i)
	if err != nil {
		return -1, err
	}
	go p.forward()
	// Frames may be waiting already.
	p.ready.Set()
	i.poll = p
	return p.ready.Fd(), nil
}

// newPoller makes the poller's flags and its armed watcher.
func newPoller(i *Interface) (*poller, error) {
	p := &poller{pending: i.mayHaveFrames, done: make(chan struct{})}
	var err error
	if p.ready, err = wake.NewFlag(); err != nil {
		return nil, err
	}
	if p.stop, err = wake.NewFlag(); err == nil {
		if p.watch, err = i.bus.NewWatcher(); err == nil {
			if err = p.watch.Arm(); err == nil {
				return p, nil
			}
			p.watch.Close()
		}
		p.stop.Close()
	}
	p.ready.Close()
	return nil, err
}

func (p *poller) forward() {
	defer close(p.done)
	for !wake.WaitFor(p.watch, p.stop, -1) {
		p.watch.Drain()
		// A wake-up can be handled after a receiver already took what
		// it announced: signal only if there is something new.
		if p.pending() {
			p.ready.Set()
		}
	}
}

// close stops the forwarder and releases the descriptors.
func (p *poller) close() {
	p.stop.Set()
	<-p.done
	p.watch.Close()
	p.stop.Close()
	p.ready.Close()
}

// mayHaveFrames reports whether the bus changed since the reader last
// caught up. The bus stays attached while the poller runs: detach closes
// the poller first.
func (i *Interface) mayHaveFrames() bool {
	i.rx.Lock()
	defer i.rx.Unlock()
	idle := false
	i.bus.Guard(func(m *layout.Mem) error {
		idle = i.unchanged(m)
		return nil
	})
	return !idle
}

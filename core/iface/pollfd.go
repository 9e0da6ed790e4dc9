package iface

import (
	"encoding/binary"

	"github.com/libshmif/libshmif/core/shm"
	"github.com/libshmif/libshmif/core/wake"
	"golang.org/x/sys/unix"
)

// poller makes an eventfd readable while frames may be waiting, for event
// loops. A goroutine turns the bus's wake-ups into eventfd signals; a
// receive that finds nothing clears the eventfd, then looks again, so a
// frame is never left waiting behind a cleared descriptor.
type poller struct {
	efd     int
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
		return i.poll.efd, nil
	}
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return -1, err
	}
	w, err := i.bus.NewWatcher()
	if err != nil {
		unix.Close(efd)
		return -1, err
	}
	if err := w.Arm(); err != nil {
		w.Close()
		unix.Close(efd)
		return -1, err
	}
	p := &poller{efd: efd, watch: w, pending: i.mayHaveFrames, done: make(chan struct{})}
	go p.forward()
	// Frames may be waiting already.
	p.signal()
	i.poll = p
	return efd, nil
}

func (p *poller) forward() {
	defer close(p.done)
	for {
		if p.watch.Wait(-1) {
			return
		}
		p.watch.Drain()
		// A wake-up can be handled after a receiver already took what
		// it announced: signal only if there is something new.
		if p.pending() {
			p.signal()
		}
	}
}

func (p *poller) signal() {
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	unix.Write(p.efd, one[:])
}

func (p *poller) clear() {
	var buf [8]byte
	unix.Read(p.efd, buf[:])
}

// close stops the forwarder and releases the descriptors.
func (p *poller) close() {
	p.watch.Kick()
	<-p.done
	p.watch.Close()
	unix.Close(p.efd)
}

// mayHaveFrames reports whether the bus changed since the reader last
// caught up. The bus stays attached while the poller runs: detach closes
// the poller first.
func (i *Interface) mayHaveFrames() bool {
	i.rx.Lock()
	defer i.rx.Unlock()
	idle := false
	i.bus.Guard(func(m *shmMem) error {
		idle = m.Magic() == shm.Magic && i.reader.Idle(m)
		return nil
	})
	return !idle
}

// Package shmifbus is the shmif:// bridge endpoint: a second shmif bus, so
// that a bridge joins two buses (either may be shared with NetBSD rump
// kernels).
//
//	shmif://PATH[/mode=0644]
//
// mode is the permission bits of the bus file if the endpoint creates it
// (under the umask).
package shmifbus

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/libshmif/libshmif/core/bridge/internal/fdio"
	"github.com/libshmif/libshmif/core/bridge/internal/spec"
	"github.com/libshmif/libshmif/core/shmif"
	"golang.org/x/sys/unix"
)

// DefaultMode is the permission bits of new bus files, as shmif_open's.
const DefaultMode = 0o644

// OpenBus attaches a new interface to the bus file at path, as a bridge
// needs it: created with mode (0: DefaultMode) under the umask if missing,
// up, promiscuous, and reading from now on (Up would deliver the newest
// frame already on the bus once more: a bridge restarted must not forward
// it twice).
func OpenBus(path string, mode uint32) (*shmif.Interface, error) {
	if mode == 0 {
		mode = DefaultMode
	}
	ifc, err := shmif.OpenMode(path, -1, mode)
	if err != nil {
		return nil, explain(err)
	}
	// Media none then auto skips to the present, as NetBSD drops what
	// arrives while the link is down.
	err = ifc.SetPromisc(true)
	if err == nil {
		err = ifc.SetMedia(shmif.MediaNone)
	}
	if err == nil {
		err = ifc.SetMedia(shmif.MediaAuto)
	}
	if err != nil {
		ifc.Destroy()
		return nil, err
	}
	return ifc, nil
}

// Endpoint is an interface on a second bus.
type Endpoint struct {
	ifc    *shmif.Interface
	url    string
	frames []shmif.Frame
	closed atomic.Bool
}

// Open opens a shmif:// URL.
func Open(s string) (*Endpoint, error) {
	u, err := spec.Parse(s, "mode")
	if err != nil {
		return nil, err
	}
	if u.Scheme != "shmif" || u.Addr == "" {
		return nil, spec.Errorf(s, "expected shmif://PATH")
	}
	mode, err := u.Mode("mode", DefaultMode)
	if err != nil {
		return nil, err
	}
	ifc, err := OpenBus(u.Addr, mode)
	if err != nil {
		return nil, spec.Wrap(s, "bus "+u.Addr, err)
	}
	return &Endpoint{ifc: ifc, url: s}, nil
}

// Interface returns the endpoint's interface on the bus.
func (e *Endpoint) Interface() *shmif.Interface { return e.ifc }

// ReadFrames receives a batch from the bus.
func (e *Endpoint) ReadFrames(bufs [][]byte, lens []int) (int, error) {
	if len(e.frames) < len(bufs) {
		e.frames = make([]shmif.Frame, len(bufs))
	}
	fr := e.frames[:len(bufs)]
	for i := range fr {
		fr[i].Buf = bufs[i]
	}
	for {
		n, err := e.ifc.RecvBatch(fr, -1)
		if e.closed.Load() {
			return 0, fdio.Closed(e.url)
		}
		if errors.Is(err, unix.EDEADLK) {
			time.Sleep(time.Millisecond)
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("bus: %w", err)
		}
		for i := range n {
			lens[i] = fr[i].Len
		}
		return n, nil
	}
}

// WriteFrames puts frames on the bus under one lock hold.
func (e *Endpoint) WriteFrames(frames [][]byte) (int, error) {
	n, err := e.ifc.SendBatch(frames)
	if e.closed.Load() {
		return n, fdio.Closed(e.url)
	}
	if errors.Is(err, unix.EDEADLK) {
		// The lock is wedged by a live holder: these frames are lost,
		// not the endpoint.
		return len(frames), nil
	}
	if err != nil {
		return n, fmt.Errorf("bus: %w", err)
	}
	return n, nil
}

// MaxFrame is the largest frame of a bus.
func (e *Endpoint) MaxFrame() int { return 1514 }

// Close destroys the interface; the bus file stays.
func (e *Endpoint) Close() error {
	if e.closed.Swap(true) {
		return nil
	}
	e.ifc.Destroy()
	return nil
}

func (e *Endpoint) String() string { return e.url }

// Stats are the counters of the endpoint's interface.
type Stats struct{ Lost, Corrupt uint64 }

func (s Stats) String() string { return fmt.Sprintf("lost=%d corrupt=%d", s.Lost, s.Corrupt) }

// Stats returns the counters of the endpoint's interface.
func (e *Endpoint) Stats() Stats {
	s := e.ifc.Stats()
	return Stats{Lost: s.Lost, Corrupt: s.Corrupt}
}

// explain words the errors of opening a bus that errno strings say poorly;
// the result still matches the errno.
func explain(err error) error {
	switch {
	case errors.Is(err, unix.ENOEXEC):
		return &busError{"not a shmif bus file (left unchanged)", err}
	case errors.Is(err, unix.EINVAL):
		return &busError{"not a regular file", err}
	}
	return err
}

type busError struct {
	msg string
	err error
}

func (e *busError) Error() string { return e.msg }
func (e *busError) Unwrap() error { return e.err }

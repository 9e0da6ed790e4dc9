// Package fdio is how bridge endpoints use descriptors: non-blocking, with
// close-on-exec, waited on by the Go runtime's poller (epoll), so that a
// goroutine blocked reading is woken by Close from another one without
// closing a descriptor under it, and batched socket calls
// (recvmmsg/sendmmsg) with buffers set up once.
package fdio

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// FD is a non-blocking descriptor registered with the runtime poller.
// Read and Write may be called concurrently with each other and with Close.
type FD struct {
	f      *os.File
	rc     syscall.RawConn
	name   string
	closed atomic.Bool
}

// New takes ownership of fd: it makes it non-blocking and close-on-exec and
// registers it with the runtime poller. name is used in error messages.
func New(fd int, name string) (*FD, error) {
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, err
	}
	unix.CloseOnExec(fd)
	f := os.NewFile(uintptr(fd), name)
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &FD{f: f, rc: rc, name: name}, nil
}

// Read calls op with the descriptor until it returns something other than
// EAGAIN, waiting for readability in between; EINTR is retried. After
// Close it returns an error that matches net.ErrClosed.
func (d *FD) Read(op func(fd int) error) error {
	var opErr error
	err := d.rc.Read(func(fd uintptr) bool {
		for {
			opErr = op(int(fd))
			if opErr != unix.EINTR {
				return opErr != unix.EAGAIN
			}
		}
	})
	return d.result(err, opErr)
}

// Write is Read for writability.
func (d *FD) Write(op func(fd int) error) error {
	var opErr error
	err := d.rc.Write(func(fd uintptr) bool {
		for {
			opErr = op(int(fd))
			if opErr != unix.EINTR {
				return opErr != unix.EAGAIN
			}
		}
	})
	return d.result(err, opErr)
}

// Control calls op with the descriptor, without waiting.
func (d *FD) Control(op func(fd int) error) error {
	var opErr error
	err := d.rc.Control(func(fd uintptr) { opErr = op(int(fd)) })
	return d.result(err, opErr)
}

// result is the outcome of a call: an operation that succeeded did, even
// if Close came right after it (a peer that read a frame and hung up got
// that frame); otherwise a closed endpoint says so rather than give the
// error its closing caused.
func (d *FD) result(pollErr, opErr error) error {
	if pollErr == nil && opErr == nil {
		return nil
	}
	if d.closed.Load() {
		return Closed(d.name)
	}
	if pollErr != nil {
		return pollErr
	}
	return opErr
}

// Closed is the error of calls on a closed endpoint: it matches
// net.ErrClosed.
func Closed(name string) error {
	return fmt.Errorf("%s: %w", name, net.ErrClosed)
}

// IsClosed reports whether err says the endpoint was closed.
func IsClosed(err error) bool { return errors.Is(err, net.ErrClosed) }

// Close ends blocked calls and releases the descriptor once they have
// left it. Idempotent.
func (d *FD) Close() error {
	if d.closed.Swap(true) {
		return nil
	}
	return d.f.Close()
}

// Closing reports whether Close was called.
func (d *FD) Closing() bool { return d.closed.Load() }

// Name returns the name given to New.
func (d *FD) Name() string { return d.name }

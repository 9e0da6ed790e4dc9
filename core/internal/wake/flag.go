//go:build linux

package wake

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
)

// Flag is a level-triggered flag that a descriptor shows: readable while it
// is set. It is the poll descriptor event loops wait on.
type Flag struct{ fd int }

// NewFlag returns a clear Flag.
func NewFlag() (*Flag, error) {
	fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	return &Flag{fd: fd}, nil
}

// Fd returns the descriptor that polls readable while the flag is set.
func (f *Flag) Fd() int { return f.fd }

// Set sets the flag until Clear.
func (f *Flag) Set() {
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	unix.Write(f.fd, one[:])
}

// Clear clears the flag.
func (f *Flag) Clear() {
	var buf [8]byte
	unix.Read(f.fd, buf[:])
}

// Close releases the flag.
func (f *Flag) Close() error { return unix.Close(f.fd) }

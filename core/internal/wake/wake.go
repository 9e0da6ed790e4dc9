// Package wake carries shmif's wake-ups between processes (spec §4).
//
// Stores into the bus mapping notify nobody, so after writing frames a sender
// makes one real write system call: the 4-byte value 3 (the bus version) at
// file offset 4. Waiting readers watch the bus file for modification
// (inotify IN_MODIFY on Linux, as NetBSD's rumpuser does) and re-check the
// ring whenever they wake. NetBSD rump kernels on the same bus wake up the
// same way, in both directions.
package wake

import (
	"github.com/libshmif/libshmif/core/internal/layout"
	"golang.org/x/sys/unix"
)

var versionWord = func() [4]byte {
	var b [4]byte
	layout.NativeEndian.PutUint32(b[:], layout.Version)
	return b
}()

// Notify wakes every reader of the bus open as fd.
func Notify(fd int) error {
	for {
		_, err := unix.Pwrite(fd, versionWord[:], layout.OffVersion)
		if err != unix.EINTR {
			return err
		}
	}
}

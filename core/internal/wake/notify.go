//go:build linux

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

// Notify wakes every NetBSD-style reader of the bus open as fd: it writes
// the bus version at offset 4, which inotify watchers see as a
// modification (and which stamps the version, as NetBSD's does).
func Notify(fd int) error {
	for {
		_, err := unix.Pwrite(fd, versionWord[:], layout.OffVersion)
		if err != unix.EINTR {
			return err
		}
	}
}

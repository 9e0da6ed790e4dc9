//go:build !linux

package buslock

import "golang.org/x/sys/unix"

// alive reports whether process pid still exists.
func alive(pid uint32) bool { return unix.Kill(int(pid), 0) != unix.ESRCH }

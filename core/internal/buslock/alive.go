//go:build linux

package buslock

import (
	"bytes"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// alive reports whether process pid can still release a lock: it exists
// and is not a zombie (killed, but not yet reaped by its parent;
// docs/protocol.md §9.1).
func alive(pid uint32) bool {
	if unix.Kill(int(pid), 0) == unix.ESRCH {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.FormatUint(uint64(pid), 10) + "/stat")
	if err != nil {
		return !os.IsNotExist(err)
	}
	// The state follows the command name, which is in parentheses and
	// may itself contain them.
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) {
		switch stat[i+2] {
		case 'Z', 'X':
			return false
		}
	}
	return true
}

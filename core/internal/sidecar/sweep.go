//go:build linux

package sidecar

import (
	"os"
	"strings"
	"sync"

	"github.com/libshmif/libshmif/core/internal/layout"
	"golang.org/x/sys/unix"
)

// A process killed while attached cannot remove its sidecar file, and the
// bus it belonged to is often a temporary file that no process will attach
// to again: nothing else would ever remove it. So each process, when it
// first opens a sidecar, removes a bounded number of abandoned ones of its
// own user: files no live process is registered in.

// sweepMax bounds the files one process examines, so that attaching stays
// cheap however many have piled up; later processes examine the rest.
const sweepMax = 64

var sweepOnce sync.Once

// sweep removes abandoned sidecar files in Dir other than keep.
func sweep(keep string) {
	d, err := os.Open(Dir)
	if err != nil {
		return
	}
	names, _ := d.Readdirnames(-1)
	d.Close()
	seen := 0
	uid := uint32(os.Geteuid())
	for _, name := range names {
		path := Dir + "/" + name
		if !strings.HasPrefix(name, "shmif-") || path == keep {
			continue
		}
		// Only this user's files count toward the bound: others'
		// cannot be removed, and must not hide ours.
		var st unix.Stat_t
		if unix.Lstat(path, &st) != nil || st.Uid != uid {
			continue
		}
		if seen++; seen > sweepMax {
			return
		}
		sweepFile(path)
	}
}

// sweepFile removes path if it is an abandoned sidecar file of this user:
// one whose every registered process is dead (their slots are freed on the
// way), or one left empty by a creator that died before sizing it. A file
// in use is locked only for moments, so a busy one is skipped, not waited
// for.
func sweepFile(path string) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return
	}
	defer unix.Close(fd)
	if unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB) != nil {
		return
	}
	defer unix.Flock(fd, unix.LOCK_UN)
	var st, now unix.Stat_t
	if unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG || st.Nlink == 0 ||
		st.Uid != uint32(os.Geteuid()) {
		return
	}
	switch st.Size {
	case 0:
	case Size:
		mem, err := unix.Mmap(fd, 0, Size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
		if err != nil {
			return
		}
		s := &State{mem: mem, self: -1}
		abandoned := false
		layout.CatchFault(func() { // truncated under us: leave it
			ours := s.u32(offMagic) == magic && s.u32(offVersion) == version && s.u32(offSize) == Size &&
				s.u32(offSlots) == nslots
			if ours {
				s.reclaim()
				abandoned = !s.anyAlive()
			}
		})
		unix.Munmap(mem)
		if !abandoned {
			return
		}
	default:
		return // not a sidecar file of this version: not ours to judge
	}
	// Remove it only if path still names the file we examined: opening
	// processes recheck that under the lock we hold, and start again.
	if unix.Stat(path, &now) == nil && now.Ino == st.Ino && now.Dev == st.Dev {
		unix.Unlink(path)
	}
}

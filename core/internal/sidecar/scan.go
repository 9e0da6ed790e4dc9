//go:build linux

package sidecar

import (
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Foreign reports whether a process that is not a registered libshmif
// process has the bus file (device dev, inode ino) open: a NetBSD rump
// kernel, shmif_dumpbus, a libshmif process without a sidecar, anything.
// Such a process may be waiting for NetBSD's wake-up write, which libshmif
// writers make only while Foreign is true. It looks at the processes of
// this pid namespace in /proc: a process it may not inspect (another user's)
// counts as foreign if its user could write the bus (mode and owner of
// busMode/busUID/busGID), except root's processes when this process is not
// root (libshmif cannot tell whether a root process uses the bus of an
// ordinary user). A registered process of another pid namespace makes the
// answer true as well: its neighbours there cannot be seen.
func (s *State) Foreign(dev, ino uint64, busMode, busUID, busGID uint32) (foreign bool) {
	foreign = true // broken: a NetBSD peer cannot be ruled out
	s.safe(func() { foreign = s.foreign(dev, ino, busMode, busUID, busGID) })
	return foreign
}

func (s *State) foreign(dev, ino uint64, busMode, busUID, busGID uint32) bool {
	if s.OtherNamespaces() {
		return true
	}
	dir, err := os.Open("/proc")
	if err != nil {
		return true
	}
	defer dir.Close()
	names, err := dir.Readdirnames(-1)
	if err != nil {
		return true
	}
	self := os.Getpid()
	uid := uint32(os.Geteuid())
	for _, name := range names {
		pid, err := strconv.Atoi(name)
		if err != nil || pid == self {
			continue
		}
		switch opens(pid, dev, ino) {
		case openedNo:
		case openedYes:
			if !s.Registered(pid) {
				return true
			}
		case openedUnknown:
			var st unix.Stat_t
			if unix.Stat("/proc/"+name, &st) != nil {
				continue // gone
			}
			if st.Uid == 0 && uid != 0 {
				continue
			}
			if mayWrite(st.Uid, st.Gid, busMode, busUID, busGID) && !s.Registered(pid) {
				return true
			}
		}
	}
	return false
}

type opened int

const (
	openedNo opened = iota
	openedYes
	openedUnknown
)

// opens reports whether process pid has the file (dev, ino) open.
func opens(pid int, dev, ino uint64) opened {
	fdDir := "/proc/" + strconv.Itoa(pid) + "/fd"
	fd, err := unix.Open(fdDir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		if err == unix.ENOENT {
			return openedNo
		}
		return openedUnknown
	}
	f := os.NewFile(uintptr(fd), fdDir)
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return openedUnknown
	}
	for _, n := range names {
		var st unix.Stat_t
		if unix.Fstatat(fd, n, &st, 0) == nil && st.Dev == dev && st.Ino == ino {
			return openedYes
		}
	}
	return openedNo
}

// mayWrite reports whether a process of user uid (primary group gid) could
// open a file of mode, owner and group for writing, by its permission bits.
func mayWrite(uid, gid, mode, owner, group uint32) bool {
	switch {
	case uid == 0:
		return true
	case uid == owner:
		return mode&0o200 != 0
	case gid == group:
		return mode&0o020 != 0
	}
	return mode&0o002 != 0
}

package sock

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

var sprintf = fmt.Sprintf

// DefaultMode is the permission bits of the unix socket files endpoints
// create: only the owner may connect.
const DefaultMode = 0o600

// bindUnix binds fd to the unix socket path with exactly the permission
// bits mode, whatever the umask, without changing it: the socket's inode
// gets mode before bind(2), which then applies the umask, so the file
// never allows more than mode; bits the umask took away are put back by
// a chmod of the file just bound. A stale socket file (one nobody accepts
// on) is replaced. Abstract addresses ("@name") have no file and no mode.
func bindUnix(fd int, path string, mode uint32) error {
	sa := &unix.SockaddrUnix{Name: path}
	if path[0] == '@' {
		sa.Name = "\x00" + path[1:]
		return unix.Bind(fd, sa)
	}
	if err := unix.Fchmod(fd, mode); err != nil {
		return err
	}
	err := unix.Bind(fd, sa)
	if err == unix.EADDRINUSE && stale(path) {
		if err = os.Remove(path); err == nil || errors.Is(err, os.ErrNotExist) {
			err = unix.Bind(fd, sa)
		}
	}
	if err != nil {
		return err
	}
	if mode&^umask() == mode {
		return nil
	}
	return chmodSocket(path, mode)
}

// stale reports whether path is a socket file nobody accepts on.
func stale(path string) bool {
	var st unix.Stat_t
	if unix.Lstat(path, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return false
	}
	for _, typ := range []int{unix.SOCK_STREAM, unix.SOCK_SEQPACKET, unix.SOCK_DGRAM} {
		fd, err := unix.Socket(unix.AF_UNIX, typ|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return false
		}
		err = unix.Connect(fd, &unix.SockaddrUnix{Name: path})
		unix.Close(fd)
		if err != unix.ECONNREFUSED && err != unix.EPROTOTYPE {
			return false // someone is there, or something else is wrong
		}
	}
	return true
}

// chmodSocket sets the mode of the socket file at path without following
// a symbolic link put there meanwhile: it changes the inode it opened.
func chmodSocket(path string, mode uint32) error {
	fd, err := unix.Open(path, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK || st.Uid != uint32(os.Geteuid()) {
		return unix.EPERM
	}
	return unix.Chmod("/proc/self/fd/"+strconv.Itoa(fd), mode)
}

// umask returns the process umask without changing it (Linux 4.7 and
// later show it in /proc/self/status); 0o022 if it cannot be read, which
// makes bindUnix chmod whenever mode has group or other write bits.
func umask() uint32 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0o022
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "Umask:"); ok {
			if n, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32); err == nil {
				return uint32(n)
			}
		}
	}
	return 0o022
}

package sock

import (
	"github.com/libshmif/libshmif/core/bridge/internal/fdio"
	"golang.org/x/sys/unix"
)

// stdioFDs are the duplicates of standard input and output a stdio
// endpoint uses, and their file status flags as they were: the endpoint
// needs them non-blocking, which changes the open files it shares with
// other processes, so Close puts the flags back.
type stdioFDs struct {
	in, out           *fdio.FD
	inFlags, outFlags int
}

// openStdio opens the stdio endpoint: VDE's dpipe framing (a 2-byte
// big-endian length before each frame) on standard input and output, so
// that `vde_plug URL = shmif_bridge BUS stdio` connects a VDE network.
func openStdio(url string) (*Stream, error) {
	st := &stdioFDs{}
	var err error
	if st.in, st.inFlags, err = dupNonblock(0, url); err != nil {
		return nil, err
	}
	if st.out, st.outFlags, err = dupNonblock(1, url); err != nil {
		st.restore()
		return nil, err
	}
	s := newStream(url, 2, newPeers(url, st.in))
	s.stdio = st
	return s, nil
}

func dupNonblock(fd int, url string) (*fdio.FD, int, error) {
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		return nil, 0, err
	}
	d, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 3)
	if err != nil {
		return nil, 0, err
	}
	f, err := fdio.New(d, url)
	if err != nil {
		unix.FcntlInt(uintptr(fd), unix.F_SETFL, flags)
		return nil, 0, err
	}
	return f, flags, nil
}

func (st *stdioFDs) restore() {
	if st.in != nil {
		unix.FcntlInt(0, unix.F_SETFL, st.inFlags)
		st.in.Close()
	}
	if st.out != nil {
		unix.FcntlInt(1, unix.F_SETFL, st.outFlags)
		st.out.Close()
	}
}

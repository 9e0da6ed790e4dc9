package main

/*
#include <rump/rump.h>
*/
import "C"

import (
	"context"
	"errors"
	"io"
	"os"
	"syscall"
	"time"

	"github.com/libshmif/libshmif/core/dump"
	"github.com/libshmif/libshmif/core/pcap"
	"golang.org/x/sys/unix"
)

// Capture and injection: pcap files from and onto a bus, as shmif_dumpbus
// -p and shmif_pcapin do, without running them.

// fdWriter writes to a caller's descriptor without owning it.
type fdWriter int

func (fd fdWriter) Write(b []byte) (int, error) {
	n := 0
	for n < len(b) {
		k, err := unix.Write(int(fd), b[n:])
		if err == unix.EINTR || err == unix.EAGAIN {
			if err == unix.EAGAIN {
				unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}, -1)
			}
			continue
		}
		if err != nil {
			return n, err
		}
		n += k
	}
	return n, nil
}

// fdReader reads from a caller's descriptor without owning it.
type fdReader int

func (fd fdReader) Read(b []byte) (int, error) {
	for {
		n, err := unix.Read(int(fd), b)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, -1)
			continue
		case err != nil:
			return 0, err
		case n == 0 && len(b) > 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

func validFd(fd C.int) bool {
	if fd < 0 {
		return false
	}
	_, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	return err == nil
}

// dumpErrno turns an error of the dump package into the errno a C caller
// gets.
func dumpErrno(err error) C.int {
	var pe *os.PathError
	var en syscall.Errno
	switch {
	case err == nil:
		return 0
	case errors.Is(err, dump.ErrNotBus), errors.Is(err, dump.ErrVersion), errors.Is(err, dump.ErrEmpty):
		// An empty file reaches here only when followed: it is not
		// an initialised bus yet.
		return C.int(unix.ENOEXEC)
	case errors.Is(err, dump.ErrTruncated), errors.Is(err, dump.ErrCorrupt):
		return C.int(unix.EIO)
	case errors.Is(err, dump.ErrFrameSize):
		return C.int(unix.EMSGSIZE)
	case errors.As(err, &pe) && errors.As(pe.Err, &en):
		return C.int(en)
	case errors.As(err, &en):
		return C.int(en)
	}
	return C.int(unix.EIO)
}

//export shmifgo_capture
func shmifgo_capture(cbus *C.char, fd C.int, followMs C.int, frames *C.uint64_t, lost *C.uint64_t) (rc C.int) {
	defer catch(&rc)
	room()
	p, rc := path(cbus)
	if rc != 0 {
		return rc
	}
	if followMs < 0 {
		return C.int(unix.EINVAL)
	}
	if !validFd(fd) {
		return C.int(unix.EBADF)
	}
	pw, err := pcap.NewWriter(fdWriter(fd), dump.Snaplen)
	if err != nil {
		return errno(err)
	}
	if followMs > 0 {
		// The file header goes out at once, so that a reader of a
		// pipe can start before the first frame.
		if err := pw.Flush(); err != nil {
			return errno(err)
		}
	}
	var n, missed uint64
	if followMs == 0 {
		img, err := dump.Snapshot(p)
		switch {
		case errors.Is(err, dump.ErrEmpty):
		case err != nil:
			return dumpErrno(err)
		default:
			err = img.Walk(func(r *dump.Record) error {
				n++
				return pw.Record(r.Sec, r.Usec, r.Frame)
			})
			if err != nil {
				return dumpErrno(err)
			}
		}
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(followMs)*time.Millisecond)
		defer cancel()
		err := dump.Follow(ctx, p, dump.FollowOptions{
			// Each record is flushed: a reader of fd (a pipe to
			// tcpdump) sees frames as they come, as with
			// shmif_dumpbus -f.
			Frame: func(r *dump.Record) error {
				n++
				if err := pw.Record(r.Sec, r.Usec, r.Frame); err != nil {
					return err
				}
				return pw.Flush()
			},
			Lost: func(k uint64) { missed += k },
		})
		if err != nil {
			return dumpErrno(err)
		}
	}
	if err := pw.Flush(); err != nil {
		return errno(err)
	}
	if frames != nil {
		*frames = C.uint64_t(n)
	}
	if lost != nil {
		*lost = C.uint64_t(missed)
	}
	return 0
}

//export shmifgo_inject
func shmifgo_inject(cbus *C.char, fd C.int, frames *C.uint64_t) (rc C.int) {
	defer catch(&rc)
	room()
	p, rc := path(cbus)
	if rc != 0 {
		return rc
	}
	if !validFd(fd) {
		return C.int(unix.EBADF)
	}
	r, err := pcap.NewReader(fdReader(fd))
	if err != nil {
		return readErrno(err)
	}
	var recs []pcap.Record
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return readErrno(err)
		}
		recs = append(recs, rec)
	}
	if _, err := dump.Inject(p, recs); err != nil {
		return dumpErrno(err)
	}
	if frames != nil {
		*frames = C.uint64_t(len(recs))
	}
	return 0
}

// readErrno: a capture file that cannot be read is EINVAL (not a pcap or
// pcapng file, or damaged), unless the descriptor itself failed.
func readErrno(err error) C.int {
	var en syscall.Errno
	if errors.As(err, &en) {
		return C.int(en)
	}
	return C.int(unix.EINVAL)
}

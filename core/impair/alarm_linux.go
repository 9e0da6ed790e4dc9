package impair

import (
	"errors"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// fdAlarm is a timerfd read through the Go poller: epoll returns as soon
// as the timer fires, so frames leave within microseconds of their due
// time instead of up to a millisecond late.
type fdAlarm struct {
	start time.Time
	base  int64 // CLOCK_MONOTONIC at start, which is Go's monotonic clock on Linux
	f     *os.File
	rc    syscall.RawConn
	buf   [8]byte
}

func newAlarm() alarm {
	if a, err := newFDAlarm(); err == nil {
		return a
	}
	return newTimerAlarm()
}

func newFDAlarm() (*fdAlarm, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	// A non-blocking descriptor joins the poller, so a blocked read
	// parks the goroutine, not a thread, and Close wakes it.
	f := os.NewFile(uintptr(fd), "impair-alarm")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	a := &fdAlarm{f: f, rc: rc, start: time.Now()}
	// Reading our clock before the kernel's errs on the late side: the
	// alarm may fire a few nanoseconds after a due time, never before.
	since := time.Since(a.start)
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		f.Close()
		return nil, err
	}
	a.base = ts.Nano() - int64(since)
	return a, nil
}

func (a *fdAlarm) now() time.Duration { return time.Since(a.start) }

func (a *fdAlarm) set(at time.Duration) {
	// A zero it_value would disarm the timer; base is far from zero.
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(max(a.base+int64(at), 1))}
	a.rc.Control(func(fd uintptr) {
		unix.TimerfdSettime(int(fd), unix.TFD_TIMER_ABSTIME, &spec, nil)
	})
}

func (a *fdAlarm) wait() bool {
	_, err := a.f.Read(a.buf[:])
	return !errors.Is(err, os.ErrClosed)
}

func (a *fdAlarm) close() { a.f.Close() }

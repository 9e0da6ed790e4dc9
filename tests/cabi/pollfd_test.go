package cabi_test

import (
	"testing"

	"golang.org/x/sys/unix"
)

// The poll descriptor of shmif_get_pollfd.

// TestPollFd: the descriptor polls readable after a peer sends, and not
// after the interface was drained.
func TestPollFd(t *testing.T) {
	setup(t)
	a, b := pair(t)
	var fd int32 = -1
	must(t, "shmif_get_pollfd", lib.shmif_get_pollfd(b, &fd))
	if fd < 0 {
		t.Fatalf("pollfd = %d", fd)
	}
	check(t, "shmif_get_pollfd(NULL)", lib.shmif_get_pollfd(b, nil), unix.EFAULT)
	poll := func(ms int) int {
		t.Helper()
		p := []unix.PollFd{{Fd: fd, Events: unix.POLLIN}}
		for {
			n, err := unix.Poll(p, ms)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				t.Fatalf("poll: %v", err)
			}
			if n == 1 && p[0].Revents&unix.POLLIN == 0 {
				t.Fatalf("poll revents %#x", p[0].Revents)
			}
			return n
		}
	}
	// Readiness may be spurious at first: drain, then it must be quiet.
	drain(t, b)
	if poll(100) != 0 {
		t.Errorf("pollfd readable after draining with nothing sent")
	}
	for round := range 3 {
		f := frame(broadcast, macOf(t, a), 60+round, "wake the poller")
		send(t, a, f)
		if poll(2000) != 1 {
			t.Fatalf("round %d: pollfd not readable within 2 s of a send", round)
		}
		mustRecv(t, b, f)
		drain(t, b)
		if poll(100) != 0 {
			t.Errorf("round %d: pollfd readable after draining", round)
		}
	}
	// Frames b will not receive may make it readable; draining quiets it.
	send(t, a, frame([6]byte{0x02, 0, 0, 0, 0, 1}, macOf(t, a), 60, "not for b"))
	poll(500)
	drain(t, b)
	if poll(100) != 0 {
		t.Errorf("pollfd readable after draining a frame not for b")
	}
}

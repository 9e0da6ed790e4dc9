package fdio

import (
	"testing"

	"golang.org/x/sys/unix"
)

// A write that succeeded counts as done even when Close came right after
// it, before the call returned: a peer that read the frame and hung up has
// it, and the bridge must count it sent, not failed.
func TestWriteDoneBeforeCloseSucceeds(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[1])
	d, err := New(fds[0], "test")
	if err != nil {
		t.Fatal(err)
	}
	err = d.Write(func(fd int) error {
		_, err := unix.Write(fd, []byte("frame"))
		// Another goroutine closes the endpoint right after: Close
		// marks it closed at once and releases the descriptor once
		// this call has left it.
		go d.Close()
		for !d.closed.Load() {
		}
		return err
	})
	if err != nil {
		t.Fatalf("a write that succeeded returned %v", err)
	}
	// A call that fails after Close says the endpoint is closed.
	err = d.Write(func(fd int) error { return unix.EBADF })
	if !IsClosed(err) {
		t.Fatalf("after Close: %v, want a closed error", err)
	}
}

package iface

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func frameTo(dst [6]byte, src [6]byte, payload string) []byte {
	f := append(append(append([]byte{}, dst[:]...), src[:]...), 0x08, 0x00)
	return append(f, payload...)
}

var broadcast = [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

func openPair(t *testing.T) (*Interface, *Interface) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bus")
	a, err := Open(path, -1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Destroy() })
	b, err := Open(path, -1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Destroy() })
	return a, b
}

func TestSendRecvBroadcastAndUnicast(t *testing.T) {
	a, b := openPair(t)
	if err := a.Send(frameTo(broadcast, a.MAC(), "hello")); err != nil {
		t.Fatal(err)
	}
	if err := a.Send(frameTo(b.MAC(), a.MAC(), "unicast")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1514)
	for _, want := range []string{"hello", "unicast"} {
		n, err := b.Recv(buf, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasSuffix(buf[:n], []byte(want)) {
			t.Fatalf("got %q want suffix %q", buf[:n], want)
		}
	}
	// a never hears itself.
	if _, err := a.Recv(buf, 0); !errors.Is(err, unix.EAGAIN) {
		t.Fatalf("own frames: got %v", err)
	}
}

func TestRecvWaitsForWakeup(t *testing.T) {
	a, b := openPair(t)
	go func() {
		time.Sleep(20 * time.Millisecond)
		a.Send(frameTo(broadcast, a.MAC(), "late"))
	}()
	buf := make([]byte, 1514)
	b.SetSpin(0)
	n, err := b.Recv(buf, 5*time.Second)
	if err != nil || !bytes.HasSuffix(buf[:n], []byte("late")) {
		t.Fatalf("got %q, %v", buf[:n], err)
	}
}

package shmif

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
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

// docs/protocol.md §1.4: one 42-byte frame on a fresh bus file, as bytes in the file.
func TestFirstFrameInBusFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bus")
	a, err := Open(path, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Destroy()
	arp := frameTo(broadcast, a.MAC(), string(make([]byte, 28)))
	arp[12], arp[13] = 0x08, 0x06
	if err := a.Send(arp); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	le := binary.NativeEndian
	if len(b) != 1<<20 || le.Uint32(b[0:]) != 0xCA11D054 || le.Uint32(b[4:]) != 3 ||
		le.Uint64(b[8:]) != 0 || le.Uint32(b[16:]) != 0xFFFE0 || le.Uint32(b[20:]) != 24 ||
		le.Uint32(b[24:]) != 0 {
		t.Fatalf("header % x", b[:32])
	}
	data := b[32:]
	if !bytes.Equal(data[:24], make([]byte, 24)) {
		t.Fatal("dummy record not zero")
	}
	if le.Uint32(data[24:]) != 42 || le.Uint64(data[40:]) != a.Sender() {
		t.Fatalf("record header % x", data[24:48])
	}
	if !bytes.Equal(data[48:90], arp) {
		t.Fatal("frame bytes")
	}
	if sec := le.Uint32(data[28:]); time.Since(time.Unix(int64(sec), 0)) > time.Minute {
		t.Fatalf("timestamp %d is not now", sec)
	}
}

// An interface waiting on an idle bus uses no CPU: it spins briefly, then
// blocks.
func TestIdleReceiverUsesNoCPU(t *testing.T) {
	_, b := openPair(t)
	cpu := func() time.Duration {
		var ru unix.Rusage
		unix.Getrusage(unix.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	before := cpu()
	if _, err := b.Recv(make([]byte, 1514), 500*time.Millisecond); !errors.Is(err, unix.ETIMEDOUT) {
		t.Fatal(err)
	}
	if used := cpu() - before; used > 50*time.Millisecond {
		t.Fatalf("waiting 500 ms on an idle bus used %v of CPU", used)
	} else {
		t.Logf("waiting 500 ms on an idle bus used %v of CPU", used)
	}
}

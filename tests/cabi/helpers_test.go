package cabi_test

import (
	"bytes"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Interfaces, frames and receive batches for the tests: each helper wraps
// one or two C calls and stops or fails the test on an unexpected errno.

// destroyLater destroys ifnum when the test ends, if it still exists.
func destroyLater(t testing.TB, ifnum int32) {
	t.Cleanup(func() { lib.shmif_destroy(ifnum) })
}

// busPath names a bus file that does not exist yet.
func busPath(t testing.TB) string { return filepath.Join(t.TempDir(), "bus") }

// open attaches a new interface to the bus at path (rump_pub_shmif_create).
func open(t testing.TB, path string) int32 {
	t.Helper()
	var ifnum int32 = -1
	must(t, "rump_pub_shmif_create("+path+")", lib.rump_pub_shmif_create(cstr(path), &ifnum))
	destroyLater(t, ifnum)
	return ifnum
}

// pair attaches two interfaces to a new bus.
func pair(t testing.TB) (a, b int32) {
	t.Helper()
	path := busPath(t)
	return open(t, path), open(t, path)
}

// noInterfaces stops the test if an interface of an earlier test is left:
// tests of unit numbers need the registry empty.
func noInterfaces(t testing.TB) {
	t.Helper()
	var f int32
	for u := range int32(64) {
		if rc := lib.shmif_get_flags(u, &f); rc != int32(unix.ENXIO) {
			t.Fatalf("shmif%d exists before the test (%s)", u, errName(rc))
		}
	}
}

var broadcast = [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// frame builds an Ethernet frame (local experimental type 0x88b5) of exactly
// size bytes, its payload filled from text.
// A size below 14 cuts the header short.
func frame(dst, src [6]byte, size int, text string) []byte {
	f := make([]byte, max(size, minFrame))
	copy(f, dst[:])
	copy(f[6:], src[:])
	f[12], f[13] = 0x88, 0xb5
	for k := minFrame; k < size; k++ {
		f[k] = text[(k-minFrame)%len(text)]
	}
	return f[:size]
}

func macOf(t testing.TB, ifnum int32) [6]byte {
	t.Helper()
	var m [6]byte
	must(t, "shmif_get_mac", lib.shmif_get_mac(ifnum, &m))
	return m
}

func send(t testing.TB, ifnum int32, f []byte) {
	t.Helper()
	must(t, fmt.Sprintf("shmif_send(shmif%d, %d bytes)", ifnum, len(f)), lib.shmif_send(ifnum, &f[0], uintptr(len(f))))
}

// recv receives one frame into a 1514-byte buffer.
func recv(ifnum int32, timeoutMs int32) ([]byte, int32) {
	buf := make([]byte, maxFrame)
	var n uintptr
	rc := lib.shmif_recv(ifnum, &buf[0], uintptr(len(buf)), &n, timeoutMs)
	if rc != 0 {
		return nil, rc
	}
	return buf[:n], 0
}

// mustRecv receives the next frame and compares it with want.
func mustRecv(t testing.TB, ifnum int32, want []byte) {
	t.Helper()
	got, rc := recv(ifnum, 2000)
	if rc != 0 {
		t.Fatalf("shmif_recv(shmif%d) = %s, want a frame of %d bytes", ifnum, errName(rc), len(want))
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("shmif_recv(shmif%d) got %d bytes % x..., want %d bytes % x...",
			ifnum, len(got), got[:min(len(got), 20)], len(want), want[:min(len(want), 20)])
	}
}

// nothing checks that no frame is waiting for ifnum.
func nothing(t testing.TB, ifnum int32, why string) {
	t.Helper()
	if got, rc := recv(ifnum, 0); rc != int32(unix.EAGAIN) {
		t.Errorf("%s: shmif_recv(shmif%d, 0) = %s with %d bytes, want EAGAIN", why, ifnum, errName(rc), len(got))
	}
}

// drain receives with timeout 0 until EAGAIN.
func drain(t testing.TB, ifnum int32) {
	t.Helper()
	for range 10000 {
		if _, rc := recv(ifnum, 0); rc == int32(unix.EAGAIN) {
			return
		} else if rc != 0 {
			t.Fatalf("draining shmif%d: %s", ifnum, errName(rc))
		}
	}
	t.Fatalf("shmif%d never ran dry", ifnum)
}

func flagsOf(t testing.TB, ifnum int32) int32 {
	t.Helper()
	var f int32
	must(t, "shmif_get_flags", lib.shmif_get_flags(ifnum, &f))
	return f
}

func linkOf(t testing.TB, ifnum int32) int32 {
	t.Helper()
	var s int32
	must(t, "shmif_get_link_state", lib.shmif_get_link_state(ifnum, &s))
	return s
}

func linkstrOf(t testing.TB, ifnum int32) string {
	t.Helper()
	buf := make([]byte, 2048)
	var needed uintptr
	must(t, "shmif_get_linkstr", lib.shmif_get_linkstr(ifnum, &buf[0], uintptr(len(buf)), &needed))
	s, _, ok := bytes.Cut(buf, []byte{0})
	if !ok || needed != uintptr(len(s)+1) {
		t.Errorf("shmif_get_linkstr: %q, needed %d", s, needed)
	}
	return string(s)
}

func statsOf(t testing.TB, ifnum int32) shmifStats {
	t.Helper()
	var st shmifStats
	must(t, "shmif_get_stats", lib.shmif_get_stats(ifnum, &st))
	return st
}

func capenableOf(t testing.TB, ifnum int32) uint32 {
	t.Helper()
	var c uint32
	must(t, "shmif_get_capenable", lib.shmif_get_capenable(ifnum, &c))
	return c
}

// batch is a receive batch of n frames with 1514-byte buffers, pinned for
// the C calls.
type batch struct {
	frames []shmifFrame
	bufs   [][]byte
	pin    runtime.Pinner
}

func newBatch(t testing.TB, n, size int) *batch {
	b := &batch{frames: make([]shmifFrame, n), bufs: make([][]byte, n)}
	for k := range b.frames {
		b.bufs[k] = make([]byte, size)
		b.pin.Pin(&b.bufs[k][0])
		b.frames[k] = shmifFrame{data: unsafe.Pointer(&b.bufs[k][0]), cap: uintptr(size)}
	}
	t.Cleanup(b.pin.Unpin)
	return b
}

// recv calls shmif_recv_batch; the received frames are b.frame(0..n-1).
func (b *batch) recv(ifnum int32, timeoutMs int32) (n int, rc int32) {
	got := uintptr(12345)
	rc = lib.shmif_recv_batch(ifnum, &b.frames[0], uintptr(len(b.frames)), &got, timeoutMs)
	return int(got), rc
}

func (b *batch) frame(k int) []byte { return b.bufs[k][:b.frames[k].len] }

// sendBatch calls shmif_send_batch with the given frames.
func sendBatch(ifnum int32, frames ...[]byte) int32 {
	var pin runtime.Pinner
	defer pin.Unpin()
	cf := make([]shmifFrame, len(frames))
	for k, f := range frames {
		if f != nil {
			pin.Pin(&f[0])
			cf[k] = shmifFrame{data: unsafe.Pointer(&f[0]), len: uintptr(len(f))}
		}
	}
	return lib.shmif_send_batch(ifnum, &cf[0], uintptr(len(cf)))
}

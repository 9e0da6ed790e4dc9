package vxlan

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Tests on 127.0.0.1 in the test's own network namespace: no root needed
// (without CAP_NET_RAW the endpoints send from dstport).

// freePort finds a UDP port on 127.0.0.1 that nothing is bound to now.
func freePort(t testing.TB) int {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

func openLoopback(t *testing.T, spec string) *Endpoint {
	t.Helper()
	ep, err := Open(spec)
	if err != nil {
		t.Fatalf("Open(%q): %v", spec, err)
	}
	t.Cleanup(func() { ep.Close() })
	return ep
}

// TestCloseEndsBlockedRead: Close from another goroutine ends a ReadFrames
// waiting for datagrams; afterwards every call says net.ErrClosed and Close
// may be called again.
func TestCloseEndsBlockedRead(t *testing.T) {
	port := freePort(t)
	ep := openLoopback(t, fmt.Sprintf("127.0.0.1/vni=1/dstport=%d", port))
	errc := make(chan error, 1)
	go func() {
		bufs, lens := [][]byte{make([]byte, ep.MaxFrame())}, []int{0}
		_, err := ep.ReadFrames(bufs, lens)
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond) // most likely blocked in poll by now; either way it must end
	if err := ep.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("ReadFrames after Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ReadFrames still blocked 5s after Close")
	}
	if _, err := ep.ReadFrames([][]byte{make([]byte, 1514)}, []int{0}); !errors.Is(err, net.ErrClosed) {
		t.Errorf("ReadFrames on a closed endpoint: %v", err)
	}
	if _, err := ep.WriteFrames([][]byte{make([]byte, 60)}); !errors.Is(err, net.ErrClosed) {
		t.Errorf("WriteFrames on a closed endpoint: %v", err)
	}
	if err := ep.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestCloseWhileBusy: Close while another goroutine writes and a third reads
// (run with -race) ends both with net.ErrClosed and closes nothing under them.
func TestCloseWhileBusy(t *testing.T) {
	pa, pb := freePort(t), freePort(t)
	a := openLoopback(t, fmt.Sprintf("127.0.0.1:%d/vni=1/dstport=%d", pb, pa))
	b := openLoopback(t, fmt.Sprintf("127.0.0.1:%d/vni=1/dstport=%d", pa, pb))
	frame := ether(broadcast, ourMAC, 0x88b5, make([]byte, 46))
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	wg.Add(3)
	go func() { // a writes to b until closed
		defer wg.Done()
		for {
			if _, err := a.WriteFrames([][]byte{frame, frame, frame}); err != nil {
				errs <- err
				return
			}
		}
	}()
	go func() { // a reads (nothing comes) until closed
		defer wg.Done()
		_, err := a.ReadFrames([][]byte{make([]byte, 1514)}, []int{0})
		errs <- err
	}()
	go func() { // b drains
		defer wg.Done()
		bufs, lens := [][]byte{make([]byte, 1514), make([]byte, 1514)}, []int{0, 0}
		for {
			if _, err := b.ReadFrames(bufs, lens); err != nil {
				return
			}
		}
	}()
	time.Sleep(100 * time.Millisecond)
	a.Close()
	b.Close()
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("after Close: %v", err)
		}
	}
}

// TestLoopbackPair: two endpoints carry a batch of frames whole and in
// order; one recvmmsg returns several; a runt frame is counted, not sent.
func TestLoopbackPair(t *testing.T) {
	pa, pb := freePort(t), freePort(t)
	a := openLoopback(t, fmt.Sprintf("127.0.0.1:%d/vni=7/dstport=%d", pb, pa))
	b := openLoopback(t, fmt.Sprintf("127.0.0.1:%d/vni=7/dstport=%d", pa, pb))
	const n = 40
	var sent [][]byte
	for i := range n {
		sent = append(sent, ether(broadcast, ourMAC, 0x88b5, bytes.Repeat([]byte{byte(i)}, 46+i*30)))
	}
	got, err := a.WriteFrames(append(sent, []byte{1, 2, 3}))
	if got != n+1 || err != nil {
		t.Fatalf("WriteFrames = %d, %v", got, err)
	}
	if s := a.Stats(); s.TxFrames != n || s.TxDatagrams != n || s.TxMalformed != 1 {
		t.Errorf("sender stats %v", s)
	}
	bufs, lens := make([][]byte, 16), make([]int, 16)
	for i := range bufs {
		bufs[i] = make([]byte, b.MaxFrame())
	}
	var batches []int
	for i := 0; i < n; {
		k, err := b.ReadFrames(bufs, lens)
		if err != nil {
			t.Fatal(err)
		}
		batches = append(batches, k)
		for j := range k {
			if !bytes.Equal(bufs[j][:lens[j]], sent[i]) {
				t.Fatalf("frame %d: %d bytes, want %d", i, lens[j], len(sent[i]))
			}
			i++
		}
	}
	t.Logf("received in batches of %v", batches)
	if s := b.Stats(); s.RxFrames != n {
		t.Errorf("receiver stats %v", s)
	}
}

// TestShortBuffers: a frame longer than its buffer is cut to it and its
// full length reported; buffers that cannot hold an Ethernet header are
// refused.
func TestShortBuffers(t *testing.T) {
	pa, pb := freePort(t), freePort(t)
	a := openLoopback(t, fmt.Sprintf("127.0.0.1:%d/vni=7/dstport=%d", pb, pa))
	b := openLoopback(t, fmt.Sprintf("127.0.0.1:%d/vni=7/dstport=%d", pa, pb))
	frame := ether(broadcast, ourMAC, 0x88b5, make([]byte, 1000))
	write(t, a, frame)
	lens := []int{0}
	if _, err := b.ReadFrames([][]byte{make([]byte, 13)}, lens); !errors.Is(err, unix.EINVAL) {
		t.Errorf("13-byte buffer: %v", err)
	}
	buf := make([]byte, 100)
	k, err := b.ReadFrames([][]byte{buf}, lens)
	if k != 1 || err != nil || lens[0] != len(frame) || !bytes.Equal(buf, frame[:100]) {
		t.Errorf("ReadFrames into 100 bytes = %d, %v, length %d (want %d)", k, err, lens[0], len(frame))
	}
}

// TestManyDatagrams: more datagrams than one sendmmsg takes (a flood list
// of three, 300 frames) all leave, in several calls.
func TestManyDatagrams(t *testing.T) {
	p1, p2, p3, own := freePort(t), freePort(t), freePort(t), freePort(t)
	ep := openLoopback(t, fmt.Sprintf("127.0.0.1:%d,127.0.0.2:%d/vni=7/dstport=%d/fdb=00:00:00:00:00:00@127.0.0.3:%d",
		p1, p2, own, p3))
	frames := make([][]byte, 300)
	for i := range frames {
		frames[i] = ether(broadcast, ourMAC, 0x88b5, make([]byte, 46))
	}
	write(t, ep, frames...)
	if s := ep.Stats(); s.TxFrames != 300 || s.TxDatagrams != 900 {
		t.Errorf("stats %v", s)
	}
}

// TestOpenErrors: what the system refuses at Open is named in the error,
// which keeps the errno.
func TestOpenErrors(t *testing.T) {
	port := freePort(t)
	openLoopback(t, fmt.Sprintf("127.0.0.1/vni=1/dstport=%d", port))
	for _, tc := range []struct {
		spec  string
		errno unix.Errno
		want  string
	}{
		{"127.0.0.1/vni=16777216", unix.EINVAL, "vni 16777216 out of range"},
		{"127.0.0.1/vni=1/dev=nosuch0", unix.ENODEV, "dev nosuch0"},
		{"239.1.1.1/vni=1/dev=lo", unix.EADDRNOTAVAIL, "dev lo cannot join group 239.1.1.1"},
		{fmt.Sprintf("127.0.0.1/vni=2/dstport=%d", port), unix.EADDRINUSE, fmt.Sprintf("bind port %d (a kernel VXLAN device or another endpoint has it)", port)},
		{fmt.Sprintf("127.0.0.1/vni=1/dstport=%d/local=192.0.2.99", freePort(t)), unix.EADDRNOTAVAIL, "192.0.2.99"},
	} {
		ep, err := Open(tc.spec)
		if err == nil {
			ep.Close()
			t.Errorf("Open(%q) succeeded", tc.spec)
			continue
		}
		if !errors.Is(err, tc.errno) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%q): %v; want %v saying %q", tc.spec, err, tc.errno, tc.want)
		}
	}
}

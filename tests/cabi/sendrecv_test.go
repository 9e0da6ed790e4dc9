package cabi_test

import (
	"bytes"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Sending and receiving, one frame at a time and in batches: the frames
// that arrive, the errors of both directions and the counters.

// TestBroadcastAndUnicast: two interfaces on one bus exchange frames with
// shmif_send/shmif_recv and the batch calls; nobody hears itself.
func TestBroadcastAndUnicast(t *testing.T) {
	setup(t)
	a, b := pair(t)
	ma, mb := macOf(t, a), macOf(t, b)
	bcast := frame(broadcast, ma, 60, "broadcast from a")
	uni := frame(mb, ma, 100, "unicast a to b")
	send(t, a, bcast)
	send(t, a, uni)
	mustRecv(t, b, bcast)
	mustRecv(t, b, uni)
	nothing(t, a, "a's own frames")
	nothing(t, b, "after two frames")

	// b answers with the smallest and the largest frame.
	small := frame(ma, mb, minFrame, "-")
	large := frame(ma, mb, maxFrame, "largest unicast b to a ")
	send(t, b, small)
	send(t, b, large)
	mustRecv(t, a, small)
	mustRecv(t, a, large)
	nothing(t, b, "b's own frames")

	// Batches.
	sent := [][]byte{
		frame(broadcast, ma, 60, "batch broadcast"),
		frame(mb, ma, maxFrame, "batch unicast"),
		frame([6]byte{0x01, 0x00, 0x5e, 0x00, 0x00, 0x01}, ma, 77, "batch multicast"),
	}
	must(t, "shmif_send_batch", sendBatch(a, sent...))
	rb := newBatch(t, 8, maxFrame)
	var got [][]byte
	for len(got) < len(sent) {
		n, rc := rb.recv(b, 2000)
		if rc != 0 {
			t.Fatalf("shmif_recv_batch after %d frames = %s", len(got), errName(rc))
		}
		for k := range n {
			f := rb.frames[k]
			got = append(got, bytes.Clone(rb.frame(k)))
			if f.csum != 0 {
				t.Errorf("frame %d: csum = %#x, want 0 with no RX capability", k, f.csum)
			}
			if f.sec == 0 || f.usec >= 1e6 {
				t.Errorf("frame %d: timestamp %d.%06d", k, f.sec, f.usec)
			}
			if f.cap != maxFrame || f.data != unsafe.Pointer(&rb.bufs[k][0]) {
				t.Errorf("frame %d: shmif_recv_batch changed data or cap", k)
			}
		}
	}
	for k := range sent {
		if k >= len(got) || !bytes.Equal(got[k], sent[k]) {
			t.Errorf("batch frame %d differs (len %d, want %d)", k, len(got[k]), len(sent[k]))
		}
	}
	if n, rc := rb.recv(a, 0); rc != int32(unix.EAGAIN) || n != 0 {
		t.Errorf("shmif_recv_batch on the sender = %s, %d frames; want EAGAIN, 0", errName(rc), n)
	}
	if n, rc := rb.recv(b, 0); rc != int32(unix.EAGAIN) || n != 0 {
		t.Errorf("shmif_recv_batch after the batch = %s, %d frames; want EAGAIN, 0", errName(rc), n)
	}
	check(t, "shmif_send_batch(n = 0)", lib.shmif_send_batch(a, nil, 0), 0)
}

// TestSendErrors: frame sizes, NULL frames and batches refused as a whole.
func TestSendErrors(t *testing.T) {
	setup(t)
	a, b := pair(t)
	ma := macOf(t, a)
	f := frame(broadcast, ma, 1515, "oversize")
	check(t, "shmif_send(1515 bytes)", lib.shmif_send(a, &f[0], 1515), unix.EMSGSIZE)
	check(t, "shmif_send(65536 bytes)", lib.shmif_send(a, &make([]byte, 65536)[0], 65536), unix.EMSGSIZE)
	check(t, "shmif_send(13 bytes)", lib.shmif_send(a, &f[0], 13), unix.EINVAL)
	check(t, "shmif_send(0 bytes)", lib.shmif_send(a, &f[0], 0), unix.EINVAL)
	check(t, "shmif_send(NULL)", lib.shmif_send(a, nil, 60), unix.EFAULT)
	nothing(t, b, "after refused sends")

	good := frame(broadcast, ma, 60, "good")
	check(t, "shmif_send_batch(good, 1515)", sendBatch(a, good, frame(broadcast, ma, 1515, "x")), unix.EMSGSIZE)
	check(t, "shmif_send_batch(good, 13)", sendBatch(a, good, frame(broadcast, ma, 13, "x")), unix.EINVAL)
	check(t, "shmif_send_batch(good, data NULL)", sendBatch(a, good, nil), unix.EFAULT)
	check(t, "shmif_send_batch(frames NULL, 2)", lib.shmif_send_batch(a, nil, 2), unix.EFAULT)
	nothing(t, b, "after refused batches (none of their frames may be sent)")
	if st := statsOf(t, a); st.opackets != 0 || st.oerrors != 0 {
		t.Errorf("refused sends counted: opackets %d oerrors %d", st.opackets, st.oerrors)
	}

	must(t, "shmif_down", lib.shmif_down(a))
	check(t, "shmif_send while down", lib.shmif_send(a, &good[0], 60), unix.ENETDOWN)
	check(t, "shmif_send_batch while down", sendBatch(a, good), unix.ENETDOWN)
	// A wrong size is reported before the state.
	check(t, "shmif_send(1515 bytes) while down", lib.shmif_send(a, &f[0], 1515), unix.EMSGSIZE)
}

// TestRecvErrors: timeouts, buffers too small, NULL pointers.
func TestRecvErrors(t *testing.T) {
	setup(t)
	a, b := pair(t)
	buf := make([]byte, maxFrame)
	n := uintptr(4242)
	check(t, "shmif_recv(timeout 0) on an empty bus", lib.shmif_recv(b, &buf[0], maxFrame, &n, 0), unix.EAGAIN)
	if n != 4242 {
		t.Errorf("shmif_recv EAGAIN wrote *len = %d", n)
	}
	start := time.Now()
	check(t, "shmif_recv(timeout 50)", lib.shmif_recv(b, &buf[0], maxFrame, &n, 50), unix.ETIMEDOUT)
	if d := time.Since(start); d < 50*time.Millisecond || d > 2*time.Second {
		t.Errorf("shmif_recv(timeout 50) returned after %v", d)
	}
	rb := newBatch(t, 4, maxFrame)
	got, rc := rb.recv(b, 0)
	check(t, "shmif_recv_batch(timeout 0)", rc, unix.EAGAIN)
	if got != 0 {
		t.Errorf("shmif_recv_batch EAGAIN: *received = %d, want 0", got)
	}
	start = time.Now()
	got, rc = rb.recv(b, 50)
	check(t, "shmif_recv_batch(timeout 50)", rc, unix.ETIMEDOUT)
	if d := time.Since(start); d < 50*time.Millisecond || got != 0 {
		t.Errorf("shmif_recv_batch(timeout 50): after %v, *received %d", d, got)
	}

	check(t, "shmif_recv(buf NULL, 1514)", lib.shmif_recv(b, nil, maxFrame, &n, 0), unix.EFAULT)
	check(t, "shmif_recv(len NULL)", lib.shmif_recv(b, &buf[0], maxFrame, nil, 0), unix.EFAULT)
	check(t, "shmif_recv_batch(received NULL)", lib.shmif_recv_batch(b, &rb.frames[0], 4, nil, 0), unix.EFAULT)
	var r uintptr
	check(t, "shmif_recv_batch(frames NULL, 4)", lib.shmif_recv_batch(b, nil, 4, &r, 0), unix.EFAULT)

	// A frame larger than the buffer stays on the bus.
	f := frame(broadcast, macOf(t, a), 300, "three hundred bytes")
	send(t, a, f)
	small := make([]byte, 100)
	n = 0
	check(t, "shmif_recv(buffer 100, frame 300)", lib.shmif_recv(b, &small[0], 100, &n, 1000), unix.EMSGSIZE)
	if n != 300 {
		t.Errorf("EMSGSIZE: *len = %d, want 300", n)
	}
	check(t, "shmif_recv(buffer 100, frame 300) again", lib.shmif_recv(b, &small[0], 100, &n, 0), unix.EMSGSIZE)
	sb := newBatch(t, 2, 299)
	got, rc = sb.recv(b, 0)
	check(t, "shmif_recv_batch(cap 299, frame 300)", rc, unix.EMSGSIZE)
	if got != 0 || sb.frames[0].len != 300 {
		t.Errorf("shmif_recv_batch EMSGSIZE: *received %d, frames[0].len %d; want 0, 300", got, sb.frames[0].len)
	}
	mustRecv(t, b, f)
	nothing(t, b, "after the large frame")

	// A batch stops before a frame that does not fit and keeps it.
	send(t, a, frame(broadcast, macOf(t, a), 100, "fits"))
	send(t, a, frame(broadcast, macOf(t, a), 400, "does not fit"))
	mb := newBatch(t, 4, 200)
	got, rc = mb.recv(b, 1000)
	if rc != 0 || got != 1 || mb.frames[0].len != 100 {
		t.Errorf("shmif_recv_batch(cap 200; 100, 400) = %s, %d frames; want 0, 1", errName(rc), got)
	}
	got, rc = mb.recv(b, 0)
	check(t, "shmif_recv_batch(cap 200) at the 400-byte frame", rc, unix.EMSGSIZE)
	if mb.frames[0].len != 400 || got != 0 {
		t.Errorf("frames[0].len = %d, *received = %d; want 400, 0", mb.frames[0].len, got)
	}
	if g, rc := recv(b, 0); rc != 0 || len(g) != 400 {
		t.Errorf("the 400-byte frame: %s, %d bytes", errName(rc), len(g))
	}

	must(t, "shmif_down", lib.shmif_down(b))
	check(t, "shmif_recv while down", lib.shmif_recv(b, &buf[0], maxFrame, &n, 0), unix.ENETDOWN)
	_, rc = rb.recv(b, 100)
	check(t, "shmif_recv_batch while down", rc, unix.ENETDOWN)
}

// TestStats: the counters after a known exchange.
func TestStats(t *testing.T) {
	setup(t)
	a, b := pair(t)
	ma, mb := macOf(t, a), macOf(t, b)
	stranger := [6]byte{0x02, 0, 0, 0, 0, 9}
	mcast := [6]byte{0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb}
	send(t, a, frame(broadcast, ma, 60, "b1"))                     // b receives
	send(t, a, frame(broadcast, ma, 60, "b2"))                     // b receives
	send(t, a, frame(mb, ma, 100, "u"))                            // b receives
	send(t, a, frame(stranger, ma, 80, "s"))                       // b drops
	must(t, "send_batch", sendBatch(a, frame(mcast, ma, 70, "m"))) // b receives
	send(t, b, frame(ma, mb, 200, "reply"))                        // a receives
	drain(t, b)
	drain(t, a)
	if got, want := statsOf(t, a), (shmifStats{ipackets: 1, ibytes: 200, opackets: 5, obytes: 370, omcasts: 3}); got != want {
		t.Errorf("a's stats = %+v\nwant %+v", got, want)
	}
	if got, want := statsOf(t, b), (shmifStats{ipackets: 4, ibytes: 290, imcasts: 3, opackets: 1, obytes: 200}); got != want {
		t.Errorf("b's stats = %+v\nwant %+v", got, want)
	}
}

package cabi_test

import (
	"runtime"
	"sync"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The calls a harness uses beyond ifconfig's: receive metadata, a clean
// start, cancelling a blocked receive, sender ids; and the batch rules of
// issue 10.12.

// shmif_recv_frame returns the frame with the metadata shmif_recv_batch
// gives: timestamp and the sender's id, which shmif_get_sender reports.
func TestRecvFrameMetadata(t *testing.T) {
	setup(t)
	a, b := pair(t)
	drain(t, b)
	var id uint64
	must(t, "shmif_get_sender", lib.shmif_get_sender(a, &id))
	f := frame(broadcast, macOf(t, a), 100, "meta")
	before := time.Now().Unix()
	send(t, a, f)
	buf := make([]byte, maxFrame)
	var pin runtime.Pinner
	pin.Pin(&buf[0])
	defer pin.Unpin()
	fr := shmifFrame{data: unsafe.Pointer(&buf[0]), cap: maxFrame, pad: 77}
	must(t, "shmif_recv_frame", lib.shmif_recv_frame(b, &fr, 2000))
	if fr.len != 100 || string(buf[:100]) != string(f) || fr.sender != id || fr.pad != 0 ||
		int64(fr.sec) < before || int64(fr.sec) > time.Now().Unix() || fr.usec >= 1e6 {
		t.Fatalf("frame %+v, want 100 bytes from sender %#x", fr, id)
	}
	small := shmifFrame{data: unsafe.Pointer(&buf[0]), cap: 10}
	send(t, a, f)
	check(t, "shmif_recv_frame into 10 bytes", lib.shmif_recv_frame(b, &small, 2000), unix.EMSGSIZE)
	if small.len != 100 {
		t.Fatalf("EMSGSIZE with len %d, want 100", small.len)
	}
	check(t, "shmif_recv_frame(NULL)", lib.shmif_recv_frame(b, nil, 0), unix.EFAULT)
	check(t, "shmif_get_sender(NULL)", lib.shmif_get_sender(a, nil), unix.EFAULT)
}

// shmif_set_start: NEWEST receives the newest old frame again (NetBSD's
// behaviour, the default), NEXT nothing that was on the bus before the up,
// OLDEST everything still on it.
func TestStartPositions(t *testing.T) {
	setup(t)
	path := busPath(t)
	tx := open(t, path)
	old := [][]byte{
		frame(broadcast, macOf(t, tx), 60, "one"),
		frame(broadcast, macOf(t, tx), 60, "two"),
		frame(broadcast, macOf(t, tx), 60, "three"),
	}
	for _, f := range old {
		send(t, tx, f)
	}
	for _, c := range []struct {
		start int32
		want  [][]byte
	}{
		{0, old[2:]},
		{1, nil},
		{2, old},
	} {
		var rx int32 = -1
		must(t, "shmif_create", lib.shmif_create(-1, &rx))
		destroyLater(t, rx)
		must(t, "shmif_set_start", lib.shmif_set_start(rx, c.start))
		must(t, "shmif_set_linkstr", lib.shmif_set_linkstr(rx, cstr(path)))
		must(t, "shmif_up", lib.shmif_up(rx))
		for _, w := range c.want {
			mustRecv(t, rx, w)
		}
		nothing(t, rx, "after the frames the start position gives")
	}
	var rx int32
	must(t, "shmif_create", lib.shmif_create(-1, &rx))
	destroyLater(t, rx)
	check(t, "shmif_set_start(3)", lib.shmif_set_start(rx, 3), unix.EINVAL)
	check(t, "shmif_set_start(-1)", lib.shmif_set_start(rx, -1), unix.EINVAL)
}

// shmif_cancel ends every receive blocked on the interface with ECANCELED
// (shmif_recv, shmif_recv_frame, shmif_recv_batch, several threads at once)
// and makes the poll descriptor readable, without changing the interface:
// the next receive gets the next frame.
func TestCancelBlockedReceives(t *testing.T) {
	setup(t)
	a, b := pair(t)
	drain(t, b)
	var fd int32
	must(t, "shmif_get_pollfd", lib.shmif_get_pollfd(b, &fd))
	drain(t, b) // clears the descriptor
	results := make(chan int32, 4)
	var wg sync.WaitGroup
	start := func(fn func() int32) {
		wg.Add(1)
		go func() { defer wg.Done(); results <- fn() }()
	}
	start(func() int32 { _, rc := recv(b, -1); return rc })
	start(func() int32 { _, rc := recv(b, 60000); return rc })
	start(func() int32 { _, rc := newBatch(t, 4, maxFrame).recv(b, -1); return rc })
	start(func() int32 {
		buf := make([]byte, maxFrame)
		var pin runtime.Pinner
		pin.Pin(&buf[0])
		defer pin.Unpin()
		fr := shmifFrame{data: unsafe.Pointer(&buf[0]), cap: maxFrame}
		return lib.shmif_recv_frame(b, &fr, -1)
	})
	time.Sleep(200 * time.Millisecond) // all four are blocked, most likely
	select {
	case rc := <-results:
		t.Fatalf("a receive returned %s before the cancel", errName(rc))
	default:
	}
	// A receive that begins after a cancel is not affected by it: one
	// that was late to start (a loaded machine) would wait for ever. Cancel
	// again until all four have returned.
	deadline := time.Now().Add(10 * time.Second)
	for k := 0; k < 4; {
		must(t, "shmif_cancel", lib.shmif_cancel(b))
		select {
		case rc := <-results:
			check(t, "blocked receive after shmif_cancel", rc, unix.ECANCELED)
			k++
		case <-time.After(100 * time.Millisecond):
			if time.Now().After(deadline) {
				t.Fatalf("%d of 4 receives returned after shmif_cancel", k)
			}
		}
	}
	wg.Wait()
	p := []unix.PollFd{{Fd: fd, Events: unix.POLLIN}}
	if n, _ := unix.Poll(p, 0); n != 1 {
		t.Fatal("the poll descriptor is not readable after shmif_cancel")
	}
	if flagsOf(t, b)&iffUp == 0 {
		t.Fatal("shmif_cancel took the interface down")
	}
	f := frame(broadcast, macOf(t, a), 60, "after")
	send(t, a, f)
	mustRecv(t, b, f)
}

// Issue 10.12: every frame of a batch is checked before any is written,
// whatever the number of frames: 300 frames with the 280th of 2000 bytes
// give EMSGSIZE and put nothing on the bus. A longer good batch arrives
// whole and in order.
func TestSendBatchChecksEveryFrameFirst(t *testing.T) {
	setup(t)
	a, b := pair(t)
	drain(t, b)
	frames := make([][]byte, 300)
	for k := range frames {
		frames[k] = frame(broadcast, macOf(t, a), 60, string(rune('a'+k%26)))
	}
	bad := append([][]byte(nil), frames...)
	bad[279] = frame(broadcast, macOf(t, a), 2000, "x")
	check(t, "shmif_send_batch(300 frames, #280 of 2000 bytes)", sendBatch(a, bad...), unix.EMSGSIZE)
	bad[279] = frame(broadcast, macOf(t, a), 13, "x")
	check(t, "shmif_send_batch(300 frames, #280 of 13 bytes)", sendBatch(a, bad...), unix.EINVAL)
	nothing(t, b, "after refused batches")
	must(t, "shmif_send_batch(300 frames)", sendBatch(a, frames...))
	for _, f := range frames {
		mustRecv(t, b, f)
	}
	// *received is 0 after an error, also with frames NULL.
	got := uintptr(99)
	check(t, "shmif_recv_batch(NULL, 1)", lib.shmif_recv_batch(b, nil, 1, &got, 0), unix.EFAULT)
	if got != 0 {
		t.Fatalf("*received = %d after EFAULT, want 0", got)
	}
}

// shmif_set_lossless: a lossless receiver loses nothing of a flood from a
// sender in the same process that sends more than a ring holds before the
// receiver reads (the sender waits in another thread); the setting reads
// back, and is active only while the interface is up.
func TestLossless(t *testing.T) {
	setup(t)
	a, b := pair(t)
	drain(t, b)
	must(t, "shmif_set_lossless", lib.shmif_set_lossless(b, 2000))
	var ms, active int32
	must(t, "shmif_get_lossless", lib.shmif_get_lossless(b, &ms, &active))
	if ms != 2000 || active != 1 {
		t.Fatalf("lossless %d ms, active %d", ms, active)
	}
	check(t, "shmif_set_lossless(-1)", lib.shmif_set_lossless(b, -1), unix.EINVAL)
	const n = 3000 // more than 681 frames of 1514 bytes: several laps
	done := make(chan int32, 1)
	go func() {
		f := frame(broadcast, macOf(t, a), maxFrame, "lossless")
		for range n {
			if rc := lib.shmif_send(a, &f[0], uintptr(len(f))); rc != 0 {
				done <- rc
				return
			}
		}
		done <- 0
	}()
	time.Sleep(100 * time.Millisecond) // the sender fills the ring and waits
	for k := range n {
		if _, rc := recv(b, 5000); rc != 0 {
			t.Fatalf("frame %d: %s", k, errName(rc))
		}
	}
	if rc := <-done; rc != 0 {
		t.Fatalf("sender: %s", errName(rc))
	}
	if st := statsOf(t, b); st.lost != 0 {
		t.Fatalf("a lossless receiver lost %d frames", st.lost)
	}
	must(t, "shmif_down", lib.shmif_down(b))
	must(t, "shmif_get_lossless", lib.shmif_get_lossless(b, &ms, &active))
	if ms != 2000 || active != 0 {
		t.Fatalf("down: lossless %d ms, active %d", ms, active)
	}
	must(t, "shmif_set_lossless(0)", lib.shmif_set_lossless(b, 0))
	must(t, "shmif_get_lossless(NULL, NULL)", lib.shmif_get_lossless(b, nil, nil))
}

package main

/*
#include <rump/rump.h>
*/
import "C"

import (
	"sync"
	"time"
	"unsafe"

	"github.com/libshmif/libshmif/core/shmif"
	"golang.org/x/sys/unix"
)

// Frames: sending and receiving.

// maxBatch bounds one shmif_recv_batch call, and the send batches served
// from pooled scratch arrays; longer send batches allocate theirs.
const maxBatch = 256

// maxSendBatch bounds the frame count of one shmif_send_batch: far more
// than a bus holds, small enough never to overflow an int.
const maxSendBatch = 1 << 20

// maxView bounds the C buffer sizes taken at face value: no frame is
// longer, and a size_t beyond an int's range must not reach Go.
const maxView = 1 << 17

// Scratch arrays for the batch calls, reused: zeroing them on every call
// cost more than receiving a few small frames. Each call clears only the
// entries it used, so that no reference to C memory stays behind.
var (
	sendScratch = sync.Pool{New: func() any { return new([maxBatch][]byte) }}
	recvScratch = sync.Pool{New: func() any { return new([maxBatch]shmif.Frame) }}
)

// timeout converts a C timeout in milliseconds (negative: forever).
func timeout(ms C.int) time.Duration {
	if ms < 0 {
		return -1
	}
	return time.Duration(ms) * time.Millisecond
}

//export shmifgo_send
func shmifgo_send(ifnum C.int, frame unsafe.Pointer, length C.size_t) (rc C.int) {
	defer catch(&rc)
	i, rc := lookup(ifnum)
	if rc != 0 {
		return rc
	}
	if frame == nil {
		return C.int(unix.EFAULT)
	}
	if length > maxView {
		return C.int(unix.EMSGSIZE)
	}
	return errno(i.Send(bytesOf(frame, uintptr(length))))
}

//export shmifgo_send_batch
func shmifgo_send_batch(ifnum C.int, frames *C.struct_shmif_frame, n C.size_t) (rc C.int) {
	defer catch(&rc)
	i, rc := lookup(ifnum)
	if rc != 0 {
		return rc
	}
	if frames == nil && n > 0 {
		return C.int(unix.EFAULT)
	}
	if n > maxSendBatch {
		return C.int(unix.EINVAL)
	}
	cf := unsafe.Slice(frames, int(n))
	var views [][]byte
	if len(cf) <= maxBatch {
		scratch := sendScratch.Get().(*[maxBatch][]byte)
		defer func() {
			clear(scratch[:len(cf)]) // keep no reference to the caller's memory
			sendScratch.Put(scratch)
		}()
		views = scratch[:len(cf)]
	} else {
		views = make([][]byte, len(cf))
	}
	for k := range cf {
		if cf[k].data == nil {
			return C.int(unix.EFAULT)
		}
		if cf[k].len > maxView {
			return C.int(unix.EMSGSIZE)
		}
		views[k] = bytesOf(cf[k].data, uintptr(cf[k].len))
	}
	// SendBatch checks every frame before it writes any.
	_, err := i.SendBatch(views)
	return errno(err)
}

//export shmifgo_recv
func shmifgo_recv(ifnum C.int, buf unsafe.Pointer, buflen C.size_t, length *C.size_t, ms C.int) (rc C.int) {
	defer catch(&rc)
	i, rc := lookup(ifnum)
	if rc != 0 {
		return rc
	}
	if (buf == nil && buflen > 0) || length == nil {
		return C.int(unix.EFAULT)
	}
	n, err := i.Recv(bytesOf(buf, uintptr(min(buflen, maxView))), timeout(ms))
	if err == nil || err == unix.EMSGSIZE {
		*length = C.size_t(n)
	}
	return errno(err)
}

//export shmifgo_recv_frame
func shmifgo_recv_frame(ifnum C.int, frame *C.struct_shmif_frame, ms C.int) (rc C.int) {
	defer catch(&rc)
	var received C.size_t
	if frame == nil {
		return C.int(unix.EFAULT)
	}
	return shmifgo_recv_batch(ifnum, frame, 1, &received, ms)
}

//export shmifgo_recv_batch
func shmifgo_recv_batch(ifnum C.int, frames *C.struct_shmif_frame, n C.size_t, received *C.size_t, ms C.int) (rc C.int) {
	defer catch(&rc)
	if received == nil {
		return C.int(unix.EFAULT)
	}
	*received = 0
	i, rc := lookup(ifnum)
	if rc != 0 {
		return rc
	}
	if frames == nil && n > 0 {
		return C.int(unix.EFAULT)
	}
	cf := unsafe.Slice(frames, int(min(n, maxBatch)))
	scratch := recvScratch.Get().(*[maxBatch]shmif.Frame)
	defer func() {
		clear(scratch[:len(cf)]) // only what this call used
		recvScratch.Put(scratch)
	}()
	for k := range cf {
		if cf[k].data == nil && cf[k].cap > 0 {
			return C.int(unix.EFAULT)
		}
		scratch[k] = shmif.Frame{Buf: bytesOf(cf[k].data, uintptr(min(cf[k].cap, maxView)))}
	}
	got, err := i.RecvBatch(scratch[:len(cf)], timeout(ms))
	if got > 0 {
		// Frames were received before the bus failed (it was cut
		// short): deliver them; the next call reports the error.
		err = nil
	}
	for k := range got {
		f, c := &scratch[k], &cf[k]
		c.len, c.csum, c.sec, c.usec = C.size_t(f.Len), C.uint32_t(f.Csum), C.uint32_t(f.Sec), C.uint32_t(f.Usec)
		c.pad, c.sender = 0, C.uint64_t(f.Sender)
	}
	if err == unix.EMSGSIZE && len(cf) > 0 {
		cf[0].len = C.size_t(scratch[0].Len)
	}
	*received = C.size_t(got)
	return errno(err)
}

//export shmifgo_send_offload
func shmifgo_send_offload(ifnum C.int, frame unsafe.Pointer, length C.size_t, csum C.uint32_t, mss C.uint32_t) (rc C.int) {
	defer catch(&rc)
	i, rc := lookup(ifnum)
	if rc != 0 {
		return rc
	}
	if frame == nil {
		return C.int(unix.EFAULT)
	}
	// Longer frames are refused (and counted) by SendOffload: one byte
	// too many is enough for it to see that.
	n := min(uintptr(length), shmif.MaxOffloadFrame+1)
	return errno(i.SendOffload(bytesOf(frame, n), uint32(csum), int(min(mss, 1<<16))))
}

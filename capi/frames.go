package main

/*
#include <stddef.h>
#include <stdint.h>
*/
import "C"

import (
	"sync"
	"time"
	"unsafe"

	"github.com/libshmif/libshmif/core/shmif"
	"golang.org/x/sys/unix"
)

// cFrame is struct shmif_frame.
type cFrame struct {
	data      unsafe.Pointer
	len, cap  uintptr
	csum      uint32
	sec, usec uint32
}

// maxBatch bounds the Go-side scratch arrays of one batch call; larger
// batches are served in several rounds under as many lock acquisitions.
const maxBatch = 256

// maxSendBatch bounds the frame count of one shmif_send_batch: far more
// than a bus holds, small enough never to overflow an int.
const maxSendBatch = 1 << 20

// maxView bounds the C buffer sizes taken at face value: no frame is
// longer, and a size_t beyond an int's range must not reach Go.
const maxView = 1 << 17

// Scratch arrays for the batch calls, reused: zeroing 14 KiB on every call
// cost more than receiving a few small frames. Each call clears only the
// entries it used, so that no reference to C memory stays behind.
var (
	sendScratch = sync.Pool{New: func() any { return new([maxBatch][]byte) }}
	recvScratch = sync.Pool{New: func() any { return new([maxBatch]shmif.Frame) }}
)

func microseconds(us int) time.Duration { return time.Duration(us) * time.Microsecond }

// timeout converts a C timeout in milliseconds (-1 forever).
func timeout(ms C.int) time.Duration {
	if ms < 0 {
		return -1
	}
	return time.Duration(ms) * time.Millisecond
}

// bytesOf views C memory as a byte slice without copying.
func bytesOf(p unsafe.Pointer, n uintptr) []byte {
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(p), n)
}

//export shmif_send
func shmif_send(ifnum C.int, frame unsafe.Pointer, length C.size_t) (rc C.int) {
	defer catch(&rc)
	i, rc := lookup(ifnum)
	if rc != 0 {
		return rc
	}
	if frame == nil {
		return C.int(unix.EFAULT)
	}
	if length > 1<<16 {
		return C.int(unix.EMSGSIZE)
	}
	return errno(i.Send(bytesOf(frame, uintptr(length))))
}

//export shmif_send_batch
func shmif_send_batch(ifnum C.int, frames unsafe.Pointer, n C.size_t) (rc C.int) {
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
	cf := unsafe.Slice((*cFrame)(frames), int(n))
	for k := range cf {
		if cf[k].data == nil {
			return C.int(unix.EFAULT)
		}
		if cf[k].len > 1<<16 {
			return C.int(unix.EMSGSIZE)
		}
	}
	scratch := sendScratch.Get().(*[maxBatch][]byte)
	used := min(len(cf), maxBatch)
	defer func() {
		clear(scratch[:used]) // keep no reference to the caller's memory
		sendScratch.Put(scratch)
	}()
	for len(cf) > 0 {
		round := cf[:min(len(cf), maxBatch)]
		for k := range round {
			scratch[k] = bytesOf(round[k].data, round[k].len)
		}
		if _, err := i.SendBatch(scratch[:len(round)]); err != nil {
			return errno(err)
		}
		cf = cf[len(round):]
	}
	return 0
}

//export shmif_recv
func shmif_recv(ifnum C.int, buf unsafe.Pointer, buflen C.size_t, length *C.size_t, ms C.int) (rc C.int) {
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

//export shmif_recv_batch
func shmif_recv_batch(ifnum C.int, frames unsafe.Pointer, n C.size_t, received *C.size_t, ms C.int) (rc C.int) {
	defer catch(&rc)
	i, rc := lookup(ifnum)
	if rc != 0 {
		return rc
	}
	if received == nil || (frames == nil && n > 0) {
		return C.int(unix.EFAULT)
	}
	*received = 0
	cf := unsafe.Slice((*cFrame)(frames), int(min(n, maxBatch)))
	scratch := recvScratch.Get().(*[maxBatch]shmif.Frame)
	defer func() {
		clear(scratch[:len(cf)]) // only what this call used
		recvScratch.Put(scratch)
	}()
	for k := range cf {
		if cf[k].data == nil && cf[k].cap > 0 {
			return C.int(unix.EFAULT)
		}
		scratch[k] = shmif.Frame{Buf: bytesOf(cf[k].data, min(cf[k].cap, maxView))}
	}
	got, err := i.RecvBatch(scratch[:len(cf)], timeout(ms))
	for k := range got {
		f := &scratch[k]
		cf[k].len, cf[k].csum, cf[k].sec, cf[k].usec = uintptr(f.Len), f.Csum, f.Sec, f.Usec
	}
	if err == unix.EMSGSIZE && len(cf) > 0 {
		cf[0].len = uintptr(scratch[0].Len)
	}
	*received = C.size_t(got)
	return errno(err)
}

//export shmif_send_offload
func shmif_send_offload(ifnum C.int, frame unsafe.Pointer, length C.size_t, csum C.uint32_t, mss C.uint32_t) (rc C.int) {
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

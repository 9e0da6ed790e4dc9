package main

/*
#include <rump/rump.h>
*/
import "C"

import (
	"time"
	"unsafe"

	"github.com/libshmif/libshmif/core/shmif"
	"golang.org/x/sys/unix"
)

// Interfaces: creation, configuration and counters.

//export shmifgo_create_bus
func shmifgo_create_bus(cpath *C.char, mode C.uint, ifnum *C.int) (rc C.int) {
	defer catch(&rc)
	room()
	p, rc := path(cpath)
	if rc != 0 {
		return rc
	}
	i, err := shmif.OpenMode(p, -1, uint32(mode))
	if err != nil {
		return errno(err)
	}
	if ifnum != nil {
		*ifnum = C.int(i.Unit())
	}
	return 0
}

//export shmifgo_create
func shmifgo_create(unit C.int, ifnum *C.int) (rc C.int) {
	defer catch(&rc)
	room()
	if unit < -1 {
		return C.int(unix.EINVAL)
	}
	i, err := shmif.Create(int(unit))
	if err != nil {
		return errno(err)
	}
	if ifnum != nil {
		*ifnum = C.int(i.Unit())
	}
	return 0
}

//export shmifgo_destroy
func shmifgo_destroy(ifnum C.int) (rc C.int) {
	defer catch(&rc)
	i, rc := lookup(ifnum)
	if rc != 0 {
		return rc
	}
	return errno(i.Destroy())
}

//export shmifgo_set_linkstr_mode
func shmifgo_set_linkstr_mode(ifnum C.int, cpath *C.char, mode C.uint) (rc C.int) {
	defer catch(&rc)
	i, rc := lookup(ifnum)
	if rc != 0 {
		return rc
	}
	p, rc := path(cpath)
	if rc != 0 {
		return rc
	}
	return errno(i.SetLinkstrMode(p, uint32(mode)))
}

//export shmifgo_unset_linkstr
func shmifgo_unset_linkstr(ifnum C.int) (rc C.int) {
	defer catch(&rc)
	i, rc := lookup(ifnum)
	if rc != 0 {
		return rc
	}
	return errno(i.UnsetLinkstr())
}

//export shmifgo_get_linkstr
func shmifgo_get_linkstr(ifnum C.int, buf *C.char, buflen C.size_t, needed *C.size_t) (rc C.int) {
	defer catch(&rc)
	i, rc := lookup(ifnum)
	if rc != 0 {
		return rc
	}
	if buf == nil && buflen > 0 {
		return C.int(unix.EFAULT)
	}
	s, err := i.Linkstr()
	if err != nil {
		return errno(err)
	}
	if needed != nil {
		*needed = C.size_t(len(s) + 1)
	}
	if buflen == 0 {
		return C.int(unix.ENAMETOOLONG)
	}
	dst := unsafe.Slice((*byte)(unsafe.Pointer(buf)), int(min(buflen, 1<<20)))
	n := copy(dst[:len(dst)-1], s)
	dst[n] = 0
	if n < len(s) {
		return C.int(unix.ENAMETOOLONG)
	}
	return 0
}

//export shmifgo_up
func shmifgo_up(ifnum C.int) (rc C.int) {
	defer catch(&rc)
	i, rc := lookup(ifnum)
	if rc != 0 {
		return rc
	}
	return errno(i.Up())
}

//export shmifgo_down
func shmifgo_down(ifnum C.int) (rc C.int) {
	defer catch(&rc)
	i, rc := lookup(ifnum)
	if rc != 0 {
		return rc
	}
	return errno(i.Down())
}

//export shmifgo_get_flags
func shmifgo_get_flags(ifnum C.int, flags *C.int) (rc C.int) {
	defer catch(&rc)
	i, rc := lookup(ifnum)
	if rc != 0 {
		return rc
	}
	if flags == nil {
		return C.int(unix.EFAULT)
	}
	*flags = C.int(i.Flags())
	return 0
}

//export shmifgo_get_mtu
func shmifgo_get_mtu(ifnum C.int, mtu *C.int) (rc C.int) {
	defer catch(&rc)
	if _, rc := lookup(ifnum); rc != 0 {
		return rc
	}
	if mtu == nil {
		return C.int(unix.EFAULT)
	}
	*mtu = shmif.MTU
	return 0
}

//export shmifgo_get_mac
func shmifgo_get_mac(ifnum C.int, mac *C.uint8_t) (rc C.int) {
	defer catch(&rc)
	i, rc := lookup(ifnum)
	if rc != 0 {
		return rc
	}
	if mac == nil {
		return C.int(unix.EFAULT)
	}
	m := i.MAC()
	copy(unsafe.Slice((*byte)(unsafe.Pointer(mac)), 6), m[:])
	return 0
}

//export shmifgo_get_sender
func shmifgo_get_sender(ifnum C.int, sender *C.uint64_t) (rc C.int) {
	defer catch(&rc)
	i, rc := lookup(ifnum)
	if rc != 0 {
		return rc
	}
	if sender == nil {
		return C.int(unix.EFAULT)
	}
	*sender = C.uint64_t(i.Sender())
	return 0
}

//export shmifgo_set_mac
func shmifgo_set_mac(ifnum C.int, mac *C.uint8_t) (rc C.int) {
	defer catch(&rc)
	i, rc := lookup(ifnum)
	if rc != 0 {
		return rc
	}
	if mac == nil {
		return C.int(unix.EFAULT)
	}
	return errno(i.SetMAC([6]byte(unsafe.Slice((*byte)(unsafe.Pointer(mac)), 6))))
}

//export shmifgo_set_promisc
func shmifgo_set_promisc(ifnum C.int, on C.int) (rc C.int) {
	defer catch(&rc)
	i, rc := lookup(ifnum)
	if rc != 0 {
		return rc
	}
	return errno(i.SetPromisc(on != 0))
}

//export shmifgo_set_media
func shmifgo_set_media(ifnum C.int, media C.int) (rc C.int) {
	defer catch(&rc)
	i, rc := lookup(ifnum)
	if rc != 0 {
		return rc
	}
	return errno(i.SetMedia(shmif.Media(media)))
}

//export shmifgo_get_media
func shmifgo_get_media(ifnum C.int, media *C.int) (rc C.int) {
	defer catch(&rc)
	i, rc := lookup(ifnum)
	if rc != 0 {
		return rc
	}
	if media == nil {
		return C.int(unix.EFAULT)
	}
	*media = C.int(i.Media())
	return 0
}

//export shmifgo_get_link_state
func shmifgo_get_link_state(ifnum C.int, state *C.int) (rc C.int) {
	defer catch(&rc)
	i, rc := lookup(ifnum)
	if rc != 0 {
		return rc
	}
	if state == nil {
		return C.int(unix.EFAULT)
	}
	*state = C.int(i.LinkState())
	return 0
}

//export shmifgo_get_stats
func shmifgo_get_stats(ifnum C.int, st *C.struct_shmif_stats) (rc C.int) {
	defer catch(&rc)
	i, rc := lookup(ifnum)
	if rc != 0 {
		return rc
	}
	if st == nil {
		return C.int(unix.EFAULT)
	}
	s := i.Stats()
	*st = C.struct_shmif_stats{
		ipackets: C.uint64_t(s.Ipackets), ibytes: C.uint64_t(s.Ibytes), imcasts: C.uint64_t(s.Imcasts),
		opackets: C.uint64_t(s.Opackets), obytes: C.uint64_t(s.Obytes), omcasts: C.uint64_t(s.Omcasts),
		oerrors: C.uint64_t(s.Oerrors), lost: C.uint64_t(s.Lost), corrupt: C.uint64_t(s.Corrupt),
	}
	return 0
}

//export shmifgo_set_spin
func shmifgo_set_spin(ifnum C.int, usec C.int) (rc C.int) {
	defer catch(&rc)
	i, rc := lookup(ifnum)
	if rc != 0 {
		return rc
	}
	if usec < 0 {
		return C.int(unix.EINVAL)
	}
	i.SetSpin(time.Duration(usec) * time.Microsecond)
	return 0
}

//export shmifgo_get_spin
func shmifgo_get_spin(ifnum C.int, usec *C.int) (rc C.int) {
	defer catch(&rc)
	i, rc := lookup(ifnum)
	if rc != 0 {
		return rc
	}
	if usec == nil {
		return C.int(unix.EFAULT)
	}
	*usec = C.int(min(i.Spin()/time.Microsecond, 1<<31-1))
	return 0
}

//export shmifgo_set_start
func shmifgo_set_start(ifnum C.int, start C.int) (rc C.int) {
	defer catch(&rc)
	i, rc := lookup(ifnum)
	if rc != 0 {
		return rc
	}
	return errno(i.SetStart(shmif.Start(start)))
}

//export shmifgo_set_lossless
func shmifgo_set_lossless(ifnum C.int, ms C.int) (rc C.int) {
	defer catch(&rc)
	i, rc := lookup(ifnum)
	if rc != 0 {
		return rc
	}
	if ms < 0 {
		return C.int(unix.EINVAL)
	}
	return errno(i.SetLossless(time.Duration(ms) * time.Millisecond))
}

//export shmifgo_get_lossless
func shmifgo_get_lossless(ifnum C.int, ms *C.int, active *C.int) (rc C.int) {
	defer catch(&rc)
	i, rc := lookup(ifnum)
	if rc != 0 {
		return rc
	}
	wait, on := i.Lossless()
	if ms != nil {
		*ms = C.int(min(wait/time.Millisecond, 1<<31-1))
	}
	if active != nil {
		*active = 0
		if on {
			*active = 1
		}
	}
	return 0
}

//export shmifgo_cancel
func shmifgo_cancel(ifnum C.int) (rc C.int) {
	defer catch(&rc)
	i, rc := lookup(ifnum)
	if rc != 0 {
		return rc
	}
	return errno(i.Cancel())
}

//export shmifgo_get_capabilities
func shmifgo_get_capabilities(ifnum C.int, caps *C.uint32_t) (rc C.int) {
	defer catch(&rc)
	if _, rc := lookup(ifnum); rc != 0 {
		return rc
	}
	if caps == nil {
		return C.int(unix.EFAULT)
	}
	*caps = shmif.Capabilities
	return 0
}

//export shmifgo_get_capenable
func shmifgo_get_capenable(ifnum C.int, capenable *C.uint32_t) (rc C.int) {
	defer catch(&rc)
	i, rc := lookup(ifnum)
	if rc != 0 {
		return rc
	}
	if capenable == nil {
		return C.int(unix.EFAULT)
	}
	*capenable = C.uint32_t(i.CapEnable())
	return 0
}

//export shmifgo_set_capenable
func shmifgo_set_capenable(ifnum C.int, capenable C.uint32_t) (rc C.int) {
	defer catch(&rc)
	i, rc := lookup(ifnum)
	if rc != 0 {
		return rc
	}
	return errno(i.SetCapEnable(uint32(capenable)))
}

//export shmifgo_get_pollfd
func shmifgo_get_pollfd(ifnum C.int, fd *C.int) (rc C.int) {
	defer catch(&rc)
	i, rc := lookup(ifnum)
	if rc != 0 {
		return rc
	}
	if fd == nil {
		return C.int(unix.EFAULT)
	}
	f, err := i.PollFd()
	if err != nil {
		return errno(err)
	}
	*fd = C.int(f)
	return 0
}

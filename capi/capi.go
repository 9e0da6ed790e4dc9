// Command capi is libshmif's C face: the functions declared in
// include/rump/rump.h, exported from a c-shared library. Each function only
// converts C types, looks the interface up by its unit number and turns the
// Go error into an errno value; the work is done by core/shmif.
package main

/*
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
*/
import "C"

import (
	"errors"
	"unsafe"

	"github.com/libshmif/libshmif/core/shmif"
	"golang.org/x/sys/unix"
)

func main() {}

// errno turns a Go error into the value a C caller gets.
func errno(err error) C.int {
	if err == nil {
		return 0
	}
	var e unix.Errno
	if errors.As(err, &e) {
		return C.int(e)
	}
	return C.int(unix.EIO)
}

// catch turns a panic into EIO so that no Go failure takes the C host down.
// Deferred by every export that does more than convert values.
func catch(rc *C.int) {
	if r := recover(); r != nil {
		*rc = C.int(unix.EIO)
	}
}

func lookup(ifnum C.int) (*shmif.Interface, C.int) {
	i, err := shmif.Lookup(int(ifnum))
	return i, errno(err)
}

// goString copies a NUL-terminated C string of at most max bytes; ok is
// false when no NUL comes within max bytes.
func goString(p *C.char, max int) (s string, ok bool) {
	b := unsafe.Slice((*byte)(unsafe.Pointer(p)), max)
	for n, c := range b {
		if c == 0 {
			return string(b[:n]), true
		}
	}
	return "", false
}

// openPath reads a C path argument: EINVAL when empty, E2BIG when no NUL
// comes within the 1024 bytes a linkstr may have.
func openPath(p *C.char) (string, C.int) {
	if p == nil {
		return "", C.int(unix.EFAULT)
	}
	s, ok := goString(p, shmif.MaxLinkstr)
	switch {
	case !ok:
		return "", C.int(unix.E2BIG)
	case s == "":
		return "", C.int(unix.EINVAL)
	}
	return s, 0
}

//export rump_pub_shmif_create
func rump_pub_shmif_create(path *C.char, ifnum *C.int) (rc C.int) {
	defer catch(&rc)
	if path == nil {
		i, err := shmif.Create(-1)
		if err != nil {
			return errno(err)
		}
		if ifnum != nil {
			*ifnum = C.int(i.Unit())
		}
		return 0
	}
	return shmif_open(path, 0o644, ifnum)
}

//export shmif_open
func shmif_open(path *C.char, mode C.uint, ifnum *C.int) (rc C.int) {
	defer catch(&rc)
	p, rc := openPath(path)
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

//export shmif_create
func shmif_create(unit C.int, ifnum *C.int) (rc C.int) {
	defer catch(&rc)
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

//export shmif_destroy
func shmif_destroy(ifnum C.int) (rc C.int) {
	defer catch(&rc)
	i, rc := lookup(ifnum)
	if rc != 0 {
		return rc
	}
	return errno(i.Destroy())
}

//export shmif_set_linkstr
func shmif_set_linkstr(ifnum C.int, path *C.char) C.int {
	return shmif_set_linkstr_mode(ifnum, path, 0o644)
}

//export shmif_set_linkstr_mode
func shmif_set_linkstr_mode(ifnum C.int, path *C.char, mode C.uint) (rc C.int) {
	defer catch(&rc)
	i, rc := lookup(ifnum)
	if rc != 0 {
		return rc
	}
	p, rc := openPath(path)
	if rc != 0 {
		return rc
	}
	return errno(i.SetLinkstrMode(p, uint32(mode)))
}

//export shmif_unset_linkstr
func shmif_unset_linkstr(ifnum C.int) (rc C.int) {
	defer catch(&rc)
	i, rc := lookup(ifnum)
	if rc != 0 {
		return rc
	}
	return errno(i.UnsetLinkstr())
}

//export shmif_get_linkstr
func shmif_get_linkstr(ifnum C.int, buf *C.char, buflen C.size_t, needed *C.size_t) (rc C.int) {
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
	dst := unsafe.Slice((*byte)(unsafe.Pointer(buf)), int(buflen))
	n := copy(dst[:len(dst)-1], s)
	dst[n] = 0
	if n < len(s) {
		return C.int(unix.ENAMETOOLONG)
	}
	return 0
}

//export shmif_up
func shmif_up(ifnum C.int) (rc C.int) {
	defer catch(&rc)
	i, rc := lookup(ifnum)
	if rc != 0 {
		return rc
	}
	return errno(i.Up())
}

//export shmif_down
func shmif_down(ifnum C.int) (rc C.int) {
	defer catch(&rc)
	i, rc := lookup(ifnum)
	if rc != 0 {
		return rc
	}
	return errno(i.Down())
}

//export shmif_get_flags
func shmif_get_flags(ifnum C.int, flags *C.int) C.int {
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

//export shmif_get_mtu
func shmif_get_mtu(ifnum C.int, mtu *C.int) C.int {
	_, rc := lookup(ifnum)
	if rc != 0 {
		return rc
	}
	if mtu == nil {
		return C.int(unix.EFAULT)
	}
	*mtu = shmif.MTU
	return 0
}

//export shmif_get_mac
func shmif_get_mac(ifnum C.int, mac *C.uint8_t) C.int {
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

//export shmif_set_mac
func shmif_set_mac(ifnum C.int, mac *C.uint8_t) (rc C.int) {
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

//export shmif_set_promisc
func shmif_set_promisc(ifnum C.int, on C.int) C.int {
	i, rc := lookup(ifnum)
	if rc != 0 {
		return rc
	}
	return errno(i.SetPromisc(on != 0))
}

//export shmif_set_media
func shmif_set_media(ifnum C.int, media C.int) C.int {
	i, rc := lookup(ifnum)
	if rc != 0 {
		return rc
	}
	return errno(i.SetMedia(shmif.Media(media)))
}

//export shmif_get_media
func shmif_get_media(ifnum C.int, media *C.int) C.int {
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

//export shmif_get_link_state
func shmif_get_link_state(ifnum C.int, state *C.int) C.int {
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

// cStats is struct shmif_stats.
type cStats struct {
	ipackets, ibytes, imcasts uint64
	opackets, obytes, omcasts uint64
	oerrors, lost, corrupt    uint64
}

//export shmif_get_stats
func shmif_get_stats(ifnum C.int, st unsafe.Pointer) C.int {
	i, rc := lookup(ifnum)
	if rc != 0 {
		return rc
	}
	if st == nil {
		return C.int(unix.EFAULT)
	}
	s := i.Stats()
	*(*cStats)(st) = cStats{
		s.Ipackets, s.Ibytes, s.Imcasts, s.Opackets, s.Obytes, s.Omcasts,
		s.Oerrors, s.Lost, s.Corrupt,
	}
	return 0
}

//export shmif_set_spin
func shmif_set_spin(ifnum C.int, usec C.int) C.int {
	i, rc := lookup(ifnum)
	if rc != 0 {
		return rc
	}
	if usec < 0 {
		return C.int(unix.EINVAL)
	}
	i.SetSpin(microseconds(int(usec)))
	return 0
}

//export shmif_get_capabilities
func shmif_get_capabilities(ifnum C.int, caps *C.uint32_t) C.int {
	_, rc := lookup(ifnum)
	if rc != 0 {
		return rc
	}
	if caps == nil {
		return C.int(unix.EFAULT)
	}
	*caps = shmif.Capabilities
	return 0
}

//export shmif_get_capenable
func shmif_get_capenable(ifnum C.int, capenable *C.uint32_t) C.int {
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

//export shmif_set_capenable
func shmif_set_capenable(ifnum C.int, capenable C.uint32_t) C.int {
	i, rc := lookup(ifnum)
	if rc != 0 {
		return rc
	}
	return errno(i.SetCapEnable(uint32(capenable)))
}

//export shmif_get_pollfd
func shmif_get_pollfd(ifnum C.int, fd *C.int) (rc C.int) {
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

// The environment variables that configure new interfaces are read with
// getenv(3), so that a C host's setenv(3) is seen.
func init() {
	shmif.Getenv = func(name string) string {
		cs := C.CString(name)
		defer C.free(unsafe.Pointer(cs))
		v := C.getenv(cs)
		if v == nil {
			return ""
		}
		return C.GoString(v)
	}
}

package cabi_test

import (
	"fmt"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// Attaching and detaching a bus: shmif_set_linkstr, shmif_unset_linkstr
// and shmif_get_linkstr.

// TestLinkstr: shmif_get_linkstr's buffer rules and the EBUSY cases of
// setting and unsetting the linkstr.
func TestLinkstr(t *testing.T) {
	setup(t)
	path := busPath(t)
	ifnum := open(t, path)
	want := path + "\x00"

	buf := make([]byte, 2048)
	for k := range buf {
		buf[k] = '#'
	}
	var needed uintptr
	must(t, "shmif_get_linkstr(big buffer)", lib.shmif_get_linkstr(ifnum, &buf[0], uintptr(len(buf)), &needed))
	if string(buf[:len(want)]) != want || needed != uintptr(len(want)) {
		t.Errorf("linkstr %q, needed %d; want %q, %d", buf[:len(want)], needed, want, len(want))
	}
	must(t, "shmif_get_linkstr(exact buffer)", lib.shmif_get_linkstr(ifnum, &buf[0], uintptr(len(want)), nil))

	for _, size := range []int{1, 5, len(want) - 1} {
		for k := range buf {
			buf[k] = '#'
		}
		needed = 0
		check(t, fmt.Sprintf("shmif_get_linkstr(buffer %d)", size),
			lib.shmif_get_linkstr(ifnum, &buf[0], uintptr(size), &needed), unix.ENAMETOOLONG)
		if needed != uintptr(len(want)) {
			t.Errorf("buffer %d: *needed = %d, want %d", size, needed, len(want))
		}
		if wantBuf := path[:size-1] + "\x00#"; string(buf[:size+1]) != wantBuf {
			t.Errorf("buffer %d holds %q, want %q (and nothing written past it)", size, buf[:size+1], wantBuf)
		}
	}
	needed = 0
	check(t, "shmif_get_linkstr(NULL, 0)", lib.shmif_get_linkstr(ifnum, nil, 0, &needed), unix.ENAMETOOLONG)
	if needed != uintptr(len(want)) {
		t.Errorf("buffer 0: *needed = %d, want %d", needed, len(want))
	}
	check(t, "shmif_get_linkstr(NULL, 10)", lib.shmif_get_linkstr(ifnum, nil, 10, &needed), unix.EFAULT)

	other := busPath(t)
	check(t, "shmif_set_linkstr while up", lib.shmif_set_linkstr(ifnum, cstr(other)), unix.EBUSY)
	check(t, "shmif_set_linkstr_mode while up", lib.shmif_set_linkstr_mode(ifnum, cstr(other), 0o600), unix.EBUSY)
	check(t, "shmif_unset_linkstr while up", lib.shmif_unset_linkstr(ifnum), unix.EBUSY)
	must(t, "shmif_down", lib.shmif_down(ifnum))
	check(t, "shmif_set_linkstr while attached", lib.shmif_set_linkstr(ifnum, cstr(other)), unix.EBUSY)
	if _, err := os.Stat(other); err == nil {
		t.Errorf("a refused shmif_set_linkstr created %s", other)
	}
	if s := linkstrOf(t, ifnum); s != path {
		t.Errorf("linkstr after refused set = %q", s)
	}

	must(t, "shmif_unset_linkstr", lib.shmif_unset_linkstr(ifnum))
	if s := linkOf(t, ifnum); s != linkUnknown {
		t.Errorf("link state after -linkstr = %d, want SHMIF_LINK_UNKNOWN", s)
	}
	check(t, "shmif_get_linkstr after -linkstr", lib.shmif_get_linkstr(ifnum, &buf[0], 64, &needed), unix.ENOENT)
	must(t, "shmif_unset_linkstr without bus", lib.shmif_unset_linkstr(ifnum))
	check(t, "shmif_up after -linkstr", lib.shmif_up(ifnum), unix.ENXIO)
	check(t, "shmif_set_linkstr(NULL)", lib.shmif_set_linkstr(ifnum, nil), unix.EFAULT)

	must(t, "shmif_set_linkstr(other)", lib.shmif_set_linkstr(ifnum, cstr(other)))
	if s := linkOf(t, ifnum); s != linkUp {
		t.Errorf("link state after linkstr = %d, want SHMIF_LINK_UP", s)
	}
	if s := linkstrOf(t, ifnum); s != other {
		t.Errorf("linkstr = %q, want %q", s, other)
	}
	must(t, "shmif_up", lib.shmif_up(ifnum))
	peer := open(t, other)
	f := frame(broadcast, macOf(t, peer), 60, "on the other bus")
	send(t, peer, f)
	mustRecv(t, ifnum, f)
}

package cabi_test

import (
	"fmt"
	"testing"

	"golang.org/x/sys/unix"
)

// What ifconfig changes: up and down, flags, promiscuous mode, the link
// address and media.

// TestDownUp: down stops both directions; up resumes reception at the
// newest frame on the bus, which is received again.
func TestDownUp(t *testing.T) {
	setup(t)
	a, b := pair(t)
	ma := macOf(t, a)
	f1 := frame(broadcast, ma, 60, "first")
	f2 := frame(broadcast, ma, 61, "second")
	send(t, a, f1)
	send(t, a, f2)
	mustRecv(t, b, f1)
	mustRecv(t, b, f2)
	must(t, "shmif_down", lib.shmif_down(b))
	if f := flagsOf(t, b); f&(iffUp|iffRunning) != 0 {
		t.Errorf("flags after down = %#x", f)
	}
	if s := linkOf(t, b); s != linkUp {
		t.Errorf("link state after down = %d, want still SHMIF_LINK_UP (the bus stays attached)", s)
	}
	must(t, "shmif_down again", lib.shmif_down(b))
	must(t, "shmif_up", lib.shmif_up(b))
	mustRecv(t, b, f2)
	nothing(t, b, "after the newest frame was received again")
	must(t, "shmif_up again", lib.shmif_up(b))
	if f := flagsOf(t, b); f&(iffUp|iffRunning) != iffUp|iffRunning {
		t.Errorf("flags after up = %#x", f)
	}
}

// TestPromiscuous: unicast frames for other addresses are received only
// while promiscuous.
func TestPromiscuous(t *testing.T) {
	setup(t)
	a, b := pair(t)
	ma := macOf(t, a)
	stranger := [6]byte{0xb2, 0xa0, 0xde, 0xad, 0xbe, 0xef}
	f1 := frame(stranger, ma, 64, "for a stranger 1")
	send(t, a, f1)
	nothing(t, b, "unicast for another address, not promiscuous")
	must(t, "shmif_set_promisc(1)", lib.shmif_set_promisc(b, 1))
	if f := flagsOf(t, b); f&iffPromisc == 0 {
		t.Errorf("flags = %#x, want PROMISC", f)
	}
	f2 := frame(stranger, ma, 64, "for a stranger 2")
	send(t, a, f2)
	mustRecv(t, b, f2)
	must(t, "shmif_set_promisc(0)", lib.shmif_set_promisc(b, 0))
	if f := flagsOf(t, b); f&iffPromisc != 0 {
		t.Errorf("flags = %#x, want no PROMISC", f)
	}
	send(t, a, frame(stranger, ma, 64, "for a stranger 3"))
	nothing(t, b, "unicast for another address after promiscuous off")
	// Promiscuous still does not hear itself.
	must(t, "shmif_set_promisc(2)", lib.shmif_set_promisc(a, 2))
	nothing(t, a, "promiscuous a and its own frames")
}

// TestSetMAC: reception filters on the current address; group addresses
// are refused.
func TestSetMAC(t *testing.T) {
	setup(t)
	a, b := pair(t)
	ma, old := macOf(t, a), macOf(t, b)
	nw := [6]byte{0x02, 0x11, 0x22, 0x33, 0x44, 0x55}
	must(t, "shmif_set_mac", lib.shmif_set_mac(b, &nw))
	if got := macOf(t, b); got != nw {
		t.Errorf("shmif_get_mac = % x, want % x", got, nw)
	}
	send(t, a, frame(old, ma, 60, "to the old address"))
	nothing(t, b, "frame to the old address")
	f := frame(nw, ma, 60, "to the new address")
	send(t, a, f)
	mustRecv(t, b, f)
	for _, bad := range [][6]byte{{0x01, 0, 0x5e, 0, 0, 1}, {0x33, 0x33, 0, 0, 0, 1}, broadcast} {
		check(t, fmt.Sprintf("shmif_set_mac(% x)", bad), lib.shmif_set_mac(b, &bad), unix.EINVAL)
	}
	if got := macOf(t, b); got != nw {
		t.Errorf("after refused set_mac the address is % x, want % x", got, nw)
	}
}

// TestMedia: media none takes the link down; frames are neither written nor
// received, yet sends succeed and are counted.
func TestMedia(t *testing.T) {
	setup(t)
	a, b := pair(t)
	ma, mb := macOf(t, a), macOf(t, b)
	check(t, "shmif_set_media(2)", lib.shmif_set_media(b, 2), unix.EINVAL)
	check(t, "shmif_set_media(-1)", lib.shmif_set_media(b, -1), unix.EINVAL)
	must(t, "shmif_set_media(NONE)", lib.shmif_set_media(b, mediaNone))
	var media int32
	must(t, "shmif_get_media", lib.shmif_get_media(b, &media))
	if media != mediaNone {
		t.Errorf("media = %d, want SHMIF_MEDIA_NONE", media)
	}
	if s := linkOf(t, b); s != linkDown {
		t.Errorf("link state with media none = %d, want SHMIF_LINK_DOWN", s)
	}
	if f := flagsOf(t, b); f&iffUp == 0 {
		t.Errorf("flags with media none = %#x, want still UP", f)
	}

	out := frame(broadcast, mb, 80, "sent with media none")
	send(t, b, out)
	send(t, b, frame(ma, mb, 90, "unicast with media none"))
	nothing(t, a, "frames sent with media none")
	if st := statsOf(t, b); st.opackets != 2 || st.obytes != 170 || st.omcasts != 1 {
		t.Errorf("media none: opackets %d obytes %d omcasts %d; want 2, 170, 1", st.opackets, st.obytes, st.omcasts)
	}
	send(t, a, frame(broadcast, ma, 60, "to b with media none"))
	nothing(t, b, "frames sent to an interface with media none")

	// The frame a sent while b's link was down must not turn up later.
	send(t, a, frame(mb, ma, 61, "to b while its link is down, not read"))
	must(t, "shmif_set_media(AUTO)", lib.shmif_set_media(b, mediaAuto))
	if s := linkOf(t, b); s != linkUp {
		t.Errorf("link state with media auto = %d, want SHMIF_LINK_UP", s)
	}
	nothing(t, b, "frames that arrived while the link was down, after media auto")
	f := frame(mb, ma, 70, "media auto again")
	send(t, a, f)
	mustRecv(t, b, f)
	g := frame(ma, mb, 71, "and back")
	send(t, b, g)
	mustRecv(t, a, g)
	if st := statsOf(t, b); st.ipackets != 1 {
		t.Errorf("b's ipackets = %d, want 1: only the frame sent after media auto is received", st.ipackets)
	}

	// Link state over -linkstr and linkstr with media none.
	must(t, "shmif_down", lib.shmif_down(b))
	must(t, "shmif_unset_linkstr", lib.shmif_unset_linkstr(b))
	if s := linkOf(t, b); s != linkUnknown {
		t.Errorf("link state after -linkstr = %d, want SHMIF_LINK_UNKNOWN", s)
	}
	must(t, "shmif_set_media(NONE) without bus", lib.shmif_set_media(b, mediaNone))
	if s := linkOf(t, b); s != linkDown {
		t.Errorf("link state with media none, no bus = %d, want SHMIF_LINK_DOWN", s)
	}
	must(t, "shmif_set_linkstr with media none", lib.shmif_set_linkstr(b, cstr(busPath(t))))
	if s := linkOf(t, b); s != linkDown {
		t.Errorf("link state after linkstr with media none = %d, want SHMIF_LINK_DOWN", s)
	}
	must(t, "shmif_set_media(AUTO)", lib.shmif_set_media(b, mediaAuto))
	if s := linkOf(t, b); s != linkUp {
		t.Errorf("link state with bus and media auto = %d, want SHMIF_LINK_UP", s)
	}
}

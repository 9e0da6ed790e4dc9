package cabi_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The common errors of rump.h's introduction, for every function: ENXIO
// for units with no interface and destroyed ones, EFAULT for NULL pointers.

// calls returns a call of every function that takes an existing
// interface, with valid arguments.
func calls(t testing.TB, ifnum int32) map[string]func() int32 {
	path := filepath.Join(t.TempDir(), "bus")
	buf := make([]byte, maxFrame)
	f := frame(broadcast, [6]byte{2, 0, 0, 0, 0, 1}, 60, "x")
	var (
		i32 int32
		u32 uint32
		n   uintptr
		mac = [6]byte{2, 0, 0, 0, 0, 1}
		st  shmifStats
	)
	rb := newBatch(t, 2, maxFrame)
	return map[string]func() int32{
		"shmif_destroy":          func() int32 { return lib.shmif_destroy(ifnum) },
		"shmif_set_linkstr":      func() int32 { return lib.shmif_set_linkstr(ifnum, cstr(path)) },
		"shmif_set_linkstr_mode": func() int32 { return lib.shmif_set_linkstr_mode(ifnum, cstr(path), 0o600) },
		"shmif_unset_linkstr":    func() int32 { return lib.shmif_unset_linkstr(ifnum) },
		"shmif_get_linkstr":      func() int32 { return lib.shmif_get_linkstr(ifnum, &buf[0], 64, &n) },
		"shmif_up":               func() int32 { return lib.shmif_up(ifnum) },
		"shmif_down":             func() int32 { return lib.shmif_down(ifnum) },
		"shmif_get_flags":        func() int32 { return lib.shmif_get_flags(ifnum, &i32) },
		"shmif_get_mtu":          func() int32 { return lib.shmif_get_mtu(ifnum, &i32) },
		"shmif_get_mac":          func() int32 { return lib.shmif_get_mac(ifnum, &mac) },
		"shmif_set_mac":          func() int32 { return lib.shmif_set_mac(ifnum, &mac) },
		"shmif_set_promisc":      func() int32 { return lib.shmif_set_promisc(ifnum, 1) },
		"shmif_set_media":        func() int32 { return lib.shmif_set_media(ifnum, mediaAuto) },
		"shmif_get_media":        func() int32 { return lib.shmif_get_media(ifnum, &i32) },
		"shmif_get_link_state":   func() int32 { return lib.shmif_get_link_state(ifnum, &i32) },
		"shmif_get_stats":        func() int32 { return lib.shmif_get_stats(ifnum, &st) },
		"shmif_send":             func() int32 { return lib.shmif_send(ifnum, &f[0], uintptr(len(f))) },
		"shmif_recv":             func() int32 { return lib.shmif_recv(ifnum, &buf[0], maxFrame, &n, 0) },
		"shmif_send_batch":       func() int32 { return sendBatch(ifnum, f, f) },
		"shmif_recv_batch":       func() int32 { _, rc := rb.recv(ifnum, 0); return rc },
		"shmif_get_pollfd":       func() int32 { return lib.shmif_get_pollfd(ifnum, &i32) },
		"shmif_set_spin":         func() int32 { return lib.shmif_set_spin(ifnum, 10) },
		"shmif_get_spin":         func() int32 { return lib.shmif_get_spin(ifnum, &i32) },
		"shmif_get_sender":       func() int32 { var id uint64; return lib.shmif_get_sender(ifnum, &id) },
		"shmif_set_start":        func() int32 { return lib.shmif_set_start(ifnum, 1) },
		"shmif_cancel":           func() int32 { return lib.shmif_cancel(ifnum) },
		"shmif_set_lossless":     func() int32 { return lib.shmif_set_lossless(ifnum, 100) },
		"shmif_get_lossless":     func() int32 { return lib.shmif_get_lossless(ifnum, &i32, &i32) },
		"shmif_recv_frame": func() int32 {
			fr := shmifFrame{data: unsafe.Pointer(&buf[0]), cap: maxFrame}
			return lib.shmif_recv_frame(ifnum, &fr, 0)
		},
		"shmif_get_capabilities": func() int32 { return lib.shmif_get_capabilities(ifnum, &u32) },
		"shmif_get_capenable":    func() int32 { return lib.shmif_get_capenable(ifnum, &u32) },
		"shmif_set_capenable":    func() int32 { return lib.shmif_set_capenable(ifnum, 0) },
		"shmif_bridge_attach": func() int32 {
			var h int32
			return lib.shmif_bridge_attach(ifnum, cstr("shmif:///nonexistent/dir/bus"), nil, &h)
		},
		"shmif_send_offload": func() int32 {
			if lib.shmif_send_offload == nil {
				return int32(unix.ENXIO)
			}
			return lib.shmif_send_offload(ifnum, &f[0], uintptr(len(f)), 0, 0)
		},
	}
}

// callsCoverLib: calls names every function of lib but the creators.
func callsCoverLib(t *testing.T, cs map[string]func() int32) {
	t.Helper()
	creators := []string{"rump_init", "rump_pub_shmif_create", "shmif_open", "shmif_create",
		"shmif_capture", "shmif_inject", // these name a bus file, not an interface
		"shmif_bridge_open", "shmif_bridge_close", "shmif_bridge_get_stats", "shmif_bridge_command"} // and these a bridge
	for _, name := range libFunctions() {
		if _, ok := cs[name]; !ok && !slices.Contains(creators, name) {
			t.Errorf("no call of %s in calls()", name)
		}
	}
}

// TestUnknownIfnum: every function gives ENXIO for a unit with no
// interface, negative or beyond the range included.
func TestUnknownIfnum(t *testing.T) {
	setup(t)
	for _, ifnum := range []int32{-1, -40000, 40000, 32768, 32767, 4711, 1 << 30} {
		cs := calls(t, ifnum)
		callsCoverLib(t, cs)
		for name, call := range cs {
			check(t, fmt.Sprintf("%s(%d)", name, ifnum), call(), unix.ENXIO)
		}
	}
}

// TestAfterDestroy: every call on a destroyed interface gives ENXIO, and
// the bus file stays.
func TestAfterDestroy(t *testing.T) {
	setup(t)
	path := busPath(t)
	a := open(t, path)
	b := open(t, path)
	var fd int32
	must(t, "shmif_get_pollfd", lib.shmif_get_pollfd(b, &fd))
	send(t, a, frame(broadcast, macOf(t, a), 60, "before destroy"))
	must(t, "shmif_destroy", lib.shmif_destroy(b))
	cs := calls(t, b)
	callsCoverLib(t, cs)
	for name, call := range cs {
		check(t, name+" after destroy", call(), unix.ENXIO)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("the bus file is gone after destroy: %v", err)
	}
	// The other interface carries on.
	f := frame(broadcast, macOf(t, a), 60, "after destroy")
	send(t, a, f)
	c := open(t, path)
	if c != b {
		t.Errorf("the destroyed unit %d was not reused (got %d)", b, c)
	}
	send(t, a, f)
	mustRecv(t, c, f)
}

// TestNullPointers: EFAULT for every required pointer.
func TestNullPointers(t *testing.T) {
	setup(t)
	ifnum := open(t, busPath(t))
	cases := map[string]int32{
		"shmif_get_flags":        lib.shmif_get_flags(ifnum, nil),
		"shmif_get_mtu":          lib.shmif_get_mtu(ifnum, nil),
		"shmif_get_mac":          lib.shmif_get_mac(ifnum, nil),
		"shmif_set_mac":          lib.shmif_set_mac(ifnum, nil),
		"shmif_get_media":        lib.shmif_get_media(ifnum, nil),
		"shmif_get_link_state":   lib.shmif_get_link_state(ifnum, nil),
		"shmif_get_stats":        lib.shmif_get_stats(ifnum, nil),
		"shmif_get_capabilities": lib.shmif_get_capabilities(ifnum, nil),
		"shmif_get_capenable":    lib.shmif_get_capenable(ifnum, nil),
		"shmif_get_pollfd":       lib.shmif_get_pollfd(ifnum, nil),
		"shmif_send":             lib.shmif_send(ifnum, nil, 60),
		"shmif_send_batch":       lib.shmif_send_batch(ifnum, nil, 1),
		"shmif_recv(buf)":        lib.shmif_recv(ifnum, nil, 100, new(uintptr), 0),
		"shmif_recv(len)":        lib.shmif_recv(ifnum, &make([]byte, 100)[0], 100, nil, 0),
		"shmif_recv_batch":       lib.shmif_recv_batch(ifnum, nil, 1, new(uintptr), 0),
		"shmif_recv_batch(recv)": lib.shmif_recv_batch(ifnum, &make([]shmifFrame, 1)[0], 1, nil, 0),
		"shmif_get_linkstr":      lib.shmif_get_linkstr(ifnum, nil, 100, nil),
		"shmif_set_linkstr":      lib.shmif_set_linkstr(ifnum, nil),
		"shmif_set_linkstr_mode": lib.shmif_set_linkstr_mode(ifnum, nil, 0o600),
		"shmif_open":             lib.shmif_open(nil, 0o600, nil),
	}
	if lib.shmif_send_offload != nil {
		cases["shmif_send_offload"] = lib.shmif_send_offload(ifnum, nil, 60, 0, 0)
	}
	for name, rc := range cases {
		// The set_linkstr calls are made on an up interface; EBUSY there is
		// also a right answer.
		if strings.HasPrefix(name, "shmif_set_linkstr") && rc == int32(unix.EBUSY) {
			continue
		}
		check(t, name+" with NULL", rc, unix.EFAULT)
	}
}

package cabi_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Creating interfaces: rump_pub_shmif_create, shmif_open and shmif_create,
// their unit numbers, the bus files they make and the files they refuse.

// TestCreateWithPathIsUp: rump_pub_shmif_create leaves the interface up and
// running, its link up, with the documented defaults.
func TestCreateWithPathIsUp(t *testing.T) {
	setup(t)
	path := busPath(t)
	ifnum := open(t, path)
	if f, want := flagsOf(t, ifnum), int32(iffUp|iffBroadcast|iffRunning|iffSimplex|iffMulticast); f != want {
		t.Errorf("flags = %#x, want %#x", f, want)
	}
	if s := linkOf(t, ifnum); s != linkUp {
		t.Errorf("link state = %d, want SHMIF_LINK_UP", s)
	}
	var media, m int32 = -1, -1
	must(t, "shmif_get_media", lib.shmif_get_media(ifnum, &media))
	if media != mediaAuto {
		t.Errorf("media = %d, want SHMIF_MEDIA_AUTO", media)
	}
	must(t, "shmif_get_mtu", lib.shmif_get_mtu(ifnum, &m))
	if m != mtu {
		t.Errorf("mtu = %d, want 1500", m)
	}
	var caps uint32
	must(t, "shmif_get_capabilities", lib.shmif_get_capabilities(ifnum, &caps))
	if caps != capabilities {
		t.Errorf("capabilities = %#x, want %#x", caps, capabilities)
	}
	mac := macOf(t, ifnum)
	if mac[0] != 0xb2 || mac[1] != 0xa0 {
		t.Errorf("mac = % x, want b2:a0:...", mac)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() != 1<<20 {
		t.Errorf("bus file is %d bytes, want 1 MiB", st.Size())
	}
}

// TestCreateIfnumNULL: ifnum may be NULL; the lowest free unit is taken.
func TestCreateIfnumNULL(t *testing.T) {
	setup(t)
	var u int32
	must(t, "shmif_create(-1)", lib.shmif_create(-1, &u))
	must(t, "shmif_destroy", lib.shmif_destroy(u))
	must(t, "rump_pub_shmif_create(path, NULL)", lib.rump_pub_shmif_create(cstr(busPath(t)), nil))
	destroyLater(t, u)
	if s := linkOf(t, u); s != linkUp {
		t.Errorf("the interface made with ifnum NULL (unit %d) has link state %d", u, s)
	}
	must(t, "shmif_destroy", lib.shmif_destroy(u))
	must(t, "shmif_create(-1, NULL)", lib.shmif_create(-1, nil))
	check(t, "shmif_destroy", lib.shmif_destroy(u), 0)
	must(t, "shmif_open(path, 0600, NULL)", lib.shmif_open(cstr(busPath(t)), 0o600, nil))
	check(t, "shmif_destroy", lib.shmif_destroy(u), 0)
}

// TestCreateWithoutBus: path NULL gives an interface without a bus, down,
// that a linkstr and shmif_up make usable.
func TestCreateWithoutBus(t *testing.T) {
	setup(t)
	var ifnum int32 = -1
	must(t, "rump_pub_shmif_create(NULL)", lib.rump_pub_shmif_create(nil, &ifnum))
	destroyLater(t, ifnum)
	if f := flagsOf(t, ifnum); f&(iffUp|iffRunning) != 0 {
		t.Errorf("flags = %#x, want neither UP nor RUNNING", f)
	}
	if s := linkOf(t, ifnum); s != linkUnknown {
		t.Errorf("link state = %d, want SHMIF_LINK_UNKNOWN", s)
	}
	f := frame(broadcast, macOf(t, ifnum), 60, "x")
	check(t, "shmif_send without bus", lib.shmif_send(ifnum, &f[0], 60), unix.ENETDOWN)
	_, rc := recv(ifnum, 0)
	check(t, "shmif_recv without bus", rc, unix.ENETDOWN)
	check(t, "shmif_up without bus", lib.shmif_up(ifnum), unix.ENXIO)
	var fd int32
	check(t, "shmif_get_pollfd without bus", lib.shmif_get_pollfd(ifnum, &fd), unix.ENETDOWN)
	buf := make([]byte, 64)
	needed := uintptr(7)
	check(t, "shmif_get_linkstr without bus", lib.shmif_get_linkstr(ifnum, &buf[0], 64, &needed), unix.ENOENT)

	path := busPath(t)
	must(t, "shmif_set_linkstr", lib.shmif_set_linkstr(ifnum, cstr(path)))
	if s := linkOf(t, ifnum); s != linkUp {
		t.Errorf("link state after linkstr = %d, want SHMIF_LINK_UP", s)
	}
	if f := flagsOf(t, ifnum); f&iffUp != 0 {
		t.Errorf("flags after linkstr = %#x, want still down", f)
	}
	must(t, "shmif_up", lib.shmif_up(ifnum))
	if f := flagsOf(t, ifnum); f&(iffUp|iffRunning) != iffUp|iffRunning {
		t.Errorf("flags after up = %#x, want UP|RUNNING", f)
	}
	other := open(t, path)
	send(t, other, f)
	mustRecv(t, ifnum, f)
}

// TestUnitsLowestFree: creates take units 0, 1, 2; a freed unit is reused.
func TestUnitsLowestFree(t *testing.T) {
	setup(t)
	noInterfaces(t)
	path := busPath(t)
	for want := range int32(3) {
		if got := open(t, path); got != want {
			t.Fatalf("create #%d got unit %d, want %d", want+1, got, want)
		}
	}
	must(t, "shmif_destroy(1)", lib.shmif_destroy(1))
	if got := open(t, path); got != 1 {
		t.Errorf("create after destroying unit 1 got unit %d, want 1", got)
	}
	must(t, "shmif_destroy(1)", lib.shmif_destroy(1))
	var u int32
	must(t, "shmif_create(-1)", lib.shmif_create(-1, &u))
	destroyLater(t, u)
	if u != 1 {
		t.Errorf("shmif_create(-1) after destroying unit 1 got unit %d, want 1", u)
	}
	must(t, "shmif_create(-1)", lib.shmif_create(-1, &u))
	destroyLater(t, u)
	if u != 3 {
		t.Errorf("shmif_create(-1) with 0..2 taken got unit %d, want 3", u)
	}
}

// TestShmifCreateUnit: shmif_create takes the unit asked for, refuses a
// taken one with EEXIST and one out of range with EINVAL.
func TestShmifCreateUnit(t *testing.T) {
	setup(t)
	for _, unit := range []int32{5, 32767} {
		u := int32(-7)
		must(t, fmt.Sprintf("shmif_create(%d)", unit), lib.shmif_create(unit, &u))
		destroyLater(t, unit)
		if u != unit {
			t.Errorf("shmif_create(%d) stored unit %d", unit, u)
		}
		if f := flagsOf(t, unit); f&iffUp != 0 {
			t.Errorf("shmif%d flags = %#x, want down", unit, f)
		}
		if s := linkOf(t, unit); s != linkUnknown {
			t.Errorf("shmif%d link state = %d, want SHMIF_LINK_UNKNOWN", unit, s)
		}
		u = -7
		check(t, fmt.Sprintf("shmif_create(%d) again", unit), lib.shmif_create(unit, &u), unix.EEXIST)
		if u != -7 {
			t.Errorf("failed shmif_create wrote *ifnum = %d", u)
		}
	}
	for _, unit := range []int32{32768, 40000, -2, -100} {
		check(t, fmt.Sprintf("shmif_create(%d)", unit), lib.shmif_create(unit, nil), unix.EINVAL)
	}
	// A unit taken by rump_pub_shmif_create is taken for shmif_create too.
	ifnum := open(t, busPath(t))
	check(t, "shmif_create(unit of rump_pub_shmif_create)", lib.shmif_create(ifnum, nil), unix.EEXIST)
}

// TestCreateErrors: the file errors of rump_pub_shmif_create, shmif_open
// and shmif_set_linkstr; no failure leaves an interface behind.
func TestCreateErrors(t *testing.T) {
	setup(t)
	noInterfaces(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("a regular file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	loop := filepath.Join(dir, "loop")
	if err := os.Symlink(loop, loop); err != nil {
		t.Fatal(err)
	}
	// A foreign file, a 1 MiB file of noise and a bus of the other byte
	// order: all ENOEXEC and left unchanged.
	foreign := filepath.Join(dir, "foreign")
	noise := filepath.Join(dir, "noise")
	swapped := filepath.Join(dir, "swapped")
	contents := map[string][]byte{foreign: []byte("#!/bin/sh\necho not a bus\n")}
	n := make([]byte, 1<<20)
	for k := range n {
		n[k] = byte(k*7 + k>>9 + 1)
	}
	contents[noise] = n
	sw := make([]byte, 1<<20)
	binary.BigEndian.PutUint32(sw[0:], 0xCA11D054) // native is little-endian here
	binary.BigEndian.PutUint32(sw[16:], 0xFFFE0)
	if binary.NativeEndian.Uint32([]byte{1, 0, 0, 0}) != 1 {
		binary.LittleEndian.PutUint32(sw[0:], 0xCA11D054)
		binary.LittleEndian.PutUint32(sw[16:], 0xFFFE0)
	}
	contents[swapped] = sw
	for p, c := range contents {
		if err := os.WriteFile(p, c, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	long := func(n int) string { return dir + "/" + strings.Repeat("x", n-len(dir)-1) }

	cases := []struct {
		name string
		path string
		want unix.Errno
	}{
		{"empty", "", unix.EINVAL},
		{"directory", dir, unix.EISDIR},
		{"under a regular file", file + "/bus", unix.ENOTDIR},
		{"missing directory", dir + "/none/bus", unix.ENOENT},
		{"symlink loop", loop, unix.ELOOP},
		{"FIFO", fifo, unix.EINVAL},
		{"socket", sock, unix.EINVAL},
		{"device", "/dev/null", unix.EINVAL},
		{"foreign file", foreign, unix.ENOEXEC},
		{"noise", noise, unix.ENOEXEC},
		{"bus of the other byte order", swapped, unix.ENOEXEC},
		{"1024 bytes", long(1024), unix.E2BIG},
		{"5000 bytes", long(5000), unix.E2BIG},
		{"1023 bytes (not E2BIG: open's own error)", long(1023), unix.ENAMETOOLONG},
	}
	calls := []struct {
		name string
		call func(path *byte, ifnum *int32) int32
	}{
		{"rump_pub_shmif_create", lib.rump_pub_shmif_create},
		{"shmif_open", func(p *byte, i *int32) int32 { return lib.shmif_open(p, 0o600, i) }},
	}
	for _, c := range cases {
		for _, call := range calls {
			ifnum := int32(-7)
			rc := call.call(cstr(c.path), &ifnum)
			if rc == 0 {
				lib.shmif_destroy(ifnum)
			}
			check(t, fmt.Sprintf("%s(%s)", call.name, c.name), rc, c.want)
			if ifnum != -7 {
				t.Errorf("%s(%s) wrote *ifnum = %d on failure", call.name, c.name, ifnum)
			}
		}
		var u int32
		must(t, "shmif_create(-1)", lib.shmif_create(-1, &u))
		check(t, fmt.Sprintf("shmif_set_linkstr(%s)", c.name), lib.shmif_set_linkstr(u, cstr(c.path)), c.want)
		check(t, fmt.Sprintf("shmif_set_linkstr_mode(%s)", c.name), lib.shmif_set_linkstr_mode(u, cstr(c.path), 0o600), c.want)
		check(t, fmt.Sprintf("shmif_get_linkstr after failed linkstr(%s)", c.name), lib.shmif_get_linkstr(u, nil, 0, nil), unix.ENOENT)
		must(t, "shmif_destroy", lib.shmif_destroy(u))
		if u != 0 {
			t.Errorf("after the failures for %s the lowest free unit is %d, want 0", c.name, u)
		}
	}
	for p, c := range contents {
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, c) {
			t.Errorf("%s was changed (now %d bytes, was %d)", filepath.Base(p), len(got), len(c))
		}
	}
	if st, err := os.Lstat(fifo); err != nil || st.Mode().Type() != os.ModeNamedPipe {
		t.Errorf("the FIFO is gone or changed: %v", err)
	}
	check(t, "shmif_open(NULL)", lib.shmif_open(nil, 0o644, nil), unix.EFAULT)
}

// TestCreateFiles: new bus files get the mode asked for, existing files keep
// theirs, relative paths and symbolic links work, and the linkstr is the
// path as given.
func TestCreateFiles(t *testing.T) {
	setup(t)
	dir := t.TempDir()
	old := unix.Umask(0o022)
	defer unix.Umask(old)

	mode := func(p string) os.FileMode {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return st.Mode().Perm()
	}
	p644 := filepath.Join(dir, "default")
	open(t, p644)
	if m := mode(p644); m != 0o644 {
		t.Errorf("rump_pub_shmif_create made mode %o, want 644", m)
	}
	p600 := filepath.Join(dir, "private")
	var u int32
	must(t, "shmif_open(0600)", lib.shmif_open(cstr(p600), 0o600, &u))
	destroyLater(t, u)
	if m := mode(p600); m != 0o600 {
		t.Errorf("shmif_open(0600) made mode %o", m)
	}
	var v int32
	must(t, "shmif_open(existing, 0666)", lib.shmif_open(cstr(p600), 0o666, &v))
	destroyLater(t, v)
	if m := mode(p600); m != 0o600 {
		t.Errorf("shmif_open changed the mode of an existing file to %o", m)
	}
	pl := filepath.Join(dir, "linkstr-mode")
	must(t, "shmif_create(-1)", lib.shmif_create(-1, &v))
	destroyLater(t, v)
	must(t, "shmif_set_linkstr_mode(0640)", lib.shmif_set_linkstr_mode(v, cstr(pl), 0o640))
	if m := mode(pl); m != 0o640 {
		t.Errorf("shmif_set_linkstr_mode(0640) made mode %o", m)
	}

	// A relative path is relative to the working directory and is kept as
	// given; a symbolic link leads to the same bus.
	t.Chdir(dir)
	rel := open(t, "relative")
	if _, err := os.Stat(filepath.Join(dir, "relative")); err != nil {
		t.Errorf("relative bus not in the working directory: %v", err)
	}
	if s := linkstrOf(t, rel); s != "relative" {
		t.Errorf("linkstr = %q, want %q", s, "relative")
	}
	if err := os.Symlink("relative", "link"); err != nil {
		t.Fatal(err)
	}
	via := open(t, "link")
	f := frame(broadcast, macOf(t, via), 60, "through the symlink")
	send(t, via, f)
	mustRecv(t, rel, f)
}

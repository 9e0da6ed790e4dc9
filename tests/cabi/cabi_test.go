// Package cabi_test checks libshmif's C face as a C program sees it: the
// built libshmif.so is loaded with dlopen (github.com/ebitengine/purego, no
// cgo here) and every function of include/rump/rump.h is called with C
// strings, C out parameters and the C layouts of struct shmif_frame and
// struct shmif_stats. The expected values are the header's: its Returns
// blocks and the common errors of its introduction.
//
// The interface registry is one per process, so the tests run one at a time
// and each destroys what it creates.
//
// This file loads the library and holds the Go mirror of rump.h and the
// helpers for C calls; helpers_test.go has the interface, frame and batch
// helpers. The tests are by topic: layout (struct layouts, exported
// symbols, soname), create, linkstr, ifconfig (up, down, flags, MAC, media),
// sendrecv, threads, pollfd, offload, commonerrors (ENXIO and EFAULT for
// every function), harness (metadata, start positions, cancel, batch
// checks), errno (the C program in errno_c/) and procs (processes sharing a
// bus).
package cabi_test

import (
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"testing"
	"unsafe"

	"github.com/ebitengine/purego"
	"github.com/libshmif/libshmif/internal/testlib"
	"golang.org/x/sys/unix"
)

// lib holds libshmif's exports under their C names, one field per function
// of rump.h, registered by load.
var lib struct {
	rump_init              func() int32
	rump_pub_shmif_create  func(path *byte, ifnum *int32) int32
	shmif_open             func(path *byte, mode uint32, ifnum *int32) int32
	shmif_create           func(unit int32, ifnum *int32) int32
	shmif_destroy          func(ifnum int32) int32
	shmif_set_linkstr      func(ifnum int32, path *byte) int32
	shmif_set_linkstr_mode func(ifnum int32, path *byte, mode uint32) int32
	shmif_unset_linkstr    func(ifnum int32) int32
	shmif_get_linkstr      func(ifnum int32, buf *byte, buflen uintptr, needed *uintptr) int32
	shmif_up               func(ifnum int32) int32
	shmif_down             func(ifnum int32) int32
	shmif_get_flags        func(ifnum int32, flags *int32) int32
	shmif_get_mtu          func(ifnum int32, mtu *int32) int32
	shmif_get_mac          func(ifnum int32, mac *[6]byte) int32
	shmif_set_mac          func(ifnum int32, mac *[6]byte) int32
	shmif_set_promisc      func(ifnum int32, on int32) int32
	shmif_set_media        func(ifnum int32, media int32) int32
	shmif_get_media        func(ifnum int32, media *int32) int32
	shmif_get_link_state   func(ifnum int32, state *int32) int32
	shmif_get_stats        func(ifnum int32, st *shmifStats) int32
	shmif_send             func(ifnum int32, frame *byte, length uintptr) int32
	shmif_recv             func(ifnum int32, buf *byte, buflen uintptr, length *uintptr, timeoutMs int32) int32
	shmif_send_batch       func(ifnum int32, frames *shmifFrame, n uintptr) int32
	shmif_recv_batch       func(ifnum int32, frames *shmifFrame, n uintptr, received *uintptr, timeoutMs int32) int32
	shmif_get_pollfd       func(ifnum int32, fd *int32) int32
	shmif_set_spin         func(ifnum int32, usec int32) int32
	shmif_get_spin         func(ifnum int32, usec *int32) int32
	shmif_get_sender       func(ifnum int32, sender *uint64) int32
	shmif_set_start        func(ifnum int32, start int32) int32
	shmif_cancel           func(ifnum int32) int32
	shmif_set_lossless     func(ifnum int32, ms int32) int32
	shmif_capture          func(bus *byte, fd int32, followMs int32, frames *uint64, lost *uint64) int32
	shmif_inject           func(bus *byte, fd int32, frames *uint64) int32
	shmif_get_lossless     func(ifnum int32, ms *int32, active *int32) int32
	shmif_recv_frame       func(ifnum int32, frame *shmifFrame, timeoutMs int32) int32
	shmif_get_capabilities func(ifnum int32, caps *uint32) int32
	shmif_get_capenable    func(ifnum int32, capenable *uint32) int32
	shmif_set_capenable    func(ifnum int32, capenable uint32) int32
	shmif_send_offload     func(ifnum int32, frame *byte, length uintptr, csumFlags, mss uint32) int32
	shmif_bridge_open      func(bus, endpoint, options *byte, bridge *int32) int32
	shmif_bridge_attach    func(ifnum int32, endpoint, options *byte, bridge *int32) int32
	shmif_bridge_close     func(bridge int32) int32
	shmif_bridge_get_stats func(bridge int32, st *bridgeStats) int32
	shmif_bridge_command   func(bridge int32, command *byte, reply *byte, replylen uintptr, needed *uintptr) int32
}

// bridgeDir and bridgeStats are struct shmif_bridge_dir and struct
// shmif_bridge_stats (TestLayoutMatchesHeader).
type bridgeDir struct {
	frames, bytes, tooSmall, tooBig, loop, filtered, errors uint64
}

type bridgeStats struct {
	toEndpoint, toBus bridgeDir
	busLost           uint64
	stopped, err      int32
}

// shmifFrame is struct shmif_frame on LP64 (TestLayoutMatchesHeader).
type shmifFrame struct {
	data   unsafe.Pointer
	len    uintptr
	cap    uintptr
	csum   uint32
	sec    uint32
	usec   uint32
	pad    uint32
	sender uint64
}

// shmifStats is struct shmif_stats (TestLayoutMatchesHeader).
type shmifStats struct {
	ipackets, ibytes, imcasts uint64
	opackets, obytes, omcasts uint64
	oerrors, lost, corrupt    uint64
}

// The header's constants (TestLayoutMatchesHeader checks them).
const (
	minFrame   = 14
	maxFrame   = 1514
	mtu        = 1500
	maxUnits   = 32768
	maxLinkstr = 1024

	iffUp        = 0x0001
	iffBroadcast = 0x0002
	iffRunning   = 0x0040
	iffPromisc   = 0x0100
	iffSimplex   = 0x0800
	iffMulticast = 0x8000

	mediaAuto   = 0
	mediaNone   = 1
	linkUnknown = 0
	linkDown    = 1
	linkUp      = 2

	capabilities = 0x7ff80
	capIPv4Rx    = 0x00100
	capIPv4Tx    = 0x00200

	csumIPv4 = 0x0040
)

var (
	loadOnce sync.Once
	loadErr  error
	// missing lists the functions of lib that the library does not export.
	missing []string
)

// load dlopens the library at path and registers every field of lib with
// the symbol of its name. Absent symbols are recorded in missing.
func load(path string) error {
	h, err := purego.Dlopen(path, purego.RTLD_NOW|purego.RTLD_GLOBAL)
	if err != nil {
		return err
	}
	v := reflect.ValueOf(&lib).Elem()
	for k := range v.NumField() {
		name := v.Type().Field(k).Name
		sym, err := purego.Dlsym(h, name)
		if err != nil {
			missing = append(missing, name)
			continue
		}
		f := v.Field(k)
		purego.RegisterFunc(reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Interface(), sym)
	}
	return nil
}

// libFunctions lists the fields of lib, sorted.
func libFunctions() []string {
	ty := reflect.TypeOf(lib)
	names := make([]string, ty.NumField())
	for k := range names {
		names[k] = ty.Field(k).Name
	}
	slices.Sort(names)
	return names
}

// setup loads the library once per process.
func setup(t testing.TB) {
	t.Helper()
	path := testlib.Path(t, "libshmif.so")
	loadOnce.Do(func() { loadErr = load(path) })
	if loadErr != nil {
		t.Fatalf("dlopen %s: %v", path, loadErr)
	}
}

// need skips the test when the library lacks a function; TestExports
// reports it as a failure once.
func need(t testing.TB, name string) {
	t.Helper()
	if slices.Contains(missing, name) {
		t.Skipf("libshmif.so does not export %s", name)
	}
}

// cstr returns a NUL-terminated copy of s for a const char * argument.
func cstr(s string) *byte {
	b := append([]byte(s), 0)
	return &b[0]
}

func errName(rc int32) string {
	if rc == 0 {
		return "0"
	}
	if n := unix.ErrnoName(unix.Errno(rc)); n != "" {
		return n
	}
	return strconv.Itoa(int(rc))
}

// check reports an error unless rc is want (0: success).
func check(t testing.TB, what string, rc int32, want unix.Errno) bool {
	t.Helper()
	if unix.Errno(rc) != want {
		t.Errorf("%s = %s, want %s", what, errName(rc), errName(int32(want)))
		return false
	}
	return true
}

// must stops the test unless rc is 0.
func must(t testing.TB, what string, rc int32) {
	t.Helper()
	if rc != 0 {
		t.Fatalf("%s = %s, want 0", what, errName(rc))
	}
}

// cc compiles a C program against the header and the library.
func cc(t testing.TB, src, out string, extra ...string) {
	t.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("gcc not found")
	}
	build := testlib.Build(t)
	args := append([]string{"-std=c11", "-Wall", "-Wextra", "-Werror",
		"-I" + filepath.Join(testlib.Root(), "include"), "-o", out, src}, extra...)
	args = append(args, "-L"+build, "-lshmif", "-Wl,-rpath,"+build)
	if b, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
		t.Fatalf("gcc %s: %v\n%s", src, err, b)
	}
}

// Package cabi_test checks libshmif's C face as a C program sees it: the
// built libshmif.so is loaded with dlopen (github.com/ebitengine/purego, no
// cgo here) and every function of include/rump/rump.h is called with C
// strings, C out parameters and the C layouts of struct shmif_frame and
// struct shmif_stats. The expected values are the header's: its Returns
// blocks and the common errors of its introduction.
//
// The interface registry is one per process, so the tests run one at a time
// and each destroys what it creates.
package cabi_test

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
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
	shmif_recv_frame       func(ifnum int32, frame *shmifFrame, timeoutMs int32) int32
	shmif_get_capabilities func(ifnum int32, caps *uint32) int32
	shmif_get_capenable    func(ifnum int32, capenable *uint32) int32
	shmif_set_capenable    func(ifnum int32, capenable uint32) int32
	shmif_send_offload     func(ifnum int32, frame *byte, length uintptr, csumFlags, mss uint32) int32
}

// shmifFrame is struct shmif_frame on LP64 (TestLayoutMatchesHeader).
type shmifFrame struct {
	data unsafe.Pointer
	len  uintptr
	cap  uintptr
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

// destroyLater destroys ifnum when the test ends, if it still exists.
func destroyLater(t testing.TB, ifnum int32) {
	t.Cleanup(func() { lib.shmif_destroy(ifnum) })
}

// busPath names a bus file that does not exist yet.
func busPath(t testing.TB) string { return filepath.Join(t.TempDir(), "bus") }

// open attaches a new interface to the bus at path (rump_pub_shmif_create).
func open(t testing.TB, path string) int32 {
	t.Helper()
	var ifnum int32 = -1
	must(t, "rump_pub_shmif_create("+path+")", lib.rump_pub_shmif_create(cstr(path), &ifnum))
	destroyLater(t, ifnum)
	return ifnum
}

// pair attaches two interfaces to a new bus.
func pair(t testing.TB) (a, b int32) {
	t.Helper()
	path := busPath(t)
	return open(t, path), open(t, path)
}

// noInterfaces stops the test if an interface of an earlier test is left:
// tests of unit numbers need the registry empty.
func noInterfaces(t testing.TB) {
	t.Helper()
	var f int32
	for u := range int32(64) {
		if rc := lib.shmif_get_flags(u, &f); rc != int32(unix.ENXIO) {
			t.Fatalf("shmif%d exists before the test (%s)", u, errName(rc))
		}
	}
}

var broadcast = [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// frame builds an Ethernet frame (local experimental type 0x88b5) of exactly
// size bytes, its payload filled from text.
// A size below 14 cuts the header short.
func frame(dst, src [6]byte, size int, text string) []byte {
	f := make([]byte, max(size, minFrame))
	copy(f, dst[:])
	copy(f[6:], src[:])
	f[12], f[13] = 0x88, 0xb5
	for k := minFrame; k < size; k++ {
		f[k] = text[(k-minFrame)%len(text)]
	}
	return f[:size]
}

func macOf(t testing.TB, ifnum int32) [6]byte {
	t.Helper()
	var m [6]byte
	must(t, "shmif_get_mac", lib.shmif_get_mac(ifnum, &m))
	return m
}

func send(t testing.TB, ifnum int32, f []byte) {
	t.Helper()
	must(t, fmt.Sprintf("shmif_send(shmif%d, %d bytes)", ifnum, len(f)), lib.shmif_send(ifnum, &f[0], uintptr(len(f))))
}

// recv receives one frame into a 1514-byte buffer.
func recv(ifnum int32, timeoutMs int32) ([]byte, int32) {
	buf := make([]byte, maxFrame)
	var n uintptr
	rc := lib.shmif_recv(ifnum, &buf[0], uintptr(len(buf)), &n, timeoutMs)
	if rc != 0 {
		return nil, rc
	}
	return buf[:n], 0
}

// mustRecv receives the next frame and compares it with want.
func mustRecv(t testing.TB, ifnum int32, want []byte) {
	t.Helper()
	got, rc := recv(ifnum, 2000)
	if rc != 0 {
		t.Fatalf("shmif_recv(shmif%d) = %s, want a frame of %d bytes", ifnum, errName(rc), len(want))
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("shmif_recv(shmif%d) got %d bytes % x..., want %d bytes % x...",
			ifnum, len(got), got[:min(len(got), 20)], len(want), want[:min(len(want), 20)])
	}
}

// nothing checks that no frame is waiting for ifnum.
func nothing(t testing.TB, ifnum int32, why string) {
	t.Helper()
	if got, rc := recv(ifnum, 0); rc != int32(unix.EAGAIN) {
		t.Errorf("%s: shmif_recv(shmif%d, 0) = %s with %d bytes, want EAGAIN", why, ifnum, errName(rc), len(got))
	}
}

// drain receives with timeout 0 until EAGAIN.
func drain(t testing.TB, ifnum int32) {
	t.Helper()
	for range 10000 {
		if _, rc := recv(ifnum, 0); rc == int32(unix.EAGAIN) {
			return
		} else if rc != 0 {
			t.Fatalf("draining shmif%d: %s", ifnum, errName(rc))
		}
	}
	t.Fatalf("shmif%d never ran dry", ifnum)
}

func flagsOf(t testing.TB, ifnum int32) int32 {
	t.Helper()
	var f int32
	must(t, "shmif_get_flags", lib.shmif_get_flags(ifnum, &f))
	return f
}

func linkOf(t testing.TB, ifnum int32) int32 {
	t.Helper()
	var s int32
	must(t, "shmif_get_link_state", lib.shmif_get_link_state(ifnum, &s))
	return s
}

func statsOf(t testing.TB, ifnum int32) shmifStats {
	t.Helper()
	var st shmifStats
	must(t, "shmif_get_stats", lib.shmif_get_stats(ifnum, &st))
	return st
}

func capenableOf(t testing.TB, ifnum int32) uint32 {
	t.Helper()
	var c uint32
	must(t, "shmif_get_capenable", lib.shmif_get_capenable(ifnum, &c))
	return c
}

// batch is a receive batch of n frames with 1514-byte buffers, pinned for
// the C calls.
type batch struct {
	frames []shmifFrame
	bufs   [][]byte
	pin    runtime.Pinner
}

func newBatch(t testing.TB, n, size int) *batch {
	b := &batch{frames: make([]shmifFrame, n), bufs: make([][]byte, n)}
	for k := range b.frames {
		b.bufs[k] = make([]byte, size)
		b.pin.Pin(&b.bufs[k][0])
		b.frames[k] = shmifFrame{data: unsafe.Pointer(&b.bufs[k][0]), cap: uintptr(size)}
	}
	t.Cleanup(b.pin.Unpin)
	return b
}

// recv calls shmif_recv_batch; the received frames are b.frame(0..n-1).
func (b *batch) recv(ifnum int32, timeoutMs int32) (n int, rc int32) {
	got := uintptr(12345)
	rc = lib.shmif_recv_batch(ifnum, &b.frames[0], uintptr(len(b.frames)), &got, timeoutMs)
	return int(got), rc
}

func (b *batch) frame(k int) []byte { return b.bufs[k][:b.frames[k].len] }

// sendBatch calls shmif_send_batch with the given frames.
func sendBatch(ifnum int32, frames ...[]byte) int32 {
	var pin runtime.Pinner
	defer pin.Unpin()
	cf := make([]shmifFrame, len(frames))
	for k, f := range frames {
		if f != nil {
			pin.Pin(&f[0])
			cf[k] = shmifFrame{data: unsafe.Pointer(&f[0]), len: uintptr(len(f))}
		}
	}
	return lib.shmif_send_batch(ifnum, &cf[0], uintptr(len(cf)))
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

// TestLayoutMatchesHeader compiles a C program that prints the size and
// field offsets of struct shmif_frame and struct shmif_stats and the
// header's constants, and compares them with the Go mirrors used here.
func TestLayoutMatchesHeader(t *testing.T) {
	setup(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "layout.c")
	prog := `#include <stdio.h>
#include <stddef.h>
#include <rump/rump.h>
#define SZ(s) printf(#s " %zu\n", sizeof(struct s))
#define OFF(s, f) printf(#s "." #f " %zu\n", offsetof(struct s, f))
#define K(c) printf(#c " %ld\n", (long)(c))
int main(void) {
	SZ(shmif_frame); OFF(shmif_frame, data); OFF(shmif_frame, len); OFF(shmif_frame, cap);
	OFF(shmif_frame, csum); OFF(shmif_frame, sec); OFF(shmif_frame, usec);
	OFF(shmif_frame, pad); OFF(shmif_frame, sender);
	SZ(shmif_stats); OFF(shmif_stats, ipackets); OFF(shmif_stats, ibytes); OFF(shmif_stats, imcasts);
	OFF(shmif_stats, opackets); OFF(shmif_stats, obytes); OFF(shmif_stats, omcasts);
	OFF(shmif_stats, oerrors); OFF(shmif_stats, lost); OFF(shmif_stats, corrupt);
	K(SHMIF_MINFRAME); K(SHMIF_MAXFRAME); K(SHMIF_MTU); K(SHMIF_MAXUNITS); K(SHMIF_MAXLINKSTR);
	K(SHMIF_IFF_UP); K(SHMIF_IFF_BROADCAST); K(SHMIF_IFF_RUNNING); K(SHMIF_IFF_PROMISC);
	K(SHMIF_IFF_SIMPLEX); K(SHMIF_IFF_MULTICAST);
	K(SHMIF_MEDIA_AUTO); K(SHMIF_MEDIA_NONE);
	K(SHMIF_LINK_UNKNOWN); K(SHMIF_LINK_DOWN); K(SHMIF_LINK_UP);
	K(SHMIF_CAPABILITIES); K(SHMIF_CAP_IPv4_Rx); K(SHMIF_CAP_IPv4_Tx); K(SHMIF_CSUM_IPv4);
	return 0;
}
`
	if err := os.WriteFile(src, []byte(prog), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "layout")
	cc(t, src, bin)
	out, err := exec.Command(bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	var f shmifFrame
	var s shmifStats
	want := map[string]uintptr{
		"shmif_frame": unsafe.Sizeof(f), "shmif_frame.data": unsafe.Offsetof(f.data),
		"shmif_frame.len": unsafe.Offsetof(f.len), "shmif_frame.cap": unsafe.Offsetof(f.cap),
		"shmif_frame.csum": unsafe.Offsetof(f.csum), "shmif_frame.sec": unsafe.Offsetof(f.sec),
		"shmif_frame.usec": unsafe.Offsetof(f.usec), "shmif_frame.pad": unsafe.Offsetof(f.pad),
		"shmif_frame.sender": unsafe.Offsetof(f.sender),
		"shmif_stats":      unsafe.Sizeof(s), "shmif_stats.ipackets": unsafe.Offsetof(s.ipackets),
		"shmif_stats.ibytes": unsafe.Offsetof(s.ibytes), "shmif_stats.imcasts": unsafe.Offsetof(s.imcasts),
		"shmif_stats.opackets": unsafe.Offsetof(s.opackets), "shmif_stats.obytes": unsafe.Offsetof(s.obytes),
		"shmif_stats.omcasts": unsafe.Offsetof(s.omcasts), "shmif_stats.oerrors": unsafe.Offsetof(s.oerrors),
		"shmif_stats.lost": unsafe.Offsetof(s.lost), "shmif_stats.corrupt": unsafe.Offsetof(s.corrupt),
		"SHMIF_MINFRAME": minFrame, "SHMIF_MAXFRAME": maxFrame, "SHMIF_MTU": mtu,
		"SHMIF_MAXUNITS": maxUnits, "SHMIF_MAXLINKSTR": maxLinkstr,
		"SHMIF_IFF_UP": iffUp, "SHMIF_IFF_BROADCAST": iffBroadcast, "SHMIF_IFF_RUNNING": iffRunning,
		"SHMIF_IFF_PROMISC": iffPromisc, "SHMIF_IFF_SIMPLEX": iffSimplex, "SHMIF_IFF_MULTICAST": iffMulticast,
		"SHMIF_MEDIA_AUTO": mediaAuto, "SHMIF_MEDIA_NONE": mediaNone,
		"SHMIF_LINK_UNKNOWN": linkUnknown, "SHMIF_LINK_DOWN": linkDown, "SHMIF_LINK_UP": linkUp,
		"SHMIF_CAPABILITIES": capabilities, "SHMIF_CAP_IPv4_Rx": capIPv4Rx, "SHMIF_CAP_IPv4_Tx": capIPv4Tx,
		"SHMIF_CSUM_IPv4": csumIPv4,
	}
	seen := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		name, val, _ := strings.Cut(line, " ")
		c, err := strconv.ParseUint(val, 10, 64)
		if err != nil {
			t.Fatalf("bad line %q", line)
		}
		g, ok := want[name]
		if !ok {
			t.Errorf("C printed unknown %s", name)
			continue
		}
		seen++
		if uintptr(c) != g {
			t.Errorf("%s: C says %d, the Go mirror %d", name, c, g)
		}
	}
	if seen != len(want) {
		t.Errorf("compared %d of %d values", seen, len(want))
	}
}

// headerFunctions lists the functions declared in rump.h.
func headerFunctions(t testing.TB) []string {
	t.Helper()
	h, err := os.ReadFile(filepath.Join(testlib.Root(), "include", "rump", "rump.h"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range regexp.MustCompile(`(?m)^int\s+(\w+)\(`).FindAllSubmatch(h, -1) {
		names = append(names, string(m[1]))
	}
	slices.Sort(names)
	return names
}

// dynamicSymbols returns the defined dynamic symbols of the library, by
// name, with nm's type letter.
func dynamicSymbols(t testing.TB) map[string]string {
	t.Helper()
	out, err := exec.Command("nm", "-D", "--defined-only", testlib.Path(t, "libshmif.so")).Output()
	if err != nil {
		t.Fatalf("nm -D: %v", err)
	}
	syms := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 {
			syms[f[2]] = f[1]
		}
	}
	return syms
}

// TestExports: the library defines exactly the functions of rump.h (only
// shmif_* and rump_* names, no Go runtime symbols), rump_init weak, and the
// Go mirror lib has a field for each.
func TestExports(t *testing.T) {
	setup(t)
	declared := headerFunctions(t)
	syms := dynamicSymbols(t)
	var defined []string
	for name, kind := range syms {
		if !strings.HasPrefix(name, "shmif_") && !strings.HasPrefix(name, "rump_") {
			t.Errorf("libshmif.so exports %s (%s): only shmif_* and rump_* may be exported", name, kind)
			continue
		}
		defined = append(defined, name)
	}
	slices.Sort(defined)
	for _, name := range declared {
		if _, ok := syms[name]; !ok {
			t.Errorf("rump.h declares %s but libshmif.so does not export it", name)
		}
	}
	for _, name := range defined {
		if !slices.Contains(declared, name) {
			t.Errorf("libshmif.so exports %s, which rump.h does not declare", name)
		}
	}
	if k := syms["rump_init"]; k != "W" {
		t.Errorf("nm -D: rump_init is %q, want W (weak)", k)
	}
	fields := libFunctions()
	if !slices.Equal(fields, declared) {
		t.Errorf("the Go mirror has %v\nrump.h declares %v", fields, declared)
	}
}

// TestSoname: the library is libshmif.so.0 to the dynamic linker.
func TestSoname(t *testing.T) {
	f, err := elf.Open(testlib.Path(t, "libshmif.so"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	names, err := f.DynString(elf.DT_SONAME)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(names, []string{"libshmif.so.0"}) {
		t.Errorf("DT_SONAME = %q, want libshmif.so.0", names)
	}
	if _, err := exec.LookPath("readelf"); err == nil {
		out, err := exec.Command("readelf", "-d", testlib.Path(t, "libshmif.so")).Output()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(out), "Library soname: [libshmif.so.0]") {
			t.Errorf("readelf -d shows no soname libshmif.so.0:\n%s", out)
		}
	}
}

// TestRumpInit: rump_init returns 0 however often it is called.
func TestRumpInit(t *testing.T) {
	setup(t)
	for k := range 3 {
		check(t, fmt.Sprintf("rump_init() #%d", k+1), lib.rump_init(), 0)
	}
}

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

// TestBroadcastAndUnicast: two interfaces on one bus exchange frames with
// shmif_send/shmif_recv and the batch calls; nobody hears itself.
func TestBroadcastAndUnicast(t *testing.T) {
	setup(t)
	a, b := pair(t)
	ma, mb := macOf(t, a), macOf(t, b)
	bcast := frame(broadcast, ma, 60, "broadcast from a")
	uni := frame(mb, ma, 100, "unicast a to b")
	send(t, a, bcast)
	send(t, a, uni)
	mustRecv(t, b, bcast)
	mustRecv(t, b, uni)
	nothing(t, a, "a's own frames")
	nothing(t, b, "after two frames")

	// b answers with the smallest and the largest frame.
	small := frame(ma, mb, minFrame, "-")
	large := frame(ma, mb, maxFrame, "largest unicast b to a ")
	send(t, b, small)
	send(t, b, large)
	mustRecv(t, a, small)
	mustRecv(t, a, large)
	nothing(t, b, "b's own frames")

	// Batches.
	sent := [][]byte{
		frame(broadcast, ma, 60, "batch broadcast"),
		frame(mb, ma, maxFrame, "batch unicast"),
		frame([6]byte{0x01, 0x00, 0x5e, 0x00, 0x00, 0x01}, ma, 77, "batch multicast"),
	}
	must(t, "shmif_send_batch", sendBatch(a, sent...))
	rb := newBatch(t, 8, maxFrame)
	var got [][]byte
	for len(got) < len(sent) {
		n, rc := rb.recv(b, 2000)
		if rc != 0 {
			t.Fatalf("shmif_recv_batch after %d frames = %s", len(got), errName(rc))
		}
		for k := range n {
			f := rb.frames[k]
			got = append(got, bytes.Clone(rb.frame(k)))
			if f.csum != 0 {
				t.Errorf("frame %d: csum = %#x, want 0 with no RX capability", k, f.csum)
			}
			if f.sec == 0 || f.usec >= 1e6 {
				t.Errorf("frame %d: timestamp %d.%06d", k, f.sec, f.usec)
			}
			if f.cap != maxFrame || f.data != unsafe.Pointer(&rb.bufs[k][0]) {
				t.Errorf("frame %d: shmif_recv_batch changed data or cap", k)
			}
		}
	}
	for k := range sent {
		if k >= len(got) || !bytes.Equal(got[k], sent[k]) {
			t.Errorf("batch frame %d differs (len %d, want %d)", k, len(got[k]), len(sent[k]))
		}
	}
	if n, rc := rb.recv(a, 0); rc != int32(unix.EAGAIN) || n != 0 {
		t.Errorf("shmif_recv_batch on the sender = %s, %d frames; want EAGAIN, 0", errName(rc), n)
	}
	if n, rc := rb.recv(b, 0); rc != int32(unix.EAGAIN) || n != 0 {
		t.Errorf("shmif_recv_batch after the batch = %s, %d frames; want EAGAIN, 0", errName(rc), n)
	}
	check(t, "shmif_send_batch(n = 0)", lib.shmif_send_batch(a, nil, 0), 0)
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

func linkstrOf(t testing.TB, ifnum int32) string {
	t.Helper()
	buf := make([]byte, 2048)
	var needed uintptr
	must(t, "shmif_get_linkstr", lib.shmif_get_linkstr(ifnum, &buf[0], uintptr(len(buf)), &needed))
	s, _, ok := bytes.Cut(buf, []byte{0})
	if !ok || needed != uintptr(len(s)+1) {
		t.Errorf("shmif_get_linkstr: %q, needed %d", s, needed)
	}
	return string(s)
}

// TestSendErrors: frame sizes, NULL frames and batches refused as a whole.
func TestSendErrors(t *testing.T) {
	setup(t)
	a, b := pair(t)
	ma := macOf(t, a)
	f := frame(broadcast, ma, 1515, "oversize")
	check(t, "shmif_send(1515 bytes)", lib.shmif_send(a, &f[0], 1515), unix.EMSGSIZE)
	check(t, "shmif_send(65536 bytes)", lib.shmif_send(a, &make([]byte, 65536)[0], 65536), unix.EMSGSIZE)
	check(t, "shmif_send(13 bytes)", lib.shmif_send(a, &f[0], 13), unix.EINVAL)
	check(t, "shmif_send(0 bytes)", lib.shmif_send(a, &f[0], 0), unix.EINVAL)
	check(t, "shmif_send(NULL)", lib.shmif_send(a, nil, 60), unix.EFAULT)
	nothing(t, b, "after refused sends")

	good := frame(broadcast, ma, 60, "good")
	check(t, "shmif_send_batch(good, 1515)", sendBatch(a, good, frame(broadcast, ma, 1515, "x")), unix.EMSGSIZE)
	check(t, "shmif_send_batch(good, 13)", sendBatch(a, good, frame(broadcast, ma, 13, "x")), unix.EINVAL)
	check(t, "shmif_send_batch(good, data NULL)", sendBatch(a, good, nil), unix.EFAULT)
	check(t, "shmif_send_batch(frames NULL, 2)", lib.shmif_send_batch(a, nil, 2), unix.EFAULT)
	nothing(t, b, "after refused batches (none of their frames may be sent)")
	if st := statsOf(t, a); st.opackets != 0 || st.oerrors != 0 {
		t.Errorf("refused sends counted: opackets %d oerrors %d", st.opackets, st.oerrors)
	}

	must(t, "shmif_down", lib.shmif_down(a))
	check(t, "shmif_send while down", lib.shmif_send(a, &good[0], 60), unix.ENETDOWN)
	check(t, "shmif_send_batch while down", sendBatch(a, good), unix.ENETDOWN)
	// A wrong size is reported before the state.
	check(t, "shmif_send(1515 bytes) while down", lib.shmif_send(a, &f[0], 1515), unix.EMSGSIZE)
}

// TestRecvErrors: timeouts, buffers too small, NULL pointers.
func TestRecvErrors(t *testing.T) {
	setup(t)
	a, b := pair(t)
	buf := make([]byte, maxFrame)
	n := uintptr(4242)
	check(t, "shmif_recv(timeout 0) on an empty bus", lib.shmif_recv(b, &buf[0], maxFrame, &n, 0), unix.EAGAIN)
	if n != 4242 {
		t.Errorf("shmif_recv EAGAIN wrote *len = %d", n)
	}
	start := time.Now()
	check(t, "shmif_recv(timeout 50)", lib.shmif_recv(b, &buf[0], maxFrame, &n, 50), unix.ETIMEDOUT)
	if d := time.Since(start); d < 50*time.Millisecond || d > 2*time.Second {
		t.Errorf("shmif_recv(timeout 50) returned after %v", d)
	}
	rb := newBatch(t, 4, maxFrame)
	got, rc := rb.recv(b, 0)
	check(t, "shmif_recv_batch(timeout 0)", rc, unix.EAGAIN)
	if got != 0 {
		t.Errorf("shmif_recv_batch EAGAIN: *received = %d, want 0", got)
	}
	start = time.Now()
	got, rc = rb.recv(b, 50)
	check(t, "shmif_recv_batch(timeout 50)", rc, unix.ETIMEDOUT)
	if d := time.Since(start); d < 50*time.Millisecond || got != 0 {
		t.Errorf("shmif_recv_batch(timeout 50): after %v, *received %d", d, got)
	}

	check(t, "shmif_recv(buf NULL, 1514)", lib.shmif_recv(b, nil, maxFrame, &n, 0), unix.EFAULT)
	check(t, "shmif_recv(len NULL)", lib.shmif_recv(b, &buf[0], maxFrame, nil, 0), unix.EFAULT)
	check(t, "shmif_recv_batch(received NULL)", lib.shmif_recv_batch(b, &rb.frames[0], 4, nil, 0), unix.EFAULT)
	var r uintptr
	check(t, "shmif_recv_batch(frames NULL, 4)", lib.shmif_recv_batch(b, nil, 4, &r, 0), unix.EFAULT)

	// A frame larger than the buffer stays on the bus.
	f := frame(broadcast, macOf(t, a), 300, "three hundred bytes")
	send(t, a, f)
	small := make([]byte, 100)
	n = 0
	check(t, "shmif_recv(buffer 100, frame 300)", lib.shmif_recv(b, &small[0], 100, &n, 1000), unix.EMSGSIZE)
	if n != 300 {
		t.Errorf("EMSGSIZE: *len = %d, want 300", n)
	}
	check(t, "shmif_recv(buffer 100, frame 300) again", lib.shmif_recv(b, &small[0], 100, &n, 0), unix.EMSGSIZE)
	sb := newBatch(t, 2, 299)
	got, rc = sb.recv(b, 0)
	check(t, "shmif_recv_batch(cap 299, frame 300)", rc, unix.EMSGSIZE)
	if got != 0 || sb.frames[0].len != 300 {
		t.Errorf("shmif_recv_batch EMSGSIZE: *received %d, frames[0].len %d; want 0, 300", got, sb.frames[0].len)
	}
	mustRecv(t, b, f)
	nothing(t, b, "after the large frame")

	// A batch stops before a frame that does not fit and keeps it.
	send(t, a, frame(broadcast, macOf(t, a), 100, "fits"))
	send(t, a, frame(broadcast, macOf(t, a), 400, "does not fit"))
	mb := newBatch(t, 4, 200)
	got, rc = mb.recv(b, 1000)
	if rc != 0 || got != 1 || mb.frames[0].len != 100 {
		t.Errorf("shmif_recv_batch(cap 200; 100, 400) = %s, %d frames; want 0, 1", errName(rc), got)
	}
	got, rc = mb.recv(b, 0)
	check(t, "shmif_recv_batch(cap 200) at the 400-byte frame", rc, unix.EMSGSIZE)
	if mb.frames[0].len != 400 || got != 0 {
		t.Errorf("frames[0].len = %d, *received = %d; want 400, 0", mb.frames[0].len, got)
	}
	if g, rc := recv(b, 0); rc != 0 || len(g) != 400 {
		t.Errorf("the 400-byte frame: %s, %d bytes", errName(rc), len(g))
	}

	must(t, "shmif_down", lib.shmif_down(b))
	check(t, "shmif_recv while down", lib.shmif_recv(b, &buf[0], maxFrame, &n, 0), unix.ENETDOWN)
	_, rc = rb.recv(b, 100)
	check(t, "shmif_recv_batch while down", rc, unix.ENETDOWN)
}

// TestBlockedRecvWokenByDownAndDestroy: a receive waiting without limit
// returns ENETDOWN when the interface is taken down and ENXIO when it is
// destroyed, promptly.
func TestBlockedRecvWokenByDownAndDestroy(t *testing.T) {
	setup(t)
	type result struct {
		rc int32
		at time.Time
	}
	cases := []struct {
		name  string
		stop  func(ifnum int32) int32
		want  unix.Errno
		batch bool
	}{
		{"shmif_recv/shmif_down", lib.shmif_down, unix.ENETDOWN, false},
		{"shmif_recv_batch/shmif_down", lib.shmif_down, unix.ENETDOWN, true},
		{"shmif_recv/shmif_destroy", lib.shmif_destroy, unix.ENXIO, false},
		{"shmif_recv_batch/shmif_destroy", lib.shmif_destroy, unix.ENXIO, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ifnum := open(t, busPath(t))
			done := make(chan result, 2)
			for range 2 { // two waiting threads, both must return
				rb := newBatch(t, 4, maxFrame)
				go func() {
					var rc int32
					if c.batch {
						_, rc = rb.recv(ifnum, -1)
					} else {
						_, rc = recv(ifnum, -1)
					}
					done <- result{rc, time.Now()}
				}()
			}
			select {
			case r := <-done:
				t.Fatalf("shmif_recv(-1) returned %s before the interface was stopped", errName(r.rc))
			case <-time.After(150 * time.Millisecond):
			}
			stopped := time.Now()
			must(t, "stop", c.stop(ifnum))
			for range 2 {
				select {
				case r := <-done:
					check(t, "blocked receive", r.rc, c.want)
					if d := r.at.Sub(stopped); d > time.Second {
						t.Errorf("blocked receive returned %v after the stop", d)
					}
				case <-time.After(3 * time.Second):
					t.Fatal("blocked receive did not return within 3 s of the stop")
				}
			}
		})
	}
}

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

// TestStats: the counters after a known exchange.
func TestStats(t *testing.T) {
	setup(t)
	a, b := pair(t)
	ma, mb := macOf(t, a), macOf(t, b)
	stranger := [6]byte{0x02, 0, 0, 0, 0, 9}
	mcast := [6]byte{0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb}
	send(t, a, frame(broadcast, ma, 60, "b1"))                     // b receives
	send(t, a, frame(broadcast, ma, 60, "b2"))                     // b receives
	send(t, a, frame(mb, ma, 100, "u"))                            // b receives
	send(t, a, frame(stranger, ma, 80, "s"))                       // b drops
	must(t, "send_batch", sendBatch(a, frame(mcast, ma, 70, "m"))) // b receives
	send(t, b, frame(ma, mb, 200, "reply"))                        // a receives
	drain(t, b)
	drain(t, a)
	if got, want := statsOf(t, a), (shmifStats{ipackets: 1, ibytes: 200, opackets: 5, obytes: 370, omcasts: 3}); got != want {
		t.Errorf("a's stats = %+v\nwant %+v", got, want)
	}
	if got, want := statsOf(t, b), (shmifStats{ipackets: 4, ibytes: 290, imcasts: 3, opackets: 1, obytes: 200}); got != want {
		t.Errorf("b's stats = %+v\nwant %+v", got, want)
	}
}

// TestCapabilities: the MTU, capabilities and the checks of capenable.
func TestCapabilities(t *testing.T) {
	setup(t)
	os.Unsetenv("RUMP_SHMIF_CAPENABLE")
	var u int32
	must(t, "shmif_create", lib.shmif_create(-1, &u))
	destroyLater(t, u)
	if c := capenableOf(t, u); c != 0 {
		t.Errorf("capenable without RUMP_SHMIF_CAPENABLE = %#x, want 0", c)
	}
	for _, c := range []uint32{capabilities, 0x15500, capIPv4Tx, 0} {
		must(t, fmt.Sprintf("shmif_set_capenable(%#x)", c), lib.shmif_set_capenable(u, c))
		if got := capenableOf(t, u); got != c {
			t.Errorf("capenable = %#x after setting %#x", got, c)
		}
	}
	must(t, "shmif_set_capenable", lib.shmif_set_capenable(u, 0x15500))
	for _, c := range []uint32{0x80000, 0x1, 0x7f, 0xffffffff, capabilities | 0x40} {
		check(t, fmt.Sprintf("shmif_set_capenable(%#x)", c), lib.shmif_set_capenable(u, c), unix.EINVAL)
	}
	if got := capenableOf(t, u); got != 0x15500 {
		t.Errorf("a refused set changed capenable to %#x", got)
	}
	var caps uint32
	var m int32
	must(t, "shmif_get_capabilities", lib.shmif_get_capabilities(u, &caps))
	must(t, "shmif_get_mtu", lib.shmif_get_mtu(u, &m))
	if caps != capabilities || m != mtu {
		t.Errorf("capabilities %#x mtu %d", caps, m)
	}
	check(t, "shmif_set_spin(-1)", lib.shmif_set_spin(u, -1), unix.EINVAL)
	check(t, "shmif_set_spin(0)", lib.shmif_set_spin(u, 0), 0)
	check(t, "shmif_set_spin(1000)", lib.shmif_set_spin(u, 1000), 0)
}

// TestCapenableEnv: RUMP_SHMIF_CAPENABLE, read at each creation, parsed like
// strtoul(s, NULL, 0) and masked with SHMIF_CAPABILITIES.
func TestCapenableEnv(t *testing.T) {
	setup(t)
	cases := []struct {
		value string
		want  uint32
	}{
		{"0x7ff80", 0x7ff80},
		{"524160", 0x7ff80},
		{"0x15500junk", 0x15500},
		{"garbage", 0},
		{"0xfffffff", 0x7ff80},
		{"0200", 0x80},
		{"", 0},
	}
	for _, c := range cases {
		t.Setenv("RUMP_SHMIF_CAPENABLE", c.value)
		var u, v int32
		must(t, "shmif_create", lib.shmif_create(-1, &u))
		got := capenableOf(t, u)
		lib.shmif_destroy(u)
		must(t, "rump_pub_shmif_create", lib.rump_pub_shmif_create(cstr(busPath(t)), &v))
		got2 := capenableOf(t, v)
		lib.shmif_destroy(v)
		if got != c.want || got2 != c.want {
			t.Errorf("RUMP_SHMIF_CAPENABLE=%q: capenable %#x (shmif_create), %#x (rump_pub_shmif_create); want %#x",
				c.value, got, got2, c.want)
		}
	}
	os.Unsetenv("RUMP_SHMIF_CAPENABLE")
	var u int32
	must(t, "shmif_create", lib.shmif_create(-1, &u))
	defer lib.shmif_destroy(u)
	if got := capenableOf(t, u); got != 0 {
		t.Errorf("RUMP_SHMIF_CAPENABLE unset: capenable %#x, want 0", got)
	}
}

// TestPollFd: the descriptor polls readable after a peer sends, and not
// after the interface was drained.
func TestPollFd(t *testing.T) {
	setup(t)
	a, b := pair(t)
	var fd int32 = -1
	must(t, "shmif_get_pollfd", lib.shmif_get_pollfd(b, &fd))
	if fd < 0 {
		t.Fatalf("pollfd = %d", fd)
	}
	check(t, "shmif_get_pollfd(NULL)", lib.shmif_get_pollfd(b, nil), unix.EFAULT)
	poll := func(ms int) int {
		t.Helper()
		p := []unix.PollFd{{Fd: fd, Events: unix.POLLIN}}
		for {
			n, err := unix.Poll(p, ms)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				t.Fatalf("poll: %v", err)
			}
			if n == 1 && p[0].Revents&unix.POLLIN == 0 {
				t.Fatalf("poll revents %#x", p[0].Revents)
			}
			return n
		}
	}
	// Readiness may be spurious at first: drain, then it must be quiet.
	drain(t, b)
	if poll(100) != 0 {
		t.Errorf("pollfd readable after draining with nothing sent")
	}
	for round := range 3 {
		f := frame(broadcast, macOf(t, a), 60+round, "wake the poller")
		send(t, a, f)
		if poll(2000) != 1 {
			t.Fatalf("round %d: pollfd not readable within 2 s of a send", round)
		}
		mustRecv(t, b, f)
		drain(t, b)
		if poll(100) != 0 {
			t.Errorf("round %d: pollfd readable after draining", round)
		}
	}
	// Frames b will not receive may make it readable; draining quiets it.
	send(t, a, frame([6]byte{0x02, 0, 0, 0, 0, 1}, macOf(t, a), 60, "not for b"))
	poll(500)
	drain(t, b)
	if poll(100) != 0 {
		t.Errorf("pollfd readable after draining a frame not for b")
	}
}

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
		"shmif_recv_frame": func() int32 {
			fr := shmifFrame{data: unsafe.Pointer(&buf[0]), cap: maxFrame}
			return lib.shmif_recv_frame(ifnum, &fr, 0)
		},
		"shmif_get_capabilities": func() int32 { return lib.shmif_get_capabilities(ifnum, &u32) },
		"shmif_get_capenable":    func() int32 { return lib.shmif_get_capenable(ifnum, &u32) },
		"shmif_set_capenable":    func() int32 { return lib.shmif_set_capenable(ifnum, 0) },
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
	creators := []string{"rump_init", "rump_pub_shmif_create", "shmif_open", "shmif_create"}
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

// TestSendOffload: the errors of shmif_send_offload, and csum_flags 0 as
// shmif_send.
func TestSendOffload(t *testing.T) {
	setup(t)
	need(t, "shmif_send_offload")
	a, b := pair(t)
	ma := macOf(t, a)
	// An IPv4/UDP frame: 14 + 20 + 8 + 4 bytes.
	f := frame(broadcast, ma, 46, "data")
	f[12], f[13] = 0x08, 0x00
	ip := f[14:34]
	clear(ip)
	ip[0], ip[8], ip[9] = 0x45, 64, 17
	binary.BigEndian.PutUint16(ip[2:], 32)
	copy(ip[12:], []byte{10, 0, 0, 1, 10, 0, 0, 255})
	binary.BigEndian.PutUint16(f[34+4:], 12)

	must(t, "shmif_send_offload(flags 0)", lib.shmif_send_offload(a, &f[0], uintptr(len(f)), 0, 0))
	mustRecv(t, b, f)
	must(t, "shmif_set_capenable(0)", lib.shmif_set_capenable(a, 0))
	check(t, "shmif_send_offload(IPv4 without capability)",
		lib.shmif_send_offload(a, &f[0], uintptr(len(f)), csumIPv4, 0), unix.EOPNOTSUPP)
	if st := statsOf(t, a); st.oerrors != 1 {
		t.Errorf("oerrors = %d after EOPNOTSUPP, want 1", st.oerrors)
	}
	nothing(t, b, "after a refused offload send")
	must(t, "shmif_set_capenable(IPv4_Tx)", lib.shmif_set_capenable(a, capIPv4Tx))
	check(t, "shmif_send_offload(unknown flag)",
		lib.shmif_send_offload(a, &f[0], uintptr(len(f)), 0x80000000, 0), unix.EINVAL)
	must(t, "shmif_send_offload(IPv4)", lib.shmif_send_offload(a, &f[0], uintptr(len(f)), csumIPv4, 0))
	if g, rc := recv(b, 1000); rc != 0 || len(g) != len(f) || binary.BigEndian.Uint16(g[24:]) == 0 {
		t.Errorf("offloaded IPv4 frame: %s, %d bytes % x", errName(rc), len(g), g)
	}
	big := make([]byte, 1515)
	copy(big, f)
	check(t, "shmif_send_offload(1515 bytes, IPv4)",
		lib.shmif_send_offload(a, &big[0], 1515, csumIPv4, 0), unix.EMSGSIZE)
	must(t, "shmif_down", lib.shmif_down(a))
	check(t, "shmif_send_offload while down",
		lib.shmif_send_offload(a, &f[0], uintptr(len(f)), csumIPv4, 0), unix.ENETDOWN)
}

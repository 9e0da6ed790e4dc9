package cabi_test

import (
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/libshmif/libshmif/internal/testlib"
)

// The library as a binary: struct layouts and constants against the
// header, the exported symbols, the soname, rump_init.

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
	SZ(shmif_bridge_dir); OFF(shmif_bridge_dir, frames); OFF(shmif_bridge_dir, bytes);
	OFF(shmif_bridge_dir, too_small); OFF(shmif_bridge_dir, too_big); OFF(shmif_bridge_dir, loop);
	OFF(shmif_bridge_dir, filtered); OFF(shmif_bridge_dir, errors);
	SZ(shmif_bridge_stats); OFF(shmif_bridge_stats, to_endpoint); OFF(shmif_bridge_stats, to_bus);
	OFF(shmif_bridge_stats, bus_lost); OFF(shmif_bridge_stats, stopped); OFF(shmif_bridge_stats, error);
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
	var bd bridgeDir
	var bs bridgeStats
	want := map[string]uintptr{
		"shmif_frame": unsafe.Sizeof(f), "shmif_frame.data": unsafe.Offsetof(f.data),
		"shmif_frame.len": unsafe.Offsetof(f.len), "shmif_frame.cap": unsafe.Offsetof(f.cap),
		"shmif_frame.csum": unsafe.Offsetof(f.csum), "shmif_frame.sec": unsafe.Offsetof(f.sec),
		"shmif_frame.usec": unsafe.Offsetof(f.usec), "shmif_frame.pad": unsafe.Offsetof(f.pad),
		"shmif_frame.sender": unsafe.Offsetof(f.sender),
		"shmif_stats":        unsafe.Sizeof(s), "shmif_stats.ipackets": unsafe.Offsetof(s.ipackets),
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
		"SHMIF_CSUM_IPv4":  csumIPv4,
		"shmif_bridge_dir": unsafe.Sizeof(bd), "shmif_bridge_dir.frames": unsafe.Offsetof(bd.frames),
		"shmif_bridge_dir.bytes": unsafe.Offsetof(bd.bytes), "shmif_bridge_dir.too_small": unsafe.Offsetof(bd.tooSmall),
		"shmif_bridge_dir.too_big": unsafe.Offsetof(bd.tooBig), "shmif_bridge_dir.loop": unsafe.Offsetof(bd.loop),
		"shmif_bridge_dir.filtered": unsafe.Offsetof(bd.filtered), "shmif_bridge_dir.errors": unsafe.Offsetof(bd.errors),
		"shmif_bridge_stats": unsafe.Sizeof(bs), "shmif_bridge_stats.to_endpoint": unsafe.Offsetof(bs.toEndpoint),
		"shmif_bridge_stats.to_bus": unsafe.Offsetof(bs.toBus), "shmif_bridge_stats.bus_lost": unsafe.Offsetof(bs.busLost),
		"shmif_bridge_stats.stopped": unsafe.Offsetof(bs.stopped), "shmif_bridge_stats.error": unsafe.Offsetof(bs.err),
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

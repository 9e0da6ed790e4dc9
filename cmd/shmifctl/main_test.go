package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/libshmif/libshmif/core/dump"
	"github.com/libshmif/libshmif/core/pcap"
	"github.com/libshmif/libshmif/core/shmif"
	"github.com/libshmif/libshmif/internal/netbsd"
	"github.com/libshmif/libshmif/internal/testlib"
)

// bin is shmifctl and dumpbus shmif_dumpbus, built once for all tests.
var bin, dumpbus string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "shmifctl-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin, dumpbus = filepath.Join(dir, "shmifctl"), filepath.Join(dir, "shmif_dumpbus")
	for out, pkg := range map[string]string{bin: ".", dumpbus: "../shmif_dumpbus"} {
		if b, err := exec.Command("go", "build", "-o", out, pkg).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "go build %s: %v\n%s", pkg, err, b)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func run(t *testing.T, dir string, args ...string) testlib.Result {
	t.Helper()
	return testlib.Run(t, dir, bin, args...)
}

// busCopy writes b as file "bus" of a new directory, which it returns.
func busCopy(t *testing.T, b []byte) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bus"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// field returns the value of the "key value" line of show's output.
func field(out, key string) string {
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(l, key+" "); ok {
			return v
		}
	}
	return ""
}

const usageText2 = `Usage: shmifctl show buspath
       shmifctl empty buspath
       shmifctl wait [-a | -s cursor] [-t timeout] [-n count] [-p pcapfile] [-c] [-C cursorfile] buspath [filter ...]
`

// show on NetBSD's buses: the header of shmif_dumpbus -h, as many frames
// as shmif_dumpbus lists, one sender per rump kernel, and a cursor after
// which shmif_dumpbus finds nothing; the read-only originals (copied
// without the lock) show the same. rump-small in full.
func TestShowGolden(t *testing.T) {
	for name, senders := range map[string]int{"rump-small": 3, "rump-wrapped": 2} {
		dir := busCopy(t, testlib.Golden(t, name, "bus"))
		r := run(t, dir, "show", "bus")
		if r.Code != 0 || r.Stderr != "" {
			t.Fatalf("%s: %+v", name, r)
		}
		ro := run(t, dir, "show", filepath.Join(testlib.Root(), "testdata", name, "bus"))
		if ro.Stdout != r.Stdout {
			t.Errorf("%s: the read-only original shows\n%s\nthe copy\n%s", name, ro.Stdout, r.Stdout)
		}
		head := string(testlib.Golden(t, name, "dumpbus-h.txt"))
		want := fmt.Sprintf("bus version %s, lock: 0, generation: %s, firstoff: %s, lastoff: %s\n",
			field(r.Stdout, "version"), field(r.Stdout, "generation"), field(r.Stdout, "first"), field(r.Stdout, "last"))
		if want != head {
			t.Errorf("%s: show says %q, shmif_dumpbus -h %q", name, want, head)
		}
		packets := strings.Count(string(testlib.Golden(t, name, "dumpbus.txt")), "\npacket ")
		if field(r.Stdout, "frames") != fmt.Sprint(packets) || field(r.Stdout, "senders") != fmt.Sprint(senders) ||
			strings.Count(r.Stdout, "\nsender 0x") != senders || field(r.Stdout, "lock") != "free" || field(r.Stdout, "byteorder") != "native" {
			t.Errorf("%s:\n%s", name, r.Stdout)
		}
		d := testlib.Run(t, dir, dumpbus, "-s", field(r.Stdout, "cursor"), "bus")
		if d.Code != 0 || d.Stdout != head || d.Stderr != "" {
			t.Errorf("%s: shmif_dumpbus after show's cursor: %+v", name, d)
		}
	}
	dir := busCopy(t, testlib.Golden(t, "rump-small", "bus"))
	const small = `version 3
byteorder native
lock free
generation 0
first 0xfffe0
last 0x0fb8
frames 37
bytes 4146
senders 3
sender 0x938ed44c8ca7389b frames 18 macs b2:a0:3c:b6:a0:6d
sender 0x47fb585e37825c77 frames 12 macs b2:a0:20:43:71:73
sender 0xf293f037601ca1c4 frames 7 macs b2:a0:38:d5:ef:88
cursor v1,gen=0,off=0xfb8,seq=32619,ts=2.110008,len=98,sender=0x938ed44c8ca7389b,numbered=0
`
	if r := run(t, dir, "show", "bus"); r.Stdout != small {
		t.Errorf("rump-small:\n%s", r.Stdout)
	}
}

// show reads a bus of the other byte order, an empty file (as the fresh
// bus it will become, with the zero cursor), and says who holds a lock that
// stays taken.
func TestShowOtherBuses(t *testing.T) {
	small := testlib.Golden(t, "rump-small", "bus")
	r := run(t, busCopy(t, swapped(t)), "show", "bus")
	native := run(t, busCopy(t, small), "show", "bus")
	if want := strings.Replace(native.Stdout, "byteorder native", "byteorder swapped", 1); r.Code != 0 || r.Stdout != want || r.Stderr != "" {
		t.Errorf("swapped: %+v\nwant %s", r, want)
	}

	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "bus"), nil, 0o644)
	r = run(t, dir, "show", "bus")
	if r.Code != 0 || r.Stderr != "shmifctl: bus file `bus' is empty: no interface has attached to it\n" ||
		field(r.Stdout, "frames") != "0" || field(r.Stdout, "cursor") != (dump.Cursor{}).String() {
		t.Errorf("empty file: %+v", r)
	}

	// Lock held: by a live process, by one that is gone, by nobody known.
	dead := exec.Command("true")
	dead.Run()
	for _, c := range []struct {
		pid  uint32
		want string
	}{
		{uint32(os.Getpid()), fmt.Sprintf("held by pid %d", os.Getpid())},
		{uint32(dead.Process.Pid), fmt.Sprintf("held by pid %d, which no longer exists", dead.Process.Pid)},
		{0, "held, holder unknown (no pid recorded: a NetBSD peer, or a holder just starting)"},
	} {
		t.Run(fmt.Sprint(c.pid), func(t *testing.T) {
			t.Parallel()
			b := bytes.Clone(small)
			binary.NativeEndian.PutUint32(b[netbsd.OffLock:], 1)
			binary.NativeEndian.PutUint32(b[netbsd.OffSpare:], c.pid)
			r := run(t, busCopy(t, b), "show", "bus")
			if r.Code != 0 || field(r.Stdout, "lock") != c.want || field(r.Stdout, "frames") != "37" ||
				r.Stderr != "shmifctl: bus `bus' stayed locked for 1s: copied without the lock\n" {
				t.Errorf("%+v", r)
			}
		})
	}
}

// swapped turns the golden rump-small bus into the same bus as written by
// a host of the other byte order (no record of it straddles the end).
func swapped(t *testing.T) []byte {
	b := bytes.Clone(testlib.Golden(t, "rump-small", "bus"))
	sw32 := func(off int) {
		binary.NativeEndian.PutUint32(b[off:], bits.ReverseBytes32(binary.NativeEndian.Uint32(b[off:])))
	}
	sw64 := func(off int) {
		binary.NativeEndian.PutUint64(b[off:], bits.ReverseBytes64(binary.NativeEndian.Uint64(b[off:])))
	}
	for _, off := range []int{netbsd.OffMagic, netbsd.OffVersion, netbsd.OffFirst, netbsd.OffLast, netbsd.OffLock, netbsd.OffSpare} {
		sw32(off)
	}
	sw64(netbsd.OffGen)
	re := regexp.MustCompile(`offset 0x([0-9a-f]+)`)
	for _, m := range re.FindAllStringSubmatch(string(testlib.Golden(t, "rump-small", "dumpbus.txt")), -1) {
		payload, _ := strconv.ParseUint(m[1], 16, 32)
		h := netbsd.HeaderSize + int(payload) - netbsd.FrameHeaderSize
		for _, f := range []int{netbsd.OffLen, netbsd.OffSec, netbsd.OffUsec, netbsd.OffPad} {
			sw32(h + f)
		}
		sw64(h + netbsd.OffSender)
	}
	return b
}

// Usage, unknown commands and options, and errors on files that are not
// buses: status 2 and a message.
func TestErrors(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "junk"), []byte("hello, world"), 0o644)
	os.WriteFile(filepath.Join(dir, "empty"), nil, 0o644)
	mark := (dump.Cursor{}).String()
	for _, c := range []struct {
		args   []string
		stderr string
	}{
		{nil, usageText2},
		{[]string{"frob"}, "shmifctl: unknown command `frob'\n" + usageText2},
		{[]string{"show"}, usageText2},
		{[]string{"show", "a", "b"}, usageText2},
		{[]string{"show", "-x", "bus"}, "shmifctl: unknown option -- x\n" + usageText2},
		{[]string{"show", "nope"}, "shmifctl: Can't open bus file `nope': No such file or directory\n"},
		{[]string{"show", "junk"}, "shmifctl: junk not a shmif bus: bad magic 0x6c6c6568 != 0xca11d054\n"},
		{[]string{"empty", "nope"}, "shmifctl: Can't open bus file `nope': No such file or directory\n"},
		{[]string{"empty", "junk"}, "shmifctl: junk not a shmif bus: bad magic 0x6c6c6568 != 0xca11d054\n"},
		{[]string{"wait"}, usageText2},
		{[]string{"wait", "-t"}, "shmifctl: option requires an argument -- t\n" + usageText2},
		{[]string{"wait", "-a", "-s", mark, "bus"}, usageText2},
		{[]string{"wait", "-t", "soon", "bus"}, "shmifctl: bad timeout `soon': seconds, or a duration such as 500ms or 2m\n"},
		{[]string{"wait", "-t", "-1s", "bus"}, "shmifctl: bad timeout `-1s': seconds, or a duration such as 500ms or 2m\n"},
		{[]string{"wait", "-n", "0", "bus"}, "shmifctl: bad count `0': a number of frames, at least 1\n"},
		{[]string{"wait", "-s", "v1,x", "bus"}, "shmifctl: bad cursor `v1,x': fields missing or out of place\n"},
		{[]string{"wait", "nope", "arp"}, "shmifctl: Can't open bus file `nope': No such file or directory\n"},
		{[]string{"wait", "junk"}, "shmifctl: junk not a shmif bus: bad magic 0x6c6c6568 != 0xca11d054\n"},
		{[]string{"wait", "empty"}, "shmifctl: bus file `empty' is empty: no interface has attached to it\n"},
	} {
		r := run(t, dir, c.args...)
		if r.Code != 2 || r.Stdout != "" || r.Stderr != c.stderr {
			t.Errorf("%v: exit %d, stdout %q\nstderr %q\nwant   %q", c.args, r.Code, r.Stdout, r.Stderr, c.stderr)
		}
	}
	if r := run(t, dir, "help"); r.Code != 0 || r.Stdout != usageText2 {
		t.Errorf("help: %+v", r)
	}
	// empty leaves an empty file alone, and says nothing.
	if r := run(t, dir, "empty", "empty"); r.Code != 0 || r.Stdout != "" || r.Stderr != "" {
		t.Errorf("empty on an empty file: %+v", r)
	}
}

// A malformed filter is refused with what is wrong, status 2, before the
// bus is even looked at.
func TestWaitBadFilter(t *testing.T) {
	for _, c := range []struct {
		filter []string
		msg    string
	}{
		{[]string{"foo"}, `unknown word "foo"`},
		{[]string{"53"}, `unknown word "53": a port is "port 53", a protocol "proto 53", an ethertype hexadecimal (0x88b5)`},
		{[]string{"port"}, `a port number (0 to 65535) expected after "port", found the end of the filter`},
		{[]string{"port", "http"}, `"http" after "port" is not a port number (0 to 65535)`},
		{[]string{"host 10.0.0.256"}, `"10.0.0.256" after "host" is not a MAC, IPv4 or IPv6 address`},
		{[]string{"vlan", "5000"}, `"5000" after "vlan" is not a VLAN ID (0 to 4095)`},
		{[]string{"proto", "sctp"}, `"sctp" after "proto" is not a protocol (tcp, udp, icmp, icmp6 or 0 to 255)`},
		{[]string{"arp", "ip"}, `"and", "or", ")" or the end expected, found "ip"`},
		{[]string{"(arp"}, `")" expected, found the end of the filter`},
		{[]string{"arp", ")"}, `")" without "("`},
		{[]string{"arp", "and", "ip", "or", "udp"}, `"or" mixed with the other operator without parentheses: write (a and b) or c, or a and (b or c)`},
		{[]string{"arp", "and"}, `a primitive (arp, ip, ip6, 0x88b5, vlan, tcp, udp, icmp, icmp6, proto, host, net, port, src, dst, ether, broadcast, multicast, or an address), "not" or "(" expected, found the end of the filter`},
		{[]string{"ether", "src", "10.0.0.1"}, `"10.0.0.1" after "src" is not a MAC address`},
	} {
		r := run(t, t.TempDir(), append([]string{"wait", "-t", "0", "nonexistent-bus"}, c.filter...)...)
		if want := "shmifctl: bad filter: " + c.msg + "\n"; r.Code != 2 || r.Stdout != "" || r.Stderr != want {
			t.Errorf("%q: exit %d\nstderr %q\nwant   %q", c.filter, r.Code, r.Stderr, want)
		}
	}
}

// Frames of every kind the filters know.

func mac(s string) []byte {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

func ip(s string) []byte { return netip.MustParseAddr(s).AsSlice() }

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func be16(v int) []byte { return binary.BigEndian.AppendUint16(nil, uint16(v)) }

const (
	macA = "02:00:00:00:00:0a"
	macB = "02:00:00:00:00:0b"
)

func eth(dst, src string, etype int, payload []byte, vlans ...int) []byte {
	f := cat(mac(dst), mac(src))
	for _, v := range vlans {
		f = cat(f, be16(0x8100), be16(v))
	}
	f = cat(f, be16(etype), payload)
	for len(f) < 60 {
		f = append(f, 0)
	}
	return f
}

func ipv4(src, dst string, proto byte, payload []byte) []byte {
	return cat([]byte{0x45, 0}, be16(20+len(payload)), be16(1), be16(0x4000), []byte{64, proto}, be16(0), ip(src), ip(dst), payload)
}

func ipv6(src, dst string, nh byte, payload []byte) []byte {
	return cat([]byte{0x60, 0, 0, 0}, be16(len(payload)), []byte{nh, 64}, ip(src), ip(dst), payload)
}

func udp(sport, dport int, n int) []byte {
	return cat(be16(sport), be16(dport), be16(8+n), be16(0), make([]byte, n))
}

func tcpSyn(sport, dport int) []byte {
	return cat(be16(sport), be16(dport), []byte{0, 0, 3, 0xe8, 0, 0, 0, 0, 0x50, 0x02}, be16(512), be16(0), be16(0))
}

func echo(typ byte) []byte { return cat([]byte{typ, 0, 0, 0, 0, 7, 0, 1}, make([]byte, 32)) }

func arp(op int, sha, spa, tpa string) []byte {
	return cat(be16(1), be16(0x0800), []byte{6, 4}, be16(op), mac(sha), ip(spa), make([]byte, 6), ip(tpa))
}

var frames = []struct {
	name  string
	frame []byte
}{
	{"arp", eth("ff:ff:ff:ff:ff:ff", macA, 0x0806, arp(1, macA, "10.0.0.1", "10.0.0.2"))},
	{"udp53", eth(macB, macA, 0x0800, ipv4("10.0.0.1", "10.0.0.2", 17, udp(40000, 53, 20)))},
	{"tcp80", eth(macA, macB, 0x0800, ipv4("10.0.0.2", "10.0.0.1", 6, tcpSyn(40001, 80)))},
	{"icmp", eth(macB, macA, 0x0800, ipv4("10.0.0.1", "10.0.0.3", 1, echo(8)))},
	{"icmp6", eth("33:33:00:00:00:01", macA, 0x86dd, ipv6("fe80::a", "ff02::1", 58, echo(128)))},
	{"udp6", eth(macB, macA, 0x86dd, ipv6("2001:db8::a", "2001:db8::b", 17, udp(40002, 5353, 12)))},
	{"vlan-udp53", eth(macB, macA, 0x0800, ipv4("10.0.1.1", "10.0.1.2", 17, udp(40003, 53, 8)), 100)},
	{"88b5", eth(macB, macA, 0x88b5, []byte{1, 2, 3})},
}

// sendAll puts the test frames on the bus at path through an interface of
// the test process and returns the cursor of the newest record before them.
func sendAll(t *testing.T, dir string, ifc *shmif.Interface) string {
	t.Helper()
	r := run(t, dir, "show", "bus")
	mark := field(r.Stdout, "cursor")
	if mark == "" {
		t.Fatalf("show: %+v", r)
	}
	for _, f := range frames {
		if err := ifc.Send(f.frame); err != nil {
			t.Fatal(err)
		}
	}
	return mark
}

// wait with each kind of filter, from a cursor taken before the frames were
// sent: exactly the frames the filter names are printed, one line each
// (the frame's timestamp and summary), in bus order; asking for one more
// times out with status 1.
func TestWaitFilters(t *testing.T) {
	dir := t.TempDir()
	ifc, err := shmif.Open(filepath.Join(dir, "bus"), -1)
	if err != nil {
		t.Fatal(err)
	}
	defer ifc.Destroy()
	mark := sendAll(t, dir, ifc)
	// Each frame's line, as wait prints it, from a dump of the bus.
	img, err := dump.Snapshot(filepath.Join(dir, "bus"))
	if err != nil {
		t.Fatal(err)
	}
	cur, _ := dump.ParseCursor(mark)
	lines := map[string]string{}
	i := 0
	img.WalkSince(cur, func(r *dump.Record) error {
		lines[frames[i].name] = fmt.Sprintf("%d.%06d %s", r.Sec, r.Usec, dump.Summary(r.Frame))
		i++
		return nil
	})
	if i != len(frames) {
		t.Fatalf("%d frames on the bus after the mark", i)
	}
	for _, c := range []struct {
		filter []string
		want   []string
	}{
		{nil, []string{"arp", "udp53", "tcp80", "icmp", "icmp6", "udp6", "vlan-udp53", "88b5"}},
		{[]string{"arp"}, []string{"arp"}},
		{[]string{"ip"}, []string{"udp53", "tcp80", "icmp", "vlan-udp53"}},
		{[]string{"ip6"}, []string{"icmp6", "udp6"}},
		{[]string{"0x88b5"}, []string{"88b5"}},
		{[]string{"vlan", "100"}, []string{"vlan-udp53"}},
		{[]string{"src", macB}, []string{"tcp80"}},
		{[]string{"dst", "ff:ff:ff:ff:ff:ff"}, []string{"arp"}},
		{[]string{"host", macB}, []string{"udp53", "tcp80", "icmp", "udp6", "vlan-udp53", "88b5"}},
		{[]string{"src", "10.0.0.1"}, []string{"arp", "udp53", "icmp"}},
		{[]string{"dst", "host", "10.0.0.1"}, []string{"tcp80"}},
		{[]string{"host", "10.0.0.2"}, []string{"arp", "udp53", "tcp80"}},
		{[]string{"host", "2001:db8::b"}, []string{"udp6"}},
		{[]string{"src fe80::a"}, []string{"icmp6"}},
		{[]string{"port", "53"}, []string{"udp53", "vlan-udp53"}},
		{[]string{"port", "80"}, []string{"tcp80"}},
		{[]string{"proto", "tcp"}, []string{"tcp80"}},
		{[]string{"proto", "udp"}, []string{"udp53", "udp6", "vlan-udp53"}},
		{[]string{"proto", "icmp"}, []string{"icmp"}},
		{[]string{"proto", "icmp6"}, []string{"icmp6"}},
		{[]string{"not", "ip", "and", "not", "ip6"}, []string{"arp", "88b5"}},
		{[]string{"arp", "or", "(", "udp", "and", "port", "53", ")"}, []string{"arp", "udp53", "vlan-udp53"}},
		{[]string{"(udp or tcp) and not vlan"}, []string{"udp53", "tcp80", "udp6"}},
		{[]string{"!ip6", "&&", "dst", "net", "10.0.0.0/24"}, []string{"arp", "udp53", "tcp80", "icmp"}},
	} {
		var want string
		for _, n := range c.want {
			want += lines[n] + "\n"
		}
		n := fmt.Sprint(len(c.want))
		// Options before and after the operands.
		r := run(t, dir, append(append([]string{"wait", "-s", mark, "bus"}, c.filter...), "-t", "0", "-n", n)...)
		if r.Code != 0 || r.Stdout != want || r.Stderr != "" {
			t.Errorf("%q: exit %d\nstdout %s\nwant   %s\nstderr %q", c.filter, r.Code, r.Stdout, want, r.Stderr)
			continue
		}
		more := fmt.Sprint(len(c.want) + 1)
		r = run(t, dir, append([]string{"wait", "-t", "0", "-n", more, "-s", mark, "--", "bus"}, c.filter...)...)
		if r.Code != 1 || r.Stdout != want || r.Stderr != fmt.Sprintf("shmifctl: timed out after 0s: %s of %s matching frames seen\n", n, more) {
			t.Errorf("%q -n %s: exit %d, stdout %d lines, stderr %q", c.filter, more, r.Code, strings.Count(r.Stdout, "\n"), r.Stderr)
		}
	}
	// -a starts with the oldest frame on the bus: the same frames.
	if r := run(t, dir, "wait", "-a", "-t", "0", "bus", "port", "53", "-n", "2"); r.Code != 0 || r.Stdout != lines["udp53"]+"\n"+lines["vlan-udp53"]+"\n" {
		t.Errorf("-a: %+v", r)
	}
}

// waitFor waits until s holds want.
func waitFor(t *testing.T, s *testlib.SyncBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(s.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in %q", want, s.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// By default wait reports only frames written after it started: a matching
// frame already on the bus is not reported, one sent later is (the test
// sends it again and again until wait exits, so that no timing decides).
// The capture of -p holds it, -C leaves its cursor, and -p - sends the
// capture to stdout and the line to stderr.
func TestWaitLive(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bus")
	ifc, err := shmif.Open(path, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer ifc.Destroy()
	old := eth(macB, macA, 0x0800, ipv4("10.0.0.99", "10.0.0.2", 17, udp(1, 9, 4)))
	match := eth(macB, macA, 0x0800, ipv4("10.0.0.1", "10.0.0.2", 17, udp(1, 9, 4)))
	other := eth(macB, macA, 0x0800, ipv4("10.0.0.1", "10.0.0.2", 17, udp(1, 10, 4)))
	ifc.Send(old)
	for _, pcapArg := range []string{"out.pcap", "-"} {
		cmd := exec.Command(bin, "wait", "-t", "60", "-p", pcapArg, "-C", "cur", "bus", "udp", "and", "dst", "port", "9")
		cmd.Dir = dir
		var stdout, stderr testlib.SyncBuffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		var err error
	send:
		for {
			ifc.Send(other)
			ifc.Send(match)
			select {
			case err = <-exited:
				break send
			case <-time.After(20 * time.Millisecond):
			}
		}
		if err != nil {
			t.Fatalf("wait -p %s: %v, stderr %q", pcapArg, err, stderr.String())
		}
		line, capture := stdout.String(), filepath.Join(dir, "out.pcap")
		if pcapArg == "-" {
			line = stderr.String()
			os.WriteFile(capture, []byte(stdout.String()), 0o644)
		} else if stderr.String() != "" {
			t.Errorf("stderr %q", stderr.String())
		}
		if !strings.HasSuffix(line, " "+dump.Summary(match)+"\n") || strings.Count(line, "\n") != 1 {
			t.Errorf("-p %s: printed %q", pcapArg, line)
		}
		recs, err := pcap.ReadFile(capture)
		if err != nil || len(recs) != 1 || !bytes.Equal(recs[0].Data, match) {
			t.Fatalf("-p %s: capture %d records, %v", pcapArg, len(recs), err)
		}
		readable(t, capture, 1)
		// The cursor names the frame found: a dump from it starts after.
		ifc.Send(old)
		cur, _ := os.ReadFile(filepath.Join(dir, "cur"))
		d := testlib.Run(t, dir, dumpbus, "-s", string(cur), "-p", "after.pcap", "bus")
		recs, _ = pcap.ReadFile(filepath.Join(dir, "after.pcap"))
		if d.Code != 0 || len(recs) == 0 || !bytes.Equal(recs[len(recs)-1].Data, old) {
			t.Fatalf("dump after wait's cursor: %+v, %d frames", d, len(recs))
		}
		for _, r := range recs[:len(recs)-1] {
			if !bytes.Equal(r.Data, other) && !bytes.Equal(r.Data, match) {
				t.Fatal("a frame before wait's cursor follows it")
			}
		}
	}
}

// readable checks that tcpdump reads the capture at path and finds n
// frames in it.
func readable(t *testing.T, path string, n int) {
	t.Helper()
	if _, err := exec.LookPath("tcpdump"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("tcpdump is not installed")
		}
		return
	}
	out, err := exec.Command("tcpdump", "-n", "-e", "-r", path).Output()
	if err != nil || strings.Count(string(out), "\n") != n {
		t.Fatalf("tcpdump -r %s: %v\n%s", path, err, out)
	}
}

// A wait that finds nothing within its timeout exits with status 1 and
// says so; the cursor it leaves names the newest record it looked at.
func TestWaitTimeout(t *testing.T) {
	dir := t.TempDir()
	ifc, err := shmif.Open(filepath.Join(dir, "bus"), -1)
	if err != nil {
		t.Fatal(err)
	}
	defer ifc.Destroy()
	ifc.Send(frames[1].frame)
	r := run(t, dir, "wait", "-t", "0.2", "-c", "bus", "arp")
	show := run(t, dir, "show", "bus")
	want := "cursor: " + field(show.Stdout, "cursor") + "\nshmifctl: timed out after 200ms: 0 of 1 matching frames seen\n"
	if r.Code != 1 || r.Stdout != "" || r.Stderr != want {
		t.Fatalf("%+v\nwant stderr %q", r, want)
	}
}

// A cursor whose frames were overwritten: wait says how many were lost and
// looks at everything still on the bus.
func TestWaitLappedCursor(t *testing.T) {
	dir := t.TempDir()
	ifc, err := shmif.Open(filepath.Join(dir, "bus"), -1)
	if err != nil {
		t.Fatal(err)
	}
	defer ifc.Destroy()
	mark := field(run(t, dir, "show", "bus").Stdout, "cursor")
	big := eth(macB, macA, 0x88b5, make([]byte, 1500))
	for range 1000 {
		ifc.Send(big)
	}
	ifc.Send(frames[0].frame) // an ARP request, the newest frame
	onBus, _ := dump.Snapshot(filepath.Join(dir, "bus"))
	info, _ := onBus.Inspect()
	lost := 1001 - info.Frames
	r := run(t, dir, "wait", "-s", mark, "-t", "0", "bus", "arp")
	if r.Code != 0 || strings.Count(r.Stdout, "\n") != 1 ||
		r.Stderr != fmt.Sprintf("shmifctl: %d frames written after the cursor are no longer on the bus\n", lost) {
		t.Fatalf("%+v, %d lost", r, lost)
	}
}

// empty under readers in the test process (docs/protocol.md §3.5): libshmif
// and NetBSD readers, caught up and behind, read exactly the frames sent
// after it, whole; a dump and show see only those.
func TestEmpty(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bus")
	var ifcs [3]*shmif.Interface // a sender and two readers
	for i := range ifcs {
		var err error
		if ifcs[i], err = shmif.Open(path, -1); err != nil {
			t.Fatal(err)
		}
		defer ifcs[i].Destroy()
		ifcs[i].SetPromisc(true)
	}
	a, r1, r2 := ifcs[0], ifcs[1], ifcs[2]
	nb, err := netbsd.Attach(path)
	if err != nil {
		t.Fatal(err)
	}
	defer nb.Close()
	n1, _ := nb.NewReader()
	defer n1.Close()
	n2, _ := nb.NewReader()
	defer n2.Close()

	numbered := func(i int) []byte {
		f := eth(macB, macA, 0x88b5, make([]byte, 100))
		binary.BigEndian.PutUint32(f[14:], uint32(i))
		for k := 18; k < len(f); k++ {
			f[k] = byte(i + k)
		}
		return f
	}
	number := func(f []byte) int {
		i := int(binary.BigEndian.Uint32(f[14:]))
		if !bytes.Equal(f, numbered(i)) {
			t.Fatalf("a damaged frame: %x", f)
		}
		return i
	}
	buf := make([]byte, 1514)
	readShmif := func(r *shmif.Interface) (got []int) {
		for {
			n, err := r.Recv(buf, 0)
			if err != nil {
				return got
			}
			got = append(got, number(buf[:n]))
		}
	}
	readNetBSD := func(r *netbsd.Reader) (got []int) {
		for {
			n, _, ok, err := r.Next(buf)
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				return got
			}
			got = append(got, number(buf[:n]))
		}
	}
	for i := range 10000 { // more than a ring: the bus has wrapped
		a.Send(numbered(i))
		if i%100 == 0 {
			readShmif(r1)
			readShmif(r2)
			readNetBSD(n1)
			readNetBSD(n2)
		}
	}
	readShmif(r1)
	readNetBSD(n1) // r2 and n2 are behind

	if show := run(t, dir, "show", "bus"); field(show.Stdout, "generation") == "0" {
		t.Fatal("the bus never wrapped")
	}
	r := run(t, dir, "empty", "bus")
	if r.Code != 0 || r.Stdout != "" || r.Stderr != "" {
		t.Fatalf("empty: %+v", r)
	}
	if show := run(t, dir, "show", "bus"); field(show.Stdout, "frames") != "0" {
		t.Fatalf("show after empty:\n%s", show.Stdout)
	}
	for i := 5000; i < 5010; i++ {
		a.Send(numbered(i))
	}
	nb.Send(numbered(6000), 0x4e4e, 0xffffffff, netbsd.StepNone)
	want := fmt.Sprint([]int{5000, 5001, 5002, 5003, 5004, 5005, 5006, 5007, 5008, 5009, 6000})
	for name, got := range map[string][]int{"r1": readShmif(r1), "r2": readShmif(r2), "n1": readNetBSD(n1), "n2": readNetBSD(n2)} {
		if fmt.Sprint(got) != want {
			t.Errorf("%s read %v", name, got)
		}
	}
	d := testlib.Run(t, dir, dumpbus, "bus")
	if d.Code != 0 || strings.Count(d.Stdout, "\npacket ") != 11 {
		t.Errorf("dump after empty: %+v", d)
	}
	if show := run(t, dir, "show", "bus"); field(show.Stdout, "frames") != "11" || field(show.Stdout, "senders") != "2" {
		t.Errorf("show:\n%s", show.Stdout)
	}
}

package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/libshmif/libshmif/core/pcap"
	"github.com/libshmif/libshmif/core/shmif"
	"github.com/libshmif/libshmif/internal/netbsd"
	"github.com/libshmif/libshmif/internal/testlib"
)

// bin is the shmif_dumpbus command, built once for all tests.
var bin string

// writerEnv makes the test binary a frame writer: it sends writerFrames
// numbered frames to the bus named in the variable through a libshmif
// interface, then exits.
const (
	writerEnv    = "SHMIF_DUMPBUS_TEST_WRITER"
	writerFrames = 500
)

func TestMain(m *testing.M) {
	if path := os.Getenv(writerEnv); path != "" {
		os.Exit(writer(path))
	}
	dir, err := os.MkdirTemp("", "shmif_dumpbus-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "shmif_dumpbus")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func writer(path string) int {
	ifc, err := shmif.Open(path, -1)
	if err != nil {
		fmt.Fprintln(os.Stderr, "writer:", err)
		return 1
	}
	defer ifc.Destroy()
	for i := range writerFrames {
		if err := ifc.Send(seqFrame(i)); err != nil {
			fmt.Fprintln(os.Stderr, "writer:", err)
			return 1
		}
	}
	return 0
}

// seqFrame is a 60-byte frame whose destination address and payload
// carry seq.
func seqFrame(seq int) []byte {
	f := make([]byte, 60)
	copy(f, []byte{0x02, 0, 0, byte(seq >> 16), byte(seq >> 8), byte(seq), 0x02, 0, 0, 0, 0, 1, 0x88, 0xb5})
	f[14], f[15], f[16] = byte(seq>>16), byte(seq>>8), byte(seq)
	return f
}

func seqOf(f []byte) int { return int(f[14])<<16 | int(f[15])<<8 | int(f[16]) }

// run runs shmif_dumpbus in dir with args.
func run(t *testing.T, dir string, args ...string) testlib.Result {
	t.Helper()
	return testlib.Run(t, dir, bin, args...)
}

func golden(t *testing.T, name, file string) []byte { return testlib.Golden(t, name, file) }

// busCopy writes b as file "bus" of a new directory, which it returns.
func busCopy(t *testing.T, b []byte) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bus"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// readable checks that tcpdump and tshark read the pcap file at path and
// find n frames in it.
func readable(t *testing.T, path string, n int) {
	t.Helper()
	for _, tool := range [][]string{{"tcpdump", "-n", "-e", "-r", path}, {"tshark", "-n", "-r", path}} {
		if _, err := exec.LookPath(tool[0]); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is not installed", tool[0])
			}
			t.Skipf("%s is not installed", tool[0])
		}
		out, err := exec.Command(tool[0], tool[1:]...).Output()
		if err != nil {
			t.Fatalf("%s: %v", strings.Join(tool, " "), err)
		}
		frames := 0
		for _, line := range strings.Split(string(out), "\n") {
			if line != "" && line[0] != '\t' { // tcpdump indents hex dumps
				frames++
			}
		}
		if frames != n {
			t.Fatalf("%s: %d frames, want %d", strings.Join(tool, " "), frames, n)
		}
	}
}

// docs/protocol.md §8: text and pcap byte for byte NetBSD's; with -p - the
// pcap goes to stdout and the text to stderr.
func TestGolden(t *testing.T) {
	for name, n := range map[string]int{"rump-small": 37, "rump-wrapped": 715} {
		dir := busCopy(t, golden(t, name, "bus"))
		text, header, capture := string(golden(t, name, "dumpbus.txt")), string(golden(t, name, "dumpbus-h.txt")), golden(t, name, "bus.pcap")
		for _, c := range []struct {
			args           []string
			stdout, stderr string
		}{
			{[]string{"-p", "out.pcap", "bus"}, text, ""},
			{[]string{"bus"}, text, ""},
			{[]string{"-h", "bus"}, header, ""},
			{[]string{"-h", "-p", "-", "bus"}, "", header},
			{[]string{"-pout.pcap", "--", "bus"}, text, ""},
			{[]string{"-p", "-", "bus"}, string(capture), text},
		} {
			os.Remove(filepath.Join(dir, "out.pcap"))
			r := run(t, dir, c.args...)
			if r.Code != 0 || r.Stdout != c.stdout || r.Stderr != c.stderr {
				t.Errorf("%s %v: exit %d, stdout %d bytes (want %d), stderr %q", name, c.args, r.Code, len(r.Stdout), len(c.stdout), r.Stderr[:min(len(r.Stderr), 200)])
			}
			if c.args[0] == "-p" || c.args[0] == "-pout.pcap" {
				if c.args[1] == "out.pcap" || c.args[0] == "-pout.pcap" {
					got, _ := os.ReadFile(filepath.Join(dir, "out.pcap"))
					if !bytes.Equal(got, capture) {
						t.Errorf("%s %v: pcap differs from bus.pcap", name, c.args)
					}
					readable(t, filepath.Join(dir, "out.pcap"), n)
				}
			}
		}
	}
}

// The read-only golden files themselves dump the same (without the lock).
func TestGoldenReadOnly(t *testing.T) {
	dir := t.TempDir()
	r := run(t, dir, "-p", "out.pcap", filepath.Join(mustAbs(t, "../../testdata/rump-small"), "bus"))
	if r.Code != 0 || r.Stdout != string(golden(t, "rump-small", "dumpbus.txt")) || r.Stderr != "" {
		t.Fatalf("%+v", r)
	}
}

func mustAbs(t *testing.T, p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// swapped turns the golden rump-small bus into the same bus as written by a
// host of the other byte order (no record of it straddles the end).
func swapped(t *testing.T) []byte {
	b := bytes.Clone(golden(t, "rump-small", "bus"))
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
	for _, m := range re.FindAllStringSubmatch(string(golden(t, "rump-small", "dumpbus.txt")), -1) {
		payload, _ := strconv.ParseUint(m[1], 16, 32)
		h := netbsd.HeaderSize + int(payload) - netbsd.FrameHeaderSize
		sw32(h + netbsd.OffLen)
		sw32(h + netbsd.OffSec)
		sw32(h + netbsd.OffUsec)
		sw64(h + netbsd.OffSender)
	}
	return b
}

// version2 lays the golden rump-small frames out on a version 2 bus
// (12-byte frame headers) and returns it with shmif_dumpbus's text for it.
func version2(t *testing.T) ([]byte, string) {
	recs, err := pcap.ReadFile("../../testdata/rump-small/bus.pcap")
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, netbsd.BusSize)
	data := b[netbsd.HeaderSize:]
	var lines []string
	off, last := uint32(12), uint32(0)
	for i, r := range recs {
		binary.NativeEndian.PutUint32(data[off:], uint32(len(r.Data)))
		binary.NativeEndian.PutUint32(data[off+4:], r.Sec)
		binary.NativeEndian.PutUint32(data[off+8:], r.Usec)
		copy(data[off+12:], r.Data)
		lines = append(lines, fmt.Sprintf("packet %d, offset 0x%04x, length 0x%04x, ts %d/%06d\n", i, off+12, len(r.Data), r.Sec, r.Usec))
		last = off
		off += 12 + uint32(len(r.Data))
	}
	binary.NativeEndian.PutUint32(b[netbsd.OffMagic:], netbsd.Magic)
	binary.NativeEndian.PutUint32(b[netbsd.OffVersion:], 2)
	binary.NativeEndian.PutUint32(b[netbsd.OffFirst:], netbsd.DataSize)
	binary.NativeEndian.PutUint32(b[netbsd.OffLast:], last)
	return b, fmt.Sprintf("bus version 2, lock: 0, generation: 0, firstoff: 0xfffe0, lastoff: 0x%04x\n", last) + strings.Join(lines, "")
}

// docs/protocol.md §1.1, §1.3, §8.1: a byte-swapped bus and a version 2
// bus dump correctly.
func TestByteSwappedAndVersion2(t *testing.T) {
	dir := busCopy(t, swapped(t))
	r := run(t, dir, "-p", "out.pcap", "bus")
	if r.Code != 0 || r.Stdout != string(golden(t, "rump-small", "dumpbus.txt")) || r.Stderr != "" {
		t.Errorf("byte-swapped: %+v", r)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "out.pcap")); !bytes.Equal(got, golden(t, "rump-small", "bus.pcap")) {
		t.Error("byte-swapped: pcap differs")
	}
	readable(t, filepath.Join(dir, "out.pcap"), 37)

	b, want := version2(t)
	dir = busCopy(t, b)
	r = run(t, dir, "-p", "out.pcap", "bus")
	if r.Code != 0 || r.Stdout != want || r.Stderr != "" {
		t.Errorf("version 2: %+v", r)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "out.pcap")); !bytes.Equal(got, golden(t, "rump-small", "bus.pcap")) {
		t.Error("version 2: pcap differs")
	}
	readable(t, filepath.Join(dir, "out.pcap"), 37)
}

const usageLine = "Usage: shmif_dumpbus [-h] [-p pcapfile] [-f [-a]] [-c] [-C cursorfile] [-s cursor] buspath\n"

// Usage and error messages, and exit status 1, as NetBSD 1.19 has them; a
// damaged bus gives a message, never a crash or a hang.
func TestErrors(t *testing.T) {
	small := golden(t, "rump-small", "bus")
	with := func(off int, v uint32) []byte {
		b := bytes.Clone(small)
		binary.NativeEndian.PutUint32(b[off:], v)
		return b
	}
	header := string(golden(t, "rump-small", "dumpbus-h.txt"))
	cases := []struct {
		name   string
		bus    []byte // written as "bus" unless nil
		args   []string
		stdout string // exact, or prefix when ending in "..."
		stderr string
	}{
		{"no operand", nil, nil, "", usageLine},
		{"two operands", nil, []string{"a", "b"}, "", usageLine},
		{"unknown option", nil, []string{"-x", "bus"}, "", "shmif_dumpbus: unknown option -- x\n" + usageLine},
		{"missing argument", nil, []string{"bus", "-p"}, "", usageLine},
		{"-p without argument", nil, []string{"-p"}, "", "shmif_dumpbus: option requires an argument -- p\n" + usageLine},
		{"-a without -f", small, []string{"-a", "bus"}, "", usageLine},
		{"-s with -a", small, []string{"-f", "-a", "-s", "", "bus"}, "", usageLine},
		{"-s with -h", small, []string{"-h", "-s", "", "bus"}, "", usageLine},
		{"--since without argument", nil, []string{"--since"}, "", "shmif_dumpbus: option '--since' requires an argument\n" + usageLine},
		{"-C without argument", nil, []string{"bus", "-C"}, "", usageLine},
		{"bad cursor", small, []string{"-s", "v1,gen=1", "bus"}, "", "shmif_dumpbus: bad cursor `v1,gen=1': fields missing or out of place\n"},
		{"bad cursor field", small, []string{"--since", "v1,gen=1,off=0x10,seq=1,ts=1.000000,len=9999999,sender=0x1,numbered=0", "bus"}, "",
			"shmif_dumpbus: bad cursor `v1,gen=1,off=0x10,seq=1,ts=1.000000,len=9999999,sender=0x1,numbered=0': len out of range\n"},
		{"not a cursor", small, []string{"-s", "yesterday", "bus"}, "", "shmif_dumpbus: bad cursor `yesterday': not a cursor of shmif_dumpbus or shmifctl (version v1)\n"},
		{"cursor file not writable", small, []string{"-C", "nodir/cur", "bus"}, string(golden(t, "rump-small", "dumpbus.txt")),
			"shmif_dumpbus: Cannot write cursor file `nodir/cur': No such file or directory\n"},
		{"missing file", nil, []string{"bus"}, "", "shmif_dumpbus: Can't open bus file `bus': No such file or directory\n"},
		{"directory", nil, []string{"."}, "", "shmif_dumpbus: mmap: No such device\n"},
		{"bad magic", with(netbsd.OffMagic, 0xdeadbeef), []string{"bus"}, "", "shmif_dumpbus: bus not a shmif bus: bad magic 0xdeadbeef != 0xca11d054\n"},
		{"version 4", with(netbsd.OffVersion, 4), []string{"-h", "bus"}, "", "shmif_dumpbus: Unhandled bus version 4, program 3\n"},
		{"truncated", small[:1000], []string{"bus"}, header + "packet 0, ...",
			"shmif_dumpbus: Bus file `bus' truncated: 1000 bytes, record at offset 0x039a lies beyond its end\n"},
		{"corrupt length", with(netbsd.HeaderSize+0x18, 0x7fffffff), []string{"bus"}, header,
			"shmif_dumpbus: Corrupt bus `bus': record at offset 0x0018 has length 0x7fffffff, over 65536 bytes\n"},
		{"corrupt lastoff", with(netbsd.OffLast, 0x7fffffff), []string{"bus"}, "bus version 3, lock: 0, generation: 0, firstoff: 0xfffe0, lastoff: 0x7fffffff\n",
			"shmif_dumpbus: Corrupt bus `bus': firstoff 0xfffe0 or lastoff 0x7fffffff outside the data area (0xfffe0 bytes)\n"},
		{"pcap not creatable", small, []string{"-p", "nodir/x.pcap", "bus"}, header,
			"shmif_dumpbus: Cannot open pcap dump file `nodir/x.pcap': nodir/x.pcap: No such file or directory\n"},
		{"follow missing", nil, []string{"-f", "bus"}, "", "shmif_dumpbus: Can't open bus file `bus': No such file or directory\n"},
		{"follow not a bus", []byte("hello, world"), []string{"-f", "bus"}, "", "shmif_dumpbus: bus not a shmif bus: bad magic 0x6c6c6568 != 0xca11d054\n"},
		{"follow short bus", small[:4096], []string{"-f", "bus"}, "", "shmif_dumpbus: bus not a shmif bus: only 4096 bytes\n"},
	}
	for _, c := range cases {
		dir := t.TempDir()
		if c.bus != nil {
			os.WriteFile(filepath.Join(dir, "bus"), c.bus, 0o644)
		}
		done := make(chan testlib.Result, 1)
		go func() { done <- run(t, dir, c.args...) }()
		var r testlib.Result
		select {
		case r = <-done:
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: shmif_dumpbus hangs", c.name)
		}
		stdoutOK := r.Stdout == c.stdout
		if prefix, ok := strings.CutSuffix(c.stdout, "..."); ok {
			stdoutOK = strings.HasPrefix(r.Stdout, prefix)
		}
		if r.Code != 1 || !stdoutOK || r.Stderr != c.stderr {
			t.Errorf("%s: exit %d\nstdout %q\nstderr %q\nwant %q", c.name, r.Code, r.Stdout[:min(200, len(r.Stdout))], r.Stderr, c.stderr)
		}
		if c.bus == nil {
			if _, err := os.Stat(filepath.Join(dir, "bus")); err == nil {
				t.Errorf("%s: bus file created", c.name)
			}
		}
	}
}

// Issue 10.11: what a harness dumps at teardown does not fail it: an empty
// bus file (created, never attached to) and a bus never woken (version 0,
// usually one that never carried a frame) give a message on stderr, an
// empty or complete pcap, and exit status 0. Following either (or anything)
// never changes the file.
func TestEmptyAndUnwokenBuses(t *testing.T) {
	small := golden(t, "rump-small", "bus")
	unwoken := bytes.Clone(small)
	binary.NativeEndian.PutUint32(unwoken[netbsd.OffVersion:], 0)
	fresh := make([]byte, netbsd.BusSize)
	binary.NativeEndian.PutUint32(fresh[netbsd.OffMagic:], netbsd.Magic)
	binary.NativeEndian.PutUint32(fresh[netbsd.OffFirst:], netbsd.DataSize)
	for _, c := range []struct {
		name    string
		bus     []byte
		packets int
		stderr  string
	}{
		{"empty", []byte{}, 0, "shmif_dumpbus: bus file `bus' is empty: no interface has attached to it\n"},
		{"never woken", unwoken, 37, "shmif_dumpbus: bus `bus' was never woken (version 0): it has carried no frame, or its writer died first\n"},
		{"fresh", fresh, 0, "shmif_dumpbus: bus `bus' was never woken (version 0): it has carried no frame, or its writer died first\n"},
	} {
		dir := t.TempDir()
		path := filepath.Join(dir, "bus")
		os.WriteFile(path, c.bus, 0o644)
		r := run(t, dir, "-p", "out.pcap", "bus")
		if r.Code != 0 || r.Stderr != c.stderr || strings.Count(r.Stdout, "packet ") != c.packets {
			t.Errorf("%s: exit %d, stderr %q, stdout %q", c.name, r.Code, r.Stderr, r.Stdout[:min(len(r.Stdout), 200)])
		}
		recs, err := pcap.ReadFile(filepath.Join(dir, "out.pcap"))
		if err != nil || len(recs) != c.packets {
			t.Errorf("%s: pcap: %d records, %v", c.name, len(recs), err)
		}
		// Following starts and stops without changing the file.
		if c.name != "empty" {
			f := exec.Command(bin, "-f", "bus")
			f.Dir = dir
			var out testlib.SyncBuffer
			f.Stdout = &out
			if err := f.Start(); err != nil {
				t.Fatal(err)
			}
			waitFor(t, &out, "bus version ")
			f.Process.Signal(os.Interrupt)
			f.Wait()
		} else if r := run(t, dir, "-f", "bus"); r.Code != 0 || r.Stderr != c.stderr {
			t.Errorf("-f on an empty file: exit %d, stderr %q", r.Code, r.Stderr)
		}
		if got, _ := os.ReadFile(path); !bytes.Equal(got, c.bus) {
			t.Errorf("%s: the file changed", c.name)
		}
	}
}

// A lock that stays taken is waited for about a second; then the bus is
// dumped without it, with a warning.
func TestLockBusyWarns(t *testing.T) {
	b := bytes.Clone(golden(t, "rump-small", "bus"))
	binary.NativeEndian.PutUint32(b[netbsd.OffLock:], 1)
	dir := busCopy(t, b)
	start := time.Now()
	r := run(t, dir, "bus")
	want := strings.Replace(string(golden(t, "rump-small", "dumpbus.txt")), "lock: 0", "lock: 1", 1)
	if r.Code != 0 || r.Stdout != want || r.Stderr != "shmif_dumpbus: bus `bus' stayed locked for 1s: copied without the lock\n" {
		t.Fatalf("%+v", r)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v", d)
	}
}

// waitFor waits until s holds want.
func waitFor(t *testing.T, s *testlib.SyncBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(s.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in %q", want, s.String()[:min(500, len(s.String()))])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// newBus creates an empty bus file.
func newBus(t *testing.T, path string) {
	ifc, err := shmif.Open(path, -1)
	if err != nil {
		t.Fatal(err)
	}
	ifc.Destroy()
}

// -f: shmif_dumpbus -f -p - bus | tcpdump -n -e -r - sees every frame
// another process writes, in order, and SIGINT ends it with a complete pcap.
func TestFollowLive(t *testing.T) {
	if _, err := exec.LookPath("tcpdump"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("tcpdump is not installed")
		}
		t.Skip("tcpdump is not installed")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "bus")
	newBus(t, path)

	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	var tcpOut testlib.SyncBuffer
	tcpdump := exec.Command("tcpdump", "-n", "-e", "-l", "-r", "-")
	tcpdump.Stdin, tcpdump.Stdout = pr, &tcpOut
	if err := tcpdump.Start(); err != nil {
		t.Fatal(err)
	}
	pr.Close()
	defer tcpdump.Process.Kill()

	var capture bytes.Buffer
	var text testlib.SyncBuffer
	follower := exec.Command(bin, "-f", "-p", "-", path)
	follower.Stdout, follower.Stderr = io.MultiWriter(pw, &capture), &text
	if err := follower.Start(); err != nil {
		t.Fatal(err)
	}
	defer follower.Process.Kill()
	waitFor(t, &text, "bus version ") // attached: frames from now on are seen

	w := exec.Command(os.Args[0], "-test.run=^$")
	w.Env = append(os.Environ(), writerEnv+"="+path)
	if out, err := w.CombinedOutput(); err != nil {
		t.Fatalf("writer: %v %s", err, out)
	}
	waitFor(t, &text, fmt.Sprintf("packet %d, ", writerFrames-1))

	follower.Process.Signal(syscall.SIGINT)
	if err := follower.Wait(); err != nil {
		t.Fatalf("follower: %v, stderr %s", err, text.String()[max(0, len(text.String())-300):])
	}
	pw.Close()
	if err := tcpdump.Wait(); err != nil {
		t.Fatalf("tcpdump: %v", err)
	}

	// tcpdump saw every frame, in order.
	re := regexp.MustCompile(`(?m)^\S+ 02:00:00:00:00:01 > 02:00:00:([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}), ethertype Unknown \(0x88b5\), length 60:`)
	var seqs []int
	for _, m := range re.FindAllStringSubmatch(tcpOut.String(), -1) {
		v, _ := strconv.ParseUint(m[1]+m[2]+m[3], 16, 32)
		seqs = append(seqs, int(v))
	}
	checkSeqs(t, "tcpdump", seqs)

	// The pcap is complete, and so is the text.
	recs, err := pcap.ReadAll(bytes.NewReader(capture.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	seqs = seqs[:0]
	for _, r := range recs {
		seqs = append(seqs, seqOf(r.Data))
	}
	checkSeqs(t, "pcap", seqs)
	if n := strings.Count(text.String(), "packet "); n != writerFrames {
		t.Errorf("%d packet lines", n)
	}
	file := filepath.Join(dir, "follow.pcap")
	os.WriteFile(file, capture.Bytes(), 0o644)
	readable(t, file, writerFrames)
}

func checkSeqs(t *testing.T, what string, seqs []int) {
	t.Helper()
	if len(seqs) != writerFrames {
		t.Fatalf("%s: %d frames, want %d", what, len(seqs), writerFrames)
	}
	for i, s := range seqs {
		if s != i {
			t.Fatalf("%s: frame %d has sequence number %d", what, i, s)
		}
	}
}

// -f -a starts with the oldest frame still on the bus: on the golden bus the
// text and pcap are those of a dump, after the header line.
func TestFollowFromOldest(t *testing.T) {
	dir := busCopy(t, golden(t, "rump-small", "bus"))
	var capture bytes.Buffer
	var text testlib.SyncBuffer
	follower := exec.Command(bin, "-f", "-a", "-p", "-", "bus")
	follower.Dir = dir
	follower.Stdout, follower.Stderr = &capture, &text
	if err := follower.Start(); err != nil {
		t.Fatal(err)
	}
	defer follower.Process.Kill()
	want := string(golden(t, "rump-small", "dumpbus.txt"))
	waitFor(t, &text, "packet 36, ")
	follower.Process.Signal(syscall.SIGTERM)
	if err := follower.Wait(); err != nil {
		t.Fatal(err)
	}
	if text.String() != want {
		t.Errorf("text:\n%s\nwant:\n%s", text.String(), want)
	}
	if !bytes.Equal(capture.Bytes(), golden(t, "rump-small", "bus.pcap")) {
		t.Error("pcap differs from bus.pcap")
	}
}

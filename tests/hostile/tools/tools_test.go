// Package tools_test attacks shmifctl(1), shmif_dumpbus(1) and
// shmif_pcapin(1) from outside, as a hostile harness would: signals in the
// middle of a follow, SIGKILL at random moments, buses truncated, damaged
// or scribbled on while a follower runs, files that are not buses. Each
// test checks what the man pages promise: exit status, messages, files a
// tool only reads left byte for byte as they were.
package tools_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/libshmif/libshmif/internal/testlib"
)

// ctl, dumpbus and pcapin are the tools make builds (testlib.Path); each
// test sets them with tools before it runs one.
var ctl, dumpbus, pcapin string

func tools(t *testing.T) {
	t.Helper()
	ctl, dumpbus, pcapin = testlib.Path(t, "shmifctl"), testlib.Path(t, "shmif_dumpbus"), testlib.Path(t, "shmif_pcapin")
}

type result struct {
	code           int
	signaled       bool
	stdout, stderr string
}

// run runs a tool with a bound: a tool that outlives it is a hang.
func run(t *testing.T, bound time.Duration, prog string, args ...string) result {
	t.Helper()
	cmd := exec.Command(prog, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ws := waitBounded(t, cmd, bound)
	r := result{code: ws.ExitStatus(), signaled: ws.Signaled(), stdout: o.String(), stderr: e.String()}
	if ws.Signaled() || strings.Contains(r.stderr, "panic:") || strings.Contains(r.stderr, "goroutine ") {
		t.Errorf("%s %q crashed: %v\n%s", filepath.Base(prog), args, ws, r.stderr)
	}
	return r
}

// frame is a broadcast frame of n bytes from a fixed MAC, tagged k.
func frame(n int, k byte) []byte {
	f := bytes.Repeat([]byte{k}, n)
	copy(f, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x88, 0xb5})
	return f
}

// pcapFile is a classic pcap file of frames (each {data, origlen}).
func pcapFile(frames ...[]byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, []uint32{0xa1b2c3d4, 0x00040002, 0, 0, 65535, 1})
	for i, f := range frames {
		binary.Write(&b, binary.LittleEndian, []uint32{uint32(1000 + i), 0, uint32(len(f)), uint32(len(f))})
		b.Write(f)
	}
	return b.Bytes()
}

// pcapRecords checks a pcap file written by a tool and counts its records.
func pcapRecords(t *testing.T, data []byte) int {
	t.Helper()
	if len(data) < 24 || binary.LittleEndian.Uint32(data) != 0xa1b2c3d4 {
		t.Fatalf("not a pcap file: %d bytes", len(data))
	}
	n, off := 0, 24
	for off < len(data) {
		if off+16 > len(data) {
			t.Fatalf("pcap record %d: header cut at %d of %d", n, off, len(data))
		}
		incl := int(binary.LittleEndian.Uint32(data[off+8:]))
		if incl < 14 || incl > 1518 || off+16+incl > len(data) {
			t.Fatalf("pcap record %d: length %d at %d of %d", n, incl, off, len(data))
		}
		off += 16 + incl
		n++
	}
	return n
}

// inject puts frames on bus with shmif_pcapin.
func inject(t *testing.T, bus string, frames ...[]byte) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "in.pcap")
	if err := os.WriteFile(p, pcapFile(frames...), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := run(t, 20*time.Second, pcapin, p, bus); r.code != 0 {
		t.Fatalf("shmif_pcapin: %d %s", r.code, r.stderr)
	}
}

func digest(t *testing.T, p string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// newBus makes a bus with n 64-byte frames and returns its bytes.
func newBus(t *testing.T, dir string, n int) (string, []byte) {
	t.Helper()
	bus := filepath.Join(dir, "bus")
	var fs [][]byte
	for k := 0; k < n; k++ {
		fs = append(fs, frame(64, byte(k)))
	}
	inject(t, bus, fs...)
	b, err := os.ReadFile(bus)
	if err != nil {
		t.Fatal(err)
	}
	return bus, b
}

func withHdr(b []byte, off int, v uint32) []byte {
	c := append([]byte(nil), b...)
	binary.LittleEndian.PutUint32(c[off:], v)
	return c
}

// TestReadersLeaveHostileFilesAlone: shmif_dumpbus (-h, -p, -c) and
// shmifctl show on damaged and foreign files end with the documented exit
// status (dumpbus >0, shmifctl 2) or 0, never crash or hang, and leave the
// file byte for byte as it was (shmif_dumpbus(1): damaged buses are errors;
// shmifctl(1) show copies the bus).
func TestReadersLeaveHostileFilesAlone(t *testing.T) {
	tools(t)
	dir := t.TempDir()
	_, good := newBus(t, dir, 5)
	last := binary.LittleEndian.Uint32(good[20:])
	cases := map[string]struct {
		data []byte
		bad  bool // must be an error
	}{
		"good":        {good, false},
		"empty":       {nil, false},
		"trunc100":    {good[:100], true},
		"trunc31":     {good[:31], true},
		"version4":    {withHdr(good, 4, 4), true},
		"version0":    {withHdr(good, 4, 0), false},
		"badmagic":    {withHdr(good, 0, 0x6c6c6568), true},
		"lastHuge":    {withHdr(good, 20, 0xfffffff0), true},
		"firstHuge":   {withHdr(good, 16, 0xfffffff0), true},
		"newestLenFF": {withHdr(good, 32+int(last), 0xffffffff), true},
		"lockGarbage": {withHdr(good, 24, 0xdeadbeef), false},
		"zeros4k":     {make([]byte, 4096), true},
		"random":      {randomBytes(len(good)), true},
	}
	for name, c := range cases {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, c.data, 0o644); err != nil {
			t.Fatal(err)
		}
		before := digest(t, p)
		for _, args := range [][]string{{dumpbus, p}, {dumpbus, "-h", p}, {dumpbus, "-c", "-p", filepath.Join(dir, "out.pcap"), p}, {ctl, "show", p}} {
			r := run(t, 10*time.Second, args[0], args[1:]...)
			tool := filepath.Base(args[0])
			switch {
			case c.bad && r.code == 0:
				t.Errorf("%s: %s %q: exit 0 on a bad bus", name, tool, args[1:])
			case r.code != 0 && tool == "shmifctl" && r.code != 2:
				t.Errorf("%s: shmifctl show: exit %d, want 2", name, r.code)
			case r.code != 0 && !strings.HasPrefix(r.stderr, tool+": "):
				t.Errorf("%s: %s: message %q", name, tool, r.stderr)
			}
			if digest(t, p) != before {
				t.Errorf("%s: %s %q changed the file", name, tool, args[1:])
			}
		}
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rand.N(256))
	}
	return b
}

// TestSpecialFiles: FIFOs, directories, devices and missing files are
// errors at once (no tool opens a FIFO and waits for a writer), and a
// missing bus is never created by a reader.
func TestSpecialFiles(t *testing.T) {
	tools(t)
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing")
	for _, p := range []string{fifo, dir, "/dev/zero", "/dev/null", missing} {
		for _, args := range [][]string{{dumpbus, p}, {dumpbus, "-f", p}, {ctl, "show", p}, {ctl, "empty", p}, {ctl, "wait", "-t", "0.2", p}} {
			r := run(t, 10*time.Second, args[0], args[1:]...)
			if r.code == 0 {
				t.Errorf("%q: exit 0", args)
			}
		}
		r := run(t, 10*time.Second, pcapin, filepath.Join(dir, "nonexistent.pcap"), p)
		if r.code == 0 {
			t.Errorf("pcapin onto %s: exit 0", p)
		}
	}
	if _, err := os.Stat(missing); err == nil {
		t.Errorf("a tool created %s", missing)
	}
}

// startFollow starts shmif_dumpbus -f -p out bus and waits until it has
// attached (its header line is printed once it has).
func startFollow(t *testing.T, bus, out string, extra ...string) (*exec.Cmd, *testlib.SyncBuffer, *testlib.SyncBuffer) {
	t.Helper()
	cmd := exec.Command(dumpbus, append(append([]string{"-f"}, extra...), "-p", out, bus)...)
	var o, e testlib.SyncBuffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the follower's header line", func() bool { return strings.Contains(o.String(), "bus version") })
	return cmd, &o, &e
}

// waitUntil waits for cond, 20 s at most: a loaded machine may be slow,
// a hang is not.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// lostReported sums the "lost n frames" reports on a follower's stderr.
func lostReported(stderr string) int {
	sum := 0
	for _, part := range strings.Split(stderr, "lost ")[1:] {
		var n int
		fmt.Sscanf(part, "%d", &n)
		sum += n
	}
	return sum
}

// waitBounded waits for a started tool: one that outlives bound is a hang.
func waitBounded(t *testing.T, cmd *exec.Cmd, bound time.Duration) syscall.WaitStatus {
	t.Helper()
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(bound):
		cmd.Process.Kill()
		<-done
		stderr := ""
		if s, ok := cmd.Stderr.(fmt.Stringer); ok {
			stderr = s.String()
		}
		t.Fatalf("%q did not end within %v (a hang); stderr %q", cmd.Args, bound, stderr)
	}
	return cmd.ProcessState.Sys().(syscall.WaitStatus)
}

// TestFollowStopSignals: shmif_dumpbus(1) -f ends with status 0 on SIGINT
// and SIGTERM, "leaving a complete capture": every frame written while it
// followed is a line and a pcap record. SIGSTOP and SIGCONT in the middle
// lose frames to the ring only, said on stderr as "lost n frames".
func TestFollowStopSignals(t *testing.T) {
	tools(t)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		dir := t.TempDir()
		bus, _ := newBus(t, dir, 3)
		out := filepath.Join(dir, "out.pcap")
		cmd, o, e := startFollow(t, bus, out)
		var fs [][]byte
		for k := 0; k < 50; k++ {
			fs = append(fs, frame(14+k*30, byte(k)))
		}
		inject(t, bus, fs...)
		waitUntil(t, "50 packet lines", func() bool { return strings.Count(o.String(), "\npacket ") == 50 })
		cmd.Process.Signal(sig)
		ws := waitBounded(t, cmd, 10*time.Second)
		if ws.ExitStatus() != 0 || ws.Signaled() {
			t.Errorf("%v: %v, stderr %q", sig, ws, e.String())
		}
		data, _ := os.ReadFile(out)
		if n := pcapRecords(t, data); n != 50 {
			t.Errorf("%v: %d pcap records, want 50", sig, n)
		}
		if n := strings.Count(o.String(), "\npacket "); n != 50 {
			t.Errorf("%v: %d packet lines, want 50", sig, n)
		}
	}

	dir := t.TempDir()
	bus, _ := newBus(t, dir, 1)
	out := filepath.Join(dir, "out.pcap")
	cmd, o, e := startFollow(t, bus, out)
	cmd.Process.Signal(syscall.SIGSTOP)
	var fs [][]byte
	for k := 0; k < 2000; k++ {
		fs = append(fs, frame(1000, byte(k)))
	}
	inject(t, bus, fs...)
	cmd.Process.Signal(syscall.SIGCONT)
	waitUntil(t, "2000 frames printed or reported lost", func() bool {
		return strings.Count(o.String(), "\npacket ")+lostReported(e.String()) >= 2000
	})
	cmd.Process.Signal(syscall.SIGINT)
	if ws := waitBounded(t, cmd, 10*time.Second); ws.ExitStatus() != 0 {
		t.Errorf("after STOP/CONT: %v %q", ws, e.String())
	}
	data, _ := os.ReadFile(out)
	n := pcapRecords(t, data)
	lost := lostReported(e.String())
	if !strings.Contains(e.String(), "shmif_dumpbus: lost ") || n+lost != 2000 || n != strings.Count(o.String(), "\npacket ") {
		t.Errorf("STOP/CONT: %d records + %d lost, want 2000; stderr %q", n, lost, e.String())
	}
}

// TestFollowKilledAtRandom: a follower killed with SIGKILL at random
// moments (it takes the bus lock to read) never wedges the bus: the next
// writer and shmifctl show get through, and the lock reads free.
func TestFollowKilledAtRandom(t *testing.T) {
	tools(t)
	dir := t.TempDir()
	bus, _ := newBus(t, dir, 1)
	rnd := rand.New(rand.NewPCG(1, 2))
	var fs [][]byte
	for k := 0; k < 700; k++ {
		fs = append(fs, frame(1514, byte(k)))
	}
	in := filepath.Join(dir, "in.pcap")
	os.WriteFile(in, pcapFile(fs...), 0o644)
	for i := 0; i < 8; i++ {
		cmd := exec.Command(dumpbus, "-f", "-a", "-p", os.DevNull, bus)
		cmd.Stdout = nil
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		w := exec.Command(pcapin, in, bus)
		if err := w.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rnd.IntN(40)) * time.Millisecond)
		cmd.Process.Kill()
		waitBounded(t, cmd, 5*time.Second)
		if ws := waitBounded(t, w, 30*time.Second); ws.ExitStatus() != 0 {
			t.Errorf("round %d: pcapin beside a killed follower: %v", i, ws)
		}
		// A follower killed holding the lock leaves it held by a dead pid
		// (tools never take a lock over, protocol.md §9.1); the next
		// libshmif writer does.
		inject(t, bus, frame(60, byte(i)))
		r := run(t, 15*time.Second, ctl, "show", bus)
		if r.code != 0 || !strings.Contains(r.stdout, "lock free") {
			t.Errorf("round %d: show: %d %q %q", i, r.code, r.stdout, r.stderr)
		}
	}
}

// TestFollowGarbageAndTruncation: a follower while a stranger scribbles
// over the ring and the header words, then truncates the file: it reports
// damage (exit >0 with a message) or goes on, but never crashes, hangs or
// writes a torn pcap file (shmif_dumpbus(1): damaged buses are errors;
// README: truncation is EIO, never SIGBUS).
func TestFollowGarbageAndTruncation(t *testing.T) {
	tools(t)
	for _, truncate := range []bool{false, true} {
		dir := t.TempDir()
		bus, _ := newBus(t, dir, 3)
		out := filepath.Join(dir, "out.pcap")
		cmd, _, e := startFollow(t, bus, out)
		f, err := os.OpenFile(bus, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		// Seeded, so that a failing round can be run again.
		seed := uint64(time.Now().UnixNano())
		t.Logf("truncate=%v: scribble seed %d", truncate, seed)
		rnd := rand.New(rand.NewPCG(seed, 1))
		for k := 0; k < 30; k++ {
			// The writer may refuse a bus scribbled on (EIO): not what
			// this test is about.
			p := filepath.Join(dir, "in.pcap")
			os.WriteFile(p, pcapFile(frame(200, byte(k))), 0o644)
			if r := run(t, 20*time.Second, pcapin, p, bus); r.code != 0 {
				t.Logf("shmif_pcapin on the scribbled bus: %d %s", r.code, r.stderr)
			}
			scribble := make([]byte, 64)
			for i := range scribble {
				scribble[i] = byte(rnd.Uint32())
			}
			f.WriteAt(scribble, int64(32+rnd.IntN(1048544-64)))
			if k%10 == 5 {
				f.WriteAt([]byte{0xf0, 0xff, 0xff, 0xff, 0xf0, 0xff, 0xff, 0xff}, 16)
			}
		}
		if truncate {
			f.Truncate(4096)
		}
		f.Close()
		time.Sleep(300 * time.Millisecond)
		cmd.Process.Signal(syscall.SIGINT)
		ws := waitBounded(t, cmd, 10*time.Second)
		if ws.Signaled() || strings.Contains(e.String(), "panic") {
			t.Errorf("truncate=%v: %v %q", truncate, ws, e.String())
		}
		if ws.ExitStatus() != 0 && !strings.HasPrefix(e.String(), "shmif_dumpbus: ") {
			t.Errorf("truncate=%v: exit %d without a message: %q", truncate, ws.ExitStatus(), e.String())
		}
		data, _ := os.ReadFile(out)
		pcapRecords(t, data)
	}
}

// TestPcapinRefusesAndLeavesBus: shmif_pcapin(1): every frame 14 to 1514
// bytes and whole, the file checked completely before anything is written,
// the bad record reported with its number, the bus unchanged.
func TestPcapinRefusesAndLeavesBus(t *testing.T) {
	tools(t)
	dir := t.TempDir()
	bus, _ := newBus(t, dir, 5)
	before := digest(t, bus)
	partial := pcapFile(frame(60, 1), frame(60, 2))
	binary.LittleEndian.PutUint32(partial[24+16+60+12:], 100) // orig len > incl len
	cases := map[string][]byte{
		"13":        pcapFile(frame(60, 1), frame(60, 2), frame(13, 3)),
		"0":         pcapFile(frame(60, 1), nil),
		"1515":      pcapFile(frame(60, 1), frame(1515, 2)),
		"65535":     pcapFile(frame(65535, 1)),
		"partial":   partial,
		"cut":       pcapFile(frame(60, 1), frame(60, 2))[:24+16+60+20],
		"garbage":   randomBytes(3000),
		"empty":     nil,
		"hugeIncl":  append(pcapFile()[:24], 0, 0, 0, 0, 0, 0, 0, 0, 0xf0, 0xff, 0xff, 0xff, 0xf0, 0xff, 0xff, 0xff),
		"linktype9": withHdr(pcapFile(frame(60, 1)), 20, 9),
	}
	for name, data := range cases {
		p := filepath.Join(dir, name+".pcap")
		os.WriteFile(p, data, 0o644)
		r := run(t, 10*time.Second, pcapin, p, bus)
		if r.code == 0 {
			t.Errorf("%s: exit 0", name)
		}
		if !strings.HasPrefix(r.stderr, "shmif_pcapin: ") {
			t.Errorf("%s: message %q", name, r.stderr)
		}
		if digest(t, bus) != before {
			t.Errorf("%s: the bus changed", name)
		}
	}
	// Onto a foreign file: refused, file unchanged.
	foreign := filepath.Join(dir, "foreign")
	os.WriteFile(foreign, randomBytes(1<<20), 0o644)
	fb := digest(t, foreign)
	good := filepath.Join(dir, "good.pcap")
	os.WriteFile(good, pcapFile(frame(60, 1)), 0o644)
	if r := run(t, 10*time.Second, pcapin, good, foreign); r.code == 0 || digest(t, foreign) != fb {
		t.Errorf("pcapin onto a foreign file: exit %d, changed %v", r.code, digest(t, foreign) != fb)
	}
}

// TestWaitArgumentsAndSignals: shmifctl(1) wait: -t 0 looks once (exit 1
// with the documented message), malformed timeouts and counts are exit 2,
// and "Killed by a signal, shmifctl writes no cursor".
func TestWaitArgumentsAndSignals(t *testing.T) {
	tools(t)
	dir := t.TempDir()
	bus, _ := newBus(t, dir, 2)
	r := run(t, 5*time.Second, ctl, "wait", "-t", "0", bus)
	if r.code != 1 || r.stderr != "shmifctl: timed out after 0s: 0 of 1 matching frames seen\n" {
		t.Errorf("-t 0: %d %q", r.code, r.stderr)
	}
	r = run(t, 5*time.Second, ctl, "wait", "-a", "-t", "0", "-n", "2", bus)
	if r.code != 0 || strings.Count(r.stdout, "\n") != 2 {
		t.Errorf("-a -t 0 -n 2: %d %q %q", r.code, r.stdout, r.stderr)
	}
	for _, a := range [][]string{{"-t", "-1"}, {"-t", "nan"}, {"-t", ""}, {"-n", "0"}, {"-n", "-3"}, {"-n", "99999999999999999999"}, {"-s", "garbage"}, {"-a", "-s", ""}} {
		r := run(t, 5*time.Second, ctl, append(append([]string{"wait"}, a...), bus)...)
		if r.code != 2 {
			t.Errorf("wait %q: exit %d, want 2 (%q)", a, r.code, r.stderr)
		}
	}
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGKILL} {
		cur := filepath.Join(dir, "cur-"+sig.String())
		cmd := exec.Command(ctl, "wait", "-C", cur, bus, "0x1234")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
		cmd.Process.Signal(sig)
		ws := waitBounded(t, cmd, 5*time.Second)
		if ws.ExitStatus() == 0 && !ws.Signaled() {
			t.Errorf("%v: wait exited 0 without its frame", sig)
		}
		if _, err := os.Stat(cur); err == nil {
			t.Errorf("%v: a cursor file was written", sig)
		}
		if m, _ := filepath.Glob(filepath.Join(dir, ".cur-*")); len(m) > 0 {
			t.Errorf("%v: temporary cursor files left: %q", sig, m)
		}
	}
}

// Package hostile_test attacks shmif_bridge, its control socket, its
// impairment stage, the C bridge calls and the bus tools from the outside,
// working only from their documentation (README.md, docs/bridges.md,
// include/rump/rump.h, the man pages, go doc): peers that misbehave on every
// framing, foreign VXLAN datagrams, bridges killed with SIGKILL in the
// middle of traffic, hostile control connections, impairment statistics,
// C calls racing each other, and hostile cursors, filters and pcap files.
//
// Tests that show a broken promise live in files built only with the tag
// hostile_defects, so that the default run stays green; see the report of
// each in its comment.
package hostile_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/libshmif/libshmif/core/shmif"
)

// Tools built from this tree in TestMain.
var (
	toolDir     string
	bridgeBin   string
	ctlBin      string
	dumpBin     string
	pcapinBin   string
	repoRoot    string
	libshmifDir string // where libshmif.so is (SHMIF_BUILD or build/); may lack it
)

func TestMain(m *testing.M) {
	// Most tests wait on bridge processes and sockets: let more of them
	// run at once than there are CPUs (an explicit -parallel wins).
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		flag.Set("test.parallel", "4")
	}
	root, err := findRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	repoRoot = root
	libshmifDir = os.Getenv("SHMIF_BUILD")
	if libshmifDir == "" {
		libshmifDir = filepath.Join(root, "build")
	}
	toolDir, err = os.MkdirTemp("", "shmif-hostile-tools")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Chmod(toolDir, 0o755) // the read-only tests run tools as nobody
	cmd := exec.Command("go", "build", "-o", toolDir+"/",
		"./cmd/shmif_bridge", "./cmd/shmifctl", "./cmd/shmif_dumpbus", "./cmd/shmif_pcapin")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building the tools: %v\n%s", err, out)
		os.RemoveAll(toolDir)
		os.Exit(1)
	}
	bridgeBin = filepath.Join(toolDir, "shmif_bridge")
	ctlBin = filepath.Join(toolDir, "shmifctl")
	dumpBin = filepath.Join(toolDir, "shmif_dumpbus")
	pcapinBin = filepath.Join(toolDir, "shmif_pcapin")
	code := m.Run()
	os.RemoveAll(toolDir)
	os.Exit(code)
}

func findRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}

func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
}

// ---------------------------------------------------------------------------
// Self-checking frames.
//
// A test frame is broadcast, from 02:00:00:00:SS:SS (stream SS), ethertype
// 0x88b5, and carries a magic, its stream, its sequence number, its length,
// a pattern derived from the sequence number and a CRC-32 of everything
// before it. A receiver can tell a torn, truncated, corrupted or invented
// frame from a real one.

const testEtherType = 0x88b5

var frameMagic = []byte("HOST")

// makeFrame builds frame seq of stream, n bytes long (n >= 42).
func makeFrame(stream uint16, seq uint64, n int) []byte {
	if n < 42 {
		panic("test frame too short")
	}
	f := make([]byte, n)
	for i := 0; i < 6; i++ {
		f[i] = 0xff
	}
	f[6], f[7], f[8], f[9] = 0x02, 0, 0, 0
	binary.BigEndian.PutUint16(f[10:], stream)
	binary.BigEndian.PutUint16(f[12:], testEtherType)
	copy(f[14:], frameMagic)
	binary.BigEndian.PutUint16(f[18:], stream)
	binary.BigEndian.PutUint64(f[20:], seq)
	binary.BigEndian.PutUint16(f[28:], uint16(n))
	x := uint32(seq)*2654435761 + 1
	for i := 30; i < n-4; i++ {
		x = x*1103515245 + 12345
		f[i] = byte(x >> 16)
	}
	binary.BigEndian.PutUint32(f[n-4:], crc32.ChecksumIEEE(f[:n-4]))
	return f
}

// checkFrame reports the stream and sequence number of a test frame, and
// whether it is one at all (false: some other frame, or a damaged one;
// isTest tells which).
func checkFrame(f []byte) (stream uint16, seq uint64, isTest, ok bool) {
	if len(f) < 14 || binary.BigEndian.Uint16(f[12:]) != testEtherType {
		return 0, 0, false, false
	}
	if len(f) < 42 || !bytes.Equal(f[14:18], frameMagic) {
		return 0, 0, true, false
	}
	stream = binary.BigEndian.Uint16(f[18:])
	seq = binary.BigEndian.Uint64(f[20:])
	if int(binary.BigEndian.Uint16(f[28:])) != len(f) {
		return stream, seq, true, false
	}
	if crc32.ChecksumIEEE(f[:len(f)-4]) != binary.BigEndian.Uint32(f[len(f)-4:]) {
		return stream, seq, true, false
	}
	if binary.BigEndian.Uint16(f[10:]) != stream {
		return stream, seq, true, false
	}
	return stream, seq, true, true
}

// ---------------------------------------------------------------------------
// Interfaces on buses, from this process.

// attach makes an interface on the bus file at path that receives only
// frames written after it came up, in promiscuous mode.
func attach(t testing.TB, path string) *shmif.Interface {
	t.Helper()
	ifc, err := shmif.Create(-1)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if err := ifc.SetStart(shmif.StartNext); err != nil {
		t.Fatalf("set start: %v", err)
	}
	if err := ifc.SetLinkstr(path); err != nil {
		ifc.Destroy()
		t.Fatalf("linkstr %s: %v", path, err)
	}
	if err := ifc.Up(); err != nil {
		ifc.Destroy()
		t.Fatalf("up: %v", err)
	}
	if err := ifc.SetPromisc(true); err != nil {
		t.Fatalf("promisc: %v", err)
	}
	t.Cleanup(func() { ifc.Destroy() })
	return ifc
}

// collector receives every frame from an interface in a goroutine.
type collector struct {
	ifc  *shmif.Interface
	mu   sync.Mutex
	got  []received
	stop chan struct{}
	done chan struct{}
}

type received struct {
	at    time.Time
	frame []byte
}

func collect(t testing.TB, ifc *shmif.Interface) *collector {
	c := &collector{ifc: ifc, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		frames := make([]shmif.Frame, 64)
		for i := range frames {
			frames[i].Buf = make([]byte, 1514)
		}
		for {
			select {
			case <-c.stop:
				return
			default:
			}
			n, err := ifc.RecvBatch(frames, 50*time.Millisecond)
			now := time.Now()
			if err != nil {
				if err == syscall.ETIMEDOUT || err == syscall.EAGAIN {
					continue
				}
				return
			}
			c.mu.Lock()
			for _, f := range frames[:n] {
				c.got = append(c.got, received{now, append([]byte(nil), f.Buf[:f.Len]...)})
			}
			c.mu.Unlock()
		}
	}()
	t.Cleanup(c.close)
	return c
}

func (c *collector) close() {
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	<-c.done
}

func (c *collector) frames() []received {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]received(nil), c.got...)
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.got)
}

// waitFor waits until cond holds of the frames received, or the timeout.
func (c *collector) waitFor(timeout time.Duration, cond func([]received) bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		c.mu.Lock()
		ok := cond(c.got)
		c.mu.Unlock()
		if ok {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// hasSeq says whether a received frame is test frame seq of stream.
func hasSeq(stream uint16, seq uint64) func([]received) bool {
	return func(rs []received) bool {
		for _, r := range rs {
			if s, q, _, ok := checkFrame(r.frame); ok && s == stream && q == seq {
				return true
			}
		}
		return false
	}
}

// ---------------------------------------------------------------------------
// Processes.

// syncBuffer is a bytes.Buffer safe for a writer goroutine and readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// proc is a program started by a test, killed at the end of it.
type proc struct {
	t      testing.TB
	cmd    *exec.Cmd
	stderr *syncBuffer
	done   chan struct{}
	err    error
}

// startProc starts a program; stdin and stdout are the caller's to set
// through setup (nil: /dev/null).
func startProc(t testing.TB, setup func(*exec.Cmd), name string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, stderr: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(name, args...)
	p.cmd.Stderr = p.stderr
	if setup != nil {
		setup(p.cmd)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("stderr of %s:\n%s", filepath.Base(name), p.stderr.String())
		}
	})
	return p
}

// startBridge starts shmif_bridge with args and waits until it bridges
// (it says so with -v, which startBridge adds with a long interval).
func startBridge(t testing.TB, setup func(*exec.Cmd), args ...string) *proc {
	t.Helper()
	p, err := tryStartBridge(t, setup, args...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func tryStartBridge(t testing.TB, setup func(*exec.Cmd), args ...string) (*proc, error) {
	t.Helper()
	all := append([]string{"-v", "-interval", "1h"}, args...)
	p := startProc(t, setup, bridgeBin, all...)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.stderr.String(), "bridging") {
		select {
		case <-p.done:
			return p, fmt.Errorf("shmif_bridge %q exited: %v\n%s", args, p.err, p.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			return p, fmt.Errorf("shmif_bridge %q did not start:\n%s", args, p.stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	return p, nil
}

// startBridgeUDP starts a bridge on a free UDP port, which args puts in
// its arguments. The port is free when freeUDPPort looks, but another
// program may bind it before the bridge does: a bridge that finds it taken
// is started again on another.
func startBridgeUDP(t testing.TB, args func(port int) []string) (*proc, int) {
	t.Helper()
	for try := 1; ; try++ {
		port := freeUDPPort(t)
		p, err := tryStartBridge(t, nil, args(port)...)
		if err == nil {
			return p, port
		}
		if try == 5 || !strings.Contains(p.stderr.String(), "address already in use") {
			t.Fatal(err)
		}
	}
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// wait waits for the process to exit, at most d; false if it did not.
func (p *proc) wait(d time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(d):
		return false
	}
}

// stop sends SIGTERM and waits for the exit.
func (p *proc) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	if !p.wait(10 * time.Second) {
		p.t.Errorf("%s did not stop on SIGTERM", p.cmd.Path)
		p.cmd.Process.Kill()
		<-p.done
	}
}

// cpu returns the CPU time the process used so far (user + system).
func (p *proc) cpu() time.Duration {
	return procCPU(p.pid())
}

func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	// After the command: state(0) ... utime is field 14 of stat, index 11 here.
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseUint(f[11], 10, 64)
	st, _ := strconv.ParseUint(f[12], 10, 64)
	return time.Duration(u+st) * 10 * time.Millisecond // CLK_TCK is 100 on Linux
}

// counters asks the bridge for its counters (SIGUSR1) and parses the line
// it prints: keys "LR.frames", "RL.small", "bus.lost", "ep.foreign", and,
// with an impairment stage, "impLR.in" (frames) and "impLR.in.bytes".
//
// A report is a counters line, then the impairment lines, written one
// after the other: the test may see the first before the rest. So it asks
// twice, the second time once the first report has begun, and parses the
// first, which is whole once the second has begun (the bridge makes one
// report after the other).
func (p *proc) counters() map[string]uint64 {
	p.t.Helper()
	const mark = "->bus frames="
	before := strings.Count(p.stderr.String(), mark)
	deadline := time.Now().Add(10 * time.Second)
	for k := 1; k <= 2; k++ {
		p.cmd.Process.Signal(syscall.SIGUSR1)
		for strings.Count(p.stderr.String(), mark) < before+k {
			if time.Now().After(deadline) || p.exited() {
				p.t.Fatalf("no counters from shmif_bridge:\n%s", p.stderr.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	s := p.stderr.String()
	i := strings.LastIndex(s, mark)
	return parseCounters(s[:strings.LastIndex(s[:i], "\n")+1])
}

// countersWhen asks for the counters until cond holds of them, for 10 s at
// most, and returns the last. A frame is counted once it is written: a
// receiver may have it before the counter has it.
func (p *proc) countersWhen(cond func(map[string]uint64) bool) map[string]uint64 {
	p.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		m := p.counters()
		if cond(m) || time.Now().After(deadline) {
			return m
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// parseCounters parses the last counters line (and impairment lines after
// it) in the text a bridge printed.
func parseCounters(s string) map[string]uint64 {
	m := map[string]uint64{}
	lines := strings.Split(s, "\n")
	last := -1
	for i, l := range lines {
		if strings.Contains(l, "->bus frames=") {
			last = i
		}
	}
	if last < 0 {
		return m
	}
	l := strings.TrimPrefix(lines[last], "shmif_bridge: ")
	segs := strings.Split(l, "; ")
	prefixes := []string{"LR.", "RL.", "bus.", "ep."}
	for i, seg := range segs {
		if i >= len(prefixes) {
			break
		}
		for _, kv := range strings.Fields(seg) {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				continue
			}
			n, err := strconv.ParseUint(v, 10, 64)
			if err == nil {
				m[prefixes[i]+k] = n
			}
		}
	}
	for _, l := range lines[last+1:] {
		l = strings.TrimPrefix(l, "shmif_bridge: ")
		f := strings.Fields(l)
		if len(f) < 2 || f[0] != "impair" || (f[1] != "LR" && f[1] != "RL") {
			continue
		}
		for k, v := range parseImpairCounters(strings.Join(f[2:], " ")) {
			m["imp"+f[1]+"."+k] = v
		}
	}
	return m
}

// parseImpairCounters reads "in=F/B out=F/B ..." into "in" (frames) and
// "in.bytes".
func parseImpairCounters(s string) map[string]uint64 {
	m := map[string]uint64{}
	for _, kv := range strings.Fields(s) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		fr, by, ok := strings.Cut(v, "/")
		if !ok {
			continue
		}
		f, err1 := strconv.ParseUint(fr, 10, 64)
		b, err2 := strconv.ParseUint(by, 10, 64)
		if err1 == nil && err2 == nil {
			m[k] = f
			m[k+".bytes"] = b
		}
	}
	return m
}

// ---------------------------------------------------------------------------
// Bus files.

// busState is what a bus file looked like: bytes and modification time.
type busState struct {
	data  []byte
	mtime time.Time
	size  int64
}

func snapshotFile(t testing.TB, path string) busState {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatalf("stat %s: %v", path, err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return busState{b, st.ModTime(), st.Size()}
}

// dumpOK runs shmif_dumpbus on a bus and fails the test unless it reads it
// without complaint; it returns the number of frames listed.
func dumpOK(t testing.TB, path string) int {
	t.Helper()
	out, err := exec.Command(dumpBin, path).CombinedOutput()
	if err != nil {
		t.Fatalf("shmif_dumpbus %s: %v\n%s", path, err, out)
	}
	return strings.Count(string(out), "\npacket ")
}

// stderrLines scans text for lines containing sub.
func stderrLines(s, sub string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if strings.Contains(sc.Text(), sub) {
			out = append(out, sc.Text())
		}
	}
	return out
}

var _ = io.EOF

// Package examples_test runs the C examples (examples_c/) as separate
// processes on bus files in temporary directories and checks what they
// print, their exit status and the frames they leave on the bus.
package examples_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/libshmif/libshmif/internal/testlib"
)

// processTimeout bounds every example process.
const processTimeout = 20 * time.Second

// result is what a finished process printed and how it exited.
type result struct {
	stdout, stderr string
	code           int
	elapsed        time.Duration
}

func (r result) String() string {
	return fmt.Sprintf("exit %d after %v\nstdout:\n%sstderr:\n%s", r.code, r.elapsed, r.stdout, r.stderr)
}

// run runs a built example to completion.
func run(t *testing.T, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), processTimeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, testlib.Path(t, name), args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String(), elapsed: time.Since(start)}
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("%s %v: killed after %v\n%v", name, args, processTimeout, r)
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("%s %v: %v", name, args, err)
	}
	return r
}

// background is an example process running while the test goes on.
type background struct {
	t              *testing.T
	cmd            *exec.Cmd
	cancel         context.CancelFunc
	stdout, stderr testlib.SyncBuffer
	done           chan struct{}
	err            error
}

// start starts a built example and waits until its stdout contains ready.
func start(t *testing.T, ready, name string, args ...string) *background {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), processTimeout)
	b := &background{t: t, cancel: cancel, done: make(chan struct{})}
	b.cmd = exec.CommandContext(ctx, testlib.Path(t, name), args...)
	b.cmd.Stdout, b.cmd.Stderr = &b.stdout, &b.stderr
	if err := b.cmd.Start(); err != nil {
		cancel()
		t.Fatalf("%s %v: %v", name, args, err)
	}
	go func() {
		b.err = b.cmd.Wait()
		close(b.done)
	}()
	t.Cleanup(func() {
		cancel()
		<-b.done
	})
	deadline := time.After(processTimeout)
	for !strings.Contains(b.stdout.String(), ready) {
		select {
		case <-b.done:
			t.Fatalf("%s %v exited before %q: %v\nstdout:\n%sstderr:\n%s",
				name, args, ready, b.err, b.stdout.String(), b.stderr.String())
		case <-deadline:
			t.Fatalf("%s %v: no %q within %v\nstdout:\n%sstderr:\n%s",
				name, args, ready, processTimeout, b.stdout.String(), b.stderr.String())
		case <-time.After(2 * time.Millisecond):
		}
	}
	return b
}

// wait waits for the process to exit, sending it sig first unless sig is 0.
func (b *background) wait(sig syscall.Signal) result {
	b.t.Helper()
	if sig != 0 {
		if err := b.cmd.Process.Signal(sig); err != nil {
			b.t.Fatalf("signal: %v", err)
		}
	}
	select {
	case <-b.done:
	case <-time.After(processTimeout):
		b.cancel()
		<-b.done
		b.t.Fatalf("%v did not exit", b.cmd.Args)
	}
	r := result{stdout: b.stdout.String(), stderr: b.stderr.String()}
	var exit *exec.ExitError
	if errors.As(b.err, &exit) {
		r.code = exit.ExitCode()
	} else if b.err != nil {
		b.t.Fatalf("%v: %v", b.cmd.Args, b.err)
	}
	return r
}

// startServer starts `shmif-node BUS ADDR serve 20` and waits until it is
// attached; the test stops it with SIGTERM (stopServer).
func startServer(t *testing.T, bus, addr string) *background {
	t.Helper()
	return start(t, "serving", "shmif-node", bus, addr, "serve", "20")
}

// stopServer ends a server and returns its summary line after checking
// that it exited 0.
func stopServer(t *testing.T, srv *background) string {
	t.Helper()
	r := srv.wait(syscall.SIGTERM)
	if r.code != 0 || !strings.Contains(r.stdout, "answered") {
		t.Fatalf("server: %v", r)
	}
	return r.stdout[strings.LastIndex(r.stdout, "shmif-node:"):]
}

var rttLine = regexp.MustCompile(`rtt min/median/avg/p99/max = (\d+)/(\d+)/(\d+)/(\d+)/(\d+) us`)

// checkEchoes checks that a pinger exited 0 with count echoes answered and
// a consistent rtt line, which it returns.
func checkEchoes(t *testing.T, r result, count int) string {
	t.Helper()
	want := fmt.Sprintf("%d sent, %d received, 0 lost", count, count)
	if r.code != 0 || !strings.Contains(r.stdout, want) {
		t.Fatalf("want exit 0 and %q: %v", want, r)
	}
	m := rttLine.FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("no rtt line: %v", r)
	}
	var v [5]int
	for k := range v {
		v[k], _ = strconv.Atoi(m[k+1])
	}
	minimum, median, avg, p99, maximum := v[0], v[1], v[2], v[3], v[4]
	if minimum > median || median > p99 || p99 > maximum || avg < minimum || avg > maximum {
		t.Fatalf("inconsistent rtt line: %v", r)
	}
	return m[0]
}

// Bus file layout (see core/shm): what the tests read from a bus file.
const (
	busSize         = 1 << 20
	busHeaderSize   = 32
	busDataSize     = busSize - busHeaderSize
	busMagic        = 0xCA11D054
	offGen          = 8
	offFirst        = 16
	offLast         = 20
	frameHeaderSize = 24 // len, sec, usec, pad (uint32 each), sender (uint64)
	maxFrame        = 1514
)

// busFrame is one frame read from a bus file.
type busFrame struct {
	sec, usec uint32
	sender    uint64
	data      []byte
}

// readBus returns a bus file's generation and the frames it still holds,
// oldest first. Records follow each other from the oldest one (data offset
// `first` once the ring has wrapped, else the dummy record at 0) to the
// newest one at `last`, and may be split across the end of the data area.
func readBus(t *testing.T, path string) (gen uint64, frames []busFrame) {
	t.Helper()
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ne := binary.NativeEndian
	if len(file) < busSize || ne.Uint32(file) != busMagic {
		t.Fatalf("%s: not a bus (%d bytes)", path, len(file))
	}
	data := file[busHeaderSize:busSize]
	read := func(off uint32, n int) []byte { // n bytes at off, around the ring
		b := make([]byte, n)
		for k := range b {
			b[k] = data[(int(off)+k)%busDataSize]
		}
		return b
	}
	gen = ne.Uint64(file[offGen:])
	first, last := ne.Uint32(file[offFirst:]), ne.Uint32(file[offLast:])
	off := uint32(0)
	if first < busDataSize {
		off = first
	}
	if last >= busDataSize {
		t.Fatalf("%s: last %#x outside the data area", path, last)
	}
	for range busDataSize/frameHeaderSize + 1 {
		h := read(off, frameHeaderSize)
		n := ne.Uint32(h)
		if n > maxFrame {
			t.Fatalf("%s: record at %#x has length %d", path, off, n)
		}
		if n >= 14 {
			frames = append(frames, busFrame{
				sec: ne.Uint32(h[4:]), usec: ne.Uint32(h[8:]),
				sender: ne.Uint64(h[16:]), data: read(off+frameHeaderSize, int(n)),
			})
		}
		if off == last {
			return gen, frames
		}
		off = (off + frameHeaderSize + n) % busDataSize
	}
	t.Fatalf("%s: walked the whole ring without reaching last %#x", path, last)
	return 0, nil
}

var macLine = regexp.MustCompile(`\(([0-9a-f]{2}(?::[0-9a-f]{2}){5})\)`)

// serverMAC returns the MAC a server printed in its "serving" line.
func serverMAC(t *testing.T, srv *background) []byte {
	t.Helper()
	m := macLine.FindStringSubmatch(srv.stdout.String())
	if m == nil {
		t.Fatalf("no MAC in %q", srv.stdout.String())
	}
	var mac []byte
	for _, x := range strings.Split(m[1], ":") {
		v, _ := strconv.ParseUint(x, 16, 8)
		mac = append(mac, byte(v))
	}
	return mac
}

func ip4(s string) []byte {
	var b [4]byte
	if _, err := fmt.Sscanf(s, "%d.%d.%d.%d", &b[0], &b[1], &b[2], &b[3]); err != nil {
		panic(err)
	}
	return b[:]
}

// TestNodeUDPEcho1000: 1000 UDP echoes of 1400 bytes through a server, none
// lost; the 2.9 MB of frames wrap the 1 MiB bus at least once.
func TestNodeUDPEcho1000(t *testing.T) {
	bus := filepath.Join(t.TempDir(), "bus")
	srv := startServer(t, bus, "10.0.0.1/24")
	r := run(t, "shmif-node", bus, "10.0.0.2/24", "udpping", "10.0.0.1", "1000", "1400")
	rtt := checkEchoes(t, r, 1000)
	t.Logf("udpping 1000 x 1400 bytes in %v: %s", r.elapsed, rtt)
	summary := stopServer(t, srv)
	if !strings.Contains(summary, "0 ICMP echo, 1000 UDP echo requests") {
		t.Errorf("server summary: %q", summary)
	}
	gen, _ := readBus(t, bus)
	if gen < 1 {
		t.Errorf("bus generation %d after 2000 frames of 1442 bytes: the ring did not wrap", gen)
	}
}

// TestNodeICMPPing: ICMP echoes of the default 56 bytes, of the largest
// payload (1472 bytes: a 1514-byte frame) and of none; and two pingers
// pinging each other, which find each other by ARP and answer each other's
// echo requests.
func TestNodeICMPPing(t *testing.T) {
	bus := filepath.Join(t.TempDir(), "bus")
	srv := startServer(t, bus, "10.0.0.1/24")
	r := run(t, "shmif-node", bus, "10.0.0.2/24", "ping", "10.0.0.1", "100")
	t.Logf("ping 100 x 56 bytes: %s", checkEchoes(t, r, 100))
	if !strings.Contains(r.stdout, "100 x 56 bytes") {
		t.Errorf("default payload is not 56 bytes: %v", r)
	}
	r = run(t, "shmif-node", bus, "10.0.0.2/24", "ping", "10.0.0.1", "20", "1472")
	t.Logf("ping 20 x 1472 bytes: %s", checkEchoes(t, r, 20))
	r = run(t, "shmif-node", bus, "10.0.0.2/24", "ping", "10.0.0.1", "5", "0")
	checkEchoes(t, r, 5)
	summary := stopServer(t, srv)
	if !strings.Contains(summary, "125 ICMP echo, 0 UDP echo requests") {
		t.Errorf("server summary: %q", summary)
	}

	// Two pingers, no server.
	var wg sync.WaitGroup
	var ra, rb result
	wg.Add(2)
	go func() { defer wg.Done(); ra = run(t, "shmif-node", bus, "10.0.0.3/24", "ping", "10.0.0.4", "50") }()
	go func() { defer wg.Done(); rb = run(t, "shmif-node", bus, "10.0.0.4/24", "ping", "10.0.0.3", "50") }()
	wg.Wait()
	checkEchoes(t, ra, 50)
	checkEchoes(t, rb, 50)
}

// TestNodeLossExitStatus: a pinger whose destination does not answer ARP,
// and pingers whose echoes go unanswered, exit 1.
func TestNodeLossExitStatus(t *testing.T) {
	bus := filepath.Join(t.TempDir(), "bus")
	r := run(t, "shmif-node", bus, "10.0.0.2/24", "ping", "10.0.0.99", "3")
	if r.code != 1 || !strings.Contains(r.stderr, "10.0.0.99 did not answer ARP") {
		t.Errorf("ping to nobody: want exit 1 and an ARP error: %v", r)
	}

	// Two udppingers resolve each other (every node answers ARP), but
	// neither runs the UDP echo service: each echo is lost after 1 s.
	var wg sync.WaitGroup
	var ra, rb result
	wg.Add(2)
	go func() { defer wg.Done(); ra = run(t, "shmif-node", bus, "10.0.0.3/24", "udpping", "10.0.0.4", "1") }()
	go func() { defer wg.Done(); rb = run(t, "shmif-node", bus, "10.0.0.4/24", "udpping", "10.0.0.3", "1") }()
	wg.Wait()
	for _, r := range []result{ra, rb} {
		if r.code != 1 || !strings.Contains(r.stdout, "1 sent, 0 received, 1 lost") ||
			rttLine.MatchString(r.stdout) {
			t.Errorf("unanswered udpping: want exit 1 and 1 lost, no rtt line: %v", r)
		}
	}
}

// TestNodeUsageErrors: bad arguments exit 2 before touching the bus.
func TestNodeUsageErrors(t *testing.T) {
	dir := t.TempDir()
	bus := filepath.Join(dir, "bus")
	for _, args := range [][]string{
		{bus, "10.0.0.2/24", "ping", "10.0.0.1", "1", "1473"},    // frame over 1514 bytes
		{bus, "10.0.0.2/24", "udpping", "10.0.0.1", "1", "1473"}, // frame over 1514 bytes
		{bus, "10.0.0.2/24", "ping", "10.0.1.1", "1"},            // not on the network
		{bus, "10.0.0.2/24", "ping", "10.0.0.2", "1"},            // itself
		{bus, "10.0.0.2/24", "ping", "10.0.0.1", "0"},
		{bus, "10.0.0.2", "serve", "1"},
		{bus, "10.0.0.2/33", "serve", "1"},
		{bus, "10.0.0.2/24", "serve", "-1"},
		{bus, "10.0.0.2/24", "dance", "1"},
		{bus, "10.0.0.2/24"},
	} {
		r := run(t, "shmif-node", args...)
		if r.code != 2 || !strings.Contains(r.stderr, "usage:") {
			t.Errorf("%v: want exit 2 and usage: %v", args, r)
		}
	}
	if _, err := os.Stat(bus); !os.IsNotExist(err) {
		t.Errorf("a usage error created the bus: %v", err)
	}
	// A bus path that cannot be opened is a setup error.
	r := run(t, "shmif-node", dir, "10.0.0.2/24", "serve", "0")
	if r.code != 2 || !strings.Contains(r.stderr, "directory") {
		t.Errorf("bus is a directory: want exit 2 and EISDIR: %v", r)
	}
}

// TestNodeGratuitousARP: a node announces its address as soon as it starts:
// a 42-byte broadcast ARP request whose sender and target IP are its own.
func TestNodeGratuitousARP(t *testing.T) {
	bus := filepath.Join(t.TempDir(), "bus")
	srv := startServer(t, bus, "10.0.0.5/24") // "serving" comes after the ARP
	mac := serverMAC(t, srv)
	_, frames := readBus(t, bus)
	stopServer(t, srv)
	if len(frames) != 1 {
		t.Fatalf("want 1 frame on the bus, found %d", len(frames))
	}
	f := frames[0].data
	want := concat(
		// Ethernet: broadcast, from the node, ARP.
		[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, mac, []byte{0x08, 0x06},
		// ARP: Ethernet/IPv4 request, sender MAC and IP, target MAC 0 and IP.
		[]byte{0, 1, 0x08, 0x00, 6, 4, 0, 1},
		mac, ip4("10.0.0.5"),
		make([]byte, 6), ip4("10.0.0.5"),
	)
	if !bytes.Equal(f, want) {
		t.Errorf("gratuitous ARP:\n got % x\nwant % x", f, want)
	}
}

func concat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// writePcap writes frames as a pcap file (Ethernet link type).
func writePcap(t *testing.T, path string, frames []busFrame) {
	t.Helper()
	le := binary.LittleEndian
	var b []byte
	b = le.AppendUint32(b, 0xa1b2c3d4) // magic: microsecond timestamps
	b = le.AppendUint16(b, 2)
	b = le.AppendUint16(b, 4)
	b = le.AppendUint32(b, 0)     // thiszone
	b = le.AppendUint32(b, 0)     // sigfigs
	b = le.AppendUint32(b, 65535) // snaplen
	b = le.AppendUint32(b, 1)     // LINKTYPE_ETHERNET
	for _, f := range frames {
		b = le.AppendUint32(b, f.sec)
		b = le.AppendUint32(b, f.usec)
		b = le.AppendUint32(b, uint32(len(f.data)))
		b = le.AppendUint32(b, uint32(len(f.data)))
		b = append(b, f.data...)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkFrameFormat checks what a real stack sends: ARP frames of exactly 42
// bytes, IPv4 frames without padding, TTL 64, DF clear, no fragments, and
// an IP id that goes up by one from each sender's packet to its next.
func checkFrameFormat(t *testing.T, frames []busFrame) (arp, ipv4 int) {
	t.Helper()
	lastID := map[uint64]uint16{}
	for k, fr := range frames {
		f := fr.data
		switch binary.BigEndian.Uint16(f[12:]) {
		case 0x0806:
			arp++
			if len(f) != 42 {
				t.Errorf("frame %d: ARP frame of %d bytes", k, len(f))
			}
		case 0x0800:
			ipv4++
			ip := f[14:]
			if len(ip) < 20 || ip[0] != 0x45 {
				t.Errorf("frame %d: IPv4 header % x", k, ip[:min(len(ip), 20)])
				continue
			}
			if tot := int(binary.BigEndian.Uint16(ip[2:])); tot != len(ip) {
				t.Errorf("frame %d: IPv4 length %d in a frame with %d bytes after the Ethernet header", k, tot, len(ip))
			}
			if ip[8] != 64 {
				t.Errorf("frame %d: TTL %d", k, ip[8])
			}
			if flags := binary.BigEndian.Uint16(ip[6:]); flags != 0 {
				t.Errorf("frame %d: flags/fragment offset %#04x, want DF clear and no fragment", k, flags)
			}
			id := binary.BigEndian.Uint16(ip[4:])
			if prev, ok := lastID[fr.sender]; ok && id != prev+1 {
				t.Errorf("frame %d: IP id %d after %d from the same sender", k, id, prev)
			}
			lastID[fr.sender] = id
		default:
			t.Errorf("frame %d: unexpected type % x", k, f[12:14])
		}
	}
	return arp, ipv4
}

// TestNodeChecksumsWithTshark: the frames of a ping and udpping session,
// written to a pcap, have good IPv4, ICMP and UDP checksums by Wireshark.
func TestNodeChecksumsWithTshark(t *testing.T) {
	dir := t.TempDir()
	bus := filepath.Join(dir, "bus")
	srv := startServer(t, bus, "10.0.0.1/24")
	for _, args := range [][]string{
		{"ping", "10.0.0.1", "20"},
		{"ping", "10.0.0.1", "5", "1472"},
		{"ping", "10.0.0.1", "5", "1"}, // odd length
		{"udpping", "10.0.0.1", "20", "1400"},
		{"udpping", "10.0.0.1", "5", "1472"},
		{"udpping", "10.0.0.1", "5", "0"},
		{"udpping", "10.0.0.1", "5", "7"}, // odd length
	} {
		r := run(t, "shmif-node", append([]string{bus, "10.0.0.2/24"}, args...)...)
		if r.code != 0 {
			t.Fatalf("%v: %v", args, r)
		}
	}
	stopServer(t, srv)

	_, frames := readBus(t, bus)
	arp, ipv4 := checkFrameFormat(t, frames)
	const echoes = 30 + 35 // ICMP + UDP
	if ipv4 != 2*echoes || arp < 1+3*7 {
		t.Errorf("bus holds %d IPv4 and %d ARP frames, want %d IPv4 and at least %d ARP", ipv4, arp, 2*echoes, 1+3*7)
	}
	pcap := filepath.Join(dir, "bus.pcap")
	writePcap(t, pcap, frames)

	tshark, err := exec.LookPath("tshark")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("tshark is not installed")
		}
		t.Skip("tshark is not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), processTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, tshark, "-n", "-r", pcap,
		"-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE", // ICMP is always checked
		"-T", "fields", "-E", "separator=|",
		"-e", "frame.number", "-e", "_ws.col.Protocol",
		"-e", "ip.checksum.status", "-e", "icmp.checksum.status", "-e", "udp.checksum.status")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(frames) {
		t.Fatalf("tshark read %d frames, the bus held %d", len(lines), len(frames))
	}
	good := map[string]int{}
	names := []string{"ip", "icmp", "udp"}
	for _, line := range lines {
		f := strings.Split(line, "|")
		if len(f) != 5 {
			t.Fatalf("tshark line %q", line)
		}
		for k, name := range names {
			for _, status := range strings.Split(f[2+k], ",") { // several for nested headers
				switch status {
				case "":
				case "1":
					good[name]++
				default:
					t.Errorf("frame %s (%s): %s checksum status %s, want 1 (good)", f[0], f[1], name, status)
				}
			}
		}
	}
	if good["ip"] != 2*echoes || good["icmp"] != 2*30 || good["udp"] != 2*35 {
		t.Errorf("good checksums: %v, want ip %d, icmp %d, udp %d", good, 2*echoes, 2*30, 2*35)
	}
}

// TestPollTwoInterfaces: shmif-poll waits on two buses with epoll and
// receives the broadcasts (gratuitous ARPs) that nodes put on either.
func TestPollTwoInterfaces(t *testing.T) {
	dir := t.TempDir()
	bus1, bus2 := filepath.Join(dir, "bus1"), filepath.Join(dir, "bus2")
	poll := start(t, "listening", "shmif-poll", bus1, bus2, "6", "10")
	// Each `serve 0` attaches, announces itself with one broadcast and leaves.
	for k := range 3 {
		for _, bus := range []string{bus1, bus2} {
			r := run(t, "shmif-node", bus, fmt.Sprintf("10.0.0.%d/24", 10+k), "serve", "0")
			if r.code != 0 {
				t.Fatalf("sender: %v", r)
			}
		}
	}
	r := poll.wait(0)
	want := fmt.Sprintf("shmif-poll: 3 frames from %s, 3 frames from %s", bus1, bus2)
	if r.code != 0 || !strings.Contains(r.stdout, want) {
		t.Fatalf("want exit 0 and %q: %v", want, r)
	}
	t.Log(strings.TrimSpace(r.stdout))
}

// TestPollTimeout: shmif-poll gives up with exit 1 when too few frames come.
func TestPollTimeout(t *testing.T) {
	dir := t.TempDir()
	r := run(t, "shmif-poll", filepath.Join(dir, "bus1"), filepath.Join(dir, "bus2"), "1", "1")
	if r.code != 1 || !strings.Contains(r.stderr, "timeout: 0 frames") {
		t.Fatalf("want exit 1 and a timeout: %v", r)
	}
	if r.elapsed < 900*time.Millisecond {
		t.Errorf("timed out after %v, want 1 s", r.elapsed)
	}
}

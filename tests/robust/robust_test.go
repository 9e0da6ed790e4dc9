// Package robust_test checks that libshmif survives what happens to shared
// buses in real life: the bus file truncated under a live interface, a
// writer killed in the middle of a record while holding the bus lock, a
// reader killed, many processes sending at once, interfaces created and
// destroyed thousands of times, and a C host's own signal handlers.
//
// Several tests run child processes. Go children are this test binary run
// again with the environment variable roleEnv naming what to do (see
// TestMain); C children are built from c/ against the built libshmif.so.
// The interface registry is one per process, so the tests run one at a time.
package robust_test

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
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

// roleEnv names the child role when this binary runs as a child process.
const roleEnv = "SHMIF_ROBUST_ROLE"

// roles are the child processes this binary can be; each exits the process.
var roles = map[string]func(){
	"deadwriter":   deadWriterChild,
	"reader":       readerChild,
	"stress":       stressChild,
	"stormwriter":  stormWriterChild,
	"stormreader":  stormReaderChild,
	"floodwriter":  floodWriterChild,
	"floodreader":  floodReaderChild,
	"netbsdreader": netbsdReaderChild,
}

func TestMain(m *testing.M) {
	if role := os.Getenv(roleEnv); role != "" {
		f, ok := roles[role]
		if !ok {
			fmt.Fprintf(os.Stderr, "unknown role %q\n", role)
			os.Exit(2)
		}
		f()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// fatalf ends a child process with a message for the parent's log.
func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}

// child is a running child process with its standard input and a line
// reader on its standard output; its standard error is kept for the log.
type child struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string // stdout, line by line; closed at EOF
	stderr *strings.Builder
}

// startChild runs this test binary as a child in role with extra
// environment variables ("K=V").
func startChild(t *testing.T, role string, env ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append([]string{roleEnv + "=" + role}, env...)...)
	return start(t, cmd)
}

// start starts cmd with pipes on its standard streams. The process is
// killed at the end of the test if it is still running.
func start(t *testing.T, cmd *exec.Cmd) *child {
	t.Helper()
	c := &child{cmd: cmd, lines: make(chan string, 64), stderr: new(strings.Builder)}
	var err error
	if c.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = c.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(c.lines)
		s := bufio.NewScanner(out)
		s.Buffer(make([]byte, 64<<10), 1<<20)
		for s.Scan() {
			c.lines <- s.Text()
		}
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return c
}

// expect waits up to timeout for the next line of output and returns it;
// it fails the test if the line does not start with prefix.
func (c *child) expect(t *testing.T, prefix string, timeout time.Duration) string {
	t.Helper()
	select {
	case l, ok := <-c.lines:
		if !ok {
			c.cmd.Wait()
			t.Fatalf("%s: exited (%v) before printing %q\nstderr:\n%s", c.cmd.Path, c.cmd.ProcessState, prefix, c.stderr)
		}
		if !strings.HasPrefix(l, prefix) {
			t.Fatalf("%s: printed %q, want %q...", c.cmd.Path, l, prefix)
		}
		return l
	case <-time.After(timeout):
		t.Fatalf("%s: no %q within %v\nstderr:\n%s", c.cmd.Path, prefix, timeout, c.stderr)
	}
	return ""
}

// rest returns the remaining lines of output, up to EOF; a process that
// has not finished its output within timeout is killed and fails the test.
func (c *child) rest(t *testing.T, timeout time.Duration) []string {
	t.Helper()
	var lines []string
	deadline := time.After(timeout)
	for {
		select {
		case l, ok := <-c.lines:
			if !ok {
				return lines
			}
			lines = append(lines, l)
		case <-deadline:
			c.cmd.Process.Kill()
			t.Fatalf("%s: still running after %v\n%s\nstderr:\n%s", c.cmd.Path, timeout, strings.Join(lines, "\n"), c.stderr)
		}
	}
}

// kill sends SIGKILL and reaps the process, returning when it was sent.
func (c *child) kill(t *testing.T) time.Time {
	t.Helper()
	at := time.Now()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	c.cmd.Wait()
	return at
}

// cc compiles the C program c/<name>.c against the header and the built
// library into dir/<out> and returns the executable's path. extra options
// come before the library on the command line.
func cc(t *testing.T, name, dir, out string, extra ...string) string {
	t.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("gcc not found")
	}
	build := testlib.Build(t)
	src := filepath.Join(testlib.Root(), "tests", "robust", "c", name+".c")
	out = filepath.Join(dir, out)
	args := []string{"-std=gnu11", "-O1", "-g", "-Wall", "-Wextra", "-Werror",
		"-I" + filepath.Join(testlib.Root(), "include"), "-o", out, src}
	args = append(args, extra...)
	args = append(args, "-L"+build, "-lshmif", "-Wl,-rpath,"+build, "-lpthread")
	if b, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
		t.Fatalf("gcc %s: %v\n%s", src, err, b)
	}
	return out
}

// exitStatus fails the test unless err (from Wait or Run) is a clean exit 0,
// telling a signal death apart from an exit status.
func exitStatus(t *testing.T, what string, st *os.ProcessState, out string) {
	t.Helper()
	if st == nil {
		t.Fatalf("%s did not run\n%s", what, out)
	}
	ws := st.Sys().(syscall.WaitStatus)
	switch {
	case ws.Signaled():
		t.Fatalf("%s killed by signal %v\n%s", what, ws.Signal(), out)
	case ws.ExitStatus() != 0:
		t.Fatalf("%s exited with status %d\n%s", what, ws.ExitStatus(), out)
	}
}

// Test frames. Every test frame is broadcast and carries its sender, a
// sequence number and a CRC-32 in the source MAC and type fields, so that
// frames of every size from 14 to 1514 bytes can be checked:
//
//	0-5    ff:ff:ff:ff:ff:ff
//	6      sender (0-255)
//	7-9    sequence number, 24 bits big-endian
//	10-13  CRC-32 (IEEE) of bytes 0-9, the frame length as 2 bytes
//	       big-endian, and bytes 14 to the end
//	14-    pseudo-random payload
const (
	minFrame = 14
	maxFrame = 1514
	maxSeq   = 1<<24 - 1
)

// frameSum is the checksum stored in bytes 10-13 of a test frame.
func frameSum(f []byte) uint32 {
	var n [2]byte
	binary.BigEndian.PutUint16(n[:], uint16(len(f)))
	s := crc32.Update(0, crc32.IEEETable, f[:10])
	s = crc32.Update(s, crc32.IEEETable, n[:])
	return crc32.Update(s, crc32.IEEETable, f[14:])
}

// putFrame fills f (14 to 1514 bytes) as a test frame.
func putFrame(f []byte, sender int, seq uint32, rng *rand.Rand) {
	for k := range 6 {
		f[k] = 0xff
	}
	f[6] = byte(sender)
	f[7], f[8], f[9] = byte(seq>>16), byte(seq>>8), byte(seq)
	for k := 14; k < len(f); k += 8 {
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], rng.Uint64())
		copy(f[k:], w[:])
	}
	binary.BigEndian.PutUint32(f[10:], frameSum(f))
}

// parseFrame checks a received test frame and returns its sender and
// sequence number; ok is false for anything else or a damaged frame.
func parseFrame(f []byte) (sender int, seq uint32, ok bool) {
	if len(f) < minFrame || len(f) > maxFrame {
		return 0, 0, false
	}
	for k := range 6 {
		if f[k] != 0xff {
			return 0, 0, false
		}
	}
	if binary.BigEndian.Uint32(f[10:]) != frameSum(f) {
		return 0, 0, false
	}
	return int(f[6]), uint32(f[7])<<16 | uint32(f[8])<<8 | uint32(f[9]), true
}

// TestFrameEncoding checks the test frames themselves: every size
// round-trips, and any single flipped bit or a shortened frame is caught.
func TestFrameEncoding(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, maxFrame)
	for size := minFrame; size <= maxFrame; size++ {
		f := buf[:size]
		putFrame(f, size%256, uint32(size*7919)&maxSeq, rng)
		s, q, ok := parseFrame(f)
		if !ok || s != size%256 || q != uint32(size*7919)&maxSeq {
			t.Fatalf("size %d: got %d %d %v", size, s, q, ok)
		}
		bit := rng.IntN(size*8-48) + 48 // not the broadcast address
		f[bit/8] ^= 1 << (bit % 8)
		if _, _, ok := parseFrame(f); ok {
			t.Fatalf("size %d: flipped bit %d not detected", size, bit)
		}
		f[bit/8] ^= 1 << (bit % 8)
		if size > minFrame {
			if _, _, ok := parseFrame(f[:size-1]); ok {
				t.Fatalf("size %d: truncation not detected", size)
			}
		}
	}
}

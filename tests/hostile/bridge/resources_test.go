package hostile_test

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// prlimited runs the bridge under prlimit with a small descriptor limit.
func prlimited(t *testing.T, nofile string) func(*exec.Cmd) {
	t.Helper()
	p, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skip("no prlimit (util-linux)")
	}
	return func(c *exec.Cmd) {
		c.Args = append([]string{p, "--nofile=" + nofile + ":" + nofile, c.Path}, c.Args[1:]...)
		c.Path = p
	}
}

// exhaust opens up to n non-blocking connections to a unix socket and
// keeps them.
func exhaust(path string, n int) []int {
	var fds []int
	for i := 0; i < n; i++ {
		fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK, 0)
		if err != nil {
			break
		}
		if err := syscall.Connect(fd, &syscall.SockaddrUnix{Name: path}); err != nil {
			syscall.Close(fd)
			break
		}
		fds = append(fds, fd)
	}
	return fds
}

// TestStreamListenerPeersPileUp: peers that connect and sit in the
// listen backlog while another is connected make the bridge neither spin
// nor stop listening: once they leave, the next peer's frames reach the
// bus. (Peers beyond the first are turned away, so they cost the bridge no
// descriptor; running out of them is TestDefectControlDiesOnEMFILE's
// business.)
func TestStreamListenerPeersPileUp(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bus := filepath.Join(dir, "bus")
	sock := filepath.Join(dir, "s.sock")
	rx := collect(t, attach(t, bus))
	br := startBridge(t, nil, bus, "stream://listen:unix:"+sock)
	first, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	var fds []int
	for i := 0; i < 20 && len(fds) < 200; i++ {
		fds = append(fds, exhaust(sock, 200-len(fds))...)
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	cpu0 := br.cpu()
	time.Sleep(time.Second)
	spent := br.cpu() - cpu0
	for _, fd := range fds {
		syscall.Close(fd)
	}
	first.Close()
	m := br.counters()
	t.Logf("%d connections piled up (refused=%d); bridge CPU %v in 1 s", len(fds), m["ep.refused"], spent)
	if spent > 300*time.Millisecond {
		t.Errorf("bridge used %v of CPU in 1 s with peers piled up", spent)
	}
	time.Sleep(300 * time.Millisecond)
	c, err := dialRetry("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write(prefixed(4, 70, makeFrame(19, 1, 70)))
	if !rx.waitFor(5*time.Second, hasSeq(19, 1)) {
		t.Errorf("after peers piled up the listener no longer takes peers")
	}
}

// TestBusTruncatedUnderBridge: a bus file truncated (or its magic
// overwritten) under a running bridge makes it exit 1 with one line saying
// so ("It exits 1 ... when the endpoint or the bus fails while bridging",
// shmif_bridge(1)), not crash with SIGBUS.
func TestBusTruncatedUnderBridge(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		which  int // 0: the bridge's bus, 1: the shmif:// endpoint's
		damage func(path string) error
	}{
		{"truncate bus", 0, func(p string) error { return os.Truncate(p, 0) }},
		{"truncate endpoint bus", 1, func(p string) error { return os.Truncate(p, 4096) }},
		{"overwrite magic", 0, func(p string) error {
			f, err := os.OpenFile(p, os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.WriteAt([]byte("junk"), 0)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			buses := []string{filepath.Join(dir, "a"), filepath.Join(dir, "b")}
			txA, txB := attach(t, buses[0]), attach(t, buses[1])
			br := startBridge(t, nil, buses[0], "shmif://"+buses[1])
			if err := tc.damage(buses[tc.which]); err != nil {
				t.Fatal(err)
			}
			// Traffic makes the bridge notice.
			deadline := time.Now().Add(5 * time.Second)
			for !br.exited() && time.Now().Before(deadline) {
				txA.Send(makeFrame(20, 1, 60))
				txB.Send(makeFrame(20, 2, 60))
				time.Sleep(20 * time.Millisecond)
			}
			if !br.wait(5 * time.Second) {
				t.Logf("bridge still runs 5 s after %s (stderr: %q)", tc.name, br.stderr.String())
				t.Errorf("bridge still runs after %s", tc.name)
				return
			}
			ws := br.cmd.ProcessState.Sys().(syscall.WaitStatus)
			lines := stderrLines(br.stderr.String(), "shmif_bridge:")
			t.Logf("%s: %v; %q", tc.name, br.err, firstNonCounter(lines))
			if ws.Signaled() || ws.ExitStatus() != 1 {
				t.Errorf("%s: bridge ended with %v, want exit 1", tc.name, br.err)
			}
		})
	}
}

func firstNonCounter(lines []string) string {
	for _, l := range lines {
		if !strings.Contains(l, "frames=") && !strings.Contains(l, "bridging") {
			return l
		}
	}
	return ""
}

var _ = net.Dial

package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/libshmif/libshmif/core/shmif"
	"github.com/libshmif/libshmif/internal/testlib"
)

// bin is shmif_bridge, built once.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "shmif_bridge-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "shmif_bridge")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.Exit(1)
	}
	os.Chmod(dir, 0o755)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// fails runs shmif_bridge with args and requires exit status 1 and one
// line on stderr containing want.
func fails(t *testing.T, want string, args ...string) {
	t.Helper()
	failsCmd(t, want, exec.Command(bin, args...))
}

func failsCmd(t *testing.T, want string, cmd *exec.Cmd) {
	t.Helper()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	}
	msg := stderr.String()
	if code != 1 || strings.Count(msg, "\n") != 1 || !strings.HasPrefix(msg, "shmif_bridge: ") || !strings.Contains(msg, want) {
		t.Errorf("%v: exit %d, want 1 and one line with %q:\n%s", cmd.Args[1:], code, want, msg)
	}
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	bus := filepath.Join(dir, "bus")
	fails(t, "expected BUS and ENDPOINT")
	fails(t, "expected BUS and ENDPOINT", bus)
	fails(t, "flag provided but not defined: -x", "-x", bus, "stdio")
	fails(t, "-mode: expected octal", "-mode", "999", bus, "stdio")
	fails(t, `unknown scheme "foo"`, bus, "foo://bar")
	fails(t, "not an endpoint URL", bus, "/tmp/x")
	fails(t, "expected udp://[SRC:]SPORT->DST:DPORT", bus, "udp://5000")
	fails(t, "mtu: expected a number from 68 to 65521", bus, "tap://x/mtu=abc")
	fails(t, `unknown option "mtus"`, bus, "tap://x/mtus=1500")
	fails(t, "add /public to mean that", bus, "stream://listen:tcp:0.0.0.0:7000")
	fails(t, "expected unix:PATH or tcp:HOST:PORT", bus, "stream://localhost:7000")
	fails(t, "vni", bus, "vxlan://127.0.0.1")
	if _, err := os.Stat(bus); err == nil {
		t.Error("a bus file was made by a command that failed")
	}
}

func TestPortInUse(t *testing.T) {
	bus := filepath.Join(t.TempDir(), "bus")
	u, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	port := strconv.Itoa(u.LocalAddr().(*net.UDPAddr).Port)
	fails(t, "address already in use", bus, "udp://127.0.0.1:"+port+"->127.0.0.1:9")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port = strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	fails(t, "address already in use", bus, "stream://listen:tcp:"+port)
}

func TestBusErrors(t *testing.T) {
	dir := t.TempDir()
	fails(t, "is a directory", dir, "shmif://"+filepath.Join(dir, "b2"))
	notBus := filepath.Join(dir, "notes.txt")
	content := []byte("not a bus\n")
	os.WriteFile(notBus, content, 0o644)
	fails(t, "not a shmif bus file (left unchanged)", notBus, "shmif://"+filepath.Join(dir, "b2"))
	if b, _ := os.ReadFile(notBus); !bytes.Equal(b, content) {
		t.Error("the file was changed")
	}
	fails(t, "not a shmif bus file", filepath.Join(dir, "b1"), "shmif://"+notBus)
	fails(t, "no such file or directory", filepath.Join(dir, "none", "bus"), "shmif://"+filepath.Join(dir, "b2"))
}

// Opening a tap needs privileges: as nobody, one message and status 1.
func TestTapPermission(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a command as nobody")
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o777)
	for d := filepath.Dir(dir); d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	cmd := exec.Command(bin, filepath.Join(dir, "bus"), "tap://shbperm0")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	want := "operation not permitted"
	if st, err := os.Stat("/dev/net/tun"); err == nil && st.Mode().Perm()&0o006 != 0o006 {
		want = "permission denied"
	}
	failsCmd(t, want, cmd)
}

func TestHelp(t *testing.T) {
	r := testlib.Run(t, "", bin, "-h")
	if r.Code != 0 || !strings.Contains(r.Stderr, "usage: shmif_bridge") || !strings.Contains(r.Stderr, "-learning") {
		t.Fatalf("exit %d:\n%s", r.Code, r.Stderr)
	}
}

// A bridge runs until SIGTERM, prints its counters on SIGUSR1 and at exit,
// exits 0 and leaves the buses intact.
func TestSignals(t *testing.T) {
	dir := t.TempDir()
	bus1, bus2 := filepath.Join(dir, "bus1"), filepath.Join(dir, "bus2")
	cmd := exec.Command(bin, "-v", "-interval", "1h", bus1, "shmif://"+bus2, "-learning", "-ageing", "10")
	var stderr testlib.SyncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	// The endpoint's bus2 is made first and bus1 after it: a frame sent
	// before the bridge is attached to bus1 is not forwarded. "bridging"
	// says it is.
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(stderr.String(), "bridging"); {
		if time.Now().After(deadline) {
			t.Fatalf("the bridge did not start:\n%s", stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	a, err := shmif.Open(bus1, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Destroy()
	f := make([]byte, 60)
	copy(f, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x88, 0xb5})
	a.Send(f)
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(stderr.String(), "frames=1 "); {
		cmd.Process.Signal(syscall.SIGUSR1)
		time.Sleep(20 * time.Millisecond)
		if time.Now().After(deadline) {
			t.Fatalf("no counters on SIGUSR1:\n%s", stderr.String())
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%v:\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if last := lines[len(lines)-1]; !strings.Contains(last, "bus->shmif://"+bus2+" frames=1 ") {
		t.Fatalf("last line: %s", last)
	}
	for _, bus := range []string{bus1, bus2} {
		if _, err := shmif.Open(bus, -1); err != nil {
			t.Fatalf("%s after the bridge: %v", bus, err)
		}
	}
}

// Unix socket listeners are 0600 whatever the umask, or exactly the mode
// asked for.
func TestListenerModes(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		umask, opt string
		want       os.FileMode
	}{{"000", "", 0o600}, {"077", "/mode=0660", 0o660}, {"000", "/mode=0640", 0o640}} {
		sock := filepath.Join(dir, "s")
		cmd := exec.Command("sh", "-c", "umask "+c.umask+"; exec \"$0\" \"$@\"", bin, "-v", filepath.Join(dir, "bus"), "stream://listen:unix:"+sock+c.opt)
		var stderr testlib.SyncBuffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// With a umask that would mask the mode asked for, the mode
		// is set just after bind has made the file: look once the
		// bridge says it is bridging (-v), not as soon as the file is
		// there.
		var st os.FileInfo
		var err error
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			if strings.Contains(stderr.String(), "bridging") {
				st, err = os.Lstat(sock)
				break
			}
			if time.Now().After(deadline) {
				err = fmt.Errorf("no bridging line within 10 s: %q", stderr.String())
				break
			}
		}
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != c.want {
			t.Errorf("umask %s, %q: mode %03o, want %03o", c.umask, c.opt, st.Mode().Perm(), c.want)
		}
		if _, err := os.Lstat(sock); err == nil {
			t.Errorf("socket file left behind")
		}
	}
}

func TestImpairBadInput(t *testing.T) {
	bus := filepath.Join(t.TempDir(), "bus")
	fails(t, "-impair: ", "-impair", "loss 200%", bus, "stdio")
	fails(t, "-impair: ", "-impair", "delay 10", bus, "stdio")
	fails(t, "-impair: ", "-impair", "sideways loss 1%", bus, "stdio")
	fails(t, "-seed: expected", "-seed", "x", bus, "stdio")
	fails(t, "-control-mode: expected octal", "-control-mode", "8", bus, "stdio")
	sock := filepath.Join(t.TempDir(), "taken")
	os.WriteFile(sock, nil, 0o600)
	fails(t, "-control: ", "-control", sock, bus, "stdio")
	if _, err := os.Stat(bus); err == nil {
		t.Error("a bus file was made by a command that failed")
	}
}

// Impairments from the command: a link that loses everything left to
// right, opened by a control command while it runs; the counters, the
// decision log and the exit report agree with what arrived.
func TestImpairControl(t *testing.T) {
	dir := t.TempDir()
	bus1, bus2 := filepath.Join(dir, "bus1"), filepath.Join(dir, "bus2")
	sock, logFile := filepath.Join(dir, "ctl"), filepath.Join(dir, "log")
	cmd := exec.Command(bin, bus1, "shmif://"+bus2, "-v", "-impair", "LR loss 100%", "-seed", "7",
		"-control", sock, "-impair-log", logFile)
	var stderr testlib.SyncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	// The start lines: "bridging ...", then the impairments.
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(stderr.String(), "impair seed"); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the bridge did not start:\n%s", stderr.String())
		}
	}
	if st, err := os.Lstat(sock); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("control socket: %v, %v", st, err)
	}
	if !strings.Contains(stderr.String(), "seed 7") || !strings.Contains(stderr.String(), "LR loss 100%") {
		t.Errorf("the start line does not show the impairments:\n%s", stderr.String())
	}
	control := func(line string) string {
		c, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintln(c, line)
		var reply strings.Builder
		buf := make([]byte, 4096)
		for !strings.HasSuffix(reply.String(), "ok\n") && !strings.HasPrefix(reply.String(), "error") {
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			n, err := c.Read(buf)
			if err != nil {
				t.Fatalf("%s: %v after %q", line, err, reply.String())
			}
			reply.Write(buf[:n])
		}
		return reply.String()
	}
	a, err := shmif.Open(bus1, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Destroy()
	b, err := shmif.Open(bus2, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Destroy()
	send := func(n int) {
		f := make([]byte, 60)
		copy(f, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x88, 0xb5})
		for i := range n {
			f[20] = byte(i)
			a.Send(f)
		}
	}
	// recv receives until want frames came (10 s at most), then until
	// quiet for 300 ms, so that extra frames are seen too.
	recv := func(want int) int {
		buf := make([]byte, 1514)
		n := 0
		deadline := time.Now().Add(10 * time.Second)
		for {
			wait := 300 * time.Millisecond
			if n < want {
				wait = max(time.Until(deadline), time.Millisecond)
			}
			if _, err := b.Recv(buf, wait); err != nil {
				return n
			}
			n++
		}
	}
	// waitIn waits until the stage has taken n frames: those sent before
	// the loss is changed must meet the loss they were sent under.
	waitIn := func(n int) {
		want := fmt.Sprintf("LR in=%d/", n)
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			r := control("counters LR")
			if strings.HasPrefix(r, want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the stage did not take %d frames: %q", n, r)
			}
		}
	}
	send(10)
	waitIn(10)
	if got := recv(0); got != 0 {
		t.Errorf("%d frames crossed a link that loses all", got)
	}
	if r := control("set LR loss 0%"); r != "ok\n" {
		t.Fatalf("set: %q", r)
	}
	if r := control("set LR loss lots"); !strings.HasPrefix(r, "error: ") {
		t.Errorf("a malformed command: %q", r)
	}
	send(10)
	if got := recv(10); got != 10 {
		t.Errorf("%d of 10 frames crossed after the loss was removed", got)
	}
	if r := control("counters LR"); !strings.HasPrefix(r, "LR in=20/1200 out=10/600 queued=0/0 lost=10/600 ") {
		t.Errorf("counters: %q", r)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%v:\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "impair LR in=20/1200 out=10/600") {
		t.Errorf("the exit report lacks the impairment counters:\n%s", stderr.String())
	}
	if _, err := os.Lstat(sock); err == nil {
		t.Error("the control socket was left behind")
	}
	log, _ := os.ReadFile(logFile)
	if lines := strings.Count(string(log), "\nLR ") + strings.Count(string(log[:min(3, len(log))]), "LR "); lines != 20 {
		t.Errorf("the decision log has %d LR lines, want 20:\n%s", lines, log)
	}
	if n := strings.Count(string(log), "drop=loss"); n != 10 {
		t.Errorf("the decision log has %d losses, want 10:\n%s", n, log)
	}
}

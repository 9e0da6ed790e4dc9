package hostile_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// ctl sends one command line on a new control connection, half-closes it
// and returns everything the bridge answered.
func ctl(t testing.TB, path, line string) string {
	t.Helper()
	c, err := net.DialTimeout("unix", path, 5*time.Second)
	if err != nil {
		t.Fatalf("control %s: %v", path, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, line+"\n"); err != nil && !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("control write: %v", err)
	}
	c.(*net.UnixConn).CloseWrite()
	b, err := io.ReadAll(c)
	if err != nil && !(len(b) > 0 && errors.Is(err, syscall.ECONNRESET)) {
		// A reset after the reply is how a bridge may drop a connection
		// that sent more than it reads.
		t.Fatalf("control %q: read: %v (got %q)", trunc(line, 80), err, b)
	}
	return string(b)
}

// controlBridge runs a bridge between two new buses with a control socket
// and a sender of paced frames on the first bus; recv counts them on the
// second.
type controlBridge struct {
	br      *proc
	ctlPath string
	busA    string
	busB    string
	sent    atomic.Uint64
	rx      *collector
	stop    chan struct{}
	done    chan struct{}
}

func startControlBridge(t *testing.T, extra ...string) *controlBridge {
	dir := t.TempDir()
	cb := &controlBridge{
		ctlPath: filepath.Join(dir, "ctl"),
		busA:    filepath.Join(dir, "a"),
		busB:    filepath.Join(dir, "b"),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	cb.rx = collect(t, attach(t, cb.busB))
	tx := attach(t, cb.busA)
	args := append([]string{"-control", cb.ctlPath, "-seed", "7"}, extra...)
	args = append(args, cb.busA, "shmif://"+cb.busB)
	cb.br = startBridge(t, nil, args...)
	go func() {
		defer close(cb.done)
		for {
			select {
			case <-cb.stop:
				return
			case <-time.After(time.Millisecond):
			}
			n := cb.sent.Load() + 1
			if err := tx.Send(makeFrame(30, n, 100)); err != nil {
				return
			}
			cb.sent.Store(n)
		}
	}()
	t.Cleanup(cb.halt)
	return cb
}

func (cb *controlBridge) halt() {
	select {
	case <-cb.stop:
	default:
		close(cb.stop)
	}
	<-cb.done
}

// malformedCommands are command lines that must each get one line
// "error: ..." and change nothing.
var malformedCommands = []string{
	"bogus",
	"show XX",
	"show LR RL",
	"show LR extra",
	"set",
	"set LR",
	"set XX loss 5%",
	"set loss",
	"set loss 101%",
	"set loss -1%",
	"set loss 5%%",
	"set loss abc",
	"set loss NaN",
	"set loss NaN%",
	"set loss Inf%",
	"set loss 0x10",
	"set loss 5% 200%",
	"set loss 5% -5%",
	"set loss gemodel",
	"set loss gemodel 200",
	"set loss gemodel 50% 150%",
	"set loss random",
	"set loss 50% lostburst 0.5",
	"set lostburst -1",
	"set delay",
	"set delay 10",
	"set delay -5ms",
	"set delay 10ms -1ms",
	"set delay 10ms 1ms 200%",
	"set delay NaNms",
	"set delay 1e400ms",
	"set delay 99999999999999999999h",
	"set distribution",
	"set distribution cauchy",
	"set duplicate",
	"set duplicate 120%",
	"set dup x",
	"set corrupt -3%",
	"set noise -1",
	"set noise x",
	"set reorder 200%",
	"set gap -3",
	"set gap 1.5",
	"set gap x",
	"set rate",
	"set rate 1zbit",
	"set rate -5mbit",
	"set rate mbit",
	"set rate 99999999999999999999999tbit",
	"set rate 10mbit x",
	"set limit -1",
	"set limit 1.5",
	"set limit 99999999999999999999",
	"set mtu -1",
	"set mtu x",
	"set flap",
	"set flap 1s",
	"set flap 0s 50%",
	"set flap -1s 50%",
	"set flap 1s 150%",
	"set LR loss 5% RL bogus 7",
	"set loss 5% delay",
	"set loss 5% LR",
	"set both",
	"set none extra",
	"set " + strings.Repeat("loss 5% ", 20000) + "bogus",
	"flap",
	"flap LR",
	"flap LR sideways",
	"flap 10s",
	"flap 10s 200%",
	"flap -1s 50%",
	"flap 0s 50%",
	"flap both 1s 50% extra",
	"flap XX down",
	"flap down now",
	"counters XX",
	"counters LR reset now",
	"counters LR LR",
	"quit now",
	"set\x00 loss 50%",
	"show\x00",
	"\x00\x00\x00",
	"set loss 50%\x00",
	"\xff\xfe\xfd set loss 50%",
	"set loss 5\xff%",
}

// TestControlMalformedCommands: every malformed command gets exactly one
// line "error: ..." and changes nothing ("a single line "error: ..." when
// nothing was changed", go doc core/impair), checked with show and counters
// before and after; frames keep crossing the bridge meanwhile.
func TestControlMalformedCommands(t *testing.T) {
	t.Parallel()
	cb := startControlBridge(t)
	show0 := ctl(t, cb.ctlPath, "show")
	if !strings.HasPrefix(show0, "seed 7\n") || !strings.HasSuffix(show0, "ok\n") {
		t.Fatalf("show: %q", show0)
	}
	fwd0 := cb.rx.count()
	accepted := 0
	for _, cmd := range malformedCommands {
		reply := ctl(t, cb.ctlPath, cmd)
		short := cmd
		if len(short) > 60 {
			short = short[:60] + "..."
		}
		lines := strings.Split(strings.TrimSuffix(reply, "\n"), "\n")
		if !strings.HasPrefix(reply, "error: ") || len(lines) != 1 {
			accepted++
			t.Errorf("command %q: reply %q, want one line \"error: ...\"", short, reply)
		}
		if s := ctl(t, cb.ctlPath, "show"); s != show0 {
			t.Errorf("command %q changed the settings:\n%s\nwas:\n%s", short, s, show0)
			ctl(t, cb.ctlPath, "set none") // back to the start
		}
	}
	// Several commands on one connection, malformed ones among them: each
	// gets its reply and the connection goes on.
	c, err := net.Dial("unix", cb.ctlPath)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "show\nbogus\nset loss 500%\nshow LR\nquit\n")
	all, _ := io.ReadAll(c)
	c.Close()
	want := show0 + "error:"
	rest := strings.TrimPrefix(string(all), show0)
	if !strings.HasPrefix(string(all), want) || strings.Count(string(all), "error:") != 2 ||
		!strings.Contains(rest, "LR none\nok\n") || strings.Contains(rest, "RL none") {
		t.Errorf("pipelined commands: got %q", all)
	}
	if !cb.rx.waitFor(10*time.Second, func(rs []received) bool { return len(rs) > fwd0 }) {
		t.Errorf("no frame crossed the bridge while it answered %d commands", len(malformedCommands))
	}
	if cb.br.exited() {
		t.Fatalf("bridge exited: %v", cb.br.err)
	}
}

// TestControlHostileConnections: a 1 MiB line, binary junk, hundreds of
// concurrent connections, and connections that send commands without ever
// reading a reply. The bridge keeps answering well-behaved clients, keeps
// forwarding, and its settings stay what they were.
func TestControlHostileConnections(t *testing.T) {
	t.Parallel()
	cb := startControlBridge(t)
	show0 := ctl(t, cb.ctlPath, "show")

	// A 1 MiB line.
	long := strings.Repeat("x", 1<<20)
	c, err := net.Dial("unix", cb.ctlPath)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	_, werr := io.WriteString(c, "set loss 50% "+long+"\nshow\n")
	c.(*net.UnixConn).CloseWrite()
	reply, rerr := io.ReadAll(c)
	c.Close()
	t.Logf("1 MiB line: write %v, read %v, reply %q", werr, rerr, trunc(string(reply), 120))
	if strings.Contains(string(reply), "ok") && !strings.HasPrefix(string(reply), "error") {
		t.Errorf("a 1 MiB line was accepted: %q", trunc(string(reply), 200))
	}

	// Binary junk, newlines included.
	r := rand.New(rand.NewSource(8))
	for i := 0; i < 20; i++ {
		junk := make([]byte, 1+r.Intn(8192))
		r.Read(junk)
		c, err := net.Dial("unix", cb.ctlPath)
		if err != nil {
			t.Fatalf("junk %d: %v", i, err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.Write(junk)
		c.(*net.UnixConn).CloseWrite()
		io.Copy(io.Discard, c)
		c.Close()
	}

	// Connections that write commands and never read: 50 of them, each
	// writing until its socket buffer is full.
	var hogs []net.Conn
	for i := 0; i < 50; i++ {
		h, err := net.Dial("unix", cb.ctlPath)
		if err != nil {
			t.Fatalf("hog %d: %v", i, err)
		}
		hogs = append(hogs, h)
		go func(h net.Conn) {
			h.SetWriteDeadline(time.Now().Add(3 * time.Second))
			cmd := []byte(strings.Repeat("help\n", 1000))
			for {
				if _, err := h.Write(cmd); err != nil {
					return
				}
			}
		}(h)
	}
	defer func() {
		for _, h := range hogs {
			h.Close()
		}
	}()

	// 300 concurrent well-behaved clients, while the hogs hog.
	fwd0 := cb.rx.count()
	start := time.Now()
	var wg sync.WaitGroup
	var bad atomic.Int32
	errs := make(chan string, 300)
	for i := 0; i < 300; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.DialTimeout("unix", cb.ctlPath, 10*time.Second)
			if err != nil {
				bad.Add(1)
				errs <- err.Error()
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(15 * time.Second))
			io.WriteString(c, "show\n")
			br := bufio.NewReader(c)
			var got strings.Builder
			for {
				l, err := br.ReadString('\n')
				got.WriteString(l)
				if err != nil || l == "ok\n" || strings.HasPrefix(l, "error") {
					break
				}
			}
			if got.String() != show0 {
				bad.Add(1)
				errs <- got.String()
			}
		}()
	}
	wg.Wait()
	close(errs)
	elapsed := time.Since(start)
	for e := range errs {
		t.Errorf("a concurrent client got %q", trunc(e, 200))
		break
	}
	t.Logf("300 concurrent show with 50 hogs: %d failed, %v", bad.Load(), elapsed.Round(time.Millisecond))
	if !cb.rx.waitFor(10*time.Second, func(rs []received) bool { return len(rs) > fwd0 }) {
		t.Errorf("nothing crossed the bridge during the assault")
	}
	if s := ctl(t, cb.ctlPath, "show"); s != show0 {
		t.Errorf("settings changed by the assault:\n%s\nwas\n%s", s, show0)
	}
	// Every frame sent so far crossed (no impairment is set).
	cb.halt()
	n := cb.sent.Load()
	if !cb.rx.waitFor(5*time.Second, func(rs []received) bool {
		c, _ := seqCount(rs, 30)
		return uint64(len(c)) >= n
	}) {
		c, _ := seqCount(cb.rx.frames(), 30)
		t.Errorf("%d of %d frames crossed the bridge", len(c), n)
	}
	cpu0 := cb.br.cpu()
	time.Sleep(500 * time.Millisecond)
	if d := cb.br.cpu() - cpu0; d > 200*time.Millisecond {
		t.Errorf("bridge used %v of CPU in 0.5 s with only idle hogs connected", d)
	}
	if cb.br.exited() {
		t.Fatalf("bridge exited: %v", cb.br.err)
	}
}

func trunc(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// TestControlSocketMode: the control socket gets exactly the mode asked
// (0600 by default) whatever the umask (go doc core/impair ListenControl:
// "a unix socket of exactly the mode asked ... whatever the umask").
func TestControlSocketMode(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		umask string
		mode  string // -control-mode, "" for the default
		want  os.FileMode
	}{
		{"000", "", 0o600},
		{"022", "", 0o600},
		{"077", "", 0o600},
		{"777", "", 0o600},
		{"000", "0660", 0o660},
		{"777", "0660", 0o660},
		{"077", "0666", 0o666},
	} {
		dir := t.TempDir()
		path := filepath.Join(dir, "ctl")
		bus := filepath.Join(dir, "bus")
		args := []string{"-control", path, "-seed", "1"}
		if tc.mode != "" {
			args = append(args, "-control-mode", tc.mode)
		}
		args = append(args, bus, "shmif://"+filepath.Join(dir, "bus2"))
		shell := fmt.Sprintf("umask %s; exec %s -v -interval 1h %s", tc.umask, bridgeBin, shellQuote(args))
		br := startProc(t, nil, "/bin/sh", "-c", shell)
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(br.stderr.String(), "bridging") && !br.exited() && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		st, err := os.Lstat(path)
		if err != nil {
			t.Errorf("umask %s mode %q: %v\n%s", tc.umask, tc.mode, err, br.stderr.String())
			continue
		}
		if st.Mode()&os.ModeSocket == 0 || st.Mode().Perm() != tc.want || st.Mode()&(os.ModeSetuid|os.ModeSetgid|os.ModeSticky) != 0 {
			t.Errorf("umask %s -control-mode %q: socket mode %v, want %v", tc.umask, tc.mode, st.Mode(), tc.want)
		}
		// No private directory left behind next to it.
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if e.IsDir() {
				t.Errorf("a directory %s was left next to the socket", e.Name())
			}
		}
		br.stop()
		if _, err := os.Lstat(path); err == nil {
			t.Errorf("control socket left behind after SIGTERM")
		}
	}
	// Modes that are not permission bits.
	for _, mode := range []string{"4755", "1777", "0x1ff", "rw", "-1", "99999999999", "0888"} {
		dir := t.TempDir()
		out, err := exec.Command(bridgeBin, "-control", filepath.Join(dir, "ctl"), "-control-mode", mode,
			filepath.Join(dir, "bus"), "shmif://"+filepath.Join(dir, "bus2")).CombinedOutput()
		if err == nil {
			t.Errorf("-control-mode %s accepted", mode)
		} else if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || strings.Count(strings.TrimSpace(string(out)), "\n") != 0 {
			t.Errorf("-control-mode %s: %v, want exit 1 with one line:\n%s", mode, err, out)
		}
		if _, err := os.Lstat(filepath.Join(dir, "ctl")); err == nil {
			t.Errorf("-control-mode %s: a socket was made", mode)
		}
	}
}

func shellQuote(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

// TestControlPathTaken: an existing file at the control path is an error
// (EADDRINUSE, go doc core/impair ListenControl) and is left alone; the
// socket of a bridge killed with SIGKILL stays behind and a restart on the
// same path fails the same way.
func TestControlPathTaken(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "ctl")
	os.WriteFile(path, []byte("precious"), 0o644)
	out, err := exec.Command(bridgeBin, "-control", path, filepath.Join(dir, "bus"), "shmif://"+filepath.Join(dir, "bus2")).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Errorf("control path taken by a file: %v\n%s", err, out)
	}
	if b, _ := os.ReadFile(path); string(b) != "precious" {
		t.Errorf("the file at the control path was changed: %q", b)
	}
	t.Logf("taken by a file: %s", strings.TrimSpace(string(out)))

	path2 := filepath.Join(dir, "ctl2")
	br := startBridge(t, nil, "-control", path2, filepath.Join(dir, "bus3"), "shmif://"+filepath.Join(dir, "bus4"))
	br.cmd.Process.Kill()
	<-br.done
	// A socket left by a killed bridge is replaced (shmif_bridge(1),
	// as stream://listen: sockets are): the restart serves it.
	br2 := startBridge(t, nil, "-control", path2, filepath.Join(dir, "bus3"), "shmif://"+filepath.Join(dir, "bus4"))
	defer br2.cmd.Process.Kill()
	var reply string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		c, err := net.Dial("unix", path2)
		if err != nil {
			continue
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.Write([]byte("show\n"))
		buf := make([]byte, 256)
		n, _ := c.Read(buf)
		c.Close()
		if reply = string(buf[:n]); strings.HasPrefix(reply, "seed") {
			return
		}
	}
	t.Errorf("restart on a stale control socket does not answer: %q\n%s", reply, br2.stderr.String())
}

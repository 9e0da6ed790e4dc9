package impair

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// client speaks the control protocol.
type client struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func dial(t *testing.T, path string) *client {
	t.Helper()
	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &client{t, conn, bufio.NewReader(conn)}
}

// do sends a command and returns the lines of its reply, the final "ok"
// or "error: ..." line included.
func (c *client) do(cmd string) []string {
	c.t.Helper()
	if _, err := c.conn.Write([]byte(cmd + "\n")); err != nil {
		c.t.Fatalf("%q: %v", cmd, err)
	}
	var lines []string
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("%q: reply %q then %v", cmd, lines, err)
		}
		line = strings.TrimSuffix(line, "\n")
		lines = append(lines, line)
		if line == "ok" || strings.HasPrefix(line, "error: ") {
			return lines
		}
	}
}

func controlStage(t *testing.T) (*Stage, *client) {
	t.Helper()
	s, err := New(Config{Seed: 7, Sink: func(Dir, [][]byte) {}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	l, err := ListenControl(filepath.Join(t.TempDir(), "ctl"), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	go s.ServeControl(l)
	return s, dial(t, l.Addr().String())
}

func TestListenControlModeIgnoresUmask(t *testing.T) {
	for _, umask := range []int{0, 0o022, 0o077, 0o777} {
		for _, perm := range []os.FileMode{0o600, 0o660, 0o666} {
			old := unix.Umask(umask)
			dir := t.TempDir()
			path := filepath.Join(dir, "ctl")
			l, err := ListenControl(path, perm)
			unix.Umask(old)
			if err != nil {
				t.Fatalf("umask %#o perm %#o: %v", umask, perm, err)
			}
			fi, err := os.Lstat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != perm {
				t.Errorf("umask %#o perm %#o: mode %v", umask, perm, fi.Mode())
			}
			if l.Addr().String() != path {
				t.Errorf("Addr %v, want %s", l.Addr(), path)
			}
			conn, err := net.Dial("unix", path)
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			conn.Close()
			if _, err := ListenControl(path, perm); !errors.Is(err, unix.EADDRINUSE) {
				t.Errorf("a second ListenControl on the same path: %v, want EADDRINUSE", err)
			}
			l.Close()
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("left behind after Close: %v", entries)
			}
		}
	}
	if _, err := ListenControl(filepath.Join(t.TempDir(), "ctl"), 0o4600); !errors.Is(err, unix.EINVAL) {
		t.Errorf("setuid mode: %v, want EINVAL", err)
	}
}

func TestControlCommands(t *testing.T) {
	s, c := controlStage(t)
	expect := func(cmd string, want ...string) {
		t.Helper()
		got := c.do(cmd)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s:\n got %q\nwant %q", cmd, got, want)
		}
	}
	if got := c.do("help"); len(got) < 10 || got[len(got)-1] != "ok" {
		t.Errorf("help: %q", got)
	}
	expect("show", "seed 7", "LR none", "RL none", "ok")
	expect("set loss 5% LR delay 10ms 1ms distribution normal", "ok")
	expect("show", "seed 7", "LR loss 5% delay 10ms 1ms distribution normal", "RL loss 5%", "ok")
	expect("set RL none duplicate 1% 25%", "ok")
	expect("show RL", "seed 7", "RL duplicate 1% 25%", "ok")
	expect("flap LR 10s 80%", "ok")
	expect("show LR", "seed 7", "LR loss 5% delay 10ms 1ms distribution normal flap 10s 80%", "ok")
	expect("flap down", "ok")
	expect("show", "seed 7", "LR loss 5% delay 10ms 1ms distribution normal down flap 10s 80%", "RL duplicate 1% 25% down", "ok")
	expect("flap RL up", "ok")
	expect("flap LR off", "ok")
	expect("show", "seed 7", "LR loss 5% delay 10ms 1ms distribution normal", "RL duplicate 1% 25%", "ok")
	expect("set none", "ok")
	expect("  SHOW   lr ", "seed 7", "LR none", "ok")

	quiet := func() {
		waitFor(t, "an empty queue", func() bool { return s.Counters(Both).Queued.Frames == 0 })
	}
	for range 3 {
		s.Input(LR, make([]byte, 100))
	}
	quiet()
	expect("counters LR", "LR in=3/300 out=3/300 queued=0/0 lost=0/0 duplicated=0/0 corrupted=0/0 reordered=0/0 delayed=0/0 limit=0/0 mtu=0/0 down=0/0 closed=0/0", "ok")
	expect("counters reset",
		"LR in=3/300 out=3/300 queued=0/0 lost=0/0 duplicated=0/0 corrupted=0/0 reordered=0/0 delayed=0/0 limit=0/0 mtu=0/0 down=0/0 closed=0/0",
		"RL in=0/0 out=0/0 queued=0/0 lost=0/0 duplicated=0/0 corrupted=0/0 reordered=0/0 delayed=0/0 limit=0/0 mtu=0/0 down=0/0 closed=0/0", "ok")
	s.Input(RL, make([]byte, 10))
	quiet()
	expect("counters reset RL", "RL in=1/10 out=1/10 queued=0/0 lost=0/0 duplicated=0/0 corrupted=0/0 reordered=0/0 delayed=0/0 limit=0/0 mtu=0/0 down=0/0 closed=0/0", "ok")
	expect("counters RL", "RL in=0/0 out=0/0 queued=0/0 lost=0/0 duplicated=0/0 corrupted=0/0 reordered=0/0 delayed=0/0 limit=0/0 mtu=0/0 down=0/0 closed=0/0", "ok")
	expect("counters LR", "LR in=0/0 out=0/0 queued=0/0 lost=0/0 duplicated=0/0 corrupted=0/0 reordered=0/0 delayed=0/0 limit=0/0 mtu=0/0 down=0/0 closed=0/0", "ok")

	// A blank line gets no reply; the next command still does.
	c.conn.Write([]byte("\n   \n"))
	expect("show LR", "seed 7", "LR none", "ok")
	expect("quit", "ok")
	if line, err := c.r.ReadString('\n'); err == nil {
		t.Errorf("after quit: %q", line)
	}
}

func TestControlMalformedChangesNothing(t *testing.T) {
	s, c := controlStage(t)
	c.do("set loss 1% delay 5ms 1ms LR rate 10mbit 4 limit 100 RL mtu 1400 reorder 10% gap 3")
	s.Input(LR, make([]byte, 60))
	waitFor(t, "an empty queue", func() bool { return s.Counters(Both).Queued.Frames == 0 })
	show := c.do("show")
	counters := c.do("counters")
	for _, cmd := range []string{
		"bogus", "set", "set LR", "set loss", "set loss 200%", "set loss -1%", "set loss NaN",
		"set delay 5", "set delay 5ms -1ms", "set LR loss 5% delay", "set loss 5% frobnicate",
		"set loss 5% RL duplicate 150%", "set distribution cauchy", "set rate 10",
		"set rate 10furlongs", "set rate", "set lostburst 0.5", "set loss 90% lostburst 2",
		"set loss 5% 10% lostburst 3", "set loss gemodel 1% lostburst 3", "set loss gemodel",
		"set loss state 1%", "set gap -1", "set limit 1.5", "set mtu x", "set noise 1e9",
		"set flap", "set flap 10s", "set flap 0s 50%", "set flap 10s 120%", "set sideways",
		"flap", "flap 10s", "flap sideways", "flap down up", "flap off now", "flap LR",
		"show extra", "show LR RL", "counters LR bogus", "counters reset now", "counters LR reset RL", "help me",
		"quit now", "set LR RL", "set both", "set none LR loss 101",
	} {
		got := c.do(cmd)
		if len(got) != 1 || !strings.HasPrefix(got[0], "error: ") {
			t.Errorf("%q: reply %q, want one error line", cmd, got)
			continue
		}
		t.Logf("%-36q %s", cmd, got[0])
		if now := c.do("show"); strings.Join(now, "\n") != strings.Join(show, "\n") {
			t.Fatalf("%q changed the settings:\n%q\n%q", cmd, show, now)
		}
	}
	if now := c.do("counters"); strings.Join(now, "\n") != strings.Join(counters, "\n") {
		t.Errorf("malformed commands changed the counters:\n%q\n%q", counters, now)
	}

	// A line too long gets one error line, then the connection closes.
	c.conn.Write([]byte("set " + strings.Repeat("x", maxLine) + "\n"))
	line, err := c.r.ReadString('\n')
	if !strings.HasPrefix(line, "error: ") || err != nil {
		t.Errorf("long line: %q, %v", line, err)
	}
	if line, err := c.r.ReadString('\n'); err == nil {
		t.Errorf("after a long line: %q", line)
	}
	if got := s.Command("show"); got != strings.Join(show, "\n")+"\n" {
		t.Errorf("after a long line: %q", got)
	}
}

// A control socket left by a server that was killed (nobody listens on it)
// is replaced; a live one, or another kind of file, is not.
func TestListenControlReplacesStaleSocket(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ctl")
	// A socket file whose listener is gone, as after SIGKILL.
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)
	l, err := ListenControl(path, 0o600)
	if err != nil {
		t.Fatalf("over a stale socket: %v", err)
	}
	defer l.Close()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatalf("the new socket does not answer: %v", err)
	}
	c.Close()
	if _, err := ListenControl(path, 0o600); !errors.Is(err, unix.EADDRINUSE) {
		t.Errorf("over a live socket: %v, want EADDRINUSE", err)
	}
	file := filepath.Join(dir, "file")
	os.WriteFile(file, []byte("x"), 0o600)
	if _, err := ListenControl(file, 0o600); !errors.Is(err, unix.EADDRINUSE) {
		t.Errorf("over a regular file: %v, want EADDRINUSE", err)
	}
	if b, _ := os.ReadFile(file); string(b) != "x" {
		t.Error("the regular file was changed")
	}
}

// Running out of descriptors stops accepting only for a while: once
// descriptors are free again the socket answers.
func TestServeControlSurvivesEMFILE(t *testing.T) {
	s, err := New(Config{Sink: func(Dir, [][]byte) {}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	path := filepath.Join(t.TempDir(), "ctl")
	l, err := ListenControl(path, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	go s.ServeControl(l)
	// Use up the descriptors this process may have, then knock.
	var lim unix.Rlimit
	unix.Getrlimit(unix.RLIMIT_NOFILE, &lim)
	low := lim
	low.Cur = 64
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &low); err != nil {
		t.Skip("cannot lower RLIMIT_NOFILE:", err)
	}
	var held []int
	for {
		fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			break
		}
		held = append(held, fd)
	}
	// A connection made now cannot be accepted (the client's socket
	// takes the descriptor freed for it).
	if len(held) > 0 {
		unix.Close(held[len(held)-1])
		held = held[:len(held)-1]
	}
	knock, err := net.Dial("unix", path)
	time.Sleep(50 * time.Millisecond) // accept fails with EMFILE meanwhile
	for _, fd := range held {
		unix.Close(fd)
	}
	unix.Setrlimit(unix.RLIMIT_NOFILE, &lim)
	if err == nil {
		knock.Close()
	}
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintln(c, "show")
	buf := make([]byte, 256)
	n, err := c.Read(buf)
	if err != nil || !strings.Contains(string(buf[:n]), "seed") {
		t.Fatalf("the control socket no longer answers: %q, %v", buf[:n], err)
	}
}

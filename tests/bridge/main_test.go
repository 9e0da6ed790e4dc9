// Package bridge_test runs shmif_bridge and package bridge end to end:
// kernel stacks in network namespaces joined over a bus through taps, the
// real programs at the other end of each socket framing (passt,
// slirp4netns, vde_switch and vde_plug), buses shared with a NetBSD-style
// peer, loops, and a bridge killed in the middle of traffic.
//
// The tests need root, network namespaces and /dev/net/tun, and the Debian
// packages iproute2, passt, slirp4netns, vde2 and vdeplug; each skips with
// the reason when something is missing (and fails on CI, where nothing
// should be). Namespaces, devices and processes are removed whatever
// happens.
package bridge_test

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/libshmif/libshmif/internal/testlib"
	"github.com/libshmif/libshmif/tests/bridge/nstest"
)

// bridgeBin is shmif_bridge, built without cgo: vde:// must work in such a
// program too.
var bridgeBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "shmif-bridge-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bridgeBin = filepath.Join(dir, "shmif_bridge")
	cmd := exec.Command("go", "build", "-o", bridgeBin, "./cmd/shmif_bridge")
	cmd.Dir = testlib.Root()
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building shmif_bridge: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	// Others may need to run it (the rootless test runs it as nobody).
	os.Chmod(dir, 0o755)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// needTool skips the test without the program name.
func needTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed (.ci/run installs it)", name)
		}
		t.Skipf("%s is not installed", name)
	}
	return p
}

// proc is a program the test started; it is killed at the end of the test
// if still running.
type proc struct {
	cmd    *exec.Cmd
	stderr *testlib.SyncBuffer
	lines  chan string // stderr lines, for waiting on one
	done   chan struct{}
	err    error
}

// start starts name with args (in namespace ns unless ns is "").
func start(t testing.TB, ns, name string, args ...string) *proc {
	t.Helper()
	var cmd *exec.Cmd
	if ns != "" {
		cmd = nstest.Exec(ns, name, args...)
	} else {
		cmd = exec.Command(name, args...)
	}
	return startCmd(t, cmd)
}

func startCmd(t testing.TB, cmd *exec.Cmd) *proc {
	t.Helper()
	p := &proc{cmd: cmd, stderr: &testlib.SyncBuffer{}, lines: make(chan string, 1000), done: make(chan struct{})}
	r, w := io.Pipe()
	cmd.Stderr = w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		s := bufio.NewScanner(r)
		for s.Scan() {
			p.stderr.Write([]byte(s.Text() + "\n"))
			select {
			case p.lines <- s.Text():
			default:
			}
		}
		close(p.lines)
	}()
	go func() {
		p.err = cmd.Wait()
		w.Close()
		<-scanned
		close(p.done)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

// startBridge starts shmif_bridge -v with args and waits until it bridges.
func startBridge(t testing.TB, ns string, args ...string) *proc {
	t.Helper()
	p := start(t, ns, bridgeBin, append([]string{"-v", "-interval", "1h"}, args...)...)
	p.waitLine(t, "bridging")
	return p
}

// waitLine waits for a line of stderr containing s.
func (p *proc) waitLine(t testing.TB, s string) {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				<-p.done
				t.Fatalf("%s ended (%v) before printing %q:\n%s", p.cmd.Path, p.err, s, p.stderr)
			}
			if strings.Contains(l, s) {
				return
			}
		case <-timeout:
			t.Fatalf("%s did not print %q:\n%s", p.cmd.Path, s, p.stderr)
		}
	}
}

// stop sends SIGTERM, waits for the exit and returns stderr; the exit
// status must be 0.
func (p *proc) stop(t testing.TB) string {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("%s did not stop on SIGTERM:\n%s", p.cmd.Path, p.stderr)
	}
	if p.err != nil {
		t.Fatalf("%s: %v:\n%s", p.cmd.Path, p.err, p.stderr)
	}
	return p.stderr.String()
}

// wait waits for the program to end by itself and returns its exit status
// and stderr.
func (p *proc) wait(t testing.TB) (int, string) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("%s did not end:\n%s", p.cmd.Path, p.stderr)
	}
	return p.cmd.ProcessState.ExitCode(), p.stderr.String()
}

// shmifNode runs the C example shmif-node on bus and returns its output;
// it must succeed.
func shmifNode(t testing.TB, bus string, args ...string) string {
	t.Helper()
	r := testlib.Run(t, "", testlib.Path(t, "shmif-node"), append([]string{bus}, args...)...)
	if r.Code != 0 {
		t.Fatalf("shmif-node %s: exit %d\n%s%s", strings.Join(args, " "), r.Code, r.Stdout, r.Stderr)
	}
	return r.Stdout
}

// waitFor polls cond for up to twenty seconds.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitListening waits until the unix socket at path, in namespace ns,
// listens. Its file appears at bind, and programs may say so before they
// listen (passt does): a connection in between is refused. This looks in
// /proc/net/unix rather than connecting, which would take the one client
// that passt -1 and slirp4netns serve.
func waitListening(t testing.TB, ns, path string) {
	t.Helper()
	waitFor(t, path+" listening", func() bool {
		var b []byte
		nstest.Do(t, ns, func() { b, _ = os.ReadFile("/proc/thread-self/net/unix") })
		for _, l := range strings.Split(string(b), "\n") {
			// Num RefCount Protocol Flags Type St Inode Path: flag
			// __SO_ACCEPTCON (00010000) marks a listening socket.
			if f := strings.Fields(l); len(f) == 8 && f[7] == path && f[3] == "00010000" {
				return true
			}
		}
		return false
	})
}

// Package nstest gives bridge tests network namespaces: created with
// ip-netns(8) under unique names, deleted when the test ends, whatever
// happens. Tests that need them skip (with the reason) where namespaces
// cannot be made: not root, no ip(8), no netns support.
package nstest

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
)

var seq atomic.Int64

// Need skips t unless network namespaces, veth pairs and taps can be made
// here (CI must have them: there it fails instead).
func Need(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		skip(t, "needs root for network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		skip(t, "needs ip(8) (iproute2)")
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		skip(t, "needs /dev/net/tun")
	}
}

func skip(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(why + " (CI has it)")
	}
	t.Skip(why)
}

// Name returns a fresh name with prefix, short enough for an interface.
func Name(prefix string) string {
	return fmt.Sprintf("%s%d%c", prefix, os.Getpid()%100000, 'a'+byte(seq.Add(1)%26))
}

// New makes a network namespace with lo up and returns its name; it is
// deleted at the end of the test.
func New(t testing.TB) string {
	t.Helper()
	Need(t)
	ns := Name("shb")
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		skip(t, fmt.Sprintf("cannot make a network namespace: %v: %s", err, out))
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	IP(t, ns, "link", "set", "lo", "up")
	return ns
}

// IP runs ip(8) with args in namespace ns ("" for the test's own) and
// fails the test if it fails.
func IP(t testing.TB, ns string, args ...string) string {
	t.Helper()
	if ns != "" {
		args = append([]string{"-n", ns}, args...)
	}
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Exec returns a command that runs in namespace ns.
func Exec(ns string, name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns, name}, args...)...)
}

// Veth makes a veth pair, one end in each namespace, with the given
// addresses (CIDR), both up.
func Veth(t testing.TB, ns1, addr1, ns2, addr2 string) {
	t.Helper()
	a, b := Name("va"), Name("vb")
	IP(t, "", "link", "add", a, "netns", ns1, "type", "veth", "peer", "name", b, "netns", ns2)
	IP(t, ns1, "addr", "add", addr1, "dev", a)
	IP(t, ns2, "addr", "add", addr2, "dev", b)
	IP(t, ns1, "link", "set", a, "up")
	IP(t, ns2, "link", "set", b, "up")
}

// Do runs f on an OS thread in namespace ns: descriptors it opens (a tap,
// a socket) belong to ns for good.
func Do(t testing.TB, ns string, f func()) {
	t.Helper()
	target, err := os.Open("/run/netns/" + ns)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		self, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			done <- err
			return
		}
		defer self.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			done <- err
			return
		}
		f()
		if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
			// The thread stays locked and ends with the goroutine.
			done <- err
			return
		}
		runtime.UnlockOSThread()
		done <- nil
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

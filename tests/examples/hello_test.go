package examples_test

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// TestHello: hello sends one frame between two interfaces and prints it; it
// removes the bus it made in $TMPDIR and leaves a bus it was given, on which
// a second run skips the first run's frame (received again at create) and
// prints its own. Errors go to stderr with strerror's text and exit 1, bad
// arguments exit 2.
func TestHello(t *testing.T) {
	tmp, dir := t.TempDir(), t.TempDir() // before TMPDIR changes
	line := regexp.MustCompile(`^shmif1 received 60 bytes from (b2:a0(?::[0-9a-f]{2}){4}) \(shmif0\): hello, shmif\n$`)
	// hello runs the example and returns the source MAC it printed.
	hello := func(t *testing.T, args ...string) net.HardwareAddr {
		t.Helper()
		r := run(t, "hello", args...)
		m := line.FindStringSubmatch(r.stdout)
		if r.code != 0 || r.stderr != "" || m == nil {
			t.Fatalf("hello %v: want exit 0 and one line %q: %v", args, line, r)
		}
		mac, err := net.ParseMAC(m[1])
		if err != nil {
			t.Fatal(err)
		}
		return mac
	}

	t.Run("temporary bus", func(t *testing.T) {
		t.Setenv("TMPDIR", tmp)
		hello(t)
		if left, _ := os.ReadDir(tmp); len(left) != 0 {
			t.Errorf("hello left %v in $TMPDIR", left)
		}
	})

	t.Run("bus argument twice", func(t *testing.T) {
		bus := filepath.Join(dir, "bus")
		macs := []net.HardwareAddr{hello(t, bus), hello(t, bus)}
		_, frames := readBus(t, bus)
		if len(frames) != 2 {
			t.Fatalf("the bus holds %d frames, want the 2 of the two runs", len(frames))
		}
		for k, f := range frames {
			want := concat([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, macs[k],
				[]byte{0x88, 0xb5}, []byte("hello, shmif"), make([]byte, 34))
			if !bytes.Equal(f.data, want) {
				t.Errorf("run %d: frame on the bus\n got % x\nwant % x", k+1, f.data, want)
			}
		}
		if frames[0].sender == frames[1].sender || bytes.Equal(macs[0], macs[1]) {
			t.Errorf("the runs printed MACs %v and %v, their frames have senders %#x and %#x: want two interfaces",
				macs[0], macs[1], frames[0].sender, frames[1].sender)
		}
	})

	t.Run("errors", func(t *testing.T) {
		for _, c := range []struct {
			args   []string
			env    string // TMPDIR
			code   int
			stderr string
		}{
			{[]string{dir}, tmp, 1, "hello: create a: Is a directory\n"},
			{[]string{filepath.Join(dir, "none", "bus")}, tmp, 1, "hello: create a: No such file or directory\n"},
			{nil, filepath.Join(dir, "none"), 1, "hello: mkdtemp: No such file or directory\n"},
			{[]string{"-h"}, tmp, 2, "usage: hello [BUS]\n"},
			{[]string{"bus1", "bus2"}, tmp, 2, "usage: hello [BUS]\n"},
		} {
			t.Setenv("TMPDIR", c.env)
			r := run(t, "hello", c.args...)
			if r.code != c.code || r.stderr != c.stderr || r.stdout != "" {
				t.Errorf("hello %q (TMPDIR %s): want exit %d and %q: %v", c.args, c.env, c.code, c.stderr, r)
			}
		}
		if left, _ := os.ReadDir(tmp); len(left) != 0 {
			t.Errorf("failed runs left %v in $TMPDIR", left)
		}
	})
}

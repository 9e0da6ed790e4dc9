package vde

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Without libvdeplug the error names the Debian package and matches
// ELIBACC.
func TestMissingLibrary(t *testing.T) {
	err := loadFrom("libvdeplug-not-here.so.9")
	if !errors.Is(err, unix.ELIBACC) || !strings.Contains(err.Error(), "libvdeplug2") {
		t.Fatalf("got %v", err)
	}
}

func needLibrary(t *testing.T) {
	t.Helper()
	if err := load(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
}

func TestOpenErrors(t *testing.T) {
	needLibrary(t)
	_, err := Open("vde://" + filepath.Join(t.TempDir(), "no-switch"))
	if !errors.Is(err, unix.ENOENT) {
		t.Fatalf("got %v", err)
	}
	_, err = Open("vde://nonsense://x")
	if err == nil {
		t.Fatal("a bogus libvdeplug URL opened")
	}
	if _, err := Open("vde:/x"); !errors.Is(err, unix.EINVAL) {
		t.Fatalf("got %v", err)
	}
}

// Two endpoints on a VDE switch exchange frames; Close ends a blocked
// read.
func TestThroughSwitch(t *testing.T) {
	needLibrary(t)
	sw, err := exec.LookPath("vde_switch")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("vde_switch is not installed")
		}
		t.Skip("vde_switch is not installed")
	}
	dir := filepath.Join(t.TempDir(), "sw")
	in, keep, _ := os.Pipe()
	defer keep.Close()
	cmd := exec.Command(sw, "-s", dir)
	cmd.Stdin = in
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	in.Close()
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	// The switch binds ctl before it listens: wait until it accepts.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if c, err := net.Dial("unix", filepath.Join(dir, "ctl")); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("vde_switch did not start")
		}
	}
	a, err := Open("vde://" + dir)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open("vde://" + dir)
	if err != nil {
		t.Fatal(err)
	}
	f := make([]byte, 100)
	copy(f, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x88, 0xb5})
	bufs, lens := [][]byte{make([]byte, 1518), make([]byte, 1518)}, []int{0, 0}
	got := make(chan error, 1)
	go func() {
		n, err := b.ReadFrames(bufs, lens)
		if err == nil && (n < 1 || lens[0] != 100) {
			err = errors.New("wrong frame")
		}
		got <- err
	}()
	// The switch learns of b's port as it connects: send until it gets
	// there.
	for i := 0; ; i++ {
		a.WriteFrames([][]byte{f})
		select {
		case err := <-got:
			if err != nil {
				t.Fatal(err)
			}
			goto read
		case <-time.After(50 * time.Millisecond):
		}
		if i > 200 {
			t.Fatal("no frame through the switch")
		}
	}
read:
	go func() {
		for {
			// Frames sent while the switch was learning may still come.
			if _, err := b.ReadFrames(bufs, lens); err != nil {
				got <- err
				return
			}
		}
	}()
	time.Sleep(20 * time.Millisecond)
	b.Close()
	select {
	case err := <-got:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("after Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not end ReadFrames")
	}
}

//go:build linux

package sidecar

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
)

// A killed process leaves its sidecar file behind; the next process to
// open a sidecar removes it, and leaves alone files in use, files of
// another size and files that are not regular.
func TestSweepRemovesAbandonedFiles(t *testing.T) {
	old := Dir
	Dir = t.TempDir()
	defer func() { Dir = old }()

	bus := func(name string) *unix.Stat_t {
		p := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		var st unix.Stat_t
		if err := unix.Stat(p, &st); err != nil {
			t.Fatal(err)
		}
		return &st
	}

	// In use: this process is registered in it.
	live, err := Open(bus("live"))
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()

	// Abandoned: its only process is dead (a child that has exited).
	dead, err := Open(bus("dead"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	atomic.StoreUint32(dead.slot32(dead.self, slotPid), uint32(cmd.Process.Pid))
	deadPath := dead.path
	unix.Munmap(dead.mem)
	dead.f.Close() // as a killed process would: no Close

	empty := filepath.Join(Dir, "shmif-1-2")
	other := filepath.Join(Dir, "shmif-3-4")
	unrelated := filepath.Join(Dir, "not-ours")
	os.WriteFile(empty, nil, 0o600)
	os.WriteFile(other, []byte("some other program's file"), 0o600)
	os.WriteFile(unrelated, nil, 0o600)
	if err := os.Mkdir(filepath.Join(Dir, "shmif-5-6"), 0o700); err != nil {
		t.Fatal(err)
	}

	sweep("")
	for path, want := range map[string]bool{
		live.path: true, deadPath: false, empty: false, other: true, unrelated: true,
		filepath.Join(Dir, "shmif-5-6"): true,
	} {
		_, err := os.Lstat(path)
		if got := err == nil; got != want {
			t.Errorf("%s: exists %v after the sweep, want %v", filepath.Base(path), got, want)
		}
	}
	// The live file still works for its process.
	if !live.Registered(os.Getpid()) {
		t.Error("the sweep unregistered a live process")
	}
}

// A file being created (empty, its creator holding the lock) is not
// removed under it.
func TestSweepSkipsLockedFiles(t *testing.T) {
	old := Dir
	Dir = t.TempDir()
	defer func() { Dir = old }()
	path := filepath.Join(Dir, "shmif-7-8")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	sweep("")
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("a locked file was removed: %v", err)
	}
}

package hostile_test

import (
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/libshmif/libshmif/internal/testlib"
	"golang.org/x/sys/unix"
)

// TestForeignFilesUnchanged: every attaching call (rump_pub_shmif_create,
// shmif_open, shmif_set_linkstr, shmif_set_linkstr_mode, shmif_inject)
// refuses what is not a bus, with the documented errno, and leaves it byte
// for byte as it was (mode, size, inode, contents; rump.h: "any other file
// is refused with ENOEXEC and left byte for byte as it was"): text, 1 MiB
// of random bytes, zeros of 1 MiB ± 1, 4 KiB, 1 byte and 2 MiB, 1 MiB of
// zeros but the last byte, a bus of the other byte order and its magic
// alone, three bytes of the magic, a read-only text file, a directory
// (EISDIR), a FIFO with data in it and one nobody has open (EINVAL, without
// blocking or taking the data), a unix socket, /dev/null and /dev/zero
// (EINVAL), a symbolic link to a text file, a link loop (ELOOP), a path
// through a file (ENOTDIR), a missing directory (ENOENT), a 299-byte name
// (ENAMETOOLONG), "" (EINVAL); /proc/self/comm is not attached and the
// process name stays; captures of foreign files fail without touching them.
func TestForeignFilesUnchanged(t *testing.T) {
	t.Parallel()
	run(t, 60*time.Second, nil, program(t, "files"), "foreign", t.TempDir())
}

// TestCaptureOfFIFO: a snapshot capture of a FIFO nobody has open returns
// (an error) instead of blocking in open(2).
func TestCaptureOfFIFO(t *testing.T) {
	t.Parallel()
	run(t, 30*time.Second, nil, program(t, "files"), "capturefifo", t.TempDir())
}

// TestAcceptedFiles: an empty file becomes a 1 MiB bus, 1 MiB of zeros is
// attached, a 4-byte file with the magic is extended to 1 MiB, a 2 MiB bus
// is not shrunk and works, shmif_open(07777) makes mode 0755 under umask 022
// (no set-id or sticky bits).
func TestAcceptedFiles(t *testing.T) {
	t.Parallel()
	run(t, 30*time.Second, nil, program(t, "files"), "accepted", t.TempDir())
}

// TestUnprivileged: as user nobody, another user's bus (0644), a read-only
// bus (0444), a bus in a directory that cannot be searched and a new bus in
// a directory that cannot be written give EACCES and stay unchanged; a
// snapshot capture of the read-only bus works and writes nothing, a
// following capture gives EACCES (rump.h: "A snapshot needs read
// permission; following needs write permission").
func TestUnprivileged(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a program as another user")
	}
	dir := worldDir(t)
	bus := make([]byte, 1<<20)
	binary.NativeEndian.PutUint32(bus, 0xCA11D054)
	must(t, os.WriteFile(filepath.Join(dir, "rootbus"), bus, 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "robus"), bus, 0o444))
	must(t, os.Chmod(filepath.Join(dir, "robus"), 0o444))
	must(t, os.Mkdir(filepath.Join(dir, "closed"), 0o700))
	must(t, os.WriteFile(filepath.Join(dir, "closed", "bus"), bus, 0o666))
	must(t, os.Mkdir(filepath.Join(dir, "rodir"), 0o555))
	must(t, os.Chmod(filepath.Join(dir, "rodir"), 0o555))
	bin, lib := worldProgram(t, "files")
	r := runCmd(t, 30*time.Second, func(c *exec.Cmd) {
		c.Env = append(c.Env, "LD_LIBRARY_PATH="+lib)
		c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}, bin, "nonroot", dir)
	verdict(t, r, "files nonroot")
}

// TestNoSpace: a new bus on a file system without room for 1 MiB gives
// ENOSPC and the file the call created is removed again (rump.h ENOSPC),
// for rump_pub_shmif_create and shmif_inject.
func TestNoSpace(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	mount(t, dir, "size=512k", 0)
	run(t, 30*time.Second, nil, program(t, "files"), "enospc", dir)
}

// TestReadOnlyFileSystem: a bus on a read-only file system gives EROFS for
// every attaching call and stays unchanged; a snapshot capture works.
func TestReadOnlyFileSystem(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	mount(t, dir, "size=4m", 0)
	bus := make([]byte, 1<<20)
	binary.NativeEndian.PutUint32(bus, 0xCA11D054)
	must(t, os.WriteFile(filepath.Join(dir, "bus"), bus, 0o644))
	if err := unix.Mount("none", dir, "", unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
		t.Skipf("remount read-only: %v", err)
	}
	run(t, 30*time.Second, nil, program(t, "files"), "erofs", dir)
}

// TestPathLengths: a path of 1023 bytes (1024 with its NUL) is attached by
// every attaching call and captured; 1024 and 5000 bytes give E2BIG
// (rump.h: "E2BIG path is 1024 bytes or longer"); shmif_get_linkstr with
// buffers of 1024, 1023, 1 and 0 bytes and NULL: ENAMETOOLONG with
// *needed 1024 and as much of the path as fits, NUL-terminated, nothing
// written past buflen; EFAULT for NULL with buflen > 0; a relative path
// comes back as given.
func TestPathLengths(t *testing.T) {
	t.Parallel()
	run(t, 30*time.Second, nil, program(t, "files"), "paths", t.TempDir())
}

// TestNullPointersAndLengths: every required pointer NULL gives EFAULT,
// and a receive that fails so leaves the waiting frame on the bus; the
// optional ones (path and ifnum of the creating calls, buf with buflen 0,
// frames with n 0, data with cap 0, *needed, max_wait_ms and active,
// frames and lost) work as documented; frame lengths 0, 13, 14, 1514, 1515,
// SIZE_MAX and 2^32+60; capture and inject argument errors (EBADF, EINVAL,
// EPIPE); a batch whose second buffer is too small returns the first frame.
func TestNullPointersAndLengths(t *testing.T) {
	t.Parallel()
	run(t, 30*time.Second, nil, program(t, "files"), "nulls", t.TempDir())
}

// TestBatchSizes: batches of 1048577 frames and SIZE_MAX are refused with
// EINVAL, batches of 1048576 frames with the last one 13 or 1515 bytes,
// or one frame's data NULL, are refused whole (rump.h: "All frames are
// checked first, whatever n: if one is refused, none is sent") without
// touching the counters; then batches of 0, 256, 257 and 1048576 - 513
// frames all reach a lossless receiver in order; shmif_recv_batch with n
// 257 and 1048577 takes at most 256.
func TestBatchSizes(t *testing.T) {
	t.Parallel()
	run(t, 60*time.Second, nil, program(t, "files"), "batches", t.TempDir())
}

// TestAllUnitsInUse: 32768 interfaces take units 0..32767 in order; then
// shmif_create(-1), rump_pub_shmif_create and shmif_open give ENOSPC,
// shmif_create(32767) EEXIST, shmif_create(32768) EINVAL; a freed unit is
// reused; all destroyed, unit 0 is free again.
func TestAllUnitsInUse(t *testing.T) {
	t.Parallel()
	run(t, 60*time.Second, nil, program(t, "files"), "units", t.TempDir())
}

// TestFewDescriptors: started with a soft RLIMIT_NOFILE of 64, the library
// gives the host its limit back (rump.h: "the one it had when the library
// was loaded or, if the host changed it before the first libshmif call, the
// one it had then") and keeps a limit the host sets later: the host lowers
// it after shmif_create, before any call, or after rump_init, then
// attaches. Then poll descriptors and buses run out with EMFILE; with no
// descriptor left, an attached interface still sends, receives and times
// out in time; after destroys (and the 250 ms delayed close) a poll
// descriptor can be had again.
func TestFewDescriptors(t *testing.T) {
	t.Parallel()
	prlimit(t)
	for _, v := range []string{"create", "first", "init"} {
		t.Run(v, func(t *testing.T) {
			run(t, 60*time.Second, nil, "prlimit", "--nofile=64:4096", program(t, "files"), "nofile", t.TempDir(), "64", v)
		})
	}
}

// TestOneBusManyPaths: interfaces attached to one bus by a symbolic link, a
// hard link, "dir//bus" and a relative path share one mapping and one
// descriptor (rump.h: "Interfaces of one process attached to the same bus
// file (by any path) share one mapping and one descriptor of it") and hear
// each other.
func TestOneBusManyPaths(t *testing.T) {
	t.Parallel()
	run(t, 30*time.Second, nil, program(t, "files"), "sameinode", t.TempDir())
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func prlimit(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("prlimit"); err != nil {
		t.Skip("prlimit (util-linux) not found")
	}
}

// mount mounts a tmpfs on dir for the test, or skips the test.
func mount(t *testing.T, dir, opts string, flags uintptr) {
	t.Helper()
	if err := unix.Mount("none", dir, "tmpfs", flags, opts); err != nil {
		t.Skipf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
}

// worldDir is a directory every user may use, removed after the test.
func worldDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "shmif-hostile-world-")
	must(t, err)
	must(t, os.Chmod(dir, 0o777))
	t.Cleanup(func() {
		filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
			if err == nil && info.IsDir() {
				os.Chmod(p, 0o755)
			}
			return nil
		})
		os.RemoveAll(dir)
	})
	return dir
}

// worldProgram copies a program and the library where every user may run
// them; it returns the program's path and the library's directory.
func worldProgram(t *testing.T, name string) (string, string) {
	t.Helper()
	dir := worldDir(t)
	src := program(t, name)
	copyFile(t, src, filepath.Join(dir, name), 0o755)
	build := testlib.Build(t)
	matches, _ := filepath.Glob(filepath.Join(build, "libshmif.so*"))
	for _, m := range matches {
		copyFile(t, m, filepath.Join(dir, filepath.Base(m)), 0o755)
	}
	return filepath.Join(dir, name), dir
}

func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(src)
	must(t, err)
	must(t, os.WriteFile(dst, b, mode))
	must(t, os.Chmod(dst, mode))
}

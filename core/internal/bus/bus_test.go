package bus

import (
	"bytes"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/libshmif/libshmif/core/internal/layout"
	"golang.org/x/sys/unix"
)

func TestOpenCreatesAndInitialisesBus(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bus")
	old := unix.Umask(0o022)
	defer unix.Umask(old)
	b, err := Open(path, DefaultMode)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() != layout.BusSize || st.Mode().Perm() != 0o644 {
		t.Fatalf("size %d mode %v", st.Size(), st.Mode())
	}
	m := b.Mem()
	// docs/protocol.md §1.2: magic and first set, version, gen and last still 0.
	if m.Magic() != layout.Magic || m.First() != layout.DataSize || m.Version() != 0 || m.Gen() != 0 || m.Last() != 0 {
		t.Fatalf("header magic %#x first %#x version %d", m.Magic(), m.First(), m.Version())
	}
	if err := b.Notify(); err != nil {
		t.Fatal(err)
	}
	if m.Version() != layout.Version {
		t.Fatalf("version %d after the wake-up", m.Version())
	}
}

func TestOpenModeForPrivateBus(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bus")
	b, err := Open(path, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode())
	}
}

// Issue: a foreign file is refused with ENOEXEC and left byte for byte.
func TestForeignFileUntouched(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string][]byte{
		"text":          []byte("hello, this is not a bus\n"),
		"zero-magic":    append(make([]byte, 8), "data"...),
		"swapped-magic": {0xca, 0x11, 0xd0, 0x54, 3, 0, 0, 0},
		"short":         {1, 2},
	} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, content, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Open(path, DefaultMode)
		if !errors.Is(err, unix.ENOEXEC) {
			t.Errorf("%s: got %v want ENOEXEC", name, err)
		}
		got, _ := os.ReadFile(path)
		if !bytes.Equal(got, content) {
			t.Errorf("%s: file changed", name)
		}
	}
}

func TestOpenRefusesNonFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, c := range []struct {
		path string
		want error
	}{
		{"", unix.ENOENT},
		{dir, unix.EISDIR},
		{fifo, unix.EINVAL},
		{sock, unix.EINVAL},
		{"/dev/null", unix.EINVAL},
		{filepath.Join(dir, "missing", "bus"), unix.ENOENT},
	} {
		if _, err := Open(c.path, DefaultMode); !errors.Is(err, c.want) {
			t.Errorf("%q: got %v want %v", c.path, err, c.want)
		}
	}
}

func TestOpenUnreadablePath(t *testing.T) {
	if os.Geteuid() == 0 {
		// root ignores permission bits; use a path under a regular file.
		path := filepath.Join(t.TempDir(), "file")
		os.WriteFile(path, nil, 0o644)
		if _, err := Open(filepath.Join(path, "bus"), DefaultMode); !errors.Is(err, unix.ENOTDIR) {
			t.Fatalf("got %v want ENOTDIR", err)
		}
		return
	}
	path := filepath.Join(t.TempDir(), "bus")
	os.WriteFile(path, nil, 0o000)
	if _, err := Open(path, DefaultMode); !errors.Is(err, unix.EACCES) {
		t.Fatalf("got %v want EACCES", err)
	}
}

// A short file that carries the magic is extended, not refused; a longer
// one is not shrunk.
func TestShortAndLongBusFiles(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "short")
	head := make([]byte, 64)
	layout.NativeEndian.PutUint32(head, layout.Magic)
	layout.NativeEndian.PutUint32(head[layout.OffFirst:], layout.DataSize)
	os.WriteFile(short, head, 0o644)
	b, err := Open(short, DefaultMode)
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	if st, _ := os.Stat(short); st.Size() != layout.BusSize {
		t.Fatalf("short bus now %d bytes", st.Size())
	}
	long := filepath.Join(dir, "long")
	big := make([]byte, layout.BusSize+4096)
	copy(big, head)
	os.WriteFile(long, big, 0o644)
	b, err = Open(long, DefaultMode)
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	if st, _ := os.Stat(long); st.Size() != int64(len(big)) {
		t.Fatalf("long bus now %d bytes", st.Size())
	}
}

// Issue: a bus truncated under a live mapping gives EIO, not SIGBUS.
func TestTruncatedBusGivesEIO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bus")
	b, err := Open(path, DefaultMode)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	err = b.WithLock(func(m *layout.Mem) error { return nil })
	if !errors.Is(err, unix.EIO) {
		t.Fatalf("got %v want EIO", err)
	}
	if err := b.Notify(); !errors.Is(err, unix.EIO) {
		t.Fatalf("later calls: got %v", err)
	}
}

// Symbolic links are followed, as NetBSD's open does: a bus reached through
// a link is the file it points to.
func TestSymlinkFollowed(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "real-bus")
	link := filepath.Join(dir, "bus")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	b, err := Open(link, DefaultMode)
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	st, err := os.Lstat(target)
	if err != nil || st.Size() != layout.BusSize || !st.Mode().IsRegular() {
		t.Fatalf("target: %v %v", st, err)
	}
	if st, _ := os.Lstat(link); st.Mode()&os.ModeSymlink == 0 {
		t.Fatal("the link was replaced")
	}
}

// Issue 10.9: only an empty file, a bus (magic; a shorter one is extended
// as NetBSD does), or exactly 1 MiB of zeros (a bus its creator has not
// initialised yet) is attached; any other file is refused with ENOEXEC and
// left as it was, size included.
func TestOnlyBusesAreAttached(t *testing.T) {
	dir := t.TempDir()
	refuse := map[string]func(path string){
		"4 KiB of zeros": func(p string) { os.WriteFile(p, make([]byte, 4096), 0o644) },
		"2 MiB of zeros": func(p string) { os.WriteFile(p, make([]byte, 2<<20), 0o644) },
		"sparse 64 MiB, data at its end": func(p string) {
			f, _ := os.Create(p)
			f.WriteAt([]byte("data"), 64<<20-4)
			f.Close()
		},
		"1 MiB of zeros but one byte": func(p string) {
			b := make([]byte, layout.BusSize)
			b[layout.BusSize-1] = 1
			os.WriteFile(p, b, 0o644)
		},
	}
	for name, make := range refuse {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_"))
		make(path)
		before, _ := os.ReadFile(path)
		if _, err := Open(path, DefaultMode); !errors.Is(err, unix.ENOEXEC) {
			t.Errorf("%s: %v, want ENOEXEC", name, err)
		}
		if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
			t.Errorf("%s: the file changed", name)
		}
	}
	// Accepted: 1 MiB of zeros, and a bus shorter than 1 MiB.
	zeros := filepath.Join(dir, "zeros")
	os.WriteFile(zeros, make([]byte, layout.BusSize), 0o644)
	b, err := Open(zeros, DefaultMode)
	if err != nil {
		t.Fatalf("1 MiB of zeros: %v", err)
	}
	if b.Mem().Magic() != layout.Magic {
		t.Fatal("1 MiB of zeros was not initialised")
	}
	b.Close()
}

// A mode with bits beyond the permissions never makes a set-id or sticky
// bus file.
func TestModeIsMasked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bus")
	old := unix.Umask(0)
	defer unix.Umask(old)
	b, err := Open(path, 0xffffffff)
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	st, _ := os.Stat(path)
	if st.Mode()&(os.ModeSetuid|os.ModeSetgid|os.ModeSticky) != 0 || st.Mode().Perm() != 0o777 {
		t.Fatalf("mode %v", st.Mode())
	}
}

// Issue 10.10: on a full file system a new bus is refused with ENOSPC and
// the file the call created is removed; nothing fills the file system.
func TestFullFileSystem(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs")
	}
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=256k"); err != nil {
		t.Skipf("cannot mount a tmpfs: %v", err)
	}
	defer unix.Unmount(dir, unix.MNT_DETACH)
	path := filepath.Join(dir, "bus")
	if _, err := Open(path, DefaultMode); !errors.Is(err, unix.ENOSPC) {
		t.Fatalf("got %v, want ENOSPC", err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("the bus file was left behind: %v", err)
	}
	var st unix.Statfs_t
	unix.Statfs(dir, &st)
	if st.Bfree != st.Blocks {
		t.Fatalf("%d of %d blocks still used", st.Blocks-st.Bfree, st.Blocks)
	}
}

// Two attachments to one file in a process share one mapping, whatever
// the path; the file is unmapped with the last.
func TestAttachmentsShareAMapping(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bus")
	a, err := Open(path, DefaultMode)
	if err != nil {
		t.Fatal(err)
	}
	os.Symlink(path, filepath.Join(dir, "link"))
	b, err := Open(filepath.Join(dir, "link"), DefaultMode)
	if err != nil {
		t.Fatal(err)
	}
	if a != b || a.Mem() != b.Mem() {
		t.Fatal("two attachments to one file have two mappings")
	}
	a.Close()
	if err := b.WithLock(func(*layout.Mem) error { return nil }); err != nil {
		t.Fatalf("the second attachment after the first closed: %v", err)
	}
	b.Close()
}

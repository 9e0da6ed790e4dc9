// Package testlib gives tests the built artefacts of the C face: the shared
// library, the C examples and the tools. `make test` builds them once and
// names the directory in SHMIF_BUILD; a plain `go test` builds them itself,
// once per test binary, into a temporary directory.
package testlib

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

var (
	once     sync.Once
	buildDir string
	buildErr error
	buildOut []byte
)

// Root returns the repository root.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Build returns the directory holding libshmif.so, the C examples and the
// tools, building them first if SHMIF_BUILD does not name one.
func Build(t testing.TB) string {
	t.Helper()
	once.Do(func() {
		if d := os.Getenv("SHMIF_BUILD"); d != "" {
			if _, err := os.Stat(filepath.Join(d, "libshmif.so")); err == nil {
				buildDir = d
				return
			}
		}
		d := filepath.Join(os.TempDir(), "libshmif-test-build")
		if buildErr = os.MkdirAll(d, 0o755); buildErr != nil {
			return
		}
		lock, err := os.OpenFile(filepath.Join(d, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			buildErr = err
			return
		}
		defer lock.Close()
		if buildErr = unix.Flock(int(lock.Fd()), unix.LOCK_EX); buildErr != nil {
			return
		}
		cmd := exec.Command("make", "-C", Root(), "BUILD="+d, "all")
		buildOut, buildErr = cmd.CombinedOutput()
		buildDir = d
	})
	if buildErr != nil {
		t.Fatalf("building libshmif: %v\n%s", buildErr, buildOut)
	}
	return buildDir
}

// Path returns the path of a built artefact, e.g. Path(t, "shmif-node").
func Path(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(Build(t), name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s was not built: %v", name, err)
	}
	return p
}

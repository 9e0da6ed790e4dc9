package cabi_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/libshmif/libshmif/internal/testlib"
)

// TestErrnoTableFromC builds errno_c/errno_test.c against the header and
// the library and runs it: a C program checking the errno table of rump.h
// from C, blocked pthread included.
func TestErrnoTableFromC(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "errno_test")
	cc(t, filepath.Join(testlib.Root(), "tests", "cabi", "errno_c", "errno_test.c"), bin, "-pthread")
	scratch := filepath.Join(dir, "scratch")
	if err := os.Mkdir(scratch, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, scratch)
	// The program sets RUMP_SHMIF_CAPENABLE with setenv(3); it starts
	// without it, as most programs do.
	cmd.Env = slices.DeleteFunc(cmd.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "RUMP_SHMIF_CAPENABLE=")
	})
	out, err := cmd.CombinedOutput()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	last := lines[len(lines)-1]
	for _, l := range lines {
		if strings.HasPrefix(l, "FAIL") {
			t.Error(l)
		}
	}
	if err != nil || !strings.HasSuffix(last, " 0 failed") {
		t.Fatalf("errno_test: %v, last line %q\n%s", err, last, out)
	}
	t.Log(last)
}

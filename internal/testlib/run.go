package testlib

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// Result is what a finished command printed and its exit status.
type Result struct {
	Stdout, Stderr string
	Code           int
}

// Run runs bin with args in dir and returns its output and exit status. A
// command that cannot be started fails the test.
func Run(t testing.TB, dir, bin string, args ...string) Result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return Result{stdout.String(), stderr.String(), code}
}

// SyncBuffer is a bytes.Buffer that a running process may write while the
// test reads it.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Golden returns a file of the golden bus captures in testdata/NAME.
func Golden(t testing.TB, name, file string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(Root(), "testdata", name, file))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

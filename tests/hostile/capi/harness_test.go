// Package hostile_test attacks the promises of the C API (include/rump/rump.h,
// man/libshmif.3) from outside: C programs built against libshmif.so run as
// separate processes, so that a crash, a hang or a torn frame shows as what
// it is, and the Go side plays the hostile world around them (SIGKILL at
// random moments, garbage in the bus file, truncation, signal storms, low
// limits, hostile pcap files).
//
// Each C program prints "FAIL file:line: ..." for every broken promise,
// "INFO ..." for figures, and "DONE failures=N" last; the Go side turns
// those into test errors and log lines, and fails a program that dies by a
// signal or outlives its bound.
//
// The default run is bounded (about a minute on two loaded CPUs); with
// SHMIF_STRESS=full the loops run longer. Tests that show defects not yet
// fixed are in defects_test.go, built only with -tags hostile_defects.
package hostile_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/libshmif/libshmif/internal/testlib"
)

// full says whether the long forms of the loops run (SHMIF_STRESS=full).
func full() bool { return os.Getenv("SHMIF_STRESS") == "full" }

// pick returns short in the default run and long under SHMIF_STRESS=full.
func pick[T any](short, long T) T {
	if full() {
		return long
	}
	return short
}

var (
	binDirOnce sync.Once
	binDir     string
	binDirErr  error
	progMu     sync.Mutex
	progs      = map[string]*progBuild{}
)

type progBuild struct {
	once sync.Once
	path string
	out  []byte
	err  error
}

func TestMain(m *testing.M) {
	overlap()
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// program compiles c/NAME.c (with c/common.h) against the built library,
// once per test binary, and returns the executable's path.
func program(t testing.TB, name string) string {
	t.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("gcc not found")
	}
	build := testlib.Build(t)
	binDirOnce.Do(func() { binDir, binDirErr = os.MkdirTemp("", "shmif-hostile-") })
	if binDirErr != nil {
		t.Fatal(binDirErr)
	}
	progMu.Lock()
	p := progs[name]
	if p == nil {
		p = &progBuild{}
		progs[name] = p
	}
	progMu.Unlock()
	p.once.Do(func() {
		src := filepath.Join(testlib.Root(), "tests", "hostile", "capi", "c", name+".c")
		p.path = filepath.Join(binDir, name)
		args := []string{"-std=gnu11", "-O1", "-g", "-Wall", "-Wextra", "-Werror",
			"-Wno-unused-function",
			"-I" + filepath.Join(testlib.Root(), "include"), "-o", p.path, src,
			"-L" + build, "-lshmif", "-Wl,-rpath," + build, "-lpthread"}
		p.out, p.err = exec.Command("gcc", args...).CombinedOutput()
	})
	if p.err != nil {
		t.Fatalf("gcc %s: %v\n%s", name, p.err, p.out)
	}
	return p.path
}

// result is what a C program did.
type result struct {
	lines  []string
	stderr string
	status syscall.WaitStatus
	took   time.Duration
	hung   bool
}

// value returns the text after "key=" in the INFO lines, or "".
func (r *result) value(key string) string {
	for _, l := range r.lines {
		for _, f := range strings.Fields(l) {
			if v, ok := strings.CutPrefix(f, key+"="); ok {
				return v
			}
		}
	}
	return ""
}

// run runs a C program with a bound: past it the program is killed and the
// test fails (a hang). Every FAIL line fails the test, INFO lines are
// logged, and the program must end with exit status 0 and its DONE line.
func run(t *testing.T, bound time.Duration, env []string, bin string, args ...string) *result {
	t.Helper()
	r := runRaw(t, bound, env, bin, args...)
	verdict(t, r, filepath.Base(bin)+" "+strings.Join(args, " "))
	return r
}

// runRaw runs a C program and returns what it did, judging nothing.
func runRaw(t *testing.T, bound time.Duration, env []string, bin string, args ...string) *result {
	t.Helper()
	return runCmd(t, bound, func(c *exec.Cmd) { c.Env = append(c.Env, env...) }, bin, args...)
}

// runCmd is runRaw with a function that adjusts the command first.
func runCmd(t *testing.T, bound time.Duration, adjust func(*exec.Cmd), bin string, args ...string) *result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = os.Environ()
	adjust(cmd)
	var out, errb bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &errb
	cmd.WaitDelay = time.Second
	start := time.Now()
	cmd.Run()
	r := &result{took: time.Since(start), stderr: errb.String(), hung: ctx.Err() != nil}
	if cmd.ProcessState != nil {
		r.status = cmd.ProcessState.Sys().(syscall.WaitStatus)
	}
	r.lines = strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	return r
}

// verdict fails the test for every FAIL line, a death by signal, a hang, a
// non-zero exit or a missing DONE line.
func verdict(t *testing.T, r *result, what string) {
	t.Helper()
	done := false
	for _, l := range r.lines {
		switch {
		case strings.HasPrefix(l, "FAIL"):
			t.Errorf("%s: %s", what, l)
		case strings.HasPrefix(l, "INFO"):
			t.Logf("%s: %s", what, l)
		case strings.HasPrefix(l, "DONE"):
			done = true
		}
	}
	tail := r.stderr
	if len(tail) > 4000 {
		tail = tail[len(tail)-4000:]
	}
	switch {
	case r.hung:
		t.Errorf("%s: still running after %v (hang); killed\nstderr:\n%s", what, r.took.Round(time.Millisecond), tail)
	case r.status.Signaled():
		t.Errorf("%s: died by signal %v after %v\nstderr:\n%s", what, r.status.Signal(), r.took.Round(time.Millisecond), tail)
	case r.status.ExitStatus() != 0:
		t.Errorf("%s: exit status %d\nstderr:\n%s", what, r.status.ExitStatus(), tail)
	case !done:
		t.Errorf("%s: no DONE line\nstderr:\n%s", what, tail)
	}
}

// busPath returns the path of a bus file in a fresh directory of the test.
func busPath(t *testing.T) string {
	return filepath.Join(t.TempDir(), "bus")
}

func itoa(n int) string { return fmt.Sprint(n) }

// overlap lets more parallel tests run at once than there are CPUs: most
// of them wait on child processes (a lock held for 10 s, signal storms,
// kills), so their waits overlap. An explicit -parallel wins.
func overlap() {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		flag.Set("test.parallel", "6")
	}
}

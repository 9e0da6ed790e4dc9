// Package batch_test attacks receivers' lock-free copies of a backlog
// (docs/protocol.md §9.9, §10.3 step 5b) from outside, with separate OS
// processes: flooding writers killed and restarted at random, receivers of
// every receive call stopped and continued so that they fall behind and get
// lapped, NetBSD-style writers that store last before the record, and
// strangers that scribble the header words without the lock.
//
// Frames carry a writer id, a sequence number, their length and a CRC-32
// (c/bat.c), so a receiver tells a torn, invented, duplicated or reordered
// frame from a whole one; for libshmif writers frames published must equal
// frames received + lost, exactly.
//
// The lock-free path exists only on amd64 outside the race detector: run
// these tests without -race. SHMIF_STRESS=full makes the storms longer.
package batch_test

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/libshmif/libshmif/internal/testlib"
)

func full() bool { return os.Getenv("SHMIF_STRESS") == "full" }

// longForm skips a test outside make stress: make test keeps the storms
// that cover the most (exact accounting, killed writers, lossless, the
// NetBSD-order writer, misfit buffers) and stays under its time budget.
func longForm(t *testing.T) {
	t.Helper()
	if !full() {
		t.Skip("run by make stress (SHMIF_STRESS=full); make test runs the shorter storms")
	}
}

func pick[T any](short, long T) T {
	if full() {
		return long
	}
	return short
}

var (
	batOnce sync.Once
	batPath string
	batOut  []byte
	batErr  error
)

// bat compiles c/bat.c against the built library, once per test binary.
func bat(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("gcc not found")
	}
	build := testlib.Build(t)
	batOnce.Do(func() {
		d, err := os.MkdirTemp("", "shmif-batch-")
		if err != nil {
			batErr = err
			return
		}
		batPath = filepath.Join(d, "bat")
		args := []string{"-std=gnu11", "-O2", "-Wall", "-Wextra", "-Werror",
			"-I" + filepath.Join(testlib.Root(), "include"), "-o", batPath,
			filepath.Join(testlib.Root(), "tests", "hostile", "batch", "c", "bat.c"),
			"-L" + build, "-lshmif", "-Wl,-rpath," + build}
		batOut, batErr = exec.Command("gcc", args...).CombinedOutput()
	})
	if batErr != nil {
		t.Fatalf("gcc bat.c: %v\n%s", batErr, batOut)
	}
	return batPath
}

// seed returns the test's seed: SHMIF_SEED if set, else a random one,
// logged so that a failure can be run again.
func seed(t *testing.T) uint64 {
	if s := os.Getenv("SHMIF_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 0, 64)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("seed %d (SHMIF_SEED)", v)
		return v
	}
	v := uint64(time.Now().UnixNano())
	t.Logf("seed %d (rerun with SHMIF_SEED=%d)", v, v)
	return v
}

// proc is a running bat process.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *testlib.SyncBuffer
	done chan struct{}
	err  error
}

func start(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{name: args[0] + " " + args[2], out: &testlib.SyncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout = p.out
	var stderr bytes.Buffer
	p.cmd.Stderr = &stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.out.String(), "ready") {
		select {
		case <-p.done:
			t.Fatalf("%s died before ready: %v\n%s%s", p.name, p.err, p.out.String(), stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			p.cmd.Process.Kill()
			t.Fatalf("%s not ready in 10 s", p.name)
		}
		time.Sleep(time.Millisecond)
	}
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Signal(syscall.SIGCONT)
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// wait waits for p to exit within bound; it must exit 0 and print DONE
// with no FAIL line.
func (p *proc) wait(t *testing.T, bound time.Duration) string {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(bound):
		p.cmd.Process.Signal(syscall.SIGQUIT)
		time.Sleep(200 * time.Millisecond)
		p.cmd.Process.Kill()
		<-p.done
		t.Errorf("%s hung (> %v); output:\n%s", p.name, bound, tail(p.out.String()))
		return p.out.String()
	}
	out := p.out.String()
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "FAIL") {
			t.Errorf("%s: %s", p.name, l)
		}
	}

	if p.err != nil || !strings.Contains(out, "DONE failures=0") {
		t.Errorf("%s ended with %v; output:\n%s", p.name, p.err, tail(out))
	}
	return out
}

func tail(s string) string {
	if len(s) > 3000 {
		return "..." + s[len(s)-3000:]
	}
	return s
}

// readerResult is what a reader printed.
type readerResult struct {
	ids                                 map[uint32]idResult
	ipackets, lost, corrupt, total, bad uint64
}

type idResult struct{ n, first, last int64 }

func parseReader(t *testing.T, out string) readerResult {
	r := readerResult{ids: map[uint32]idResult{}}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 8 && f[0] == "id":
			id, _ := strconv.ParseUint(f[1], 10, 32)
			n, _ := strconv.ParseInt(f[3], 10, 64)
			first, _ := strconv.ParseInt(f[5], 10, 64)
			last, _ := strconv.ParseInt(f[7], 10, 64)
			r.ids[uint32(id)] = idResult{n, first, last}
		case len(f) >= 6 && f[0] == "stats":
			r.ipackets, _ = strconv.ParseUint(f[1], 10, 64)
			r.lost, _ = strconv.ParseUint(f[2], 10, 64)
			r.corrupt, _ = strconv.ParseUint(f[3], 10, 64)
			r.total, _ = strconv.ParseUint(f[5], 10, 64)
			if len(f) >= 8 {
				r.bad, _ = strconv.ParseUint(f[7], 10, 64)
			}
		}
	}
	return r
}

// counter reads a writer's counter file: frames acknowledged and frames in
// the call under way.
func counter(t *testing.T, path string) (acked, inflight uint64) {
	b, err := os.ReadFile(path)
	if err != nil || len(b) < 16 {
		t.Fatalf("counter %s: %v", path, err)
	}
	le := func(b []byte) uint64 {
		var v uint64
		for i := 7; i >= 0; i-- {
			v = v<<8 | uint64(b[i])
		}
		return v
	}
	return le(b[0:8]), le(b[8:16])
}

// stopper stops and continues procs at random until quit is closed: each
// stop lasts 0..maxStop, with 0..maxGap between them.
func stopper(rng *rand.Rand, procs []*proc, maxStop, maxGap time.Duration, quit chan struct{}, stops *int) {
	for {
		select {
		case <-quit:
			return
		case <-time.After(time.Duration(rng.Int64N(int64(maxGap) + 1))):
		}
		p := procs[rng.IntN(len(procs))]
		p.cmd.Process.Signal(syscall.SIGSTOP)
		time.Sleep(time.Duration(rng.Int64N(int64(maxStop) + 1)))
		p.cmd.Process.Signal(syscall.SIGCONT)
		*stops++
	}
}

func busDir(t *testing.T) (bus, done string) {
	d := t.TempDir()
	return filepath.Join(d, "bus"), filepath.Join(d, "done")
}

var _ = fmt.Sprint

func writeFile(path string) error { return os.WriteFile(path, nil, 0o644) }

package hostile_test

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// proc is a C program running in the background, with its standard input
// and its output lines.
type proc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	mu     sync.Mutex
	all    []string
	stderr strings.Builder
	done   chan struct{}
	eof    chan struct{} // closed when the output has been read to its end
}

// startProc starts bin; it is killed and reaped at the end of the test.
func startProc(t *testing.T, env []string, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...), lines: make(chan string, 1024), done: make(chan struct{}), eof: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), env...)
	var err error
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stderr = &syncWriter{b: &p.stderr, mu: &p.mu}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.eof)
		defer close(p.lines)
		s := bufio.NewScanner(out)
		for s.Scan() {
			p.mu.Lock()
			p.all = append(p.all, s.Text())
			p.mu.Unlock()
			select {
			case p.lines <- s.Text():
			default:
			}
		}
	}()
	t.Cleanup(func() { p.kill(); p.wait() })
	return p
}

type syncWriter struct {
	b  *strings.Builder
	mu *sync.Mutex
}

func (w *syncWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(b)
}

// expect waits for the next line starting with prefix, skipping others.
func (p *proc) expect(t *testing.T, prefix string, within time.Duration) string {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				t.Fatalf("%s ended before %q\n%s", p.cmd.Path, prefix, p.output())
			}
			if strings.HasPrefix(l, prefix) {
				return l
			}
		case <-deadline:
			t.Fatalf("%s: no %q within %v\n%s", p.cmd.Path, prefix, within, p.output())
		}
	}
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.all, "\n") + "\nstderr:\n" + p.stderr.String()
}

// outputGrace bounds the wait for the end of a process's output once the
// caller waits for the process to end.
const outputGrace = 30 * time.Second

// kill sends SIGKILL (the process may be gone already).
func (p *proc) kill() { p.cmd.Process.Signal(syscall.SIGKILL) }

// wait reaps the process once and returns its wait status. It first
// reads its output to the end: Wait closes the pipe, and what the process
// wrote last (its DONE line) would be lost if the reading had not got
// there yet, as under load it may not have.
func (p *proc) wait() syscall.WaitStatus {
	select {
	case <-p.done:
	default:
		select {
		case <-p.eof:
		case <-time.After(outputGrace):
			// Someone else holds the pipe open (a child the
			// process left behind): reap it anyway.
		}
		p.cmd.Wait()
		select {
		case <-p.done:
		default:
			close(p.done)
		}
	}
	if p.cmd.ProcessState == nil {
		return 0
	}
	return p.cmd.ProcessState.Sys().(syscall.WaitStatus)
}

// finish waits up to bound for the process to exit by itself and judges it
// like run does; past the bound it is killed as hung.
func (p *proc) finish(t *testing.T, bound time.Duration, what string) *result {
	t.Helper()
	ch := make(chan struct{})
	go func() { p.wait(); close(ch) }()
	r := &result{}
	select {
	case <-ch:
	case <-time.After(bound):
		r.hung = true
		p.kill()
		<-ch
	}
	for range p.lines {
	}
	p.mu.Lock()
	r.lines = append([]string(nil), p.all...)
	r.stderr = p.stderr.String()
	p.mu.Unlock()
	if p.cmd.ProcessState != nil {
		r.status = p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	}
	verdict(t, r, what)
	return r
}

// monoNow is CLOCK_MONOTONIC in nanoseconds, the clock the C programs print.
func monoNow() int64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

const (
	stopSignal = syscall.SIGSTOP
	contSignal = syscall.SIGCONT
)

// waitStopped waits until every thread of process pid is in the stopped
// state, as SIGSTOP leaves it (each thread stops when it next runs); false
// if not within bound.
func waitStopped(pid int, bound time.Duration) bool {
	deadline := time.Now().Add(bound)
	dir := "/proc/" + strconv.Itoa(pid) + "/task/"
	for time.Now().Before(deadline) {
		tasks, err := os.ReadDir(dir)
		if err != nil {
			return false
		}
		stopped := true
		for _, task := range tasks {
			b, err := os.ReadFile(dir + task.Name() + "/stat")
			// pid (comm) state ...: comm may hold spaces and parentheses.
			i := bytes.LastIndexByte(b, ')')
			if err == nil && (i < 0 || i+2 >= len(b) || b[i+2] != 'T') {
				stopped = false
				break
			}
		}
		if stopped {
			return true
		}
		time.Sleep(100 * time.Microsecond)
	}
	return false
}

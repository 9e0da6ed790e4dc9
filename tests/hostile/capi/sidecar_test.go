package hostile_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// sidecarPath is libshmif's private state beside bus (libshmif(3) FILES:
// /dev/shm/shmif-DEV-INO, device and inode in hexadecimal).
func sidecarPath(t *testing.T, bus string) string {
	t.Helper()
	var st syscall.Stat_t
	must(t, syscall.Stat(bus, &st))
	return fmt.Sprintf("/dev/shm/shmif-%x-%x", st.Dev, st.Ino)
}

// newBus makes an empty bus file and removes its sidecar after the test.
func newBus(t *testing.T) (string, string) {
	t.Helper()
	bus := busPath(t)
	must(t, os.WriteFile(bus, nil, 0o644))
	side := sidecarPath(t, bus)
	os.RemoveAll(side)
	t.Cleanup(func() { os.RemoveAll(side) })
	return bus, side
}

// TestSidecarPlanted: what is found at the private state's path before any
// libshmif process attaches: a symbolic link to a file with contents, a
// FIFO, a directory, 64 KiB of zeros, 64 KiB of random bytes. Attaching
// works and does not hang, the link's target is untouched, and frames flow
// between two processes (libshmif(3) FILES: "Without it (it cannot be made,
// or is damaged), libshmif works as correctly, slower").
func TestSidecarPlanted(t *testing.T) {
	t.Parallel()
	files, wbin, rbin := program(t, "files"), program(t, "writer"), program(t, "reader")
	for _, kind := range []string{"symlink", "fifo", "dir", "zeros", "random"} {
		t.Run(kind, func(t *testing.T) {
			bus, side := newBus(t)
			victim := filepath.Join(t.TempDir(), "victim")
			must(t, os.WriteFile(victim, []byte("precious\n"), 0o644))
			switch kind {
			case "symlink":
				must(t, os.Symlink(victim, side))
			case "fifo":
				must(t, syscall.Mkfifo(side, 0o644))
			case "dir":
				must(t, os.Mkdir(side, 0o755))
			case "zeros":
				must(t, os.WriteFile(side, make([]byte, 65536), 0o644))
			case "random":
				b := make([]byte, 65536)
				for i := range b {
					b[i] = byte(rand.Uint32())
				}
				must(t, os.WriteFile(side, b, 0o644))
			}
			r := run(t, 20*time.Second, nil, files, "attach", bus)
			t.Logf("lossless active: %s", r.value("lossless_active"))
			if b, _ := os.ReadFile(victim); string(b) != "precious\n" {
				t.Errorf("the target of a symbolic link at the private state's path was changed: %q", b)
			}
			rd := startProc(t, nil, rbin, bus, "0")
			rd.expect(t, "ready", 10*time.Second)
			run(t, 20*time.Second, nil, wbin, bus, "single", "1", "2000")
			fmt.Fprintf(rd.stdin, "end 1 2000\n")
			rd.finish(t, 20*time.Second, "reader")
		})
	}
}

// TestSidecarDamagedLive: while a writer process sends 300000 frames, a
// reader process checks each and a stalled lossless receiver (max_wait_ms
// 300) holds the writer back, the private state is overwritten with random
// bytes or zeros, or removed, every 30 ms (libshmif(3) FILES: "Without it
// (it cannot be made, or is damaged), libshmif works as correctly,
// slower"). No process may die (the file is mapped by all three), the
// writer's slowest send stays within the lossless bound plus slack, the
// reader gets whole frames in order with received + lost equal to the
// records written, and a writer started afterwards gets through.
// Truncation kills them: see TestDefectSidecarTruncated.
func TestSidecarDamagedLive(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"random", "zeros", "unlink", "all"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			sidecarDamage(t, how)
		})
	}
}

// sidecarDamage runs the processes of TestSidecarDamagedLive and damages
// their private state in the way how names ("all": every way in turn).
func sidecarDamage(t *testing.T, how string) {
	wbin, rbin := program(t, "writer"), program(t, "reader")
	{
		{
			bus, side := newBus(t)
			rd := startProc(t, nil, rbin, bus, "0")
			rd.expect(t, "ready", 10*time.Second)
			st := startProc(t, nil, rbin, bus, "300", "stall")
			st.expect(t, "ready", 10*time.Second)
			frames := pick(300000, 3000000)
			w := startProc(t, nil, wbin, bus, "batch256", "1", strconv.Itoa(frames))
			w.expect(t, "ready", 10*time.Second)
			stop := time.After(pick(time.Second, 10*time.Second))
			rounds := 0
		loop:
			for i := 0; ; i++ {
				select {
				case <-stop:
					break loop
				default:
				}
				damage := how
				if how == "all" {
					damage = []string{"random", "zeros", "unlink"}[i%3]
				}
				damageSidecar(side, damage)
				rounds++
				time.Sleep(30 * time.Millisecond)
			}
			res := w.finish(t, 60*time.Second, "writer")
			maxMs, _ := strconv.ParseFloat(res.value("max_ms"), 64)
			t.Logf("%d rounds of damage; writer's slowest send %.1f ms", rounds, maxMs)
			if maxMs > 300+1700 {
				t.Errorf("a send took %.1f ms with a lossless receiver of max_wait_ms 300", maxMs)
			}
			w2 := startProc(t, nil, wbin, bus, "single", "2", "1000")
			w2.finish(t, 30*time.Second, "second writer")
			t.Logf("writer: %s", res.value("sent"))
			fmt.Fprintf(rd.stdin, "end 2 1000\n")
			rd.finish(t, 30*time.Second, "reader")
			st.kill()
			if ws := st.wait(); !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
				t.Errorf("the stalled receiver ended by itself: %v\n%s", ws, st.output())
			}
		}
	}
}

func damageSidecar(side, how string) {
	switch how {
	case "random", "zeros":
		f, err := os.OpenFile(side, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		b := make([]byte, 65536)
		if how == "random" {
			for i := range b {
				b[i] = byte(rand.Uint32())
			}
		}
		f.WriteAt(b, 0)
		f.Close()
	case "truncate":
		os.Truncate(side, 0)
	case "unlink":
		os.Remove(side)
	}
}

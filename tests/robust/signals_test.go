package robust_test

import (
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/libshmif/libshmif/internal/testlib"
)

// TestHostSignalHandlersKeepWorking runs c/signals.c, which installs
// handlers for SIGINT and SIGTERM before its first libshmif call and for
// SIGUSR1 and SIGHUP after, with a thread blocked in shmif_recv(-1). This
// test sends the four signals; every handler must run, the blocked receive
// must go on, also through 10,000 SIGUSR1 aimed at the receiving thread
// while frames arrive, and end with ENXIO at shmif_destroy; the program must
// exit 0. rump.h promises this for handlers installed before or after
// loading: "linked" loads libshmif at program start, "dlopen" installs the
// first two handlers before libshmif (and the Go runtime) is loaded at all.
func TestHostSignalHandlersKeepWorking(t *testing.T) {
	for _, mode := range []string{"linked", "dlopen"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			args := []string{filepath.Join(dir, "bus")}
			var bin string
			if mode == "linked" {
				bin = cc(t, "signals", dir, "signals")
			} else {
				// --as-needed drops libshmif from the executable's
				// dependencies, as it is loaded by hand.
				bin = cc(t, "signals", dir, "signals-dlopen", "-DSHMIF_DLOPEN", "-Wl,--as-needed")
				args = append(args, filepath.Join(testlib.Build(t), "libshmif.so"))
			}
			c := start(t, exec.Command(bin, args...))
			var out strings.Builder
			for {
				l := c.expect(t, "", 20*time.Second)
				out.WriteString(l + "\n")
				if l == "ready" {
					break
				}
			}
			for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGUSR1, syscall.SIGHUP} {
				if err := syscall.Kill(c.cmd.Process.Pid, sig); err != nil {
					t.Fatal(err)
				}
				time.Sleep(20 * time.Millisecond)
			}
			for _, l := range c.rest(t, 30*time.Second) {
				out.WriteString(l + "\n")
			}
			c.cmd.Wait()
			for _, l := range strings.Split(out.String(), "\n") {
				if strings.HasPrefix(l, "FAIL") {
					t.Error(l)
				}
			}
			exitStatus(t, "signals", c.cmd.ProcessState, out.String()+c.stderr.String())
			if !strings.Contains(out.String(), "handlers INT=1 TERM=1 USR1=1 HUP=1\n") ||
				!strings.HasSuffix(out.String(), "0 failed\n") {
				t.Fatalf("not every handler ran, or a check failed:\n%s", out.String())
			}
			t.Logf("%s: all four handlers ran; the receiving thread survived its signals and ended with ENXIO", mode)
		})
	}
}

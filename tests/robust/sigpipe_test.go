package robust_test

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/libshmif/libshmif/internal/testlib"
)

// TestSigpipeStaysIgnored runs c/sigpipe.c: a host that ignores SIGPIPE,
// loading libshmif with dlopen or linked with it, still ignores it after
// the load and after rump_init, and so does a program it then runs (the Go
// runtime installs a handler for SIGPIPE, which exec resets to the
// default; libshmif puts SIG_IGN back).
func TestSigpipeStaysIgnored(t *testing.T) {
	dir := t.TempDir()
	// The dlopen build never loads libshmif by itself: it is also the
	// program run afterwards, which reports what it inherited.
	child := cc(t, "sigpipe", dir, "sigpipe-dlopen", "-DSHMIF_DLOPEN", "-Wl,--as-needed", "-ldl")
	linked := cc(t, "sigpipe", dir, "sigpipe")
	for _, mode := range []string{"dlopen", "linked"} {
		t.Run(mode, func(t *testing.T) {
			cmd := exec.Command(child, child, filepath.Join(testlib.Build(t), "libshmif.so"))
			if mode == "linked" {
				// The shell's trap sets SIG_IGN, which exec keeps:
				// the program starts with SIGPIPE ignored, before
				// the library's constructors run.
				cmd = exec.Command("/bin/sh", "-c", `trap "" PIPE; exec "$0" "$1"`, linked, child)
			}
			out, err := cmd.CombinedOutput()
			exitStatus(t, mode, cmd.ProcessState, string(out))
			if err != nil || strings.TrimSpace(string(out)) != "ok" {
				t.Fatalf("%v\n%s", err, out)
			}
		})
	}
}

package examples_test

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"

	"github.com/libshmif/libshmif/internal/testlib"
)

// TestHelloUnderAddressSpaceLimit: what rump.h says of ulimit -v. The Go
// runtime inside the library reserves about 800 MiB of address space when
// it loads: under a limit of 1.5 GiB a C program using libshmif works;
// under 256 MiB the library cannot load, and the program ends with an
// error status (it cannot be a libshmif call's errno: no call runs). In
// between (up to about 2 GiB), the runtime may abort when it cannot start
// a thread, depending on the load; that band is not tested.
func TestHelloUnderAddressSpaceLimit(t *testing.T) {
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skip("prlimit (util-linux) not found")
	}
	hello := testlib.Path(t, "hello")
	limited := func(bytesLimit string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(prlimit, "--as="+bytesLimit, hello)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		t.Setenv("TMPDIR", t.TempDir())
		err := cmd.Run()
		code := 0
		if exit, ok := err.(*exec.ExitError); ok {
			code = exit.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return code, stdout.String(), stderr.String()
	}
	code, out, errOut := limited("3221225472") // 3 GiB
	if code != 0 || !strings.Contains(out, "shmif1 received 60 bytes") {
		t.Fatalf("under a 3 GiB address-space limit hello exited %d: %q %q", code, out, errOut)
	}
	code, out, _ = limited("268435456") // 256 MiB
	if code == 0 || out != "" {
		t.Fatalf("under a 256 MiB limit hello exited %d and printed %q: the library was expected not to load", code, out)
	}
}

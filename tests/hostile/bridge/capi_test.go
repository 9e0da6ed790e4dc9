package hostile_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	capiOnce sync.Once
	capiBin  string
	capiErr  string
)

// capiProgram compiles testdata/capi_hostile.c against the built
// libshmif.so, once; the test skips when there is no library or compiler.
func capiProgram(t *testing.T) string {
	t.Helper()
	capiOnce.Do(func() {
		lib := filepath.Join(libshmifDir, "libshmif.so")
		if _, err := os.Stat(lib); err != nil {
			capiErr = "no " + lib + " (make lib)"
			return
		}
		cc, err := exec.LookPath("cc")
		if err != nil {
			capiErr = "no C compiler"
			return
		}
		capiBin = filepath.Join(toolDir, "capi_hostile")
		out, err := exec.Command(cc, "-O1", "-g", "-Wall", "-pthread", "-I", filepath.Join(repoRoot, "include"),
			"-o", capiBin, "testdata/capi_hostile.c", "-L", libshmifDir, "-lshmif",
			"-Wl,-rpath,"+libshmifDir).CombinedOutput()
		if err != nil {
			capiErr = "compiling capi_hostile.c: " + err.Error() + "\n" + string(out)
			capiBin = ""
		}
	})
	if capiBin == "" {
		if strings.HasPrefix(capiErr, "compiling") {
			t.Fatal(capiErr)
		}
		t.Skip(capiErr)
	}
	return capiBin
}

// runCAPI runs one mode of the C program and fails the test on each FAIL
// line it prints, logging the rest.
func runCAPI(t *testing.T, mode string, timeout time.Duration) string {
	bin := capiProgram(t)
	dir := t.TempDir()
	cmd := exec.Command(bin, mode, dir)
	if mode == "cycles" && os.Getenv("SHMIF_STRESS") != "full" {
		cmd.Env = append(os.Environ(), "CYCLES=250") // 1000 under make stress
	}
	done := make(chan struct{})
	var out []byte
	var err error
	go func() {
		out, err = cmd.CombinedOutput()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(timeout):
		cmd.Process.Kill()
		<-done
		t.Fatalf("capi_hostile %s did not finish in %v:\n%s", mode, timeout, out)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if strings.HasPrefix(l, "FAIL") {
			t.Error(l)
		} else {
			t.Log(l)
		}
	}
	if err != nil {
		t.Errorf("capi_hostile %s: %v", mode, err)
	}
	if !strings.Contains(string(out), "failures ") {
		t.Errorf("capi_hostile %s did not finish:\n%s", mode, out)
	}
	return string(out)
}

// TestCBridgeErrnos: every errno the header documents for
// shmif_bridge_open, _attach, _close, _get_stats and _command, with the
// common errors (ENXIO, EFAULT) and the boundaries (64 KiB, SHMIF_MAXLINKSTR);
// malformed commands change nothing; a reply cut short is NUL-terminated
// and *needed tells the size.
func TestCBridgeErrnos(t *testing.T) {
	t.Parallel()
	runCAPI(t, "errnos", 60*time.Second)
}

// TestCBridgeCloseRace: eight threads call get_stats and command on the
// handle of a bridge that the main thread opens and closes 100 times:
// every call returns 0 or ENXIO ("Thread-safe"), nothing crashes.
func TestCBridgeCloseRace(t *testing.T) {
	t.Parallel()
	runCAPI(t, "race", 60*time.Second)
}

// TestCBridgeCycles: 250 open/close cycles (1000 under SHMIF_STRESS=full)
// leak no descriptor, no thread and no /dev/shm entry.
func TestCBridgeCycles(t *testing.T) {
	t.Parallel()
	runCAPI(t, "cycles", 60*time.Second)
}

// TestCBridgeInterfaceDestroyed: shmif_bridge_attach, then shmif_destroy
// of its interface underneath. The header says nothing of this; the test
// records what happens and requires that nothing crashes and that closing
// the bridge does not touch another interface that took the same unit.
func TestCBridgeInterfaceDestroyed(t *testing.T) {
	t.Parallel()
	runCAPI(t, "destroyed", 30*time.Second)
}

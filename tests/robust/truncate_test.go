package robust_test

import (
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestTruncatedBusFromC runs c/truncate.c: the bus file is truncated
// (truncate(2) to 0 bytes, and to 4096 bytes with the write position inside
// and past the kept page) under two live interfaces of a C process. rump.h:
// memory faults on the mapping are reported as EIO and do not kill the host;
// EIO means "the bus file was truncated or replaced: unset and set the
// linkstr". So shmif_send and shmif_recv must return EIO, the process must
// live, and after shmif_down, shmif_unset_linkstr, shmif_set_linkstr and
// shmif_up on the same path the interfaces must exchange frames again.
func TestTruncatedBusFromC(t *testing.T) {
	dir := t.TempDir()
	bin := cc(t, "truncate", dir, "truncate")
	cmd := exec.Command(bin, dir)
	start := time.Now()
	out, _ := cmd.CombinedOutput()
	var rest []string // what is not a passed check, for the failure message
	for _, l := range strings.Split(string(out), "\n") {
		switch {
		case strings.HasPrefix(l, "FAIL"):
			t.Error(l)
		case !strings.HasPrefix(l, "ok "):
			rest = append(rest, l)
		}
	}
	exitStatus(t, "truncate", cmd.ProcessState, strings.Join(rest, "\n"))
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if last := lines[len(lines)-1]; last != "0 failed" {
		t.Fatalf("last line %q, want \"0 failed\"\n%s", last, out)
	}
	t.Logf("%d checks passed in %v", strings.Count(string(out), "\nok "), time.Since(start).Round(time.Millisecond))
}

package robust_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestWaits runs c/waits.c: receive timeouts are deadlines whatever signals
// arrive (issue 10.5); a thousand interfaces on three hundred buses each
// have a poll descriptor (10.6); destroying an interface wakes epoll and
// poll waiters on its descriptor (10.7).
func TestWaits(t *testing.T) {
	dir := t.TempDir()
	bin := cc(t, "waits", dir, "waits")
	out, _ := exec.Command(bin, dir).CombinedOutput()
	t.Logf("\n%s", out)
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "FAIL") {
			t.Error(l)
		}
	}
	if !strings.HasSuffix(string(out), "0 failed\n") {
		t.Fatal("waits did not finish cleanly")
	}
}

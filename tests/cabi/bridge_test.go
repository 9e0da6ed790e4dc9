package cabi_test

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// command runs a bridge command with a reply buffer of 4 KiB.
func command(t testing.TB, h int32, line string) (string, int32) {
	t.Helper()
	buf := make([]byte, 4096)
	var needed uintptr
	rc := lib.shmif_bridge_command(h, cstr(line), &buf[0], uintptr(len(buf)), &needed)
	reply := string(buf[:strings.IndexByte(string(buf), 0)])
	if needed != uintptr(len(reply)+1) && rc != int32(unix.ERANGE) {
		t.Errorf("%q: needed %d for a reply of %d bytes", line, needed, len(reply))
	}
	return reply, rc
}

func bridgeStatsOf(t testing.TB, h int32) bridgeStats {
	t.Helper()
	var st bridgeStats
	must(t, "shmif_bridge_get_stats", lib.shmif_bridge_get_stats(h, &st))
	return st
}

// A bridge between two buses run by the C calls, with an impairment stage
// changed while it runs: what crosses, the counters and the replies.
func TestBridgeOpen(t *testing.T) {
	setup(t)
	dir := t.TempDir()
	busA, busB := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	var h int32
	must(t, "shmif_bridge_open", lib.shmif_bridge_open(cstr(busA), cstr("shmif://"+busB),
		cstr("learning seed=7 impair LR loss 100%"), &h))
	closed := false
	defer func() {
		if !closed {
			lib.shmif_bridge_close(h)
		}
	}()
	a, b := open(t, busA), open(t, busB)
	f := frame(broadcast, macOf(t, a), 100, "over the bridge")
	send(t, a, f)
	if got, rc := recv(b, 300); rc == 0 {
		t.Fatalf("a frame crossed a link that loses everything: % x", got[:20])
	}
	reply, rc := command(t, h, "show")
	if rc != 0 || reply != "seed 7\nLR loss 100%\nRL \nok\n" && !strings.HasPrefix(reply, "seed 7\nLR loss 100%") {
		t.Errorf("show: %s %q", errName(rc), reply)
	}
	if reply, rc := command(t, h, "set LR loss 0%"); rc != 0 || reply != "ok\n" {
		t.Fatalf("set: %s %q", errName(rc), reply)
	}
	send(t, a, f)
	mustRecv(t, b, f)
	// And back, unimpaired.
	g := frame(broadcast, macOf(t, b), 80, "and back")
	send(t, b, g)
	mustRecv(t, a, g)

	// The counters follow the writes.
	st := bridgeStatsOf(t, h)
	for deadline := time.Now().Add(5 * time.Second); st.toBus.frames == 0 && time.Now().Before(deadline); {
		time.Sleep(2 * time.Millisecond)
		st = bridgeStatsOf(t, h)
	}
	if st.toEndpoint.frames != 1 || st.toEndpoint.bytes != 100 || st.toBus.frames != 1 || st.toBus.bytes != 80 ||
		st.stopped != 0 || st.err != 0 {
		t.Errorf("stats: %+v", st)
	}
	reply, rc = command(t, h, "counters LR")
	if rc != 0 || !strings.HasPrefix(reply, "LR in=2/200 out=1/100 queued=0/0 lost=1/100 ") {
		t.Errorf("counters: %s %q", errName(rc), reply)
	}
	reply, rc = command(t, h, "stats")
	if rc != 0 || !strings.Contains(reply, "frames=1 ") || !strings.Contains(reply, "\nLR in=2/200") {
		t.Errorf("stats command: %s %q", errName(rc), reply)
	}
	if reply, rc = command(t, h, "error"); rc != 0 || reply != "ok\n" {
		t.Errorf("error command of a running bridge: %s %q", errName(rc), reply)
	}

	// Replies: an error line is EINVAL and changes nothing; a short buffer
	// is ERANGE with the size needed; no buffer means no reply wanted.
	reply, rc = command(t, h, "set LR loss lots")
	if rc != int32(unix.EINVAL) || !strings.HasPrefix(reply, "error: ") {
		t.Errorf("a malformed command: %s %q", errName(rc), reply)
	}
	if reply, _ = command(t, h, "show LR"); !strings.Contains(reply, "LR loss 0%") && !strings.Contains(reply, "LR \n") && !strings.HasPrefix(reply, "seed 7\nLR") {
		t.Errorf("the malformed command changed the settings: %q", reply)
	}
	small := make([]byte, 4)
	var needed uintptr
	check(t, "command into 4 bytes", lib.shmif_bridge_command(h, cstr("show"), &small[0], 4, &needed), unix.ERANGE)
	if string(small[:3]) != "see" || small[3] != 0 || needed < 10 {
		t.Errorf("a cut reply: %q, needed %d", small, needed)
	}
	must(t, "command without a reply", lib.shmif_bridge_command(h, cstr("set delay 0ms"), nil, 0, nil))
	check(t, "command with a newline", lib.shmif_bridge_command(h, cstr("show\nshow"), nil, 0, nil), unix.EINVAL)
	check(t, "command NULL", lib.shmif_bridge_command(h, nil, nil, 0, nil), unix.EFAULT)
	check(t, "reply NULL with a length", lib.shmif_bridge_command(h, cstr("show"), nil, 10, nil), unix.EFAULT)
	check(t, "stats NULL", lib.shmif_bridge_get_stats(h, nil), unix.EFAULT)

	must(t, "shmif_bridge_close", lib.shmif_bridge_close(h))
	closed = true
	check(t, "close twice", lib.shmif_bridge_close(h), unix.ENXIO)
	check(t, "stats after close", lib.shmif_bridge_get_stats(h, new(bridgeStats)), unix.ENXIO)
	check(t, "command after close", lib.shmif_bridge_command(h, cstr("show"), nil, 0, nil), unix.ENXIO)
	// Nothing crosses any more, and both buses still work.
	send(t, a, f)
	if _, rc := recv(b, 200); rc == 0 {
		t.Error("a frame crossed a closed bridge")
	}
}

// A bridge on the host's own interface leaves it the host's: promiscuous
// while bridged, restored after, and still there.
func TestBridgeAttach(t *testing.T) {
	setup(t)
	dir := t.TempDir()
	busA, busB := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	port := open(t, busA)
	var h int32
	check(t, "attach with mode=", lib.shmif_bridge_attach(port, cstr("shmif://"+busB), cstr("mode=0600"), &h), unix.EINVAL)
	must(t, "shmif_bridge_attach", lib.shmif_bridge_attach(port, cstr("shmif://"+busB), nil, &h))
	if flagsOf(t, port)&iffPromisc == 0 {
		t.Error("the bridged interface is not promiscuous")
	}
	a, b := open(t, busA), open(t, busB)
	f := frame(macOf(t, b), macOf(t, a), 64, "unicast for b, over there")
	send(t, a, f)
	mustRecv(t, b, f)
	// The host may send on the port: its frames stay on its bus (an
	// interface does not receive its own frames, the bridge included).
	g := frame(broadcast, macOf(t, port), 70, "from the port")
	send(t, port, g)
	mustRecv(t, a, g)
	if _, rc := recv(b, 200); rc == 0 {
		t.Error("a frame the port sent crossed the bridge")
	}
	must(t, "shmif_bridge_close", lib.shmif_bridge_close(h))
	if flagsOf(t, port)&iffPromisc != 0 {
		t.Error("closing the bridge left the interface promiscuous")
	}
	if flagsOf(t, port)&iffUp == 0 {
		t.Error("closing the bridge took the host's interface down")
	}
}

// Bad arguments get an errno and make nothing.
func TestBridgeErrors(t *testing.T) {
	setup(t)
	dir := t.TempDir()
	bus := filepath.Join(dir, "bus")
	var h int32
	ep := cstr("shmif://" + filepath.Join(dir, "other"))
	for _, c := range []struct {
		what string
		rc   int32
		want unix.Errno
	}{
		{"NULL bus", lib.shmif_bridge_open(nil, ep, nil, &h), unix.EFAULT},
		{"NULL endpoint", lib.shmif_bridge_open(cstr(bus), nil, nil, &h), unix.EFAULT},
		{"NULL handle", lib.shmif_bridge_open(cstr(bus), ep, nil, nil), unix.EFAULT},
		{"empty bus", lib.shmif_bridge_open(cstr(""), ep, nil, &h), unix.EINVAL},
		{"long bus", lib.shmif_bridge_open(cstr(strings.Repeat("x", 1024)), ep, nil, &h), unix.E2BIG},
		{"unknown scheme", lib.shmif_bridge_open(cstr(bus), cstr("carrier-pigeon://x"), nil, &h), unix.EINVAL},
		{"not a URL", lib.shmif_bridge_open(cstr(bus), cstr("/tmp/x"), nil, &h), unix.EINVAL},
		{"unknown option", lib.shmif_bridge_open(cstr(bus), ep, cstr("learning fast"), &h), unix.EINVAL},
		{"option without value", lib.shmif_bridge_open(cstr(bus), ep, cstr("ageing="), &h), unix.EINVAL},
		{"bad ageing", lib.shmif_bridge_open(cstr(bus), ep, cstr("ageing=-1"), &h), unix.EINVAL},
		{"bad mode", lib.shmif_bridge_open(cstr(bus), ep, cstr("mode=0999"), &h), unix.EINVAL},
		{"bad seed", lib.shmif_bridge_open(cstr(bus), ep, cstr("seed=x"), &h), unix.EINVAL},
		{"bad impairment", lib.shmif_bridge_open(cstr(bus), ep, cstr("impair loss 101%"), &h), unix.EINVAL},
		{"bare delay", lib.shmif_bridge_open(cstr(bus), ep, cstr("impair delay 10"), &h), unix.EINVAL},
		{"control-mode alone", lib.shmif_bridge_open(cstr(bus), ep, cstr("control-mode=0640"), &h), unix.EINVAL},
		{"public listener", lib.shmif_bridge_open(cstr(bus), cstr("stream://listen:tcp:0.0.0.0:7000"), nil, &h), unix.EINVAL},
		{"unknown ifnum", lib.shmif_bridge_attach(4711, ep, nil, &h), unix.ENXIO},
	} {
		check(t, c.what, c.rc, c.want)
	}
	for _, p := range []string{bus, filepath.Join(dir, "other")} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s was made by a call that failed", p)
		}
	}
	// A file that is not a bus is refused and left alone.
	notBus := filepath.Join(dir, "notes")
	os.WriteFile(notBus, []byte("notes"), 0o644)
	check(t, "not a bus", lib.shmif_bridge_open(cstr(notBus), ep, nil, &h), unix.ENOEXEC)
	if b, _ := os.ReadFile(notBus); string(b) != "notes" {
		t.Error("the file was changed")
	}
	// A control socket path in use.
	taken := filepath.Join(dir, "taken")
	os.WriteFile(taken, nil, 0o600)
	check(t, "control socket in use", lib.shmif_bridge_open(cstr(bus), ep, cstr("control="+taken), &h), unix.EADDRINUSE)
	// "impair" alone: a stage that passes everything, set later.
	must(t, "shmif_bridge_open(impair)", lib.shmif_bridge_open(cstr(bus), ep, cstr("seed=3 impair"), &h))
	if reply, rc := command(t, h, "show"); rc != 0 || reply != "seed 3\nLR none\nRL none\nok\n" {
		t.Errorf("show of an empty stage: %s %q", errName(rc), reply)
	}
	if reply, rc := command(t, h, "  "); rc != int32(unix.EINVAL) || !strings.HasPrefix(reply, "error: ") {
		t.Errorf("a blank command: %s %q", errName(rc), reply)
	}
	must(t, "shmif_bridge_close", lib.shmif_bridge_close(h))
	// Impairment commands on a bridge without a stage.
	must(t, "shmif_bridge_open", lib.shmif_bridge_open(cstr(bus), ep, nil, &h))
	defer lib.shmif_bridge_close(h)
	reply, rc := command(t, h, "show")
	if rc != int32(unix.EINVAL) || !strings.Contains(reply, "no impairment stage") {
		t.Errorf("show without a stage: %s %q", errName(rc), reply)
	}
}

// A bridge whose peer goes away stops by itself and says why; its handle
// stays until closed.
func TestBridgePeerGone(t *testing.T) {
	setup(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "s")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var h int32
	must(t, "shmif_bridge_open", lib.shmif_bridge_open(cstr(filepath.Join(dir, "bus")), cstr("stream://unix:"+sock), nil, &h))
	defer lib.shmif_bridge_close(h)
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for bridgeStatsOf(t, h).stopped == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the bridge did not notice its peer leave")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if st := bridgeStatsOf(t, h); st.err != int32(unix.ENOTCONN) {
		t.Errorf("error %s, want ENOTCONN", errName(st.err))
	}
	if reply, rc := command(t, h, "error"); rc != 0 || len(reply) <= len("ok\n") {
		t.Errorf("error command: %s %q", errName(rc), reply)
	}
}

// Threads: stats and commands race a close; every call returns 0 or ENXIO.
func TestBridgeThreads(t *testing.T) {
	setup(t)
	dir := t.TempDir()
	for round := range 20 {
		var h int32
		must(t, "shmif_bridge_open", lib.shmif_bridge_open(cstr(filepath.Join(dir, "a")),
			cstr("shmif://"+filepath.Join(dir, "b")), cstr("impair delay 1ms"), &h))
		var wg sync.WaitGroup
		for k := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				buf := make([]byte, 256)
				for range 200 {
					var rc int32
					if k%2 == 0 {
						var st bridgeStats
						rc = lib.shmif_bridge_get_stats(h, &st)
					} else {
						rc = lib.shmif_bridge_command(h, cstr("counters"), &buf[0], uintptr(len(buf)), nil)
					}
					if rc == int32(unix.ENXIO) {
						return
					}
					if rc != 0 && rc != int32(unix.ERANGE) {
						t.Errorf("round %d: %s", round, errName(rc))
						return
					}
				}
			}()
		}
		time.Sleep(time.Millisecond)
		must(t, "shmif_bridge_close", lib.shmif_bridge_close(h))
		wg.Wait()
	}
}

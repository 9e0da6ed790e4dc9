package bridge_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/libshmif/libshmif/core/bridge"
	"github.com/libshmif/libshmif/internal/testlib"
	"github.com/libshmif/libshmif/tests/bridge/nstest"
	"golang.org/x/sys/unix"
)

// Two kernels, each in its own network namespace behind a tap, bridged to
// one bus by bridges in this process: they ping each other and move TCP
// data intact across the bus, and shmif-node on the bus pings one of
// them.
func TestTapBusTapInProcess(t *testing.T) {
	ns1, ns2 := nstest.New(t), nstest.New(t)
	bus := filepath.Join(t.TempDir(), "bus")
	tap1, tap2 := nstest.Name("tp"), nstest.Name("tp")
	var b1, b2 *bridge.Bridge
	for _, s := range []struct {
		ns, tap string
		b       **bridge.Bridge
	}{{ns1, tap1, &b1}, {ns2, tap2, &b2}} {
		var ep bridge.Endpoint
		var err error
		nstest.Do(t, s.ns, func() { ep, err = bridge.OpenEndpoint("tap://" + s.tap) })
		if err != nil {
			t.Fatal(err)
		}
		b, err := bridge.Open(bus, ep, bridge.Config{})
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Stop() })
		*s.b = b
	}
	nstest.IP(t, ns1, "addr", "add", "10.1.0.1/24", "dev", tap1)
	nstest.IP(t, ns2, "addr", "add", "10.1.0.2/24", "dev", tap2)
	ping(t, ns1, "10.1.0.2", 5)
	gbps := tcpTransfer(t, ns1, ns2, "10.1.0.2:5001", 32<<20)
	t.Logf("TCP: 32 MiB at %.2f Gbit/s", gbps)
	out := shmifNode(t, bus, "10.1.0.9/24", "ping", "10.1.0.2", "5")
	if !strings.Contains(out, "5 received") {
		t.Fatalf("shmif-node: %s", out)
	}
	t.Logf("shmif-node: %s", strings.TrimSpace(out))
	for _, b := range []*bridge.Bridge{b1, b2} {
		st := b.Stats()
		if st.ToBus.Frames == 0 || st.ToEndpoint.Frames == 0 || st.ToBus.TooBig+st.ToBus.TooSmall != 0 || st.ToBus.Loop > 2 {
			t.Errorf("counters: %v", b)
		}
		t.Log(b)
	}
}

// The same with shmif_bridge processes started in each namespace, without
// the virtio-net header: frames go one by one.
func TestTapBusTapProcesses(t *testing.T) {
	ns1, ns2 := nstest.New(t), nstest.New(t)
	bus := filepath.Join(t.TempDir(), "bus")
	tap1, tap2 := nstest.Name("tp"), nstest.Name("tp")
	p1 := startBridge(t, ns1, bus, "tap://"+tap1+"/vnet_hdr=off")
	p2 := startBridge(t, ns2, bus, "tap://"+tap2+"/vnet_hdr=off/mtu=1500")
	nstest.IP(t, ns1, "addr", "add", "10.2.0.1/24", "dev", tap1)
	nstest.IP(t, ns2, "addr", "add", "10.2.0.2/24", "dev", tap2)
	ping(t, ns2, "10.2.0.1", 3)
	gbps := tcpTransfer(t, ns2, ns1, "10.2.0.1:5001", 8<<20)
	t.Logf("TCP: 8 MiB at %.2f Gbit/s", gbps)
	shmifNode(t, bus, "10.2.0.9/24", "ping", "10.2.0.1", "3")
	for _, p := range []*proc{p1, p2} {
		out := p.stop(t)
		if !strings.Contains(out, "frames=") {
			t.Fatalf("no counters at exit:\n%s", out)
		}
	}
	// The taps went with the bridges; the bus stays.
	if _, err := os.Stat(bus); err != nil {
		t.Fatal(err)
	}
	if err := exec.Command("ip", "-n", ns1, "link", "show", tap1).Run(); err == nil {
		t.Fatal("the tap outlived its bridge")
	}
}

// An unprivileged shmif_bridge gets its tap as a descriptor from a
// privileged parent (tap://fd=N) and bridges a kernel to the bus.
func TestRootlessTapDescriptor(t *testing.T) {
	ns := nstest.New(t)
	tap := nstest.Name("tp")
	dir := rootlessDir(t)
	bus := filepath.Join(dir, "bus")
	var fd int
	var err error
	nstest.Do(t, ns, func() {
		fd, err = unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err == nil {
			err = tunSetIff(fd, tap, unix.IFF_TAP|unix.IFF_NO_PI|unix.IFF_VNET_HDR)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "tap")
	cmd := exec.Command(bridgeBin, "-v", "-interval", "1h", bus, "tap://fd=3")
	cmd.ExtraFiles = []*os.File{f}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	p := startCmd(t, cmd)
	f.Close()
	p.waitLine(t, "bridging")
	nstest.IP(t, ns, "link", "set", tap, "up")
	nstest.IP(t, ns, "addr", "add", "10.4.0.1/24", "dev", tap)
	shmifNode(t, bus, "10.4.0.9/24", "ping", "10.4.0.1", "3")
	p.stop(t)
}

// rootlessDir makes a directory the user nobody may write in.
func rootlessDir(t testing.TB) string {
	dir := filepath.Join(t.TempDir(), "nobody")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for d := filepath.Dir(dir); d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		os.Chmod(d, 0o755) // t.TempDir's directories are 0700
	}
	if err := os.Chown(dir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	return dir
}

// ifreqFlags is struct ifreq with the short flags of TUNSETIFF.
type ifreqFlags struct {
	name  [unix.IFNAMSIZ]byte
	flags uint16
	_     [22]byte
}

func tunSetIff(fd int, name string, flags uint16) error {
	var r ifreqFlags
	copy(r.name[:], name)
	r.flags = flags
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.TUNSETIFF, uintptr(unsafe.Pointer(&r)))
	if e != 0 {
		return e
	}
	return nil
}

// An unprivileged user in its own user and network namespaces (unshare
// -rn) makes a tap when it may open /dev/net/tun; where it may not (mode
// 0600, as on this test machine), shmif_bridge says so and how else to do
// it, and exits 1.
func TestUnshareTap(t *testing.T) {
	nstest.Need(t)
	unshare := needTool(t, "unshare")
	dir := rootlessDir(t)
	bus := filepath.Join(dir, "bus")
	probe := exec.Command(unshare, "-rn", "true")
	probe.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	if out, err := probe.CombinedOutput(); err != nil {
		t.Skipf("unprivileged user namespaces are not available: %v: %s", err, out)
	}
	var st unix.Stat_t
	if err := unix.Stat("/dev/net/tun", &st); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(unshare, "-rn", bridgeBin, "-v", "-interval", "1h", bus, "tap://tap0")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	if st.Mode&0o006 != 0o006 {
		r := testlib.Result{}
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			r.Code = ee.ExitCode()
		}
		msg := string(out)
		if r.Code != 1 || strings.Count(msg, "\n") != 1 || !strings.Contains(msg, "permission denied") || !strings.Contains(msg, "tap://fd=N") {
			t.Fatalf("exit %d, message:\n%s", r.Code, msg)
		}
		t.Logf("/dev/net/tun is %03o: %s", st.Mode&0o777, strings.TrimSpace(msg))
		return
	}
	p := startCmd(t, cmd)
	p.waitLine(t, "bridging")
	p.stop(t)
}

// A persistent tap made for a user beforehand (ip tuntap add ... user U,
// set up): the bridge attaches without CAP_NET_ADMIN, changing nothing it
// need not; asking for another MTU then fails with one message.
func TestPersistentTapWithoutNetAdmin(t *testing.T) {
	setpriv := needTool(t, "setpriv")
	ns := nstest.New(t)
	tap := nstest.Name("tp")
	nstest.IP(t, ns, "tuntap", "add", "dev", tap, "mode", "tap", "user", "0", "vnet_hdr")
	nstest.IP(t, ns, "link", "set", tap, "mtu", "1500", "up")
	nstest.IP(t, ns, "addr", "add", "10.6.0.1/24", "dev", tap)
	bus := filepath.Join(t.TempDir(), "bus")
	drop := []string{"--bounding-set", "-net_admin", "--", bridgeBin}
	p := start(t, ns, setpriv, append(drop, "-v", "-interval", "1h", bus, "tap://"+tap)...)
	p.waitLine(t, "bridging")
	t0 := time.Now()
	out := shmifNode(t, bus, "10.6.0.9/24", "ping", "10.6.0.1", "3")
	t.Logf("%v: %s", time.Since(t0), out)
	p.stop(t)
	q := start(t, ns, setpriv, append(drop, bus, "tap://"+tap+"/mtu=1400")...)
	if code, out := q.wait(t); code != 1 || !strings.Contains(out, "set mtu 1400: operation not permitted (needs CAP_NET_ADMIN") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

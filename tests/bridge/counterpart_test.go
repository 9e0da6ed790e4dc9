package bridge_test

import (
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/libshmif/libshmif/tests/bridge/nstest"
)

// Internet for a bus through passt: passt runs in a namespace with a
// default route (its outside world) and serves one client on a unix
// socket with a 4-byte length before each frame; shmif_bridge connects to
// it with stream://unix:. A node on the bus reaches a UDP echo server in
// yet another namespace, and a host on the bus one beyond a router. Run
// as root, passt becomes nobody, so its socket goes in a directory nobody
// may write to.
func TestPasst(t *testing.T) {
	needTool(t, "passt")
	inside, outside := nstest.New(t), nstest.New(t)
	nstest.Veth(t, inside, "10.77.0.1/24", outside, "10.77.0.2/24")
	nstest.IP(t, outside, "addr", "add", "10.77.0.3/24", "dev", vethIn(t, outside))
	nstest.IP(t, inside, "route", "add", "default", "via", "10.77.0.2")
	udpEcho(t, outside, "10.77.0.3:7")
	dir := rootlessDir(t)
	sock := filepath.Join(dir, "passt.sock")
	passt := start(t, inside, "passt", "-f", "-1", "-e", "-s", sock, "-a", "10.77.0.50", "-n", "24", "-g", "10.77.0.2")
	passt.waitLine(t, "bound")
	// passt says "bound" before it listens.
	waitListening(t, inside, sock)
	bus := filepath.Join(t.TempDir(), "bus")
	br := startBridge(t, "", bus, "stream://unix:"+sock)
	out := shmifNode(t, bus, "10.77.0.50/24", "udpping", "10.77.0.3", "5")
	t.Logf("through passt: %s", strings.TrimSpace(out))
	br.stop(t)
	// passt -1 leaves once its client has.
	if code, out := passt.wait(t); code != 0 {
		t.Fatalf("passt: exit %d\n%s", code, out)
	}
}

// vethIn returns the veth device of namespace ns.
func vethIn(t testing.TB, ns string) string {
	t.Helper()
	for _, l := range strings.Split(nstest.IP(t, ns, "-o", "link", "show", "type", "veth"), "\n") {
		if f := strings.Fields(l); len(f) > 1 {
			return strings.SplitN(strings.TrimSuffix(f[1], ":"), "@", 2)[0]
		}
	}
	t.Fatalf("no veth in %s", ns)
	return ""
}

// Internet for a bus through slirp4netns in BESS mode: it listens on a
// unix SOCK_SEQPACKET socket, one frame per packet, and shmif_bridge
// connects with seqpacket://unix:. A node on the bus pings slirp's
// gateway and reaches a UDP service on the loopback of slirp's namespace
// through it (10.0.2.2 is that host), and a host on the bus reaches a
// server in another namespace, routed through slirp's.
func TestSlirp4netns(t *testing.T) {
	needTool(t, "slirp4netns")
	inside, outside := nstest.New(t), nstest.New(t)
	nstest.Veth(t, inside, "10.78.0.1/24", outside, "10.78.0.2/24")
	nstest.IP(t, inside, "route", "add", "default", "via", "10.78.0.2")
	udpEcho(t, inside, "127.0.0.1:7")
	udpEcho(t, outside, "10.78.0.2:7")
	sock := filepath.Join(t.TempDir(), "bess.sock")
	slirp := start(t, inside, "slirp4netns", "--target-type=bess", sock)
	slirp.waitLine(t, "Waiting for connection")
	waitListening(t, inside, sock)
	bus := filepath.Join(t.TempDir(), "bus")
	br := startBridge(t, "", bus, "seqpacket://unix:"+sock)
	out := shmifNode(t, bus, "10.0.2.100/24", "ping", "10.0.2.2", "3")
	t.Logf("slirp's gateway: %s", strings.TrimSpace(out))
	out = shmifNode(t, bus, "10.0.2.100/24", "udpping", "10.0.2.2", "5")
	t.Logf("slirp's host loopback: %s", strings.TrimSpace(out))
	viaGateway(t, bus, netip.MustParseAddr("10.0.2.100"), netip.MustParseAddr("10.0.2.2"), netip.MustParseAddr("10.78.0.2"), 5)
	br.stop(t)
}

// A VDE switch with a kernel behind a tap plugged into it by vde_plug:
// shmif_bridge plugs a bus in with vde:// (libvdeplug through purego, in a
// program built without cgo), and shmif-node on the bus pings the kernel.
// Then the same through vde_plug's standard input and output, dpipe style:
// vde_plug URL = shmif_bridge BUS stdio.
func TestVDE(t *testing.T) {
	needTool(t, "vde_switch")
	needTool(t, "vde_plug")
	dir := t.TempDir()
	sw := filepath.Join(dir, "switch")
	// vde_switch leaves when its standard input ends.
	in, keep, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { keep.Close() })
	cmd := exec.Command("vde_switch", "-s", sw)
	cmd.Stdin = in
	startCmd(t, cmd)
	in.Close()
	// The switch binds ctl before it listens: wait until it accepts.
	waitFor(t, "vde_switch", func() bool {
		c, err := net.Dial("unix", filepath.Join(sw, "ctl"))
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	ns := nstest.New(t)
	tap := nstest.Name("tp")
	start(t, ns, "vde_plug", "vde://"+sw, "tap://"+tap)
	waitFor(t, "vde_plug's tap", func() bool {
		return strings.Contains(nstest.IP(t, ns, "link", "show"), tap)
	})
	nstest.IP(t, ns, "addr", "add", "10.3.0.2/24", "dev", tap)
	nstest.IP(t, ns, "link", "set", tap, "up")

	bus := filepath.Join(dir, "bus")
	br := startBridge(t, "", bus, "vde://"+sw)
	out := shmifNode(t, bus, "10.3.0.9/24", "ping", "10.3.0.2", "3")
	t.Logf("vde://: %s", strings.TrimSpace(out))
	if s := br.stop(t); !strings.Contains(s, "vde://"+sw+" nothing=") {
		t.Fatalf("no vde counters:\n%s", s)
	}

	bus2 := filepath.Join(dir, "bus2")
	plug := start(t, "", "vde_plug", "--", "vde://"+sw, "=", bridgeBin, "-v", "-interval", "1h", bus2, "stdio")
	plug.waitLine(t, "bridging")
	out = shmifNode(t, bus2, "10.3.0.8/24", "ping", "10.3.0.2", "3")
	t.Logf("stdio: %s", strings.TrimSpace(out))
	// vde_plug ends: the bridge sees its input end and exits 0.
	t0 := time.Now()
	plug.cmd.Process.Signal(syscall.SIGTERM)
	code, s := plug.wait(t)
	if !strings.Contains(s, "frames=") {
		t.Fatalf("vde_plug exit %d; no counters from the bridge:\n%s", code, s)
	}
	t.Logf("vde_plug exit %d after %v:\n%s", code, time.Since(t0), s)
}

// A missing socket file gives one message and exit status 1.
func TestConnectNowhere(t *testing.T) {
	bus := filepath.Join(t.TempDir(), "bus")
	p := start(t, "", bridgeBin, bus, "seqpacket://unix:"+filepath.Join(t.TempDir(), "none"))
	code, out := p.wait(t)
	if code != 1 || strings.Count(out, "\n") != 1 || !strings.Contains(out, "no such file or directory") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if _, err := os.Stat(bus); err == nil {
		t.Fatal("a bus was made although the endpoint failed")
	}
}

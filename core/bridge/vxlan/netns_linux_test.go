package vxlan

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Test networks: two network namespaces joined by a veth pair. "us" runs the
// endpoint (its sockets are made on a thread moved into the namespace);
// "peer" runs a Linux VXLAN device or plain UDP sockets standing in for
// peers. Names carry the process id so that parallel runs do not collide;
// deleting a namespace deletes its devices.

var nsSeq atomic.Int64

var probe struct {
	once sync.Once
	skip string
}

// requireNetns skips the test unless network namespaces, veth and VXLAN
// devices can be made here.
func requireNetns(t *testing.T) {
	t.Helper()
	probe.once.Do(func() {
		if os.Geteuid() != 0 {
			probe.skip = "needs root for network namespaces"
			return
		}
		for _, tool := range []string{"ip", "bridge"} {
			if _, err := exec.LookPath(tool); err != nil {
				probe.skip = "needs " + tool + " (iproute2)"
				return
			}
		}
		name := fmt.Sprintf("vxprobe%d", os.Getpid())
		defer exec.Command("ip", "netns", "del", name).Run()
		for _, args := range [][]string{
			{"netns", "add", name},
			{"-n", name, "link", "add", "pa", "type", "veth", "peer", "name", "pb"},
			{"-n", name, "link", "add", "vx", "type", "vxlan", "id", "1", "remote", "10.0.0.1", "dstport", "4789", "dev", "pa"},
		} {
			if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
				probe.skip = fmt.Sprintf("kernel feature missing: ip %s: %v: %s",
					strings.Join(args, " "), err, bytes.TrimSpace(out))
				return
			}
		}
	})
	if probe.skip != "" {
		t.Skip(probe.skip)
	}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

type netns struct{ name string }

func newNetns(t *testing.T) netns {
	t.Helper()
	n := netns{fmt.Sprintf("vxt%d_%d", os.Getpid(), nsSeq.Add(1))}
	run(t, "ip", "netns", "add", n.name)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", n.name).Run() })
	n.ip(t, "link", "set", "lo", "up")
	return n
}

// ip runs ip(8) in the namespace.
func (n netns) ip(t *testing.T, args ...string) string {
	t.Helper()
	return run(t, "ip", append([]string{"-n", n.name}, args...)...)
}

// do runs f on a thread inside the namespace. The thread is never handed
// back to the scheduler: it ends with its goroutine, namespace and all.
// Sockets f makes stay in the namespace wherever they are used later.
func (n netns) do(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		fd, err := unix.Open("/run/netns/"+n.name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		err = unix.Setns(fd, unix.CLONE_NEWNET)
		unix.Close(fd)
		if err != nil {
			errc <- fmt.Errorf("setns %s: %w", n.name, err)
			return
		}
		errc <- f()
	}()
	return <-errc
}

// underlay is the pair of namespaces and the veth between them: us on usDev
// (address usIP), peer on peerDev (peerIP, and two more addresses).
type underlay struct {
	us, peer         netns
	v6               bool
	usIP, peerIP     netip.Addr
	otherIP, strayIP netip.Addr // more addresses of the peer namespace
	usLL, peerLL     netip.Addr // IPv6: link-local addresses
	usDev, peerDev   string
}

func newUnderlay(t *testing.T, v6 bool, mtu int) *underlay {
	t.Helper()
	requireNetns(t)
	u := &underlay{us: newNetns(t), peer: newNetns(t), v6: v6, usDev: "vxu", peerDev: "vxp"}
	prefix, plen, nodad := "10.77.0.", "/24", []string{}
	if v6 {
		prefix, plen, nodad = "fd77::", "/64", []string{"nodad"}
	}
	u.usIP = netip.MustParseAddr(prefix + "1")
	u.peerIP = netip.MustParseAddr(prefix + "2")
	u.otherIP = netip.MustParseAddr(prefix + "3")
	u.strayIP = netip.MustParseAddr(prefix + "4")
	run(t, "ip", "link", "add", u.usDev, "netns", u.us.name, "type", "veth",
		"peer", "name", u.peerDev, "netns", u.peer.name)
	m := fmt.Sprint(mtu)
	if v6 {
		// Link-local addresses of our choosing, usable at once (no DAD),
		// instead of generated ones that stay tentative for a while.
		u.usLL = netip.MustParseAddr("fe80::77:1")
		u.peerLL = netip.MustParseAddr("fe80::77:2")
		u.us.ip(t, "link", "set", u.usDev, "addrgenmode", "none")
		u.peer.ip(t, "link", "set", u.peerDev, "addrgenmode", "none")
		u.us.ip(t, "addr", "add", u.usLL.String()+"/64", "dev", u.usDev, "nodad")
		u.peer.ip(t, "addr", "add", u.peerLL.String()+"/64", "dev", u.peerDev, "nodad")
	}
	u.us.ip(t, "link", "set", u.usDev, "mtu", m, "up")
	u.peer.ip(t, "link", "set", u.peerDev, "mtu", m, "up")
	u.us.ip(t, append([]string{"addr", "add", u.usIP.String() + plen, "dev", u.usDev}, nodad...)...)
	for _, a := range []netip.Addr{u.peerIP, u.otherIP, u.strayIP} {
		u.peer.ip(t, append([]string{"addr", "add", a.String() + plen, "dev", u.peerDev}, nodad...)...)
	}
	return u
}

// kernelVXLAN makes a Linux VXLAN device in the peer namespace with the
// given MAC and inner address; args are its ip-link options after "id". It
// sends from peerIP (local), as an endpoint in unicast mode expects of a
// peer: the peer namespace has more addresses, and IPv6 source selection
// would not pick peerIP.
func (u *underlay) kernelVXLAN(t *testing.T, name, vni, hw, inner string, args ...string) {
	t.Helper()
	all := append([]string{"link", "add", name, "address", hw, "type", "vxlan", "id", vni}, args...)
	all = append(all, "local", u.peerIP.String(), "dev", u.peerDev)
	u.peer.ip(t, all...)
	// No IPv6 inside the tunnel: its neighbour discovery and MLD would send
	// frames the tests did not ask for, refreshing learned entries. (A
	// device with an MTU under 1280 has no IPv6 to begin with.)
	if err := u.peer.do(func() error {
		return os.WriteFile("/proc/sys/net/ipv6/conf/"+name+"/disable_ipv6", []byte("1"), 0)
	}); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("disable IPv6 on %s: %v", name, err)
	}
	u.peer.ip(t, "addr", "add", inner, "dev", name)
	u.peer.ip(t, "link", "set", name, "up")
}

// open opens an endpoint in the us namespace, closed when the test ends.
func (u *underlay) open(t *testing.T, spec string) *Endpoint {
	t.Helper()
	var ep *Endpoint
	err := u.us.do(func() (err error) {
		ep, err = Open(spec)
		return err
	})
	if err != nil {
		t.Fatalf("Open(%q): %v", spec, err)
	}
	t.Cleanup(func() { ep.Close() })
	return ep
}

// udpSocket opens a UDP socket bound to addr:port in the peer namespace.
func (u *underlay) udpSocket(t *testing.T, addr netip.Addr, port int) int {
	t.Helper()
	var fd int
	err := u.peer.do(func() (err error) {
		family := unix.AF_INET
		var sa unix.Sockaddr = &unix.SockaddrInet4{Port: port, Addr: addr.As4()}
		if addr.Is6() {
			family = unix.AF_INET6
			sa = &unix.SockaddrInet6{Port: port, Addr: addr.As16()}
		}
		fd, err = unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		if err := unix.Bind(fd, sa); err != nil {
			unix.Close(fd)
			return err
		}
		tv := unix.NsecToTimeval(int64(2 * time.Second))
		return unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	})
	if err != nil {
		t.Fatalf("udp socket on %s:%d: %v", addr, port, err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

func sockaddrOf(a netip.AddrPort) unix.Sockaddr {
	if a.Addr().Is4() {
		return &unix.SockaddrInet4{Port: int(a.Port()), Addr: a.Addr().As4()}
	}
	return &unix.SockaddrInet6{Port: int(a.Port()), Addr: a.Addr().As16()}
}

// recvFrom reads one datagram (2 s at most) and says where it came from.
func recvFrom(t *testing.T, fd int) ([]byte, netip.AddrPort) {
	t.Helper()
	buf := make([]byte, 65536)
	n, from, err := unix.Recvfrom(fd, buf, 0)
	if err != nil {
		t.Fatalf("recvfrom: %v", err)
	}
	var ap netip.AddrPort
	switch sa := from.(type) {
	case *unix.SockaddrInet4:
		ap = netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
	case *unix.SockaddrInet6:
		ap = netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), uint16(sa.Port))
	}
	return buf[:n], ap
}

// spec writes an address for a spec: IPv6 in brackets.
func specAddr(a netip.Addr) string {
	if a.Is6() {
		return "[" + a.String() + "]"
	}
	return a.String()
}

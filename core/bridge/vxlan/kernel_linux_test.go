package vxlan

import (
	"fmt"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Interoperation with Linux's own VXLAN device, in the peer namespace.

func families(t *testing.T, f func(t *testing.T, v6 bool)) {
	t.Run("IPv4", func(t *testing.T) { f(t, false) })
	t.Run("IPv6", func(t *testing.T) { f(t, true) })
}

// fdbEntry finds m in ep's table.
func fdbEntry(ep *Endpoint, m mac) (FDBEntry, bool) {
	for _, e := range ep.FDB() {
		if string(e.MAC) == string(m[:]) {
			return e, true
		}
	}
	return FDBEntry{}, false
}

// kernelLearned reports whether the kernel's device lists m with dst ip.
func kernelLearned(t *testing.T, u *underlay, dev string, m mac, ip netip.Addr) (bool, string) {
	out := run(t, "bridge", "-n", u.peer.name, "fdb", "show", "dev", dev)
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, m.String()+" ") && strings.Contains(line, " dst "+ip.String()+" ") {
			return true, out
		}
	}
	return false, out
}

// TestKernelUnicast: a Linux VXLAN device with our address as remote answers
// ARP and ICMP echo built by the test; each side learns the other's MAC
// against the other's underlay address.
func TestKernelUnicast(t *testing.T) {
	families(t, func(t *testing.T, v6 bool) {
		u := newUnderlay(t, v6, 1500)
		u.kernelVXLAN(t, "vx0", "42", kernelMAC.String(), kernelInner,
			"remote", u.usIP.String(), "dstport", "4789")
		ep := u.open(t, specAddr(u.peerIP)+"/vni=42")
		fr := startReader(t, ep)

		if got := resolve(t, ep, fr, kernelIP); got != kernelMAC {
			t.Fatalf("ARP reply from %s, want %s", got, kernelMAC)
		}
		if !ping(t, ep, fr, 1, 98) {
			t.Fatal("no echo reply from the kernel")
		}
		e, ok := fdbEntry(ep, kernelMAC)
		if !ok || e.Static || e.Dst != netip.AddrPortFrom(u.peerIP, 4789) {
			t.Errorf("our table has %v for %s, want it learned at %s:4789\n%v", e, kernelMAC, u.peerIP, ep.FDB())
		}
		if ok, out := kernelLearned(t, u, "vx0", ourMAC, u.usIP); !ok {
			t.Errorf("kernel did not learn %s at %s:\n%s", ourMAC, u.usIP, out)
		}
		s := ep.Stats()
		if s.RxFrames < 2 || s.TxFrames < 2 || s.RxMalformed+s.RxWrongVNI+s.RxUnknownPeer+s.TxTooBig+s.TxErrors != 0 {
			t.Errorf("stats: %v", s)
		}
		lo, hi := ep.SourcePorts()
		t.Logf("%s: %v; source ports %d..%d", ep, s, lo, hi)
	})
}

// TestKernelLinkLocal: the same over IPv6 link-local addresses, whose zone
// (or dev=) names the interface.
func TestKernelLinkLocal(t *testing.T) {
	for _, tc := range []struct{ name, form string }{
		{"Zone", "[%s%%vxu]/vni=42"},
		{"Dev", "%s/vni=42/dev=vxu"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := newUnderlay(t, true, 1500)
			u.peer.ip(t, "link", "add", "vx0", "address", kernelMAC.String(), "type", "vxlan", "id", "42",
				"remote", u.usLL.String(), "local", u.peerLL.String(), "dstport", "4789", "dev", u.peerDev)
			u.peer.ip(t, "addr", "add", kernelInner, "dev", "vx0")
			u.peer.ip(t, "link", "set", "vx0", "up")
			ep := u.open(t, fmt.Sprintf(tc.form, u.peerLL))
			fr := startReader(t, ep)
			if got := resolve(t, ep, fr, kernelIP); got != kernelMAC {
				t.Fatalf("ARP reply from %s, want %s", got, kernelMAC)
			}
			if !ping(t, ep, fr, 1, 98) {
				t.Fatal("no echo reply from the kernel")
			}
			e, ok := fdbEntry(ep, kernelMAC)
			if !ok || e.Dst.Addr().WithZone("") != u.peerLL || e.Dst.Addr().Zone() == "" {
				t.Errorf("our table has %v for %s, want it at %s with a zone\n%v", e, kernelMAC, u.peerLL, ep.FDB())
			}
			if ok, out := kernelLearned(t, u, "vx0", ourMAC, u.usLL); !ok {
				t.Errorf("kernel did not learn %s at %s:\n%s", ourMAC, u.usLL, out)
			}
		})
	}
}

// TestKernelMulticast: the same over a multicast group, with the Linux
// device joined on its veth; our own flooded frames must not come back.
func TestKernelMulticast(t *testing.T) {
	for _, tc := range []struct{ name, group string }{
		{"IPv4", "239.1.77.7"},
		{"IPv6", "ff05::177"},
		{"IPv6LinkScope", "ff02::177"},
	} {
		t.Run(tc.name, func(t *testing.T) { kernelMulticast(t, tc.group) })
	}
}

func kernelMulticast(t *testing.T, group string) {
	u := newUnderlay(t, strings.Contains(group, ":"), 1500)
	u.kernelVXLAN(t, "vx0", "42", kernelMAC.String(), kernelInner,
		"group", group, "dstport", "4789")
	ep := u.open(t, specAddr(netip.MustParseAddr(group))+"/dev="+u.usDev+"/vni=42/ttl=2")
	fr := startReader(t, ep)

	if got := resolve(t, ep, fr, kernelIP); got != kernelMAC {
		t.Fatalf("ARP reply from %s, want %s", got, kernelMAC)
	}
	if !ping(t, ep, fr, 1, 98) {
		t.Fatal("no echo reply from the kernel")
	}
	if ok, out := kernelLearned(t, u, "vx0", ourMAC, u.usIP); !ok {
		t.Errorf("kernel did not learn %s at %s:\n%s", ourMAC, u.usIP, out)
	}
	e, ok := fdbEntry(ep, kernelMAC)
	if !ok || e.Dst.Addr() != u.peerIP {
		t.Errorf("our table has %v for %s, want %s\n%v", e, kernelMAC, u.peerIP, ep.FDB())
	}
	// A looped-back copy is queued on our socket before sendmmsg
	// returns, so by the time the replies came it would have been read.
	if n := fr.own.Load(); n != 0 {
		t.Errorf("%d of our own frames came back", n)
	}
	t.Logf("%s: %v", ep, ep.Stats())
}

// TestKernelInitiatesUnicast: the kernel starts the exchange (an ARP request
// flooded to us, then a unicast UDP datagram) and the test answers through
// the endpoint. The answers go to the learned tunnel endpoint only, not to
// the second, silent remote, and reach the kernel's socket. (libvdeplug's
// vxlan:// module loses the source of what it receives and cannot do this.)
func TestKernelInitiatesUnicast(t *testing.T) {
	u := newUnderlay(t, false, 1500)
	u.kernelVXLAN(t, "vx0", "42", kernelMAC.String(), kernelInner,
		"remote", u.usIP.String(), "dstport", "4789")
	silent := netip.MustParseAddr("10.77.0.99")
	ep := u.open(t, u.peerIP.String()+","+silent.String()+"/vni=42")
	fr := startReader(t, ep)

	var fd int
	if err := u.peer.do(func() (err error) {
		fd, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err == nil {
			err = unix.Bind(fd, &unix.SockaddrInet4{Addr: kernelIP.As4(), Port: 5555})
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)

	var answered atomic.Int64
	// unicastOne writes one frame and checks it left as one datagram.
	unicastOne := func(f []byte) {
		before := ep.Stats().TxDatagrams
		write(t, ep, f)
		if d := ep.Stats().TxDatagrams - before; d != 1 {
			t.Errorf("a frame to a learned MAC left as %d datagrams, want 1", d)
		}
		answered.Add(1)
	}
	got := make([]byte, 100)
	for try := 0; ; try++ {
		if try == 5 {
			t.Fatalf("the kernel's datagram was never answered (%d answers sent); %v", answered.Load(), ep.Stats())
		}
		if err := unix.Sendto(fd, []byte("ping"), 0, &unix.SockaddrInet4{Addr: ourIP.As4(), Port: 7777}); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(time.Second)
		for time.Now().Before(deadline) {
			f := fr.wait(100*time.Millisecond, func([]byte) bool { return true })
			if f == nil {
				if n, _, err := unix.Recvfrom(fd, got, 0); err == nil {
					if string(got[:n]) != "pong" {
						t.Fatalf("kernel socket got %q", got[:n])
					}
					e, ok := fdbEntry(ep, kernelMAC)
					if !ok || e.Dst.Addr() != u.peerIP {
						t.Errorf("our table has %v for %s\n%v", e, kernelMAC, ep.FDB())
					}
					return
				}
				continue
			}
			if op, sha, spa, tpa, ok := parseARP(f); ok && op == 1 && tpa == ourIP {
				unicastOne(arpFrame(2, sha, ourMAC, ourIP, sha, spa))
				continue
			}
			src, dst, proto, p, ok := parseIPv4(f)
			if ok && src == kernelIP && dst == ourIP && proto == 17 && len(p) >= 8 && string(p[8:]) == "ping" {
				reply := udpDatagram(7777, 5555, []byte("pong"))
				unicastOne(ipv4Frame(macAt(f[6:12]), ourMAC, ourIP, kernelIP, 17, reply))
			}
		}
	}
}

// TestDstPort8472: a Linux device made without dstport uses 8472, Linux's
// old default; dstport=8472 talks to it.
func TestDstPort8472(t *testing.T) {
	u := newUnderlay(t, false, 1500)
	u.kernelVXLAN(t, "vx0", "42", kernelMAC.String(), kernelInner, "remote", u.usIP.String())
	if out := u.peer.ip(t, "-d", "link", "show", "vx0"); !strings.Contains(out, "dstport 8472") {
		t.Skipf("this kernel's default VXLAN port is not 8472:\n%s", out)
	}
	ep := u.open(t, u.peerIP.String()+"/vni=42/dstport=8472")
	fr := startReader(t, ep)
	if got := resolve(t, ep, fr, kernelIP); got != kernelMAC {
		t.Fatalf("ARP reply from %s, want %s", got, kernelMAC)
	}
	if !ping(t, ep, fr, 1, 98) {
		t.Fatal("no echo reply from the kernel")
	}
}

// TestWrongVNIFromKernel: frames a Linux device floods on VNI 43 are counted
// and dropped by an endpoint of VNI 42.
func TestWrongVNIFromKernel(t *testing.T) {
	u := newUnderlay(t, false, 1500)
	u.kernelVXLAN(t, "vx43", "43", "02:00:00:77:00:43", "192.168.78.2/24",
		"remote", u.usIP.String(), "dstport", "4789")
	ep := u.open(t, u.peerIP.String()+"/vni=42")
	fr := startReader(t, ep)
	fd := -1
	if err := u.peer.do(func() (err error) {
		fd, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	// Each datagram to an unresolved neighbour makes the kernel ARP, on VNI 43.
	deadline := time.Now().Add(5 * time.Second)
	for ep.Stats().RxWrongVNI == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no wrong-VNI datagram counted: %v", ep.Stats())
		}
		unix.Sendto(fd, []byte("x"), 0, &unix.SockaddrInet4{Addr: [4]byte{192, 168, 78, 9}, Port: 9})
		time.Sleep(100 * time.Millisecond)
	}
	if f := fr.wait(100*time.Millisecond, func([]byte) bool { return true }); f != nil {
		t.Errorf("a frame got through: % x", f)
	}
	if s := ep.Stats(); s.RxFrames != 0 {
		t.Errorf("stats: %v", s)
	}
}

// TestTooBigForUnderlay: with a 1280-byte veth MTU, a frame of exactly
// MTU-36 (IPv4: 20 IP + 8 UDP + 8 VXLAN) or MTU-56 (IPv6) bytes crosses and
// is answered; one byte more is counted and dropped, not fragmented.
func TestTooBigForUnderlay(t *testing.T) {
	families(t, func(t *testing.T, v6 bool) {
		const mtu = 1280
		limit := mtu - 36
		if v6 {
			limit = mtu - 56
		}
		u := newUnderlay(t, v6, mtu)
		u.kernelVXLAN(t, "vx0", "42", kernelMAC.String(), kernelInner,
			"remote", u.usIP.String(), "dstport", "4789")
		ep := u.open(t, specAddr(u.peerIP)+"/vni=42")
		fr := startReader(t, ep)
		resolve(t, ep, fr, kernelIP)
		if !ping(t, ep, fr, 1, limit) {
			t.Fatalf("no echo reply to a %d-byte frame", limit)
		}
		before := ep.Stats()
		big := ipv4Frame(kernelMAC, ourMAC, ourIP, kernelIP, ipProtoICMP,
			icmpEcho(8, 0x77, 2, make([]byte, limit+1-14-20-8)))
		small := ipv4Frame(kernelMAC, ourMAC, ourIP, kernelIP, ipProtoICMP, icmpEcho(8, 0x77, 3, nil))
		n, err := ep.WriteFrames([][]byte{big, small})
		if n != 2 || err != nil {
			t.Fatalf("WriteFrames = %d, %v; want 2, nil", n, err)
		}
		after := ep.Stats()
		if after.TxTooBig-before.TxTooBig != 1 || after.TxFrames-before.TxFrames != 1 {
			t.Errorf("a %d-byte frame: stats before %v, after %v", limit+1, before, after)
		}
		t.Logf("largest frame over a %d-byte MTU: %d bytes", mtu, limit)
	})
}

// TestLearnedEntryAgesOut: with ageing=1 the kernel's MAC, learned from its
// ARP reply, leaves the table one second after its last frame, on a fake
// clock (exactly) and on the real one (eventually).
func TestLearnedEntryAgesOut(t *testing.T) {
	u := newUnderlay(t, false, 1500)
	u.kernelVXLAN(t, "vx0", "42", kernelMAC.String(), kernelInner,
		"remote", u.usIP.String(), "dstport", "4789")

	t.Run("FakeClock", func(t *testing.T) {
		ep := u.open(t, u.peerIP.String()+"/vni=42/ageing=1")
		var now atomic.Int64
		ep.clock = func() time.Duration { return time.Duration(now.Load()) }
		fr := startReader(t, ep)
		resolve(t, ep, fr, kernelIP)
		if _, ok := fdbEntry(ep, kernelMAC); !ok {
			t.Fatalf("kernel MAC not learned: %v", ep.FDB())
		}
		now.Add(int64(999 * time.Millisecond))
		if e, ok := fdbEntry(ep, kernelMAC); !ok || e.Age != 999*time.Millisecond {
			t.Fatalf("after 999ms: %v, %v", e, ok)
		}
		now.Add(int64(time.Millisecond))
		if e, ok := fdbEntry(ep, kernelMAC); ok {
			t.Fatalf("after 1s still there: %v", e)
		}
		ep.Close()
	})
	t.Run("RealClock", func(t *testing.T) {
		ep := u.open(t, u.peerIP.String()+"/vni=42/ageing=1")
		fr := startReader(t, ep)
		resolve(t, ep, fr, kernelIP)
		start := time.Now()
		for {
			e, ok := fdbEntry(ep, kernelMAC)
			if !ok {
				break
			}
			if time.Since(start) > 10*time.Second {
				t.Fatalf("still there after 10s: %v", e)
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Logf("gone %v after the reply was read", time.Since(start).Round(time.Millisecond))
	})
}

// TestFixedSourcePortWithoutCapNetRaw: a thread without CAP_NET_RAW gets an
// endpoint that sends from dstport; asking for a srcport range then fails.
func TestFixedSourcePortWithoutCapNetRaw(t *testing.T) {
	u := newUnderlay(t, false, 1500)
	fd := u.udpSocket(t, u.peerIP, 4789)
	var ep *Endpoint
	var srcErr error
	err := u.us.do(func() error {
		if err := dropCapNetRaw(); err != nil {
			return err
		}
		_, srcErr = Open(u.peerIP.String() + "/vni=42/srcport=40000-40100")
		var err error
		ep, err = Open(u.peerIP.String() + "/vni=42")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Close()
	if srcErr == nil || !strings.Contains(srcErr.Error(), "CAP_NET_RAW") {
		t.Errorf("srcport without CAP_NET_RAW: %v", srcErr)
	}
	if lo, hi := ep.SourcePorts(); lo != 4789 || hi != 4789 {
		t.Errorf("SourcePorts = %d..%d, want 4789..4789", lo, hi)
	}
	write(t, ep, arpFrame(1, broadcast, ourMAC, ourIP, mac{}, kernelIP))
	d, from := recvFrom(t, fd)
	if from != netip.AddrPortFrom(u.usIP, 4789) || len(d) != 8+42 || vniOf((*[8]byte)(d)) != 42 {
		t.Errorf("datagram from %v: % x", from, d)
	}
}

// dropCapNetRaw clears CAP_NET_RAW from the calling thread's effective set.
func dropCapNetRaw() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capget: %w", err)
	}
	data[0].Effective &^= 1 << unix.CAP_NET_RAW
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	return nil
}

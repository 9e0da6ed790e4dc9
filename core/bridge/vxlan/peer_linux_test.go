package vxlan

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Tests against peers played by plain UDP sockets in the peer namespace,
// which see exactly what the endpoint sends and send what a test crafts.

// vxlanDatagram is a VXLAN header (flags, VNI) and a frame.
func vxlanDatagram(flags byte, vni uint32, frame []byte) []byte {
	d := make([]byte, 8, 8+len(frame))
	putVXLAN(d, vni)
	d[0] = flags
	return append(d, frame...)
}

// udpFlowFrame is a UDP packet of one inner flow, sport -> dport.
func udpFlowFrame(sip, dip netip.Addr, sport, dport uint16, payload string) []byte {
	return ipv4Frame(kernelMAC, ourMAC, sip, dip, 17, udpDatagram(sport, dport, []byte(payload)))
}

// TestFlowHashSourcePorts: each inner flow leaves from one source port in
// the range, the same in both directions; different flows spread over
// several ports. The datagrams carry VNI 42 with only the I flag set.
func TestFlowHashSourcePorts(t *testing.T) {
	for _, tc := range []struct {
		name, opt string
		lo, hi    int // 0: the kernel's range, read in the namespace
	}{
		{"DefaultRange", "", 0, 0},
		{"Srcport", "/srcport=40000-40010", 40000, 40009},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := newUnderlay(t, false, 1500)
			fd := u.udpSocket(t, u.peerIP, 4789)
			ep := u.open(t, u.peerIP.String()+"/vni=42"+tc.opt)
			lo, hi := ep.SourcePorts()
			if tc.lo == 0 {
				var l, h uint16
				u.us.do(func() error { l, h = localPortRange(); return nil })
				tc.lo, tc.hi = int(l), int(h)-1
			}
			if lo != tc.lo || hi != tc.hi {
				t.Fatalf("SourcePorts = %d..%d, want %d..%d", lo, hi, tc.lo, tc.hi)
			}
			a, b := netip.MustParseAddr("192.168.77.1"), netip.MustParseAddr("192.168.77.2")
			const flows, rounds = 8, 3
			port := make(map[int]uint16) // flow -> source port
			distinct := make(map[uint16]bool)
			for r := range rounds {
				for f := range flows {
					// Odd rounds send the flow backwards.
					frame := udpFlowFrame(a, b, uint16(1000+f), 53, fmt.Sprint("round ", r))
					if r%2 == 1 {
						frame = udpFlowFrame(b, a, 53, uint16(1000+f), fmt.Sprint("round ", r))
					}
					write(t, ep, frame)
					d, from := recvFrom(t, fd)
					if from.Addr() != u.usIP || int(from.Port()) < lo || int(from.Port()) > hi {
						t.Fatalf("flow %d from %v, outside %d..%d", f, from, lo, hi)
					}
					if !bytes.Equal(d, vxlanDatagram(flagI, 42, frame)) {
						t.Fatalf("datagram % x, want VXLAN header 08 00 00 00 00 00 2a 00 and the frame", d[:8])
					}
					if p, ok := port[f]; ok && p != from.Port() {
						t.Fatalf("flow %d left from port %d, then %d", f, p, from.Port())
					}
					port[f] = from.Port()
					distinct[from.Port()] = true
				}
			}
			if len(distinct) < 2 {
				t.Errorf("%d flows all left from one port: %v", flows, port)
			}
			t.Logf("%d flows over %d ports: %v", flows, len(distinct), port)
		})
	}
}

// TestOuterHeaders: the IPv4 packets the endpoint sends have DF set, the TTL
// of the ttl option, UDP checksum 0 (RFC 7348 §5) and dstport as
// destination; seen by a packet socket on the peer's veth.
func TestOuterHeaders(t *testing.T) {
	u := newUnderlay(t, false, 1500)
	var pfd int
	err := u.peer.do(func() (err error) {
		pfd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_IP)))
		if err != nil {
			return err
		}
		ifi, err := ifIndex(pfd, u.peerDev)
		if err != nil {
			return err
		}
		if err := unix.Bind(pfd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_IP), Ifindex: int(ifi)}); err != nil {
			return err
		}
		tv := unix.NsecToTimeval(int64(2 * time.Second))
		return unix.SetsockoptTimeval(pfd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	})
	if err != nil {
		t.Fatalf("packet socket: %v", err)
	}
	defer unix.Close(pfd)
	ep := u.open(t, u.peerIP.String()+"/vni=42/ttl=7/dstport=4790")
	frame := arpFrame(1, broadcast, ourMAC, ourIP, mac{}, kernelIP)
	write(t, ep, frame)
	buf := make([]byte, 2048)
	for {
		n, err := unix.Read(pfd, buf)
		if err != nil {
			t.Fatalf("no packet seen: %v", err)
		}
		ip := buf[:n]
		if n < 28 || ip[9] != 17 || netip.AddrFrom4([4]byte(ip[12:16])) != u.usIP {
			continue // not ours
		}
		udp := ip[20:]
		if df := binary.BigEndian.Uint16(ip[6:]) & 0x4000; df == 0 {
			t.Errorf("DF not set: flags/offset %#04x", binary.BigEndian.Uint16(ip[6:]))
		}
		if ip[8] != 7 {
			t.Errorf("TTL %d, want 7", ip[8])
		}
		if got := binary.BigEndian.Uint16(udp[2:]); got != 4790 {
			t.Errorf("destination port %d, want 4790", got)
		}
		if got := binary.BigEndian.Uint16(udp[4:]); int(got) != 16+len(frame) {
			t.Errorf("UDP length %d, want %d", got, 16+len(frame))
		}
		if ep.raw && binary.BigEndian.Uint16(udp[6:]) != 0 {
			t.Errorf("UDP checksum %#04x, want 0", binary.BigEndian.Uint16(udp[6:]))
		}
		if !bytes.Equal(udp[8:], vxlanDatagram(flagI, 42, frame)) {
			t.Errorf("payload % x", udp[8:])
		}
		return
	}
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// TestReceiveChecks: crafted datagrams that the endpoint must drop are
// counted by reason; the ones it must take arrive whole, among them one with
// every reserved bit set (RFC 7348: receivers ignore them).
func TestReceiveChecks(t *testing.T) {
	u := newUnderlay(t, false, 1500)
	pinned := mac{0x02, 0, 0, 0x77, 0, 0xaa}
	// peerIP is the remote, otherIP a peer by its static entry, strayIP nobody.
	ep := u.open(t, fmt.Sprintf("%s/vni=42/fdb=%s@%s", u.peerIP, pinned, u.otherIP))
	fr := startReader(t, ep)
	peer := u.udpSocket(t, u.peerIP, 0)
	other := u.udpSocket(t, u.otherIP, 0)
	stray := u.udpSocket(t, u.strayIP, 0)
	to := sockaddrOf(netip.AddrPortFrom(u.usIP, 4789))

	m1 := mac{0x02, 0, 0, 0x77, 1, 1}
	frameFrom := func(src mac, tag string) []byte {
		return ether(ourMAC, src, 0x88b5, []byte(tag+" padding to the minimum size......"))
	}
	dropped := []struct {
		fd   int
		data []byte
	}{
		{peer, vxlanDatagram(0, 42, frameFrom(m1, "no I flag"))},
		{peer, []byte{flagI, 0, 0, 0, 0, 0, 42, 0, 1, 2}},
		{peer, vxlanDatagram(flagI, 43, frameFrom(m1, "vni 43"))},
		{stray, vxlanDatagram(flagI, 42, frameFrom(m1, "stray peer"))},
		{peer, vxlanDatagram(flagI, 42, frameFrom(pinned, "pinned elsewhere"))},
		{peer, vxlanDatagram(flagI, 42, frameFrom(mac{0x03, 0, 0, 0, 0, 1}, "multicast source"))},
	}
	reserved := vxlanDatagram(flagI, 42, frameFrom(m1, "reserved bits"))
	copy(reserved, []byte{0xff, 0xff, 0xff, 0xff, 0, 0, 42, 0xff})
	kept := []struct {
		fd   int
		data []byte
	}{
		{peer, reserved},
		{other, vxlanDatagram(flagI, 42, frameFrom(pinned, "pinned here"))},
		{peer, vxlanDatagram(flagI, 42, frameFrom(m1, "plain"))},
	}
	for _, d := range append(dropped, kept...) {
		if err := unix.Sendto(d.fd, d.data, 0, to); err != nil {
			t.Fatal(err)
		}
	}
	for range kept {
		f := fr.wait(2*time.Second, func([]byte) bool { return true })
		found := false
		for _, k := range kept {
			found = found || bytes.Equal(f, k.data[8:])
		}
		if !found {
			t.Fatalf("got frame %q, want one of the kept ones", f)
		}
	}
	want := Stats{RxFrames: 3, RxMalformed: 3, RxWrongVNI: 1, RxUnknownPeer: 1, RxStaticConflict: 1}
	deadline := time.Now().Add(5 * time.Second)
	for ep.Stats() != want && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := ep.Stats(); got != want {
		t.Errorf("stats\n got %v\nwant %v", got, want)
	}
	if e, ok := fdbEntry(ep, m1); !ok || e.Dst != netip.AddrPortFrom(u.peerIP, 4789) {
		t.Errorf("m1: %v, %v", e, ok)
	}
	if e, ok := fdbEntry(ep, pinned); !ok || !e.Static || e.Dst.Addr() != u.otherIP {
		t.Errorf("pinned: %v, %v", e, ok)
	}
}

// TestForwarding: broadcast and unknown unicast go to every flood
// destination; unicast to a learned MAC goes to where it was learned; to a
// static MAC, to its entry. Two peers listen; after each frame a broadcast
// marker follows, so each peer's next datagram tells whether it got the frame.
func TestForwarding(t *testing.T) {
	u := newUnderlay(t, false, 1500)
	a := u.udpSocket(t, u.peerIP, 4789)
	b := u.udpSocket(t, u.otherIP, 4789)
	static := mac{0x02, 0, 0, 0x77, 0, 0xbb}
	ep := u.open(t, fmt.Sprintf("%s,%s/vni=42/fdb=%s@%s", u.peerIP, u.otherIP, static, u.otherIP))
	fr := startReader(t, ep)

	// A frame from learnedMAC through peer a teaches the endpoint where it is.
	learnedMAC := mac{0x02, 0, 0, 0x77, 0, 0xcc}
	hello := ether(ourMAC, learnedMAC, 0x88b5, make([]byte, 46))
	if err := unix.Sendto(a, vxlanDatagram(flagI, 42, hello), 0, sockaddrOf(netip.AddrPortFrom(u.usIP, 4789))); err != nil {
		t.Fatal(err)
	}
	if fr.wait(2*time.Second, func(f []byte) bool { return bytes.Equal(f, hello) }) == nil {
		t.Fatal("hello not received")
	}

	marker := ether(broadcast, ourMAC, 0x88b5, []byte("marker........................................"))
	for _, tc := range []struct {
		name   string
		dst    mac
		toA    bool
		toB    bool
		copies uint64
	}{
		{"Broadcast", broadcast, true, true, 2},
		{"UnknownUnicast", mac{0x02, 0, 0, 0x77, 0, 0xdd}, true, true, 2},
		{"Learned", learnedMAC, true, false, 1},
		{"Static", static, false, true, 1},
	} {
		frame := ether(tc.dst, ourMAC, 0x88b5, []byte(tc.name+"............................................"))
		before := ep.Stats().TxDatagrams
		write(t, ep, frame)
		if got := ep.Stats().TxDatagrams - before; got != tc.copies {
			t.Errorf("%s: %d datagrams, want %d", tc.name, got, tc.copies)
		}
		write(t, ep, marker)
		for _, p := range []struct {
			name string
			fd   int
			want bool
		}{{"a", a, tc.toA}, {"b", b, tc.toB}} {
			d, _ := recvFrom(t, p.fd)
			got := bytes.Equal(d[8:], frame)
			if got {
				d, _ = recvFrom(t, p.fd)
			}
			if got != p.want || !bytes.Equal(d[8:], marker) {
				t.Errorf("%s: peer %s got it: %v, want %v", tc.name, p.name, got, p.want)
			}
		}
	}
}

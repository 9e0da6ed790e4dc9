package bridge_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/libshmif/libshmif/core/shmif"
	"github.com/libshmif/libshmif/tests/bridge/nstest"
	"golang.org/x/sys/unix"
)

// ping sends count ICMP echo requests from namespace ns to dst and
// requires an answer to each (a request unanswered within a second is
// sent again, up to five times).
func ping(t testing.TB, ns, dst string, count int) {
	t.Helper()
	var fd int
	var err error
	nstest.Do(t, ns, func() { fd, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMP) })
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 1})
	to := &unix.SockaddrInet4{Addr: netip.MustParseAddr(dst).As4()}
	id := uint16(os.Getpid())
	for seq := range uint16(count) {
		req := make([]byte, 64)
		req[0] = 8
		binary.BigEndian.PutUint16(req[4:], id)
		binary.BigEndian.PutUint16(req[6:], seq)
		binary.BigEndian.PutUint16(req[2:], icmpSum(req))
		answered := false
		for try := 0; try < 5 && !answered; try++ {
			if err := unix.Sendto(fd, req, 0, to); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 1500)
			for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); {
				n, _, err := unix.Recvfrom(fd, buf, 0)
				if err != nil {
					break
				}
				ihl := int(buf[0]&0xF) * 4
				r := buf[ihl:n]
				if len(r) >= 8 && r[0] == 0 && binary.BigEndian.Uint16(r[4:]) == id && binary.BigEndian.Uint16(r[6:]) == seq {
					answered = true
					break
				}
			}
		}
		if !answered {
			t.Fatalf("ping %s from %s: no answer to echo request %d", dst, ns, seq)
		}
	}
}

func icmpSum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	for s>>16 != 0 {
		s = s&0xFFFF + s>>16
	}
	return ^uint16(s)
}

// tcpTransfer sends n bytes over TCP from namespace from to addr (a
// listener made in namespace to) and checks they arrive intact. It
// returns the throughput, for the log.
func tcpTransfer(t testing.TB, from, to, addr string, n int) float64 {
	t.Helper()
	var ln net.Listener
	var err error
	nstest.Do(t, to, func() { ln, err = net.Listen("tcp", addr) })
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		sum [32]byte
		n   int64
		err error
	}
	got := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- result{err: err}
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(60 * time.Second))
		h := sha256.New()
		k, err := io.Copy(h, c)
		var r result
		copy(r.sum[:], h.Sum(nil))
		r.n, r.err = k, err
		got <- r
	}()
	var c net.Conn
	nstest.Do(t, from, func() { c, err = net.DialTimeout("tcp", addr, 10*time.Second) })
	if err != nil {
		t.Fatalf("connect %s from %s: %v", addr, from, err)
	}
	data := make([]byte, n)
	r := rand.New(rand.NewPCG(uint64(n), 7))
	for i := 0; i+8 <= n; i += 8 {
		binary.LittleEndian.PutUint64(data[i:], r.Uint64())
	}
	start := time.Now()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	if _, err := c.Write(data); err != nil {
		t.Fatalf("sending: %v", err)
	}
	c.Close()
	res := <-got
	secs := time.Since(start).Seconds()
	if res.err != nil {
		t.Fatalf("receiving: %v after %d bytes", res.err, res.n)
	}
	if want := sha256.Sum256(data); res.n != int64(n) || res.sum != want {
		t.Fatalf("received %d bytes of %d, intact: %v", res.n, n, res.sum == want)
	}
	return float64(n) * 8 / secs / 1e9
}

// udpEcho answers UDP datagrams to addr in namespace ns with their
// payload, until the end of the test.
func udpEcho(t testing.TB, ns, addr string) {
	t.Helper()
	var c net.PacketConn
	var err error
	nstest.Do(t, ns, func() { c, err = net.ListenPacket("udp4", addr) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			c.WriteTo(buf[:n], from)
		}
	}()
}

// viaGateway plays a host on bus at src that sends count UDP datagrams to
// dst:7 through the router at gw (another network: shmif-node only talks
// to its own) and requires every echo back.
func viaGateway(t testing.TB, bus string, src, gw, dst netip.Addr, count int) {
	t.Helper()
	ifc, err := shmif.Open(bus, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer ifc.Destroy()
	mac := ifc.MAC()
	buf := make([]byte, 1514)
	// ARP for the gateway.
	arp := make([]byte, 42)
	copy(arp, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	copy(arp[6:], mac[:])
	binary.BigEndian.PutUint16(arp[12:], 0x0806)
	copy(arp[14:], []byte{0, 1, 8, 0, 6, 4, 0, 1})
	copy(arp[22:], mac[:])
	copy(arp[28:], src.AsSlice())
	copy(arp[38:], gw.AsSlice())
	var gwMAC []byte
	for try := 0; try < 10 && gwMAC == nil; try++ {
		ifc.Send(arp)
		for deadline := time.Now().Add(500 * time.Millisecond); time.Now().Before(deadline) && gwMAC == nil; {
			n, err := ifc.Recv(buf, 100*time.Millisecond)
			if err == nil && n >= 42 && binary.BigEndian.Uint16(buf[12:]) == 0x0806 &&
				binary.BigEndian.Uint16(buf[20:]) == 2 && bytes.Equal(buf[28:32], gw.AsSlice()) {
				gwMAC = append([]byte(nil), buf[22:28]...)
			}
		}
	}
	if gwMAC == nil {
		t.Fatalf("gateway %v did not answer ARP", gw)
	}
	for seq := range count {
		payload := []byte("shmif bridge test " + string(rune('a'+seq%26)))
		f := udpFrame(mac[:], gwMAC, src, dst, 40000, 7, uint16(seq), payload)
		answered := false
		for try := 0; try < 5 && !answered; try++ {
			ifc.Send(f)
			for deadline := time.Now().Add(time.Second); time.Now().Before(deadline) && !answered; {
				n, err := ifc.Recv(buf, 100*time.Millisecond)
				if err != nil || n < 42 || binary.BigEndian.Uint16(buf[12:]) != 0x0800 || buf[23] != 17 {
					continue
				}
				ihl := int(buf[14]&0xF) * 4
				udp := buf[14+ihl : n]
				answered = bytes.Equal(buf[26:30], dst.AsSlice()) && binary.BigEndian.Uint16(udp[0:]) == 7 &&
					binary.BigEndian.Uint16(udp[2:]) == 40000 && bytes.Equal(udp[8:], payload)
			}
		}
		if !answered {
			t.Fatalf("no echo from %v through %v for datagram %d", dst, gw, seq)
		}
	}
}

// udpFrame builds an Ethernet/IPv4/UDP frame (UDP checksum left 0: none).
func udpFrame(srcMAC, dstMAC []byte, src, dst netip.Addr, sport, dport, id uint16, payload []byte) []byte {
	f := make([]byte, 42+len(payload))
	copy(f, dstMAC)
	copy(f[6:], srcMAC)
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:]
	ip[0], ip[8], ip[9] = 0x45, 64, 17
	binary.BigEndian.PutUint16(ip[2:], uint16(28+len(payload)))
	binary.BigEndian.PutUint16(ip[4:], id)
	copy(ip[12:], src.AsSlice())
	copy(ip[16:], dst.AsSlice())
	binary.BigEndian.PutUint16(ip[10:], icmpSum(ip[:20]))
	udp := ip[20:]
	binary.BigEndian.PutUint16(udp[0:], sport)
	binary.BigEndian.PutUint16(udp[2:], dport)
	binary.BigEndian.PutUint16(udp[4:], uint16(8+len(payload)))
	copy(udp[8:], payload)
	return f
}

package tap

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/libshmif/libshmif/core/internal/offload"
	"github.com/libshmif/libshmif/tests/bridge/nstest"
	"golang.org/x/sys/unix"
)

var (
	macKernel = [6]byte{0x02, 0, 0, 0, 0, 1}
	macUs     = [6]byte{0x02, 0, 0, 0, 0, 2}
)

// tcpFrame builds an Ethernet/IPv4/TCP frame with payload bytes and the
// given flags, checksums zero.
func tcpFrame(payload int, flags byte) []byte {
	f := make([]byte, 14+20+20+payload)
	copy(f, macKernel[:])
	copy(f[6:], macUs[:])
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:]
	ip[0], ip[8], ip[9] = 0x45, 64, 6
	binary.BigEndian.PutUint16(ip[2:], uint16(min(20+20+payload, 0xFFFF)))
	copy(ip[12:], []byte{10, 0, 0, 2})
	copy(ip[16:], []byte{10, 0, 0, 1})
	tcp := ip[20:]
	binary.BigEndian.PutUint16(tcp[0:], 1234)
	binary.BigEndian.PutUint16(tcp[2:], 80)
	binary.BigEndian.PutUint32(tcp[4:], 1000)
	tcp[12], tcp[13] = 5<<4, flags
	for i := range payload {
		tcp[20+i] = byte(i)
	}
	return f
}

// TSO frames become segments with good checksums, and FIN and PSH only on
// the last one, as Linux segments.
func TestSegmentFlagsAndChecksums(t *testing.T) {
	f := tcpFrame(5000, tcpFIN|tcpPSH|0x10)
	var segs [][]byte
	err := finish(vnetHdr{gsoType: gsoTCPv4, gsoSize: 1400, flags: vnetNeedsCsum}, f, func(s []byte) {
		segs = append(segs, append([]byte(nil), s...))
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) != 4 {
		t.Fatalf("%d segments", len(segs))
	}
	for i, s := range segs {
		want := byte(0x10)
		if i == len(segs)-1 {
			want |= tcpFIN | tcpPSH
		}
		if s[14+20+13] != want {
			t.Errorf("segment %d: flags %#x, want %#x", i, s[14+20+13], want)
		}
		st := offload.RxStatus(s, offload.RxCaps)
		if st&(offload.CsumTCPv4|offload.CsumIPv4) != offload.CsumTCPv4|offload.CsumIPv4 || st&(offload.CsumTCPUDPBad|offload.CsumIPv4Bad) != 0 {
			t.Errorf("segment %d: checksum status %#x", i, st)
		}
		if seq := binary.BigEndian.Uint32(s[14+20+4:]); seq != 1000+uint32(i*1400) {
			t.Errorf("segment %d: seq %d", i, seq)
		}
	}
}

// A frame whose checksum the kernel left to us gets it.
func TestFinishPartialChecksum(t *testing.T) {
	f := tcpFrame(333, 0x18)
	// What the kernel leaves in the field: the pseudo-header sum.
	var ph []byte
	ph = append(ph, f[14+12:14+20]...)
	ph = append(ph, 0, 6)
	ph = binary.BigEndian.AppendUint16(ph, 20+333)
	binary.BigEndian.PutUint16(f[14+20+16:], ^offload.Checksum(ph, 0))
	f[14+10], f[14+11] = 0, 0
	binary.BigEndian.PutUint16(f[14+10:], offload.Checksum(f[14:14+20], 0))
	var out []byte
	if err := finish(vnetHdr{flags: vnetNeedsCsum, csumStart: 34, csumOffset: 16}, f, func(s []byte) { out = s }); err != nil {
		t.Fatal(err)
	}
	if st := offload.RxStatus(out, offload.RxCaps); st&offload.CsumTCPv4 == 0 || st&offload.CsumTCPUDPBad != 0 {
		t.Fatalf("checksum status %#x", st)
	}
	if err := finish(vnetHdr{flags: vnetNeedsCsum, csumStart: 380, csumOffset: 16}, f, func([]byte) {}); err == nil {
		t.Fatal("a checksum offset past the frame was taken")
	}
}

func TestSetTCPFlagsKeepsChecksumRight(t *testing.T) {
	f := tcpFrame(100, 0x19)
	var out []byte
	finish(vnetHdr{gsoType: gsoTCPv4, gsoSize: 1000}, f, func(s []byte) { out = append([]byte(nil), s...) })
	for _, fl := range []byte{0x10, 0x11, 0x18, 0xff, 0} {
		setTCPFlags(out[34:], fl)
		if st := offload.RxStatus(out, offload.RxCaps); st&offload.CsumTCPUDPBad != 0 {
			t.Fatalf("flags %#x: bad checksum", fl)
		}
	}
}

func TestBadURLs(t *testing.T) {
	for _, u := range []string{"tap://", "tap://x/mtu=10", "tap://x/mtu=abc", "tap://fd=x",
		"tap://fd=3/vnet_hdr=on", "tap://a/b", "tap://waytoolongforaninterfacename", "tap://x/vnet_hdr=maybe"} {
		if _, err := Open(u); !errors.Is(err, unix.EINVAL) {
			t.Errorf("%s: %v", u, err)
		}
	}
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := Open("tap://fd=" + strconv.Itoa(int(f.Fd()))); !errors.Is(err, unix.EINVAL) {
		t.Errorf("a descriptor that is no tap: %v", err)
	}
}

// arpRequest asks who has ip, from us at 10.0.0.2.
func arpRequest(ip [4]byte) []byte {
	f := make([]byte, 42)
	copy(f, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	copy(f[6:], macUs[:])
	binary.BigEndian.PutUint16(f[12:], 0x0806)
	a := f[14:]
	binary.BigEndian.PutUint16(a[0:], 1)
	binary.BigEndian.PutUint16(a[2:], 0x0800)
	a[4], a[5] = 6, 4
	binary.BigEndian.PutUint16(a[6:], 1)
	copy(a[8:], macUs[:])
	copy(a[14:], []byte{10, 0, 0, 2})
	copy(a[24:], ip[:])
	return f
}

// The kernel behind a tap answers an ARP request written to it, and the
// answer is read back, with and without the virtio-net header.
func TestKernelAnswersThroughTap(t *testing.T) {
	for _, vnet := range []string{"on", "off"} {
		t.Run("vnet_hdr="+vnet, func(t *testing.T) {
			ns := nstest.New(t)
			name := nstest.Name("tp")
			var e *Endpoint
			var err error
			nstest.Do(t, ns, func() { e, err = Open("tap://" + name + "/vnet_hdr=" + vnet) })
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			if out := nstest.IP(t, ns, "link", "show", name); !bytes.Contains([]byte(out), []byte("mtu 1500")) || !bytes.Contains([]byte(out), []byte("UP")) {
				t.Fatalf("device not configured: %s", out)
			}
			nstest.IP(t, ns, "addr", "add", "10.0.0.1/24", "dev", name)
			if _, err := e.WriteFrames([][]byte{arpRequest([4]byte{10, 0, 0, 1})}); err != nil {
				t.Fatal(err)
			}
			bufs, lens := [][]byte{make([]byte, 1518)}, []int{0}
			deadline := time.Now().Add(10 * time.Second)
			for time.Now().Before(deadline) {
				n, err := readTimeout(e, bufs, lens)
				if err != nil {
					t.Fatal(err)
				}
				if n > 0 && lens[0] >= 42 && binary.BigEndian.Uint16(bufs[0][12:]) == 0x0806 &&
					binary.BigEndian.Uint16(bufs[0][20:]) == 2 && bytes.Equal(bufs[0][0:6], macUs[:]) {
					return
				}
			}
			t.Fatal("no ARP reply")
		})
	}
}

// readTimeout reads with the endpoint closed after ten seconds, so that a
// test cannot hang.
func readTimeout(e *Endpoint, bufs [][]byte, lens []int) (int, error) {
	timer := time.AfterFunc(10*time.Second, func() { e.Close() })
	defer timer.Stop()
	return e.ReadFrames(bufs, lens)
}

// A tap made elsewhere and handed over as a descriptor.
func TestFromDescriptor(t *testing.T) {
	ns := nstest.New(t)
	name := nstest.Name("tp")
	var fd int
	var err error
	nstest.Do(t, ns, func() {
		fd, err = unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err == nil {
			_, err = setIff(fd, name, unix.IFF_TAP|unix.IFF_NO_PI|unix.IFF_VNET_HDR)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	var e *Endpoint
	nstest.Do(t, ns, func() { e, err = Open("tap://fd=" + strconv.Itoa(fd)) })
	if err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	defer e.Close()
	if e.Name() != name || !e.vnet {
		t.Fatalf("name %s, vnet %v", e.Name(), e.vnet)
	}
	nstest.IP(t, ns, "link", "set", name, "up")
	nstest.IP(t, ns, "addr", "add", "10.0.0.1/24", "dev", name)
	e.WriteFrames([][]byte{arpRequest([4]byte{10, 0, 0, 1})})
	bufs, lens := [][]byte{make([]byte, 1518)}, []int{0}
	for {
		n, err := readTimeout(e, bufs, lens)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 && binary.BigEndian.Uint16(bufs[0][12:]) == 0x0806 && binary.BigEndian.Uint16(bufs[0][20:]) == 2 {
			return
		}
	}
}

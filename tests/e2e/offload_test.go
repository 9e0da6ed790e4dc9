// Package e2e_test checks libshmif end to end with independent tools: frames
// are put on a bus, dumped with the built shmif_dumpbus, and judged by
// tshark.
package e2e_test

import (
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/libshmif/libshmif/core/shmif"
	"github.com/libshmif/libshmif/internal/testlib"
)

func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed (.ci/run installs it)", name)
		}
		t.Skipf("%s is not installed", name)
	}
	return p
}

var (
	srcMAC = [6]byte{0xb2, 0xa0, 0, 0, 0, 1}
	dstMAC = [6]byte{0xb2, 0xa0, 0, 0, 0, 2}
	src4   = []byte{10, 0, 0, 1}
	dst4   = []byte{10, 0, 0, 2}
	src6   = []byte{0xfe, 0x80, 15: 1}
	dst6   = []byte{0xfe, 0x80, 15: 2}
)

// packet builds an Ethernet frame carrying a TCP (proto 6) or UDP (17)
// segment over IPv4 or IPv6 with payload bytes of data and every checksum
// left zero: what a stack hands a card that offloads them.
func packet(v6 bool, proto byte, payload int) []byte {
	l4 := 8
	if proto == 6 {
		l4 = 20
	}
	ipLen := 20
	etype := uint16(0x0800)
	if v6 {
		ipLen, etype = 40, 0x86dd
	}
	f := make([]byte, 14+ipLen+l4+payload)
	copy(f, dstMAC[:])
	copy(f[6:], srcMAC[:])
	binary.BigEndian.PutUint16(f[12:], etype)
	ip := f[14:]
	total := ipLen + l4 + payload
	if v6 {
		ip[0] = 0x60
		binary.BigEndian.PutUint16(ip[4:], uint16(min(l4+payload, 0xffff)))
		ip[6], ip[7] = proto, 64
		copy(ip[8:], src6)
		copy(ip[24:], dst6)
	} else {
		ip[0] = 0x45
		binary.BigEndian.PutUint16(ip[2:], uint16(min(total, 0xffff)))
		binary.BigEndian.PutUint16(ip[4:], 7000)
		ip[8], ip[9] = 64, proto
		copy(ip[12:], src4)
		copy(ip[16:], dst4)
	}
	seg := ip[ipLen:]
	binary.BigEndian.PutUint16(seg[0:], 40000)
	binary.BigEndian.PutUint16(seg[2:], 9)
	if proto == 6 {
		binary.BigEndian.PutUint32(seg[4:], 1000)
		seg[12] = 5 << 4
		seg[13] = 0x10 // ACK
		binary.BigEndian.PutUint16(seg[14:], 65535)
	} else {
		binary.BigEndian.PutUint16(seg[4:], uint16(8+payload))
	}
	for k := range payload {
		seg[l4+k] = byte(k * 7)
	}
	return f
}

// Issue 3: frames produced by TX offload, dumped from the bus to pcap, have
// every IPv4, TCP and UDP checksum right by tshark's reckoning; a 64 KiB
// TSO payload with MSS 1448 is 46 frames with consecutive sequence numbers
// and IP ids.
func TestOffloadedFramesCheckedByTshark(t *testing.T) {
	tshark := needTool(t, "tshark")
	dumpbus := testlib.Path(t, "shmif_dumpbus")
	dir := t.TempDir()
	bus := filepath.Join(dir, "bus")
	ifc, err := shmif.Open(bus, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer ifc.Destroy()
	if err := ifc.SetCapEnable(shmif.TxCaps); err != nil {
		t.Fatal(err)
	}
	sends := []struct {
		name  string
		frame []byte
		flags uint32
		mss   int
	}{
		{"udp4", packet(false, 17, 300), shmif.CsumIPv4 | shmif.CsumUDPv4, 0},
		{"tcp4", packet(false, 6, 1000), shmif.CsumIPv4 | shmif.CsumTCPv4, 0},
		{"udp6", packet(true, 17, 300), shmif.CsumUDPv6, 0},
		{"tcp6", packet(true, 6, 1000), shmif.CsumTCPv6, 0},
		{"tso4", packet(false, 6, 65536), shmif.CsumTSOv4 | shmif.CsumIPv4 | shmif.CsumTCPv4, 1448},
		{"tso6", packet(true, 6, 65536), shmif.CsumTSOv6 | shmif.CsumTCPv6, 1440},
	}
	for _, s := range sends {
		if err := ifc.SendOffload(s.frame, s.flags, s.mss); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
	}
	pcap := filepath.Join(dir, "bus.pcap")
	if out, err := exec.Command(dumpbus, "-p", pcap, bus).CombinedOutput(); err != nil {
		t.Fatalf("shmif_dumpbus: %v\n%s", err, out)
	}
	out, err := exec.Command(tshark, "-r", pcap,
		"-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE",
		"-T", "fields", "-E", "separator=;",
		"-e", "ip.version", "-e", "ip.checksum.status", "-e", "udp.checksum.status", "-e", "tcp.checksum.status",
		"-e", "ip.id", "-e", "tcp.seq_raw", "-e", "tcp.len", "-e", "ipv6.plen").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	// 4 single frames, 46 TSOv4 segments, 46 TSOv6 segments (65536/1440).
	if len(lines) != 4+46+46 {
		t.Fatalf("tshark saw %d frames, want 96", len(lines))
	}
	var tso4, tso6 [][]string
	for k, l := range lines {
		f := strings.Split(l, ";")
		for j := 1; j <= 3; j++ {
			if f[j] != "" && f[j] != "1" {
				t.Fatalf("frame %d: checksum status %q (1 = good): %s", k, f[j], l)
			}
		}
		if f[1] == "" && f[2] == "" && f[3] == "" {
			t.Fatalf("frame %d: no checksum was checked: %s", k, l)
		}
		switch {
		case k >= 4 && k < 50:
			tso4 = append(tso4, f)
		case k >= 50:
			tso6 = append(tso6, f)
		}
	}
	checkRun := func(name string, segs [][]string, mss int, v4 bool) {
		seq := uint64(1000)
		for k, f := range segs {
			if v4 {
				id, _ := strconv.ParseUint(strings.TrimPrefix(f[4], "0x"), 16, 16)
				if id != uint64(7000+k) {
					t.Fatalf("%s segment %d: ip id %d", name, k, id)
				}
			}
			s, _ := strconv.ParseUint(f[5], 10, 32)
			n, _ := strconv.Atoi(f[6])
			if s != seq || (k < len(segs)-1 && n != mss) {
				t.Fatalf("%s segment %d: seq %d len %d, want seq %d", name, k, s, n, seq)
			}
			seq += uint64(n)
		}
		if seq != 1000+65536 {
			t.Fatalf("%s: payload %d bytes in all", name, seq-1000)
		}
	}
	checkRun("TSOv4", tso4, 1448, true)
	checkRun("TSOv6", tso6, 1440, false)
}

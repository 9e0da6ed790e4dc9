package offload

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writePcap writes frames to a classic pcap file (Ethernet link type).
func writePcap(t *testing.T, path string, frames [][]byte) {
	t.Helper()
	var b bytes.Buffer
	le := binary.LittleEndian
	hdr := make([]byte, 24)
	le.PutUint32(hdr[0:], 0xa1b2c3d4)
	le.PutUint16(hdr[4:], 2) // version 2.4
	le.PutUint16(hdr[6:], 4)
	le.PutUint32(hdr[16:], 65535) // snaplen
	le.PutUint32(hdr[20:], 1)     // LINKTYPE_ETHERNET
	b.Write(hdr)
	for i, f := range frames {
		rec := make([]byte, 16)
		le.PutUint32(rec[0:], 1700000000)
		le.PutUint32(rec[4:], uint32(i))
		le.PutUint32(rec[8:], uint32(len(f)))
		le.PutUint32(rec[12:], uint32(len(f)))
		b.Write(rec)
		b.Write(f)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// An independent check of the emitted checksums: Wireshark's dissectors
// verify the IPv4, UDP and TCP checksums of Tx's output (checksum offload
// for IPv4 and IPv6, TCP and UDP, tagged or not; a UDP sum of 0; both kinds
// of TSO), and, as a control, catch one frame corrupted on purpose.
func TestTsharkAgreesWithChecksums(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("tshark not found; CI must install it")
		}
		t.Skip("tshark not found")
	}

	var frames [][]byte
	for _, s := range variants() {
		for _, n := range []int{0, 1, 333} {
			s.payload = randBytes(n, uint64(n)+200)
			frames = append(frames, good(t, s))
		}
	}
	for _, v6 := range []bool{false, true} {
		frames = append(frames, txOne(t, udpSummingToZero(t, v6), csumFlags(spec{v6: v6, proto: protoUDP})))
	}
	in := build(spec{proto: protoTCP, tcpOpts: 12, payload: randBytes(65536, 10)})
	binary.BigEndian.PutUint16(in[14+2:], 0)
	if err := Tx(in, TSOv4|CsumIPv4, 1448, TxCaps, collect(&frames)); err != nil {
		t.Fatal(err)
	}
	in = build(spec{v6: true, vlan: true, proto: protoTCP, payload: randBytes(20000, 11)})
	if err := Tx(in, TSOv6, 1436, TxCaps, collect(&frames)); err != nil {
		t.Fatal(err)
	}
	control := good(t, spec{proto: protoUDP, payload: []byte("control")})
	control[len(control)-1] ^= 1
	frames = append(frames, control)

	path := filepath.Join(t.TempDir(), "tx.pcap")
	writePcap(t, path, frames)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, tshark, "-n", "-r", path,
		"-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE",
		"-T", "fields", "-e", "ip.checksum.status", "-e", "udp.checksum.status", "-e", "tcp.checksum.status")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, stderr.Bytes())
	}

	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != len(frames) {
		t.Fatalf("tshark printed %d lines for %d frames:\n%s", len(lines), len(frames), out)
	}
	for i, line := range lines {
		fields := strings.Split(line, "\t")
		if len(fields) != 3 {
			t.Fatalf("frame %d: %q", i+1, line)
		}
		ip, l4 := fields[0], fields[1]+fields[2]
		want := "1" // good
		if i == len(lines)-1 {
			want = "0" // bad: the control
		}
		wantIP := "1"
		if parse(t, frames[i]).v6 {
			wantIP = ""
		}
		if ip != wantIP || l4 != want {
			t.Errorf("frame %d: ip %q, udp %q, tcp %q; want %s", i+1, fields[0], fields[1], fields[2], want)
		}
	}
	t.Logf("tshark checked %d frames", len(frames))
}

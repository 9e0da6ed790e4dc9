package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/libshmif/libshmif/core/pcap"
	"github.com/libshmif/libshmif/internal/testlib"
)

// The commands under test, built once: shmif_pcapin and shmif_dumpbus.
var pcapin, dumpbus string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "shmif_pcapin-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pcapin, dumpbus = filepath.Join(dir, "shmif_pcapin"), filepath.Join(dir, "shmif_dumpbus")
	for _, b := range [][2]string{{pcapin, "."}, {dumpbus, "../shmif_dumpbus"}} {
		if out, err := exec.Command("go", "build", "-o", b[0], b[1]).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "go build %s: %v\n%s", b[1], err, out)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func run(t *testing.T, dir, bin string, args ...string) testlib.Result {
	t.Helper()
	return testlib.Run(t, dir, bin, args...)
}

func goldenFrames(t *testing.T) []pcap.Record {
	recs, err := pcap.ReadFile("../../testdata/rump-small/bus.pcap")
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// bo is a byte order that can append.
type bo interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

// nanoPcap writes recs as a nanosecond pcap in byte order o, with sub-
// microsecond digits that the round trip drops.
func nanoPcap(o bo, recs []pcap.Record) []byte {
	b := o.AppendUint32(nil, pcap.MagicNano)
	b = o.AppendUint16(b, 2)
	b = o.AppendUint16(b, 4)
	b = append(b, make([]byte, 8)...)
	b = o.AppendUint32(b, 65535)
	b = o.AppendUint32(b, 1)
	for _, r := range recs {
		b = o.AppendUint32(b, r.Sec)
		b = o.AppendUint32(b, r.Usec*1000+999)
		b = o.AppendUint32(b, uint32(len(r.Data)))
		b = o.AppendUint32(b, uint32(len(r.Data)))
		b = append(b, r.Data...)
	}
	return b
}

func ngBlock(o bo, typ uint32, body []byte) []byte {
	for len(body)%4 != 0 {
		body = append(body, 0)
	}
	b := o.AppendUint32(nil, typ)
	b = o.AppendUint32(b, uint32(12+len(body)))
	b = append(b, body...)
	return o.AppendUint32(b, uint32(12+len(body)))
}

// pcapngFile writes recs as pcapng in byte order o, timestamps in
// nanoseconds (if_tsresol 9).
func pcapngFile(o bo, recs []pcap.Record) []byte {
	shb := o.AppendUint32(nil, 0x1A2B3C4D)
	shb = o.AppendUint16(shb, 1)
	shb = o.AppendUint16(shb, 0)
	shb = o.AppendUint64(shb, ^uint64(0))
	b := ngBlock(o, 0x0A0D0D0A, shb)
	idb := o.AppendUint16(nil, 1)
	idb = o.AppendUint16(idb, 0)
	idb = o.AppendUint32(idb, 0)
	idb = o.AppendUint16(idb, 9) // if_tsresol
	idb = o.AppendUint16(idb, 1)
	idb = append(idb, 9, 0, 0, 0)
	idb = o.AppendUint32(idb, 0)
	b = append(b, ngBlock(o, 1, idb)...)
	for _, r := range recs {
		ts := uint64(r.Sec)*1e9 + uint64(r.Usec)*1e3 + 123
		epb := o.AppendUint32(nil, 0)
		epb = o.AppendUint32(epb, uint32(ts>>32))
		epb = o.AppendUint32(epb, uint32(ts))
		epb = o.AppendUint32(epb, uint32(len(r.Data)))
		epb = o.AppendUint32(epb, uint32(len(r.Data)))
		epb = append(epb, r.Data...)
		b = append(b, ngBlock(o, 6, epb)...)
	}
	return b
}

// readable checks that tcpdump and tshark read the pcap file at path.
func readable(t *testing.T, path string) {
	t.Helper()
	for _, tool := range [][]string{{"tcpdump", "-n", "-e", "-r", path}, {"tshark", "-n", "-r", path}} {
		if _, err := exec.LookPath(tool[0]); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is not installed", tool[0])
			}
			t.Skipf("%s is not installed", tool[0])
		}
		if out, err := exec.Command(tool[0], tool[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(tool, " "), err, out)
		}
	}
}

const freshHeader = "bus version 0, lock: 0, generation: 0, firstoff: 0xfffe0, lastoff: 0x0000\n"

// shmif_pcapin x && shmif_dumpbus -p y gives back the frames of x with
// their timestamps (to the microsecond), from classic microsecond and
// nanosecond pcaps in either byte order and from pcapng.
func TestRoundTrip(t *testing.T) {
	frames := goldenFrames(t)
	golden, _ := os.ReadFile("../../testdata/rump-small/bus.pcap")
	for _, c := range []struct {
		name string
		file []byte
	}{
		{"microseconds", golden},
		{"nanoseconds little-endian", nanoPcap(binary.LittleEndian, frames)},
		{"nanoseconds big-endian", nanoPcap(binary.BigEndian, frames)},
		{"pcapng little-endian", pcapngFile(binary.LittleEndian, frames)},
		{"pcapng big-endian", pcapngFile(binary.BigEndian, frames)},
	} {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "x.pcap"), c.file, 0o644)
		r := run(t, dir, pcapin, "x.pcap", "bus")
		if r.Code != 0 || r.Stdout != freshHeader || r.Stderr != "" {
			t.Fatalf("%s: shmif_pcapin: %+v", c.name, r)
		}
		r = run(t, dir, dumpbus, "-p", "y.pcap", "bus")
		if r.Code != 0 || r.Stderr != "" {
			t.Fatalf("%s: shmif_dumpbus: %+v", c.name, r)
		}
		y, _ := os.ReadFile(filepath.Join(dir, "y.pcap"))
		// The microsecond capture was NetBSD's own dump: it comes back
		// byte for byte.
		if !bytes.Equal(y, golden) {
			t.Errorf("%s: y.pcap differs from the original frames", c.name)
		}
		readable(t, filepath.Join(dir, "y.pcap"))
	}
}

// Frames of 1515 or 13 bytes are refused, naming the record, and the bus is
// left as it was.
func TestRefusesBadFrames(t *testing.T) {
	dir := t.TempDir()
	golden, _ := os.ReadFile("../../testdata/rump-small/bus.pcap")
	os.WriteFile(filepath.Join(dir, "x.pcap"), golden, 0o644)
	if r := run(t, dir, pcapin, "x.pcap", "bus"); r.Code != 0 {
		t.Fatalf("%+v", r)
	}
	before, _ := os.ReadFile(filepath.Join(dir, "bus"))
	for _, n := range []int{1515, 13} {
		var buf bytes.Buffer
		w, _ := pcap.NewWriter(&buf, 65535)
		w.Record(1, 0, make([]byte, 60))
		w.Record(2, 0, make([]byte, 1514))
		w.Record(3, 0, make([]byte, n))
		w.Record(4, 0, make([]byte, 60))
		w.Flush()
		os.WriteFile(filepath.Join(dir, "bad.pcap"), buf.Bytes(), 0o644)
		r := run(t, dir, pcapin, "bad.pcap", "bus")
		want := fmt.Sprintf("shmif_pcapin: bad.pcap: record 3: frame of %d bytes is longer than 1514\n", n)
		if n < 14 {
			want = fmt.Sprintf("shmif_pcapin: bad.pcap: record 3: frame of %d bytes is shorter than 14\n", n)
		}
		if r.Code != 1 || r.Stdout != "" || r.Stderr != want {
			t.Errorf("%d bytes: %+v, want %q", n, r, want)
		}
		if after, _ := os.ReadFile(filepath.Join(dir, "bus")); !bytes.Equal(before, after) {
			t.Errorf("%d bytes: bus changed", n)
		}
	}
}

// NetBSD's usage message and exit status, and clear errors.
func TestErrors(t *testing.T) {
	dir := t.TempDir()
	golden, _ := os.ReadFile("../../testdata/rump-small/bus.pcap")
	os.WriteFile(filepath.Join(dir, "x.pcap"), golden, 0o644)
	os.WriteFile(filepath.Join(dir, "junk"), []byte("junk junk junk junk junk junk"), 0o644)
	usage := "usage: shmif_pcapin pcap-file-path bus-path\n"
	for _, c := range []struct {
		args   []string
		stderr string
	}{
		{nil, usage},
		{[]string{"x.pcap"}, usage},
		{[]string{"x.pcap", "bus", "more"}, usage},
		{[]string{"nope.pcap", "bus"}, "shmif_pcapin: cannot open pcap file: nope.pcap: No such file or directory\n"},
		{[]string{"junk", "bus"}, "shmif_pcapin: cannot open pcap file: junk: pcap: unknown magic 0x6a756e6b: not a pcap or pcapng file\n"},
		{[]string{"x.pcap", "junk"}, "shmif_pcapin: junk not a shmif bus\n"},
		{[]string{"x.pcap", "."}, "shmif_pcapin: open bus: Is a directory\n"},
	} {
		r := run(t, dir, pcapin, c.args...)
		if r.Code != 1 || r.Stdout != "" || r.Stderr != c.stderr {
			t.Errorf("%v: %+v, want %q", c.args, r, c.stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "bus")); err == nil {
		t.Error("a failed run created the bus")
	}
}

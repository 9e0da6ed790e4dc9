package dump

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/libshmif/libshmif/core/pcap"
)

// On NetBSD's own buses every frame reads as the tcpdump -n -e line of
// testdata, without its timestamp.
func TestSummaryGolden(t *testing.T) {
	for _, name := range goldens {
		lines := strings.Split(strings.TrimSuffix(string(golden(t, name, "tcpdump.txt")), "\n"), "\n")
		img := &Image{Path: "bus", Data: golden(t, name, "bus"), Size: 1 << 20}
		i := 0
		err := img.Walk(func(r *Record) error {
			_, want, _ := strings.Cut(lines[i], " ")
			if got := Summary(r.Frame); got != want {
				t.Fatalf("%s frame %d:\n got %s\nwant %s", name, i, got, want)
			}
			i++
			return nil
		})
		if err != nil || i != len(lines) {
			t.Fatalf("%s: %d frames of %d, %v", name, i, len(lines), err)
		}
	}
}

// The test frames read as tcpdump 4.99 prints them, where Summary claims
// to (exactly, or as the start of tcpdump's line where tcpdump goes on
// with options, an application protocol or a hex dump).
func TestSummaryLikeTcpdump(t *testing.T) {
	if _, err := exec.LookPath("tcpdump"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("tcpdump is not installed")
		}
		t.Skip("tcpdump is not installed")
	}
	// How tcpdump's line relates to Summary's.
	const (
		exact = iota
		prefix
		differs // tcpdump decodes DNS and IPv6 extension headers
	)
	kind := map[string]int{
		"tcp push":        prefix, // ": HTTP" for port 8080
		"udp 53":          differs,
		"udp6 53":         differs,
		"vlan 100 udp 53": differs,
		"tcp6 hopopts 22": differs,
		"0x88b5":          prefix, // a hex dump follows
		"802.3":           prefix, // LLC and STP follow
	}
	path := filepath.Join(t.TempDir(), "frames.pcap")
	var capture bytes.Buffer
	w, _ := pcap.NewWriter(&capture, Snaplen)
	for _, tf := range testFrames {
		w.Record(1, 0, tf.frame)
	}
	w.Flush()
	os.WriteFile(path, capture.Bytes(), 0o644)
	out, err := exec.Command("tcpdump", "-n", "-e", "-r", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		if l != "" && l[0] != '\t' {
			_, l, _ = strings.Cut(l, " ")
			lines = append(lines, l)
		}
	}
	if len(lines) != len(testFrames) {
		t.Fatalf("tcpdump printed %d lines for %d frames", len(lines), len(testFrames))
	}
	for i, tf := range testFrames {
		got, want := Summary(tf.frame), lines[i]
		switch kind[tf.name] {
		case exact:
			if got != want {
				t.Errorf("%s:\n got %s\nwant %s", tf.name, got, want)
			}
		case prefix:
			if !strings.HasPrefix(want, got) {
				t.Errorf("%s:\n got %s\nwant the start of %s", tf.name, got, want)
			}
		}
	}
}

func TestSummaryShortFrame(t *testing.T) {
	if got := Summary(make([]byte, 10)); got != "truncated frame, length 10" {
		t.Fatal(got)
	}
	// An IPv4 header cut short still names the link layer.
	f := frameNamed("icmp echo")[:20]
	if got := Summary(f); got != "02:00:00:00:00:0a > 02:00:00:00:00:0b, ethertype IPv4 (0x0800), length 20" {
		t.Fatal(got)
	}
}

// Inspect on NetBSD's buses: the frames and header of the dump, the bytes
// between the oldest record and the next write position, and one sender
// per rump kernel with its one MAC address.
func TestInspectGolden(t *testing.T) {
	for name, kernels := range map[string]int{"rump-small": 3, "rump-wrapped": 2} {
		img := &Image{Path: "bus", Data: golden(t, name, "bus"), Size: 1 << 20}
		info, err := img.Inspect()
		if err != nil {
			t.Fatal(err)
		}
		recs := goldenRecords(t, name)
		h, _ := img.Header()
		if info.Header != h || info.Frames != len(recs) {
			t.Errorf("%s: header %+v, %d frames", name, info.Header, info.Frames)
		}
		lastRec := recs[len(recs)-1]
		next := (lastRec[0] + lastRec[1]) % dataSize
		used := int((next - h.First + dataSize) % dataSize)
		if h.First == dataSize {
			used = int(next)
		}
		if info.Bytes != used {
			t.Errorf("%s: %d bytes used, want %d", name, info.Bytes, used)
		}
		if len(info.Senders) != kernels {
			t.Fatalf("%s: %d senders", name, len(info.Senders))
		}
		total := 0
		macs := map[[6]byte]bool{}
		for _, s := range info.Senders {
			total += s.Frames
			if len(s.MACs) != 1 || macs[s.MACs[0]] {
				t.Errorf("%s: sender %#x has MACs %v", name, s.ID, s.MACs)
			}
			macs[s.MACs[0]] = true
		}
		if total != len(recs) {
			t.Errorf("%s: senders sent %d frames of %d", name, total, len(recs))
		}
		if c, _ := img.Newest(); info.Newest != c {
			t.Errorf("%s: newest %s, want %s", name, info.Newest, c)
		}
	}
}

package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/libshmif/libshmif/core/pcap"
	"github.com/libshmif/libshmif/core/shmif"
	"github.com/libshmif/libshmif/internal/testlib"
)

// cursorBus is a bus with a libshmif sender in the test process.
type cursorBus struct {
	dir, path string
	ifc       *shmif.Interface
	sent      int
}

func newCursorBus(t *testing.T) *cursorBus {
	dir := t.TempDir()
	b := &cursorBus{dir: dir, path: filepath.Join(dir, "bus")}
	var err error
	if b.ifc, err = shmif.Open(b.path, -1); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.ifc.Destroy() })
	return b
}

// send puts n frames of size bytes on the bus, numbered on from the last.
func (b *cursorBus) send(t *testing.T, n, size int) {
	t.Helper()
	for range n {
		f := seqFrame(b.sent)
		f = append(f, make([]byte, size-len(f))...)
		if err := b.ifc.Send(f); err != nil {
			t.Fatal(err)
		}
		b.sent++
	}
}

// seqsIn returns the numbers of the frames in the pcap file at path.
func seqsIn(t *testing.T, path string) []int {
	t.Helper()
	recs, err := pcap.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var seqs []int
	for _, r := range recs {
		seqs = append(seqs, seqOf(r.Data))
	}
	return seqs
}

func seqRange(from, to int) []int {
	var s []int
	for i := from; i < to; i++ {
		s = append(s, i)
	}
	return s
}

var packetLine = regexp.MustCompile(`^packet (\d+), offset 0x[0-9a-f]{4,5}, length 0x[0-9a-f]{4}, ts \d+/\d{6}$`)

// checkLines checks that text is a header line and n packet lines
// numbered from 0.
func checkLines(t *testing.T, what, text string, n int) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if !strings.HasPrefix(lines[0], "bus version 3, ") || len(lines) != n+1 {
		t.Fatalf("%s: %d lines, want a header and %d packets:\n%.300s", what, len(lines), n, text)
	}
	for i, l := range lines[1:] {
		m := packetLine.FindStringSubmatch(l)
		if m == nil || m[1] != fmt.Sprint(i) {
			t.Fatalf("%s: line %q", what, l)
		}
	}
}

// Issue 15: successive dumps, each from the cursor the one before left in
// a file, show every frame once, across wraps of the ring; a dump from a
// cursor whose frames were overwritten says how many, then shows
// everything. -c prints the cursor the file holds.
func TestCursorAcrossDumps(t *testing.T) {
	b := newCursorBus(t)
	cur := filepath.Join(b.dir, "cur")
	seen := 0
	for round, c := range []struct{ frames, size int }{
		{10, 60},    // first dump: no cursor yet
		{5, 100},    //
		{0, 0},      // nothing new
		{800, 1000}, // wraps the ring, laps nothing
		{1, 1514},   //
		{300, 1514}, //
	} {
		b.send(t, c.frames, c.size)
		since, _ := os.ReadFile(cur) // "" the first time: the start of the bus
		r := run(t, b.dir, "-s", string(since), "-C", "cur", "-c", "-p", "out.pcap", "bus")
		if r.Code != 0 {
			t.Fatalf("round %d: %+v", round, r)
		}
		got := seqsIn(t, filepath.Join(b.dir, "out.pcap"))
		if want := seqRange(seen, b.sent); !slices.Equal(got, want) {
			t.Fatalf("round %d: %d frames from %v, want %d from %d", round, len(got), got[:min(1, len(got))], len(want), seen)
		}
		checkLines(t, fmt.Sprint("round ", round), r.Stdout, len(got))
		saved, _ := os.ReadFile(cur)
		if r.Stderr != "cursor: "+string(saved) || !strings.HasPrefix(string(saved), "v1,gen=") {
			t.Fatalf("round %d: stderr %q, cursor file %q", round, r.Stderr, saved)
		}
		seen = b.sent
	}

	// Lapped: more than a ring of frames since the cursor.
	before := b.sent
	b.send(t, 1000, 1514)
	since, _ := os.ReadFile(cur)
	r := run(t, b.dir, "--since", string(since), "-p", "out.pcap", "bus")
	got := seqsIn(t, filepath.Join(b.dir, "out.pcap"))
	lost := got[0] - before
	if r.Code != 0 || got[len(got)-1] != b.sent-1 || lost <= 0 ||
		r.Stderr != fmt.Sprintf("shmif_dumpbus: %d frames written after the cursor are no longer on the bus\n", lost) {
		t.Fatalf("lapped: exit %d, stderr %q, frames %d..%d", r.Code, r.Stderr, got[0], got[len(got)-1])
	}
	if full := run(t, b.dir, "bus"); r.Stdout != full.Stdout {
		t.Fatal("a lapped cursor does not show the whole bus")
	}
}

// The cursor of -h names the newest record; of an empty file, the start
// of every bus; -f with -s goes on from a cursor and leaves the cursor of
// the last frame it printed.
func TestCursorHeaderEmptyFollow(t *testing.T) {
	b := newCursorBus(t)
	b.send(t, 7, 60)
	r := run(t, b.dir, "-h", "-c", "bus")
	if r.Code != 0 || strings.Count(r.Stdout, "\n") != 1 || !strings.HasPrefix(r.Stderr, "cursor: v1,") {
		t.Fatalf("-h -c: %+v", r)
	}
	mark := strings.TrimPrefix(strings.TrimSpace(r.Stderr), "cursor: ")
	b.send(t, 3, 60)
	r = run(t, b.dir, "--since="+mark, "bus")
	checkLines(t, "after -h", r.Stdout, 3)

	empty := filepath.Join(b.dir, "empty")
	os.WriteFile(empty, nil, 0o644)
	r = run(t, b.dir, "-C", "cur0", "empty")
	if saved, _ := os.ReadFile(filepath.Join(b.dir, "cur0")); r.Code != 0 || string(saved) != "v1,gen=0,off=0x0,seq=0,ts=0.000000,len=0,sender=0x0,numbered=0\n" {
		t.Fatalf("empty file: %+v, cursor %q", r, saved)
	}
	// The zero cursor shows a whole bus.
	r = run(t, b.dir, "-s", "v1,gen=0,off=0x0,seq=0,ts=0.000000,len=0,sender=0x0,numbered=0", "bus")
	if full := run(t, b.dir, "bus"); r.Code != 0 || r.Stdout != full.Stdout || r.Stderr != "" {
		t.Fatalf("zero cursor: %+v", r)
	}

	// -f -s: the frames after the mark already on the bus, then new ones.
	f := exec.Command(bin, "-f", "-s", mark, "-c", "-p", "out.pcap", "bus")
	f.Dir = b.dir
	var stderr testlib.SyncBuffer
	var stdout testlib.SyncBuffer
	f.Stdout, f.Stderr = &stdout, &stderr
	if err := f.Start(); err != nil {
		t.Fatal(err)
	}
	defer f.Process.Kill()
	waitFor(t, &stdout, "packet 2, ")
	b.send(t, 4, 60)
	waitFor(t, &stdout, "packet 6, ")
	f.Process.Signal(syscall.SIGINT)
	if err := f.Wait(); err != nil {
		t.Fatal(err)
	}
	if got := seqsIn(t, filepath.Join(b.dir, "out.pcap")); !slices.Equal(got, seqRange(7, 14)) {
		t.Fatalf("-f -s: frames %v", got)
	}
	last := strings.TrimPrefix(strings.TrimSpace(stderr.String()), "cursor: ")
	b.send(t, 2, 60)
	r = run(t, b.dir, "-s", last, "-p", "out.pcap", "bus")
	if got := seqsIn(t, filepath.Join(b.dir, "out.pcap")); r.Code != 0 || !slices.Equal(got, seqRange(14, 16)) {
		t.Fatalf("after -f's cursor %q: %+v, frames %v", last, r, got)
	}
}

package dump

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/libshmif/libshmif/core/shmif"
	"math/bits"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libshmif/libshmif/core/internal/bus"
	"github.com/libshmif/libshmif/core/internal/layout"
	"github.com/libshmif/libshmif/core/internal/ring"
	"github.com/libshmif/libshmif/core/pcap"
	"golang.org/x/sys/unix"
)

var goldens = []string{"rump-small", "rump-wrapped"}

func golden(t *testing.T, name, file string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("../../testdata", name, file))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// writeBus writes b to a new file bus in a temporary directory.
func writeBus(t *testing.T, b []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bus")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// dumpText returns Dump's text and pcap for the bus file at path.
func dumpText(t *testing.T, path string) (string, []byte, error) {
	t.Helper()
	img, err := Snapshot(path)
	if err != nil {
		return "", nil, err
	}
	var text, cap bytes.Buffer
	pw, err := pcap.NewWriter(&cap, Snaplen)
	if err != nil {
		t.Fatal(err)
	}
	err = Dump(img, &text, pw)
	return text.String(), cap.Bytes(), err
}

// docs/protocol.md §8: the text is byte for byte NetBSD's, the pcap byte for
// byte what its libpcap wrote; a writable copy is read under the lock, the
// read-only original without it, with the same result.
func TestDumpGolden(t *testing.T) {
	for _, name := range goldens {
		bus := golden(t, name, "bus")
		for _, path := range []string{writeBus(t, bus), filepath.Join("../../testdata", name, "bus")} {
			img, err := Snapshot(path)
			if err != nil {
				t.Fatal(err)
			}
			info, _ := os.Stat(path)
			if want := info.Mode().Perm()&0o222 != 0; img.Locked != want || img.LockBusy {
				t.Errorf("%s: Locked %v LockBusy %v, want locked %v", path, img.Locked, img.LockBusy, want)
			}
			text, cap, err := dumpText(t, path)
			if err != nil {
				t.Fatal(err)
			}
			if want := string(golden(t, name, "dumpbus.txt")); text != want {
				t.Errorf("%s: text differs from dumpbus.txt:\n%s", path, firstDiff(text, want))
			}
			if !bytes.Equal(cap, golden(t, name, "bus.pcap")) {
				t.Errorf("%s: pcap differs from bus.pcap", path)
			}
			h, err := img.Header()
			if err != nil {
				t.Fatal(err)
			}
			if want := string(golden(t, name, "dumpbus-h.txt")); h.String()+"\n" != want {
				t.Errorf("%s: header line %q, want %q", path, h.String(), want)
			}
		}
	}
}

func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := range min(len(g), len(w)) {
		if g[i] != w[i] {
			return fmt.Sprintf("line %d: got %q, want %q", i+1, g[i], w[i])
		}
	}
	return fmt.Sprintf("got %d lines, want %d", len(g), len(w))
}

// Dumping never creates, resizes or changes the file.
func TestSnapshotLeavesFileAlone(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing")
	if _, err := Snapshot(missing); !errors.Is(err, unix.ENOENT) {
		t.Fatalf("missing bus: %v", err)
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Fatal("Snapshot created the bus file")
	}
	short := golden(t, "rump-small", "bus")[:5000]
	path := writeBus(t, short)
	before, _ := os.Stat(path)
	Snapshot(path)
	after, _ := os.Stat(path)
	got, _ := os.ReadFile(path)
	if after.Size() != before.Size() || !bytes.Equal(got, short) {
		t.Fatal("Snapshot changed a short bus file")
	}
}

// A lock held by someone else is waited for briefly, then the copy is
// taken without it and says so; the header shows the lock word as it is.
func TestSnapshotLockBusy(t *testing.T) {
	b := bytes.Clone(golden(t, "rump-small", "bus"))
	layout.NativeEndian.PutUint32(b[layout.OffLock:], 1)
	path := writeBus(t, b)
	start := time.Now()
	img, err := SnapshotWait(path, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if img.Locked || !img.LockBusy {
		t.Fatalf("Locked %v LockBusy %v", img.Locked, img.LockBusy)
	}
	if time.Since(start) > 2*time.Second {
		t.Fatal("waited too long for a wedged lock")
	}
	h, _ := img.Header()
	if h.Lock != 1 {
		t.Fatalf("lock reads %d", h.Lock)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, b) {
		t.Fatal("bus file changed")
	}
}

// The copy is consistent: taken under the lock while a writer appends, every
// snapshot walks cleanly.
func TestSnapshotConsistentUnderWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bus")
	b, err := bus.Open(path, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	// The writer appends until the snapshots are done, so that every
	// snapshot is taken while it writes, however the two are scheduled.
	stop, stopped := make(chan struct{}), make(chan struct{})
	written := make(chan struct{})
	go func() {
		defer close(stopped)
		f := make([]byte, 1000)
		for i := 0; ; i++ {
			// Every byte of frame i is byte(i): a torn copy shows.
			for k := range f {
				f[k] = byte(i)
			}
			h := layout.FrameHeader{Len: uint32(len(f)), Sec: uint32(i)}
			b.WithLock(func(m *layout.Mem) error { ring.Append(m, &h, f); return nil })
			b.Notify()
			if i == 0 {
				close(written)
			}
			select {
			case <-stop:
				return
			default:
			}
		}
	}()
	<-written
	for range 50 {
		img, err := Snapshot(path)
		if err != nil {
			t.Fatal(err)
		}
		if !img.Locked {
			t.Fatal("not locked")
		}
		err = img.Walk(func(r *Record) error {
			for _, c := range r.Frame {
				if c != byte(r.Sec) {
					return fmt.Errorf("torn frame %d at offset %#x", r.Sec, r.Offset)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	<-stopped
}

// goldenRecords parses dumpbus.txt: payload offset and length of each frame.
func goldenRecords(t *testing.T, name string) [][2]uint32 {
	var recs [][2]uint32
	for _, line := range strings.Split(string(golden(t, name, "dumpbus.txt")), "\n") {
		var n int
		var off, length, sec, usec uint32
		if _, err := fmt.Sscanf(line, "packet %d, offset 0x%x, length 0x%x, ts %d/%d", &n, &off, &length, &sec, &usec); err == nil {
			recs = append(recs, [2]uint32{off, length})
		}
	}
	return recs
}

// swapAt byte-swaps the size-byte word at data offset off of the ring,
// which may straddle its end.
func swapAt(data []byte, off uint32, size int) {
	idx := func(i int) uint32 { return (off + uint32(i)) % dataSize }
	for i := range size / 2 {
		a, b := idx(i), idx(size-1-i)
		data[a], data[b] = data[b], data[a]
	}
}

// swapBus turns a golden bus into the same bus as written by a host of the
// other byte order.
func swapBus(t *testing.T, name string) []byte {
	b := bytes.Clone(golden(t, name, "bus"))
	for _, off := range []int{layout.OffMagic, layout.OffVersion, layout.OffFirst, layout.OffLast, layout.OffLock, layout.OffSpare} {
		v := layout.NativeEndian.Uint32(b[off:])
		layout.NativeEndian.PutUint32(b[off:], bits.ReverseBytes32(v))
	}
	layout.NativeEndian.PutUint64(b[layout.OffGen:], bits.ReverseBytes64(layout.NativeEndian.Uint64(b[layout.OffGen:])))
	data := b[layout.HeaderSize:]
	for _, r := range goldenRecords(t, name) {
		h := (r[0] + dataSize - hdrSize) % dataSize
		for _, f := range []uint32{layout.OffLen, layout.OffSec, layout.OffUsec} {
			swapAt(data, h+f, 4)
		}
		swapAt(data, h+uint32(layout.OffSender), 8)
	}
	return b
}

// docs/protocol.md §8.1: a bus of the other byte order dumps exactly like the
// original.
func TestDumpByteSwapped(t *testing.T) {
	for _, name := range goldens {
		path := writeBus(t, swapBus(t, name))
		img, err := Snapshot(path)
		if err != nil {
			t.Fatal(err)
		}
		if img.Locked {
			t.Error("a byte-swapped bus was locked")
		}
		text, cap, err := dumpText(t, path)
		if err != nil {
			t.Fatal(err)
		}
		if want := string(golden(t, name, "dumpbus.txt")); text != want {
			t.Errorf("%s: %s", name, firstDiff(text, want))
		}
		if !bytes.Equal(cap, golden(t, name, "bus.pcap")) {
			t.Errorf("%s: pcap differs", name)
		}
	}
}

// v2Bus lays out recs on a fresh version 2 bus (12-byte frame headers) and
// returns it with the text shmif_dumpbus prints for it.
func v2Bus(recs []pcap.Record) ([]byte, string) {
	b := make([]byte, layout.BusSize)
	data := b[layout.HeaderSize:]
	var lines []string
	off, last := uint32(v2HeaderSize), uint32(0) // after the dummy record at 0
	for i, r := range recs {
		layout.NativeEndian.PutUint32(data[off:], uint32(len(r.Data)))
		layout.NativeEndian.PutUint32(data[off+4:], r.Sec)
		layout.NativeEndian.PutUint32(data[off+8:], r.Usec)
		copy(data[off+v2HeaderSize:], r.Data)
		lines = append(lines, fmt.Sprintf("packet %d, offset 0x%04x, length 0x%04x, ts %d/%06d", i, off+v2HeaderSize, len(r.Data), r.Sec, r.Usec))
		last = off
		off += v2HeaderSize + uint32(len(r.Data))
	}
	layout.NativeEndian.PutUint32(b[layout.OffMagic:], layout.Magic)
	layout.NativeEndian.PutUint32(b[layout.OffVersion:], 2)
	layout.NativeEndian.PutUint32(b[layout.OffFirst:], dataSize)
	layout.NativeEndian.PutUint32(b[layout.OffLast:], last)
	head := fmt.Sprintf("bus version 2, lock: 0, generation: 0, firstoff: 0xfffe0, lastoff: 0x%04x", last)
	return b, head + "\n" + strings.Join(lines, "\n") + "\n"
}

func goldenFrames(t *testing.T, name string) []pcap.Record {
	recs, err := pcap.ReadFile(filepath.Join("../../testdata", name, "bus.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// docs/protocol.md §1.3, §8.1: version 2 buses (12-byte frame headers)
// still dump.
func TestDumpVersion2(t *testing.T) {
	frames := goldenFrames(t, "rump-small")
	b, want := v2Bus(frames)
	text, cap, err := dumpText(t, writeBus(t, b))
	if err != nil {
		t.Fatal(err)
	}
	if text != want {
		t.Error(firstDiff(text, want))
	}
	if !bytes.Equal(cap, golden(t, "rump-small", "bus.pcap")) {
		t.Error("pcap differs")
	}
}

// Files that are not buses, or damaged buses, give a typed error (the
// command turns it into shmif_dumpbus's message: cmd/shmif_dumpbus's tests
// check the texts), never a crash or an endless walk. An empty file and a
// bus never woken (version 0) are not errors for a harness: ErrEmpty, and
// a walk that finds what the ring holds.
func TestDumpRejects(t *testing.T) {
	small := golden(t, "rump-small", "bus")
	with := func(off int, v uint32) []byte {
		b := bytes.Clone(small)
		layout.NativeEndian.PutUint32(b[off:], v)
		return b
	}
	dir := t.TempDir()
	hdr0 := goldenRecords(t, "rump-small")[0][0] - hdrSize // first frame's header
	// A ring that never leads to lastoff: each record jumps across the
	// end of the data area back to the start.
	cyclic := bytes.Clone(small)
	layout.NativeEndian.PutUint32(cyclic[layout.OffFirst:], dataSize)
	layout.NativeEndian.PutUint32(cyclic[layout.OffLast:], dataSize-1)
	layout.NativeEndian.PutUint32(cyclic[layout.HeaderSize:], 60000)
	cases := []struct {
		name    string
		path    string
		kind    error
		partial bool // text was written before the error
	}{
		{"missing", filepath.Join(dir, "nope"), unix.ENOENT, false},
		{"directory", dir, unix.ENODEV, false},
		{"empty", writeBus(t, nil), ErrEmpty, false},
		{"bad magic", writeBus(t, with(layout.OffMagic, 0x12345678)), ErrNotBus, false},
		{"zero magic", writeBus(t, with(layout.OffMagic, 0)), ErrNotBus, false},
		{"version -1", writeBus(t, with(layout.OffVersion, 0xffffffff)), ErrVersion, false},
		{"truncated", writeBus(t, small[:1000]), ErrTruncated, true},
		{"header only", writeBus(t, small[:layout.HeaderSize]), ErrTruncated, true},
		{"first out of range", writeBus(t, with(layout.OffFirst, dataSize+1)), ErrCorrupt, true},
		{"last out of range", writeBus(t, with(layout.OffLast, 0xffffffff)), ErrCorrupt, true},
		{"huge record", writeBus(t, with(layout.HeaderSize+int(hdr0), 0x7fffffff)), ErrCorrupt, true},
		{"cyclic", writeBus(t, cyclic), ErrCorrupt, true},
	}
	// A bus never woken walks like any other.
	text, _, err := dumpText(t, writeBus(t, with(layout.OffVersion, 0)))
	if err != nil || !strings.HasPrefix(text, "bus version 0,") || !strings.Contains(text, "\npacket 0, ") {
		t.Errorf("version 0: %v, text %q", err, text[:min(len(text), 200)])
	}
	for _, c := range cases {
		done := make(chan struct{})
		var text string
		var err error
		go func() {
			defer close(done)
			text, _, err = dumpText(t, c.path)
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: dump does not end", c.name)
		}
		if !errors.Is(err, c.kind) {
			t.Errorf("%s: error %v, want %v", c.name, err, c.kind)
			continue
		}
		if (text != "") != c.partial {
			t.Errorf("%s: text %q", c.name, text)
		}
	}
}

// buildRing appends frames to a fresh bus in memory, as a NetBSD sender
// would, and returns the bus bytes.
func buildRing(t *testing.T, frames int, size int) []byte {
	b := make([]byte, layout.BusSize)
	m := layout.NewMem(b)
	ring.Init(m)
	for i := range frames {
		f := make([]byte, size)
		f[0], f[1] = byte(i>>8), byte(i)
		h := layout.FrameHeader{Len: uint32(size), Sec: uint32(i)}
		ring.Append(m, &h, f)
	}
	m.SetVersion(layout.Version)
	return b
}

// When the newest record straddles the end of the data area (first <= last,
// docs/protocol.md §8.2), or ends exactly at it, the walk stops after it:
// NetBSD goes on into stale bytes there.
func TestWalkStopsAtNewestRecord(t *testing.T) {
	per := int(dataSize) / (int(hdrSize) + 1514)
	for _, c := range []struct {
		name   string
		frames int
		size   int
	}{
		{"straddling", 682, 1514},
		{"wrapped", 2 * per, 1514},
	} {
		b := buildRing(t, c.frames, c.size)
		m := layout.NewMem(b)
		img := &Image{Path: "bus", Data: b, Size: layout.BusSize}
		var seen []uint32
		err := img.Walk(func(r *Record) error {
			seen = append(seen, r.Sec)
			return nil
		})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if len(seen) == 0 || seen[len(seen)-1] != uint32(c.frames-1) {
			t.Fatalf("%s: walk ended at %v", c.name, seen[len(seen)-1:])
		}
		for i := 1; i < len(seen); i++ {
			if seen[i] != seen[i-1]+1 {
				t.Fatalf("%s: frame %d follows %d", c.name, seen[i], seen[i-1])
			}
		}
		if c.name == "straddling" && !(m.First() <= m.Last() && nextWriteOf(m) < m.First()) {
			t.Fatalf("not a straddling bus: first %d last %d next %d", m.First(), m.Last(), nextWriteOf(m))
		}
	}
	// Records that end exactly at the end of the data area.
	b := make([]byte, layout.BusSize)
	m := layout.NewMem(b)
	ring.Init(m)
	left := int(dataSize) - int(hdrSize) // after the dummy
	for i := 0; left > 0; i++ {
		n := min(1514, left-int(hdrSize))
		if rest := left - int(hdrSize) - n; rest > 0 && rest < int(hdrSize)+14 {
			n -= int(hdrSize) + 14 - rest
		}
		h := layout.FrameHeader{Len: uint32(n), Sec: uint32(i)}
		ring.Append(m, &h, make([]byte, n))
		left -= int(hdrSize) + n
	}
	m.SetVersion(layout.Version)
	if m.Gen() != 1 || nextWriteOf(m) != 0 {
		t.Fatalf("gen %d next %d", m.Gen(), nextWriteOf(m))
	}
	img := &Image{Path: "bus", Data: b, Size: layout.BusSize}
	count := 0
	if err := img.Walk(func(*Record) error { count++; return nil }); err != nil {
		t.Fatal(err)
	}
	if want := (int(dataSize) - int(hdrSize)) / (int(hdrSize) + 1514); count < want || count > want+2 {
		t.Fatalf("%d records", count)
	}
}

// The walk never panics or loops on any bus contents.
func FuzzWalk(f *testing.F) {
	small, err := os.ReadFile("../../testdata/rump-small/bus")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(small[:4096])
	f.Add(small[:100])
	f.Add([]byte{0x54, 0xd0, 0x11, 0xca, 2, 0, 0, 0})
	full := make([]byte, layout.BusSize) // reused: the fuzz function runs one input at a time
	f.Fuzz(func(t *testing.T, head []byte) {
		// The fuzzed bytes are a whole (short) bus file, then the
		// start of a full-size one.
		head = head[:min(len(head), layout.BusSize)]
		clear(full)
		copy(full, head)
		for _, b := range [][]byte{head, full} {
			img := &Image{Path: "bus", Data: b, Size: int64(len(b))}
			var text bytes.Buffer
			Dump(img, &text, nil)
		}
	})
}

// nextWriteOf is where the record after the newest one goes.
func nextWriteOf(m *layout.Mem) uint32 {
	var b [layout.FrameHeaderSize]byte
	n := copy(b[:], m.Data()[m.Last():])
	copy(b[n:], m.Data())
	var h layout.FrameHeader
	h.Decode(b[:])
	return (m.Last() + hdrSize + h.Len) % dataSize
}

// Issue 10.8: a fault while the bus is copied under its lock (the file was
// truncated meanwhile) releases the lock: the dump fails with
// ErrTruncated, and the lock word is free again for everyone.
func TestSnapshotFaultReleasesLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bus")
	ifc, err := shmif.Open(path, -1)
	if err != nil {
		t.Fatal(err)
	}
	ifc.Destroy()
	whileLocked = func() { os.Truncate(path, 4096) }
	defer func() { whileLocked = nil }()
	if _, err := Snapshot(path); !errors.Is(err, ErrTruncated) {
		t.Fatalf("Snapshot of a bus truncated under it: %v", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if lock, holder := layout.NativeEndian.Uint32(b[layout.OffLock:]), layout.NativeEndian.Uint32(b[layout.OffSpare:]); lock != 0 || holder != 0 {
		t.Fatalf("lock word %d, holder %d after the fault", lock, holder)
	}
}

package dump

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libshmif/libshmif/core/internal/layout"
	"github.com/libshmif/libshmif/core/shmif"
	"github.com/libshmif/libshmif/internal/netbsd"
	"golang.org/x/sys/unix"
)

// patternFrame is a broadcast frame of size bytes carrying seq, every byte
// after it derived from seq, so that a torn or stale frame shows.
func patternFrame(seq, size int) []byte {
	f := seqFrame(seq, size)
	for i := 17; i < size; i++ {
		f[i] = byte(seq*7 + i)
	}
	return f
}

// patternOK reports whether f is a whole patternFrame.
func patternOK(f []byte) bool {
	if len(f) < 17 || !bytes.Equal(f[:14], seqFrame(0, 17)[:14]) {
		return false
	}
	return bytes.Equal(f, patternFrame(seqOf(f), len(f)))
}

// emptyBus is a bus with a libshmif sender, two libshmif receivers and
// two NetBSD readers, and a NetBSD writer.
type emptyBus struct {
	path      string
	a, r1, r2 *shmif.Interface
	nb        *netbsd.Bus
	n1, n2    *netbsd.Reader
	next      uint32 // where A's next record goes
	buf       [layout.MaxFrame]byte
	sent      int
}

func newEmptyBus(t *testing.T) *emptyBus {
	e := &emptyBus{path: filepath.Join(t.TempDir(), "bus")}
	var err error
	if e.a, err = shmif.Open(e.path, -1); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.a.Destroy() })
	for _, r := range []**shmif.Interface{&e.r1, &e.r2} {
		if *r, err = shmif.Open(e.path, -1); err != nil {
			t.Fatal(err)
		}
		ifc := *r
		t.Cleanup(func() { ifc.Destroy() })
	}
	if e.nb, err = netbsd.Attach(e.path); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.nb.Close() })
	for _, r := range []**netbsd.Reader{&e.n1, &e.n2} {
		if *r, err = e.nb.NewReader(); err != nil {
			t.Fatal(err)
		}
		nr := *r
		t.Cleanup(func() { nr.Close() })
	}
	e.next = hdrSize // after the dummy record
	return e
}

// send puts a frame of size bytes on the bus through A.
func (e *emptyBus) send(t *testing.T, seq, size int) {
	t.Helper()
	if err := e.a.Send(patternFrame(seq, size)); err != nil {
		t.Fatal(err)
	}
	e.next = (e.next + hdrSize + uint32(size)) % dataSize
	e.sent++
}

// drainShmif reads what r has to read now.
func (e *emptyBus) drainShmif(t *testing.T, r *shmif.Interface) []int {
	t.Helper()
	var seqs []int
	for {
		n, err := r.Recv(e.buf[:], 0)
		if errors.Is(err, unix.EAGAIN) {
			return seqs
		}
		if err != nil {
			t.Fatal(err)
		}
		if !patternOK(e.buf[:n]) {
			t.Fatalf("%s read a damaged frame of %d bytes", r.Name(), n)
		}
		seqs = append(seqs, seqOf(e.buf[:n]))
	}
}

// drainNetBSD reads what r has to read now.
func (e *emptyBus) drainNetBSD(t *testing.T, r *netbsd.Reader) []int {
	t.Helper()
	var seqs []int
	for {
		n, _, ok, err := r.Next(e.buf[:])
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return seqs
		}
		if !patternOK(e.buf[:n]) {
			t.Fatalf("NetBSD reader read a damaged frame of %d bytes", n)
		}
		seqs = append(seqs, seqOf(e.buf[:n]))
	}
}

func (e *emptyBus) drainAll(t *testing.T) {
	e.drainShmif(t, e.r1)
	e.drainShmif(t, e.r2)
	e.drainNetBSD(t, e.n1)
	e.drainNetBSD(t, e.n2)
}

// fillTo sends frames through A until its next record goes to target,
// keeping every reader caught up.
func (e *emptyBus) fillTo(t *testing.T, target uint32) {
	t.Helper()
	for e.next != target {
		d := (target - e.next + dataSize) % dataSize
		if d < hdrSize+17 {
			d += dataSize
		}
		size := int(d - hdrSize)
		if d > hdrSize+layout.MaxFrame {
			size = int(min(layout.MaxFrame, d-2*hdrSize-17))
		}
		e.send(t, e.sent, size)
		if e.sent%200 == 0 {
			e.drainAll(t)
		}
	}
	e.drainAll(t)
}

// Empty under readers (docs/protocol.md §3, §9): readers that had read
// everything and readers behind, libshmif's and NetBSD's, read exactly the
// frames written after the empty, whole, from libshmif and NetBSD writers;
// nothing from before it. The bus stays one NetBSD asserts nothing about:
// gen > 0, first != last, a newest record that does not reach the end.
func TestEmptyUnderReaders(t *testing.T) {
	const behind = 50 // frames the lagging readers have not read
	for _, c := range []struct {
		name    string
		next    int64 // where the empty records go: -1 anywhere
		wrapped bool  // fill the ring a few times first
		empties int
	}{
		{"fresh", -1, false, 2},
		{"wrapped", -1, true, 2},
		{"newest empty reaching the end", int64(dataSize - 40), true, 3},
		{"newest empty ending at the end", int64(dataSize - 2*hdrSize), true, 3},
		{"first empty straddling", int64(dataSize - 10), true, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEmptyBus(t)
			if c.wrapped {
				e.fillTo(t, dataSize/3)
				e.fillTo(t, 0)
				e.fillTo(t, dataSize/2)
			}
			const behindSize = 100
			if c.next >= 0 {
				e.fillTo(t, (uint32(c.next)-behind*(hdrSize+behindSize)+dataSize)%dataSize)
			} else {
				e.drainAll(t)
			}
			for i := range behind {
				e.send(t, 900000+i, behindSize)
			}
			if c.next >= 0 && e.next != uint32(c.next) {
				t.Fatalf("next write at %#x, want %#x", e.next, c.next)
			}
			// r1 and n1 are caught up; r2 and n2 are behind.
			if got := e.drainShmif(t, e.r1); !slices.Equal(got, span(900000, 900000+behind)) {
				t.Fatalf("r1 read %d frames before the empty", len(got))
			}
			if got := e.drainNetBSD(t, e.n1); !slices.Equal(got, span(900000, 900000+behind)) {
				t.Fatalf("n1 read %d frames before the empty", len(got))
			}
			before, _ := Snapshot(e.path)
			h0, _ := before.Header()

			// r1 waits in Recv across the empty.
			waited := make(chan []int, 1)
			go func() {
				var seqs []int
				var buf [layout.MaxFrame]byte
				for len(seqs) < 60 {
					n, err := e.r1.Recv(buf[:], 10*time.Second)
					if err != nil || !patternOK(buf[:n]) {
						break
					}
					seqs = append(seqs, seqOf(buf[:n]))
				}
				waited <- seqs
			}()
			h, err := Empty(e.path)
			if err != nil {
				t.Fatal(err)
			}
			if h.Gen != h0.Gen || h.Last != h0.Last {
				t.Fatalf("Empty returned %+v, the bus was %+v", h, h0)
			}

			// What Empty leaves.
			img, _ := Snapshot(e.path)
			hdr, _ := img.Header()
			var recs []Record
			img.walkAll(hdr, func(r *Record) error { recs = append(recs, *r); return nil })
			if len(recs) != c.empties {
				t.Fatalf("%d records after the empty, want %d empty ones", len(recs), c.empties)
			}
			for _, r := range recs {
				if len(r.Frame) != 0 {
					t.Fatalf("a frame of %d bytes left", len(r.Frame))
				}
			}
			if hdr.First != uint32(c.next) && c.next >= 0 {
				t.Fatalf("first %#x, want the next write position %#x", hdr.First, c.next)
			}
			if hdr.Gen == 0 || hdr.First == hdr.Last || hdr.Last+hdrSize >= dataSize {
				t.Fatalf("header after the empty: %+v", hdr)
			}
			if want := h0.Gen; h0.Gen == 0 && hdr.Gen != 1 || h0.Gen > 0 && hdr.Gen < want {
				t.Fatalf("gen %d after %d", hdr.Gen, h0.Gen)
			}

			// New frames, from libshmif and NetBSD writers.
			for i := range 50 {
				e.send(t, 500000+i, 60+i*29)
			}
			for i := range 10 {
				if err := e.nb.Send(patternFrame(600000+i, 200), 0x4e4e, 0xdeadbeef, netbsd.StepNone); err != nil {
					t.Fatal(err)
				}
			}
			want := append(span(500000, 500050), span(600000, 600010)...)
			select {
			case got := <-waited:
				if !slices.Equal(got, want) {
					t.Errorf("r1 (waiting) read %d frames: %v", len(got), got[:min(5, len(got))])
				}
			case <-time.After(20 * time.Second):
				t.Fatal("r1 never woke")
			}
			for name, got := range map[string][]int{
				"r2": e.drainShmif(t, e.r2),
				"n1": e.drainNetBSD(t, e.n1),
				"n2": e.drainNetBSD(t, e.n2),
			} {
				if !slices.Equal(got, want) {
					t.Errorf("%s read %d frames: %v", name, len(got), got[:min(5, len(got))])
				}
			}
			for _, r := range []*shmif.Interface{e.r1, e.r2} {
				if s := r.Stats(); s.Corrupt != 0 {
					t.Errorf("%s: %d corrupt records", r.Name(), s.Corrupt)
				}
			}
			// The frames the empty took from a reader count as lost,
			// exactly: none for r1, the behind ones for r2.
			if l1, l2 := e.r1.Stats().Lost, e.r2.Stats().Lost; l1 != 0 || l2 != behind {
				t.Errorf("lost: caught up %d (want 0), behind %d (want %d)", l1, l2, behind)
			}
			// NetBSD's readers see an overrun: the one behind always,
			// the one caught up only when gen had to move from 0.
			if wantN1 := map[bool]int{true: 1, false: 0}[h0.Gen == 0]; e.n1.Overrun != wantN1 || e.n2.Overrun < 1 {
				t.Errorf("NetBSD overruns: caught up %d (want %d), behind %d", e.n1.Overrun, wantN1, e.n2.Overrun)
			}
			// A dump shows the new frames only.
			img, _ = Snapshot(e.path)
			if got := framesOf(t, img.Walk); !slices.Equal(got, want) {
				t.Errorf("dump after the empty: %d frames", len(got))
			}
		})
	}
}

// Empty refuses what is not a bus and leaves it alone; an empty file holds
// nothing to remove.
func TestEmptyRefuses(t *testing.T) {
	dir := t.TempDir()
	small := golden(t, "rump-small", "bus")
	v2, _ := v2Bus(goldenFrames(t, "rump-small"))
	for _, c := range []struct {
		name string
		data []byte // nil: no file
		kind error
	}{
		{"missing", nil, unix.ENOENT},
		{"empty file", []byte{}, ErrEmpty},
		{"not a bus", bytes.Repeat([]byte("x"), layout.BusSize), ErrNotBus},
		{"short bus", small[:4096], ErrNotBus},
		{"byte-swapped", swapBus(t, "rump-small"), ErrNotBus},
		{"version 2", v2, ErrVersion},
	} {
		path := filepath.Join(dir, c.name)
		if c.data != nil {
			os.WriteFile(path, c.data, 0o644)
		}
		if _, err := Empty(path); !errors.Is(err, c.kind) {
			t.Errorf("%s: %v, want %v", c.name, err, c.kind)
		}
		if c.data == nil {
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Errorf("%s: file created", c.name)
			}
		} else if got, _ := os.ReadFile(path); !bytes.Equal(got, c.data) {
			t.Errorf("%s: file changed", c.name)
		}
	}
}

// A NetBSD bus (a golden file) is emptied like any other, and dumps empty.
func TestEmptyGolden(t *testing.T) {
	for _, name := range goldens {
		path := writeBus(t, golden(t, name, "bus"))
		if _, err := Empty(path); err != nil {
			t.Fatal(err)
		}
		text, capture, err := dumpText(t, path)
		if err != nil || strings.Count(text, "packet ") != 0 || len(capture) != 24 {
			t.Fatalf("%s: after the empty: %v\n%s", name, err, text)
		}
	}
}

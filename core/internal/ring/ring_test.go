package ring

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/libshmif/libshmif/core/internal/buslock"
	"github.com/libshmif/libshmif/core/internal/layout"
	"github.com/libshmif/libshmif/internal/testlib"
)

// longRun returns short, or long with SHMIF_STRESS=full (make stress): the
// race detector makes the long runs take minutes on a busy machine. Under
// the race detector the short form is a quarter: there the lock-free copies
// are not attempted (layout.LoadsOrdered), so the race pass checks only the locked
// path, which a quarter exercises as well; make test's second pass, without
// the race detector, runs the full short form.
func longRun(short, long int) int {
	if os.Getenv("SHMIF_STRESS") == "full" {
		return long
	}
	if testlib.Race {
		return short / 4
	}
	return short
}

// singleGoroutine skips a long test with one goroutine under the race
// detector, which has nothing to find in it: make test's second pass runs
// it without.
func singleGoroutine(t *testing.T) {
	t.Helper()
	if testlib.Race {
		t.Skip("one goroutine, nothing for the race detector: the pass without it runs this test")
	}
}

// newBus returns a fresh, initialised bus in heap memory.
func newBus(t testing.TB) *layout.Mem {
	t.Helper()
	m := layout.NewMem(make([]byte, layout.BusSize))
	Init(m)
	return m
}

func loadBus(t testing.TB, path string) *layout.Mem {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, layout.BusSize)
	copy(buf, b)
	return layout.NewMem(buf)
}

// frame makes a valid frame of n bytes carrying seq and a CRC of its body.
func frame(n int, seq uint32) []byte {
	f := make([]byte, n)
	copy(f, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xb2, 0xa0, 1, 2, 3, 4, 0x88, 0xb5})
	for k := 22; k < n; k++ {
		f[k] = byte(seq) + byte(k)
	}
	if n >= 22 {
		binary.LittleEndian.PutUint32(f[14:], seq)
		binary.LittleEndian.PutUint32(f[18:], crc32.ChecksumIEEE(f[22:]))
	}
	return f
}

func checkFrame(t testing.TB, f []byte) uint32 {
	t.Helper()
	if got, want := binary.LittleEndian.Uint32(f[18:]), crc32.ChecksumIEEE(f[22:]); got != want {
		t.Fatalf("torn or corrupt frame (len %d): crc %08x want %08x", len(f), got, want)
	}
	return binary.LittleEndian.Uint32(f[14:])
}

func appendFrame(m *layout.Mem, f []byte, sender uint64) {
	h := layout.FrameHeader{Len: uint32(len(f)), Sec: 1, Usec: 2, Sender: sender}
	Append(m, &h, f)
}

// dumped is one "packet N, offset 0x..., length 0x..., ts S/U" line of
// NetBSD's shmif_dumpbus.
type dumped struct{ off, length, sec, usec uint32 }

func readDumpbus(t *testing.T, path string) []dumped {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []dumped
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var n int
		var d dumped
		if _, err := fmt.Sscanf(sc.Text(), "packet %d, offset 0x%x, length 0x%x, ts %d/%d", &n, &d.off, &d.length, &d.sec, &d.usec); err == nil {
			out = append(out, d)
		}
	}
	return out
}

// readPcap returns the record bodies of a classic little-endian pcap.
func readPcap(t *testing.T, path string) [][]byte {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for p := 24; p+16 <= len(b); {
		n := int(binary.LittleEndian.Uint32(b[p+8:]))
		out = append(out, b[p+16:p+16+n])
		p += 16 + n
	}
	return out
}

// docs/protocol.md §1, §3.3, §8.2; testdata/README.md: a reader starting at
// the oldest record finds exactly the frames NetBSD's shmif_dumpbus found,
// with their bytes.
func TestGoldenBusesReadLikeDumpbus(t *testing.T) {
	for _, name := range []string{"rump-small", "rump-wrapped"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join("..", "..", "..", "testdata", name)
			m := loadBus(t, filepath.Join(dir, "bus"))
			want := readDumpbus(t, filepath.Join(dir, "dumpbus.txt"))
			pcap := readPcap(t, filepath.Join(dir, "bus.pcap"))
			if len(want) == 0 || len(want) != len(pcap) {
				t.Fatalf("golden files: %d dumpbus lines, %d pcap records", len(want), len(pcap))
			}
			var r Reader
			r.StartOldest(m)
			buf := make([]byte, layout.MaxFrame)
			for k, w := range want {
				h, st := r.Next(m, buf)
				if st != Frame {
					t.Fatalf("frame %d: status %v", k, st)
				}
				got := dumped{advance(r.Offset, hdrSize), h.Len, h.Sec, h.Usec}
				if got != w {
					t.Fatalf("frame %d: got %+v want %+v", k, got, w)
				}
				if !bytes.Equal(buf[:h.Len], pcap[k]) {
					t.Fatalf("frame %d: bytes differ from bus.pcap", k)
				}
			}
			if _, st := r.Next(m, buf); st != Empty {
				t.Fatalf("more frames than dumpbus found: %v", st)
			}
			if r.Lost != 0 || r.Corrupt != 0 {
				t.Fatalf("lost %d corrupt %d", r.Lost, r.Corrupt)
			}
		})
	}
}

// docs/protocol.md §1.4: one 42-byte frame on a fresh bus.
func TestWriterFirstFrameLayout(t *testing.T) {
	m := newBus(t)
	f := frame(42, 7)
	h := layout.FrameHeader{Len: 42, Sec: 0x01020304, Usec: 0x0a0b0c0d, Sender: 0x1122334455667788}
	Append(m, &h, f)
	data := m.Data()
	if !bytes.Equal(data[:24], make([]byte, 24)) {
		t.Fatalf("dummy record not zero: % x", data[:24])
	}
	wantHdr := []byte{0x2a, 0, 0, 0, 4, 3, 2, 1, 0x0d, 0x0c, 0x0b, 0x0a}
	if !bytes.Equal(data[24:36], wantHdr) {
		t.Fatalf("header % x want % x", data[24:36], wantHdr)
	}
	if !bytes.Equal(data[40:48], []byte{0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11}) {
		t.Fatalf("sender % x", data[40:48])
	}
	if !bytes.Equal(data[48:90], f) || data[90] != 0 {
		t.Fatal("frame bytes not at data offset 48")
	}
	if m.Last() != 24 || m.First() != layout.DataSize || m.Gen() != 0 || m.Magic() != layout.Magic {
		t.Fatalf("header: last %d first %#x gen %d", m.Last(), m.First(), m.Gen())
	}
}

// docs/protocol.md §3.1, the trace: three 60-byte frames, then 1514-byte
// frames until the 685th frame wraps.
func TestWriterModelTrace(t *testing.T) {
	m := newBus(t)
	for k, want := range []uint32{24, 108, 192} {
		appendFrame(m, frame(60, uint32(k)), 1)
		if m.Last() != want || m.First() != layout.DataSize {
			t.Fatalf("60-byte frame %d: last %d first %#x", k, m.Last(), m.First())
		}
	}
	for k := 4; k <= 685; k++ {
		appendFrame(m, frame(1514, uint32(k)), 1)
		if k < 685 && m.Gen() != 0 {
			t.Fatalf("wrapped early at frame %d", k)
		}
	}
	if m.Gen() != 1 || m.Last() != 1047654 || m.First() != 1814 {
		t.Fatalf("after the wrap: gen %d last %d first %d", m.Gen(), m.Last(), m.First())
	}
}

// docs/protocol.md §2.5: a write that ends exactly at the end of the data
// area sets wrap and moves first with the +1.
func TestWriteEndingExactlyAtEnd(t *testing.T) {
	m := newBus(t)
	// Fill so that the next record ends exactly at DataSize.
	for m.Last()+hdrSize+1514+2*(hdrSize+1514) < dataSize {
		appendFrame(m, frame(1514, 0), 1)
	}
	next := nextWrite(m)
	size := dataSize - next - hdrSize
	for size > 1514 {
		appendFrame(m, frame(int(min(size-hdrSize-layout.MinFrame, 1514)), 0), 1)
		next = nextWrite(m)
		size = dataSize - next - hdrSize
	}
	if size < layout.MinFrame {
		t.Skipf("layout left %d bytes", size)
	}
	appendFrame(m, frame(int(size), 0), 1)
	if m.Gen() != 1 || nextWrite(m) != 0 {
		t.Fatalf("gen %d next %d", m.Gen(), nextWrite(m))
	}
}

// docs/protocol.md §9.5: when the newest record straddles the end of the data
// area, a lapped reader must resume in the previous generation. NetBSD's rule
// picks the current one and then re-delivers frames or reads garbage.
func TestOverrunWhenNewestRecordStraddlesEnd(t *testing.T) {
	m := newBus(t)
	var r Reader
	r.Start(m) // at the dummy record, generation 0
	for k := 1; k <= 682; k++ {
		appendFrame(m, frame(1514, uint32(k)), 1)
	}
	if m.First() != 1562 || m.Last() != 1047402 || nextWrite(m) != 396 || m.Gen() != 1 {
		t.Fatalf("setup: first %d last %d next %d gen %d", m.First(), m.Last(), nextWrite(m), m.Gen())
	}
	// NetBSD's choice would be generation 1 here: first < last.
	if !(m.First() < m.Last()) {
		t.Fatal("setup does not exercise the flaw")
	}
	buf := make([]byte, layout.MaxFrame)
	want := uint32(2) // frame 1 was overwritten
	for {
		h, st := r.Next(m, buf)
		if st == Empty {
			break
		}
		if got := checkFrame(t, buf[:h.Len]); got != want {
			t.Fatalf("got frame %d want %d", got, want)
		}
		want++
	}
	if want != 683 || r.Lost != 1 || r.Overruns != 1 {
		t.Fatalf("delivered up to %d, lost %d, overruns %d", want-1, r.Lost, r.Overruns)
	}
	// Nothing more is delivered, however often we look.
	for range 3 {
		if _, st := r.Next(m, buf); st != Empty {
			t.Fatal("frame delivered twice")
		}
	}
	// And new frames continue the sequence.
	for k := 683; k <= 700; k++ {
		appendFrame(m, frame(1514, uint32(k)), 1)
	}
	for k := uint32(683); k <= 700; k++ {
		h, st := r.Next(m, buf)
		if st != Frame || checkFrame(t, buf[:h.Len]) != k {
			t.Fatalf("after more writes: status %v", st)
		}
	}
}

// docs/protocol.md §3.5, §9.4: a reader lapped by a fast writer resumes at
// first, never returns a torn or repeated frame, and counts exactly what it
// lost.
func TestLappedReaderCountsLoss(t *testing.T) {
	singleGoroutine(t)
	rng := rand.New(rand.NewPCG(1, 2))
	m := newBus(t)
	var r Reader
	r.Start(m)
	r.Next(m, make([]byte, layout.MaxFrame)) // consume the dummy
	buf := make([]byte, layout.MaxFrame)
	total := uint32(longRun(60000, 200000))
	received := 0
	last := uint32(0)
	for seq := uint32(1); seq <= total; seq++ {
		appendFrame(m, frame(22+rng.IntN(1514-22+1), seq), 1)
		if rng.IntN(1000) == 0 {
			// The reader wakes up now and then and reads a few.
			for range rng.IntN(2000) {
				h, st := r.Next(m, buf)
				if st != Frame {
					break
				}
				got := checkFrame(t, buf[:h.Len])
				if got <= last {
					t.Fatalf("frame %d after %d: repeated or out of order", got, last)
				}
				last = got
				received++
			}
		}
	}
	for {
		h, st := r.Next(m, buf)
		if st != Frame {
			break
		}
		got := checkFrame(t, buf[:h.Len])
		if got <= last {
			t.Fatalf("frame %d after %d", got, last)
		}
		last = got
		received++
	}
	if last != total {
		t.Fatalf("newest frame %d not received", total)
	}
	if uint64(received)+r.Lost != uint64(total) {
		t.Fatalf("received %d + lost %d != %d", received, r.Lost, total)
	}
	if r.Overruns == 0 || m.Gen() < 10 {
		t.Fatalf("test did not lap the reader: overruns %d gen %d", r.Overruns, m.Gen())
	}
	t.Logf("received %d, lost %d in %d overruns, gen %d", received, r.Lost, r.Overruns, m.Gen())
}

// docs/protocol.md §3.2: on attach the reader starts at the newest record,
// which it reads again.
func TestStartRereadsNewestFrame(t *testing.T) {
	m := newBus(t)
	appendFrame(m, frame(60, 1), 1)
	appendFrame(m, frame(60, 2), 1)
	var r Reader
	r.Start(m)
	buf := make([]byte, layout.MaxFrame)
	h, st := r.Next(m, buf)
	if st != Frame || checkFrame(t, buf[:h.Len]) != 2 {
		t.Fatalf("status %v", st)
	}
	if _, st := r.Next(m, buf); st != Empty {
		t.Fatal("expected nothing more")
	}
}

// A frame larger than the buffer is left on the bus.
func TestTooSmallBufferKeepsFrame(t *testing.T) {
	m := newBus(t)
	var r Reader
	r.Start(m)
	appendFrame(m, frame(100, 1), 1)
	h, st := r.Next(m, make([]byte, 50))
	if st != TooSmall || h.Len != 100 {
		t.Fatalf("status %v len %d", st, h.Len)
	}
	buf := make([]byte, 100)
	if h, st = r.Next(m, buf); st != Frame || checkFrame(t, buf[:h.Len]) != 1 {
		t.Fatalf("status %v", st)
	}
}

// Shared memory is untrusted: damaged record lengths and header words are
// skipped and counted, never followed outside the bus or forever.
func TestCorruptRecordsAreSkipped(t *testing.T) {
	m := newBus(t)
	var r Reader
	r.Start(m)
	appendFrame(m, frame(60, 1), 1)
	appendFrame(m, frame(60, 2), 1)
	appendFrame(m, frame(60, 3), 1)
	// Damage the second record's length: the reader cannot know where the
	// third starts, so it goes on at the newest record, the third.
	layout.NativeEndian.PutUint32(m.Data()[24+hdrSize+60:], 0xfffffff0)
	buf := make([]byte, layout.MaxFrame)
	if h, st := r.Next(m, buf); st != Frame || checkFrame(t, buf[:h.Len]) != 1 {
		t.Fatalf("first frame: %v", st)
	}
	if h, st := r.Next(m, buf); st != Frame || checkFrame(t, buf[:h.Len]) != 3 || r.Corrupt != 1 {
		t.Fatalf("corrupt record: status %v corrupt %d", st, r.Corrupt)
	}
	if _, st := r.Next(m, buf); st != Empty {
		t.Fatalf("after the newest record: %v", st)
	}
	appendFrame(m, frame(60, 4), 1)
	if h, st := r.Next(m, buf); st != Frame || checkFrame(t, buf[:h.Len]) != 4 {
		t.Fatalf("after resync: %v", st)
	}
	// Damage the newest record: writers overwrite it, readers wait.
	layout.NativeEndian.PutUint32(m.Data()[m.Last():], 0xfffffff0)
	if _, st := r.Next(m, buf); st != Empty {
		t.Fatalf("damaged newest record: %v", st)
	}
	appendFrame(m, frame(60, 5), 1)
	if h, st := r.Next(m, buf); st != Frame || checkFrame(t, buf[:h.Len]) != 5 {
		t.Fatalf("after repair: %v", st)
	}
	// Header words out of range.
	m.SetLast(0xffffffff)
	if _, st := r.Next(m, buf); st != Empty {
		t.Fatalf("bad last: %v", st)
	}
	appendFrame(m, frame(60, 6), 1) // the writer resets the ring
	if m.Last() >= layout.DataSize || m.First() > layout.DataSize {
		t.Fatalf("writer left last %d first %d", m.Last(), m.First())
	}
	got := false
	for range 3 {
		if h, st := r.Next(m, buf); st == Frame && checkFrame(t, buf[:h.Len]) == 6 {
			got = true
		}
	}
	if !got {
		t.Fatal("frame after reset not received")
	}
}

// docs/protocol.md §3.2: a reader that starts while the newest record
// straddles the end of the data area reads that record again, and nothing is
// counted as damage.
func TestStartWhenNewestRecordStraddlesEnd(t *testing.T) {
	m := newBus(t)
	for k := 1; k <= 682; k++ {
		appendFrame(m, frame(1514, uint32(k)), 1)
	}
	if m.Last()+hdrSize+1514 < dataSize || m.Gen() != 1 {
		t.Fatalf("setup: last %d gen %d", m.Last(), m.Gen())
	}
	var r Reader
	r.Start(m)
	buf := make([]byte, layout.MaxFrame)
	h, st := r.Next(m, buf)
	if st != Frame || checkFrame(t, buf[:h.Len]) != 682 {
		t.Fatalf("status %v", st)
	}
	appendFrame(m, frame(1514, 683), 1)
	if h, st = r.Next(m, buf); st != Frame || checkFrame(t, buf[:h.Len]) != 683 {
		t.Fatalf("next frame: status %v", st)
	}
	if r.Corrupt != 0 || r.Lost != 0 || r.Overruns != 0 {
		t.Fatalf("corrupt %d lost %d overruns %d", r.Corrupt, r.Lost, r.Overruns)
	}
}

// A reader lapped many times over still counts every frame it missed,
// exactly, when the writers number their records.
func TestLostCountedAcrossManyLaps(t *testing.T) {
	singleGoroutine(t)
	m := newBus(t)
	var r Reader
	r.Start(m)
	buf := make([]byte, layout.MaxFrame)
	r.Next(m, buf) // the dummy
	const total = 200000
	for seq := uint32(1); seq <= total; seq++ {
		appendFrame(m, frame(60, seq), 1)
	}
	got := 0
	for {
		_, st := r.Next(m, buf)
		if st != Frame {
			break
		}
		got++
	}
	if uint64(got)+r.Lost != total || r.Overruns != 1 {
		t.Fatalf("got %d + lost %d != %d (overruns %d, gen %d)", got, r.Lost, total, r.Overruns, m.Gen())
	}
}

// Records whose sequence words are not consecutive (NetBSD leaves them
// uninitialised) count one lost frame per overrun.
func TestLostWithUnnumberedWriters(t *testing.T) {
	m := newBus(t)
	var r Reader
	r.Start(m)
	buf := make([]byte, layout.MaxFrame)
	rng := rand.New(rand.NewPCG(3, 4))
	write := func(n int) {
		for range n {
			h := layout.FrameHeader{Len: 60, Sender: 1}
			Append(m, &h, frame(60, 0))
			// Scribble over the sequence word as NetBSD's stack would.
			var w [4]byte
			layout.NativeEndian.PutUint32(w[:], rng.Uint32())
			for k := range w {
				m.Data()[(m.Last()+layout.OffSeq+uint32(k))%dataSize] = w[k]
			}
		}
	}
	write(10)
	for range 10 {
		r.Next(m, buf)
	}
	write(50000)
	for {
		if _, st := r.Next(m, buf); st != Frame {
			break
		}
	}
	if r.Overruns != 1 || r.Lost != 1 {
		t.Fatalf("overruns %d lost %d", r.Overruns, r.Lost)
	}
}

// docs/protocol.md §9.4, §9.8: a ring reset costs a reader exactly the
// frames it had not read when the reset could find the newest number (only
// first was damaged); when it could not (every header word damaged) the
// numbers start again at 1, the frames after the reset are delivered, and
// at least one loss is counted. A reader that finds an old reset's records
// after damage of its own (gen moved back) delivers nothing twice.
func TestResetCountsWhatItCost(t *testing.T) {
	buf := make([]byte, layout.MaxFrame)
	recv := func(r *Reader, m *layout.Mem) []uint32 {
		var got []uint32
		for range 100 {
			h, st := r.Next(m, buf)
			if st != Frame {
				break
			}
			got = append(got, checkFrame(t, buf[:h.Len]))
		}
		return got
	}
	for _, c := range []struct {
		name     string
		damage   func(m *layout.Mem)
		wantLost uint64 // exact, or at least 1 with 0
	}{
		{"first out of range", func(m *layout.Mem) { m.SetFirst(0xffffffff) }, 5},
		{"every word out of range", func(m *layout.Mem) { m.SetFirst(0xffffffff); m.SetLast(0xfffffff0) }, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := newBus(t)
			var r Reader
			r.Start(m)
			for k := range 20 {
				appendFrame(m, frame(100, uint32(k)), 1)
			}
			if got := recv(&r, m); len(got) != 20 {
				t.Fatalf("read %d frames before", len(got))
			}
			for k := range 5 {
				appendFrame(m, frame(100, uint32(100+k)), 1) // not read
			}
			c.damage(m)
			appendFrame(m, frame(100, 200), 1) // the writer resets the ring
			appendFrame(m, frame(100, 201), 1)
			got := recv(&r, m)
			if len(got) != 2 || got[0] != 200 || got[1] != 201 {
				t.Fatalf("after the reset: %v, want [200 201]", got)
			}
			if c.wantLost != 0 && r.Lost != c.wantLost || r.Lost == 0 {
				t.Fatalf("lost %d, want %d (0: at least 1)", r.Lost, c.wantLost)
			}
			// Damage of the reader's own making afterwards: gen moved
			// back makes it think it is ahead; it goes back to the
			// oldest record and skips, by number, what it has read.
			m.SetGen(0)
			appendFrame(m, frame(100, 202), 1)
			if got := recv(&r, m); len(got) > 1 || len(got) == 1 && got[0] != 202 {
				t.Fatalf("after gen moved back: %v, want at most [202] (nothing again)", got)
			}
		})
	}
}

// A frame too big for the buffer, met first after a lap, is counted up to
// but not itself; if the writers lap the reader again before it is read,
// the loss counts from there, not a second time from before the first lap.
func TestTooSmallAfterLapCountsLossOnce(t *testing.T) {
	m := newBus(t)
	var r Reader
	r.Skip(m)
	seq := uint32(0)
	lap := func() {
		for range 1500 {
			seq++
			appendFrame(m, frame(1000, seq), 1)
		}
	}
	buf := make([]byte, layout.MaxFrame)
	lap()
	if _, st := r.Next(m, buf[:100]); st != TooSmall {
		t.Fatalf("after a lap, with a 100-byte buffer: %v", st)
	}
	lap()
	received := uint64(0)
	for {
		h, st := r.Next(m, buf)
		if st != Frame {
			break
		}
		checkFrame(t, buf[:h.Len])
		received++
	}
	if received+r.Lost != uint64(seq) {
		t.Fatalf("received %d + lost %d, sent %d", received, r.Lost, seq)
	}
}

// floodUnderLock writes total numbered frames of random sizes from another
// goroutine, under the bus lock, in bursts of 1 to maxBurst, staying at
// most ahead frames past the newest frame the reader stores in seen, except
// for a burst of 2000 (a lap) once in about lapOdds bursts. done is set when
// it has finished; the test's end stops it and waits for it.
func floodUnderLock(t *testing.T, m *layout.Mem, total uint32, seed uint64, maxBurst, ahead, lapOdds int) (done *atomic.Bool, seen *atomic.Uint32) {
	done, seen = new(atomic.Bool), new(atomic.Uint32)
	var stop atomic.Bool
	var wg sync.WaitGroup
	t.Cleanup(func() { stop.Store(true); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer done.Store(true)
		rng := rand.New(rand.NewPCG(seed, seed+1))
		for seq := uint32(1); seq <= total && !stop.Load(); {
			burst := 1 + rng.IntN(maxBurst)
			if rng.IntN(lapOdds) == 0 {
				burst = 2000
			} else {
				for seq > seen.Load()+uint32(ahead) && !stop.Load() {
					runtime.Gosched()
				}
			}
			err := buslock.With(m, func() error {
				w := NewWriter(m)
				for range burst {
					f := frame(layout.MinFrame+8+rng.IntN(layout.MaxFrame-layout.MinFrame-7), seq)
					w.Append(&layout.FrameHeader{Len: uint32(len(f)), Sender: 1}, f)
					if seq++; seq > total {
						break
					}
				}
				return nil
			})
			if err != nil {
				t.Error(err)
				return
			}
		}
	}()
	return done, seen
}

// A reader lapped exactly to the record it stands at: the writers' newest
// record ends where the reader will read next, so the bus holds a whole
// lap from there, nothing of it lost; the newest record overwrote the
// reader's anchor with bytes that are no header, so the reader has only
// the generation rule to go by. It must read the lap, losing and skipping
// nothing (found by tests/robust's TestStressKillStorm: corrupt 1 to 3 in a
// run in seven, the reader resyncing at the write position).
func TestLappedExactlyToTheReader(t *testing.T) {
	m := newBus(t)
	var r Reader
	r.Start(m)
	buf := make([]byte, layout.MaxFrame)
	seq := uint32(0)
	for m.Gen() < 1 {
		seq++
		appendFrame(m, frame(1000, seq), 1)
	}
	// X, then X+1: the reader reads up to X.
	x := seq + 1
	appendFrame(m, frame(60, x), 1)
	appendFrame(m, frame(200, x+1), 1)
	seq = x + 1
	for {
		h, st := r.Next(m, buf)
		if st != Frame {
			t.Fatalf("reading up to %d: %v", x, st)
		}
		if checkFrame(t, buf[:h.Len]) == x {
			break
		}
	}
	at := r.next
	// A lap whose newest record ends exactly at the reader, its payload
	// over the reader's anchor (X, 84 bytes before).
	dist := func() uint32 { return (at - look(m).next + dataSize) % dataSize }
	for dist() > hdrSize+layout.MaxFrame {
		seq++
		appendFrame(m, frame(int(min(1000, dist()-hdrSize-400)), seq), 1)
	}
	seq++
	appendFrame(m, frame(int(dist()-hdrSize), seq), 1)
	if v := look(m); v.next != at {
		t.Fatalf("setup: the writers stopped at %d, the reader stands at %d", v.next, at)
	}
	if _, _, _, ok := readHeader(m.Data(), r.anchorOff); ok {
		t.Fatalf("setup: the anchor's place still reads as a header")
	}
	lost, corrupt := r.Lost, r.Corrupt // the setup's own laps
	want := x + 1
	for {
		h, st := r.Next(m, buf)
		if st == Empty {
			break
		}
		if st != Frame {
			t.Fatalf("after the lap: %v", st)
		}
		if got := checkFrame(t, buf[:h.Len]); got != want {
			t.Fatalf("frame %d, want %d", got, want)
		}
		want++
	}
	if want != seq+1 || r.Lost != lost || r.Corrupt != corrupt {
		t.Errorf("read up to %d of %d; lost %d, corrupt %d", want-1, seq, r.Lost-lost, r.Corrupt-corrupt)
	}
}

// Headers are decoded in place, and encoded in place by writers, unless
// they reach the end of the data area: at every offset near the end the
// fast and the wrapping paths must agree with a plain copy.
func TestHeaderNearTheEnd(t *testing.T) {
	data := make([]byte, dataSize)
	for off := dataSize - 2*hdrSize; off <= dataSize; off++ {
		for k := range data {
			data[k] = byte(k * 7)
		}
		want := layout.FrameHeader{Len: 60, Sec: 1, Usec: 2, Seq: 3, Sender: 0x0102030405060708}
		var b [layout.FrameHeaderSize]byte
		want.Encode(b[:])
		w := Writer{data: data}
		var wrapW bool
		w.busWrite(off, b[:], &wrapW)
		// The reference: a plain copy out (busRead reads an offset of
		// dataSize as 0, and says it wrapped).
		var c [layout.FrameHeaderSize]byte
		end, wrapR := busRead(data, off, c[:])
		if c != b {
			t.Fatalf("off %#x: busRead does not read what busWrite wrote", off)
		}

		h, next, wrap, ok := readHeader(data, off)
		if !layout.HasSeq {
			want.Seq = 0
		}
		if h != want || next != end || wrap != wrapR || !ok {
			t.Fatalf("off %#x: readHeader = %+v, %#x, %v, %v; want %+v, %#x, %v, true", off, h, next, wrap, ok, want, end, wrapR)
		}
		if n, ok := nextPktOff(data, off); !ok || n != advance(inRing(off)%dataSize, hdrSize+60) {
			t.Fatalf("off %#x: nextPktOff = %#x, %v", off, n, ok)
		}
	}
}

// A writer encodes record headers in place except at the end of the data
// area (and when tests set crash, which needs every copy to go through
// Writer.copy): both ways must leave the same bus, header words included,
// and readers must find the records, wherever near the end a record starts.
func TestWriterAcrossTheEnd(t *testing.T) {
	var hdr layout.FrameHeader
	got := make([]byte, layout.MaxFrame)
	for at := dataSize - 2*hdrSize - 2; at <= dataSize; at++ {
		fast, slow := newBus(t), newBus(t)
		var r Reader
		r.Start(fast)
		// Frames that bring the write position to at, then two more.
		var sizes []int
		for pos := nextWrite(fast); pos != at; {
			n := uint32(1000)
			if at-pos <= hdrSize+layout.MaxFrame {
				n = at - pos - hdrSize
			}
			sizes = append(sizes, int(n))
			pos += hdrSize + n
		}
		sizes = append(sizes, 61, 61)
		for k, n := range sizes {
			frame := make([]byte, n)
			for j := range frame {
				frame[j] = byte(k + j)
			}
			Append(fast, &hdr, frame)
			withCopyingWriter(func() { Append(slow, &hdr, frame) })
			if !sameWords(fast, slow) {
				t.Fatalf("at %#x, frame %d: in place gen %d last %#x first %#x, copied gen %d last %#x first %#x", at, k,
					fast.Gen(), fast.Last(), fast.First(), slow.Gen(), slow.Last(), slow.First())
			}
			h, st := r.Next(fast, got)
			if st != Frame || !bytes.Equal(got[:h.Len], frame) {
				t.Fatalf("at %#x, frame %d: %v, %d bytes", at, k, st, h.Len)
			}
		}
		if !bytes.Equal(fast.Data(), slow.Data()) {
			t.Fatalf("at %#x: the data areas differ", at)
		}
	}
}

// docs/protocol.md §9.8: a writer whose walk of first meets a damaged
// record resets the ring, and every reader finds itself lapped. A reader
// anchored on a record that straddles the end of the data area kept its
// anchor (the reset rewrites only the start of the ring) and its place,
// which the new ring's first record covers: it read from the middle of that
// record and counted it corrupt instead of receiving it.
func TestResetLapsReaderAnchoredAcrossTheEnd(t *testing.T) {
	m := newBus(t)
	seq := uint32(0)
	for {
		v := look(m)
		if v.gen >= 1 && v.next+hdrSize+1000 > dataSize && v.next < dataSize-hdrSize {
			break
		}
		seq++
		appendFrame(m, frame(1000, seq), 1)
	}
	seq++
	appendFrame(m, frame(1000, seq), 1) // straddles the end
	var r Reader
	r.Skip(m) // caught up, anchored on the straddling record
	if !r.anchored || r.anchorOff <= r.next {
		t.Fatalf("setup: anchor %#x, reader at %#x", r.anchorOff, r.next)
	}
	// A stranger damages the oldest record; the next write's walk of
	// first meets it and resets the ring.
	v := look(m)
	layout.NativeEndian.PutUint32(m.Data()[v.first:], 0xffffffff)
	seq++
	appendFrame(m, frame(1400, seq), 1)
	buf := make([]byte, layout.MaxFrame)
	h, st := r.Next(m, buf)
	if st != Frame || checkFrame(t, buf[:h.Len]) != seq {
		t.Fatalf("after the reset: %v, %d bytes; want frame %d", st, h.Len, seq)
	}
	if r.Corrupt != 0 || r.Overruns != 1 {
		t.Fatalf("corrupt %d, overruns %d; want 0 and 1", r.Corrupt, r.Overruns)
	}
}

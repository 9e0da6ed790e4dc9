package ring

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/libshmif/libshmif/core/internal/layout"
)

var (
	goldenOnce sync.Once
	goldens    [][]byte
)

func goldenBuses(t testing.TB) [][]byte {
	goldenOnce.Do(func() {
		for _, name := range []string{"rump-small", "rump-wrapped"} {
			b, err := os.ReadFile(filepath.Join("..", "..", "..", "testdata", name, "bus"))
			if err != nil {
				t.Fatal(err)
			}
			goldens = append(goldens, b)
		}
	})
	return goldens
}

// damage applies patches to bus: the fuzz input is a sequence of
// (offset uint32, length uint8, bytes) records, offsets taken modulo the
// bus size so that every input hits the bus somewhere.
func damage(bus []byte, patches []byte) {
	for len(patches) >= 5 {
		off := int(binary.LittleEndian.Uint32(patches) % layout.BusSize)
		n := int(patches[4])
		patches = patches[5:]
		n = min(n, len(patches), layout.BusSize-off)
		copy(bus[off:], patches[:n])
		patches = patches[n:]
	}
}

// FuzzRingOnDamagedBus: whatever another process scribbles on the bus, the
// reader and the writer stay inside it, terminate, and only ever return
// frames of legal length. Seeded with NetBSD's golden buses.
func FuzzRingOnDamagedBus(f *testing.F) {
	le := binary.LittleEndian
	seed := func(parts ...[]byte) []byte {
		var b []byte
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	patch := func(off uint32, b ...byte) []byte {
		return append(le.AppendUint32(nil, off), append([]byte{byte(len(b))}, b...)...)
	}
	f.Add(uint8(0), []byte{})
	f.Add(uint8(1), []byte{})
	f.Add(uint8(0), patch(layout.OffLast, 0xff, 0xff, 0xff, 0xff))
	f.Add(uint8(1), patch(layout.OffFirst, 0xe0, 0xff, 0x0f, 0x00))
	f.Add(uint8(1), patch(layout.OffGen, 0, 0, 0, 0, 0, 0, 0, 0))
	f.Add(uint8(0), seed(patch(layout.HeaderSize+24, 0xff, 0x05, 0, 0), patch(layout.OffMagic, 1, 2, 3, 4)))
	f.Add(uint8(1), patch(layout.HeaderSize+0x2000, 0x10, 0, 0, 0))
	f.Fuzz(func(t *testing.T, which uint8, patches []byte) {
		// A hang is a failure too: crash with the stacks so the fuzzer
		// keeps the input.
		watchdog := time.AfterFunc(5*time.Second, func() { panic("ring walk did not terminate") })
		defer watchdog.Stop()
		g := goldenBuses(t)
		buf := make([]byte, layout.BusSize)
		copy(buf, g[int(which)%len(g)])
		damage(buf, patches)
		m := layout.NewMem(buf)
		frame := make([]byte, layout.MaxFrame)

		drain := func(r *Reader) {
			for calls := 0; ; calls++ {
				if calls > 2*int(maxRecords) {
					t.Fatalf("reader did not catch up after %d frames", calls)
				}
				h, st := r.Next(m, frame)
				if st == Empty {
					return
				}
				if st == TooSmall {
					t.Fatalf("TooSmall with a full-size buffer: len %d", h.Len)
				}
				if h.Len < layout.MinFrame || h.Len > layout.MaxFrame {
					t.Fatalf("returned a frame of %d bytes", h.Len)
				}
			}
		}
		// TryNext, where it copies at all, copies what Next would.
		twins := func() {
			var a, b Reader
			a.StartOldest(m)
			b.StartOldest(m)
			other := make([]byte, layout.MaxFrame)
			for calls := 0; calls <= 2*int(maxRecords); calls++ {
				ha, sa, _ := next(&a, m, frame)
				hb, sb := b.Next(m, other)
				if sa != sb || ha != hb || a != b || string(frame[:ha.Len]) != string(other[:hb.Len]) {
					t.Fatalf("TryNext reader %v %+v %+v, Next reader %v %+v %+v", sa, ha, a, sb, hb, b)
				}
				if sa == Empty {
					return
				}
			}
		}
		twins()
		var oldest, newest Reader
		oldest.StartOldest(m)
		newest.Start(m)
		drain(&oldest)
		drain(&newest)
		// Writers repair what they must and carry on; readers follow.
		for k := range 3 {
			h := layout.FrameHeader{Len: uint32(60 + k), Sender: 1}
			Append(m, &h, frame[:60+k])
			if m.Last() >= layout.DataSize || m.First() > layout.DataSize {
				t.Fatalf("writer left last %d first %d", m.Last(), m.First())
			}
		}
		drain(&oldest)
		drain(&newest)
	})
}

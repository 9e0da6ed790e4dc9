package dump

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/libshmif/libshmif/core/internal/layout"
	"github.com/libshmif/libshmif/core/internal/ring"
	"github.com/libshmif/libshmif/core/shmif"
	"github.com/libshmif/libshmif/internal/netbsd"
)

// memBus is a bus in memory written by libshmif's writer, which remembers
// where each frame went: frame n (counting from 0) carries n in its
// payload (seqFrame) and the writer's number n+1.
type memBus struct {
	b   []byte
	m   *layout.Mem
	at  []place // where frame n went
	rnd *rand.Rand
}

type place struct {
	off uint32
	gen uint64
}

func newMemBus(seed uint64) *memBus {
	b := make([]byte, layout.BusSize)
	m := layout.NewMem(b)
	ring.Init(m)
	m.SetVersion(layout.Version)
	return &memBus{b: b, m: m, rnd: rand.New(rand.NewPCG(seed, 1))}
}

// write appends n frames of random sizes (size 0), or of size bytes.
func (mb *memBus) write(n, size int) {
	for range n {
		s := size
		if s == 0 {
			s = 60 + mb.rnd.IntN(layout.MaxFrame-60+1)
		}
		w := ring.NewWriter(mb.m)
		off, gen := w.Next()
		i := len(mb.at)
		h := layout.FrameHeader{Sec: uint32(i), Sender: 7}
		w.Append(&h, seqFrame(i, s))
		mb.at = append(mb.at, place{off, gen})
	}
}

func (mb *memBus) image() *Image {
	return &Image{Path: "bus", Data: bytes.Clone(mb.b), Size: layout.BusSize, Locked: true}
}

// framesOf returns the payload numbers of the frames Walk or WalkSince
// finds.
func framesOf(t *testing.T, walk func(func(*Record) error) error) []int {
	t.Helper()
	var seqs []int
	if err := walk(func(r *Record) error { seqs = append(seqs, seqOf(r.Frame)); return nil }); err != nil {
		t.Fatal(err)
	}
	return seqs
}

func span(from, to int) []int {
	var s []int
	for i := from; i < to; i++ {
		s = append(s, i)
	}
	return s
}

// §2.6: every record the walk finds is named by the offset and generation
// the writer put it at, and carries the writer's number; every record but
// the oldest continues the numbering.
func TestWalkNamesRecords(t *testing.T) {
	mb := newMemBus(1)
	for round := range 40 {
		mb.write(97, 0)
		if round == 20 {
			mb.write(300, layout.MaxFrame) // straddling records too
		}
		img := mb.image()
		n := 0
		err := img.walkAll(mustHeader(t, img), func(r *Record) error {
			if len(r.Frame) == 0 {
				if n != 0 {
					t.Fatalf("round %d: an empty record after the oldest", round)
				}
				n++
				return nil
			}
			i := seqOf(r.Frame)
			if want := mb.at[i]; r.HeaderOffset != want.off || r.Gen != want.gen {
				t.Fatalf("round %d: frame %d at %#x gen %d, written at %#x gen %d", round, i, r.HeaderOffset, r.Gen, want.off, want.gen)
			}
			if r.Seq != uint32(i+1) {
				t.Fatalf("round %d: frame %d has number %d", round, i, r.Seq)
			}
			if r.numbered != (n > 0) {
				t.Fatalf("round %d: frame %d (record %d) numbered %v", round, i, n, r.numbered)
			}
			n++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if mb.m.Gen() < 3 {
		t.Fatalf("the ring wrapped only %d times", mb.m.Gen())
	}
}

func mustHeader(t *testing.T, img *Image) Header {
	t.Helper()
	h, err := img.Header()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// A cursor's text reads back as the same cursor.
func TestCursorText(t *testing.T) {
	c := Cursor{Gen: 8, Off: 0x9d2c8, Seq: 5321, Sec: 2, Usec: 230008, Len: 1442, Sender: 0x1b2c3d4e5f607182, Numbered: true}
	const want = "v1,gen=8,off=0x9d2c8,seq=5321,ts=2.230008,len=1442,sender=0x1b2c3d4e5f607182,numbered=1"
	if c.String() != want {
		t.Fatalf("String: %s", c.String())
	}
	for _, c := range []Cursor{c, {}, {Gen: 1<<64 - 1, Off: dataSize - 1, Seq: 1<<32 - 1, Sec: 1<<32 - 1, Usec: 999999, Len: MaxRecord, Sender: 1<<64 - 1}} {
		got, err := ParseCursor(" " + c.String() + "\n")
		if err != nil || got != c {
			t.Errorf("%s: read back %+v, %v", c, got, err)
		}
	}
	if (Cursor{}).String() != "v1,gen=0,off=0x0,seq=0,ts=0.000000,len=0,sender=0x0,numbered=0" {
		t.Errorf("zero cursor: %s", Cursor{})
	}
}

// Malformed cursors are refused, naming the field at fault.
func TestCursorErrors(t *testing.T) {
	good := "v1,gen=8,off=0x9d2c8,seq=5321,ts=2.230008,len=1442,sender=0x1b,numbered=1"
	for _, c := range []struct {
		text    string
		field   string
		problem CursorProblem
	}{
		{"", "", CursorVersion},
		{"v2" + good[2:], "", CursorVersion},
		{"gen=8", "", CursorVersion},
		{"v1,gen=8", "", CursorFields},
		{good + ",x=1", "", CursorFields},
		{"v1,off=0x9d2c8,gen=8,seq=5321,ts=2.230008,len=1442,sender=0x1b,numbered=1", "gen", CursorFields},
		{"v1,gen=-1,off=0x9d2c8,seq=5321,ts=2.230008,len=1442,sender=0x1b,numbered=1", "gen", CursorSyntax},
		{"v1,gen=8,off=0xfffe0,seq=5321,ts=2.230008,len=1442,sender=0x1b,numbered=1", "off", CursorRange},
		{"v1,gen=8,off=zz,seq=5321,ts=2.230008,len=1442,sender=0x1b,numbered=1", "off", CursorSyntax},
		{"v1,gen=8,off=0x9d2c8,seq=4294967296,ts=2.230008,len=1442,sender=0x1b,numbered=1", "seq", CursorSyntax},
		{"v1,gen=8,off=0x9d2c8,seq=5321,ts=2.23,len=1442,sender=0x1b,numbered=1", "ts", CursorSyntax},
		{"v1,gen=8,off=0x9d2c8,seq=5321,ts=2,len=1442,sender=0x1b,numbered=1", "ts", CursorSyntax},
		{"v1,gen=8,off=0x9d2c8,seq=5321,ts=2.230008,len=65537,sender=0x1b,numbered=1", "len", CursorRange},
		{"v1,gen=8,off=0x9d2c8,seq=5321,ts=2.230008,len=1442,sender=27,numbered=1", "sender", CursorSyntax},
		{"v1,gen=8,off=0x9d2c8,seq=5321,ts=2.230008,len=1442,sender=0x1b,numbered=2", "numbered", CursorSyntax},
		{"v1,gen=8,off=0x9d2c8,seq=5321,ts=2.230008,len=1442,sender=0x1b,numbered", "numbered", CursorFields},
	} {
		_, err := ParseCursor(c.text)
		var ce *CursorError
		if !errors.As(err, &ce) || !errors.Is(err, ErrCursor) || ce.Field != c.field || ce.Problem != c.problem {
			t.Errorf("%q: %v, want field %q problem %d", c.text, err, c.field, c.problem)
		}
	}
	if _, err := ParseCursor(good); err != nil {
		t.Fatal(err)
	}
}

// Successive dumps, each from the cursor of the one before, show every
// frame exactly once, whether the ring wrapped between them or not.
func TestCursorAcrossDumps(t *testing.T) {
	mb := newMemBus(2)
	var c Cursor // the zero cursor: everything
	seen := 0
	for round := range 60 {
		k := mb.rnd.IntN(600)
		if round%7 == 0 {
			k = 0
		}
		mb.write(k, 0)
		img := mb.image()
		res, err := img.Locate(c)
		if err != nil || !res.Complete {
			t.Fatalf("round %d: Locate %+v, %v", round, res, err)
		}
		got := framesOf(t, func(fn func(*Record) error) error { return img.WalkSince(c, fn) })
		if want := span(seen, len(mb.at)); !slices.Equal(got, want) {
			t.Fatalf("round %d: %d frames from %v, want %d from %d", round, len(got), got[:min(1, len(got))], len(want), seen)
		}
		seen = len(mb.at)
		if c, err = img.Newest(); err != nil {
			t.Fatal(err)
		}
		if !c.Numbered {
			t.Fatalf("round %d: cursor %s not numbered", round, c)
		}
		// Through its text, as a script keeps it.
		if c, err = ParseCursor(c.String()); err != nil {
			t.Fatal(err)
		}
	}
	if mb.m.Gen() < 5 {
		t.Fatalf("wrapped %d times only", mb.m.Gen())
	}
}

// A cursor whose frames were overwritten says how many were lost, and the
// walk shows everything still on the bus; a cursor whose own record was
// overwritten but nothing after it is still complete.
func TestCursorLapped(t *testing.T) {
	mb := newMemBus(3)
	mb.write(500, 0)
	c, err := mb.image().Newest()
	if err != nil {
		t.Fatal(err)
	}
	cur := len(mb.at) - 1 // the frame c names

	// Overwrite just that record: small frames move first one record
	// at a time, until it reaches the record after the cursor's.
	for {
		mb.write(1, 17)
		if f := mb.m.First(); f != dataSize && f == mb.at[cur+1].off {
			break
		}
		if mb.m.Gen() > 2 {
			t.Fatal("first never reached the record after the cursor's")
		}
	}
	img := mb.image()
	res, err := img.Locate(c)
	if err != nil || !res.Complete {
		t.Fatalf("cursor's own record overwritten: %+v, %v", res, err)
	}
	if got, want := framesOf(t, func(fn func(*Record) error) error { return img.WalkSince(c, fn) }), span(cur+1, len(mb.at)); !slices.Equal(got, want) {
		t.Fatalf("got %d frames from %v, want %d", len(got), got[:1], len(want))
	}

	// Overwrite more: the frames between are lost.
	mb.write(1500, 0)
	img = mb.image()
	all := framesOf(t, img.Walk)
	res, err = img.Locate(c)
	if err != nil || res.Complete || res.Lost != int64(all[0]-cur-1) || res.Lost <= 0 {
		t.Fatalf("lapped: %+v, %v; oldest frame %d, cursor %d", res, err, all[0], cur)
	}
	if got := framesOf(t, func(fn func(*Record) error) error { return img.WalkSince(c, fn) }); !slices.Equal(got, all) {
		t.Fatal("a lapped cursor does not walk everything")
	}
}

// Frames written by NetBSD are not numbered: a cursor still finds its
// record while it is on the bus, and says that frames were lost, without a
// count, once it is gone.
func TestCursorNetBSDWriters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bus")
	nb, err := netbsd.Attach(path)
	if err != nil {
		t.Fatal(err)
	}
	defer nb.Close()
	rnd := rand.New(rand.NewPCG(4, 4))
	send := func(from, n int) {
		for i := from; i < from+n; i++ {
			if err := nb.Send(seqFrame(i, 60+rnd.IntN(1400)), 0x4e4e, rnd.Uint32(), netbsd.StepNone); err != nil {
				t.Fatal(err)
			}
		}
	}
	send(0, 100)
	img, err := Snapshot(path)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := img.Newest()
	if c.Numbered {
		t.Fatalf("a NetBSD record numbered: %s", c)
	}
	send(100, 200)
	img, _ = Snapshot(path)
	if res, _ := img.Locate(c); !res.Complete {
		t.Fatalf("Locate %+v", res)
	}
	if got := framesOf(t, func(fn func(*Record) error) error { return img.WalkSince(c, fn) }); !slices.Equal(got, span(100, 300)) {
		t.Fatalf("got %d frames", len(got))
	}
	send(300, 3000)
	img, _ = Snapshot(path)
	if res, _ := img.Locate(c); res.Complete || res.Lost != -1 {
		t.Fatalf("lapped NetBSD cursor: %+v", res)
	}
	if got, all := framesOf(t, func(fn func(*Record) error) error { return img.WalkSince(c, fn) }), framesOf(t, img.Walk); !slices.Equal(got, all) || all[len(all)-1] != 3299 {
		t.Fatal("a lapped cursor does not walk everything")
	}
}

// A cursor of another bus (or of a bus file made again) finds nothing and
// cannot count; the zero cursor is the start of every bus.
func TestCursorOtherBus(t *testing.T) {
	a := newMemBus(5)
	a.write(700, 0)
	c, _ := a.image().Newest()
	b := newMemBus(6)
	b.write(30, 0)
	img := b.image()
	if res, _ := img.Locate(c); res.Complete || res.Lost != -1 {
		t.Fatalf("cursor of another bus: %+v", res)
	}
	if got := framesOf(t, func(fn func(*Record) error) error { return img.WalkSince(c, fn) }); !slices.Equal(got, span(0, 30)) {
		t.Fatalf("got %v", got)
	}
	if res, _ := img.Locate(Cursor{}); !res.Complete {
		t.Fatalf("zero cursor: %+v", res)
	}
	if got := framesOf(t, func(fn func(*Record) error) error { return img.WalkSince(Cursor{}, fn) }); !slices.Equal(got, span(0, 30)) {
		t.Fatalf("zero cursor: got %v", got)
	}
}

// On NetBSD's own buses (the golden files, and the same bytes swapped) a
// cursor taken from any record walks exactly the records after it.
func TestCursorGolden(t *testing.T) {
	for _, name := range goldens {
		recs := goldenRecords(t, name)
		for _, b := range [][]byte{golden(t, name, "bus"), swapBus(t, name)} {
			img := &Image{Path: "bus", Data: b, Size: int64(len(b))}
			for _, k := range []int{0, 17, len(recs) - 2, len(recs) - 1} {
				var c Cursor
				i := 0
				img.Walk(func(r *Record) error {
					if i == k {
						c = r.Cursor()
					}
					i++
					return nil
				})
				if res, err := img.Locate(c); err != nil || !res.Complete {
					t.Fatalf("%s record %d: %+v %v", name, k, res, err)
				}
				var got [][2]uint32
				err := img.WalkSince(c, func(r *Record) error {
					got = append(got, [2]uint32{r.Offset, uint32(len(r.Frame))})
					return nil
				})
				if err != nil || !slices.Equal(got, recs[k+1:]) {
					t.Fatalf("%s after record %d: %d records, want %d (%v)", name, k, len(got), len(recs)-k-1, err)
				}
			}
			if c, _ := img.Newest(); c.Numbered {
				t.Errorf("%s: NetBSD's newest record numbered", name)
			}
		}
	}
}

// Empty removes frames that a cursor taken before it had not seen: a
// numbered cursor counts them exactly; one taken at the newest record
// loses nothing.
func TestCursorAcrossEmpty(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bus")
	a, err := shmif.Open(path, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Destroy()
	for i := range 40 {
		a.Send(seqFrame(i, 100))
	}
	img, _ := Snapshot(path)
	before, _ := img.Newest()
	for i := 40; i < 65; i++ {
		a.Send(seqFrame(i, 100))
	}
	img, _ = Snapshot(path)
	atEmpty, _ := img.Newest()
	if _, err := Empty(path); err != nil {
		t.Fatal(err)
	}
	for i := 65; i < 70; i++ {
		a.Send(seqFrame(i, 100))
	}
	img, _ = Snapshot(path)
	if res, _ := img.Locate(before); res.Complete || res.Lost != 25 {
		t.Fatalf("cursor before the frames removed: %+v", res)
	}
	if res, _ := img.Locate(atEmpty); !res.Complete {
		t.Fatalf("cursor at the empty: %+v", res)
	}
	for _, c := range []Cursor{before, atEmpty} {
		if got := framesOf(t, func(fn func(*Record) error) error { return img.WalkSince(c, fn) }); !slices.Equal(got, span(65, 70)) {
			t.Fatalf("after the empty: %v", got)
		}
	}
}

// Follow with Since reports the frames after the cursor already on the
// bus, then those written later, each once.
func TestFollowSince(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bus")
	a, err := shmif.Open(path, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Destroy()
	for i := range 20 {
		a.Send(seqFrame(i, 60))
	}
	img, _ := Snapshot(path)
	c, _ := img.Newest()
	for i := 20; i < 30; i++ {
		a.Send(seqFrame(i, 60))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		seqs    = make(chan int, 100)
		resumed = make(chan Resume, 1)
		at      = make(chan Cursor, 1)
		done    = make(chan error, 1)
	)
	go func() {
		done <- Follow(ctx, path, FollowOptions{
			Since:      &c,
			Resumed:    func(r Resume) { resumed <- r },
			AttachedAt: func(c Cursor) { at <- c },
			Frame: func(r *Record) error {
				seqs <- seqOf(r.Frame)
				return nil
			},
		})
	}()
	if r := <-resumed; !r.Complete {
		t.Fatalf("Resumed %+v", r)
	}
	attached := <-at
	for i := 30; i < 40; i++ {
		a.Send(seqFrame(i, 60))
	}
	for want := 20; want < 40; want++ {
		select {
		case got := <-seqs:
			if got != want {
				t.Fatalf("frame %d, want %d", got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no frame %d", want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// The cursor at attach names frame 29, the newest then.
	img, _ = Snapshot(path)
	if got := framesOf(t, func(fn func(*Record) error) error { return img.WalkSince(attached, fn) }); !slices.Equal(got, span(30, 40)) {
		t.Fatalf("after the attach cursor: %v", got)
	}
}

// The records Follow reports carry cursors that a dump finds.
func TestFollowRecordCursors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bus")
	a, err := shmif.Open(path, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Destroy()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	curs := make(chan Cursor, 3000)
	attached := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- Follow(ctx, path, FollowOptions{
			Attached: func(Header) { close(attached) },
			Frame:    func(r *Record) error { curs <- r.Cursor(); return nil },
		})
	}()
	<-attached
	// 1000 frames of 1000 bytes: the ring wraps.
	for i := range 1000 {
		a.Send(seqFrame(i, 1000))
	}
	var got []Cursor
	for len(got) < 1000 {
		select {
		case c := <-curs:
			got = append(got, c)
		case <-time.After(10 * time.Second):
			t.Fatalf("%d frames followed", len(got))
		}
	}
	cancel()
	<-done
	img, _ := Snapshot(path)
	onBus := framesOf(t, img.Walk)
	for _, k := range []int{onBus[0], 500, 998} {
		c := got[k]
		if !c.Numbered {
			t.Errorf("frame %d: cursor not numbered", k)
		}
		if res, err := img.Locate(c); err != nil || !res.Complete {
			t.Fatalf("frame %d: %+v %v", k, res, err)
		}
		if s := framesOf(t, func(fn func(*Record) error) error { return img.WalkSince(c, fn) }); !slices.Equal(s, span(k+1, 1000)) {
			t.Fatalf("after frame %d: %d frames", k, len(s))
		}
	}
	if res, _ := img.Locate(got[0]); onBus[0] > 1 && (res.Complete || res.Lost != int64(onBus[0]-1)) {
		t.Fatalf("frame 0 overwritten: %+v, oldest %d", res, onBus[0])
	}
}

// Reading a cursor never panics, and what reads prints back the same.
func FuzzCursor(f *testing.F) {
	f.Add("v1,gen=8,off=0x9d2c8,seq=5321,ts=2.230008,len=1442,sender=0x1b2c3d4e5f607182,numbered=1")
	f.Add(Cursor{}.String())
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCursor(s)
		if err != nil {
			return
		}
		again, err := ParseCursor(c.String())
		if err != nil || again != c {
			t.Fatalf("%q read as %+v, printed as %s, read back %+v, %v", s, c, c, again, err)
		}
	})
}

// With FromOldest or Since the frames already on the bus are reported even
// when ctx is done before Follow starts: a zero timeout still sees them.
func TestFollowBacklogDoneContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bus")
	a, err := shmif.Open(path, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Destroy()
	for i := range 10 {
		a.Send(seqFrame(i, 60))
	}
	img, _ := Snapshot(path)
	var mid Cursor
	n := 0
	img.Walk(func(r *Record) error {
		if n == 3 {
			mid = r.Cursor()
		}
		n++
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, c := range []struct {
		opts FollowOptions
		want []int
	}{
		{FollowOptions{FromOldest: true}, span(0, 10)},
		{FollowOptions{Since: &mid}, span(4, 10)},
		{FollowOptions{}, nil},
	} {
		var got []int
		c.opts.Frame = func(r *Record) error { got = append(got, seqOf(r.Frame)); return nil }
		if err := Follow(ctx, path, c.opts); err != nil || !slices.Equal(got, c.want) {
			t.Errorf("%+v: %v, %v", c.opts, got, err)
		}
	}
}

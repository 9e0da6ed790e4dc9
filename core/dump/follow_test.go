package dump

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/libshmif/libshmif/core/internal/bus"
	"github.com/libshmif/libshmif/core/internal/layout"
	"github.com/libshmif/libshmif/core/internal/ring"
	"github.com/libshmif/libshmif/core/pcap"
	"github.com/libshmif/libshmif/core/shmif"
	"golang.org/x/sys/unix"
)

// seqFrame is a broadcast frame carrying seq in its payload.
func seqFrame(seq int, size int) []byte {
	f := make([]byte, size)
	copy(f, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 1, 0x88, 0xb5})
	f[14], f[15], f[16] = byte(seq>>16), byte(seq>>8), byte(seq)
	return f
}

func seqOf(f []byte) int { return int(f[14])<<16 | int(f[15])<<8 | int(f[16]) }

// follower runs Follow in the background and collects what it reports.
type follower struct {
	mu       sync.Mutex
	seqs     []int
	offsets  []uint32
	lost     uint64
	attached chan Header
	done     chan error
	cancel   context.CancelFunc
	gate     chan struct{} // if not nil, the first frame waits for it
	gated    chan struct{} // closed when the first frame waits at gate
}

func startFollow(t *testing.T, path string, oldest bool, gate chan struct{}) *follower {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f := &follower{attached: make(chan Header, 1), done: make(chan error, 1), cancel: cancel, gate: gate, gated: make(chan struct{})}
	go func() {
		f.done <- Follow(ctx, path, FollowOptions{
			FromOldest: oldest,
			Attached:   func(h Header) { f.attached <- h },
			Frame: func(r *Record) error {
				if f.gate != nil {
					close(f.gated)
					<-f.gate
					f.gate = nil
				}
				f.mu.Lock()
				defer f.mu.Unlock()
				f.seqs = append(f.seqs, seqOf(r.Frame))
				f.offsets = append(f.offsets, r.Offset)
				return nil
			},
			Lost: func(n uint64) {
				f.mu.Lock()
				f.lost += n
				f.mu.Unlock()
			},
		})
	}()
	select {
	case <-f.attached:
	case err := <-f.done:
		t.Fatalf("Follow: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("Follow did not attach")
	}
	t.Cleanup(func() { f.stop(t) })
	return f
}

// waitFor waits until n frames have been seen.
func (f *follower) waitFor(t *testing.T, n int) []int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		f.mu.Lock()
		got := append([]int(nil), f.seqs...)
		f.mu.Unlock()
		if len(got) >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (f *follower) stop(t *testing.T) {
	f.cancel()
	select {
	case err, ok := <-f.done:
		if ok && err != nil {
			t.Errorf("Follow: %v", err)
		}
		close(f.done)
	case <-time.After(5 * time.Second):
		t.Error("Follow did not stop")
	}
}

func inOrder(seqs []int, from, n int) bool {
	if len(seqs) != n {
		return false
	}
	for i, s := range seqs {
		if s != from+i {
			return false
		}
	}
	return true
}

// By default Follow reports only frames written after it attached, from
// every sender, each with its data offset as a dump would show it.
func TestFollowFromNow(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bus")
	a, err := shmif.Open(path, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Destroy()
	b, err := shmif.Open(path, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Destroy()
	for i := range 10 {
		a.Send(seqFrame(1000+i, 60))
	}
	f := startFollow(t, path, false, nil)
	for i := range 100 {
		ifc := a
		if i%2 == 1 {
			ifc = b
		}
		if err := ifc.Send(seqFrame(i, 60+i)); err != nil {
			t.Fatal(err)
		}
	}
	if got := f.waitFor(t, 100); !inOrder(got, 0, 100) {
		t.Fatalf("got %v", got)
	}
	// The offsets are those of the dump.
	img, err := Snapshot(path)
	if err != nil {
		t.Fatal(err)
	}
	var want []uint32
	img.Walk(func(r *Record) error {
		if seqOf(r.Frame) < 1000 {
			want = append(want, r.Offset)
		}
		return nil
	})
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(want) != 100 || !equalU32(f.offsets, want) {
		t.Fatalf("offsets %v, want %v", f.offsets[:min(5, len(f.offsets))], want[:min(5, len(want))])
	}
}

func equalU32(a, b []uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// With FromOldest, Follow first reports every frame still on the bus.
func TestFollowFromOldest(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bus")
	a, err := shmif.Open(path, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Destroy()
	for i := range 10 {
		a.Send(seqFrame(i, 60))
	}
	f := startFollow(t, path, true, nil)
	for i := 10; i < 20; i++ {
		a.Send(seqFrame(i, 60))
	}
	if got := f.waitFor(t, 20); !inOrder(got, 0, 20) {
		t.Fatalf("got %v", got)
	}
}

// A follower that falls a lap behind reports the frames it lost and goes
// on with the oldest one left.
func TestFollowReportsLost(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bus")
	a, err := shmif.Open(path, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Destroy()
	gate := make(chan struct{})
	f := startFollow(t, path, false, gate)
	const n = 2000 // more than a ring of 1514-byte frames holds
	a.Send(seqFrame(0, 1514))
	select { // the follower takes frame 0 and blocks
	case <-f.gated:
	case <-time.After(10 * time.Second):
		t.Fatal("the follower did not take frame 0")
	}
	for i := 1; i < n; i++ {
		a.Send(seqFrame(i, 1514))
	}
	close(gate)
	deadline := time.Now().Add(10 * time.Second)
	for {
		f.mu.Lock()
		seen, lost := len(f.seqs), f.lost
		last := -1
		if seen > 0 {
			last = f.seqs[seen-1]
		}
		f.mu.Unlock()
		if last == n-1 {
			if uint64(seen)+lost != n {
				t.Fatalf("seen %d + lost %d != %d", seen, lost, n)
			}
			if lost == 0 {
				t.Fatal("nothing lost")
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("seen %d, last %d", seen, last)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// When the newest record straddles the end of the data area, Follow from
// now on still starts after it.
func TestFollowStraddlingNewest(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bus")
	b, err := bus.Open(path, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	b.WithLock(func(m *layout.Mem) error {
		for i := range 682 {
			h := layout.FrameHeader{Len: 1514}
			ring.Append(m, &h, seqFrame(i, 1514))
		}
		return nil
	})
	b.Notify()
	f := startFollow(t, path, false, nil)
	a, err := shmif.Open(path, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Destroy()
	for i := range 3 {
		a.Send(seqFrame(5000+i, 60))
	}
	if got := f.waitFor(t, 3); !inOrder(got, 5000, 3) {
		t.Fatalf("got %v", got[:min(len(got), 10)])
	}
}

// Follow never creates a bus file.
func TestFollowMissingBus(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bus")
	err := Follow(context.Background(), path, FollowOptions{Frame: func(*Record) error { return nil }})
	if !errors.Is(err, unix.ENOENT) {
		t.Fatalf("error %v", err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatal("bus file created")
	}
	junk := writeBus(t, []byte("not a bus"))
	err = Follow(context.Background(), junk, FollowOptions{Frame: func(*Record) error { return nil }})
	if !errors.Is(err, ErrNotBus) {
		t.Fatalf("error %v", err)
	}
}

// docs/protocol.md §8.4 (shmif_pcapin): frames go on the bus with their
// timestamps, one fresh sender id, and dump back unchanged.
func TestInjectRoundTrip(t *testing.T) {
	frames := goldenFrames(t, "rump-small")
	path := filepath.Join(t.TempDir(), "bus")
	h, err := Inject(path, frames)
	if err != nil {
		t.Fatal(err)
	}
	if h.Version != 0 || h.First != dataSize {
		t.Errorf("header before: %+v", h)
	}
	img, err := Snapshot(path)
	if err != nil {
		t.Fatal(err)
	}
	var got []pcap.Record
	senders := map[uint64]bool{}
	img.Walk(func(r *Record) error {
		got = append(got, pcap.Record{Sec: r.Sec, Usec: r.Usec, Data: bytes.Clone(r.Frame)})
		senders[r.Sender] = true
		return nil
	})
	if len(got) != len(frames) {
		t.Fatalf("%d frames, want %d", len(got), len(frames))
	}
	for i := range got {
		if got[i].Sec != frames[i].Sec || got[i].Usec != frames[i].Usec || !bytes.Equal(got[i].Data, frames[i].Data) {
			t.Fatalf("frame %d differs", i)
		}
	}
	if len(senders) != 1 || senders[0] {
		t.Fatalf("senders %v", senders)
	}
	// A second injection uses another sender id.
	if _, err := Inject(path, frames[:1]); err != nil {
		t.Fatal(err)
	}
	img, _ = Snapshot(path)
	img.Walk(func(r *Record) error { senders[r.Sender] = true; return nil })
	if len(senders) != 2 {
		t.Fatalf("senders %v", senders)
	}
}

// Frames a bus cannot carry are refused, naming the record, before anything
// is written.
func TestInjectRefusesBadFrames(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bus")
	if _, err := Inject(path, goldenFrames(t, "rump-small")); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	ok := pcap.Record{OrigLen: 60, Data: make([]byte, 60)}
	for _, bad := range []pcap.Record{
		{OrigLen: 1515, Data: make([]byte, 1515)},
		{OrigLen: 13, Data: make([]byte, 13)},
		{OrigLen: 100, Data: make([]byte, 60)},
	} {
		_, err := Inject(path, []pcap.Record{ok, ok, bad, ok})
		var fe *FrameSizeError
		if !errors.Is(err, ErrFrameSize) || !errors.As(err, &fe) ||
			*fe != (FrameSizeError{Record: 3, Len: len(bad.Data), OrigLen: int(bad.OrigLen)}) {
			t.Errorf("error %v for a frame of %d of %d bytes", err, len(bad.Data), bad.OrigLen)
		}
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Fatal("bus changed")
	}
	missing := filepath.Join(t.TempDir(), "bus")
	Inject(missing, []pcap.Record{{OrigLen: 13, Data: make([]byte, 13)}})
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Fatal("a refused injection created the bus")
	}
}

// A version 2 bus, or a file that is not a bus, is refused.
func TestInjectRefusesOtherBuses(t *testing.T) {
	b, _ := v2Bus(goldenFrames(t, "rump-small"))
	path := writeBus(t, b)
	ok := []pcap.Record{{OrigLen: 60, Data: make([]byte, 60)}}
	var ve *VersionError
	if _, err := Inject(path, ok); !errors.Is(err, ErrVersion) || !errors.As(err, &ve) || ve.Version != 2 {
		t.Errorf("v2 bus: %v", err)
	}
	junk := writeBus(t, []byte("junk"))
	var nb *NotBusError
	if _, err := Inject(junk, ok); !errors.Is(err, ErrNotBus) || !errors.As(err, &nb) || nb.Path != junk {
		t.Errorf("junk: %v", err)
	}
}

package bridge_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/libshmif/libshmif/core/bridge"
	"github.com/libshmif/libshmif/core/bridge/shmifbus"
	"github.com/libshmif/libshmif/core/shmif"
)

// frame returns an Ethernet frame from src to dst of n bytes whose payload
// starts with seq.
func frame(dst, src [6]byte, n int, seq uint32) []byte {
	f := make([]byte, max(n, 14))
	copy(f, dst[:])
	copy(f[6:], src[:])
	binary.BigEndian.PutUint16(f[12:], 0x88b5) // local experimental
	f = f[:n]
	if n >= 18 {
		binary.BigEndian.PutUint32(f[14:], seq)
	}
	return f
}

var (
	macA  = [6]byte{0x02, 0, 0, 0, 0, 0xa}
	macB  = [6]byte{0x02, 0, 0, 0, 0, 0xb}
	macC  = [6]byte{0x02, 0, 0, 0, 0, 0xc}
	bcast = [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
)

// node attaches a plain interface to a bus, promiscuous so it sees frames
// to any address.
func node(t *testing.T, path string) *shmif.Interface {
	t.Helper()
	ifc, err := shmif.Open(path, -1)
	if err != nil {
		t.Fatal(err)
	}
	ifc.SetPromisc(true)
	t.Cleanup(func() { ifc.Destroy() })
	return ifc
}

// recvAll collects frames from ifc until quiet for the given time.
func recvAll(t *testing.T, ifc *shmif.Interface, quiet time.Duration) [][]byte {
	t.Helper()
	var got [][]byte
	buf := make([]byte, 1514)
	for {
		n, err := ifc.Recv(buf, quiet)
		if err != nil {
			return got
		}
		got = append(got, append([]byte(nil), buf[:n]...))
	}
}

// recvN receives n frames, failing after a generous timeout.
func recvN(t *testing.T, ifc *shmif.Interface, n int) [][]byte {
	t.Helper()
	var got [][]byte
	buf := make([]byte, 1514)
	for len(got) < n {
		k, err := ifc.Recv(buf, 10*time.Second)
		if err != nil {
			t.Fatalf("received %d of %d frames: %v", len(got), n, err)
		}
		got = append(got, append([]byte(nil), buf[:k]...))
	}
	return got
}

// busBridge starts a bridge between two new buses in dir.
func busBridge(t *testing.T, bus1, bus2 string, cfg bridge.Config) *bridge.Bridge {
	t.Helper()
	ep, err := shmifbus.Open("shmif://" + bus2)
	if err != nil {
		t.Fatal(err)
	}
	b, err := bridge.Open(bus1, ep, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Stop() })
	return b
}

func TestBusToBusBothWays(t *testing.T) {
	dir := t.TempDir()
	bus1, bus2 := filepath.Join(dir, "bus1"), filepath.Join(dir, "bus2")
	b := busBridge(t, bus1, bus2, bridge.Config{})
	n1, n2 := node(t, bus1), node(t, bus2)
	const count = 500
	for i := range count {
		if err := n1.Send(frame(macB, macA, 60+i%1400, uint32(i))); err != nil {
			t.Fatal(err)
		}
	}
	got := recvN(t, n2, count)
	for i, f := range got {
		if want := frame(macB, macA, 60+i%1400, uint32(i)); !bytes.Equal(f, want) {
			t.Fatalf("frame %d differs", i)
		}
	}
	if err := n2.Send(frame(macA, macB, 1514, 7)); err != nil {
		t.Fatal(err)
	}
	if f := recvN(t, n1, 1)[0]; !bytes.Equal(f, frame(macA, macB, 1514, 7)) {
		t.Fatal("frame from bus2 differs")
	}
	// A batch is counted once it is written: a receiver may have it
	// before the counter does.
	waitFor(t, "counters", func() bool {
		st := b.Stats()
		return st.ToBus.Frames >= 1 && st.ToEndpoint.Frames >= count
	})
	st := b.Stats()
	if st.ToEndpoint.Frames != count || st.ToBus.Frames != 1 {
		t.Fatalf("counters: %v", st)
	}
	if err := b.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := b.Err(); err != nil {
		t.Fatalf("Err after Stop: %v", err)
	}
}

// pipe is an in-memory endpoint: the test plays its far side.
type pipe struct {
	in     chan []byte // frames the endpoint will read
	out    chan []byte // frames written to it
	closed chan struct{}
	once   sync.Once
}

func newPipe() *pipe {
	return &pipe{in: make(chan []byte, 1024), out: make(chan []byte, 1024), closed: make(chan struct{})}
}

func (p *pipe) ReadFrames(bufs [][]byte, lens []int) (int, error) {
	select {
	case f := <-p.in:
		lens[0] = len(f)
		copy(bufs[0], f)
		return 1, nil
	case <-p.closed:
		return 0, net.ErrClosed
	}
}

func (p *pipe) WriteFrames(frames [][]byte) (int, error) {
	for i, f := range frames {
		select {
		case p.out <- append([]byte(nil), f...):
		case <-p.closed:
			return i, net.ErrClosed
		}
	}
	return len(frames), nil
}

func (p *pipe) MaxFrame() int  { return 2000 }
func (p *pipe) String() string { return "pipe" }
func (p *pipe) Close() error {
	p.once.Do(func() { close(p.closed) })
	return nil
}

func pipeBridge(t *testing.T, cfg bridge.Config) (*bridge.Bridge, *pipe, string) {
	t.Helper()
	bus := filepath.Join(t.TempDir(), "bus")
	p := newPipe()
	b, err := bridge.Open(bus, p, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Stop() })
	return b, p, bus
}

// waitFor polls cond until it holds, failing after ten seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestBadSizesCountedNotTruncated(t *testing.T) {
	b, p, bus := pipeBridge(t, bridge.Config{})
	n := node(t, bus)
	p.in <- frame(macB, macA, 13, 0)
	p.in <- frame(macB, macA, 1515, 0)
	p.in <- frame(macB, macA, 1999, 0)
	p.in <- frame(macB, macA, 14, 0)
	p.in <- frame(macB, macA, 1514, 1)
	got := recvN(t, n, 2)
	if len(got[0]) != 14 || len(got[1]) != 1514 {
		t.Fatalf("got frames of %d and %d bytes", len(got[0]), len(got[1]))
	}
	waitFor(t, "counters", func() bool { return b.Stats().ToBus.Frames == 2 })
	st := b.Stats().ToBus
	if st.TooSmall != 1 || st.TooBig != 2 || st.Frames != 2 {
		t.Fatalf("counters: %v", st)
	}
	if extra := recvAll(t, n, 50*time.Millisecond); len(extra) != 0 {
		t.Fatalf("%d more frames on the bus", len(extra))
	}
}

// A peer that reflects every frame: nothing comes back onto the bus.
func TestReflectingEndpointIsALoop(t *testing.T) {
	b, p, bus := pipeBridge(t, bridge.Config{})
	n := node(t, bus)
	const count = 100
	for i := range count {
		n.Send(frame(bcast, macA, 100, uint32(i)))
	}
	for range count {
		select {
		case f := <-p.out:
			p.in <- f // reflect
		case <-time.After(10 * time.Second):
			t.Fatal("frame not forwarded to the endpoint")
		}
	}
	waitFor(t, "loop count", func() bool { return b.Stats().ToBus.Loop == count })
	if extra := recvAll(t, n, 50*time.Millisecond); len(extra) != 0 {
		t.Fatalf("%d reflected frames reached the bus", len(extra))
	}
	if st := b.Stats().ToBus; st.Frames != 0 {
		t.Fatalf("counters: %v", st)
	}
}

// A frame that went to the bus and is reflected back (by a second bridge,
// say) is not sent back to the endpoint.
func TestFrameFromEndpointNotSentBack(t *testing.T) {
	b, p, bus := pipeBridge(t, bridge.Config{})
	n := node(t, bus)
	f := frame(bcast, macC, 80, 1)
	p.in <- f
	got := recvN(t, n, 1)[0]
	n.Send(got) // another writer puts the same frame on the bus
	waitFor(t, "loop count", func() bool { return b.Stats().ToEndpoint.Loop == 1 })
	select {
	case g := <-p.out:
		t.Fatalf("frame of %d bytes sent back to the endpoint", len(g))
	case <-time.After(50 * time.Millisecond):
	}
}

func TestEndpointEOFStopsBridge(t *testing.T) {
	bus := filepath.Join(t.TempDir(), "bus")
	ep := &eofEndpoint{pipe: newPipe()}
	b, err := bridge.Open(bus, ep, bridge.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	err = b.Wait()
	if !errors.Is(err, errPeerGone) {
		t.Fatalf("Wait: %v", err)
	}
	if err := b.Stop(); err != nil {
		t.Fatal(err)
	}
	// The bus is left intact and usable.
	n := node(t, bus)
	if err := n.Send(frame(bcast, macA, 60, 0)); err != nil {
		t.Fatal(err)
	}
}

var errPeerGone = errors.New("peer gone")

type eofEndpoint struct{ *pipe }

func (e *eofEndpoint) ReadFrames(bufs [][]byte, lens []int) (int, error) { return 0, errPeerGone }

func TestStopBeforeStart(t *testing.T) {
	bus := filepath.Join(t.TempDir(), "bus")
	p := newPipe()
	b, err := bridge.Open(bus, p, bridge.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Stop(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.closed:
	default:
		t.Fatal("endpoint not closed")
	}
	if err := b.Start(); err == nil {
		t.Fatal("Start after Stop succeeded")
	}
}

// A bridge given an interface leaves it attached, with its promiscuous
// mode as it was.
func TestNewLeavesInterface(t *testing.T) {
	bus := filepath.Join(t.TempDir(), "bus")
	ifc, err := shmif.Open(bus, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer ifc.Destroy()
	p := newPipe()
	b := bridge.New(ifc, p, bridge.Config{})
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	if ifc.Flags()&shmif.FlagPromisc == 0 {
		t.Fatal("not promiscuous while bridging")
	}
	n := node(t, bus)
	n.Send(frame(macB, macA, 60, 0))
	select {
	case <-p.out:
	case <-time.After(10 * time.Second):
		t.Fatal("frame not forwarded")
	}
	start := time.Now()
	if err := b.Stop(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Stop took %v", d)
	}
	if ifc.Flags()&(shmif.FlagPromisc|shmif.FlagUp) != shmif.FlagUp {
		t.Fatalf("flags after Stop: %#x", ifc.Flags())
	}
	if err := n.Send(frame(bcast, macB, 60, 0)); err != nil {
		t.Fatal(err)
	}
	if _, err := ifc.Recv(make([]byte, 1514), 10*time.Second); err != nil {
		t.Fatalf("interface unusable after Stop: %v", err)
	}
}

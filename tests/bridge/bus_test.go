package bridge_test

import (
	"encoding/binary"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/libshmif/libshmif/core/shmif"
	"github.com/libshmif/libshmif/internal/netbsd"
	"github.com/libshmif/libshmif/internal/testlib"
)

func frame(src byte, n int, seq uint32) []byte {
	f := make([]byte, n)
	copy(f, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, src, 0x88, 0xb5})
	binary.BigEndian.PutUint32(f[14:], seq)
	return f
}

func seqOf(f []byte) uint32 { return binary.BigEndian.Uint32(f[14:]) }

func attach(t testing.TB, bus string) *shmif.Interface {
	t.Helper()
	ifc, err := shmif.Open(bus, -1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ifc.Destroy() })
	return ifc
}

// A bus shared with a NetBSD rump kernel (a model of NetBSD's driver,
// sharing no code with libshmif) bridged to another bus: frames cross
// both ways.
func TestBusToBusWithNetBSDPeer(t *testing.T) {
	dir := t.TempDir()
	bus1, bus2 := filepath.Join(dir, "bus1"), filepath.Join(dir, "bus2")
	peer, err := netbsd.Attach(bus1)
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	reader, err := peer.NewReader()
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	br := startBridge(t, "", bus1, "shmif://"+bus2)
	n2 := attach(t, bus2)
	const count = 50
	for i := range count {
		if err := peer.Send(frame(1, 60+i*29, uint32(i)), 0x1234, 0, netbsd.StepNone); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 1514)
	for i := range count {
		n, err := n2.Recv(buf, 10*time.Second)
		if err != nil || n != 60+i*29 || seqOf(buf) != uint32(i) {
			t.Fatalf("frame %d on bus2: %d bytes, seq %d, %v", i, n, seqOf(buf), err)
		}
	}
	for i := range count {
		n2.Send(frame(2, 1514-i, uint32(i)))
	}
	for i := 0; i < count; {
		n, _, ok, err := reader.Next(buf)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			if !reader.Wait(10 * time.Second) {
				t.Fatalf("NetBSD peer got %d of %d frames", i, count)
			}
			continue
		}
		if buf[11] != 2 {
			continue // its own
		}
		if n != 1514-i || seqOf(buf) != uint32(i) {
			t.Fatalf("frame %d at the NetBSD peer: %d bytes, seq %d", i, n, seqOf(buf))
		}
		i++
	}
	br.stop(t)
}

// Two shmif_bridge processes between the same two buses: every frame
// crosses, the copies that come back are dropped and counted, each says
// it saw a loop, and the buses fall quiet when the sender stops.
func TestTwoBridgeProcessesMakeNoStorm(t *testing.T) {
	dir := t.TempDir()
	bus1, bus2 := filepath.Join(dir, "bus1"), filepath.Join(dir, "bus2")
	a := startBridge(t, "", bus1, "shmif://"+bus2)
	b := startBridge(t, "", bus1, "shmif://"+bus2)
	n1, n2 := attach(t, bus1), attach(t, bus2)
	n2.SetPromisc(true)
	const count = 300
	for i := range count {
		n1.Send(frame(1, 100, uint32(i)))
		if i%30 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	seen := map[uint32]int{}
	buf := make([]byte, 1514)
	total := 0
	for {
		n, err := n2.Recv(buf, 500*time.Millisecond)
		if err != nil {
			break
		}
		total++
		if n == 100 && buf[11] == 1 {
			seen[seqOf(buf)]++
		}
		if total > 100*count {
			t.Fatalf("a storm: %d frames on bus2 for %d sent", total, count)
		}
	}
	if len(seen) != count {
		t.Fatalf("bus2 got %d of the %d frames", len(seen), count)
	}
	for s, c := range seen {
		if c > 3 {
			t.Fatalf("frame %d arrived %d times", s, c)
		}
	}
	outA, outB := a.stop(t), b.stop(t)
	warned := strings.Contains(outA, "came back") || strings.Contains(outB, "came back")
	if !warned || !strings.Contains(outA+outB, "loop=") {
		t.Fatalf("no loop reported:\n%s\n%s", outA, outB)
	}
	t.Logf("bus2: %d frames for %d sent\n%s%s", total, count, outA, outB)
}

// A bridge killed with SIGKILL while frames flow, and started again: the
// buses are undamaged (shmif_dumpbus walks both cleanly) and traffic
// resumes.
func TestBridgeKilledAndRestarted(t *testing.T) {
	dir := t.TempDir()
	bus1, bus2 := filepath.Join(dir, "bus1"), filepath.Join(dir, "bus2")
	first := startBridge(t, "", bus1, "shmif://"+bus2)
	n1, n2 := attach(t, bus1), attach(t, bus2)
	var sent atomic.Uint32
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := uint32(0); ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			n1.Send(frame(1, 60+int(i%1400), i))
			sent.Store(i)
			if i%16 == 0 {
				time.Sleep(100 * time.Microsecond)
			}
		}
	}()
	defer func() {
		close(stop)
		wg.Wait()
	}()
	var last atomic.Uint32
	go func() {
		buf := make([]byte, 1514)
		for {
			n, err := n2.Recv(buf, 100*time.Millisecond)
			if err == syscall.ENXIO {
				return
			}
			if err == nil && n >= 18 && buf[11] == 1 {
				last.Store(seqOf(buf))
			}
		}
	}()
	waitFor(t, "frames through the first bridge", func() bool { return last.Load() > 1000 })
	first.cmd.Process.Kill()
	<-first.done
	killedAt := sent.Load()
	second := startBridge(t, "", bus1, "shmif://"+bus2)
	waitFor(t, "frames through the second bridge", func() bool { return last.Load() > killedAt+1000 })
	second.stop(t)
	dumpbus := testlib.Path(t, "shmif_dumpbus")
	for _, bus := range []string{bus1, bus2} {
		r := testlib.Run(t, "", dumpbus, bus)
		if r.Code != 0 || r.Stderr != "" || strings.Count(r.Stdout, "\n") < 100 {
			t.Fatalf("shmif_dumpbus %s: exit %d, %d lines\n%s", bus, r.Code, strings.Count(r.Stdout, "\n"), r.Stderr)
		}
	}
}

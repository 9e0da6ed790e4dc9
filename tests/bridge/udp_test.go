package bridge_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/libshmif/libshmif/tests/bridge/nstest"
)

// exchange sends count frames each way between nodes on two buses and
// requires all of them across.
func exchange(t *testing.T, bus1, bus2 string, count int) {
	t.Helper()
	n1, n2 := attach(t, bus1), attach(t, bus2)
	buf := make([]byte, 1514)
	for _, d := range []struct {
		from, to interface {
			Send([]byte) error
			Recv([]byte, time.Duration) (int, error)
		}
		src byte
	}{{n1, n2, 1}, {n2, n1, 2}} {
		for i := range count {
			d.from.Send(frame(d.src, 60+i*13, uint32(i)))
		}
		for i := 0; i < count; {
			n, err := d.to.Recv(buf, 10*time.Second)
			if err != nil {
				t.Fatalf("%d of %d frames from node %d: %v", i, count, d.src, err)
			}
			if buf[11] != d.src {
				continue
			}
			if n != 60+i*13 || seqOf(buf) != uint32(i) {
				t.Fatalf("frame %d: %d bytes, seq %d", i, n, seqOf(buf))
			}
			i++
		}
	}
}

// Two buses joined by a UDP tunnel: one frame per datagram, as VDE's udp
// plug. The fixed ports are those of a namespace of the test's own: on the
// host's loopback another program (or another run) may hold them.
func TestUDPTunnel(t *testing.T) {
	ns := nstest.New(t)
	dir := t.TempDir()
	bus1, bus2 := filepath.Join(dir, "bus1"), filepath.Join(dir, "bus2")
	a := startBridge(t, ns, bus1, "udp://127.0.0.1:45801->127.0.0.1:45802")
	b := startBridge(t, ns, bus2, "udp://45802->127.0.0.1:45801")
	exchange(t, bus1, bus2, 100)
	a.stop(t)
	b.stop(t)
}

// Two buses joined through a multicast group on a link between two
// namespaces: each bridge joins the group on the device named by dev and
// does not hear its own datagrams.
func TestUDPMulticast(t *testing.T) {
	ns1, ns2 := nstest.New(t), nstest.New(t)
	nstest.Veth(t, ns1, "10.5.0.1/24", ns2, "10.5.0.2/24")
	dev1, dev2 := vethIn(t, ns1), vethIn(t, ns2)
	dir := t.TempDir()
	bus1, bus2 := filepath.Join(dir, "bus1"), filepath.Join(dir, "bus2")
	a := startBridge(t, ns1, bus1, "udp://10.5.0.1:45900->239.5.5.5:45900/dev="+dev1)
	b := startBridge(t, ns2, bus2, "udp://45900->239.5.5.5:45900/dev="+dev2+"/ttl=1")
	// Joining takes a moment to reach the other side's filters: the
	// first frames may be lost, so warm up first.
	n1, n2 := attach(t, bus1), attach(t, bus2)
	buf := make([]byte, 1514)
	waitFor(t, "the group", func() bool {
		n1.Send(frame(9, 60, 0))
		_, err := n2.Recv(buf, 50*time.Millisecond)
		return err == nil
	})
	for {
		if _, err := n2.Recv(buf, 50*time.Millisecond); err != nil {
			break
		}
	}
	exchange(t, bus1, bus2, 50)
	a.stop(t)
	b.stop(t)
}

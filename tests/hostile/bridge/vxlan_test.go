package hostile_test

import (
	"encoding/binary"
	"fmt"
	"net"
	"path/filepath"
	"testing"
	"time"
)

// vxlanPacket is a VXLAN datagram: flags, VNI, then the inner frame.
func vxlanPacket(flags byte, vni uint32, reserved bool, inner []byte) []byte {
	h := make([]byte, 8, 8+len(inner))
	h[0] = flags
	binary.BigEndian.PutUint32(h[4:], vni<<8)
	if reserved {
		h[1], h[2], h[3], h[7] = 0xff, 0xff, 0xff, 0xff
	}
	return append(h, inner...)
}

// TestVXLANHostileDatagrams: in unicast mode the endpoint takes datagrams
// "that hold at least a VXLAN header and an Ethernet header, have the I
// flag set, carry this endpoint's VNI, and have a unicast inner source
// MAC", "only datagrams from configured peers", reserved bits ignored
// (go doc core/bridge/vxlan, "What is accepted"). Everything else is
// counted by reason and nothing of it reaches the bus; inner frames over
// 1514 bytes are counted big.
func TestVXLANHostileDatagrams(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bus := filepath.Join(dir, "bus")
	peer, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)})
	if err != nil {
		t.Skipf("cannot bind 127.0.0.2: %v", err)
	}
	defer peer.Close()
	peer.SetWriteBuffer(1 << 20)
	stranger, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 3)})
	if err != nil {
		t.Skipf("cannot bind 127.0.0.3: %v", err)
	}
	defer stranger.Close()
	rx := collect(t, attach(t, bus))
	tx := attach(t, bus)
	br, dstport := startBridgeUDP(t, func(dstport int) []string {
		return []string{bus, fmt.Sprintf("vxlan://127.0.0.2:%d/vni=42/dstport=%d", peer.LocalAddr().(*net.UDPAddr).Port, dstport)}
	})
	to := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: dstport}
	send := func(c *net.UDPConn, p []byte) {
		t.Helper()
		if _, err := c.WriteToUDP(p, to); err != nil {
			t.Fatalf("send: %v", err)
		}
	}
	bcastSrc := makeFrame(20, 99, 100)
	copy(bcastSrc[6:12], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	mcastSrc := makeFrame(20, 98, 100)
	mcastSrc[6] = 0x01
	zeroSrc := makeFrame(20, 97, 100)
	copy(zeroSrc[6:12], make([]byte, 6))

	malformed := [][]byte{
		{},                                // nothing
		{0x08, 0, 0},                      // shorter than the header
		vxlanPacket(0x08, 42, false, nil), // a header alone
		vxlanPacket(0x08, 42, false, make([]byte, 13)),      // 13 inner bytes
		vxlanPacket(0x00, 42, false, makeFrame(20, 1, 100)), // no I flag
		vxlanPacket(0xf7, 42, false, makeFrame(20, 2, 100)), // every flag but I
		vxlanPacket(0x08, 42, false, bcastSrc),
		vxlanPacket(0x08, 42, false, mcastSrc),
		vxlanPacket(0x08, 42, false, zeroSrc),
	}
	for _, p := range malformed {
		send(peer, p)
	}
	wrongVNI := []uint32{0, 41, 43, 42 << 8, 0xffffff}
	for i, v := range wrongVNI {
		send(peer, vxlanPacket(0x08, v, false, makeFrame(20, 10+uint64(i), 100)))
	}
	unknown := 0
	for i := 0; i < 4; i++ {
		send(stranger, vxlanPacket(0x08, 42, false, makeFrame(20, 20+uint64(i), 100)))
		unknown++
	}
	// Inner frames over 1514 bytes, from the peer.
	bigs := []int{1515, 9000, 65000 - 8}
	for _, n := range bigs {
		send(peer, vxlanPacket(0x08, 42, false, makeFrame(20, 30+uint64(n), n)))
	}
	// Accepted: reserved bits set (ignored), then a plain one.
	send(peer, vxlanPacket(0xff, 42, true, makeFrame(21, 1, 100)))
	send(peer, vxlanPacket(0x08, 42, false, makeFrame(21, 2, 1514)))
	if !rx.waitFor(5*time.Second, hasSeq(21, 2)) {
		t.Errorf("the valid datagram did not reach the bus")
	}
	// The other way: a frame from the bus reaches the configured peer.
	if err := tx.Send(makeFrame(22, 1, 100)); err != nil {
		t.Fatal(err)
	}
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 2000)
	n, _, err := peer.ReadFromUDP(buf)
	if err != nil {
		t.Errorf("nothing reached the peer from the bus: %v", err)
	} else if s, q, _, ok := checkFrame(buf[8:n]); !ok || s != 22 || q != 1 || buf[0]&0x08 == 0 || binary.BigEndian.Uint32(buf[4:])>>8 != 42 {
		t.Errorf("the peer got % x", head(buf[:n]))
	}
	time.Sleep(50 * time.Millisecond)
	checkOnly(t, rx.frames(), 20, nil)
	checkOnly(t, rx.frames(), 21, []uint64{1, 2})
	m := br.countersWhen(func(m map[string]uint64) bool { return m["RL.frames"] >= 2 })
	t.Logf("vxlan: rx_malformed=%d rx_wrong_vni=%d rx_unknown_peer=%d; RL big=%d frames=%d",
		m["ep.rx_malformed"], m["ep.rx_wrong_vni"], m["ep.rx_unknown_peer"], m["RL.big"], m["RL.frames"])
	if m["ep.rx_malformed"] != uint64(len(malformed)) {
		t.Errorf("rx_malformed=%d, want %d", m["ep.rx_malformed"], len(malformed))
	}
	if m["ep.rx_wrong_vni"] != uint64(len(wrongVNI)) {
		t.Errorf("rx_wrong_vni=%d, want %d", m["ep.rx_wrong_vni"], len(wrongVNI))
	}
	if m["ep.rx_unknown_peer"] != uint64(unknown) {
		t.Errorf("rx_unknown_peer=%d, want %d", m["ep.rx_unknown_peer"], unknown)
	}
	if m["RL.big"] != uint64(len(bigs)) {
		t.Errorf("big=%d, want %d", m["RL.big"], len(bigs))
	}
	if m["RL.frames"] != 2 {
		t.Errorf("frames to the bus=%d, want 2", m["RL.frames"])
	}
	dumpOK(t, bus)
}

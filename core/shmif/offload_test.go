package shmif

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/libshmif/libshmif/core/internal/bus"
	"github.com/libshmif/libshmif/core/internal/layout"
	"github.com/libshmif/libshmif/core/internal/offload"
	"github.com/libshmif/libshmif/core/internal/ring"
	"golang.org/x/sys/unix"
)

// tcpFrame builds an Ethernet/IPv4/TCP frame with payload bytes of data and
// no checksums filled in: what a stack hands a card that offloads them.
func tcpFrame(dst, src [6]byte, payload int) []byte {
	f := make([]byte, 14+20+20+payload)
	copy(f, dst[:])
	copy(f[6:], src[:])
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(min(20+20+payload, 0xffff)))
	binary.BigEndian.PutUint16(ip[4:], 1000) // id
	ip[8], ip[9] = 64, 6
	copy(ip[12:], []byte{10, 0, 0, 1, 10, 0, 0, 2})
	tcp := ip[20:]
	binary.BigEndian.PutUint16(tcp[0:], 5000)
	binary.BigEndian.PutUint16(tcp[2:], 80)
	binary.BigEndian.PutUint32(tcp[4:], 1)
	tcp[12] = 5 << 4
	tcp[13] = 0x18
	for k := range payload {
		tcp[20+k] = byte(k)
	}
	return f
}

// Issue 3: a 64 KiB payload sent with TSO and MSS 1448 arrives as 46 frames
// with consecutive sequence numbers and ip ids, every checksum good.
func TestTSOArrivesSegmented(t *testing.T) {
	a, b := openPair(t)
	if err := a.SetCapEnable(offload.CapTSOv4); err != nil {
		t.Fatal(err)
	}
	b.SetCapEnable(offload.RxCaps)
	frame := tcpFrame(b.MAC(), a.MAC(), 65536)
	orig := append([]byte(nil), frame...)
	if err := a.SendOffload(frame, offload.TSOv4|offload.CsumIPv4|offload.CsumTCPv4, 1448); err != nil {
		t.Fatal(err)
	}
	if string(frame) != string(orig) {
		t.Fatal("SendOffload modified the caller's frame")
	}
	frames := make([]Frame, 64)
	for k := range frames {
		frames[k].Buf = make([]byte, 1514)
	}
	got := 0
	var seq uint32 = 1
	for got < 46 {
		n, err := b.RecvBatch(frames, time.Second)
		if err != nil {
			t.Fatalf("after %d frames: %v", got, err)
		}
		for _, f := range frames[:n] {
			ip := f.Buf[14:f.Len]
			if id := binary.BigEndian.Uint16(ip[4:]); id != uint16(1000+got) {
				t.Fatalf("segment %d: ip id %d", got, id)
			}
			if s := binary.BigEndian.Uint32(ip[24:]); s != seq {
				t.Fatalf("segment %d: seq %d want %d", got, s, seq)
			}
			seq += uint32(len(ip) - 40)
			if f.Csum != offload.CsumIPv4|offload.CsumTCPv4 {
				t.Fatalf("segment %d: rx status %#x", got, f.Csum)
			}
			got++
		}
	}
	if seq != 1+65536 || a.Stats().Opackets != 46 {
		t.Fatalf("seq %d opackets %d", seq, a.Stats().Opackets)
	}
}

// A request for work whose capability is off is refused, counted, and
// nothing reaches the bus.
func TestOffloadRefusedWithoutCapability(t *testing.T) {
	a, b := openPair(t)
	frame := tcpFrame(b.MAC(), a.MAC(), 100)
	err := a.SendOffload(frame, offload.CsumTCPv4, 0)
	if !errors.Is(err, unix.EOPNOTSUPP) {
		t.Fatalf("got %v", err)
	}
	if s := a.Stats(); s.Oerrors != 1 || s.Opackets != 0 {
		t.Fatalf("stats %+v", s)
	}
	if _, err := b.Recv(make([]byte, 1514), 0); !errors.Is(err, unix.EAGAIN) {
		t.Fatal("a refused frame reached the bus")
	}
	a.SetCapEnable(offload.CapTCPv4Tx)
	if err := a.SendOffload(frame[:20], offload.CsumTCPv4, 0); !errors.Is(err, unix.EINVAL) {
		t.Fatalf("short frame: %v", err)
	}
}

// docs/protocol.md §7.4: RX status is good for the frames real rump kernels wrote and
// bad for frames damaged on the bus.
func TestRxStatusOfGoldenAndDamagedFrames(t *testing.T) {
	var golden [][]byte
	{
		raw, err := os.ReadFile(filepath.Join("..", "..", "testdata", "rump-small", "bus"))
		if err != nil {
			t.Fatal(err)
		}
		m := layout.NewMem(raw)
		var r ring.Reader
		r.StartOldest(m)
		buf := make([]byte, layout.MaxFrame)
		for {
			h, st := r.Next(m, buf)
			if st != ring.Frame {
				break
			}
			golden = append(golden, append([]byte(nil), buf[:h.Len]...))
		}
	}
	path := filepath.Join(t.TempDir(), "bus")
	rx, err := Open(path, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Destroy()
	rx.SetCapEnable(offload.RxCaps)
	rx.SetPromisc(true)
	// Put the frames on the bus as a foreign writer would.
	w, err := bus.Open(path, bus.DefaultMode)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	inject := func(f []byte) {
		w.WithLock(func(m *layout.Mem) error {
			h := layout.FrameHeader{Len: uint32(len(f)), Sender: 42}
			ring.Append(m, &h, f)
			return nil
		})
	}
	var ipv4 int
	for _, f := range golden {
		inject(f)
	}
	buf := make([]byte, 1514)
	frames := []Frame{{Buf: buf}}
	for range golden {
		if _, err := rx.RecvBatch(frames, time.Second); err != nil {
			t.Fatal(err)
		}
		f := buf[:frames[0].Len]
		if binary.BigEndian.Uint16(f[12:]) != 0x0800 {
			continue
		}
		ipv4++
		st := frames[0].Csum
		if st&offload.CsumIPv4 == 0 || st&(offload.CsumIPv4Bad|offload.CsumTCPUDPBad) != 0 {
			t.Fatalf("golden frame: status %#x", st)
		}
	}
	if ipv4 < 10 {
		t.Fatalf("only %d IPv4 frames in the golden bus", ipv4)
	}
	// Damage a UDP payload byte, then an IPv4 header byte.
	for _, g := range golden {
		if binary.BigEndian.Uint16(g[12:]) == 0x0800 && g[23] == 17 {
			f := append([]byte(nil), g...)
			f[len(f)-1] ^= 0xff
			inject(f)
			h := append([]byte(nil), g...)
			h[22] ^= 0x01 // TTL
			inject(h)
			break
		}
	}
	if _, err := rx.RecvBatch(frames, time.Second); err != nil || frames[0].Csum&offload.CsumTCPUDPBad == 0 {
		t.Fatalf("damaged payload: %v status %#x", err, frames[0].Csum)
	}
	if _, err := rx.RecvBatch(frames, time.Second); err != nil || frames[0].Csum&offload.CsumIPv4Bad == 0 {
		t.Fatalf("damaged header: %v status %#x", err, frames[0].Csum)
	}
}

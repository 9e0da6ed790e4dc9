package shmif_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/libshmif/libshmif/core/shmif"
)

// frame builds a broadcast Ethernet frame of n bytes from src with the
// experimental ethertype 0x88b5 and a payload starting with tag.
func frame(src [6]byte, n int, tag byte) []byte {
	f := make([]byte, n)
	copy(f, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	copy(f[6:], src[:])
	f[12], f[13], f[14] = 0x88, 0xb5, tag
	return f
}

// busPath is a bus file in a fresh temporary directory.
func busPath() string {
	dir, err := os.MkdirTemp("", "shmif-example")
	if err != nil {
		log.Fatal(err)
	}
	return filepath.Join(dir, "bus")
}

// Two interfaces on one bus file: what one sends, the other receives. In
// real use they live in different processes, or one of them is a NetBSD
// rump kernel.
func Example() {
	path := busPath()
	defer os.RemoveAll(filepath.Dir(path))

	a, err := shmif.Open(path, -1) // the lowest free unit, attached and up
	if err != nil {
		log.Fatal(err)
	}
	defer a.Destroy()
	b, err := shmif.Open(path, -1)
	if err != nil {
		log.Fatal(err)
	}
	defer b.Destroy()

	if err := a.Send(frame(a.MAC(), 60, 'x')); err != nil {
		log.Fatal(err)
	}
	buf := make([]byte, 1514)
	n, err := b.Recv(buf, time.Second)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s received %d bytes from %s: from its MAC: %v\n",
		b.Name(), n, a.Name(), [6]byte(buf[6:12]) == a.MAC())
	// Output: shmif1 received 60 bytes from shmif0: from its MAC: true
}

// Batches take the bus lock once for many frames, on both sides. A
// receive that finds nothing waits up to its timeout, then returns
// ETIMEDOUT (a timeout of 0 only looks, and returns EAGAIN).
func ExampleInterface_RecvBatch() {
	path := busPath()
	defer os.RemoveAll(filepath.Dir(path))
	a, _ := shmif.Open(path, -1)
	defer a.Destroy()
	b, _ := shmif.Open(path, -1)
	defer b.Destroy()

	out := [][]byte{frame(a.MAC(), 60, 1), frame(a.MAC(), 1514, 2), frame(a.MAC(), 100, 3)}
	if _, err := a.SendBatch(out); err != nil {
		log.Fatal(err)
	}
	in := make([]shmif.Frame, 8)
	for k := range in {
		in[k].Buf = make([]byte, 1514)
	}
	n, err := b.RecvBatch(in, time.Second)
	if err != nil {
		log.Fatal(err)
	}
	for _, f := range in[:n] {
		fmt.Printf("%d bytes, tag %d, sent by %s: %v\n", f.Len, f.Buf[14], a.Name(), f.Sender == a.Sender())
	}
	_, err = b.RecvBatch(in, 10*time.Millisecond)
	fmt.Println("then:", err)
	// Output:
	// 60 bytes, tag 1, sent by shmif0: true
	// 1514 bytes, tag 2, sent by shmif0: true
	// 100 bytes, tag 3, sent by shmif0: true
	// then: connection timed out
}

// A lossless receiver holds libshmif writers back instead of being lapped:
// here 10,000 frames, more than eleven times what the bus holds, reach a
// receiver that only starts reading after they were all sent from
// another goroutine.
func ExampleInterface_SetLossless() {
	path := busPath()
	defer os.RemoveAll(filepath.Dir(path))
	a, _ := shmif.Open(path, -1)
	defer a.Destroy()
	b, _ := shmif.Open(path, -1)
	defer b.Destroy()
	// Writers wait up to a second for b; after that b counts what it
	// missed in Stats().Lost.
	if err := b.SetLossless(time.Second); err != nil {
		log.Fatal(err)
	}

	const count = 10000
	go func() {
		for k := range count {
			a.Send(frame(a.MAC(), 60+k%1000, byte(k)))
		}
	}()
	buf := make([]byte, 1514)
	got := 0
	for got < count {
		if _, err := b.Recv(buf, 5*time.Second); err != nil {
			log.Fatal(err)
		}
		got++
	}
	s := b.Stats()
	fmt.Printf("received %d, lost %d\n", s.Ipackets, s.Lost)
	// Output: received 10000, lost 0
}

// An interface that reuses a bus file starts, by default, with the newest
// frame already on it, as NetBSD's does. StartNext gives a clean start.
func ExampleInterface_SetStart() {
	path := busPath()
	defer os.RemoveAll(filepath.Dir(path))
	a, _ := shmif.Open(path, -1)
	defer a.Destroy()
	a.Send(frame(a.MAC(), 60, 'o')) // an old frame, before b exists

	b, _ := shmif.Create(-1)
	defer b.Destroy()
	b.SetStart(shmif.StartNext)
	if err := b.SetLinkstr(path); err != nil { // attach
		log.Fatal(err)
	}
	if err := b.Up(); err != nil {
		log.Fatal(err)
	}
	a.Send(frame(a.MAC(), 60, 'n'))
	buf := make([]byte, 1514)
	for {
		if _, err := b.Recv(buf, 10*time.Millisecond); err != nil {
			break
		}
		fmt.Printf("received %q\n", buf[14])
	}
	// Output: received 'n'
}

// Counters, as ifconfig -v and netstat show them for a NetBSD interface.
func ExampleInterface_Stats() {
	path := busPath()
	defer os.RemoveAll(filepath.Dir(path))
	a, _ := shmif.Open(path, -1)
	defer a.Destroy()
	a.SendBatch([][]byte{frame(a.MAC(), 60, 0), frame(a.MAC(), 1000, 1)})
	s := a.Stats()
	fmt.Printf("sent %d frames, %d bytes, %d multicast or broadcast\n", s.Opackets, s.Obytes, s.Omcasts)
	// Output: sent 2 frames, 1060 bytes, 2 multicast or broadcast
}

// Cancel wakes the receives blocked on an interface in other goroutines
// (or C threads): they return ECANCELED, and the interface stays usable.
// A receive that starts after the Cancel is not affected, hence the loop.
func ExampleInterface_Cancel() {
	path := busPath()
	defer os.RemoveAll(filepath.Dir(path))
	a, _ := shmif.Open(path, -1)
	defer a.Destroy()
	done := make(chan error)
	go func() {
		_, err := a.Recv(make([]byte, 1514), time.Minute)
		done <- err
	}()
	for {
		a.Cancel()
		select {
		case err := <-done:
			fmt.Println(err)
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
	// Output: operation canceled
}

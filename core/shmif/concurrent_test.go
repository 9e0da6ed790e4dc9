package shmif

import (
	"encoding/binary"
	"hash/crc32"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A writer floods the bus while readers receive without the lock where they
// can (ring.Reader.TryNext): no reader ever gets a torn or repeated frame,
// and each accounts for every frame it did not get.
func TestConcurrentReadersNeverSeeTornFrames(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bus")
	w, err := Open(path, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Destroy()
	const readers, total = 2, 60000
	rx := make([]*Interface, readers)
	for k := range rx {
		if rx[k], err = Open(path, -1); err != nil {
			t.Fatal(err)
		}
		defer rx[k].Destroy()
	}
	var wg sync.WaitGroup
	results := make([]uint64, readers)
	for k, r := range rx {
		wg.Add(1)
		go func() {
			defer wg.Done()
			frames := make([]Frame, 64)
			for j := range frames {
				frames[j].Buf = make([]byte, 1514)
			}
			var last, got uint64
			for {
				n, err := r.RecvBatch(frames, 2*time.Second)
				if err != nil {
					t.Errorf("reader %d: %v after %d frames", k, err, got)
					return
				}
				for _, f := range frames[:n] {
					b := f.Buf[:f.Len]
					seq := binary.LittleEndian.Uint64(b[14:])
					if crc32.ChecksumIEEE(b[26:]) != binary.LittleEndian.Uint32(b[22:]) {
						t.Errorf("reader %d: torn frame %d (len %d)", k, seq, f.Len)
						return
					}
					if seq <= last {
						t.Errorf("reader %d: frame %d after %d", k, seq, last)
						return
					}
					last = seq
					got++
					if got%4000 == 0 {
						// Fall behind now and then: be lapped, and
						// be overwritten in the middle of copies.
						time.Sleep(time.Duration(k+1) * time.Millisecond)
					}
					if seq == total {
						results[k] = got
						return
					}
				}
			}
		}()
	}
	// Frames made in advance so that the writer is fast; the sequence
	// number lies outside the checksummed part.
	rng := rand.New(rand.NewPCG(5, 6))
	pool := make([][]byte, 1024)
	for k := range pool {
		f := make([]byte, 26+rng.IntN(1514-26+1))
		copy(f, broadcast[:])
		for j := 26; j < len(f); j++ {
			f[j] = byte(rng.Uint32())
		}
		binary.LittleEndian.PutUint32(f[22:], crc32.ChecksumIEEE(f[26:]))
		pool[k] = f
	}
	batch := make([][]byte, 0, 32)
	for seq := uint64(1); seq <= total; seq++ {
		f := append([]byte(nil), pool[seq%uint64(len(pool))]...)
		binary.LittleEndian.PutUint64(f[14:], seq)
		batch = append(batch, f)
		if len(batch) == cap(batch) || seq == total {
			if _, err := w.SendBatch(batch); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	wg.Wait()
	var lostAll uint64
	for k, r := range rx {
		lost := r.Stats().Lost
		lostAll += lost
		if results[k]+lost != total {
			t.Errorf("reader %d: got %d + lost %d != %d", k, results[k], lost, total)
		}
		t.Logf("reader %d: got %d, lost %d", k, results[k], lost)
	}
	if lostAll == 0 {
		t.Error("no reader was lapped: the test proves nothing about overruns")
	}
}

// One interface sending and receiving at once, on several goroutines each
// way, while another does the same: the receive path takes the interface's
// reader lock and then the bus lock, and so must the send path, or the two
// deadlock (the bus lock held for good: EDEADLK after 10 s).
func TestSendAndReceiveOnOneInterfaceAtOnce(t *testing.T) {
	path := t.TempDir() + "/bus"
	a, err := Open(path, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Destroy()
	b, err := Open(path, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Destroy()
	f := make([]byte, 200)
	for k := range 6 {
		f[k] = 0xff
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	stop := time.Now().Add(time.Second)
	for _, i := range []*Interface{a, b} {
		for range 2 {
			wg.Add(2)
			go func() {
				defer wg.Done()
				for time.Now().Before(stop) {
					if err := i.Send(f); err != nil {
						errs <- err
						return
					}
				}
			}()
			go func() {
				defer wg.Done()
				buf := make([]byte, 1514)
				for time.Now().Before(stop) {
					if _, err := i.Recv(buf, 5*time.Millisecond); err != nil && err != unix.ETIMEDOUT {
						errs <- err
						return
					}
				}
			}()
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("senders and receivers of one interface deadlocked")
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

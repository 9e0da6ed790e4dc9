package batch_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/libshmif/libshmif/core/shmif"
)

// TestMain lets the test binary serve as a receiver process of the Go API:
// "TESTBINARY reader BUS go|gorecv SEED DONEFILE", with the output of
// c/bat.c's reader.
func TestMain(m *testing.M) {
	if len(os.Args) == 6 && os.Args[1] == "reader" {
		os.Exit(goReader(os.Args[2], os.Args[3], os.Args[5]))
	}
	os.Exit(m.Run())
}

func goReader(bus, mode, done string) int {
	failures := 0
	fail := func(format string, a ...any) {
		failures++
		fmt.Printf("FAIL "+format+"\n", a...)
	}
	ifc, err := shmif.Create(-1)
	if err == nil {
		err = ifc.SetStart(shmif.StartNext)
	}
	if err == nil {
		err = ifc.SetLinkstr(bus)
	}
	if err == nil {
		err = ifc.Up()
	}
	if err != nil {
		fmt.Printf("FAIL open: %v\nDONE failures=1\n", err)
		return 1
	}
	type idr struct{ n, first, last int64 }
	ids := map[uint32]*idr{}
	frames := make([]shmif.Frame, 256)
	for i := range frames {
		frames[i].Buf = make([]byte, 1514)
	}
	fmt.Println("ready")
	var total, bad, gaps uint64
	var quiet time.Time
	for {
		var got [][]byte
		if mode == "gorecv" {
			n, err := ifc.Recv(frames[0].Buf, 100*time.Millisecond)
			if err == nil {
				got = append(got, frames[0].Buf[:n])
			} else if !errors.Is(err, syscall.ETIMEDOUT) && !errors.Is(err, syscall.EAGAIN) {
				fail("recv: %v", err)
				break
			}
		} else {
			n, err := ifc.RecvBatch(frames, 100*time.Millisecond)
			if err != nil && !errors.Is(err, syscall.ETIMEDOUT) && !errors.Is(err, syscall.EAGAIN) {
				fail("recv batch: %v", err)
				break
			}
			for i := 0; i < n; i++ {
				got = append(got, frames[i].Buf[:frames[i].Len])
			}
		}
		if len(got) == 0 {
			if _, err := os.Stat(done); err == nil {
				if quiet.IsZero() {
					quiet = time.Now()
				} else if time.Since(quiet) > 400*time.Millisecond {
					break
				}
			}
			continue
		}
		quiet = time.Time{}
		for _, f := range got {
			total++
			l := len(f)
			if l < 28 || f[12] != 0x88 || f[13] != 0xb5 || int(binary.LittleEndian.Uint16(f[22:])) != l ||
				binary.LittleEndian.Uint32(f[l-4:]) != crc32.ChecksumIEEE(f[:l-4]) {
				if bad++; bad <= 10 {
					fail("bad frame: len %d", l)
				}
				continue
			}
			id, seq := binary.LittleEndian.Uint32(f[14:]), int64(binary.LittleEndian.Uint32(f[18:]))
			r := ids[id]
			if r == nil {
				r = &idr{first: seq, last: -1}
				ids[id] = r
			}
			if r.last >= seq {
				if bad++; bad <= 10 {
					fail("id %d seq %d after %d: duplicate or reordered", id, seq, r.last)
				}
			} else if r.last >= 0 {
				gaps += uint64(seq - r.last - 1)
			}
			r.last = seq
			r.n++
		}
	}
	for id, r := range ids {
		fmt.Printf("id %d n %d first %d last %d\n", id, r.n, r.first, r.last)
	}
	st := ifc.Stats()
	fmt.Printf("gaps %d\nstats %d %d %d total %d bad %d\n", gaps, st.Ipackets, st.Lost, st.Corrupt, total, bad)
	ifc.Destroy()
	fmt.Printf("DONE failures=%d\n", failures)
	if failures != 0 {
		return 1
	}
	return 0
}

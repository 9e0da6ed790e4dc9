package shmif

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestMain lets the test binary act as the writer process of
// BenchmarkProcessStream.
func TestMain(m *testing.M) {
	if spec := os.Getenv("SHMIF_BENCH_WRITER"); spec != "" {
		os.Exit(benchWriter(spec))
	}
	os.Exit(m.Run())
}

// benchWriter sends count frames of size bytes in batches to the bus, each
// carrying its sequence number, then an end marker.
func benchWriter(spec string) int {
	var path string
	var count, size, batch int
	f := strings.Split(spec, ",")
	path = f[0]
	count, _ = strconv.Atoi(f[1])
	size, _ = strconv.Atoi(f[2])
	batch, _ = strconv.Atoi(f[3])
	pinProcess(0)
	ifc, err := Open(path, -1)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer ifc.Destroy()
	frames := make([][]byte, batch)
	for k := range frames {
		frames[k] = make([]byte, size)
		copy(frames[k], broadcast[:])
	}
	time.Sleep(50 * time.Millisecond) // let the reader attach
	for seq := 0; seq < count; seq += batch {
		n := min(batch, count-seq)
		for k := range n {
			putSeq(frames[k], uint64(seq+k+1))
		}
		ifc.SendBatch(frames[:n])
	}
	for range 10 {
		putSeq(frames[0], 0)
		ifc.Send(frames[0]) // end marker
		time.Sleep(time.Millisecond)
	}
	return 0
}

// pinProcess moves every thread of this process to cpu (when the machine
// has more than one), so that writer and reader each have a CPU of their
// own, as make bench arranges for the C API. Threads created later inherit
// the affinity.
func pinProcess(cpu int) {
	if runtime.NumCPU() < 2 {
		return
	}
	var set unix.CPUSet
	set.Set(cpu % runtime.NumCPU())
	tasks, _ := os.ReadDir("/proc/self/task")
	for _, t := range tasks {
		if tid, err := strconv.Atoi(t.Name()); err == nil {
			unix.SchedSetaffinity(tid, &set)
		}
	}
}

func unpinProcess() {
	var set unix.CPUSet
	for c := range runtime.NumCPU() {
		set.Set(c)
	}
	tasks, _ := os.ReadDir("/proc/self/task")
	for _, t := range tasks {
		if tid, err := strconv.Atoi(t.Name()); err == nil {
			unix.SchedSetaffinity(tid, &set)
		}
	}
}

func putSeq(f []byte, seq uint64) {
	for k := range 8 {
		f[14+k] = byte(seq >> (8 * k))
	}
}

func getSeq(f []byte) uint64 {
	var s uint64
	for k := range 8 {
		s |= uint64(f[14+k]) << (8 * k)
	}
	return s
}

// BenchmarkProcessStream: a writer process sends b.N frames in batches of
// 32; this process receives them with RecvBatch. Reports frames delivered
// per second, loss and duplicates (which must be 0).
func BenchmarkProcessStream60(b *testing.B)   { benchmarkProcessStream(b, 60) }
func BenchmarkProcessStream1514(b *testing.B) { benchmarkProcessStream(b, 1514) }

func benchmarkProcessStream(b *testing.B, size int) {
	path := filepath.Join(b.TempDir(), "bus")
	rx, err := Open(path, -1)
	if err != nil {
		b.Fatal(err)
	}
	defer rx.Destroy()
	count := max(b.N, 100000)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("SHMIF_BENCH_WRITER=%s,%d,%d,%d", path, count, size, 32))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	// As make bench does for the C API: the writer sends batches of 32,
	// the reader takes up to 256 a call, so that it can catch up.
	frames := make([]Frame, 256)
	for k := range frames {
		frames[k].Buf = make([]byte, 1514)
	}
	pinProcess(1)
	defer unpinProcess()
	b.ResetTimer()
	var got, dups uint64
	var last uint64
	var start, end time.Time
	for done := false; !done; {
		n, err := rx.RecvBatch(frames, 2*time.Second)
		if err != nil {
			b.Fatalf("after %d frames: %v", got, err)
		}
		for _, f := range frames[:n] {
			seq := getSeq(f.Buf[:f.Len])
			if seq == 0 {
				if got > 0 {
					done = true
					break
				}
				continue
			}
			if start.IsZero() {
				start = time.Now()
			}
			if seq <= last {
				dups++
			}
			last = seq
			got++
		}
		end = time.Now()
	}
	b.StopTimer()
	cmd.Wait()
	lost := rx.Stats().Lost
	el := end.Sub(start).Seconds()
	b.ReportMetric(float64(got)/el, "delivered/s")
	b.ReportMetric(100*float64(uint64(count)-got)/float64(count), "loss%")
	b.ReportMetric(float64(dups), "dups")
	b.ReportMetric(float64(lost), "lost-counted")
}

package buslock_test

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/libshmif/libshmif/core/internal/buslock"
	"github.com/libshmif/libshmif/core/shmif"
	"github.com/libshmif/libshmif/internal/netbsd"
)

// burstWriterEnv makes the test binary the NetBSD burst writer of
// TestNetBSDBurstWriterNotTakenOver: the bus path, then the run time.
const burstWriterEnv = "BUSLOCK_NETBSD_BURST"

// The frames' source bytes (byte 6 of the Ethernet source address).
const (
	srcLibshmif = 1
	srcNetBSD   = 2
)

// burstFrame builds frame seq of source src: broadcast, a length that
// varies with seq, the sequence number at byte 14, a pattern, and a
// CRC-32 of all that in the last 4 bytes.
func burstFrame(src byte, seq uint64) []byte {
	n := 60 + int(seq*37%1400)
	f := make([]byte, n)
	for k := range 6 {
		f[k] = 0xff
	}
	f[6] = src
	f[12], f[13] = 0x88, 0xb5
	binary.LittleEndian.PutUint64(f[14:], seq)
	for k := 22; k < n-4; k++ {
		f[k] = byte(seq) + byte(k)
	}
	binary.LittleEndian.PutUint32(f[n-4:], crc32.ChecksumIEEE(f[:n-4]))
	return f
}

// checkBurstFrame returns the source and sequence number of an intact
// frame, or an error saying what is wrong with it.
func checkBurstFrame(f []byte) (src byte, seq uint64, err error) {
	if len(f) < 60 {
		return 0, 0, fmt.Errorf("%d-byte frame", len(f))
	}
	n := len(f)
	if got, want := binary.LittleEndian.Uint32(f[n-4:]), crc32.ChecksumIEEE(f[:n-4]); got != want {
		return 0, 0, fmt.Errorf("%d-byte frame: checksum %#x, want %#x", n, got, want)
	}
	src, seq = f[6], binary.LittleEndian.Uint64(f[14:])
	if want := burstFrame(src, seq); string(want) != string(f) {
		return 0, 0, fmt.Errorf("frame %d of source %d: not the frame sent", seq, src)
	}
	return src, seq, nil
}

func init() {
	if v := os.Getenv(burstWriterEnv); v != "" {
		path, d, _ := strings.Cut(v, ",")
		run, err := time.ParseDuration(d)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		os.Exit(netbsdBurstWriter(path, run))
	}
}

// How long the NetBSD writer holds the lock for each frame: longer than a
// libshmif waiter spins before it naps, so that the waiter mostly looks at
// the lock while it is held and is starved, often for longer than
// UnknownHolderTimeout as the test sets it.
const burstHold = 3 * time.Millisecond

// netbsdBurstWriter is a NetBSD rump kernel's writer (internal/netbsd: it
// takes the lock word by compare-and-swap 0 to 1, never writes the pid
// word, and stores last before it writes the record) that holds the lock in
// short bursts, one frame each, and takes it again at once after each
// release, for run. While it holds the lock it checks that nobody took it
// over: a libshmif waiter that takes over records its pid in the spare word
// (and its release would then clear the lock word under us). It prints
// "ready", then "done <frames> <holds seen taken over>".
func netbsdBurstWriter(path string, run time.Duration) int {
	b, err := netbsd.Attach(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "netbsd writer:", err)
		return 1
	}
	lockWord := (*uint32)(unsafe.Pointer(&b.Mem[netbsd.OffLock]))
	spare := (*uint32)(unsafe.Pointer(&b.Mem[netbsd.OffSpare]))
	gen := (*uint64)(unsafe.Pointer(&b.Mem[netbsd.OffGen]))
	fmt.Println("ready")
	var seq, stolen uint64
	end := time.Now().Add(run)
	for time.Now().Before(end) {
		f := burstFrame(srcNetBSD, seq)
		// Lock, last = nextpktoff(last), header, frame; the lock is
		// still held and gen not yet advanced.
		if err := b.Send(f, 0x4e6574425344, 0, netbsd.StepFrame); err != nil {
			fmt.Fprintln(os.Stderr, "netbsd writer:", err)
			return 1
		}
		held := time.Now()
		if b.Last()+netbsd.FrameHeaderSize+uint32(len(f)) >= netbsd.DataSize {
			atomic.StoreUint64(gen, atomic.LoadUint64(gen)+1) // the record reached the end: a wrap
		}
		// The wake-up goes out while the lock is held so that the lock
		// is free only for the instants between two holds.
		if seq%8 == 0 {
			if err := b.Wakeup(); err != nil {
				fmt.Fprintln(os.Stderr, "netbsd writer:", err)
				return 1
			}
		}
		for time.Since(held) < burstHold {
		}
		if atomic.LoadUint32(spare) != 0 || atomic.LoadUint32(lockWord) != 1 {
			stolen++
		}
		atomic.StoreUint32(lockWord, 0)
		seq++
	}
	b.Wakeup()
	fmt.Printf("done %d %d\n", seq, stolen)
	return 0
}

// burstRun is how long the NetBSD writer runs: 2 s, or the 5 s of issue
// 10.4 with SHMIF_STRESS=full.
func burstRun() time.Duration {
	if os.Getenv("SHMIF_STRESS") == "full" {
		return 5 * time.Second
	}
	return 2 * time.Second
}

// Issue 10.4: a NetBSD-order writer process (no pid in the spare word)
// holds the lock in short bursts and hands it to itself again at once, so
// that a libshmif sender and receiver in this process keep being starved,
// many times longer than UnknownHolderTimeout (shortened here to 30 ms so
// that starvation beyond it is common; a waiter that judged the unknown
// holder by how long it has waited would take the lock over). The bus
// makes progress all the while, so there must be no takeover: the
// takeover counter stays 0 and the writer never finds its lock taken; and
// no damage: every frame of both writers arrives once, in order, intact
// (sequence number and CRC-32), with 0 lost and 0 corrupt.
func TestNetBSDBurstWriterNotTakenOver(t *testing.T) {
	defer func(d time.Duration) { buslock.UnknownHolderTimeout = d }(buslock.UnknownHolderTimeout)
	buslock.UnknownHolderTimeout = 30 * time.Millisecond
	path := filepath.Join(t.TempDir(), "bus")
	tx, err := shmif.Open(path, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Destroy()
	rx, err := shmif.Open(path, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Destroy()
	before := buslock.Takeovers()

	run := burstRun()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), burstWriterEnv+"="+path+","+run.String())
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	lines := bufio.NewScanner(out)
	if !lines.Scan() || lines.Text() != "ready" {
		t.Fatalf("netbsd writer did not start: %q %s", lines.Text(), stderr.String())
	}

	// The receiver: every frame intact, each source's frames in order
	// with none missing or repeated.
	var (
		next       [3]uint64
		rxErr      error
		recvd      atomic.Int64
		stopRx     = make(chan struct{})
		rxDone     = make(chan struct{})
		wantNetBSD atomic.Int64
		wantTx     atomic.Int64
	)
	wantNetBSD.Store(-1)
	wantTx.Store(-1)
	all := func() bool {
		return int64(next[srcNetBSD]) == wantNetBSD.Load() && int64(next[srcLibshmif]) == wantTx.Load()
	}
	go func() {
		defer close(rxDone)
		buf := make([]byte, 2048)
		for {
			n, err := rx.Recv(buf, 100*time.Millisecond)
			if err != nil {
				select {
				case <-stopRx:
					return
				default:
				}
				if all() {
					return
				}
				continue // ETIMEDOUT: starved, or all received
			}
			src, seq, err := checkBurstFrame(buf[:n])
			if err == nil && src != srcNetBSD && src != srcLibshmif {
				err = fmt.Errorf("frame of unknown source %d", src)
			}
			if err == nil && seq != next[src] {
				err = fmt.Errorf("source %d: frame %d after %d", src, seq, next[src])
			}
			if err != nil {
				rxErr = err
				return
			}
			next[src]++
			recvd.Add(1)
			if all() {
				return
			}
		}
	}()

	// The sender, until the NetBSD writer is done; it records how long
	// its sends were starved.
	var (
		sent, starved uint64
		worst         time.Duration
		wg            sync.WaitGroup
		writerDone    atomic.Bool
		txErr         error
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !writerDone.Load() {
			t0 := time.Now()
			if err := tx.Send(burstFrame(srcLibshmif, sent)); err != nil {
				txErr = err
				return
			}
			w := time.Since(t0)
			worst = max(worst, w)
			if w > buslock.UnknownHolderTimeout {
				starved++
			}
			sent++
		}
	}()

	var frames, stolen int64
	if !lines.Scan() {
		t.Fatalf("netbsd writer: no report: %s", stderr.String())
	}
	if _, err := fmt.Sscanf(lines.Text(), "done %d %d", &frames, &stolen); err != nil {
		t.Fatalf("netbsd writer: %q: %v", lines.Text(), err)
	}
	writerDone.Store(true)
	wg.Wait()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("netbsd writer: %v: %s", err, stderr.String())
	}
	wantTx.Store(int64(sent))
	wantNetBSD.Store(frames)
	// The receiver stops once it has every frame; it is given time
	// to catch up, not asked to be fast.
	select {
	case <-rxDone:
	case <-time.After(30 * time.Second):
		t.Error("the receiver had not received every frame 30 s after the writers stopped")
	}
	close(stopRx)
	<-rxDone

	st := rx.Stats()
	t.Logf("%v: NetBSD writer %d frames in %v holds; libshmif sender %d frames, %d sends starved > %v, longest %v; received %d; takeovers %d; lost %d, corrupt %d",
		run, frames, burstHold, sent, starved, buslock.UnknownHolderTimeout, worst, recvd.Load(), buslock.Takeovers()-before, st.Lost, st.Corrupt)
	if txErr != nil {
		t.Errorf("libshmif send: %v", txErr)
	}
	if n := buslock.Takeovers() - before; n != 0 {
		t.Errorf("%d takeovers of a NetBSD writer that kept the bus moving", n)
	}
	if stolen != 0 {
		t.Errorf("the NetBSD writer found its lock taken in %d of %d holds", stolen, frames)
	}
	if rxErr != nil {
		t.Errorf("receiver: %v", rxErr)
	}
	if st.Lost != 0 || st.Corrupt != 0 {
		t.Errorf("receiver counted %d lost, %d corrupt", st.Lost, st.Corrupt)
	}
	if got := next; rxErr == nil && (got[srcNetBSD] != uint64(frames) || got[srcLibshmif] != sent) {
		t.Errorf("received %d of %d NetBSD frames and %d of %d libshmif frames",
			got[srcNetBSD], frames, got[srcLibshmif], sent)
	}
}

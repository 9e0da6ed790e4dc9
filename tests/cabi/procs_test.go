package cabi_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/libshmif/libshmif/internal/testlib"
	"golang.org/x/sys/unix"
)

// The processes test: procsChildren processes, each with libshmif loaded
// through dlopen, on one bus; each sends procsFrames frames and must receive
// every frame of the others, per sender in order, with nothing lost.
const (
	procsChildren = 3
	procsFrames   = 2000
	procsFrameLen = 200 // 6000 records of 224 bytes: the ring wraps once
	// procsWindow bounds how far a child runs ahead of what it has heard
	// from each other child, so that no reader can fall a whole ring
	// (1 MiB) behind: at most about 5 windows of records are unread.
	procsWindow   = 256
	procsDeadline = 20 * time.Second

	childEnv = "CABI_PROCS_CHILD" // child index; set only in children
	libEnv   = "CABI_PROCS_LIB"   // the libshmif.so to load
	busEnv   = "CABI_PROCS_BUS"   // the bus file
)

func TestMain(m *testing.M) {
	if idx := os.Getenv(childEnv); idx != "" {
		os.Exit(procsChild(idx))
	}
	os.Exit(m.Run())
}

// TestProcessesShareABus runs the children and checks each reports success.
func TestProcessesShareABus(t *testing.T) {
	lib := testlib.Path(t, "libshmif.so")
	bus := filepath.Join(t.TempDir(), "bus")
	ctx, cancel := context.WithTimeout(context.Background(), procsDeadline+10*time.Second)
	defer cancel()

	type child struct {
		cmd   *exec.Cmd
		in    io.WriteCloser
		lines chan string
		out   strings.Builder
	}
	children := make([]*child, procsChildren)
	var wg sync.WaitGroup
	for k := range children {
		c := &child{lines: make(chan string, 16)}
		c.cmd = exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
		c.cmd.Env = append(os.Environ(), childEnv+"="+strconv.Itoa(k), libEnv+"="+lib, busEnv+"="+bus)
		c.cmd.Stderr = os.Stderr
		stdin, err := c.cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		c.in = stdin
		stdout, err := c.cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := c.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(c.lines)
			s := bufio.NewScanner(stdout)
			for s.Scan() {
				c.out.WriteString(s.Text() + "\n")
				c.lines <- s.Text()
			}
		}()
		children[k] = c
	}
	// Every child attaches before any sends, so nobody misses a frame.
	for k, c := range children {
		if l := <-c.lines; !strings.HasPrefix(l, "ready") {
			cancel()
			wg.Wait()
			t.Fatalf("child %d did not get ready: %q\n%s", k, l, c.out.String())
		}
	}
	for _, c := range children {
		fmt.Fprintln(c.in, "go")
		c.in.Close()
	}
	for _, c := range children {
		for range c.lines {
		}
	}
	wg.Wait()
	for k, c := range children {
		err := c.cmd.Wait()
		out := strings.TrimSpace(c.out.String())
		if err != nil || !strings.HasSuffix(out, "ok") {
			t.Errorf("child %d: %v\n%s", k, err, out)
			continue
		}
		t.Logf("child %d: %s", k, strings.ReplaceAll(out, "\n", "; "))
	}
	// The exchange is meant to wrap the ring (shm_gen, docs/protocol.md §1.2).
	if b, err := os.ReadFile(bus); err != nil || len(b) < 16 {
		t.Errorf("reading the bus: %v", err)
	} else if gen := binary.NativeEndian.Uint64(b[8:]); gen < 1 {
		t.Errorf("the bus generation is %d: the ring did not wrap", gen)
	}
}

// procsChild is one child: it returns the exit status.
func procsChild(idxs string) int {
	idx, err := strconv.Atoi(idxs)
	if err == nil {
		err = load(os.Getenv(libEnv))
	}
	if err == nil {
		err = procsRun(idx, os.Getenv(busEnv))
	}
	if err != nil {
		fmt.Printf("child %s: error: %v\n", idxs, err)
		return 1
	}
	fmt.Println("ok")
	return 0
}

func rcErr(what string, rc int32) error { return fmt.Errorf("%s: %s", what, errName(rc)) }

// procsFrame fills f with frame seq of sender idx: broadcast, the sender's
// index and sequence number, then bytes derived from both.
func procsFrame(f []byte, mac [6]byte, idx, seq int) {
	copy(f, broadcast[:])
	copy(f[6:], mac[:])
	f[12], f[13] = 0x88, 0xb5
	copy(f[14:], "CABI")
	f[18] = byte(idx)
	binary.BigEndian.PutUint32(f[19:], uint32(seq))
	for k := 23; k < len(f); k++ {
		f[k] = byte(seq*7 + idx*31 + k)
	}
}

func procsRun(idx int, bus string) error {
	var ifnum int32
	if rc := lib.rump_pub_shmif_create(cstr(bus), &ifnum); rc != 0 {
		return rcErr("rump_pub_shmif_create", rc)
	}
	defer lib.shmif_destroy(ifnum)
	var mac [6]byte
	if rc := lib.shmif_get_mac(ifnum, &mac); rc != 0 {
		return rcErr("shmif_get_mac", rc)
	}
	fmt.Printf("ready shmif%d\n", ifnum)
	if l, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil || l != "go\n" {
		return fmt.Errorf("waiting for go: %q, %v", l, err)
	}

	const sendMax, recvMax = 32, 64
	out := make([][]byte, sendMax)
	for k := range out {
		out[k] = make([]byte, procsFrameLen)
	}
	in := &batch{frames: make([]shmifFrame, recvMax), bufs: make([][]byte, recvMax)}
	for k := range in.frames {
		in.bufs[k] = make([]byte, maxFrame)
		in.pin.Pin(&in.bufs[k][0])
		in.frames[k] = shmifFrame{data: unsafe.Pointer(&in.bufs[k][0]), cap: maxFrame}
	}
	defer in.pin.Unpin()

	sent := 0
	var got [procsChildren]int // frames received from each child
	total := 0
	deadline := time.Now().Add(procsDeadline)
	for sent < procsFrames || total < (procsChildren-1)*procsFrames {
		if time.Now().After(deadline) {
			return fmt.Errorf("deadline: sent %d, received %v", sent, got)
		}
		allowed := procsFrames
		for j := range procsChildren {
			if j != idx {
				allowed = min(allowed, got[j]+procsWindow)
			}
		}
		n := min(allowed-sent, sendMax)
		if n > 0 {
			for k := range n {
				procsFrame(out[k], mac, idx, sent+k)
			}
			if rc := sendBatch(ifnum, out[:n]...); rc != 0 {
				return rcErr("shmif_send_batch", rc)
			}
			sent += n
		}
		timeout := int32(0)
		if n <= 0 {
			timeout = 100 // nothing to send: wait for the others
		}
		r, rc := in.recv(ifnum, timeout)
		switch {
		case rc == int32(unix.EAGAIN) || rc == int32(unix.ETIMEDOUT):
			continue
		case rc != 0:
			return rcErr("shmif_recv_batch", rc)
		}
		for k := range r {
			f := in.frame(k)
			if len(f) != procsFrameLen || string(f[14:18]) != "CABI" {
				return fmt.Errorf("foreign frame of %d bytes: % x", len(f), f[:min(len(f), 24)])
			}
			j, seq := int(f[18]), int(binary.BigEndian.Uint32(f[19:]))
			switch {
			case j == idx:
				return fmt.Errorf("received own frame %d", seq)
			case j >= procsChildren:
				return fmt.Errorf("frame from unknown child %d", j)
			case seq != got[j]:
				return fmt.Errorf("from child %d: frame %d, want %d (lost or out of order)", j, seq, got[j])
			}
			var want [procsFrameLen]byte
			procsFrame(want[:], [6]byte(f[6:12]), j, seq)
			if string(want[:]) != string(f) {
				return fmt.Errorf("frame %d of child %d is damaged", seq, j)
			}
			got[j]++
			total++
		}
	}
	var st shmifStats
	if rc := lib.shmif_get_stats(ifnum, &st); rc != 0 {
		return rcErr("shmif_get_stats", rc)
	}
	fmt.Printf("sent %d, received %d %v, stats: ipackets %d opackets %d lost %d corrupt %d\n",
		sent, total, got, st.ipackets, st.opackets, st.lost, st.corrupt)
	var errs []error
	if st.lost != 0 || st.corrupt != 0 {
		errs = append(errs, fmt.Errorf("lost %d, corrupt %d: want 0", st.lost, st.corrupt))
	}
	if st.ipackets != uint64(total) || st.opackets != procsFrames {
		errs = append(errs, fmt.Errorf("ipackets %d opackets %d, want %d, %d", st.ipackets, st.opackets, total, procsFrames))
	}
	return errors.Join(errs...)
}

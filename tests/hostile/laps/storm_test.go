package laps_test

// Multi-process storms. The test binary re-executes itself (TestMain in
// storm_main_test.go) as:
//
//   - writers: libshmif interfaces flooding the bus with SendBatch,
//     self-checking frames numbered 0, 1, 2, ... per writer;
//   - a NetBSD-order writer (harness's netbsdWriter) in some storms;
//   - receivers: libshmif interfaces that Recv and RecvBatch with short
//     timeouts, which the parent stops and continues at random
//     (SIGSTOP 0-8 ms, run 0-8 ms), so that the writers lap them;
//   - a stranger that, without the bus lock, rewrites the padding
//     (sequence) word of records in the half ring behind the write
//     position (mode pad; padslow: one a millisecond), the generation
//     word (mode gen), or both.
//
// Every child reads its orders from the environment, prints "ready",
// runs until its standard input is closed, then prints one JSON report
// and exits 0. The parent checks what README.md promises: every frame a
// receiver delivers is whole and was sent by a writer; per writer no more
// frames are received than were sent; no receive hangs; every process
// exits normally; and, for gen only, no frame is delivered twice.

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/libshmif/libshmif/core/shmif"
)

const (
	stormRoleEnv = "SHMIF_STORM_ROLE"
	stormBusEnv  = "SHMIF_STORM_BUS"
	stormSeedEnv = "SHMIF_STORM_SEED"
	stormIDEnv   = "SHMIF_STORM_ID"
	stormModeEnv = "SHMIF_STORM_MODE"

	// netbsdStormID is the writer id of the NetBSD-order writer's frames.
	netbsdStormID = 3

	// recvHang is how long one Recv or RecvBatch with a 20 ms timeout may
	// take before the receiver reports a hang: a bound, generous for a
	// loaded 2-CPU machine, not a timing assertion.
	recvHang = 10 * time.Second
	// childExit bounds how long a child may take to report and exit once
	// told to stop.
	childExit = 60 * time.Second
)

// ---------------------------------------------------------------------
// Reports.

type writerReport struct {
	ID      uint32 `json:"id"`
	Sent    uint64 `json:"sent"`
	Batches uint64 `json:"batches"`
}

type receiverReport struct {
	Got      map[uint32]uint64 `json:"got"`    // distinct frames per writer
	MaxSeq   map[uint32]uint64 `json:"maxseq"` // highest number + 1 per writer
	Dup      uint64            `json:"dup"`    // a frame delivered again
	Reorder  uint64            `json:"reorder"`
	Foreign  uint64            `json:"foreign"` // torn, invented, bytes from inside a frame
	FirstBad string            `json:"firstbad,omitempty"`
	Lost     uint64            `json:"lost"`
	Corrupt  uint64            `json:"corrupt"`
	Calls    uint64            `json:"calls"`
	Timeouts uint64            `json:"timeouts"`
	Drained  uint64            `json:"drained"`
}

type strangerReport struct {
	Pads    uint64 `json:"pads"`    // padding words rewritten
	Gens    uint64 `json:"gens"`    // gen words rewritten
	Suspect uint64 `json:"suspect"` // pad writes given up: the record could not be proven intact
	Failed  uint64 `json:"failed"`  // compare-and-swaps that failed: a writer came by
	Resyncs uint64 `json:"resyncs"`
}

// ---------------------------------------------------------------------
// Children.

func stormChild(role string) int {
	path := os.Getenv(stormBusEnv)
	s, _ := strconv.ParseUint(os.Getenv(stormSeedEnv), 10, 64)
	id64, _ := strconv.ParseUint(os.Getenv(stormIDEnv), 10, 32)
	id := uint32(id64)
	rng := newRand(s)

	// Standard input closed: stop.
	var stop atomic.Bool
	go func() {
		io.Copy(io.Discard, os.Stdin)
		stop.Store(true)
	}()

	var rep any
	var err error
	switch role {
	case "writer":
		rep, err = stormWriter(path, id, rng, &stop)
	case "netbsd":
		rep, err = stormNetBSD(path, id, rng, &stop)
	case "receiver":
		rep, err = stormReceiver(path, rng, &stop)
	case "stranger":
		rep, err = stormStranger(path, os.Getenv(stormModeEnv), rng, &stop)
	default:
		err = fmt.Errorf("unknown role %q", role)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", role, err)
		return 1
	}
	p, _ := json.Marshal(rep)
	fmt.Printf("%s\n", p)
	return 0
}

// describeBad shows a frame that failed its check, and where it differs
// from the frame its own fields name, if they name one.
func describeBad(f []byte) string {
	d := fmt.Sprintf("len %d %x", len(f), head(f))
	if len(f) < minTest || string(f[14:18]) != "LAPS" {
		return d
	}
	id := binary.LittleEndian.Uint32(f[18:])
	seq := binary.LittleEndian.Uint64(f[22:])
	want := mkFrame(id, seq, len(f))
	lo, hi, n := -1, -1, 0
	for i := range f {
		if f[i] != want[i] {
			if lo < 0 {
				lo = i
			}
			hi, n = i, n+1
		}
	}
	return fmt.Sprintf("%s; writer %d frame %d: %d bytes differ in [%d,%d]", d, id, seq, n, lo, hi)
}

func ready() { fmt.Println("ready") }

func stormRandLen(rng *rand.Rand) int {
	switch rng.IntN(3) {
	case 0:
		return minTest + rng.IntN(40)
	case 1:
		return maxFrame
	}
	return minTest + rng.IntN(maxFrame-minTest+1)
}

func stormWriter(path string, id uint32, rng *rand.Rand, stop *atomic.Bool) (any, error) {
	ifc, err := shmif.Open(path, -1)
	if err != nil {
		return nil, err
	}
	defer ifc.Destroy()
	rep := &writerReport{ID: id}
	ready()
	for !stop.Load() {
		batch := make([][]byte, 1+rng.IntN(64))
		for i := range batch {
			batch[i] = mkFrame(id, rep.Sent+uint64(i), stormRandLen(rng))
		}
		n, err := ifc.SendBatch(batch)
		rep.Sent += uint64(n)
		rep.Batches++
		if err != nil {
			return nil, fmt.Errorf("SendBatch after %d frames: %v", rep.Sent, err)
		}
	}
	return rep, nil
}

func mapStormBus(path string) (*bus, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	m, err := unix.Mmap(int(f.Fd()), 0, busSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		f.Close()
		return nil, err
	}
	return &bus{f: f, m: m}, nil
}

func stormNetBSD(path string, id uint32, rng *rand.Rand, stop *atomic.Bool) (any, error) {
	b, err := mapStormBus(path)
	if err != nil {
		return nil, err
	}
	defer b.close()
	prng := newRand(rng.Uint64())
	nw := &netbsdWriter{b: b, sender: 0x7777_0000 + uint64(id), pad: prng.Uint32}
	rep := &writerReport{ID: id}
	ready()
	for !stop.Load() {
		batch := make([][]byte, 1+rng.IntN(16))
		for i := range batch {
			batch[i] = mkFrame(id, rep.Sent+uint64(i), stormRandLen(rng))
		}
		nw.send(batch...)
		rep.Sent += uint64(len(batch))
		rep.Batches++
	}
	return rep, nil
}

// seenSet remembers which numbers of one writer were delivered.
type seenSet struct{ bits []uint64 }

func (s *seenSet) testAndSet(n uint64) bool {
	w := n / 64
	for uint64(len(s.bits)) <= w {
		s.bits = append(s.bits, make([]uint64, len(s.bits)+1024)...)
	}
	old := s.bits[w]&(1<<(n%64)) != 0
	s.bits[w] |= 1 << (n % 64)
	return old
}

func stormReceiver(path string, rng *rand.Rand, stop *atomic.Bool) (any, error) {
	ifc, err := shmif.Open(path, -1)
	if err != nil {
		return nil, err
	}
	defer ifc.Destroy()
	if err := ifc.SetStart(shmif.StartNext); err != nil {
		return nil, err
	}
	if err := ifc.Down(); err != nil {
		return nil, err
	}
	if err := ifc.Up(); err != nil {
		return nil, err
	}
	rep := &receiverReport{Got: map[uint32]uint64{}, MaxSeq: map[uint32]uint64{}}
	seen := map[uint32]*seenSet{}
	add := func(f []byte) {
		id, seq, ok := parseFrame(f)
		if !ok || id == 0 || id > netbsdStormID {
			rep.Foreign++
			if rep.FirstBad == "" {
				rep.FirstBad = describeBad(f)
			}
			return
		}
		s := seen[id]
		if s == nil {
			s = &seenSet{}
			seen[id] = s
		}
		if s.testAndSet(seq) {
			rep.Dup++
			return
		}
		if seq+1 <= rep.MaxSeq[id] {
			rep.Reorder++
		} else {
			rep.MaxSeq[id] = seq + 1
		}
		rep.Got[id]++
	}

	// Watchdog: a receive call that does not return is a hang. Times are
	// kept on the monotonic clock (time.Since(base)): a wall-clock step
	// is no hang.
	var inCall atomic.Int64
	base := time.Now()
	go func() {
		for {
			time.Sleep(100 * time.Millisecond)
			if t0 := inCall.Load(); t0 != 0 && time.Since(base)-time.Duration(t0) > recvHang {
				fmt.Fprintf(os.Stderr, "receiver: a receive with a 20 ms timeout did not return in %v\n", recvHang)
				os.Exit(3)
			}
		}
	}()
	frames := make([]shmif.Frame, 32)
	for i := range frames {
		frames[i].Buf = make([]byte, maxFrame)
	}
	buf := make([]byte, maxFrame)
	ready()
	recv := func(timeout time.Duration) (int, error) {
		inCall.Store(int64(max(time.Since(base), 1)))
		defer inCall.Store(0)
		rep.Calls++
		if rng.IntN(2) == 0 {
			n, err := ifc.Recv(buf, timeout)
			if err == nil {
				add(buf[:n])
				return 1, nil
			}
			return 0, err
		}
		k, err := ifc.RecvBatch(frames[:1+rng.IntN(len(frames))], timeout)
		for _, f := range frames[:k] {
			add(f.Buf[:f.Len])
		}
		return k, err
	}
	for !stop.Load() {
		_, err := recv(20 * time.Millisecond)
		if errors.Is(err, syscall.ETIMEDOUT) {
			rep.Timeouts++
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("receive: %v (%+v)", err, rep)
		}
	}
	// Told to stop: the writers have stopped. Drain, bounded.
	for i := 0; ; i++ {
		k, err := recv(0)
		rep.Drained += uint64(k)
		if errors.Is(err, syscall.EAGAIN) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("drain: %v", err)
		}
		if i > 4*maxRecords {
			return nil, fmt.Errorf("drain did not end after %d calls (%d frames)", i, rep.Drained)
		}
	}
	st := ifc.Stats()
	rep.Lost, rep.Corrupt = st.Lost, st.Corrupt
	return rep, nil
}

// The stranger. For the padding word it must hit a record header, never
// frame bytes (a stranger can tear any frame by writing into it; that is
// no finding). It learns record offsets by sampling last, which always
// names a record boundary, and tracks how far the writers went since a
// sample: a linear count of bytes, unambiguous while samples are less than
// 20 µs apart (no writer can write a ring of 1 MiB in 20 µs). It aims at
// records between 16 KiB and half a ring behind last, reads the aligned
// 8-byte word that holds the padding word, proves by a fresh sample that
// the writers had not reached the record (libshmif writers copy at most an
// epoch, a quarter ring, beyond the published last), and then changes the
// padding word by compare-and-swap of that 8-byte word: if a writer came
// by in between, the swap fails. Records whose padding word straddles an
// 8-byte boundary are left alone.
const (
	strangerGap    = 20 * time.Microsecond
	strangerMin    = 16 << 10
	strangerMax    = dataSize / 2
	strangerSafety = dataSize - dataSize/4 - 4*(hdrSize+maxFrame)
)

type strangerSample struct {
	off uint32
	lin uint64
}

func stormStranger(path, mode string, rng *rand.Rand, stop *atomic.Bool) (any, error) {
	b, err := mapStormBus(path)
	if err != nil {
		return nil, err
	}
	defer b.close()
	rep := &strangerReport{}
	var (
		win      []strangerSample
		lin      uint64
		prevLast uint32
		prevT    time.Time
	)
	// observe samples last; false when the gap since the previous sample
	// was too long to tell how far the writers went.
	observe := func() bool {
		now := time.Now()
		l := b.last()
		ok := !prevT.IsZero() && now.Sub(prevT) <= strangerGap && l < dataSize
		if ok {
			lin += uint64((l + dataSize - prevLast) % dataSize)
		} else {
			win = win[:0]
			rep.Resyncs++
		}
		prevLast, prevT = l, now
		if l < dataSize && (len(win) == 0 || win[len(win)-1].off != l) {
			if len(win) == 4096 {
				copy(win, win[2048:])
				win = win[:2048]
			}
			win = append(win, strangerSample{l, lin})
		}
		return ok
	}
	ready()
	for !stop.Load() {
		observe()
		doPad := mode == "pad" || mode == "padslow" || (mode == "both" && rng.IntN(2) == 0)
		if !doPad {
			g := b.gen()
			var ng uint64
			switch rng.IntN(5) {
			case 0:
				ng = g + 1
			case 1:
				ng = g - 1
			case 2:
				ng = g + 2 + rng.Uint64N(8)
			case 3:
				ng = g - 2 - rng.Uint64N(8)
			default:
				ng = rng.Uint64()
			}
			b.setGen(ng)
			rep.Gens++
			continue
		}
		// A sample in the half ring behind last.
		var s strangerSample
		found := false
		for try := 0; try < 4 && len(win) > 0; try++ {
			c := win[rng.IntN(len(win))]
			if d := lin - c.lin; d >= strangerMin && d <= strangerMax {
				s, found = c, true
				break
			}
		}
		if !found {
			continue
		}
		h := b.header(s.off)
		if h.Len < minFrame || h.Len > maxFrame {
			continue
		}
		var v uint32
		switch rng.IntN(4) {
		case 0:
			v = rng.Uint32()
		case 1:
			v = h.Pad - 1 - rng.Uint32N(100) // looks already read
		case 2:
			v = h.Pad + 1 + rng.Uint32N(100) // looks newer
		default:
			v = b.header(prevLast).Pad + rng.Uint32N(4) // the newest's number
		}
		// The padding word must lie in one aligned 8-byte word, which is
		// changed by compare-and-swap from what was read while the
		// record was proven intact: if a writer overwrote it since, the
		// swap fails and nothing is written.
		pad := dataOff + int(s.off) + 12
		if int(s.off)+16 > dataSize || pad%8 > 4 {
			continue
		}
		w := b.w64(pad &^ 7)
		old := atomic.LoadUint64(w)
		if !observe() || lin-s.lin >= strangerSafety {
			rep.Suspect++
			continue
		}
		sh := uint(pad%8) * 8
		nw := old&^(uint64(0xffffffff)<<sh) | uint64(v)<<sh
		if atomic.CompareAndSwapUint64(w, old, nw) {
			rep.Pads++
			if mode == "padslow" {
				time.Sleep(time.Millisecond)
			}
		} else {
			rep.Failed++
		}
	}
	return rep, nil
}

// ---------------------------------------------------------------------
// The parent.

type child struct {
	role   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	out    *bufio.Reader
	stderr strings.Builder
	done   chan error
}

func startChild(t *testing.T, role, path string, s uint64, id uint32, mode string) *child {
	t.Helper()
	c := &child{role: fmt.Sprintf("%s%d", role, id), done: make(chan error, 1)}
	c.cmd = exec.Command(os.Args[0])
	c.cmd.Env = append(os.Environ(),
		stormRoleEnv+"="+role, stormBusEnv+"="+path,
		stormSeedEnv+"="+strconv.FormatUint(s, 10),
		stormIDEnv+"="+strconv.FormatUint(uint64(id), 10),
		stormModeEnv+"="+mode)
	c.cmd.Stderr = &c.stderr
	var err error
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	so, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c.out = bufio.NewReader(so)
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if c.cmd.ProcessState == nil {
			c.cmd.Process.Signal(syscall.SIGCONT)
			c.cmd.Process.Kill()
			c.cmd.Wait()
		}
	})
	line, err := c.out.ReadString('\n')
	if line != "ready\n" {
		t.Fatalf("%s did not start: %q %v; stderr: %s", c.role, line, err, c.stderr.String())
	}
	return c
}

// finish tells the child to stop and decodes its report into rep. It
// fails the test if the child does not exit 0 within childExit.
func (c *child) finish(t *testing.T, rep any) bool {
	t.Helper()
	c.stdin.Close()
	type res struct {
		line string
		err  error
	}
	ch := make(chan res, 1)
	go func() {
		line, err := c.out.ReadString('\n')
		io.Copy(io.Discard, c.out)
		ch <- res{line, err}
	}()
	var r res
	select {
	case r = <-ch:
	case <-time.After(childExit):
		// A goroutine dump on stderr; the child exits once it is
		// written (its output then ends), or is killed 10 s on.
		c.cmd.Process.Signal(syscall.SIGCONT)
		c.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
		}
		c.cmd.Process.Kill()
		c.cmd.Wait()
		t.Errorf("%s did not exit within %v of being told to stop (a hang); stderr: %s", c.role, childExit, tail(c.stderr.String()))
		return false
	}
	err := c.cmd.Wait()
	if err != nil {
		t.Errorf("%s exited abnormally: %v; stderr: %s", c.role, err, tail(c.stderr.String()))
		return false
	}
	if err := json.Unmarshal([]byte(r.line), rep); err != nil {
		t.Errorf("%s: bad report %q: %v", c.role, r.line, err)
		return false
	}
	return true
}

func tail(s string) string {
	if len(s) > 4000 {
		return "..." + s[len(s)-4000:]
	}
	return s
}

type stormConfig struct {
	stranger string // "", "pad", "padslow", "gen", "both"
	netbsd   bool   // a NetBSD-order writer as third writer
	dur      time.Duration
}

type stormResult struct {
	sent      map[uint32]uint64
	receivers []receiverReport
	stranger  strangerReport
	ok        bool
}

// totalSent is the frames every writer sent.
func (res stormResult) totalSent() (n uint64) {
	for _, k := range res.sent {
		n += k
	}
	return n
}

// received is the distinct frames the receiver got, of every writer.
func (r receiverReport) received() (n uint64) {
	for _, k := range r.Got {
		n += k
	}
	return n
}

// storm runs one storm and checks the promises every storm shares.
func storm(t *testing.T, cfg stormConfig) stormResult {
	s := seed(t)
	rng := newRand(s)
	path := newBus(t)
	// The bus exists and is initialised before the children attach.
	owner, err := shmif.Open(path, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Destroy()

	var recvs []*child
	for i := uint32(1); i <= 2; i++ {
		recvs = append(recvs, startChild(t, "receiver", path, rng.Uint64(), i, ""))
	}
	var writers []*child
	for i := uint32(1); i <= 2; i++ {
		writers = append(writers, startChild(t, "writer", path, rng.Uint64(), i, ""))
	}
	if cfg.netbsd {
		writers = append(writers, startChild(t, "netbsd", path, rng.Uint64(), netbsdStormID, ""))
	}
	var stranger *child
	if cfg.stranger != "" {
		stranger = startChild(t, "stranger", path, rng.Uint64(), 0, cfg.stranger)
	}

	// Stop and continue the receivers at random.
	var stopping atomic.Bool
	var wg sync.WaitGroup
	var stops atomic.Uint64
	for _, c := range recvs {
		r := newRand(rng.Uint64())
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := c.cmd.Process
			for !stopping.Load() {
				time.Sleep(time.Duration(r.IntN(8001)) * time.Microsecond)
				if p.Signal(syscall.SIGSTOP) != nil {
					return
				}
				stops.Add(1)
				time.Sleep(time.Duration(r.IntN(8001)) * time.Microsecond)
				if p.Signal(syscall.SIGCONT) != nil {
					return
				}
			}
		}()
	}

	time.Sleep(cfg.dur)

	res := stormResult{sent: map[uint32]uint64{}, ok: true}
	for _, c := range writers {
		var w writerReport
		if !c.finish(t, &w) {
			res.ok = false
			continue
		}
		res.sent[w.ID] = w.Sent
		t.Logf("%s: sent %d frames in %d batches", c.role, w.Sent, w.Batches)
	}
	if stranger != nil {
		if !stranger.finish(t, &res.stranger) {
			res.ok = false
		}
		st := res.stranger
		t.Logf("stranger %s: %d padding words, %d gen words rewritten; %d pad writes given up (record not proven intact), %d swaps failed, %d resyncs",
			cfg.stranger, st.Pads, st.Gens, st.Suspect, st.Failed, st.Resyncs)
	}
	stopping.Store(true)
	wg.Wait()
	for _, c := range recvs {
		c.cmd.Process.Signal(syscall.SIGCONT)
	}
	t.Logf("receivers stopped %d times in all", stops.Load())
	for _, c := range recvs {
		var r receiverReport
		if !c.finish(t, &r) {
			res.ok = false
			continue
		}
		res.receivers = append(res.receivers, r)
	}
	if !res.ok {
		t.Logf("rerun with SHMIF_SEED=%d", s)
		return res
	}

	for i, r := range res.receivers {
		var got, sent uint64
		for id, n := range res.sent {
			got += r.Got[id]
			sent += n
		}
		t.Logf("receiver%d: %d of %d frames (%.1f%%), dup %d, reorder %d, foreign %d, lost %d, corrupt %d; %d calls, %d timeouts, %d drained at the end",
			i+1, got, sent, 100*float64(got)/float64(max(sent, 1)), r.Dup, r.Reorder, r.Foreign, r.Lost, r.Corrupt, r.Calls, r.Timeouts, r.Drained)
		if r.Foreign > 0 {
			t.Errorf("receiver%d delivered %d frames that no writer sent whole (torn, invented, or bytes from inside a frame); first: %s",
				i+1, r.Foreign, r.FirstBad)
		}
		for id, n := range r.Got {
			if _, ok := res.sent[id]; !ok {
				t.Errorf("receiver%d: %d frames of writer %d, which did not exist", i+1, n, id)
				continue
			}
			if n > res.sent[id] {
				t.Errorf("receiver%d: %d distinct frames of writer %d, which sent %d", i+1, n, id, res.sent[id])
			}
			if r.MaxSeq[id] > res.sent[id] {
				t.Errorf("receiver%d: frame number %d of writer %d, which sent %d", i+1, r.MaxSeq[id]-1, id, res.sent[id])
			}
		}
	}
	if t.Failed() {
		t.Logf("rerun with SHMIF_SEED=%d", s)
	}
	return res
}

func stormDur() time.Duration { return pick(700*time.Millisecond, 20*time.Second) }

// stressOnly skips a storm in make test, which runs only the gen storm
// (the one check of exact loss under a stranger's gen; the padding-word
// repair has the ring's TestRewrittenNumberIsNoLap): storms take both
// CPUs, and the suites that run beside them slow down as much.
func stressOnly(t *testing.T) {
	t.Helper()
	if !full() {
		t.Skip("run by make stress (SHMIF_STRESS=full)")
	}
}

func dups(res stormResult) (dup, reorder uint64) {
	for _, r := range res.receivers {
		dup += r.Dup
		reorder += r.Reorder
	}
	return
}

// exactLoss checks that each receiver's distinct frames and its Lost
// counter add up to what the writers sent: every frame was either
// delivered or counted lost, and none both.
func exactLoss(t *testing.T, res stormResult) {
	t.Helper()
	if !res.ok {
		return
	}
	sent := res.totalSent()
	for i, r := range res.receivers {
		got := r.received()
		if got+r.Lost != sent {
			t.Errorf("receiver%d: %d received + %d counted lost = %d, but %d were sent (%+d)",
				i+1, got, r.Lost, got+r.Lost, sent, int64(got+r.Lost)-int64(sent))
		}
	}
}

// lossBalance logs, per receiver, received + lost - sent: positive when
// frames were counted lost that were delivered, negative when frames went
// missing uncounted.
func lossBalance(t *testing.T, res stormResult) {
	sent := res.totalSent()
	for i, r := range res.receivers {
		got := r.received()
		t.Logf("receiver%d: received + lost - sent = %+d", i+1, int64(got+r.Lost)-int64(sent))
	}
}

// TestStormBaseline: writers and lapped receivers, no stranger. Beyond
// the shared checks: no frame delivered twice or out of order, and loss
// exact (received + Lost = sent). README promises exact loss for libshmif
// writers ("loss stays exact", docs/protocol.md §9.4); that no duplicate
// appears is this test's reading of §9.6.
func TestStormBaseline(t *testing.T) {
	stressOnly(t)
	res := storm(t, stormConfig{dur: stormDur()})
	if d, o := dups(res); res.ok && (d > 0 || o > 0) {
		t.Errorf("without a stranger: %d frames delivered twice, %d out of order", d, o)
	}
	exactLoss(t, res)
}

// TestStormStrangerPad: a stranger rewrites, without the lock, the
// padding (sequence) word of random records in the half ring behind the
// write position. No frame may be delivered twice or out of order (this
// test's reading of §9.6: the word is not part of a record's identity).
// Lapped receivers delivered 200,000-330,000 frames twice per 2.5 s storm,
// every storm, while a rewritten number in a reader's anchor made it take
// itself for lapped; the loss balance is logged (the numbers that count
// losses are the ones rewritten).
func TestStormStrangerPad(t *testing.T) {
	stressOnly(t)
	noDups(t, storm(t, stormConfig{stranger: "pad", dur: stormDur()}))
}

// TestStormStrangerPadSlow: the same with one padding-word write a
// millisecond (a few writes made 33,000-35,000 duplicates per storm).
func TestStormStrangerPadSlow(t *testing.T) {
	stressOnly(t)
	noDups(t, storm(t, stormConfig{stranger: "padslow", dur: stormDur()}))
}

// noDups fails for every frame a receiver delivered twice.
func noDups(t *testing.T, res stormResult) {
	t.Helper()
	for i, r := range res.receivers {
		if r.Dup > 0 || r.Reorder > 0 {
			t.Errorf("receiver%d: %d frames delivered twice, %d out of order (%d corrupt, %d lost)", i+1, r.Dup, r.Reorder, r.Corrupt, r.Lost)
		}
	}
	lossBalance(t, res)
}

// TestStormStrangerGen: a stranger rewrites gen without the lock. README:
// a stranger's write to gen makes no reader deliver a frame again or count
// frames as lost that were not overwritten. Asserted: no duplicate, and
// received + Lost = sent exactly (§9.4). (The sum fell short by 2,600 to
// 6,300 in about one 2.5 s storm in eight, with Corrupt 1 or 2: a reader
// whose anchor the writers had overwritten up to its very position took
// that for damage and let NetBSD's rule, which reads gen, place it.)
func TestStormStrangerGen(t *testing.T) {
	res := stormGen(t)
	d, o := dups(res)
	if res.ok && d > 0 {
		t.Errorf("a stranger writing gen made readers deliver %d frames again (%d out of order)", d, o)
	}
	t.Logf("gen storm: %d delivered twice, %d out of order", d, o)
	sent := res.totalSent()
	for i, r := range res.receivers {
		got := r.received()
		if got+r.Lost > sent {
			t.Errorf("receiver%d: %d received + %d counted lost > %d sent: a stranger writing gen made it count frames lost that it received",
				i+1, got, r.Lost, sent)
		}
	}
	exactLoss(t, res)
}

func stormGen(t *testing.T) stormResult {
	return storm(t, stormConfig{stranger: "gen", dur: stormDur()})
}

// TestStormStrangerBoth: padding words and gen, interleaved.
func TestStormStrangerBoth(t *testing.T) {
	stressOnly(t)
	res := storm(t, stormConfig{stranger: "both", dur: stormDur()})
	d, o := dups(res)
	t.Logf("both storm: %d frames delivered twice, %d out of order (counted, not asserted)", d, o)
	lossBalance(t, res)
}

// TestStormNetBSDWriter: a NetBSD-order writer (last before the record,
// random padding words) as a third writer, no stranger: the control for
// the next test. Duplicates counted, not asserted (§9.6: on a bus with
// NetBSD writers a number below the newest proves nothing).
func TestStormNetBSDWriter(t *testing.T) {
	stressOnly(t)
	res := storm(t, stormConfig{netbsd: true, dur: pick(2*time.Second, 20*time.Second)})
	d, o := dups(res)
	t.Logf("NetBSD storm: %d frames delivered twice, %d out of order (counted, not asserted)", d, o)
	lossBalance(t, res)
}

// TestStormNetBSDWriterStrangerPad: a NetBSD-order writer as a third
// writer, and the padding-word stranger.
func TestStormNetBSDWriterStrangerPad(t *testing.T) {
	stressOnly(t)
	res := storm(t, stormConfig{stranger: "pad", netbsd: true, dur: stormDur()})
	d, o := dups(res)
	t.Logf("NetBSD + pad storm: %d frames delivered twice, %d out of order (counted, not asserted)", d, o)
	lossBalance(t, res)
}

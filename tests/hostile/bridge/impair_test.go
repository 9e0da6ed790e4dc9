package hostile_test

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/libshmif/libshmif/core/shmif"
)

// The impairment stage seen from outside: a bus-to-bus shmif_bridge with
// -impair and -seed, frames sent on bus a and received on bus b, the
// bridge's counters (SIGUSR1) and its -impair-log.

type impairRun struct {
	br      *proc
	busA    string
	busB    string
	tx      *shmif.Interface
	rx      *collector
	logPath string
	ctlPath string
}

func startImpair(t *testing.T, impair, seed string, withControl bool) *impairRun {
	t.Helper()
	dir := t.TempDir()
	r := &impairRun{busA: filepath.Join(dir, "a"), busB: filepath.Join(dir, "b"), logPath: filepath.Join(dir, "log")}
	r.rx = collect(t, attach(t, r.busB))
	r.tx = attach(t, r.busA)
	args := []string{"-impair", impair, "-seed", seed, "-impair-log", r.logPath}
	if withControl {
		r.ctlPath = filepath.Join(dir, "ctl")
		args = append(args, "-control", r.ctlPath)
	}
	args = append(args, r.busA, "shmif://"+r.busB)
	r.br = startBridge(t, nil, args...)
	return r
}

// sendPaced sends n test frames of stream 40 (size bytes) in batches of
// batch every gap.
func (r *impairRun) sendPaced(t *testing.T, n, size, batch int, gap time.Duration) {
	t.Helper()
	seq := uint64(0)
	for seq < uint64(n) {
		k := batch
		if rem := n - int(seq); rem < k {
			k = rem
		}
		fs := make([][]byte, k)
		for i := range fs {
			fs[i] = makeFrame(40, seq+uint64(i)+1, size)
		}
		if _, err := r.tx.SendBatch(fs); err != nil {
			t.Fatalf("send: %v", err)
		}
		seq += uint64(k)
		time.Sleep(gap)
	}
}

// settle waits until the stage has taken n frames and holds none, and
// returns the counters.
func (r *impairRun) settle(t *testing.T, n uint64) map[string]uint64 {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		m := r.br.counters()
		if (m["impLR.in"]+m["bus.lost"] >= n && m["impLR.queued"] == 0) || time.Now().After(deadline) {
			// Let the receiver drain the bus.
			want := m["impLR.out"]
			r.rx.waitFor(5*time.Second, func(rs []received) bool { return uint64(len(rs)) >= want })
			time.Sleep(50 * time.Millisecond)
			return m
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// logEntry is one line of an -impair-log.
type logEntry struct {
	dir    string
	n      uint64
	at     float64
	length int
	drop   string    // frame-level drop: loss, down, mtu
	copies []logCopy // out, then dup
	raw    string    // the line without times
}

type logCopy struct {
	kind      string // out, dup
	due       float64
	drop      string // limit
	reordered bool
	corrupted int
}

var timeField = regexp.MustCompile(`(at|due)=[0-9.]+`)

func readLog(t *testing.T, path string) []logEntry {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("impair log: %v", err)
	}
	var es []logEntry
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 {
			t.Fatalf("impair log line %q", line)
		}
		e := logEntry{dir: f[0], raw: timeField.ReplaceAllString(line, "$1=T")}
		e.n, _ = strconv.ParseUint(f[1], 10, 64)
		e.at, _ = strconv.ParseFloat(strings.TrimPrefix(f[2], "at="), 64)
		e.length, _ = strconv.Atoi(strings.TrimPrefix(f[3], "len="))
		for _, w := range f[4:] {
			switch {
			case w == "out" || w == "dup":
				e.copies = append(e.copies, logCopy{kind: w})
			case strings.HasPrefix(w, "drop=") && len(e.copies) == 0:
				e.drop = strings.TrimPrefix(w, "drop=")
			case strings.HasPrefix(w, "drop="):
				e.copies[len(e.copies)-1].drop = strings.TrimPrefix(w, "drop=")
			case strings.HasPrefix(w, "due="):
				e.copies[len(e.copies)-1].due, _ = strconv.ParseFloat(strings.TrimPrefix(w, "due="), 64)
			case w == "reordered":
				e.copies[len(e.copies)-1].reordered = true
			case strings.HasPrefix(w, "corrupted="):
				e.copies[len(e.copies)-1].corrupted, _ = strconv.Atoi(strings.TrimPrefix(w, "corrupted="))
			default:
				t.Errorf("impair log: unknown word %q in %q", w, line)
			}
		}
		es = append(es, e)
	}
	return es
}

// lostSet returns the sequence numbers of stream 40 not received.
func lostSet(rs []received, n uint64) []uint64 {
	copies, _ := seqCount(rs, 40)
	var lost []uint64
	for q := uint64(1); q <= n; q++ {
		if copies[q] == 0 {
			lost = append(lost, q)
		}
	}
	return lost
}

// TestImpairLossBinomial: "loss 10%" over 20,000 frames loses a number
// within the 99.9 % interval of the binomial distribution; the frames that
// arrive are exactly the counter's out, each once; and the same seed gives
// the same decisions ("The same seed and the same frames give the same
// decisions", README), so the same frames are lost and the -impair-log
// files are the same but for the times, while another seed differs.
func TestImpairLossBinomial(t *testing.T) {
	const n = 20000
	type result struct {
		lost []uint64
		log  []string
	}
	run := func(seed string) result {
		r := startImpair(t, "LR loss 10%", seed, false)
		r.sendPaced(t, n, 80, 250, 3*time.Millisecond)
		m := r.settle(t, n)
		r.br.stop()
		if m["bus.lost"] != 0 {
			t.Fatalf("the bridge lost %d frames on the bus (too slow a machine?): the decisions cannot be compared", m["bus.lost"])
		}
		in, lost, out := m["impLR.in"], m["impLR.lost"], m["impLR.out"]
		if in != n || in-lost != out {
			t.Errorf("seed %s: in=%d lost=%d out=%d, want in=%d and out=in-lost", seed, in, lost, out, n)
		}
		rs := r.rx.frames()
		copies, damaged := seqCount(rs, 40)
		if damaged != 0 || uint64(len(copies)) != out || uint64(len(rs)) != out {
			t.Errorf("seed %s: receiver saw %d frames (%d distinct, %d damaged), counter out=%d", seed, len(rs), len(copies), damaged, out)
		}
		// 99.9 % two-sided binomial interval, normal approximation.
		mean, sd := 0.1*float64(in), math.Sqrt(float64(in)*0.1*0.9)
		if math.Abs(float64(lost)-mean) > 3.29*sd+1 {
			t.Errorf("seed %s: lost %d of %d, outside %.0f ± %.0f (99.9 %%)", seed, lost, in, mean, 3.29*sd)
		}
		t.Logf("seed %s: lost %d of %d (%.2f %%; 99.9 %% interval %.0f ± %.0f)", seed, lost, in, 100*float64(lost)/float64(in), mean, 3.29*sd)
		var log []string
		for _, e := range readLog(t, r.logPath) {
			log = append(log, e.raw)
		}
		if len(log) != n {
			t.Errorf("seed %s: %d log lines for %d frames", seed, len(log), n)
		}
		return result{lostSet(rs, n), log}
	}
	a, b, c := run("42"), run("42"), run("43")
	if fmt.Sprint(a.lost) != fmt.Sprint(b.lost) {
		t.Errorf("seed 42 twice: different frames lost (%d and %d)", len(a.lost), len(b.lost))
	}
	if strings.Join(a.log, "\n") != strings.Join(b.log, "\n") {
		for i := range a.log {
			if i >= len(b.log) || a.log[i] != b.log[i] {
				t.Errorf("seed 42 twice: logs differ at line %d: %q vs %q", i+1, a.log[i], b.log[min(i, len(b.log)-1)])
				break
			}
		}
	}
	if fmt.Sprint(a.lost) == fmt.Sprint(c.lost) {
		t.Errorf("seeds 42 and 43 lost the same frames")
	}
}

// TestImpairAccounting: delay, reorder, duplicate and corrupt together.
// Per frame, the copies the log says were sent whole are the copies the
// receiver got whole, the corrupted ones arrive damaged, and counters
// equal what receivers saw ("every frame is accounted for, per cause",
// README; "In - Lost - Dropped() + Duplicated = Out + Queued", go doc
// core/impair). Frames that overtake others are ones the log marks
// reordered.
func TestImpairAccounting(t *testing.T) {
	t.Parallel()
	// Two runs with the same seed meet the same fates whatever their timing
	// (shmif_bridge(1), Reproducibility: "only limit and the link state
	// depend on them").
	a := impairAccountingRun(t)
	b := impairAccountingRun(t)
	if len(a) != len(b) {
		t.Fatalf("same seed: %d and %d log lines", len(a), len(b))
	}
	for i := range a {
		if a[i].raw != b[i].raw {
			t.Errorf("same seed, line %d: %q, then %q", i+1, a[i].raw, b[i].raw)
			break
		}
	}
}

func impairAccountingRun(t *testing.T) []logEntry {
	const n = 3000
	r := startImpair(t, "LR delay 20ms 5ms loss 5% reorder 25% duplicate 10% corrupt 5%", "3", false)
	r.sendPaced(t, n, 100, 10, 3*time.Millisecond)
	m := r.settle(t, n)
	r.br.stop()
	log := readLog(t, r.logPath)
	rs := r.rx.frames()

	in, out, dup, cor, reo := m["impLR.in"], m["impLR.out"], m["impLR.duplicated"], m["impLR.corrupted"], m["impLR.reordered"]
	lost := m["impLR.lost"]
	if in != n || out != in-lost+dup || m["impLR.queued"] != 0 {
		t.Errorf("counters in=%d lost=%d out=%d duplicated=%d queued=%d: want in=%d, out=in-lost+duplicated", in, lost, out, dup, m["impLR.queued"], n)
	}
	if uint64(len(rs)) != out {
		t.Errorf("receiver got %d frames, counter out=%d", len(rs), out)
	}
	var bytes uint64
	for _, x := range rs {
		bytes += uint64(len(x.frame))
	}
	if bytes != m["impLR.out.bytes"] {
		t.Errorf("receiver got %d bytes, counter out=%d bytes", bytes, m["impLR.out.bytes"])
	}
	// Per frame: whole copies expected from the log against whole copies seen.
	if uint64(len(log)) != n {
		t.Fatalf("%d log lines for %d frames", len(log), n)
	}
	wantWhole := map[uint64]int{}
	reordered := map[uint64]bool{}
	var logDup, logCor, logReo uint64
	for i, e := range log {
		if e.dir != "LR" || e.n != uint64(i+1) || e.length != 100 {
			t.Fatalf("log line %d: %+v", i+1, e)
		}
		for _, c := range e.copies {
			if c.kind == "dup" {
				logDup++
			}
			if c.drop != "" {
				continue
			}
			if c.corrupted > 0 {
				logCor++
			} else {
				wantWhole[e.n]++
			}
			if c.reordered {
				logReo++
				reordered[e.n] = true
			}
		}
	}
	if logDup != dup || logCor != cor || logReo != reo {
		t.Errorf("log: %d duplicated, %d corrupted, %d reordered; counters %d, %d, %d", logDup, logCor, logReo, dup, cor, reo)
	}
	gotWhole, damaged := seqCount(rs, 40)
	// A flipped bit may hit the ethertype: such a copy is no test frame.
	foreign := 0
	for _, x := range rs {
		if _, _, isTest, _ := checkFrame(x.frame); !isTest {
			foreign++
		}
	}
	if uint64(damaged+foreign) != cor {
		t.Errorf("receiver saw %d damaged frames, counter corrupted=%d", damaged+foreign, cor)
	}
	mismatch := 0
	for q := uint64(1); q <= n; q++ {
		if gotWhole[q] != wantWhole[q] {
			mismatch++
			if mismatch <= 5 {
				t.Errorf("frame %d: %d whole copies arrived, the log says %d", q, gotWhole[q], wantWhole[q])
			}
		}
	}
	// Overtakers: a whole copy that arrived before a copy of an earlier frame.
	var order []uint64
	for _, x := range rs {
		if s, q, _, ok := checkFrame(x.frame); ok && s == 40 {
			order = append(order, q)
		}
	}
	minAfter := uint64(math.MaxUint64)
	early := 0
	for i := len(order) - 1; i >= 0; i-- {
		q := order[i]
		if minAfter < q {
			early++
			if !reordered[q] {
				t.Errorf("frame %d overtook frame %d but is not marked reordered", q, minAfter)
			}
		}
		if q < minAfter {
			minAfter = q
		}
	}
	t.Logf("%d frames: lost=%d out=%d duplicated=%d corrupted=%d reordered=%d; %d overtakers seen, %d damaged copies seen",
		in, lost, out, dup, cor, reo, early, damaged+foreign)
	if reo > 0 && early == 0 {
		t.Errorf("%d copies reordered with a 20 ms delay, none overtook", reo)
	}
	return log
}

// TestImpairRate: "rate 1mbit" serialises 250 frames of 1000 bytes sent at
// once over 249 × 8 ms = 1.992 s (first to last arrival), within ±5 %.
func TestImpairRate(t *testing.T) {
	const n, size = 250, 1000
	r := startImpair(t, "LR rate 1mbit", "1", false)
	r.sendPaced(t, n, size, 50, 0)
	m := r.settle(t, n)
	r.br.stop()
	rs := r.rx.frames()
	if len(rs) != n {
		t.Fatalf("%d of %d frames arrived", len(rs), n)
	}
	span := rs[len(rs)-1].at.Sub(rs[0].at)
	want := time.Duration(n-1) * size * 8 * time.Second / 1e6
	dev := math.Abs(float64(span-want)) / float64(want)
	t.Logf("rate 1mbit: %d frames of %d bytes spread over %v, expected %v (%.2f %% off); delayed=%d",
		n, size, span.Round(time.Millisecond), want, 100*dev, m["impLR.delayed"])
	if dev > 0.05 {
		t.Errorf("frames spread over %v, expected %v ± 5 %%", span, want)
	}
	if m["impLR.out"] != n {
		t.Errorf("out=%d, want %d", m["impLR.out"], n)
	}
}

// TestImpairFlap: "flap LR 400ms 50%" set through the control socket
// while frames flow every 2 ms. Nothing the log drops as down arrives,
// everything else does, the down frames come in runs (one per down phase)
// and make about half.
func TestImpairFlap(t *testing.T) {
	t.Parallel()
	r := startImpair(t, "", "5", true)
	if reply := ctl(t, r.ctlPath, "flap LR 400ms 50%"); reply != "ok\n" {
		t.Fatalf("flap: %q", reply)
	}
	const n = 1000
	r.sendPaced(t, n, 64, 1, 2*time.Millisecond)
	m := r.settle(t, n)
	r.br.stop()
	log := readLog(t, r.logPath)
	copies, damaged := seqCount(r.rx.frames(), 40)
	if damaged != 0 {
		t.Errorf("%d damaged frames", damaged)
	}
	down, runs, passedWhileDown := 0, 0, 0
	prevDown := false
	for _, e := range log {
		isDown := e.drop == "down"
		if isDown {
			down++
			if copies[e.n] != 0 {
				passedWhileDown++
			}
			if !prevDown {
				runs++
			}
		} else if copies[e.n] != 1 {
			t.Errorf("frame %d passed the stage (%q) but arrived %d times", e.n, e.raw, copies[e.n])
		}
		prevDown = isDown
	}
	if passedWhileDown > 0 {
		t.Errorf("%d frames dropped as down arrived anyway", passedWhileDown)
	}
	t.Logf("flap 400ms 50%%: %d of %d frames down in %d runs; counters down=%d out=%d", down, len(log), runs, m["impLR.down"], m["impLR.out"])
	if uint64(down) != m["impLR.down"] || m["impLR.out"]+m["impLR.down"] != m["impLR.in"] {
		t.Errorf("counters down=%d out=%d in=%d, log says %d down", m["impLR.down"], m["impLR.out"], m["impLR.in"], down)
	}
	frac := float64(down) / float64(len(log))
	if frac < 0.3 || frac > 0.7 || runs < 3 {
		t.Errorf("down %.0f %% of frames in %d runs: not a 50 %% schedule of 400 ms", 100*frac, runs)
	}
	_ = sort.Ints
}

// TestImpairLinkDownUpAndScheduledFrames: with the link taken down through
// the control socket nothing passes ("while the link is down ... the frame
// is dropped"); frames already held by a delay when the link goes down, or
// when the delay is removed, are still delivered ("frames held when the
// link goes down are still delivered"; "settings change ... without
// touching frames already scheduled").
func TestImpairLinkDownUpAndScheduledFrames(t *testing.T) {
	t.Parallel()
	r := startImpair(t, "LR delay 400ms", "9", true)
	send := func(from, to uint64) {
		for q := from; q <= to; q++ {
			if err := r.tx.Send(makeFrame(40, q, 80)); err != nil {
				t.Fatal(err)
			}
		}
	}
	// 1..20 are held for 400 ms; the link goes down and the delay goes
	// away while they are held.
	send(1, 20)
	time.Sleep(50 * time.Millisecond)
	if rep := ctl(t, r.ctlPath, "flap LR down"); rep != "ok\n" {
		t.Fatalf("flap LR down: %q", rep)
	}
	if rep := ctl(t, r.ctlPath, "set LR delay 0ms"); rep != "ok\n" {
		t.Fatalf("set: %q", rep)
	}
	send(21, 60) // down: all dropped
	time.Sleep(100 * time.Millisecond)
	if rep := ctl(t, r.ctlPath, "flap LR up"); rep != "ok\n" {
		t.Fatalf("flap LR up: %q", rep)
	}
	send(61, 80) // up, no delay: all pass
	m := r.settle(t, 80)
	r.br.stop()
	copies, damaged := seqCount(r.rx.frames(), 40)
	for q := uint64(1); q <= 80; q++ {
		want := 1
		if q >= 21 && q <= 60 {
			want = 0
		}
		if copies[q] != want || damaged != 0 {
			t.Errorf("frame %d arrived %d times, want %d (damaged %d)", q, copies[q], want, damaged)
		}
	}
	if m["impLR.down"] != 40 || m["impLR.out"] != 40 {
		t.Errorf("counters down=%d out=%d, want 40 and 40", m["impLR.down"], m["impLR.out"])
	}
}

// TestImpairMTU: "mtu 100" drops frames whose payload after the Ethernet
// header is over 100 bytes, counted as mtu, and never truncates; "Frames
// are never truncated" (shmif_bridge(1), Model).
func TestImpairMTU(t *testing.T) {
	t.Parallel()
	r := startImpair(t, "LR mtu 100", "2", false)
	for q := uint64(1); q <= 20; q++ {
		size := 114 // 100 bytes of payload: passes
		if q%2 == 0 {
			size = 115
		}
		if err := r.tx.Send(makeFrame(40, q, size)); err != nil {
			t.Fatal(err)
		}
	}
	m := r.settle(t, 20)
	r.br.stop()
	copies, damaged := seqCount(r.rx.frames(), 40)
	for q := uint64(1); q <= 20; q++ {
		if want := int(q % 2); copies[q] != want {
			t.Errorf("frame %d arrived %d times, want %d", q, copies[q], want)
		}
	}
	if damaged != 0 || m["impLR.mtu"] != 10 || m["impLR.out"] != 10 {
		t.Errorf("damaged %d, counters mtu=%d out=%d; want 0, 10, 10", damaged, m["impLR.mtu"], m["impLR.out"])
	}
}

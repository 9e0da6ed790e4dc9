package hostile_test

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
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
// batch every gap. Every quarter MiB of frames it waits until the stage has
// taken them all: a bridge kept off the CPU for a while (a loaded machine)
// would otherwise fall a ring behind and lose frames on the bus, which
// tests that compare decisions cannot allow.
func (r *impairRun) sendPaced(t *testing.T, n, size, batch int, gap time.Duration) {
	t.Helper()
	window := uint64(max(1, (256<<10)/(size+32)))
	seq, synced := uint64(0), uint64(0)
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
		if seq-synced >= window && seq < uint64(n) {
			r.br.countersWhen(func(m map[string]uint64) bool { return m["impLR.in"]+m["bus.lost"] >= seq })
			synced = seq
		}
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
// once over 249 × 8 ms = 1.992 s (first to last departure), within ±5 %.
// The departures are the times the stage scheduled (the log's due), which
// a loaded machine cannot move; what the receiver sees bounds them from
// below only: no frame leaves before its time, though any may leave late.
func TestImpairRate(t *testing.T) {
	const n, size = 250, 1000
	r := startImpair(t, "LR rate 1mbit", "1", false)
	start := time.Now()
	r.sendPaced(t, n, size, 50, 0)
	m := r.settle(t, n)
	r.br.stop()
	rs := r.rx.frames()
	if len(rs) != n {
		t.Fatalf("%d of %d frames arrived", len(rs), n)
	}
	log := readLog(t, r.logPath)
	if len(log) != n || len(log[0].copies) != 1 || len(log[n-1].copies) != 1 {
		t.Fatalf("%d log lines for %d frames", len(log), n)
	}
	span := time.Duration((log[n-1].copies[0].due - log[0].copies[0].due) * float64(time.Second))
	want := time.Duration(n-1) * size * 8 * time.Second / 1e6
	dev := math.Abs(float64(span-want)) / float64(want)
	last := rs[len(rs)-1].at.Sub(start)
	t.Logf("rate 1mbit: %d frames of %d bytes scheduled over %v, expected %v (%.2f %% off); the last arrived %v after the first was sent; delayed=%d",
		n, size, span.Round(time.Millisecond), want, 100*dev, last.Round(time.Millisecond), m["impLR.delayed"])
	if dev > 0.05 {
		t.Errorf("frames scheduled over %v, expected %v ± 5 %%", span, want)
	}
	if last < want*95/100 {
		t.Errorf("the last frame arrived %v after the first was sent: sooner than %v of 1mbit allows", last, want)
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
	// The schedule itself, on the stage's clock: the link is down in
	// [t0+k·400, t0+k·400+200) ms, from the end of the first up half.
	// The stage's clock is not the test's, so the edge t0 is taken as the
	// arrival of a frame dropped as down right after one that passed,
	// whichever explains the most frames: an arrival can be later than its
	// edge by the gap between frames, or more under load. Every frame from
	// the first such edge less the first up half is judged, except those
	// within 25 ms of an edge.
	var edges []float64
	for k := 1; k < len(log); k++ {
		if log[k].drop == "down" && log[k-1].drop != "down" {
			edges = append(edges, log[k].at)
		}
	}
	misfits := func(t0 float64) (wrong []logEntry) {
		for _, e := range log {
			if len(edges) == 0 || e.at < edges[0]-0.2 {
				continue
			}
			ph := math.Mod(math.Mod(e.at-t0, 0.4)+0.4, 0.4)
			if ph < 0.025 || (ph > 0.175 && ph < 0.225) || ph > 0.375 {
				continue
			}
			if (ph < 0.2) != (e.drop == "down") {
				wrong = append(wrong, e)
			}
		}
		return wrong
	}
	var wrong []logEntry
	t0 := -1.0
	for k, edge := range edges {
		if w := misfits(edge); k == 0 || len(w) < len(wrong) {
			t0, wrong = edge, w
		}
	}
	for k, e := range wrong {
		if k == 3 {
			break
		}
		ph := math.Mod(math.Mod(e.at-t0, 0.4)+0.4, 0.4)
		t.Errorf("frame %d at %.3f s (%.0f ms into a period): %q, not what a 400 ms 50 %% schedule says", e.n, e.at, 1000*ph, e.raw)
	}
	frac := float64(down) / float64(len(log))
	if frac < 0.3 || frac > 0.7 || runs < 3 {
		t.Errorf("down %.0f %% of frames in %d runs: not a 50 %% schedule of 400 ms", 100*frac, runs)
	}
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
	// The stage must hold them before the link goes down.
	r.br.countersWhen(func(m map[string]uint64) bool { return m["impLR.in"] >= 20 })
	if rep := ctl(t, r.ctlPath, "flap LR down"); rep != "ok\n" {
		t.Fatalf("flap LR down: %q", rep)
	}
	if rep := ctl(t, r.ctlPath, "set LR delay 0ms"); rep != "ok\n" {
		t.Fatalf("set: %q", rep)
	}
	send(21, 60) // down: all dropped
	// They must meet the stage before the link comes up again.
	r.br.countersWhen(func(m map[string]uint64) bool { return m["impLR.in"] >= 60 })
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

// TestImpairLostburst: "loss 10% lostburst 5" keeps the loss rate at 10 %
// while losses come in runs of 5 frames on average (go doc core/impair:
// "a Gilbert model with p = P/(L(1-P)), r = 1/L ... which keeps the loss
// rate P"). Bounds are 99.9 % ones for that Markov chain over 20,000
// frames.
func TestImpairLostburst(t *testing.T) {
	t.Parallel()
	const n = 20000
	r := startImpair(t, "LR loss 10% lostburst 5", "11", false)
	r.sendPaced(t, n, 64, 250, 3*time.Millisecond)
	m := r.settle(t, n)
	r.br.stop()
	if m["bus.lost"] != 0 {
		t.Fatalf("the bridge lost %d frames on the bus", m["bus.lost"])
	}
	log := readLog(t, r.logPath)
	lost, runs := 0, 0
	prev := false
	for _, e := range log {
		isLost := e.drop == "loss"
		if isLost {
			lost++
			if !prev {
				runs++
			}
		}
		prev = isLost
	}
	copies, _ := seqCount(r.rx.frames(), 40)
	if uint64(lost) != m["impLR.lost"] || len(copies)+lost != n {
		t.Errorf("log: %d lost; counter %d; %d of %d arrived", lost, m["impLR.lost"], len(copies), n)
	}
	// Two-state chain: p = 0.1/(5*0.9), r = 0.2, lambda = 1-p-r; the
	// variance of the count is n P(1-P)(1+lambda)/(1-lambda).
	p, rr := 0.1/(5*0.9), 0.2
	lambda := 1 - p - rr
	sd := math.Sqrt(n * 0.1 * 0.9 * (1 + lambda) / (1 - lambda))
	meanRun := float64(lost) / float64(runs)
	// A run's length is geometric with mean 1/r = 5, sd sqrt(1-r)/r.
	runSD := math.Sqrt(1-rr) / rr / math.Sqrt(float64(runs))
	t.Logf("lostburst 5: lost %d of %d (%.2f %%, 99.9 %% bound ±%.0f), %d runs of mean length %.2f (99.9 %% bound 5 ± %.2f)",
		lost, n, 100*float64(lost)/n, 3.29*sd, runs, meanRun, 3.29*runSD)
	if math.Abs(float64(lost)-0.1*n) > 3.29*sd {
		t.Errorf("lost %d of %d: outside %.0f ± %.0f", lost, n, 0.1*n, 3.29*sd)
	}
	if math.Abs(meanRun-5) > 3.29*runSD {
		t.Errorf("mean run of losses %.2f, outside 5 ± %.2f", meanRun, 3.29*runSD)
	}
}

// TestImpairDelayDistributions: with frames spaced wider than the spread
// of the delay, nothing bunches, so each frame's due time minus its
// arrival in the log is TIME plus the random part alone. Each shape keeps
// to its documented range (uniform: ±JITTER; normal and paretonormal:
// within ±4 JITTER; pareto: from -2/3 JITTER, TIME + JITTER·(4/3)(U^(-1/3)
// - 3/2), to +4 JITTER) and has mean TIME (all four have a random part of
// mean 0 before the clip at 4 JITTER).
func TestImpairDelayDistributions(t *testing.T) {
	t.Parallel()
	type shape struct {
		name   string
		lo, hi float64 // in units of jitter
	}
	for _, s := range []shape{{"uniform", -1, 1}, {"normal", -4, 4}, {"pareto", -2.0 / 3, 4}, {"paretonormal", -4, 4}} {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			const n = 150
			const delay, jitter = 5e-3, 1e-3
			r := startImpair(t, "LR delay 5ms 1ms distribution "+s.name, "13", false)
			r.sendPaced(t, n, 64, 1, 10*time.Millisecond)
			r.settle(t, n)
			r.br.stop()
			log := readLog(t, r.logPath)
			sum := 0.0
			for _, e := range log {
				if len(e.copies) != 1 {
					t.Fatalf("log line %q", e.raw)
				}
				d := (e.copies[0].due - e.at - delay) / jitter
				if d < s.lo-1e-6 || d > s.hi+1e-6 {
					t.Errorf("frame %d: random part %.3f jitter, outside [%.2f, %.2f]", e.n, d, s.lo, s.hi)
				}
				sum += d
			}
			mean := sum / float64(len(log))
			t.Logf("%s: mean random part %.3f jitter over %d frames", s.name, mean, len(log))
			if math.Abs(mean) > 0.35 || len(log) != n {
				t.Errorf("%s: mean random part %.3f jitter over %d frames; want 0 ± 0.35 over %d", s.name, mean, len(log), n)
			}
		})
	}
}

// TestImpairLimit: "limit 10" with a 300 ms delay and a burst of 100
// frames: 10 are held and delivered, 90 dropped and counted (limit), and
// the counters balance.
func TestImpairLimit(t *testing.T) {
	t.Parallel()
	r := startImpair(t, "LR delay 300ms limit 10", "17", false)
	fs := make([][]byte, 100)
	for i := range fs {
		fs[i] = makeFrame(40, uint64(i+1), 90)
	}
	if _, err := r.tx.SendBatch(fs); err != nil {
		t.Fatal(err)
	}
	m := r.settle(t, 100)
	r.br.stop()
	copies, _ := seqCount(r.rx.frames(), 40)
	t.Logf("limit 10: %d arrived, counters out=%d limit=%d", len(copies), m["impLR.out"], m["impLR.limit"])
	if m["impLR.in"] != 100 || m["impLR.out"]+m["impLR.limit"] != 100 || uint64(len(copies)) != m["impLR.out"] {
		t.Errorf("in=%d out=%d limit=%d, %d arrived", m["impLR.in"], m["impLR.out"], m["impLR.limit"], len(copies))
	}
	if m["impLR.out"] < 10 || m["impLR.out"] > 20 {
		t.Errorf("%d frames passed a limit of 10 held frames in a 300 ms-delay burst", m["impLR.out"])
	}
}

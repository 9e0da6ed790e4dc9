package impair

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libshmif/libshmif/internal/testlib"
)

// z999 is the two-sided 99.9 % quantile of the normal distribution: every
// statistical check below fails by chance once in a thousand seeds, and
// the seeds are fixed, so a test either always passes or always fails.
const z999 = 3.2905

const statFrames = 100_000

// statistical skips a statistical test under the race detector. A Decider
// is used by one goroutine at a time (stage.go serialises it) and these
// tests draw millions of numbers in one goroutine: the race detector finds
// nothing in them and they took most of the package's time under it; make
// test's pass without it runs them.
func statistical(t *testing.T) {
	t.Helper()
	if testlib.Race {
		t.Skip("one goroutine, nothing for the race detector: the pass without it runs this test")
	}
}

// fate is what a Decider did to one frame.
type fate struct {
	at      time.Duration
	size    int
	dues    []time.Duration // one per copy handed on
	flipped []int           // damaged bits, one per copy handed on
}

// drive feeds n frames to a Decider with settings words and seed; frame i
// arrives at arrive(i) with size(i) bytes, filled with a pattern.
func drive(t testing.TB, seed uint64, words string, n int, arrive func(int) time.Duration, size func(int) int) (*Decider, []fate) {
	t.Helper()
	s, err := ParseSettings(words)
	if err != nil {
		t.Fatalf("ParseSettings(%q): %v", words, err)
	}
	d, err := NewDecider(LR, seed, s)
	if err != nil {
		t.Fatal(err)
	}
	fates := make([]fate, n)
	for i := range n {
		frame := pattern(i, size(i))
		f := fate{at: arrive(i), size: len(frame)}
		for _, o := range d.Decide(frame, f.at) {
			f.dues = append(f.dues, o.Due)
			f.flipped = append(f.flipped, diffBits(frame, o.Frame))
			d.Recycle(o.Frame)
		}
		fates[i] = f
	}
	return d, fates
}

// patternBytes are the contents of test frames: frame i of n bytes is a
// slice of them that depends on i.
var patternBytes = func() []byte {
	b := make([]byte, 1<<17)
	r := rand.NewPCG(1, 2)
	for i := 0; i < len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], r.Uint64())
	}
	return b
}()

func pattern(i, n int) []byte {
	off := (i * 131) % (1 << 16)
	return patternBytes[off : off+n : off+n]
}

func diffBits(a, b []byte) int {
	if len(a) != len(b) {
		return -1
	}
	if bytes.Equal(a, b) {
		return 0
	}
	n, i := 0, 0
	for ; i+8 <= len(a); i += 8 {
		n += bits.OnesCount64(binary.LittleEndian.Uint64(a[i:]) ^ binary.LittleEndian.Uint64(b[i:]))
	}
	for ; i < len(a); i++ {
		n += bits.OnesCount8(a[i] ^ b[i])
	}
	return n
}

func every(gap time.Duration) func(int) time.Duration {
	return func(i int) time.Duration { return time.Duration(i) * gap }
}

func fixed(n int) func(int) int { return func(int) int { return n } }

// checkInterval fails unless x lies within mean ± z999·sd.
func checkInterval(t *testing.T, what string, x, mean, sd float64) {
	t.Helper()
	lo, hi := mean-z999*sd, mean+z999*sd
	if x < lo || x > hi {
		t.Errorf("%s = %.6g, want within [%.6g, %.6g] (mean %.6g, sd %.6g)", what, x, lo, hi, mean, sd)
	} else {
		t.Logf("%s = %.6g within [%.6g, %.6g]", what, x, lo, hi)
	}
}

// checkInvariant checks In - Lost - Dropped + Duplicated = Out + Queued.
func checkInvariant(t *testing.T, c Counters) {
	t.Helper()
	for _, f := range []func(Count) uint64{
		func(c Count) uint64 { return c.Frames },
		func(c Count) uint64 { return c.Bytes },
	} {
		left := f(c.In) - f(c.Lost) - f(c.Dropped()) + f(c.Duplicated)
		if right := f(c.Out) + f(c.Queued); left != right {
			t.Errorf("in - lost - dropped + duplicated = %d, out + queued = %d\n%+v", left, right, c)
		}
	}
}

func lostFlags(fates []fate) []bool {
	lost := make([]bool, len(fates))
	for i, f := range fates {
		lost[i] = len(f.dues) == 0
	}
	return lost
}

// runs returns the lengths of the runs of true.
func runs(flags []bool) []int {
	var r []int
	n := 0
	for _, f := range flags {
		if f {
			n++
		} else if n > 0 {
			r = append(r, n)
			n = 0
		}
	}
	if n > 0 {
		r = append(r, n)
	}
	return r
}

func TestLossRandom(t *testing.T) {
	statistical(t)
	for _, tc := range []struct {
		words   string
		p, corr float64
	}{
		{"loss 5%", 0.05, 0},
		{"loss random 1.5%", 0.015, 0},
		{"loss 20% 50%", 0.2, 0.5},
	} {
		t.Run(tc.words, func(t *testing.T) {
			d, fates := drive(t, 1, tc.words, statFrames, every(time.Millisecond), fixed(60))
			n := float64(statFrames)
			c := d.Counters()
			// Correlation C repeats the previous draw with probability
			// C: successive decisions correlate with C^k at lag k, which
			// widens the variance of the count by (1+C)/(1-C).
			inflate := (1 + tc.corr) / (1 - tc.corr)
			checkInterval(t, "lost frames", float64(c.Lost.Frames), n*tc.p, math.Sqrt(n*tc.p*(1-tc.p)*inflate))
			if tc.corr > 0 {
				// P(lost | previous lost) = C + (1-C)·P.
				lost := lostFlags(fates)
				var pairs, both float64
				for i := 1; i < len(lost); i++ {
					if lost[i-1] {
						pairs++
						if lost[i] {
							both++
						}
					}
				}
				q := tc.corr + (1-tc.corr)*tc.p
				checkInterval(t, "P(lost | previous lost)", both/pairs, q, math.Sqrt(q*(1-q)/pairs*inflate))
			}
			checkInvariant(t, c)
		})
	}
}

// geLossRate returns the stationary loss rate of a Gilbert-Elliott model
// and the variance of one frame's contribution to the mean over many
// frames (the asymptotic variance of a two-state Markov chain plus the
// independent loss within each state).
func geLossRate(p, r, bad, good float64) (rate, variance float64) {
	piB := p / (p + r)
	piG := 1 - piB
	rate = piG*good + piB*bad
	lambda := 1 - p - r // second eigenvalue of the chain
	variance = piG*good*(1-good) + piB*bad*(1-bad) +
		piG*piB*(bad-good)*(bad-good)*(1+lambda)/(1-lambda)
	return rate, variance
}

func TestLossGilbertElliott(t *testing.T) {
	statistical(t)
	for _, tc := range []struct {
		words          string
		p, r, bad, gd  float64
		burstGeometric bool // bad loses all, good none: runs of loss are the bad sojourns
	}{
		{"loss gemodel 1% 30%", 0.01, 0.30, 1, 0, true},
		{"loss gemodel 5%", 0.05, 0.95, 1, 0, true}, // netem's defaults: Bernoulli
		{"loss gemodel 2% 20% 70% 1%", 0.02, 0.20, 0.70, 0.01, false},
		{"loss gemodel 3% 25% 90%", 0.03, 0.25, 0.90, 0, false},
		// wirefilter: loss P lostburst L is Gilbert with p = P/(L(1-P)), r = 1/L.
		{"loss 10% lostburst 4", 0.1 / (4 * 0.9), 0.25, 1, 0, true},
		{"lostburst 2.5 loss 3%", 0.03 / (2.5 * 0.97), 0.4, 1, 0, true},
	} {
		t.Run(tc.words, func(t *testing.T) {
			d, fates := drive(t, 2, tc.words, statFrames, every(time.Millisecond), fixed(60))
			n := float64(statFrames)
			rate, v := geLossRate(tc.p, tc.r, tc.bad, tc.gd)
			checkInterval(t, "loss rate", float64(d.Counters().Lost.Frames)/n, rate, math.Sqrt(v/n))
			if tc.burstGeometric {
				// A run of losses lasts 1/r frames on average, with
				// the geometric variance (1-r)/r².
				rs := runs(lostFlags(fates))
				var sum float64
				for _, x := range rs {
					sum += float64(x)
				}
				b := float64(len(rs))
				checkInterval(t, "mean burst length", sum/b, 1/tc.r, math.Sqrt((1-tc.r)/(tc.r*tc.r)/b))
			}
		})
	}
}

// Quantile functions of the delay model, written from netem's table
// generators (iproute2 netem/normal.c, pareto.c, paretonormal.c): the
// delay is TIME + t·JITTER with t limited to [-4, 32767/8192].
func modelQuantile(dist Distribution, q float64) float64 {
	clip := func(t float64) float64 { return math.Max(-4, math.Min(t, 32767.0/8192)) }
	normal := math.Sqrt2 * math.Erfinv(2*q-1)
	pareto := math.Min((1/math.Cbrt(1-q)-1.5)*4/3, 32767.0/8192)
	switch dist {
	case Uniform:
		return 2*q - 1
	case Normal:
		return clip(normal)
	case Pareto:
		return clip(pareto)
	case ParetoNormal:
		return clip((normal + 3*pareto) / 4)
	}
	panic("unknown distribution")
}

func TestDelayDistributions(t *testing.T) {
	statistical(t)
	const mu, sigma = 100 * time.Millisecond, 10 * time.Millisecond
	for _, tc := range []struct {
		dist Distribution
		corr float64
	}{
		{Uniform, 0}, {Normal, 0}, {Pareto, 0}, {ParetoNormal, 0}, {Normal, 0.5},
	} {
		words := "delay 100ms 10ms " + percent(tc.corr) + " distribution " + tc.dist.String()
		t.Run(words, func(t *testing.T) {
			// Arrivals 1 s apart: no frame waits behind another, so
			// each delay is the drawn one.
			_, fates := drive(t, 3, words, statFrames, every(time.Second), fixed(60))
			delays := make([]float64, len(fates))
			for i, f := range fates {
				delays[i] = float64(f.dues[0] - f.at)
			}
			slices.Sort(delays)
			n := float64(len(delays))
			inflate := (1 + tc.corr) / (1 - tc.corr)
			for _, q := range []float64{0.5, 0.99} {
				// The sample q-quantile lies between the model's
				// quantiles at q ± z·sd of a binomial proportion.
				got := delays[int(math.Ceil(q*n))-1]
				dq := z999 * math.Sqrt(q*(1-q)/n*inflate)
				lo := float64(mu) + float64(sigma)*modelQuantile(tc.dist, q-dq) - 1
				hi := float64(mu) + float64(sigma)*modelQuantile(tc.dist, q+dq) + 1
				if got < lo || got > hi {
					t.Errorf("p%v = %v, want within [%v, %v]", q*100, time.Duration(got), time.Duration(lo), time.Duration(hi))
				} else {
					t.Logf("p%v = %v within [%v, %v]", q*100, time.Duration(got), time.Duration(lo), time.Duration(hi))
				}
			}
		})
	}
}

func TestDelayKeepsOrder(t *testing.T) {
	// A jitter far wider than the gap between frames: without the order
	// rule most frames would overtake each other.
	d, fates := drive(t, 4, "delay 10ms 5ms distribution normal", 10_000, every(100*time.Microsecond), fixed(60))
	var prev time.Duration
	for i, f := range fates {
		if len(f.dues) != 1 || f.dues[0] < prev || f.dues[0] < f.at {
			t.Fatalf("frame %d: at %v due %v after a frame due %v", i+1, f.at, f.dues, prev)
		}
		prev = f.dues[0]
	}
	if c := d.Counters(); c.Delayed.Frames != 10_000 || c.Reordered.Frames != 0 {
		t.Errorf("counters %+v", c)
	}
}

func TestReorder(t *testing.T) {
	statistical(t)
	t.Run("every fifth", func(t *testing.T) {
		// netem: "reorder 100% gap 5" sends every 5th frame at once.
		d, fates := drive(t, 5, "delay 10ms reorder 100% gap 5", 1000, every(time.Millisecond), fixed(60))
		for i, f := range fates {
			want := f.at + 10*time.Millisecond
			if (i+1)%5 == 0 {
				want = f.at
			}
			if len(f.dues) != 1 || f.dues[0] != want {
				t.Fatalf("frame %d at %v: due %v, want %v", i+1, f.at, f.dues, want)
			}
		}
		if c := d.Counters(); c.Reordered.Frames != 200 || c.Delayed.Frames != 800 {
			t.Errorf("reordered %d delayed %d, want 200 and 800", c.Reordered.Frames, c.Delayed.Frames)
		}
	})
	for _, tc := range []struct {
		words   string
		p, corr float64
		gap     float64
	}{
		{"delay 10ms reorder 25%", 0.25, 0, 1},
		{"delay 10ms reorder 25% 50%", 0.25, 0.5, 1},
		{"delay 10ms reorder 25% gap 3", 0.25, 0, 3},
	} {
		t.Run(tc.words, func(t *testing.T) {
			d, fates := drive(t, 6, tc.words, statFrames, every(time.Millisecond), fixed(60))
			n := float64(statFrames)
			var mean, sd float64
			if tc.gap == 1 {
				mean = n * tc.p
				sd = math.Sqrt(n * tc.p * (1 - tc.p) * (1 + tc.corr) / (1 - tc.corr))
			} else {
				// A renewal process: a cycle is gap-1 frames plus a
				// geometric number of tries; the count over n frames has
				// mean n/μ and variance n·σ²/μ³.
				mu := tc.gap - 1 + 1/tc.p
				v := (1 - tc.p) / (tc.p * tc.p)
				mean, sd = n/mu, math.Sqrt(n*v/(mu*mu*mu))
			}
			c := d.Counters()
			checkInterval(t, "reordered", float64(c.Reordered.Frames), mean, sd)
			var early uint64
			for _, f := range fates {
				if f.dues[0] == f.at {
					early++
				}
			}
			if early != c.Reordered.Frames || c.Reordered.Frames+c.Delayed.Frames != statFrames {
				t.Errorf("%d frames sent at once, counters %+v", early, c)
			}
		})
	}
}

func TestDuplicate(t *testing.T) {
	d, fates := drive(t, 7, "duplicate 3% delay 1ms", statFrames, every(time.Millisecond), fixed(100))
	c := d.Counters()
	n := float64(statFrames)
	checkInterval(t, "duplicated", float64(c.Duplicated.Frames), n*0.03, math.Sqrt(n*0.03*0.97))
	var copies uint64
	for _, f := range fates {
		copies += uint64(len(f.dues))
		for _, b := range f.flipped {
			if b != 0 {
				t.Fatal("a copy differs from its frame")
			}
		}
	}
	if copies != statFrames+c.Duplicated.Frames || c.Out.Frames != copies {
		t.Errorf("%d copies, counters %+v", copies, c)
	}
	checkInvariant(t, c)
}

func TestCorrupt(t *testing.T) {
	d, fates := drive(t, 8, "corrupt 2%", statFrames, every(time.Millisecond), func(i int) int { return 14 + i%1501 })
	c := d.Counters()
	n := float64(statFrames)
	checkInterval(t, "corrupted", float64(c.Corrupted.Frames), n*0.02, math.Sqrt(n*0.02*0.98))
	var damaged uint64
	for i, f := range fates {
		switch f.flipped[0] {
		case 0:
		case 1:
			damaged++
		default:
			t.Fatalf("frame %d: %d bits damaged, want 0 or 1", i+1, f.flipped[0])
		}
	}
	if damaged != c.Corrupted.Frames {
		t.Errorf("%d frames damaged, counter %d", damaged, c.Corrupted.Frames)
	}
}

func TestNoise(t *testing.T) {
	statistical(t)
	// noise N damages each bit with probability N/(8·2^20).
	const noise = 2000
	d, fates := drive(t, 9, "noise 2000", statFrames, every(time.Millisecond), fixed(1000))
	var bitsDamaged, framesDamaged float64
	for _, f := range fates {
		bitsDamaged += float64(f.flipped[0])
		if f.flipped[0] > 0 {
			framesDamaged++
		}
	}
	ber := noise / float64(8<<20)
	nbits := 8 * 1000 * float64(statFrames)
	checkInterval(t, "damaged bits", bitsDamaged, nbits*ber, math.Sqrt(nbits*ber*(1-ber)))
	pFrame := 1 - math.Pow(1-ber, 8000)
	checkInterval(t, "damaged frames", framesDamaged, statFrames*pFrame, math.Sqrt(statFrames*pFrame*(1-pFrame)))
	if c := d.Counters(); float64(c.Corrupted.Frames) != framesDamaged {
		t.Errorf("corrupted counter %d, %v frames damaged", c.Corrupted.Frames, framesDamaged)
	}
}

func TestRate(t *testing.T) {
	statistical(t)
	for _, tc := range []struct {
		words    string
		bits     float64
		overhead int
	}{
		{"rate 10mbit 24", 10e6, 24},
		{"rate 1gbit", 1e9, 0},
		{"rate 100kbps -4", 800e3, -4},
	} {
		t.Run(tc.words, func(t *testing.T) {
			// Frames offered 10 times faster than the rate keep the link
			// busy from the last time a frame found it idle to the last
			// due time.
			size := func(i int) int { return 60 + (i*7919)%1455 }
			var mean float64
			for i := range statFrames {
				mean += float64(8*(size(i)+tc.overhead)) / statFrames
			}
			gap := time.Duration(mean / tc.bits / 10 * float64(time.Second))
			d, fates := drive(t, 10, tc.words, statFrames, every(gap), size)
			var prev time.Duration
			var sent float64
			var start time.Duration
			for i, f := range fates {
				if f.dues[0] < prev {
					t.Fatalf("frame %d due %v before the previous one at %v", i+1, f.dues[0], prev)
				}
				if f.at >= prev {
					start, sent = f.at, 0
				}
				sent += float64(8 * (f.size + tc.overhead))
				prev = f.dues[0]
			}
			got := sent / (prev - start).Seconds()
			if math.Abs(got/tc.bits-1) > 0.05 {
				t.Errorf("rate %.6g bit/s, want %.6g ± 5%%", got, tc.bits)
			}
			t.Logf("rate %.9g bit/s for %.9g configured (%d frames)", got, tc.bits, d.Counters().Out.Frames)
		})
	}
}

func TestLimit(t *testing.T) {
	for _, words := range []string{"delay 10ms limit 50", "rate 1mbit limit 20", "delay 5ms 5ms duplicate 20% limit 30"} {
		t.Run(words, func(t *testing.T) {
			limit := 50
			if strings.Contains(words, "limit 20") {
				limit = 20
			} else if strings.Contains(words, "limit 30") {
				limit = 30
			}
			s, _ := ParseSettings(words)
			d, _ := NewDecider(LR, 11, s)
			var log bytes.Buffer
			d.SetLog(&log)
			var held []time.Duration // due times of queued copies, found independently
			var dropped uint64
			frame := make([]byte, 500)
			for i := range 20_000 {
				at := time.Duration(i) * 100 * time.Microsecond
				held = slices.DeleteFunc(held, func(due time.Duration) bool { return due <= at })
				before := len(held)
				outs := d.Decide(frame, at)
				for _, o := range outs {
					if o.Due > at {
						held = append(held, o.Due)
					}
				}
				line := log.String()
				log.Reset()
				n := strings.Count(line, "drop=limit")
				dropped += uint64(n)
				if n > 0 && before+len(outs) != limit {
					t.Fatalf("frame %d dropped with %d held: %s", i+1, before, line)
				}
				if len(held) > limit {
					t.Fatalf("frame %d: %d held, limit %d", i+1, len(held), limit)
				}
			}
			c := d.Counters()
			if dropped == 0 || c.DroppedLimit.Frames != dropped {
				t.Errorf("log shows %d drops, counter %d", dropped, c.DroppedLimit.Frames)
			}
			checkInvariant(t, c)
		})
	}
}

func TestMTU(t *testing.T) {
	d, fates := drive(t, 12, "mtu 1000", 3000, every(time.Millisecond), func(i int) int { return i % 1515 })
	var want uint64
	for i, f := range fates {
		drop := f.size-14 > 1000
		if drop {
			want++
		}
		if drop != (len(f.dues) == 0) {
			t.Fatalf("frame %d of %d bytes: %d copies", i+1, f.size, len(f.dues))
		}
	}
	if c := d.Counters(); c.DroppedMTU.Frames != want {
		t.Errorf("DroppedMTU %d, want %d", c.DroppedMTU.Frames, want)
	}
}

func TestFlapSchedule(t *testing.T) {
	s, _ := ParseSettings("flap 100ms 70%")
	d, _ := NewDecider(LR, 13, s)
	frame := make([]byte, 60)
	ms := time.Millisecond
	down, _ := ParseSettings("down flap 100ms 70%")
	moved, _ := ParseSettings("flap 50ms 50%")
	var wantDown uint64
	for i := range 1000 {
		at := time.Duration(i) * ms
		switch at {
		case 300 * ms:
			d.SetSettings(down, at) // down now; the schedule stays
		case 400 * ms:
			d.SetSettings(s, at) // up again, on the same schedule
		case 605 * ms:
			d.SetSettings(moved, at) // a new schedule starts now
		}
		var up bool
		switch {
		case at < 300*ms || (at >= 400*ms && at < 605*ms):
			up = at%(100*ms) < 70*ms
		case at < 400*ms:
			up = false
		default:
			up = (at-605*ms)%(50*ms) < 25*ms
		}
		passed := len(d.Decide(frame, at)) == 1
		if passed != up {
			t.Fatalf("frame at %v passed=%v, want %v", at, passed, up)
		}
		if !up {
			wantDown++
		}
	}
	if c := d.Counters(); c.DroppedDown.Frames != wantDown {
		t.Errorf("DroppedDown %d, want %d", c.DroppedDown.Frames, wantDown)
	}
}

const mixed = "loss 3% 20% delay 5ms 2ms 10% distribution paretonormal duplicate 2% " +
	"corrupt 1% noise 100 reorder 5% gap 2 rate 100mbit 20 limit 200 mtu 1400"

func decisionLog(t *testing.T, seed uint64, words string, n int) (string, uint64) {
	t.Helper()
	s, err := ParseSettings(words)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := NewDecider(LR, seed, s)
	var log bytes.Buffer
	d.SetLog(&log)
	for i := range n {
		for _, o := range d.Decide(pattern(i, 60+i%1455), time.Duration(i)*50*time.Microsecond) {
			d.Recycle(o.Frame)
		}
	}
	checkInvariant(t, d.Counters())
	return log.String(), d.rnd.draws
}

func TestSameSeedSameDecisions(t *testing.T) {
	statistical(t)
	a, _ := decisionLog(t, 42, mixed, statFrames)
	b, _ := decisionLog(t, 42, mixed, statFrames)
	c, _ := decisionLog(t, 43, mixed, statFrames)
	if a != b {
		t.Error("the same seed gave different decision logs")
	}
	if a == c {
		t.Error("different seeds gave the same decision log")
	}
	if n := strings.Count(a, "\n"); n != statFrames {
		t.Errorf("%d log lines for %d frames", n, statFrames)
	}
	t.Logf("log of %d bytes; first line %q", len(a), a[:strings.IndexByte(a, '\n')])
}

func TestZeroDrawsNothing(t *testing.T) {
	statistical(t)
	// Probabilities of 0, whatever their correlation, draw nothing.
	log, draws := decisionLog(t, 1, "loss 0 25% duplicate 0 50% corrupt 0 100% reorder 0 gap 5 noise 0 delay 10ms 0ms 75%", 10_000)
	plain, _ := decisionLog(t, 1, "delay 10ms", 10_000)
	if draws != 0 || log != plain {
		t.Errorf("zero settings drew %d values; logs equal: %v", draws, log == plain)
	}
	if _, draws := decisionLog(t, 1, "loss gemodel 0", 10_000); draws != 0 {
		t.Errorf("loss gemodel 0 drew %d values", draws)
	}
	// Added to settings that do draw, they change neither the decisions
	// nor the random stream.
	base := "loss 5% delay 10ms 2ms distribution normal duplicate 1%"
	a, da := decisionLog(t, 1, base, statFrames)
	b, db := decisionLog(t, 1, base+" corrupt 0 75% reorder 0 50% gap 3 noise 0", statFrames)
	if a != b || da != db {
		t.Errorf("adding zero settings changed the log (%v) or the draws (%d, %d)", a != b, da, db)
	}
	if da == 0 {
		t.Error("the base settings drew nothing")
	}
}

func TestCountersMatchOutputs(t *testing.T) {
	statistical(t)
	d, fates := drive(t, 14, mixed, statFrames, every(50*time.Microsecond), func(i int) int { return 60 + i%1455 })
	var frames, bytes, lost uint64
	for _, f := range fates {
		frames += uint64(len(f.dues))
		bytes += uint64(len(f.dues) * f.size)
		if len(f.dues) == 0 {
			lost++
		}
	}
	c := d.Counters()
	if c.Out.Frames != frames || c.Out.Bytes != bytes {
		t.Errorf("Out %+v, outputs %d frames %d bytes", c.Out, frames, bytes)
	}
	checkInvariant(t, c)
	t.Logf("%+v", c)
}

func TestDeciderRefusesBoth(t *testing.T) {
	if _, err := NewDecider(Both, 1, Settings{}); err == nil {
		t.Error("NewDecider(Both) worked")
	}
	if _, err := NewDecider(LR, 1, Settings{Loss: Loss{P: 2}}); err == nil {
		t.Error("NewDecider with loss 200% worked")
	}
}

func TestArrivalsNeverGoBack(t *testing.T) {
	d, _ := NewDecider(LR, 1, Settings{Delay: Delay{Time: time.Millisecond}})
	d.Decide(nil, 10*time.Millisecond)
	if o := d.Decide(nil, 5*time.Millisecond); o[0].Due != 11*time.Millisecond {
		t.Errorf("an arrival before the previous one is due at %v, want 11ms", o[0].Due)
	}
}

package impair

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Dir names a direction through a bridge as VDE's wirefilter does: the left
// side is the bridge's bus, the right side its other endpoint.
type Dir uint8

const (
	LR Dir = 1 << iota // left to right: from the bus to the endpoint
	RL                 // right to left: from the endpoint to the bus

	Both = LR | RL // a setting or a query for both directions
)

// String returns "LR", "RL" or "both".
func (d Dir) String() string {
	switch d {
	case LR:
		return "LR"
	case RL:
		return "RL"
	case Both:
		return "both"
	}
	return "Dir(" + strconv.Itoa(int(d)) + ")"
}

// one reports whether d names exactly one direction.
func (d Dir) one() bool { return d == LR || d == RL }

// index is 0 for LR and 1 for RL.
func (d Dir) index() int { return int(d >> 1) }

// dirs lists the single directions that d covers, LR first.
func (d Dir) dirs() []Dir {
	switch d {
	case LR:
		return []Dir{LR}
	case RL:
		return []Dir{RL}
	case Both:
		return []Dir{LR, RL}
	}
	return nil
}

// ParseDir reads "LR", "RL" or "both" (in any case).
func ParseDir(word string) (Dir, error) {
	switch strings.ToLower(word) {
	case "lr":
		return LR, nil
	case "rl":
		return RL, nil
	case "both":
		return Both, nil
	}
	return 0, errorf("%q is not a direction (LR, RL or both)", word)
}

// Settings describe the impairment of one direction. The zero value changes
// nothing. Each field names the words that set it (see the package comment);
// probabilities and correlations are fractions in [0, 1].
type Settings struct {
	Loss      Loss
	Delay     Delay
	Duplicate Chance  // duplicate P [C] (also dup): one extra copy
	Corrupt   Chance  // corrupt P [C]: one bit flipped in the copy
	Noise     float64 // noise N: damaged bits per MiB of frames, on average
	Reorder   Chance  // reorder P [C]: the copy skips the queue
	Gap       int     // gap N: reorder at most one frame in N (0 and 1: any)
	Rate      Rate
	Limit     int  // limit N: frames held at once; the next are dropped (0: no limit)
	MTU       int  // mtu N: bytes after the 14-byte Ethernet header (0: no limit)
	Down      bool // down, up: the link is down and drops every frame
	Flap      Flap
}

// Chance is a probability with netem's optional correlation.
type Chance struct {
	P    float64 // probability, 0..1
	Corr float64 // correlation with the previous decision, 0..1
}

// Loss chooses which frames are lost. Either P (with Corr or Burst) or GE
// is used, never both.
type Loss struct {
	P     float64        // loss P [C]: probability that a frame is lost
	Corr  float64        // loss P C: correlation
	Burst float64        // lostburst L: mean length of a run of lost frames (0: independent)
	GE    GilbertElliott // loss gemodel p [r [1-h [1-k]]], used when not zero
}

// GilbertElliott is netem's two-state loss model: a frame is lost with
// probability Bad in the bad state and Good in the good state; after each
// frame the state changes with probability P (good to bad) or R (bad to
// good). The words fill netem's defaults: R = 1-P, Bad = 1, Good = 0.
type GilbertElliott struct {
	P    float64 // p: good to bad
	R    float64 // r: bad to good
	Bad  float64 // 1-h: loss probability in the bad state
	Good float64 // 1-k: loss probability in the good state
}

// Delay holds frames for Time plus a random jitter.
type Delay struct {
	Time   time.Duration // delay TIME
	Jitter time.Duration // delay TIME JITTER: scale of the random part
	Corr   float64       // delay TIME JITTER C: correlation
	Dist   Distribution  // distribution NAME: shape of the random part
}

// Distribution is the shape of a delay's random part, as netem's tables.
type Distribution uint8

const (
	Uniform      Distribution = iota // TIME ± JITTER, flat
	Normal                           // JITTER is the standard deviation
	Pareto                           // heavy tail, alpha 3
	ParetoNormal                     // a quarter normal, three quarters pareto
)

var distNames = [...]string{"uniform", "normal", "pareto", "paretonormal"}

// String returns the word of the distribution.
func (d Distribution) String() string {
	if int(d) < len(distNames) {
		return distNames[d]
	}
	return "Distribution(" + strconv.Itoa(int(d)) + ")"
}

// Rate serialises frames at a bandwidth, as netem's rate.
type Rate struct {
	Bits     uint64 // rate RATE: bits per second (0: no limit)
	Overhead int    // rate RATE OVERHEAD: bytes added to (or, negative, taken from) each frame
}

// Flap takes the link down and up on a schedule that starts when it is set:
// in each Period the link is up for the fraction Duty of it, then down.
type Flap struct {
	Period time.Duration // flap PERIOD DUTY (0: no schedule)
	Duty   float64       // fraction of each period the link is up, 0..1
}

// errorf makes the error of a refused setting or command: its text says
// what was wrong, and it unwraps to unix.EINVAL.
func errorf(format string, args ...any) error {
	return &settingError{fmt.Sprintf(format, args...)}
}

type settingError struct{ msg string }

func (e *settingError) Error() string { return e.msg }
func (e *settingError) Unwrap() error { return unix.EINVAL }

// maxNoise is a bit error rate of one: every bit damaged.
const maxNoise = 8 << 20

// Validate reports the first field out of its range or settings that
// cannot go together. Its errors unwrap to unix.EINVAL.
func (s Settings) Validate() error {
	l := s.Loss
	if err := checkChance("loss", Chance{l.P, l.Corr}); err != nil {
		return err
	}
	if err := checkChance("duplicate", s.Duplicate); err != nil {
		return err
	}
	if err := checkChance("corrupt", s.Corrupt); err != nil {
		return err
	}
	if err := checkChance("reorder", s.Reorder); err != nil {
		return err
	}
	for _, p := range []float64{l.GE.P, l.GE.R, l.GE.Bad, l.GE.Good, s.Delay.Corr, s.Flap.Duty} {
		if !isFraction(p) {
			return errorf("%v is not a fraction between 0 and 1", p)
		}
	}
	if l.GE != (GilbertElliott{}) && (l.P != 0 || l.Corr != 0 || l.Burst != 0) {
		return errorf("loss gemodel excludes loss P and lostburst")
	}
	if math.IsNaN(l.Burst) || math.IsInf(l.Burst, 0) || l.Burst < 0 || (l.Burst > 0 && l.Burst < 1) {
		return errorf("lostburst %v: a mean burst length is 0 (none) or at least 1", l.Burst)
	}
	if l.Burst > 0 && l.Corr != 0 {
		return errorf("lostburst excludes a loss correlation")
	}
	if l.Burst > 0 && l.P > 0 && l.P < 1 && l.P/(l.Burst*(1-l.P)) > 1 {
		return errorf("lostburst %v is too short for loss %s: it must be at least %.6g",
			l.Burst, percent(l.P), l.P/(1-l.P))
	}
	d := s.Delay
	if d.Time < 0 || d.Jitter < 0 {
		return errorf("delay %v %v: times cannot be negative", d.Time, d.Jitter)
	}
	if d.Dist > ParetoNormal {
		return errorf("unknown distribution %d", d.Dist)
	}
	if math.IsNaN(s.Noise) || s.Noise < 0 || s.Noise > maxNoise {
		return errorf("noise %v: between 0 and %d bits per MiB", s.Noise, maxNoise)
	}
	if s.Gap < 0 || s.Limit < 0 || s.MTU < 0 {
		return errorf("gap, limit and mtu cannot be negative")
	}
	if s.Flap.Period < 0 {
		return errorf("flap period %v cannot be negative", s.Flap.Period)
	}
	return nil
}

func checkChance(what string, c Chance) error {
	if !isFraction(c.P) || !isFraction(c.Corr) {
		return errorf("%s %v %v: not fractions between 0 and 1", what, c.P, c.Corr)
	}
	return nil
}

func isFraction(p float64) bool { return p >= 0 && p <= 1 } // false for NaN

// String returns the settings as words that Apply turns back into them,
// "none" for the zero value.
func (s Settings) String() string {
	var w []string
	add := func(words ...string) { w = append(w, words...) }
	chance := func(word string, c Chance) {
		if c.P != 0 || c.Corr != 0 {
			add(word, percent(c.P))
			if c.Corr != 0 {
				add(percent(c.Corr))
			}
		}
	}
	l := s.Loss
	if l.GE != (GilbertElliott{}) {
		add("loss", "gemodel", percent(l.GE.P), percent(l.GE.R), percent(l.GE.Bad), percent(l.GE.Good))
	}
	chance("loss", Chance{l.P, l.Corr})
	if l.Burst != 0 {
		add("lostburst", formatFloat(l.Burst))
	}
	d := s.Delay
	if d.Time != 0 || d.Jitter != 0 || d.Corr != 0 {
		add("delay", d.Time.String())
		if d.Jitter != 0 || d.Corr != 0 {
			add(d.Jitter.String())
		}
		if d.Corr != 0 {
			add(percent(d.Corr))
		}
	}
	if d.Dist != Uniform {
		add("distribution", d.Dist.String())
	}
	chance("duplicate", s.Duplicate)
	chance("corrupt", s.Corrupt)
	if s.Noise != 0 {
		add("noise", formatFloat(s.Noise))
	}
	chance("reorder", s.Reorder)
	if s.Gap != 0 {
		add("gap", strconv.Itoa(s.Gap))
	}
	if s.Rate.Bits != 0 || s.Rate.Overhead != 0 {
		add("rate", formatRate(s.Rate.Bits))
		if s.Rate.Overhead != 0 {
			add(strconv.Itoa(s.Rate.Overhead))
		}
	}
	if s.Limit != 0 {
		add("limit", strconv.Itoa(s.Limit))
	}
	if s.MTU != 0 {
		add("mtu", strconv.Itoa(s.MTU))
	}
	if s.Down {
		add("down")
	}
	if s.Flap.Period != 0 {
		add("flap", s.Flap.Period.String(), percent(s.Flap.Duty))
	}
	if len(w) == 0 {
		return "none"
	}
	return strings.Join(w, " ")
}

// percent writes a fraction as netem does, "2.5%".
func percent(p float64) string { return formatFloat(p*100) + "%" }

// formatFloat keeps 12 significant digits, so that 0.07*100 reads "7".
func formatFloat(v float64) string { return strconv.FormatFloat(v, 'g', 12, 64) }

// rateUnits are tc's rate units in bits per second. Decimal prefixes come
// first so that formatRate prefers them.
var rateUnits = []struct {
	word string
	bits float64
}{
	{"tbit", 1e12}, {"gbit", 1e9}, {"mbit", 1e6}, {"kbit", 1e3}, {"bit", 1},
	{"tibit", 1 << 40}, {"gibit", 1 << 30}, {"mibit", 1 << 20}, {"kibit", 1 << 10},
	{"tbps", 8e12}, {"gbps", 8e9}, {"mbps", 8e6}, {"kbps", 8e3}, {"bps", 8},
	{"tibps", 8 << 40}, {"gibps", 8 << 30}, {"mibps", 8 << 20}, {"kibps", 8 << 10},
}

// formatRate writes bits per second in the largest decimal bit unit that
// keeps it whole.
func formatRate(bits uint64) string {
	for _, u := range rateUnits[:5] {
		if m := uint64(u.bits); bits != 0 && bits%m == 0 {
			return strconv.FormatUint(bits/m, 10) + u.word
		}
	}
	return strconv.FormatUint(bits, 10) + "bit"
}

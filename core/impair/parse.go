package impair

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// ParseSettings reads settings from text such as
// "loss 5% delay 20ms 5ms distribution normal"; see the package comment for
// the words. Its errors unwrap to unix.EINVAL.
func ParseSettings(text string) (Settings, error) {
	return Settings{}.Apply(strings.Fields(text))
}

// Apply returns s changed by words, or an error naming the first word it
// refuses; s itself is never changed. Direction words are refused here
// (see ApplyWords). The result is validated as a whole.
func (s Settings) Apply(words []string) (Settings, error) {
	sc := scanner{words: words}
	for !sc.done() {
		if _, err := ParseDir(sc.peek()); err == nil {
			return s, errorf("%q: a direction has no place here", sc.peek())
		}
		if err := applyOne(&s, &sc); err != nil {
			return s, err
		}
	}
	return s, s.Validate()
}

// ApplyWords changes the settings of both directions by words in which
// the direction words LR, RL and both choose where the words after them
// apply; words before any direction word apply to both. For example
// "delay 10ms LR loss 5%" delays both directions and loses frames left to
// right. On error, lr and rl are returned unchanged.
func ApplyWords(lr, rl Settings, words []string) (Settings, Settings, error) {
	out := [2]Settings{lr, rl}
	target := Both
	sc := scanner{words: words}
	if sc.done() {
		return lr, rl, errorf("no settings")
	}
	for !sc.done() {
		if d, err := ParseDir(sc.peek()); err == nil {
			sc.i++
			if _, err := ParseDir(sc.peek()); sc.done() || err == nil {
				return lr, rl, errorf("%v: no settings follow", d)
			}
			target = d
			continue
		}
		start, end := sc.i, 0
		for _, d := range target.dirs() {
			sc.i = start
			if err := applyOne(&out[d.index()], &sc); err != nil {
				return lr, rl, err
			}
			end = sc.i
		}
		sc.i = end
	}
	for _, d := range []Dir{LR, RL} {
		if err := out[d.index()].Validate(); err != nil {
			return lr, rl, errorf("%v: %v", d, err)
		}
	}
	return out[0], out[1], nil
}

// scanner walks words; each setting takes its keyword and the arguments
// that follow, optional ones only when they have the right form.
type scanner struct {
	words []string
	i     int
}

func (sc *scanner) done() bool { return sc.i >= len(sc.words) }

func (sc *scanner) peek() string {
	if sc.done() {
		return ""
	}
	return sc.words[sc.i]
}

// arg takes the next word as an argument of keyword.
func (sc *scanner) arg(keyword string) (string, error) {
	if sc.done() {
		return "", errorf("%s: missing argument", keyword)
	}
	sc.i++
	return sc.words[sc.i-1], nil
}

// optional takes the next word if parse accepts it.
func optional[T any](sc *scanner, parse func(string) (T, error), v *T) bool {
	if sc.done() {
		return false
	}
	x, err := parse(sc.peek())
	if err != nil {
		return false
	}
	*v = x
	sc.i++
	return true
}

// applyOne reads one setting: a keyword and its arguments.
func applyOne(s *Settings, sc *scanner) error {
	key, _ := sc.arg("")
	word := strings.ToLower(key)
	var err error
	switch word {
	case "none":
		*s = Settings{}
	case "loss":
		err = parseLoss(&s.Loss, sc)
	case "lostburst":
		s.Loss.Burst, err = number(sc, word)
	case "delay":
		err = parseDelay(&s.Delay, sc)
	case "distribution":
		var name string
		if name, err = sc.arg(word); err == nil {
			s.Delay.Dist, err = parseDistribution(name)
		}
	case "duplicate", "dup":
		s.Duplicate, err = parseChance(sc, word)
	case "corrupt":
		s.Corrupt, err = parseChance(sc, word)
	case "noise":
		s.Noise, err = number(sc, word)
	case "reorder":
		s.Reorder, err = parseChance(sc, word)
	case "gap":
		s.Gap, err = count(sc, word)
	case "rate":
		err = parseRate(&s.Rate, sc)
	case "limit":
		s.Limit, err = count(sc, word)
	case "mtu":
		s.MTU, err = count(sc, word)
	case "down":
		s.Down = true
	case "up":
		s.Down = false
	case "flap":
		err = parseFlap(&s.Flap, sc)
	default:
		err = errorf("unknown setting %q", key)
	}
	return err
}

// parseLoss reads "loss [random] P [C]" and "loss gemodel p [r [1-h [1-k]]]".
func parseLoss(l *Loss, sc *scanner) error {
	switch strings.ToLower(sc.peek()) {
	case "state":
		return errorf("loss state: the four-state model is not supported (use gemodel)")
	case "gemodel":
		sc.i++
		p, err := sc.arg("loss gemodel")
		if err != nil {
			return err
		}
		ge := GilbertElliott{Bad: 1}
		if ge.P, err = parsePercent(p); err != nil {
			return errorf("loss gemodel p: %v", err)
		}
		ge.R = 1 - ge.P
		if optional(sc, parsePercent, &ge.R) && optional(sc, parsePercent, &ge.Bad) {
			optional(sc, parsePercent, &ge.Good)
		}
		*l = Loss{GE: ge}
		return nil
	case "random":
		sc.i++
	}
	c, err := parseChance(sc, "loss")
	if err != nil {
		return err
	}
	l.P, l.Corr, l.GE = c.P, c.Corr, GilbertElliott{}
	return nil
}

// parseChance reads "P [C]".
func parseChance(sc *scanner, keyword string) (Chance, error) {
	w, err := sc.arg(keyword)
	if err != nil {
		return Chance{}, err
	}
	var c Chance
	if c.P, err = parsePercent(w); err != nil {
		return Chance{}, errorf("%s: %v", keyword, err)
	}
	optional(sc, parsePercent, &c.Corr)
	return c, nil
}

// parseDelay reads "TIME [JITTER [C]]".
func parseDelay(d *Delay, sc *scanner) error {
	w, err := sc.arg("delay")
	if err != nil {
		return err
	}
	t, err := parseDuration(w)
	if err != nil {
		return errorf("delay: %v", err)
	}
	d.Time, d.Jitter, d.Corr = t, 0, 0
	if optional(sc, parseDuration, &d.Jitter) {
		optional(sc, parsePercent, &d.Corr)
	}
	return nil
}

func parseDistribution(name string) (Distribution, error) {
	for i, n := range distNames {
		if strings.EqualFold(name, n) {
			return Distribution(i), nil
		}
	}
	return 0, errorf("distribution %q: one of uniform, normal, pareto, paretonormal", name)
}

// parseRate reads "RATE [OVERHEAD]"; a RATE of 0 turns the limit off.
func parseRate(r *Rate, sc *scanner) error {
	w, err := sc.arg("rate")
	if err != nil {
		return err
	}
	bits, err := parseBits(w)
	if err != nil {
		return errorf("rate: %v", err)
	}
	*r = Rate{Bits: bits}
	optional(sc, strconv.Atoi, &r.Overhead)
	if bits == 0 {
		r.Overhead = 0
	}
	return nil
}

// parseFlap reads "PERIOD DUTY" or "off".
func parseFlap(f *Flap, sc *scanner) error {
	w, err := sc.arg("flap")
	if err != nil {
		return err
	}
	if strings.EqualFold(w, "off") {
		*f = Flap{}
		return nil
	}
	period, err := parseDuration(w)
	if err != nil || period <= 0 {
		return errorf("flap: %q is not a period (flap PERIOD DUTY, or flap off)", w)
	}
	d, err := sc.arg("flap")
	if err != nil {
		return errorf("flap %s: missing the duty cycle, the share of time up (e.g. 80%%)", w)
	}
	duty, err := parsePercent(d)
	if err != nil {
		return errorf("flap: duty cycle %v", err)
	}
	*f = Flap{Period: period, Duty: duty}
	return nil
}

// parsePercent reads "5%" or "5" (netem and wirefilter read a bare number
// as a percentage too) and returns a fraction.
func parsePercent(w string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSuffix(w, "%"), 64)
	if err != nil || !(v >= 0 && v <= 100) {
		return 0, errorf("%q is not a percentage between 0 and 100", w)
	}
	return v / 100, nil
}

// number reads a non-negative finite number.
func number(sc *scanner, keyword string) (float64, error) {
	w, err := sc.arg(keyword)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseFloat(w, 64)
	if err != nil || !(v >= 0) || math.IsInf(v, 0) {
		return 0, errorf("%s: %q is not a number of at least 0", keyword, w)
	}
	return v, nil
}

// count reads a non-negative integer.
func count(sc *scanner, keyword string) (int, error) {
	w, err := sc.arg(keyword)
	if err != nil {
		return 0, err
	}
	v, err := strconv.Atoi(w)
	if err != nil || v < 0 {
		return 0, errorf("%s: %q is not a whole number of at least 0", keyword, w)
	}
	return v, nil
}

// tcTimeUnits are the spelled-out units of tc(8) that Go does not read.
var tcTimeUnits = map[string]time.Duration{
	"s": time.Second, "sec": time.Second, "secs": time.Second,
	"ms": time.Millisecond, "msec": time.Millisecond, "msecs": time.Millisecond,
	"us": time.Microsecond, "usec": time.Microsecond, "usecs": time.Microsecond,
	"ns": time.Nanosecond, "nsec": time.Nanosecond, "nsecs": time.Nanosecond,
}

// parseDuration reads Go's durations ("1.5ms", "1m30s") and tc's ("20msec").
// A bare number is refused: tc reads it as microseconds and wirefilter as
// milliseconds, so either guess would surprise someone.
func parseDuration(w string) (time.Duration, error) {
	if d, err := time.ParseDuration(w); err == nil {
		if d < 0 {
			return 0, errorf("%q: a time cannot be negative", w)
		}
		return d, nil
	}
	n := strings.IndexFunc(w, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if n > 0 {
		if unit, ok := tcTimeUnits[strings.ToLower(w[n:])]; ok {
			if v, err := strconv.ParseFloat(w[:n], 64); err == nil && v*float64(unit) < math.MaxInt64 {
				return time.Duration(math.Round(v * float64(unit))), nil
			}
		}
	}
	if _, err := strconv.ParseFloat(w, 64); err == nil {
		return 0, errorf("%q needs a unit (e.g. %sms)", w, w)
	}
	return 0, errorf("%q is not a time (e.g. 20ms)", w)
}

// parseBits reads a rate with one of tc's units ("10mbit", "1.5gbit",
// "100kbps" for bytes per second); "0" alone turns the rate off.
func parseBits(w string) (uint64, error) {
	if w == "0" {
		return 0, nil
	}
	n := strings.IndexFunc(w, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if n <= 0 {
		return 0, errorf("%q is not a rate with a unit (e.g. 10mbit)", w)
	}
	unit := strings.ToLower(w[n:])
	for _, u := range rateUnits {
		if u.word == unit {
			v, err := strconv.ParseFloat(w[:n], 64)
			bits := v * u.bits
			if err != nil || bits < 1 || bits >= 1<<63 {
				return 0, errorf("%q is not a rate between 1bit and 9.2e18bit", w)
			}
			return uint64(math.Round(bits)), nil
		}
	}
	return 0, errorf("%q: unknown rate unit %q (bit, kbit, mbit, gbit, kibit, ..., bps for bytes/s, ...)", w, w[n:])
}

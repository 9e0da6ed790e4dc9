package impair

import (
	"io"
	"math"
	"strconv"
	"time"
)

// Out is one copy of a frame that a Decider wants handed on.
type Out struct {
	Frame []byte        // a private copy, corrupted if so decided
	Due   time.Duration // when to hand it on, on the caller's clock
}

// Count is a number of frames and their bytes.
type Count struct {
	Frames, Bytes uint64
}

func (c *Count) add(n int) { c.Frames++; c.Bytes += uint64(n) }

func (c *Count) sum(o Count) { c.Frames += o.Frames; c.Bytes += o.Bytes }

// Counters account for every frame of a direction. Frames and bytes always
// satisfy
//
//	In - Lost - Dropped() + Duplicated = Out + Queued
//
// (counting from creation, or from a reset made while nothing was queued).
// Corrupted, Reordered and Delayed count copies that were handed on or are
// queued.
type Counters struct {
	In           Count // frames offered
	Out          Count // copies taken for the sink, counted as its call begins (for a Decider: copies Decide returned)
	Queued       Count // copies scheduled and not yet handed to the sink (a level; Stage only)
	Lost         Count // frames lost (loss, lostburst, gemodel)
	Duplicated   Count // extra copies made (duplicate)
	Corrupted    Count // copies with at least one damaged bit (corrupt, noise)
	Reordered    Count // copies sent ahead of the queue (reorder)
	Delayed      Count // copies due after they arrived (delay, rate, or waiting behind others)
	DroppedLimit Count // copies dropped because limit frames were held
	DroppedMTU   Count // frames dropped for being larger than the mtu
	DroppedDown  Count // frames dropped while the link was down
	DroppedClose Count // copies still scheduled when the stage closed
}

// Dropped is the sum of the Dropped counters, every cause.
func (c Counters) Dropped() Count {
	var d Count
	for _, x := range []Count{c.DroppedLimit, c.DroppedMTU, c.DroppedDown, c.DroppedClose} {
		d.sum(x)
	}
	return d
}

func (c *Counters) sum(o Counters) {
	for _, p := range []struct{ a, b *Count }{
		{&c.In, &o.In}, {&c.Out, &o.Out}, {&c.Queued, &o.Queued}, {&c.Lost, &o.Lost},
		{&c.Duplicated, &o.Duplicated}, {&c.Corrupted, &o.Corrupted},
		{&c.Reordered, &o.Reordered}, {&c.Delayed, &o.Delayed},
		{&c.DroppedLimit, &o.DroppedLimit}, {&c.DroppedMTU, &o.DroppedMTU},
		{&c.DroppedDown, &o.DroppedDown}, {&c.DroppedClose, &o.DroppedClose},
	} {
		p.a.sum(*p.b)
	}
}

// lastDraw is the previous value a feature drew, for correlation.
type lastDraw struct {
	u  float64
	ok bool
}

// The features that draw random values and may correlate them.
const (
	featLoss = iota
	featDuplicate
	featCorrupt
	featReorder
	featDelay
	features
)

const (
	ethHeader  = 14   // bytes before the payload that mtu limits
	bufferSize = 2048 // frame copies hold a full-size Ethernet frame and more
	maxFree    = 4096 // buffers kept for reuse
)

// A Decider is the decision core of one direction: given each frame and
// its arrival time, it says which copies to hand on and when, and keeps
// the counters and the optional log. It reads no clock and draws from its
// own seeded stream, so the same seed, settings and arrivals give the same
// decisions bit for bit. A Decider is not safe for concurrent use.
type Decider struct {
	dir   Dir
	s     Settings
	rnd   source
	c     Counters
	index uint64        // frames seen, the number of the current one
	last  time.Duration // latest arrival
	// linkFree is the due time of the last copy that went through the
	// queue: later copies are never due before it, which keeps them in
	// order and serialises them at the rate.
	linkFree  time.Duration
	txRem     uint64   // rate: remainder of the last division, in bit·ns
	held      dueQueue // due times of queued copies, for limit
	ge        GilbertElliott
	geOn      bool
	bad       bool // Gilbert-Elliott state
	sinceReo  int  // reorder: copies queued since the last reordered one
	prev      [features]lastDraw
	flapStart time.Duration
	outs      []Out
	free      [][]byte
	log       io.Writer
	line      []byte
}

// NewDecider returns the decision core of direction dir (LR or RL), with
// its random stream seeded by seed, applying s from time 0 on.
func NewDecider(dir Dir, seed uint64, s Settings) (*Decider, error) {
	if !dir.one() {
		return nil, errorf("direction %v: a Decider serves LR or RL", dir)
	}
	d := &Decider{dir: dir, rnd: newSource(seed, dir)}
	if err := d.SetSettings(s, 0); err != nil {
		return nil, err
	}
	return d, nil
}

// Settings returns the settings in force.
func (d *Decider) Settings() Settings { return d.s }

// SetSettings puts s in force for frames arriving from at on. Decisions
// already returned stand, so no scheduled frame is lost. A flap schedule
// that changes starts again at at; the loss state restarts in the good
// state when the loss settings change.
func (d *Decider) SetSettings(s Settings, at time.Duration) error {
	if err := s.Validate(); err != nil {
		return err
	}
	if s.Flap != d.s.Flap {
		d.flapStart = at
	}
	if s.Loss != d.s.Loss {
		d.bad = false
	}
	if s.Rate != d.s.Rate {
		d.txRem = 0
	}
	if s.Reorder != d.s.Reorder || s.Gap != d.s.Gap {
		d.sinceReo = 0
	}
	d.s = s
	l := s.Loss
	d.ge, d.geOn = l.GE, l.GE != (GilbertElliott{})
	if !d.geOn && l.Burst > 0 && l.P > 0 && l.P < 1 {
		// wirefilter's lostburst: a Gilbert model whose bad state loses
		// every frame and lasts Burst frames on average, entered so
		// that the loss rate stays P.
		d.ge = GilbertElliott{P: l.P / (l.Burst * (1 - l.P)), R: 1 / l.Burst, Bad: 1}
		d.geOn = true
	}
	return nil
}

// Counters returns the counters of the decisions made.
func (d *Decider) Counters() Counters { return d.c }

// ResetCounters sets the counters to zero.
func (d *Decider) ResetCounters() { d.c = Counters{} }

// SetLog writes one line per frame to w from now on (nil: no log). See
// the package comment for the format. Write errors are ignored.
func (d *Decider) SetLog(w io.Writer) { d.log = w }

// Recycle gives back the buffer of an Out.Frame that is no longer used, so
// that later copies reuse its memory. Calling it is optional.
func (d *Decider) Recycle(frame []byte) {
	if cap(frame) >= bufferSize && len(d.free) < maxFree {
		d.free = append(d.free, frame[:0])
	}
}

// Decide decides the fate of frame arriving at time at (times earlier than
// the previous arrival count as the previous arrival). It returns the
// copies to hand on, none to two, each with its due time, in the order the
// decisions were made; the slice is reused by the next call, the frames in
// it belong to the caller. frame itself is only read.
func (d *Decider) Decide(frame []byte, at time.Duration) []Out {
	at = max(at, d.last)
	d.last = at
	d.index++
	n := len(frame)
	d.c.In.add(n)
	d.outs = d.outs[:0]
	d.held.expire(at)
	if d.log != nil {
		d.line = append(d.line[:0], d.dir.String()...)
		d.line = append(d.line, ' ')
		d.line = strconv.AppendUint(d.line, d.index, 10)
		d.line = append(d.line, " at="...)
		d.line = appendSeconds(d.line, at)
		d.line = append(d.line, " len="...)
		d.line = strconv.AppendInt(d.line, int64(n), 10)
	}
	var drop string
	switch {
	case d.isDown(at):
		d.c.DroppedDown.add(n)
		drop = " drop=down"
	case d.s.MTU > 0 && n-ethHeader > d.s.MTU:
		d.c.DroppedMTU.add(n)
		drop = " drop=mtu"
	case d.lose():
		d.c.Lost.add(n)
		drop = " drop=loss"
	default:
		copies := 1
		if d.chance(featDuplicate, d.s.Duplicate) {
			copies = 2
			d.c.Duplicated.add(n)
		}
		for i := range copies {
			d.emit(frame, at, i > 0)
		}
	}
	if d.log != nil {
		d.line = append(d.line, drop...)
		d.line = append(d.line, '\n')
		d.log.Write(d.line)
	}
	return d.outs
}

// emit decides the fate of one copy of a frame that was not lost.
func (d *Decider) emit(frame []byte, at time.Duration, dup bool) {
	n := len(frame)
	if d.log != nil {
		if dup {
			d.line = append(d.line, " dup"...)
		} else {
			d.line = append(d.line, " out"...)
		}
	}
	if d.s.Limit > 0 && d.held.len() >= d.s.Limit {
		d.c.DroppedLimit.add(n)
		if d.log != nil {
			d.line = append(d.line, " drop=limit"...)
		}
		return
	}
	buf := d.buffer(n)
	copy(buf, frame)
	flipped := 0
	if n > 0 && d.chance(featCorrupt, d.s.Corrupt) {
		flip(buf, d.rnd.below(uint64(8*n)))
		flipped++
	}
	flipped += d.noise(buf)
	var due time.Duration
	reordered := d.reorder()
	if reordered {
		due = at
		d.c.Reordered.add(n)
	} else {
		due = max(at+d.delay(), d.linkFree) + d.txTime(n)
		d.linkFree = due
		if due > at {
			d.held.push(due)
		}
	}
	if due > at {
		d.c.Delayed.add(n)
	}
	if flipped > 0 {
		d.c.Corrupted.add(n)
	}
	d.c.Out.add(n)
	d.outs = append(d.outs, Out{Frame: buf, Due: due})
	if d.log != nil {
		d.line = append(d.line, " due="...)
		d.line = appendSeconds(d.line, due)
		if reordered {
			d.line = append(d.line, " reordered"...)
		}
		if flipped > 0 {
			d.line = append(d.line, " corrupted="...)
			d.line = strconv.AppendInt(d.line, int64(flipped), 10)
		}
	}
}

func (d *Decider) buffer(n int) []byte {
	if k := len(d.free) - 1; k >= 0 && cap(d.free[k]) >= n {
		b := d.free[k][:n]
		d.free = d.free[:k]
		return b
	}
	return make([]byte, n, max(n, bufferSize))
}

// draw returns a uniform value in (0, 1) for feature f. With correlation
// corr it is the previous value of f again with probability corr, else a
// fresh one: the values stay uniform, so probabilities keep their meaning,
// and successive decisions agree more often.
func (d *Decider) draw(f int, corr float64) float64 {
	p := &d.prev[f]
	if p.ok && corr > 0 && (corr >= 1 || d.rnd.open() < corr) {
		return p.u
	}
	p.u, p.ok = d.rnd.open(), true
	return p.u
}

// chance decides an event of probability c.P. Certain outcomes draw
// nothing, so a probability of 0 leaves the random stream untouched.
func (d *Decider) chance(f int, c Chance) bool {
	if c.P <= 0 {
		return false
	}
	if c.P >= 1 {
		return true
	}
	return d.draw(f, c.Corr) < c.P
}

// bernoulli is chance without correlation, for the Gilbert-Elliott model.
func (d *Decider) bernoulli(p float64) bool {
	if p <= 0 {
		return false
	}
	if p >= 1 {
		return true
	}
	return d.rnd.open() < p
}

func (d *Decider) lose() bool {
	if !d.geOn {
		return d.chance(featLoss, Chance{d.s.Loss.P, d.s.Loss.Corr})
	}
	// The state of this frame decides its loss, then the state moves on.
	if d.bad {
		lost := d.bernoulli(d.ge.Bad)
		if d.bernoulli(d.ge.R) {
			d.bad = false
		}
		return lost
	}
	lost := d.bernoulli(d.ge.Good)
	if d.bernoulli(d.ge.P) {
		d.bad = true
	}
	return lost
}

// reorder follows netem: after gap-1 queued copies, each copy skips the
// queue with the reorder probability, and the count starts again.
func (d *Decider) reorder() bool {
	if d.s.Reorder.P <= 0 {
		return false
	}
	if d.sinceReo < max(d.s.Gap, 1)-1 || !d.chance(featReorder, d.s.Reorder) {
		d.sinceReo++
		return false
	}
	d.sinceReo = 0
	return true
}

func (d *Decider) delay() time.Duration {
	dl := d.s.Delay
	if dl.Jitter == 0 {
		return dl.Time
	}
	t := shape(dl.Dist, d.draw(featDelay, dl.Corr))
	return max(dl.Time+time.Duration(math.Round(t*float64(dl.Jitter))), 0)
}

// txTime is the time to send n bytes plus the overhead at the rate. The
// remainder of each division carries over, so that no time is lost to
// rounding however many frames pass.
func (d *Decider) txTime(n int) time.Duration {
	r := d.s.Rate
	if r.Bits == 0 {
		return 0
	}
	num := uint64(max(n+r.Overhead, 0))*8*uint64(time.Second) + d.txRem
	d.txRem = num % r.Bits
	return time.Duration(num / r.Bits)
}

// noise damages each bit independently with probability Noise/(8·2^20),
// stepping from one damaged bit to the next by geometric jumps: one draw
// per damaged bit and one more.
func (d *Decider) noise(buf []byte) int {
	if d.s.Noise <= 0 || len(buf) == 0 {
		return 0
	}
	nbits := 8 * len(buf)
	ber := d.s.Noise / maxNoise
	if ber >= 1 {
		for i := range buf {
			buf[i] = ^buf[i]
		}
		return nbits
	}
	logq := math.Log1p(-ber)
	flipped := 0
	for pos := -1; ; {
		skip := math.Floor(math.Log(d.rnd.open()) / logq)
		if skip >= float64(nbits-pos-1) {
			return flipped
		}
		pos += 1 + int(skip)
		flip(buf, uint64(pos))
		flipped++
	}
}

func flip(buf []byte, bit uint64) { buf[bit/8] ^= 1 << (bit % 8) }

func (d *Decider) isDown(at time.Duration) bool {
	if d.s.Down {
		return true
	}
	f := d.s.Flap
	if f.Period <= 0 {
		return false
	}
	phase := (at - d.flapStart) % f.Period
	if phase < 0 {
		phase += f.Period
	}
	return phase >= time.Duration(math.Round(f.Duty*float64(f.Period)))
}

// dueQueue holds the due times of queued copies. They never decrease
// (each is at least linkFree), so a FIFO suffices.
type dueQueue struct {
	q    []time.Duration
	head int
}

func (q *dueQueue) push(t time.Duration) { q.q = append(q.q, t) }

func (q *dueQueue) len() int { return len(q.q) - q.head }

// expire forgets the copies due by now.
func (q *dueQueue) expire(now time.Duration) {
	for q.head < len(q.q) && q.q[q.head] <= now {
		q.head++
	}
	if q.head == len(q.q) {
		q.q, q.head = q.q[:0], 0
	} else if q.head >= 1024 && 2*q.head >= len(q.q) {
		n := copy(q.q, q.q[q.head:])
		q.q, q.head = q.q[:n], 0
	}
}

// appendSeconds writes t as seconds with nine decimals.
func appendSeconds(b []byte, t time.Duration) []byte {
	if t < 0 {
		b = append(b, '-')
		t = -t
	}
	b = strconv.AppendInt(b, int64(t/time.Second), 10)
	var tmp [10]byte
	frac := strconv.AppendInt(tmp[:0], int64(t%time.Second)+int64(time.Second), 10)
	b = append(b, '.')
	return append(b, frac[1:]...)
}

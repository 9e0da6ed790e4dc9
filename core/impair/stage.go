package impair

import (
	"io"
	"net"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// A Sink receives the frames of direction d that are due, in due order,
// several at once when several are due. It is called from the stage's
// goroutine, one call at a time; the frames are valid only during the
// call. A Sink must not call Close.
type Sink func(d Dir, frames [][]byte)

// Config sets up a Stage.
type Config struct {
	Seed   uint64    // seeds the random streams of both directions
	LR, RL Settings  // the settings of each direction at the start
	Sink   Sink      // where frames go; required
	Log    io.Writer // if not nil, the decision log (see SetLog)
}

// A Stage impairs the frames of both directions of a bridge on the real
// clock: Input decides at once what happens to a frame, and one goroutine
// with one timer hands the copies to the sink when they are due. A Stage
// is safe for concurrent use.
type Stage struct {
	mu     sync.Mutex
	seed   uint64
	dec    [2]*Decider
	sink   Sink
	clock  alarm
	armed  time.Duration // what the alarm is set for, or never
	queue  dueHeap
	seq    uint64
	out    [2]Count // handed to the sink
	queued [2]Count
	dumped [2]Count // discarded by Close
	closed bool
	done   chan struct{} // closed when the goroutine ends

	listeners map[net.Listener]struct{}
	conns     map[net.Conn]struct{}
	handlers  sync.WaitGroup

	// late, if set (by tests), sees how late each frame is handed over.
	late func(time.Duration)
}

// maxBatch bounds a call of the sink, so that a backlog reaches the sink
// in slices and Input is not held up for long.
const maxBatch = 128

// New starts a stage. Its clock starts at zero now; the decision log and
// the due times count from there.
func New(c Config) (*Stage, error) {
	return newStage(c, newAlarm())
}

func newStage(c Config, clock alarm) (*Stage, error) {
	if c.Sink == nil {
		clock.close()
		return nil, errorf("impair: a stage needs a sink")
	}
	s := &Stage{
		seed:      c.Seed,
		sink:      c.Sink,
		clock:     clock,
		armed:     never,
		done:      make(chan struct{}),
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[net.Conn]struct{}),
	}
	for _, d := range []Dir{LR, RL} {
		st := c.LR
		if d == RL {
			st = c.RL
		}
		dec, err := NewDecider(d, c.Seed, st)
		if err != nil {
			clock.close()
			return nil, errorf("%v: %v", d, err)
		}
		dec.SetLog(c.Log)
		s.dec[d.index()] = dec
	}
	go s.run()
	return s, nil
}

// Input offers a frame travelling in direction d (LR or RL). The stage
// copies what it keeps, so frame may be reused at once. Errors: EINVAL for
// another direction, EBADF once the stage is closed.
func (s *Stage) Input(d Dir, frame []byte) error {
	if !d.one() {
		return unix.EINVAL
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return unix.EBADF
	}
	i := d.index()
	for _, o := range s.dec[i].Decide(frame, s.clock.now()) {
		s.seq++
		s.queue.push(item{due: o.Due, seq: s.seq, dir: i, frame: o.Frame})
		s.queued[i].add(len(o.Frame))
	}
	if len(s.queue) > 0 && s.queue[0].due < s.armed {
		s.arm(s.queue[0].due)
	}
	return nil
}

func (s *Stage) arm(at time.Duration) {
	s.armed = at
	s.clock.set(at)
}

// run hands frames to the sink when they are due, until Close.
func (s *Stage) run() {
	defer close(s.done)
	var batch [2][][]byte
	for {
		s.mu.Lock()
		for i := range batch {
			for _, b := range batch[i] {
				s.dec[i].Recycle(b)
			}
			clear(batch[i])
			batch[i] = batch[i][:0]
		}
		if s.closed {
			s.mu.Unlock()
			return
		}
		now := s.clock.now()
		s.armed = never // it fired, or we are about to set it again
		n := 0
		for ; n < maxBatch && len(s.queue) > 0 && s.queue[0].due <= now; n++ {
			it := s.queue.pop()
			batch[it.dir] = append(batch[it.dir], it.frame)
			s.queued[it.dir].Frames--
			s.queued[it.dir].Bytes -= uint64(len(it.frame))
			s.out[it.dir].add(len(it.frame))
			if s.late != nil {
				s.late(now - it.due)
			}
		}
		if n < maxBatch && len(s.queue) > 0 {
			s.arm(s.queue[0].due)
		}
		s.mu.Unlock()
		for i, frames := range batch {
			if len(frames) > 0 {
				s.sink(Dir(1<<i), frames)
			}
		}
		if n == maxBatch {
			continue // more may be due already
		}
		if !s.clock.wait() {
			return
		}
	}
}

// Settings returns the settings of direction d (LR or RL; the zero
// Settings for anything else).
func (s *Stage) Settings(d Dir) Settings {
	if !d.one() {
		return Settings{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dec[d.index()].Settings()
}

// Set puts st in force for direction d (LR, RL or Both) from now on.
// Frames already scheduled keep their schedule. Errors unwrap to EINVAL.
func (s *Stage) Set(d Dir, st Settings) error {
	if d.dirs() == nil {
		return unix.EINVAL
	}
	if err := st.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.now()
	for _, d := range d.dirs() {
		s.dec[d.index()].SetSettings(st, now)
	}
	return nil
}

// Apply changes the settings by words, as ApplyWords does: all of them or,
// on error, none.
func (s *Stage) Apply(words []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	lr, rl, err := ApplyWords(s.dec[0].Settings(), s.dec[1].Settings(), words)
	if err != nil {
		return err
	}
	now := s.clock.now()
	s.dec[0].SetSettings(lr, now)
	s.dec[1].SetSettings(rl, now)
	return nil
}

// Counters returns the counters of direction d, or their sums for Both.
func (s *Stage) Counters(d Dir) Counters {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counters(d)
}

func (s *Stage) counters(d Dir) Counters {
	var c Counters
	for _, d := range d.dirs() {
		i := d.index()
		x := s.dec[i].Counters()
		x.Out, x.Queued, x.DroppedClose = s.out[i], s.queued[i], s.dumped[i]
		c.sum(x)
	}
	return c
}

// ResetCounters sets the counters of d (LR, RL or Both) to zero, except
// Queued, which is a level.
func (s *Stage) ResetCounters(d Dir) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resetCounters(d)
}

func (s *Stage) resetCounters(d Dir) {
	for _, d := range d.dirs() {
		i := d.index()
		s.dec[i].ResetCounters()
		s.out[i], s.dumped[i] = Count{}, Count{}
	}
}

// SetLog writes the decision log of both directions to w from now on (nil:
// no log): one line per frame, written while the stage's lock is held.
func (s *Stage) SetLog(w io.Writer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dec[0].SetLog(w)
	s.dec[1].SetLog(w)
}

// Close stops the stage: its goroutine ends, control listeners and
// connections served by ServeControl close, and frames still scheduled
// are discarded (counted as DroppedClose). It waits for a sink call in
// progress to return. Counters and Settings stay readable. Close is
// idempotent and always returns nil.
func (s *Stage) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-s.done
		s.handlers.Wait()
		return nil
	}
	s.closed = true
	for l := range s.listeners {
		l.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.clock.close()
	<-s.done
	s.handlers.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, it := range s.queue {
		s.queued[it.dir].Frames--
		s.queued[it.dir].Bytes -= uint64(len(it.frame))
		s.dumped[it.dir].add(len(it.frame))
	}
	clear(s.queue)
	s.queue = s.queue[:0]
	return nil
}

// item is a copy waiting for its due time; seq keeps copies due at the
// same time in the order they were decided.
type item struct {
	due   time.Duration
	seq   uint64
	dir   int
	frame []byte
}

// dueHeap is a binary min-heap of items by (due, seq).
type dueHeap []item

func (h dueHeap) less(i, j int) bool {
	return h[i].due < h[j].due || (h[i].due == h[j].due && h[i].seq < h[j].seq)
}

func (h *dueHeap) push(it item) {
	*h = append(*h, it)
	q := *h
	for i := len(q) - 1; i > 0; {
		p := (i - 1) / 2
		if !q.less(i, p) {
			break
		}
		q[i], q[p] = q[p], q[i]
		i = p
	}
}

func (h *dueHeap) pop() item {
	q := *h
	top := q[0]
	n := len(q) - 1
	q[0] = q[n]
	q[n] = item{}
	q = q[:n]
	*h = q
	for i := 0; ; {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && q.less(r, l) {
			m = r
		}
		if !q.less(m, i) {
			break
		}
		q[i], q[m] = q[m], q[i]
		i = m
	}
	return top
}

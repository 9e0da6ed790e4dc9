package bridge

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libshmif/libshmif/core/bridge/shmifbus"
	"github.com/libshmif/libshmif/core/shmif"
	"golang.org/x/sys/unix"
)

// Frame size limits of a shmif bus: an Ethernet header, and at most the
// 1500-byte MTU behind it (no FCS).
const (
	MinFrame = 14
	MaxFrame = 1514
)

// Batch sizes: frames taken from the bus per receive (one lock hold), and
// buffers offered to the endpoint per read.
const (
	busBatch      = 256
	endpointBatch = 128
)

// recvTimeout bounds how long the bus reader waits before it looks whether
// the bridge is stopping, for an interface it was given (its own
// interface it takes down, which ends the wait at once).
const recvTimeout = 100 * time.Millisecond

// Config holds a bridge's options. The zero Config is a plain bridge: every
// frame is forwarded, at once.
type Config struct {
	// Learning makes the bridge learn on which side each source address
	// is and not forward a unicast frame to the other side when its
	// destination was last seen on the side it came from (iproute2's
	// learning). Broadcast, multicast and unknown destinations are
	// forwarded.
	Learning bool
	// AgeingTime is how long a learned address is kept without being
	// seen (iproute2's ageing_time); 0 means DefaultAgeingTime.
	AgeingTime time.Duration

	// ToEndpoint and ToBus, if set, make the stage of each direction
	// (see Stage): Start calls them once with the Emit that writes to the
	// direction's destination. The bridge does not close stages: the
	// caller closes them after Stop.
	ToEndpoint, ToBus func(Emit) Stage

	// NoRepeatGuard turns off the rule that identical frames read from
	// one side within 20 ms are forwarded once (see the package
	// documentation): for traffic that repeats frames byte for byte on
	// purpose, in a network without loops.
	NoRepeatGuard bool

	// Mode is the permission bits of a bus file Open creates, under the
	// umask; 0 means 0644, as shmif_open does.
	Mode uint32
}

// Bridge copies frames between a shmif bus and an Endpoint, in both
// directions, until stopped.
type Bridge struct {
	ifc      *shmif.Interface
	ep       Endpoint
	cfg      Config
	ownIfc   bool // Open attached the interface: Stop destroys it
	promisc  bool // the interface's promiscuous mode before New
	hash     hasher
	toEp     memory // frames forwarded to the endpoint
	toBus    memory // frames forwarded to the bus
	fdb      *fdb
	loopSeen atomic.Int64 // monoNanos when a loop was last seen; 0: never
	epStats  counters     // bus -> endpoint
	busStats counters     // endpoint -> bus

	startOnce sync.Once
	started   atomic.Bool
	stopping  atomic.Bool
	stop      chan struct{} // closed when stopping
	stopOnce  sync.Once
	done      chan struct{} // closed when every loop has returned
	wg        sync.WaitGroup
	errOnce   sync.Once
	err       error // why the bridge stopped by itself
}

// Open attaches a new interface to the bus file at path (creating the file
// with cfg.Mode if needed) and returns a bridge between it and ep, not yet
// started. The bridge owns both: Stop closes ep and destroys the
// interface; the bus file stays. ep is closed if Open fails.
func Open(path string, ep Endpoint, cfg Config) (*Bridge, error) {
	ifc, err := shmifbus.OpenBus(path, cfg.Mode)
	if err != nil {
		ep.Close()
		return nil, fmt.Errorf("bus %s: %w", path, err)
	}
	b := newBridge(ifc, ep, cfg)
	b.ownIfc = true
	return b, nil
}

// New returns a bridge between an interface the caller attached and ep,
// not yet started. Start turns the interface's promiscuous mode on (a
// bridge forwards frames for every address) and Stop restores it; the
// interface stays the caller's. The bridge owns ep: Stop closes it.
func New(ifc *shmif.Interface, ep Endpoint, cfg Config) *Bridge {
	return newBridge(ifc, ep, cfg)
}

func newBridge(ifc *shmif.Interface, ep Endpoint, cfg Config) *Bridge {
	if cfg.AgeingTime <= 0 {
		cfg.AgeingTime = DefaultAgeingTime
	}
	b := &Bridge{
		ifc:  ifc,
		ep:   ep,
		cfg:  cfg,
		hash: newHasher(),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	if cfg.Learning {
		b.fdb = newFDB(cfg.AgeingTime)
	}
	return b
}

// Interface returns the bridge's interface on the bus.
func (b *Bridge) Interface() *shmif.Interface { return b.ifc }

// Endpoint returns the bridge's endpoint.
func (b *Bridge) Endpoint() Endpoint { return b.ep }

// Start starts copying in both directions. Errors: EALREADY if started
// before, and those of SetPromisc.
func (b *Bridge) Start() error {
	var err error = unix.EALREADY
	b.startOnce.Do(func() {
		b.promisc = b.ifc.Flags()&shmif.FlagPromisc != 0
		if err = b.ifc.SetPromisc(true); err != nil {
			close(b.done)
			return
		}
		b.started.Store(true)
		b.run(b.toEndpointLoop, b.cfg.ToEndpoint, b.writeEndpoint)
		b.run(b.toBusLoop, b.cfg.ToBus, b.writeBus)
		go func() {
			b.wg.Wait()
			close(b.done)
		}()
	})
	return err
}

// run starts one direction's reader, which delivers to write directly
// or through the stage newStage makes.
func (b *Bridge) run(reader func(deliver func([][]byte, time.Time) error) error, newStage func(Emit) Stage, write func([][]byte) error) {
	deliver := func(frames [][]byte, _ time.Time) error { return write(frames) }
	if newStage != nil {
		deliver = b.staged(newStage, write)
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		b.fail(reader(deliver))
	}()
}

// fail stops the bridge because of err (nil: a loop ended because the
// bridge is stopping).
func (b *Bridge) fail(err error) {
	if err != nil && !b.stopping.Load() {
		b.errOnce.Do(func() { b.err = err })
	}
	b.halt()
}

// halt makes every loop return: the endpoint's reader through Close, the
// bus reader by taking our own interface down (or by its timeout).
func (b *Bridge) halt() {
	b.stopOnce.Do(func() {
		b.stopping.Store(true)
		close(b.stop)
		b.ep.Close()
		if b.ownIfc {
			b.ifc.Down()
		}
	})
}

// Stop stops the bridge, waits for its loops to return and releases what
// it owns (see Open and New). It returns nil unless releasing failed.
func (b *Bridge) Stop() error {
	b.startOnce.Do(func() { close(b.done) }) // never started
	b.halt()
	<-b.done
	var err error
	if b.started.Load() && !b.promisc {
		if e := b.ifc.SetPromisc(false); e != nil && !errors.Is(e, unix.ENXIO) {
			err = e
		}
	}
	if b.ownIfc {
		if e := b.ifc.Destroy(); e != nil && !errors.Is(e, unix.ENXIO) {
			err = e
		}
	}
	return err
}

// Done is closed when the bridge has stopped, by Stop or by itself.
func (b *Bridge) Done() <-chan struct{} { return b.done }

// Err returns why the bridge stopped by itself: an error of the endpoint or
// the bus (one matching io.EOF when the endpoint's peer went away), or nil
// while it runs or after Stop.
func (b *Bridge) Err() error {
	select {
	case <-b.done:
		return b.err
	default:
		return nil
	}
}

// Wait blocks until the bridge has stopped and returns Err.
func (b *Bridge) Wait() error {
	<-b.done
	return b.err
}

// Stats returns the counters.
func (b *Bridge) Stats() Stats {
	return Stats{
		ToEndpoint: b.epStats.load(),
		ToBus:      b.busStats.load(),
		Bus:        b.ifc.Stats(),
		Endpoint:   endpointStats(b.ep),
	}
}

// String formats the counters as one line naming the endpoint.
func (b *Bridge) String() string { return b.Stats().line(b.ep.String()) }

// admit applies the loop rule and the learning filter to the frames read
// from one side, in place, and returns those to forward.
func (b *Bridge) admit(from side, frames [][]byte, now time.Time, t *tally) [][]byte {
	back, ahead := &b.toBus, &b.toEp // a frame from the bus must not have been sent to it
	if from == endpointSide {
		back, ahead = &b.toEp, &b.toBus
	}
	mono := monoNanos(now)
	tk := tick(mono)
	repeat := repeatWindow
	if seen := b.loopSeen.Load(); seen != 0 && mono-seen < int64(loopAlert) {
		repeat = loopRepeatWindow
	}
	if b.cfg.NoRepeatGuard {
		repeat = -1
	}
	if b.fdb != nil {
		b.fdb.mu.Lock()
		defer b.fdb.mu.Unlock()
	}
	out := frames[:0]
	for _, f := range frames {
		h := b.hash.sum(f)
		if back.has(h, tk, loopWindow) {
			t.loop++
			b.loopSeen.Store(max(mono, 1))
			continue
		}
		if repeat >= 0 && ahead.has(h, tk, repeat) {
			t.loop++
			continue
		}
		if b.fdb != nil && b.fdb.filter(from, f, mono) {
			t.filtered++
			continue
		}
		ahead.add(h, tk)
		out = append(out, f)
	}
	return out
}

// busQueue is how many batches read from the bus may wait for the
// endpoint's writer. The bus holds 1 MiB, under a millisecond of a fast
// sender's frames: a reader that also did the writing (a pass through a
// kernel's stack for a tap) would fall that far behind whenever its thread
// was descheduled, and lose frames. Reading and writing in two goroutines
// with a queue between them, the bus is drained while a write runs.
const busQueue = 8

// busBatchBuf is one receive's worth of frames.
type busBatchBuf struct {
	frames []shmif.Frame
	n      int
	now    time.Time
}

// toEndpointLoop reads the bus into batches that a writer goroutine takes
// through the rules and delivers to the endpoint's writer.
func (b *Bridge) toEndpointLoop(deliver func([][]byte, time.Time) error) error {
	free := make(chan *busBatchBuf, busQueue)
	full := make(chan *busBatchBuf, busQueue)
	for range busQueue {
		bt := &busBatchBuf{frames: make([]shmif.Frame, busBatch)}
		for i := range bt.frames {
			bt.frames[i].Buf = make([]byte, MaxFrame)
		}
		free <- bt
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		out := make([][]byte, 0, busBatch)
		var t tally
		failed := false
		for bt := range full {
			if !failed {
				out = out[:0]
				for _, f := range bt.frames[:bt.n] {
					out = append(out, f.Buf[:f.Len])
				}
				out = b.admit(busSide, out, bt.now, &t)
				b.epStats.add(&t)
				if err := deliver(out, bt.now); err != nil {
					failed = true
					b.fail(err)
				}
			}
			free <- bt
		}
	}()
	defer func() {
		close(full)
		<-done
	}()
	for !b.stopping.Load() {
		var bt *busBatchBuf
		select {
		case bt = <-free:
		case <-b.stop:
			return nil
		}
		n, err := b.ifc.RecvBatch(bt.frames, recvTimeout)
		switch {
		case err == nil:
		case errors.Is(err, unix.ETIMEDOUT), errors.Is(err, unix.EDEADLK):
			free <- bt
			continue
		case b.stopping.Load():
			free <- bt
			return nil
		default:
			free <- bt
			return fmt.Errorf("bus: %w", err)
		}
		bt.n, bt.now = n, time.Now()
		full <- bt
	}
	return nil
}

// writeEndpoint writes frames to the endpoint and counts them.
func (b *Bridge) writeEndpoint(frames [][]byte) error {
	frames = b.fit(frames, &b.epStats)
	if len(frames) == 0 {
		return nil
	}
	n, err := b.ep.WriteFrames(frames)
	if err != nil {
		b.epStats.wrote(frames[:n])
		b.epStats.errors.Add(uint64(len(frames) - n))
		if b.stopping.Load() {
			return nil
		}
		return fmt.Errorf("%s: %w", b.ep, err)
	}
	// Frames the endpoint could not carry it counts itself.
	b.epStats.wrote(frames[:n])
	return nil
}

// toBusLoop reads the endpoint and delivers to the bus's writer.
func (b *Bridge) toBusLoop(deliver func([][]byte, time.Time) error) error {
	size := max(b.ep.MaxFrame(), MaxFrame)
	bufs := make([][]byte, endpointBatch)
	for i := range bufs {
		bufs[i] = make([]byte, size)
	}
	lens := make([]int, endpointBatch)
	out := make([][]byte, 0, endpointBatch)
	var t tally
	for {
		n, err := b.ep.ReadFrames(bufs, lens)
		if err != nil {
			if b.stopping.Load() {
				return nil
			}
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("%s: peer closed the connection: %w", b.ep, err)
			}
			return fmt.Errorf("%s: %w", b.ep, err)
		}
		now := time.Now()
		out = out[:0]
		for i := range n {
			switch l := lens[i]; {
			case l > MaxFrame || l > len(bufs[i]):
				t.big++
			case l < MinFrame:
				t.small++
			default:
				out = append(out, bufs[i][:l])
			}
		}
		out = b.admit(endpointSide, out, now, &t)
		b.busStats.add(&t)
		if err := deliver(out, now); err != nil {
			return err
		}
	}
}

// writeBus puts frames on the bus and counts them. The bus lock wedged by
// a live holder (EDEADLK) loses the batch but not the bridge.
func (b *Bridge) writeBus(frames [][]byte) error {
	frames = b.fit(frames, &b.busStats)
	if len(frames) == 0 {
		return nil
	}
	n, err := b.ifc.SendBatch(frames)
	b.busStats.wrote(frames[:n])
	if err != nil {
		b.busStats.errors.Add(uint64(len(frames) - n))
		if b.stopping.Load() || errors.Is(err, unix.EDEADLK) {
			return nil
		}
		return fmt.Errorf("bus: %w", err)
	}
	return nil
}

// fit drops, in place, frames a bus cannot carry: only a stage can make
// them, the readers check what they read.
func (b *Bridge) fit(frames [][]byte, c *counters) [][]byte {
	ok := true
	for _, f := range frames {
		if len(f) < MinFrame || len(f) > MaxFrame {
			ok = false
			break
		}
	}
	if ok {
		return frames
	}
	var t tally
	out := frames[:0]
	for _, f := range frames {
		switch {
		case len(f) < MinFrame:
			t.small++
		case len(f) > MaxFrame:
			t.big++
		default:
			out = append(out, f)
		}
	}
	c.add(&t)
	return out
}

package shmif

import (
	"errors"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/libshmif/libshmif/core/internal/bus"
	"github.com/libshmif/libshmif/core/internal/buslock"
	"github.com/libshmif/libshmif/core/internal/layout"
	"github.com/libshmif/libshmif/core/internal/ring"
	"github.com/libshmif/libshmif/core/internal/wake"
	"golang.org/x/sys/unix"
)

// DefaultSpin is how long a receiver with nothing to read keeps looking at
// the bus before it blocks, unless changed with SetSpin. A short spin turns a
// cross-CPU hand-off from tens of microseconds (a blocking wake-up) into
// about one; it is bounded, so idle interfaces cost no CPU.
const DefaultSpin = 50 * time.Microsecond

// SpinEnv names the environment variable that overrides DefaultSpin, in
// microseconds, for interfaces created after it is set.
const SpinEnv = "SHMIF_SPIN_US"

func spinFromEnv() time.Duration {
	if v, err := strconv.Atoi(Getenv(SpinEnv)); err == nil && v >= 0 {
		return time.Duration(v) * time.Microsecond
	}
	return DefaultSpin
}

// recheck is the longest a receiver blocks before it looks at the bus again
// even without a wake-up: a safety net, since NetBSD never relies on timing.
// Tests lengthen it, so that a missed wake-up shows as a wait for the
// timeout instead of a second's delay.
var recheck atomic.Int64

func init() { recheck.Store(int64(time.Second)) }

// lookGrace is how long a receive with timeout 0 waits for a bus lock held
// by someone else: holders hold it for microseconds, so a lock taken for
// longer is wedged, and a call that only looks must not hang on it.
const lookGrace = 10 * time.Millisecond

// Frame is one frame for RecvBatch: Buf is where it goes; the other fields
// describe what arrived.
type Frame struct {
	Buf    []byte
	Len    int    // length of the frame received
	Csum   uint32 // receive checksum status (CsumIPv4, ...) when RX offload is enabled
	Sec    uint32 // sender's timestamp
	Usec   uint32
	Sender uint64 // the sending interface's id (see Interface.Sender)
}

// Stats are the interface counters. Lost and Corrupt are libshmif's own:
// frames overwritten before this interface read them, and records skipped
// because they could not be frames.
type Stats struct {
	Ipackets, Ibytes, Imcasts uint64
	Opackets, Obytes, Omcasts uint64
	Oerrors                   uint64
	Lost, Corrupt             uint64
}

type counters struct {
	ipackets, ibytes, imcasts atomic.Uint64
	opackets, obytes, omcasts atomic.Uint64
	oerrors                   atomic.Uint64
}

// Stats returns the counters.
func (i *Interface) Stats() Stats {
	s := Stats{
		Ipackets: i.stats.ipackets.Load(), Ibytes: i.stats.ibytes.Load(), Imcasts: i.stats.imcasts.Load(),
		Opackets: i.stats.opackets.Load(), Obytes: i.stats.obytes.Load(), Omcasts: i.stats.omcasts.Load(),
		Oerrors: i.stats.oerrors.Load(),
	}
	i.rx.Lock()
	s.Lost, s.Corrupt = i.reader.Lost, i.reader.Corrupt
	i.rx.Unlock()
	return s
}

// SetSpin sets how long a receiver spins before blocking (0: never spins).
func (i *Interface) SetSpin(d time.Duration) { i.spin.Store(int64(max(d, 0))) }

// Spin returns the spin time set by SetSpin.
func (i *Interface) Spin() time.Duration { return time.Duration(i.spin.Load()) }

// checkFrame returns the error for a frame the bus cannot carry.
func checkFrame(f []byte) error {
	switch {
	case len(f) > layout.MaxFrame:
		return unix.EMSGSIZE
	case len(f) < layout.MinFrame:
		return unix.EINVAL
	}
	return nil
}

// Send puts one Ethernet frame (14 to 1514 bytes: destination, source,
// type, payload; no FCS) on the bus and wakes its readers.
// Errors: EMSGSIZE over 1514 bytes, EINVAL under 14, ENXIO if destroyed,
// ENETDOWN if down, EIO if the bus file was truncated, EDEADLK if the bus
// lock could not be had.
func (i *Interface) Send(frame []byte) error {
	frames := [1][]byte{frame}
	_, err := i.SendBatch(frames[:])
	return err
}

// SendBatch puts frames on the bus, under one hold of the bus lock and with
// one wake-up per 256 frames. Every frame is checked first: if one is
// refused, none is sent. It returns how many frames were sent, which is
// fewer than len(frames) only with an error (EIO, EDEADLK) met after the
// first 256.
func (i *Interface) SendBatch(frames [][]byte) (int, error) {
	for _, f := range frames {
		if err := checkFrame(f); err != nil {
			return 0, err
		}
	}
	i.cfg.RLock()
	defer i.cfg.RUnlock()
	if err := i.usable(); err != nil {
		return 0, err
	}
	return i.put(frames)
}

// usable says whether frames may be sent and received. Needs cfg held.
func (i *Interface) usable() error {
	switch {
	case i.destroyed:
		return unix.ENXIO
	case !i.up:
		return unix.ENETDOWN
	}
	return nil
}

// maxHold bounds the frames written under one hold of the bus lock, so
// that a long batch does not keep everyone else off the bus.
const maxHold = 256

// put writes checked frames and counts them, in holds of the bus lock of
// at most maxHold frames, each followed by a wake-up. It returns how many
// frames went on the bus. Needs cfg held (read).
func (i *Interface) put(frames [][]byte) (int, error) {
	sent := 0
	for sent < len(frames) {
		chunk := frames[sent:min(len(frames), sent+maxHold)]
		if err := i.putHold(chunk); err != nil {
			return sent, err
		}
		sent += len(chunk)
	}
	return sent, nil
}

func (i *Interface) putHold(frames [][]byte) error {
	var bytes, mcasts uint64
	for _, f := range frames {
		bytes += uint64(len(f))
		if f[0]&1 != 0 {
			mcasts++
		}
	}
	if i.link != LinkDown {
		now := stamps.now()
		h := layout.FrameHeader{Sec: uint32(now.Unix()), Usec: uint32(now.Nanosecond() / 1000), Sender: i.sender}
		if err := i.writeAll(frames, &h); err != nil {
			i.stats.oerrors.Add(uint64(len(frames)))
			return err
		}
	}
	// With media none NetBSD drops the frames but still counts them.
	i.stats.opackets.Add(uint64(len(frames)))
	i.stats.obytes.Add(bytes)
	if mcasts > 0 {
		i.stats.omcasts.Add(mcasts)
	}
	return nil
}

// writeAll puts frames on the bus and wakes its readers. A lossless reader
// that has not read far enough holds it back: it writes what fits, wakes
// the readers, waits for the room it needs (at most as long as that reader
// asked), and goes on; once a reader's wait is over, it writes past it.
// Needs cfg held (read).
func (i *Interface) writeAll(frames [][]byte, h *layout.FrameHeader) error {
	side := i.bus.Sidecar()
	if side == nil || !side.HasLossless() {
		if err := i.write(frames, h, ^uint64(0)); err != nil {
			return err
		}
		// The frames are on the bus: a failed wake-up is not a failed
		// send (a retry would duplicate them).
		i.bus.Notify()
		return nil
	}
	skip := i.losslessSkip()
	since := time.Now()
	for len(frames) > 0 {
		var n, slot int
		var need uint64
		i.rx.Lock() // before the bus lock, as readers take them
		err := i.bus.WithLock(func(m *layout.Mem) error {
			var limit uint64
			limit, slot = side.Limit(skip)
			n, need = i.writeLocked(m, frames, h, limit)
			return nil
		})
		i.rx.Unlock()
		if err != nil {
			return err
		}
		if n > 0 {
			i.bus.Notify()
			frames = frames[n:]
		}
		if len(frames) > 0 && !side.WaitRoom(slot, need, since) {
			skip = append(skip, slot)
		}
	}
	return nil
}

// losslessSkip is the slot of the interface's own lossless reader, which
// its own frames do not wait for (it skips them).
func (i *Interface) losslessSkip() []int {
	if l := i.lossless.Load(); l != nil {
		return []int{l.Slot()}
	}
	return nil
}

// write puts frames on the bus under its lock, up to stream position limit
// (all of them with no limit). Needs cfg held (read).
func (i *Interface) write(frames [][]byte, h *layout.FrameHeader, limit uint64) error {
	i.rx.Lock() // before the bus lock, as readers take them
	defer i.rx.Unlock()
	return i.bus.WithLock(func(m *layout.Mem) error {
		i.writeLocked(m, frames, h, limit)
		return nil
	})
}

// writeLocked writes the frames that fit before limit, with rx and the bus
// lock held.
func (i *Interface) writeLocked(m *layout.Mem, frames [][]byte, h *layout.FrameHeader, limit uint64) (n int, need uint64) {
	w := ring.NewWriter(m)
	// Our own frames are never received: a reader that has read
	// everything up to them skips them now rather than on its next
	// receive, under the lock again.
	skip := i.reader.At(&w)
	if limit == ^uint64(0) {
		w.AppendBatch(h, frames)
		n = len(frames)
	} else {
		n, need = w.AppendLimited(h, frames, limit)
	}
	if skip {
		i.reader.SkipWritten(&w)
		i.publish()
	}
	return n, need
}

// Recv receives one frame into buf and returns its length. timeout < 0
// waits without limit, 0 only looks. A frame larger than buf is not
// consumed: Recv returns EMSGSIZE and the length needed (a buffer of 1514
// bytes always suffices).
// Errors: EAGAIN (timeout 0, nothing there), ETIMEDOUT, EMSGSIZE, ENETDOWN
// (down, also when taken down during the wait), ENXIO (destroyed),
// ECANCELED (Cancel was called during the wait), EIO, EDEADLK.
func (i *Interface) Recv(buf []byte, timeout time.Duration) (int, error) {
	frames := [1]Frame{{Buf: buf}}
	_, err := i.RecvBatch(frames[:], timeout)
	return frames[0].Len, err
}

// RecvBatch receives up to len(frames) frames under at most one lock
// acquisition (none when only a few frames behind the writers), waiting as
// Recv does until at least one is there. It returns how many
// frames it filled in; on EMSGSIZE frames[0].Len is the length needed.
func (i *Interface) RecvBatch(frames []Frame, timeout time.Duration) (int, error) {
	if len(frames) == 0 {
		return 0, nil
	}
	// The deadline is set when the first look finds nothing: receives
	// that find frames at once never read the clock.
	var deadline time.Time
	cancels := i.cancels.Load()
	for {
		n, err := i.recvOnce(frames, timeout, &deadline)
		if n > 0 || err != nil {
			return n, err
		}
		if i.cancels.Load() != cancels {
			return 0, unix.ECANCELED
		}
	}
}

// recvOnce reads what is there and, if that is nothing, waits once.
// It returns 0, nil when the caller should look again.
func (i *Interface) recvOnce(frames []Frame, timeout time.Duration, deadline *time.Time) (int, error) {
	i.cfg.RLock()
	locked := true
	defer func() {
		if locked {
			i.cfg.RUnlock()
		}
	}()
	if err := i.usable(); err != nil {
		return 0, err
	}
	// The epoch is taken before the bus is looked at, so that a Cancel,
	// Down or Destroy from now on ends the spin and the wait below.
	epoch := i.epoch.Load()
	// A lock that stays taken (a stopped holder) must not hold the caller
	// past its deadline; with timeout 0 it waits only a moment. Relative
	// limits cost a clock read only when the lock is taken.
	var limit buslock.Limit
	switch {
	case timeout == 0:
		limit.Wait = lookGrace
	case timeout > 0 && deadline.IsZero():
		limit.Wait = timeout
	case timeout > 0:
		limit.Deadline = *deadline
	}
	look := func(clearPoll bool) (int, idleMark, error) {
		n, idle, err := i.read(frames, limit, clearPoll)
		if errors.Is(err, unix.ETIMEDOUT) && timeout == 0 {
			err = unix.EAGAIN
		}
		return n, idle, err
	}
	n, idle, err := look(false)
	if n > 0 || err != nil {
		return n, err
	}
	if i.poll != nil {
		// Clear the poll descriptor only after finding nothing, then
		// look again: what arrives later signals it anew. (read clears
		// it, and sets it again if it finds frames, under rx, as a poll
		// group looks and sets: see setIfChanged.)
		if n, idle, err = look(true); n > 0 || err != nil {
			return n, err
		}
	}
	if timeout == 0 {
		return 0, unix.EAGAIN
	}
	// The deadline is fixed by the first look that finds nothing, and
	// never moves: signals or spurious wake-ups cannot extend it.
	now := time.Now()
	if timeout > 0 && deadline.IsZero() {
		*deadline = now.Add(timeout)
	}
	until := now.Add(time.Duration(recheck.Load()))
	if timeout > 0 {
		if !now.Before(*deadline) {
			return 0, unix.ETIMEDOUT
		}
		if deadline.Before(until) {
			until = *deadline
		}
	}
	if i.spinFor(idle, epoch, now, until.Sub(now)) {
		return 0, nil
	}
	// Wait without the configuration lock, so that configuration
	// changes need not wait for us; Down and Destroy bump the epoch
	// and wake the hub, and wait for us to leave before they detach.
	b := i.bus
	i.waiters.Add(1)
	defer i.waiters.Done()
	locked = false
	i.cfg.RUnlock()
	b.Hub().Wait(func() bool {
		return i.epoch.Load() != epoch || i.busMoved(b, idle)
	}, until)
	return 0, nil
}

// busMoved reports, without the lock, whether the bus changed since the
// reader found it idle (or cannot be read any more: the caller will see
// why).
func (i *Interface) busMoved(b *bus.Bus, idle idleMark) bool {
	moved := true
	b.Guard(func(m *layout.Mem) error {
		moved = m.Last() != idle.last || m.Gen() != idle.gen || m.Magic() != layout.Magic
		return nil
	})
	return moved
}

// idleMark is where the bus stood when a reader found nothing.
type idleMark struct {
	gen  uint64
	last uint32
}

// spinFor watches the bus without the lock for up to the spin time and
// reports whether it changed since idle, or the interface's epoch moved
// (a Cancel, Down or Destroy).
func (i *Interface) spinFor(idle idleMark, epoch uint64, start time.Time, limit time.Duration) bool {
	spin := min(time.Duration(i.spin.Load()), limit)
	if spin <= 0 {
		return false
	}
	changed := false
	// On one CPU, now and then let another process have it: the peer
	// we wait for may be queued behind us.
	var pacer wake.Pacer
	i.bus.Guard(func(m *layout.Mem) error {
		for k := 0; ; k++ {
			if m.Last() != idle.last || m.Gen() != idle.gen || i.epoch.Load() != epoch {
				changed = true
				return nil
			}
			if k%256 == 255 {
				now := time.Now()
				if now.Sub(start) > spin {
					return nil
				}
				pacer.Tick(now)
			}
		}
	})
	return changed
}

// read copies out accepted frames under one bus lock acquisition, first
// clearing the poll descriptor if clearPoll. Needs cfg held (read).
func (i *Interface) read(frames []Frame, limit buslock.Limit, clearPoll bool) (n int, idle idleMark, err error) {
	i.rx.Lock()
	defer i.rx.Unlock()
	if clearPoll {
		i.poll.ready.Clear()
		// Runs before the unlock: frames found, or a look that
		// failed, leave the descriptor readable.
		defer func() {
			if n > 0 || err != nil {
				i.poll.ready.Set()
			}
		}()
	}
	var c rxCount
	// Polling an idle bus must not take the lock: that would stall
	// its writers.
	quiet := false
	err = i.bus.Guard(func(m *layout.Mem) error {
		if quiet = i.unchanged(m); quiet {
			idle = idleMark{gen: m.Gen(), last: m.Last()}
			return nil
		}
		// A reader close behind the writers copies without the
		// lock: taking it would pull the header's cache line away
		// from them twice per frame. Only on a bus that is still
		// one (WithLock checks the magic for the locked path), and
		// for a bounded number of records: frames the filter drops
		// do not end the loop otherwise.
		if m.Magic() != layout.Magic {
			return nil
		}
		var h layout.FrameHeader
		for tries := 0; n < len(frames) && tries < maxTries; tries++ {
			f := &frames[n]
			if !i.reader.TryNext(m, f.Buf, &h) {
				break
			}
			if i.deliver(f, &h, &c) {
				n++
			}
		}
		if n == 0 {
			// Further behind: copy the backlog while the writers go
			// on, and check afterwards that they did not reach it.
			n = i.readBatches(m, frames, &c)
		}
		return nil
	})
	if n > 0 || quiet || err != nil {
		i.count(frames[:n], &c)
		i.publish()
		return n, idle, err
	}
	err = i.bus.WithLockWithin(limit, func(m *layout.Mem) error {
		for n < len(frames) {
			f := &frames[n]
			h, st := i.reader.Next(m, f.Buf)
			switch st {
			case ring.Empty:
				idle = idleMark{gen: m.Gen(), last: m.Last()}
				return nil
			case ring.TooSmall:
				// A frame we would not accept must not block us.
				var dst [6]byte
				i.reader.Peek(m, dst[:])
				if !i.accept(h.Sender, dst[:]) {
					i.reader.Drop(m)
					continue
				}
				if n == 0 {
					f.Len = int(h.Len)
					return unix.EMSGSIZE
				}
				return nil
			}
			if i.deliver(f, &h, &c) {
				n++
			}
		}
		return nil
	})
	i.count(frames[:n], &c)
	i.publish()
	return n, idle, err
}

// readBatches copies a backlog lock-free, batch by batch (ring.Batch), into
// frames, and returns how many it filled in. A batch the check refuses is
// undone, and the caller reads the rest under the lock. Needs rx held.
func (i *Interface) readBatches(m *layout.Mem, frames []Frame, c *rxCount) int {
	n := 0
	for n < len(frames) {
		saved, n0, c0 := i.reader, n, *c
		b, ok := i.reader.TryBegin(m)
		if !ok {
			return n
		}
		var h layout.FrameHeader
		for n < len(frames) {
			f := &frames[n]
			if !i.reader.TryCopy(m, &b, f.Buf, &h) {
				break
			}
			if i.deliver(f, &h, c) {
				n++
			}
		}
		if !i.reader.TryEnd(m, &b) {
			i.reader, *c = saved, c0
			return n0
		}
		if b.Done() {
			return n
		}
	}
	return n
}

// count adds what one read received to the counters and sets the receive
// checksum status of the frames delivered.
func (i *Interface) count(got []Frame, c *rxCount) {
	if c.packets > 0 {
		i.stats.ipackets.Add(c.packets)
		i.stats.ibytes.Add(c.bytes)
		i.stats.imcasts.Add(c.mcasts)
	}
	if len(got) > 0 && i.capenable&RxCaps != 0 {
		for k := range got {
			got[k].Csum = rxStatus(i.capenable, got[k].Buf[:got[k].Len])
		}
	}
}

// maxTries bounds the lock-free copies of one read.
const maxTries = 64

// unchanged reports, without the bus lock, that the bus is still a bus and
// nothing was written since the reader caught up. Needs rx held.
func (i *Interface) unchanged(m *layout.Mem) bool {
	return m.Magic() == layout.Magic && i.reader.Idle(m)
}

// rxCount gathers the receive counters of one read.
type rxCount struct{ packets, bytes, mcasts uint64 }

// deliver applies the receive filter to the frame just copied into f and,
// if it is accepted, fills in f and counts it.
func (i *Interface) deliver(f *Frame, h *layout.FrameHeader, c *rxCount) bool {
	frame := f.Buf[:h.Len]
	if !i.accept(h.Sender, frame) {
		return false
	}
	f.Len, f.Sec, f.Usec, f.Csum, f.Sender = int(h.Len), h.Sec, h.Usec, 0, h.Sender
	c.packets++
	c.bytes += uint64(h.Len)
	if frame[0]&1 != 0 {
		c.mcasts++
	}
	return true
}

// accept is NetBSD's receive filter (docs/protocol.md §6.3). Needs cfg held.
func (i *Interface) accept(sender uint64, frame []byte) bool {
	switch {
	case i.link == LinkDown:
		return false
	case sender == i.sender:
		return false // our own transmission
	case [6]byte(frame[:6]) == i.mac:
		return true
	case frame[0]&1 != 0:
		return true // broadcast and multicast: the stack filters groups
	}
	return i.promisc
}

// Package shmif is libshmif's Go API: the shmif network interface, what a
// NetBSD rump kernel user manipulates with ifconfig(8) (create, linkstr, up,
// down, link address, promiscuous mode, media, capabilities, destroy), plus
// the frame send and receive calls that the kernel's network stack would
// make, counters, lossless delivery and cancellation. The examples are
// runnable programs; docs/protocol.md describes the bus underneath.
//
// A minimal program:
//
//	ifc, err := shmif.Open("/tmp/bus", -1) // lowest free unit, attached, up
//	if err != nil { ... }
//	defer ifc.Destroy()
//	ifc.Send(frame)
//	n, err := ifc.Recv(buf, time.Second)
//
// Every error is a syscall.Errno (golang.org/x/sys/unix) with the value the C
// API returns; see include/rump/rump.h for the table. All methods are safe for
// concurrent use.
package shmif

import (
	"crypto/rand"
	"encoding/binary"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libshmif/libshmif/core/internal/bus"
	"github.com/libshmif/libshmif/core/internal/layout"
	"github.com/libshmif/libshmif/core/internal/ring"
	"github.com/libshmif/libshmif/core/internal/sidecar"
	"golang.org/x/sys/unix"
)

// NetBSD interface flags (IFF_*) reported by Flags.
const (
	FlagUp        = 0x0001
	FlagBroadcast = 0x0002
	FlagRunning   = 0x0040
	FlagPromisc   = 0x0100
	FlagSimplex   = 0x0800
	FlagMulticast = 0x8000
)

// MTU is the interface MTU (ETHERMTU); shmif has no VLAN_MTU capability.
const MTU = 1500

// MaxLinkstr is the longest linkstr accepted, counting its NUL (MAXPATHLEN).
const MaxLinkstr = 1024

// LinkState is NetBSD's LINK_STATE_* value.
type LinkState int

const (
	LinkUnknown LinkState = 0
	LinkDown    LinkState = 1
	LinkUp      LinkState = 2
)

// Media is the selected media word: Ethernet autoselect or none.
type Media int

const (
	MediaAuto Media = 0
	MediaNone Media = 1
)

// Interface is one shmif interface, named shmif<unit>.
type Interface struct {
	unit   int
	sender uint64 // sp_sender of every frame we write; our own frames are dropped by it

	// cfg guards the configuration below. Data-path calls hold it for
	// reading, so a configuration change waits for them; blocked
	// receivers are kicked out of their wait first.
	cfg       sync.RWMutex
	destroyed bool
	up        bool
	bus       *bus.Bus
	poll      *poller // nil until PollFd is called
	linkstr   string
	media     Media
	link      LinkState
	promisc   bool
	mac       [6]byte
	capenable uint32
	start     Start

	// cancels counts Cancel calls: receives that began before one return
	// ECANCELED.
	cancels atomic.Uint64

	// epoch changes whenever blocked receivers must look at the
	// interface again (down, destroyed, cancelled); they wait on the bus's hub
	// without holding cfg, counted in waiters, so that configuration
	// changes need not wait for them.
	epoch   atomic.Uint64
	waiters sync.WaitGroup

	// rx guards the reader position; taken inside cfg (read).
	rx     sync.Mutex
	reader ring.Reader

	stats counters
	spin  atomic.Int64 // nanoseconds a receiver spins before it blocks

	// A lossless receiver's registration in the bus's sidecar, while it
	// is up on a bus that has one; losslessWait (under cfg) is how long
	// writers wait for it, 0 when it is not lossless.
	lossless     atomic.Pointer[sidecar.Lossless]
	losslessWait time.Duration
}

// Create makes interface shmif<unit> (the lowest free unit when unit < 0),
// down and without a bus, like `ifconfig shmifN create`. Errors: EEXIST if
// the unit is taken, EINVAL for a unit above 32767, ENOSPC when all are.
func Create(unit int) (*Interface, error) {
	var r [8]byte
	if _, err := rand.Read(r[:]); err != nil {
		return nil, unix.EIO
	}
	i := &Interface{
		// As NetBSD since 2024: one random 64-bit value is the sender
		// id, and its first four bytes in memory complete the MAC.
		sender:    binary.NativeEndian.Uint64(r[:]),
		mac:       [6]byte{0xb2, 0xa0, r[0], r[1], r[2], r[3]},
		capenable: capEnableFromEnv(),
		start:     startFromEnv(),
	}
	i.spin.Store(int64(spinFromEnv()))
	if err := reserve(unit, i); err != nil {
		return nil, err
	}
	return i, nil
}

// Open creates an interface (unit as for Create), attaches it to the bus
// file at path, creating the file with bus.DefaultMode if needed, and
// brings it up: the equivalent of rump_pub_shmif_create plus ifconfig up.
func Open(path string, unit int) (*Interface, error) {
	return OpenMode(path, unit, bus.DefaultMode)
}

// OpenMode is Open with the permission bits for a new bus file.
func OpenMode(path string, unit int, mode uint32) (*Interface, error) {
	i, err := Create(unit)
	if err != nil {
		return nil, err
	}
	if err = i.SetLinkstrMode(path, mode); err == nil {
		err = i.Up()
	}
	if err != nil {
		i.Destroy()
		return nil, err
	}
	return i, nil
}

// Unit returns the unit number.
func (i *Interface) Unit() int { return i.unit }

// Name returns the interface name, shmif<unit>.
func (i *Interface) Name() string { return "shmif" + strconv.Itoa(i.unit) }

// Sender returns the 64-bit sender id written into every frame.
func (i *Interface) Sender() uint64 { return i.sender }

// SetLinkstr attaches the interface to the bus file at path (relative to the
// working directory), creating it with mode 0644 under the umask; see
// SetLinkstrMode.
func (i *Interface) SetLinkstr(path string) error {
	return i.SetLinkstrMode(path, bus.DefaultMode)
}

// SetLinkstrMode attaches the interface to the bus file at path, creating it
// with mode under the umask, like `ifconfig shmifN linkstr PATH`. The link
// state becomes up. Errors: ENXIO if destroyed; EBUSY if the interface is up
// or already has a bus; EINVAL for an empty path; E2BIG for a path of more
// than 1023 bytes; the errors of bus.Open.
func (i *Interface) SetLinkstrMode(path string, mode uint32) error {
	i.cfg.Lock()
	defer i.cfg.Unlock()
	switch {
	case i.destroyed:
		return unix.ENXIO
	case i.up || i.bus != nil:
		return unix.EBUSY
	case path == "":
		return unix.EINVAL
	case len(path)+1 > MaxLinkstr:
		return unix.E2BIG
	}
	b, err := bus.Open(path, mode)
	if err != nil {
		return err
	}
	i.bus, i.linkstr = b, path
	i.setLink()
	return nil
}

// UnsetLinkstr detaches the interface from its bus (`ifconfig shmifN
// -linkstr`); without a bus it does nothing. The link state becomes unknown.
// Errors: ENXIO if destroyed, EBUSY if the interface is up.
func (i *Interface) UnsetLinkstr() error {
	i.cfg.Lock()
	defer i.cfg.Unlock()
	switch {
	case i.destroyed:
		return unix.ENXIO
	case i.up:
		return unix.EBUSY
	}
	i.detach()
	i.setLink()
	return nil
}

// detach closes the bus. Needs cfg held for writing; receivers still
// leaving a wait on the bus's hub are waited for.
func (i *Interface) detach() {
	if i.bus == nil {
		return
	}
	i.kick()
	i.waiters.Wait()
	if i.poll != nil {
		i.poll.retire()
		i.poll = nil
	}
	i.bus.Close()
	i.bus, i.linkstr = nil, ""
}

// kick makes blocked receivers look at the interface again.
func (i *Interface) kick() {
	i.epoch.Add(1)
	if i.bus != nil {
		i.bus.Hub().Changed()
	}
}

// Linkstr returns the bus path as it was given. Errors: ENXIO if destroyed,
// ENOENT without a bus.
func (i *Interface) Linkstr() (string, error) {
	i.cfg.RLock()
	defer i.cfg.RUnlock()
	switch {
	case i.destroyed:
		return "", unix.ENXIO
	case i.bus == nil:
		return "", unix.ENOENT
	}
	return i.linkstr, nil
}

// Up brings the interface up and running and restarts reception where
// SetStart says: by default, like NetBSD's shmif_init, at the newest frame
// already on the bus, which is received again. Errors: ENXIO if destroyed
// or without a bus.
func (i *Interface) Up() error {
	i.cfg.Lock()
	defer i.cfg.Unlock()
	if i.destroyed || i.bus == nil {
		return unix.ENXIO
	}
	move := (*ring.Reader).Start
	switch i.start {
	case StartNext:
		move = (*ring.Reader).Skip
	case StartOldest:
		move = (*ring.Reader).StartOldest
	}
	if err := i.restart(move); err != nil {
		return err
	}
	i.up = true
	i.registerLossless()
	if i.poll != nil {
		i.poll.ready.Set() // frames may be waiting
	}
	return nil
}

// restart moves the reader (Start, Skip) under the bus lock, so that it
// sees a writer's header stores whole. Needs cfg held for writing.
func (i *Interface) restart(move func(*ring.Reader, *layout.Mem)) error {
	i.rx.Lock()
	defer i.rx.Unlock()
	return i.bus.WithLock(func(m *layout.Mem) error {
		move(&i.reader, m)
		i.publish()
		return nil
	})
}

// Down takes the interface down, and wakes every reader of the bus as
// NetBSD's shmif_stop does. Receivers blocked in Recv return ENETDOWN.
// Errors: ENXIO if destroyed.
func (i *Interface) Down() error {
	i.cfg.Lock()
	defer i.cfg.Unlock()
	if i.destroyed {
		return unix.ENXIO
	}
	i.stop()
	return nil
}

// stop is NetBSD's shmif_stop: not running any more, and a wake-up for
// everyone on the bus (which also stamps the bus version, as NetBSD's
// does). Needs cfg held for writing.
func (i *Interface) stop() {
	if i.up && i.bus != nil {
		i.bus.Notify()
	}
	i.up = false
	i.unregisterLossless()
	i.kick() // blocked receivers return
}

// Destroy takes the interface down, detaches its bus (the file stays) and
// releases its unit. Blocked receivers return ENXIO. Errors: ENXIO if
// already destroyed.
func (i *Interface) Destroy() error {
	i.cfg.Lock()
	defer i.cfg.Unlock()
	if i.destroyed {
		return unix.ENXIO
	}
	i.destroyed = true
	i.stop()
	i.detach()
	release(i.unit)
	return nil
}

// Flags returns the NetBSD IFF_* flags.
func (i *Interface) Flags() int {
	i.cfg.RLock()
	defer i.cfg.RUnlock()
	f := FlagBroadcast | FlagSimplex | FlagMulticast
	if i.up {
		f |= FlagUp | FlagRunning
	}
	if i.promisc {
		f |= FlagPromisc
	}
	return f
}

// MAC returns the current link address.
func (i *Interface) MAC() [6]byte {
	i.cfg.RLock()
	defer i.cfg.RUnlock()
	return i.mac
}

// SetMAC changes the link address; reception filters on it from now on.
// Errors: EINVAL for a group (multicast or broadcast) address, ENXIO if
// destroyed.
func (i *Interface) SetMAC(mac [6]byte) error {
	if mac[0]&1 != 0 {
		return unix.EINVAL
	}
	return i.configure(func() { i.mac = mac })
}

// SetPromisc turns promiscuous reception on or off: frames for any unicast
// address are received, not only ours. Errors: ENXIO if destroyed.
func (i *Interface) SetPromisc(on bool) error {
	return i.configure(func() { i.promisc = on })
}

// configure runs change with the configuration locked, unless the
// interface was destroyed (ENXIO).
func (i *Interface) configure(change func()) error {
	i.cfg.Lock()
	defer i.cfg.Unlock()
	if i.destroyed {
		return unix.ENXIO
	}
	change()
	return nil
}

// SetMedia selects media autoselect (link up when a bus is attached) or
// none (link down: nothing is sent to or received from the bus, though
// transmissions are still counted), like `ifconfig shmifN media none|auto`.
// Errors: EINVAL for another value, ENXIO if destroyed; going back to auto
// moves the reader under the bus lock: EIO, EDEADLK.
func (i *Interface) SetMedia(m Media) error {
	if m != MediaAuto && m != MediaNone {
		return unix.EINVAL
	}
	i.cfg.Lock()
	defer i.cfg.Unlock()
	if i.destroyed {
		return unix.ENXIO
	}
	if i.media == MediaNone && m == MediaAuto && i.bus != nil {
		// NetBSD drops what arrives while the link is down as it
		// arrives; we drop it all at once by skipping to the present.
		if err := i.restart((*ring.Reader).Skip); err != nil {
			return err
		}
	}
	i.media = m
	i.setLink()
	return nil
}

// setLink derives the link state as the 2024 driver does: down with media
// none, up while a bus is attached, unknown without one. Needs cfg held.
func (i *Interface) setLink() {
	switch {
	case i.media == MediaNone:
		i.link = LinkDown
	case i.bus != nil:
		i.link = LinkUp
	default:
		i.link = LinkUnknown
	}
}

// Media returns the selected media.
func (i *Interface) Media() Media {
	i.cfg.RLock()
	defer i.cfg.RUnlock()
	return i.media
}

// LinkState returns the link state: up once a bus is attached, down with
// media none, unknown otherwise.
func (i *Interface) LinkState() LinkState {
	i.cfg.RLock()
	defer i.cfg.RUnlock()
	return i.link
}

// CapEnable returns the enabled offload capabilities.
func (i *Interface) CapEnable() uint32 {
	i.cfg.RLock()
	defer i.cfg.RUnlock()
	return i.capenable
}

// SetCapEnable sets the enabled offload capabilities. Errors: EINVAL for
// bits outside Capabilities, ENXIO if destroyed.
func (i *Interface) SetCapEnable(c uint32) error {
	if c&^Capabilities != 0 {
		return unix.EINVAL
	}
	return i.configure(func() { i.capenable = c })
}

// Start says where reception starts at each Up.
type Start int

const (
	// StartNewest starts with the newest frame already on the bus, which
	// is received again, as NetBSD does (the default).
	StartNewest Start = iota
	// StartNext starts with the first frame written after Up: a clean
	// start on a bus that already carried frames.
	StartNext
	// StartOldest starts with the oldest frame still on the bus.
	StartOldest
)

// StartEnv names the environment variable that sets the start of
// interfaces created after it is set: "newest", "next" or "oldest".
const StartEnv = "SHMIF_START"

func startFromEnv() Start {
	switch Getenv(StartEnv) {
	case "next":
		return StartNext
	case "oldest":
		return StartOldest
	}
	return StartNewest
}

// SetStart sets where reception starts at the next Up (the start an
// interface is created with comes from SHMIF_START, else StartNewest).
// Errors: EINVAL for another value, ENXIO if destroyed.
func (i *Interface) SetStart(s Start) error {
	if s < StartNewest || s > StartOldest {
		return unix.EINVAL
	}
	return i.configure(func() { i.start = s })
}

// Cancel makes every receive blocked on the interface return ECANCELED, and
// its poll descriptor readable, without changing the interface. Receives
// that begin after it are not affected. Errors: ENXIO if destroyed.
func (i *Interface) Cancel() error {
	i.cfg.RLock()
	defer i.cfg.RUnlock()
	if i.destroyed {
		return unix.ENXIO
	}
	i.cancels.Add(1)
	i.epoch.Add(1)
	if i.poll != nil {
		i.poll.ready.Set()
	}
	if i.bus != nil {
		i.bus.Hub().Changed()
	}
	return nil
}

// SetLossless makes the interface a lossless receiver (maxWait > 0) or an
// ordinary one (0): libshmif writers on its bus, in any process, do not
// overwrite frames it has not read; a writer that would waits, spinning
// then asleep, for at most maxWait, and then writes anyway (the frames the
// receiver then misses are counted in Lost). NetBSD writers know nothing of
// it: their frames may still lap it. A lossless receiver that is destroyed,
// taken down or dies stops holding writers back at once (within 10 ms for a
// process that dies). It needs libshmif's private state beside the bus;
// without it (see Lossless) it is an ordinary receiver.
// Errors: EINVAL for a negative maxWait, ENXIO if destroyed.
func (i *Interface) SetLossless(maxWait time.Duration) error {
	if maxWait < 0 {
		return unix.EINVAL
	}
	i.cfg.Lock()
	defer i.cfg.Unlock()
	if i.destroyed {
		return unix.ENXIO
	}
	i.unregisterLossless()
	i.losslessWait = maxWait
	if i.up {
		i.registerLossless()
	}
	return nil
}

// Lossless returns the wait SetLossless set, and whether writers heed it
// now: the interface is up on a bus with libshmif's private state.
func (i *Interface) Lossless() (maxWait time.Duration, active bool) {
	i.cfg.RLock()
	defer i.cfg.RUnlock()
	return i.losslessWait, i.lossless.Load() != nil
}

// registerLossless registers the receiver with the bus's sidecar if it is
// to be lossless. Needs cfg held for writing.
func (i *Interface) registerLossless() {
	if i.losslessWait == 0 || i.bus == nil || i.lossless.Load() != nil {
		return
	}
	side := i.bus.Sidecar()
	if side == nil {
		return
	}
	i.rx.Lock()
	defer i.rx.Unlock()
	l, err := side.NewLossless(i.losslessWait, i.reader.Keep())
	if err == nil {
		i.lossless.Store(l)
	}
}

// unregisterLossless lets writers go on without waiting for the receiver.
// Needs cfg held for writing.
func (i *Interface) unregisterLossless() {
	if l := i.lossless.Swap(nil); l != nil {
		l.Close()
	}
}

// publish tells writers how far a lossless receiver has read. Needs rx.
func (i *Interface) publish() {
	if l := i.lossless.Load(); l != nil {
		l.Publish(i.reader.Keep())
	}
}

package vxlan

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// maxFrame is the largest frame ReadFrames returns whole: an Ethernet frame
// of a 1500-byte MTU without FCS, the largest a shmif bus carries.
const maxFrame = 1514

// Endpoint is an open VXLAN tunnel endpoint: Ethernet frames in, UDP
// datagrams out, and back. ReadFrames and WriteFrames may run at the same
// time, each in one goroutine; Stats, FDB, String and Close from any.
type Endpoint struct {
	cfg  config
	spec string
	v6   bool

	rxfd     int  // UDP socket bound to dstport: every datagram comes in here
	txfd     int  // raw UDP socket, or rxfd when the process may not open one
	raw      bool // txfd is raw: source ports come from the flow hash
	efd      int  // eventfd that Close signals to end waits in poll
	devIndex uint32

	portLo, portHi uint16 // raw: source ports portLo..portHi-1
	seed           maphash.Seed

	fdb     fdb
	allowed map[netip.Addr]bool // unicast mode: who may send to us; nil: anyone (multicast mode)
	stats   counters

	start time.Time
	clock func() time.Duration // time since start; tests replace it

	life      sync.RWMutex // ReadFrames and WriteFrames hold it shared; Close exclusively
	closed    atomic.Bool
	closeOnce sync.Once

	rxmu sync.Mutex
	rx   rxBatch
	txmu sync.Mutex
	tx   txBatch
}

// Open opens the VXLAN endpoint that spec describes: the part of a vxlan://
// URL after the scheme (the prefix is accepted too), as the package
// documentation sets out. The sockets belong to the network namespace of the
// calling thread. A malformed spec gives an error that names the problem and
// unwraps to EINVAL; a failing system call gives its errno, wrapped with
// what was being done.
func Open(spec string) (*Endpoint, error) {
	cfg, err := parse(spec)
	if err != nil {
		return nil, err
	}
	return open(cfg)
}

func open(cfg config) (_ *Endpoint, err error) {
	e := &Endpoint{
		cfg:   cfg,
		spec:  "vxlan://" + cfg.String(),
		v6:    cfg.isIPv6(),
		rxfd:  -1,
		txfd:  -1,
		efd:   -1,
		seed:  maphash.MakeSeed(),
		start: time.Now(),
	}
	e.clock = func() time.Duration { return time.Since(e.start) }
	defer func() {
		if err != nil {
			e.closeFDs()
		}
	}()
	family := unix.AF_INET
	if e.v6 {
		family = unix.AF_INET6
	}
	if e.efd, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err != nil {
		return nil, socketError("eventfd", err)
	}
	if e.rxfd, err = unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0); err != nil {
		return nil, socketError("socket", err)
	}
	if cfg.dev != "" {
		if e.devIndex, err = ifIndex(e.rxfd, cfg.dev); err != nil {
			return nil, socketError("dev "+cfg.dev, err)
		}
		flags, err := ifFlags(e.rxfd, cfg.dev)
		if err != nil {
			return nil, socketError("dev "+cfg.dev, err)
		}
		if cfg.group.IsValid() && flags&unix.IFF_MULTICAST == 0 {
			return nil, socketError(fmt.Sprintf("dev %s cannot join group %s", cfg.dev, cfg.group),
				unix.EADDRNOTAVAIL)
		}
	}
	if err := e.buildTable(); err != nil {
		return nil, err
	}

	e.txfd, err = openRaw(family)
	switch {
	case err == nil:
		e.raw = true
		if cfg.srcMax != 0 {
			e.portLo, e.portHi = cfg.srcMin, cfg.srcMax
		} else {
			e.portLo, e.portHi = localPortRange()
		}
		if err := e.sendOptions(e.txfd, true); err != nil {
			return nil, socketError("raw socket", err)
		}
		if cfg.local.IsValid() {
			if err := unix.Bind(e.txfd, e.bindAddr(cfg.local, 0)); err != nil {
				return nil, socketError("local "+cfg.local.String(), err)
			}
		}
	case errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES):
		if cfg.srcMax != 0 {
			return nil, socketError("srcport needs a raw socket, so CAP_NET_RAW", err)
		}
		// Without CAP_NET_RAW every datagram leaves from dstport, which
		// RFC 7348 allows (the hash is a SHOULD) and receivers accept.
		e.txfd = e.rxfd
	default:
		return nil, socketError("raw socket", err)
	}

	if e.v6 {
		if err := setInts(e.rxfd, [3]int{unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1}); err != nil {
			return nil, socketError("socket", err)
		}
		// Only the groups this socket joined (Linux 4.20 and later).
		_ = unix.SetsockoptInt(e.rxfd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_ALL, 0)
	} else if err := setInts(e.rxfd, [3]int{unix.IPPROTO_IP, unix.IP_MULTICAST_ALL, 0}); err != nil {
		return nil, socketError("socket", err)
	}
	// A larger queue for bursts; the kernel caps it at rmem_max.
	_ = unix.SetsockoptInt(e.rxfd, unix.SOL_SOCKET, unix.SO_RCVBUF, 1<<20)
	if !e.raw {
		if err := e.sendOptions(e.rxfd, false); err != nil {
			return nil, socketError("socket", err)
		}
	}
	// Like Linux, listen on the wildcard address, so that the group and
	// unicast both arrive. Only when sending from this socket too does
	// local= bind it, to give datagrams that source address.
	var bindTo netip.Addr
	if !e.raw && cfg.local.IsValid() && !cfg.group.IsValid() {
		bindTo = cfg.local
	}
	if err := unix.Bind(e.rxfd, e.bindAddr(bindTo, cfg.dstPort)); err != nil {
		what := fmt.Sprintf("bind port %d", cfg.dstPort)
		if bindTo.IsValid() {
			what = "bind " + netip.AddrPortFrom(bindTo, cfg.dstPort).String()
		}
		if errors.Is(err, unix.EADDRINUSE) {
			what += " (a kernel VXLAN device or another endpoint has it)"
		}
		return nil, socketError(what, err)
	}
	if cfg.group.IsValid() {
		if err := e.join(); err != nil {
			return nil, socketError(fmt.Sprintf("join group %s on %s", cfg.group, cfg.dev), err)
		}
	}
	return e, nil
}

func (c config) isIPv6() bool {
	switch {
	case len(c.remotes) > 0:
		return c.remotes[0].addr.Is6()
	case c.group.IsValid():
		return c.group.Is6()
	case len(c.static) > 0:
		return c.static[0].dst.addr.Is6()
	}
	return false
}

// buildTable turns the configured destinations into the forwarding table and,
// in unicast mode, the set of peers datagrams are accepted from.
func (e *Endpoint) buildTable() error {
	cfg := &e.cfg
	e.fdb = fdb{
		byMAC:    make(map[mac]entry),
		learning: cfg.learning,
		ageing:   cfg.ageing,
		max:      cfg.maxAddress,
		dstPort:  cfg.dstPort,
	}
	if !cfg.group.IsValid() {
		e.allowed = make(map[netip.Addr]bool)
	}
	resolve := func(t target) (dest, error) {
		d := dest{addr: t.addr.WithZone(""), port: t.port}
		if d.port == 0 {
			d.port = cfg.dstPort
		}
		if d.addr.IsLinkLocalUnicast() && d.addr.Is6() {
			scope, err := zoneIndex(e.rxfd, t.addr.Zone(), e.devIndex)
			if err != nil {
				return d, socketError("zone of "+t.addr.String(), err)
			}
			d.scope = scope
		}
		if e.allowed != nil {
			e.allowed[d.addr] = true
		}
		return d, nil
	}
	for _, r := range cfg.remotes {
		d, err := resolve(r)
		if err != nil {
			return err
		}
		e.fdb.flood = append(e.fdb.flood, d)
	}
	if cfg.group.IsValid() {
		g := dest{addr: cfg.group, port: cfg.dstPort}
		if g.addr.IsLinkLocalMulticast() || g.addr.IsInterfaceLocalMulticast() {
			g.scope = e.devIndex // ff02::/16 and ff01::/16 are per link
		}
		e.fdb.flood = append(e.fdb.flood, g)
	}
	for _, s := range cfg.static {
		d, err := resolve(s.dst)
		if err != nil {
			return err
		}
		if s.mac.isZero() {
			e.fdb.flood = append(e.fdb.flood, d)
		} else {
			e.fdb.byMAC[s.mac] = entry{dst: d, static: true}
		}
	}
	return nil
}

// join makes the receiving socket a member of the group on dev.
func (e *Endpoint) join() error {
	if e.v6 {
		mreq := unix.IPv6Mreq{Multiaddr: e.cfg.group.As16(), Interface: e.devIndex}
		return unix.SetsockoptIPv6Mreq(e.rxfd, unix.IPPROTO_IPV6, unix.IPV6_JOIN_GROUP, &mreq)
	}
	mreq := unix.IPMreqn{Multiaddr: e.cfg.group.As4(), Ifindex: int32(e.devIndex)}
	if e.cfg.local.IsValid() {
		mreq.Address = e.cfg.local.As4()
	}
	return unix.SetsockoptIPMreqn(e.rxfd, unix.IPPROTO_IP, unix.IP_ADD_MEMBERSHIP, &mreq)
}

func (e *Endpoint) closeFDs() {
	if e.txfd >= 0 && e.txfd != e.rxfd {
		unix.Close(e.txfd)
	}
	for _, fd := range []int{e.rxfd, e.efd} {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
	e.rxfd, e.txfd, e.efd = -1, -1, -1
}

// Close releases the endpoint and ends a ReadFrames or WriteFrames blocked in
// it, which return an error matching net.ErrClosed. It waits for them to
// leave before closing the sockets, so no descriptor is closed under a
// system call. Calling it again does nothing.
func (e *Endpoint) Close() error {
	e.closeOnce.Do(func() {
		e.closed.Store(true)
		var one [8]byte
		binary.NativeEndian.PutUint64(one[:], 1)
		_, _ = unix.Write(e.efd, one[:]) // stays readable: every later poll wakes at once
		e.life.Lock()
		e.closeFDs()
		e.life.Unlock()
	})
	return nil
}

// enter starts a ReadFrames or WriteFrames; false means the endpoint is closed.
func (e *Endpoint) enter() bool {
	e.life.RLock()
	if e.closed.Load() {
		e.life.RUnlock()
		return false
	}
	return true
}

func (e *Endpoint) leave() { e.life.RUnlock() }

// wait blocks until fd has events or Close was called.
func (e *Endpoint) wait(fd int, events int16) error {
	fds := [2]unix.PollFd{{Fd: int32(fd), Events: events}, {Fd: int32(e.efd), Events: unix.POLLIN}}
	for {
		_, err := unix.Poll(fds[:], -1)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return socketError("poll", err)
		case fds[1].Revents != 0:
			return net.ErrClosed
		case fds[0].Revents != 0:
			return nil
		}
	}
}

// MaxFrame is the largest frame ReadFrames returns whole (1514 bytes). A
// longer one is cut to the buffer and its full length reported.
func (e *Endpoint) MaxFrame() int { return maxFrame }

// String is the endpoint's URL, written back from what was parsed: the
// addresses, then the options that differ from the defaults.
func (e *Endpoint) String() string { return e.spec }

// Stats returns the endpoint's counters.
func (e *Endpoint) Stats() Stats { return e.stats.snapshot() }

// FDB returns the forwarding table: the flood destinations (as entries with
// the zero MAC), the static entries and the learned ones not yet aged out.
func (e *Endpoint) FDB() []FDBEntry { return e.fdb.snapshot(e.clock()) }

// SourcePorts is the range of UDP source ports datagrams leave from, both
// ends included. With CAP_NET_RAW it is the srcport range or the kernel's
// local port range, into which each inner flow hashes; without it, only
// dstport.
func (e *Endpoint) SourcePorts() (lo, hi int) {
	if !e.raw {
		return int(e.cfg.dstPort), int(e.cfg.dstPort)
	}
	return int(e.portLo), int(e.portHi) - 1
}

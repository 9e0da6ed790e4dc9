package vxlan

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"
)

// mac is an Ethernet address.
type mac [6]byte

func (m mac) isGroup() bool  { return m[0]&1 != 0 } // broadcast or multicast
func (m mac) isZero() bool   { return m == mac{} }
func (m mac) String() string { return net.HardwareAddr(m[:]).String() }
func macAt(b []byte) (m mac) { copy(m[:], b); return m }

// dest is where a datagram goes. addr has no zone; a link-local IPv6 address
// keeps its interface index in scope.
type dest struct {
	addr  netip.Addr
	port  uint16
	scope uint32
}

func (d dest) addrPort() netip.AddrPort {
	a := d.addr
	if d.scope != 0 {
		a = a.WithZone(strconv.FormatUint(uint64(d.scope), 10))
	}
	return netip.AddrPortFrom(a, d.port)
}

// FDBEntry is one entry of an endpoint's forwarding table, shown as Linux's
// "bridge fdb show" shows a VXLAN device's.
type FDBEntry struct {
	// MAC is the inner Ethernet address. 00:00:00:00:00:00 marks a
	// destination of flooded frames (broadcast, multicast, unknown unicast):
	// the remotes, the group and fdb=00:00:00:00:00:00@ADDR entries.
	MAC net.HardwareAddr
	// Dst is the tunnel endpoint the frames go to. A link-local IPv6 address
	// carries its interface index as zone.
	Dst netip.AddrPort
	// Static marks configured entries; they never age and learning does not
	// move them.
	Static bool
	// Age is how long ago a frame from MAC last arrived from Dst (learned
	// entries only).
	Age time.Duration
}

func (e FDBEntry) String() string {
	if e.Static {
		return fmt.Sprintf("%s dst %s static", e.MAC, e.Dst)
	}
	return fmt.Sprintf("%s dst %s age %s", e.MAC, e.Dst, e.Age.Round(time.Millisecond))
}

// fdb is the forwarding table: inner source MACs learned against the outer
// source address of the datagrams that carried them, as Linux's vxlan does.
type fdb struct {
	mu        sync.Mutex
	byMAC     map[mac]entry
	flood     []dest
	learning  bool
	ageing    time.Duration
	max       int // per-MAC entries; 0: no limit
	dstPort   uint16
	lastSweep time.Duration
}

type entry struct {
	dst     dest
	static  bool
	updated time.Duration
}

// verdict is what learning says of a received frame.
type verdict int

const (
	learned   verdict = iota // deliver (the table knows the source now)
	tableFull                // deliver, but maxaddress kept the source out
	moved                    // drop: a static entry puts the source elsewhere
)

func (t *fdb) expired(e entry, now time.Duration) bool {
	return !e.static && now-e.updated >= t.ageing
}

// learn records that a frame from src came from the tunnel endpoint from
// (whose port is not learned: replies go to dstport). The caller holds mu.
func (t *fdb) learn(src mac, from dest, now time.Duration) verdict {
	if !t.learning {
		return learned
	}
	t.sweep(now)
	if e, ok := t.byMAC[src]; ok {
		if e.dst.addr == from.addr && e.dst.scope == from.scope {
			if !e.static {
				e.updated = now
				t.byMAC[src] = e
			}
			return learned
		}
		if e.static {
			return moved
		}
		// The station moved to another tunnel endpoint.
		t.byMAC[src] = entry{dst: dest{from.addr, t.dstPort, from.scope}, updated: now}
		return learned
	}
	if t.max > 0 && len(t.byMAC) >= t.max {
		return tableFull
	}
	t.byMAC[src] = entry{dst: dest{from.addr, t.dstPort, from.scope}, updated: now}
	return learned
}

// lookup finds the one destination of a unicast frame to dst; false means
// flood. The caller holds mu.
func (t *fdb) lookup(dst mac, now time.Duration) (dest, bool) {
	e, ok := t.byMAC[dst]
	if !ok {
		return dest{}, false
	}
	if t.expired(e, now) {
		delete(t.byMAC, dst)
		return dest{}, false
	}
	return e.dst, true
}

// sweep drops aged entries, at most once a second, so that stations that
// went quiet do not hold memory or count against maxaddress.
func (t *fdb) sweep(now time.Duration) {
	if now-t.lastSweep < time.Second && t.lastSweep != 0 {
		return
	}
	t.lastSweep = now
	for m, e := range t.byMAC {
		if t.expired(e, now) {
			delete(t.byMAC, m)
		}
	}
}

// snapshot lists the table: flood destinations in configured order, then
// per-MAC entries by address.
func (t *fdb) snapshot(now time.Duration) []FDBEntry {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lastSweep = 0
	t.sweep(now)
	out := make([]FDBEntry, 0, len(t.flood)+len(t.byMAC))
	for _, d := range t.flood {
		out = append(out, FDBEntry{MAC: make(net.HardwareAddr, 6), Dst: d.addrPort(), Static: true})
	}
	var macs []FDBEntry
	for m, e := range t.byMAC {
		fe := FDBEntry{MAC: net.HardwareAddr(slices.Clone(m[:])), Dst: e.dst.addrPort(), Static: e.static}
		if !e.static {
			fe.Age = now - e.updated
		}
		macs = append(macs, fe)
	}
	slices.SortFunc(macs, func(a, b FDBEntry) int { return bytes.Compare(a.MAC, b.MAC) })
	return append(out, macs...)
}

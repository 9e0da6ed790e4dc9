package vxlan

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Defaults and limits, as Linux has them.
const (
	defaultPort   = 4789              // IANA's VXLAN port (RFC 7348 §5)
	linuxPort     = 8472              // what Linux uses when ip link is given no dstport
	maxVNI        = 1<<24 - 1         // the VNI is 24 bits
	defaultAgeing = 300 * time.Second // Linux's FDB_AGE_DEFAULT
	maxIfName     = unix.IFNAMSIZ - 1 // interface names are at most 15 bytes
)

// target is an address as the spec wrote it: port 0 means dstport, and an
// IPv6 link-local address may carry a zone (an interface name or index).
type target struct {
	addr netip.Addr
	port uint16
}

// staticEntry is one fdb= option: a MAC pinned to a destination, or with the
// all-zero MAC one more destination for flooded frames.
type staticEntry struct {
	mac mac
	dst target
}

// config is a parsed spec. Open turns it into sockets and a forwarding table.
type config struct {
	vni        uint32
	remotes    []target // unicast destinations of flooded frames, in order
	group      netip.Addr
	local      netip.Addr
	dev        string
	ttl        int // 0: auto (64 for unicast, 1 for multicast)
	dstPort    uint16
	srcMin     uint16 // srcMin..srcMax-1; both 0: the kernel's local port range
	srcMax     uint16
	learning   bool
	ageing     time.Duration
	maxAddress int // per-MAC entries, static and learned; 0: no limit
	static     []staticEntry
}

// specError is a malformed spec. It unwraps to EINVAL for C callers.
type specError struct {
	spec, problem string
}

func (e *specError) Error() string {
	return fmt.Sprintf("vxlan: bad spec %q: %s", e.spec, e.problem)
}

func (e *specError) Unwrap() error { return unix.EINVAL }

// options names every option parse knows, for the unknown-option message.
const options = "vni (or id), remote, group, local, dev, ttl, dstport, srcport, " +
	"learning, nolearning, ageing, maxaddress, fdb"

// unsupported are options of ip-link's vxlan that this endpoint does not
// implement; naming them gives a clearer error than "unknown option".
var unsupported = map[string]bool{
	"tos": true, "df": true, "flowlabel": true, "label": true, "proxy": true,
	"noproxy": true, "rsc": true, "norsc": true, "l2miss": true, "nol2miss": true,
	"l3miss": true, "nol3miss": true, "udpcsum": true, "noudpcsum": true,
	"udp6zerocsumtx": true, "noudp6zerocsumtx": true, "udp6zerocsumrx": true,
	"noudp6zerocsumrx": true, "remcsumtx": true, "noremcsumtx": true,
	"remcsumrx": true, "noremcsumrx": true, "external": true, "noexternal": true,
	"gbp": true, "gpe": true, "vnifilter": true, "localbypass": true,
	"nolocalbypass": true, "port": true, "limit": true, "link": true,
}

// parse reads a spec: the part of a vxlan:// URL after the scheme.
func parse(spec string) (config, error) {
	p := parser{spec: spec}
	cfg := p.parse()
	if p.err != nil {
		return config{}, p.err
	}
	return cfg, nil
}

type parser struct {
	spec string
	err  error
	seen map[string]bool
}

func (p *parser) fail(format string, args ...any) {
	if p.err == nil {
		p.err = &specError{spec: p.spec, problem: fmt.Sprintf(format, args...)}
	}
}

func (p *parser) parse() config {
	cfg := config{dstPort: defaultPort, learning: true, ageing: defaultAgeing}
	body := strings.TrimPrefix(p.spec, "vxlan://")
	parts := strings.Split(body, "/")
	if parts[0] != "" {
		for _, a := range strings.Split(parts[0], ",") {
			t := p.target(a, "address", true)
			if p.err != nil {
				return cfg
			}
			if t.addr.IsMulticast() {
				p.setGroup(&cfg, t, a)
			} else {
				p.addRemote(&cfg, t, a)
			}
		}
	}
	p.seen = make(map[string]bool)
	vniSet := false
	for _, opt := range parts[1:] {
		if p.err != nil {
			return cfg
		}
		if opt == "" {
			p.fail("empty option (two slashes in a row, or a trailing slash)")
			return cfg
		}
		key, val, hasVal := strings.Cut(opt, "=")
		switch {
		case unsupported[key]:
			p.fail("option %s of ip-link's vxlan is not supported here", key)
		case key == "learning" || key == "nolearning":
			if hasVal {
				p.fail("option %s takes no value", key)
			}
		case !known(key):
			p.fail("unknown option %q (options: %s)", key, options)
		case val == "":
			p.fail("option %s needs a value (%s=...)", key, key)
		}
		if p.err != nil {
			return cfg
		}
		switch key {
		case "vni", "id":
			if vniSet {
				p.fail("vni given twice")
				return cfg
			}
			vniSet = true
			n, err := strconv.ParseUint(val, 10, 64)
			if err != nil && !errors.Is(err, strconv.ErrRange) {
				p.fail("vni %q is not a number", val)
			} else if err != nil || n > maxVNI {
				p.fail("vni %s out of range 0..%d (24 bits)", val, maxVNI)
			}
			cfg.vni = uint32(n)
		case "remote":
			t := p.target(val, "remote", true)
			if p.err == nil && t.addr.IsMulticast() {
				p.fail("remote %s is a multicast address: use group=%s", val, val)
			}
			p.addRemote(&cfg, t, val)
		case "group":
			t := p.target(val, "group", false)
			if p.err == nil && !t.addr.IsMulticast() {
				p.fail("group %s is not a multicast address: use remote=%s", val, val)
			}
			p.setGroup(&cfg, t, val)
		case "local":
			p.once(key)
			t := p.target(val, "local", false)
			if p.err == nil && (t.addr.IsMulticast() || t.addr.IsUnspecified()) {
				p.fail("local %s must be a unicast address of this host", val)
			}
			if p.err == nil && t.addr.Zone() != "" {
				p.fail("local %s: give the interface as dev=, not as a zone", val)
			}
			cfg.local = t.addr
		case "dev":
			p.once(key)
			switch {
			case len(val) > maxIfName:
				p.fail("dev %q is longer than %d bytes", val, maxIfName)
			case strings.ContainsAny(val, " \t,@%:"):
				p.fail("dev %q is not a device name", val)
			}
			cfg.dev = val
		case "ttl":
			p.once(key)
			if val == "auto" {
				cfg.ttl = 0
				break
			}
			n, err := strconv.ParseUint(val, 10, 8)
			if err != nil || n == 0 {
				p.fail("ttl %q must be 1..255 or auto", val)
			}
			cfg.ttl = int(n)
		case "dstport":
			p.once(key)
			cfg.dstPort = p.port(val, "dstport")
		case "srcport":
			p.once(key)
			lo, hi, ok := strings.Cut(val, "-")
			if !ok {
				p.fail("srcport %q must be MIN-MAX", val)
				break
			}
			cfg.srcMin = p.port(lo, "srcport MIN")
			cfg.srcMax = p.port(hi, "srcport MAX")
			if p.err == nil && cfg.srcMin >= cfg.srcMax {
				p.fail("srcport %s: MIN must be below MAX (ports MIN..MAX-1 are used, as Linux does)", val)
			}
		case "learning", "nolearning":
			if p.seen["learning"] {
				p.fail("learning or nolearning given twice")
			}
			p.seen["learning"] = true
			cfg.learning = key == "learning"
		case "ageing":
			p.once(key)
			n, err := strconv.ParseUint(val, 10, 32)
			if err != nil || n == 0 {
				p.fail("ageing %q must be a whole number of seconds, at least 1", val)
			}
			cfg.ageing = time.Duration(n) * time.Second
		case "maxaddress":
			p.once(key)
			n, err := strconv.ParseUint(val, 10, 32)
			if err != nil {
				p.fail("maxaddress %q is not a number", val)
			}
			cfg.maxAddress = int(n)
		case "fdb":
			p.addStatic(&cfg, val)
		}
	}
	if p.err != nil {
		return cfg
	}
	if !vniSet {
		p.fail("no vni (add /vni=N, ip link's id N)")
	}
	p.check(&cfg)
	return cfg
}

func known(key string) bool {
	switch key {
	case "vni", "id", "remote", "group", "local", "dev", "ttl", "dstport",
		"srcport", "ageing", "maxaddress", "fdb":
		return true
	}
	return false
}

// once fails when a single-valued option comes again.
func (p *parser) once(key string) {
	if p.seen[key] {
		p.fail("option %s given twice", key)
	}
	p.seen[key] = true
}

func (p *parser) port(s, what string) uint16 {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 {
		p.fail("%s %q must be a port number 1..65535", what, s)
	}
	return uint16(n)
}

// target parses a numeric address: IPv4 a.b.c.d[:port], IPv6 [addr][:port] or
// a bare IPv6 address, with a zone (fe80::1%eth0) for link-local ones.
func (p *parser) target(s, what string, portOK bool) target {
	var t target
	if p.err != nil {
		return t
	}
	host, port := s, ""
	switch {
	case s == "":
		p.fail("empty %s", what)
		return t
	case strings.HasPrefix(s, "["):
		end := strings.IndexByte(s, ']')
		if end < 0 {
			p.fail("%s %q: missing ]", what, s)
			return t
		}
		host = s[1:end]
		rest := s[end+1:]
		if rest != "" {
			if rest[0] != ':' {
				p.fail("%s %q: junk after ]", what, s)
				return t
			}
			port = rest[1:]
		}
		if a, err := netip.ParseAddr(host); err != nil || !a.Is6() || a.Is4In6() {
			p.fail("%s %q: not an IPv6 address inside [ ]", what, s)
			return t
		}
	default:
		if _, err := netip.ParseAddr(s); err != nil {
			if i := strings.LastIndexByte(s, ':'); i > 0 {
				host, port = s[:i], s[i+1:]
			}
		}
	}
	a, err := netip.ParseAddr(host)
	if err != nil || (a.Is6() && port != "" && !strings.HasPrefix(s, "[")) {
		p.fail("%s %q is not a numeric IPv4 or IPv6 address (IPv6 with a port: [addr]:port)", what, s)
		return t
	}
	if a.Is4In6() {
		a = a.Unmap()
	}
	t.addr = a
	if port != "" {
		if !portOK {
			p.fail("%s %q takes no port", what, s)
			return t
		}
		t.port = p.port(port, what+" port")
	}
	switch {
	case a.IsUnspecified():
		p.fail("%s %s is the unspecified address", what, s)
	case a.Is4() && a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		p.fail("%s %s is the broadcast address", what, s)
	case a.Zone() != "" && !a.IsLinkLocalUnicast():
		p.fail("%s %s: a zone only goes with a link-local address", what, s)
	}
	return t
}

func (p *parser) setGroup(cfg *config, t target, s string) {
	if p.err != nil {
		return
	}
	switch {
	case cfg.group.IsValid():
		p.fail("a second group %s (one multicast group per endpoint)", s)
	case t.port != 0:
		p.fail("group %s takes no port: the group is sent to dstport", s)
	case t.addr.Zone() != "":
		p.fail("group %s: give the interface as dev=, not as a zone", s)
	}
	cfg.group = t.addr
}

func (p *parser) addRemote(cfg *config, t target, s string) {
	if p.err != nil {
		return
	}
	for _, r := range cfg.remotes {
		if r.addr == t.addr {
			p.fail("remote %s given twice", s)
			return
		}
	}
	cfg.remotes = append(cfg.remotes, t)
}

// addStatic parses fdb=MAC@ADDR[:PORT].
func (p *parser) addStatic(cfg *config, s string) {
	m, a, ok := strings.Cut(s, "@")
	if !ok {
		p.fail("fdb %q must be MAC@ADDRESS", s)
		return
	}
	hw, err := net.ParseMAC(m)
	if err != nil || len(hw) != 6 {
		p.fail("fdb %q: %q is not an Ethernet address", s, m)
		return
	}
	var e staticEntry
	copy(e.mac[:], hw)
	if e.mac.isGroup() {
		p.fail("fdb %q: %s is a group address (use 00:00:00:00:00:00 for the flood list)", s, m)
		return
	}
	e.dst = p.target(a, "fdb destination", true)
	if p.err != nil {
		return
	}
	for _, o := range cfg.static {
		if o.mac == e.mac && (!e.mac.isZero() || o.dst.addr == e.dst.addr) {
			p.fail("fdb %s given twice", s)
			return
		}
	}
	cfg.static = append(cfg.static, e)
}

// check validates the spec as a whole.
func (p *parser) check(cfg *config) {
	var all []netip.Addr
	for _, r := range cfg.remotes {
		all = append(all, r.addr)
	}
	for _, s := range cfg.static {
		all = append(all, s.dst.addr)
	}
	if cfg.group.IsValid() {
		all = append(all, cfg.group)
	}
	if len(all) == 0 {
		p.fail("no destination: give a remote, a group or an fdb entry")
		return
	}
	if cfg.local.IsValid() {
		all = append(all, cfg.local)
	}
	for _, a := range all[1:] {
		if a.Is4() != all[0].Is4() {
			p.fail("%s and %s mix IPv4 and IPv6 (one underlay family per endpoint)", all[0], a)
			return
		}
	}
	if cfg.group.IsValid() && cfg.dev == "" {
		p.fail("group %s needs dev=DEVICE, the interface to join it on (as ip link does)", cfg.group)
		return
	}
	if cfg.dev == "" {
		for _, a := range all {
			if !a.Is6() {
				continue // IPv4 link-local addresses have no zones
			}
			switch {
			case a == cfg.local && a.IsLinkLocalUnicast():
				p.fail("local %s is link-local: give dev=DEVICE", a)
				return
			case a.IsLinkLocalUnicast() && a.Zone() == "":
				p.fail("link-local %s needs a zone (%%DEVICE) or dev=DEVICE", a)
				return
			}
		}
	}
	perMAC := 0
	for _, s := range cfg.static {
		if !s.mac.isZero() {
			perMAC++
		}
	}
	if cfg.maxAddress > 0 && perMAC > cfg.maxAddress {
		p.fail("%d fdb entries exceed maxaddress=%d", perMAC, cfg.maxAddress)
	}
}

// String writes the config back as a spec that parse reads to the same
// config: addresses first, then the options that differ from the defaults.
func (c config) String() string {
	var b strings.Builder
	var addrs []string
	for _, r := range c.remotes {
		addrs = append(addrs, r.String())
	}
	if c.group.IsValid() {
		addrs = append(addrs, target{addr: c.group}.String())
	}
	b.WriteString(strings.Join(addrs, ","))
	fmt.Fprintf(&b, "/vni=%d", c.vni)
	if c.dstPort != defaultPort {
		fmt.Fprintf(&b, "/dstport=%d", c.dstPort)
	}
	if c.local.IsValid() {
		fmt.Fprintf(&b, "/local=%s", c.local)
	}
	if c.dev != "" {
		fmt.Fprintf(&b, "/dev=%s", c.dev)
	}
	if c.ttl != 0 {
		fmt.Fprintf(&b, "/ttl=%d", c.ttl)
	}
	if c.srcMax != 0 {
		fmt.Fprintf(&b, "/srcport=%d-%d", c.srcMin, c.srcMax)
	}
	if !c.learning {
		b.WriteString("/nolearning")
	}
	if c.ageing != defaultAgeing {
		fmt.Fprintf(&b, "/ageing=%d", int64(c.ageing/time.Second))
	}
	if c.maxAddress != 0 {
		fmt.Fprintf(&b, "/maxaddress=%d", c.maxAddress)
	}
	for _, s := range c.static {
		fmt.Fprintf(&b, "/fdb=%s@%s", s.mac, s.dst)
	}
	return b.String()
}

func (t target) String() string {
	if t.addr.Is6() {
		if t.port == 0 {
			return "[" + t.addr.String() + "]"
		}
		return netip.AddrPortFrom(t.addr, t.port).String()
	}
	if t.port == 0 {
		return t.addr.String()
	}
	return netip.AddrPortFrom(t.addr, t.port).String()
}

package sock

import (
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/libshmif/libshmif/core/bridge/internal/spec"
)

// addr is a socket address named in a URL: unix:PATH (a bare path starting
// with "/", "." or "@" too) or tcp:HOST:PORT.
type addr struct {
	unix string         // the path, or "@name" for an abstract address
	inet netip.AddrPort // for tcp
}

func (a addr) isUnix() bool { return a.unix != "" }

// parseAddr parses a unix: or tcp: address. For a listener the host of a
// tcp address may be left out (loopback).
func parseAddr(raw, s string, listen bool) (addr, error) {
	switch {
	case strings.HasPrefix(s, "unix:"):
		p := strings.TrimPrefix(s, "unix:")
		if p == "" || p == "@" {
			return addr{}, spec.Errorf(raw, "empty unix socket path")
		}
		return addr{unix: p}, nil
	case strings.HasPrefix(s, "/"), strings.HasPrefix(s, "."), strings.HasPrefix(s, "@") && len(s) > 1:
		return addr{unix: s}, nil
	case strings.HasPrefix(s, "tcp:"):
		ap, err := parseHostPort(strings.TrimPrefix(s, "tcp:"), listen)
		if err != nil {
			return addr{}, spec.Errorf(raw, "%v", err)
		}
		return addr{inet: ap}, nil
	}
	return addr{}, spec.Errorf(raw, "expected unix:PATH or tcp:HOST:PORT, not %q", s)
}

// parseHostPort parses HOST:PORT ([V6]:PORT), or PORT alone when hostless
// (loopback then). Host names are resolved.
func parseHostPort(s string, hostless bool) (netip.AddrPort, error) {
	if hostless && !strings.Contains(s, ":") {
		p, err := parsePort(s)
		if err != nil {
			return netip.AddrPort{}, err
		}
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), p), nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return netip.AddrPort{}, errorf("expected HOST:PORT, not %q", s)
	}
	p, err := parsePort(port)
	if err != nil {
		return netip.AddrPort{}, err
	}
	ip, err := resolve(host)
	if err != nil {
		return netip.AddrPort{}, err
	}
	return netip.AddrPortFrom(ip, p), nil
}

func parsePort(s string) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, errorf("bad port %q", s)
	}
	return uint16(n), nil
}

func resolve(host string) (netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip.Unmap(), nil
	}
	ips, err := net.LookupIP(host)
	if err != nil || len(ips) == 0 {
		return netip.Addr{}, errorf("cannot resolve %q", host)
	}
	for _, ip := range ips {
		if v4 := ip.To4(); v4 != nil {
			return netip.AddrFrom4([4]byte(v4)), nil
		}
	}
	a, _ := netip.AddrFromSlice(ips[0])
	return a, nil
}

type strError string

func (e strError) Error() string { return string(e) }

func errorf(format string, args ...any) error {
	return strError(strings.TrimSpace(sprintf(format, args...)))
}

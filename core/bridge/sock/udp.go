package sock

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"

	"github.com/libshmif/libshmif/core/bridge/internal/fdio"
	"github.com/libshmif/libshmif/core/bridge/internal/spec"
	"golang.org/x/sys/unix"
)

// UDP carries one frame per UDP datagram, as VDE's udp plug does:
// udp://[SRC:]SPORT->DST:DPORT binds SRC:SPORT (any address when SRC is
// left out) and exchanges datagrams with DST:DPORT only. With a multicast
// DST the endpoint binds the group's SPORT, joins the group on the
// interface named by dev or holding SRC, sends from there, and sends with
// multicast loopback off, so it does not receive its own datagrams back
// (nor does anyone else on this host).
type UDP struct {
	url       string
	fd        *fdio.FD
	multicast bool
	dst       fdio.Addr
	stats     counters
	rbatch    *fdio.Batch
	wmu       sync.Mutex
	wbatch    *fdio.Batch
}

func openUDP(u spec.URL) (*UDP, error) {
	left, right, ok := strings.Cut(u.Addr, "->")
	if !ok {
		return nil, spec.Errorf(u.Raw, "expected udp://[SRC:]SPORT->DST:DPORT")
	}
	var src netip.AddrPort
	var err error
	if strings.Contains(left, ":") {
		src, err = parseHostPort(left, false)
	} else {
		var p uint16
		p, err = parsePort(left)
		src = netip.AddrPortFrom(netip.Addr{}, p)
	}
	if err != nil {
		return nil, spec.Errorf(u.Raw, "source: %v", err)
	}
	dst, err := parseHostPort(right, false)
	if err != nil {
		return nil, spec.Errorf(u.Raw, "destination: %v", err)
	}
	ttl, err := u.Int("ttl", 1, 1, 255)
	if err != nil {
		return nil, err
	}
	v6 := dst.Addr().Is6()
	if !src.Addr().IsValid() {
		if v6 {
			src = netip.AddrPortFrom(netip.IPv6Unspecified(), src.Port())
		} else {
			src = netip.AddrPortFrom(netip.IPv4Unspecified(), src.Port())
		}
	}
	if src.Addr().Is6() != v6 {
		return nil, spec.Errorf(u.Raw, "source and destination are of different IP versions")
	}
	fd, err := socket(family(dst.Addr()), unix.SOCK_DGRAM)
	if err != nil {
		return nil, spec.Wrap(u.Raw, "socket", err)
	}
	e := &UDP{url: u.Raw, multicast: dst.Addr().IsMulticast(), dst: fdio.InetAddr(dst),
		rbatch: fdio.NewBatch(64), wbatch: fdio.NewBatch(64)}
	if err := e.setup(fd, src, dst, ttl, u.Opts["dev"]); err != nil {
		unix.Close(fd)
		return nil, spec.Wrap(u.Raw, err.(*opErr).op, err.(*opErr).err)
	}
	if e.fd, err = fdio.New(fd, u.Raw); err != nil {
		return nil, spec.Wrap(u.Raw, "socket", err)
	}
	return e, nil
}

type opErr struct {
	op  string
	err error
}

func (e *opErr) Error() string { return e.op + ": " + e.err.Error() }

func (e *UDP) setup(fd int, src, dst netip.AddrPort, ttl int, dev string) error {
	v6 := dst.Addr().Is6()
	bind := src
	if e.multicast {
		// Several endpoints may share a group's port. A socket bound
		// to a unicast address gets no multicast: bind to the group,
		// and send from SRC's interface.
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
		bind = netip.AddrPortFrom(dst.Addr(), src.Port())
	}
	if err := unix.Bind(fd, inetSockaddr(bind)); err != nil {
		return &opErr{"bind " + bind.String(), err}
	}
	if !e.multicast {
		// Connected: the kernel takes datagrams from dst only.
		if err := unix.Connect(fd, inetSockaddr(dst)); err != nil {
			return &opErr{"connect " + dst.String(), err}
		}
		return nil
	}
	ifindex := 0
	if dev != "" {
		ifi, err := net.InterfaceByName(dev)
		if err != nil {
			return &opErr{"dev " + dev, unix.ENODEV}
		}
		ifindex = ifi.Index
	}
	if v6 {
		mreq := &unix.IPv6Mreq{Multiaddr: dst.Addr().As16(), Interface: uint32(ifindex)}
		if err := unix.SetsockoptIPv6Mreq(fd, unix.IPPROTO_IPV6, unix.IPV6_JOIN_GROUP, mreq); err != nil {
			return &opErr{"join " + dst.Addr().String(), err}
		}
		unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_LOOP, 0)
		unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_HOPS, ttl)
		if ifindex != 0 {
			unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_IF, ifindex)
		}
		return nil
	}
	mreq := &unix.IPMreqn{Multiaddr: dst.Addr().As4(), Ifindex: int32(ifindex)}
	if !src.Addr().IsUnspecified() {
		mreq.Address = src.Addr().As4()
	}
	if err := unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_ADD_MEMBERSHIP, mreq); err != nil {
		return &opErr{"join " + dst.Addr().String(), err}
	}
	unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_LOOP, 0)
	unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_TTL, ttl)
	if ifindex != 0 || !src.Addr().IsUnspecified() {
		out := &unix.IPMreqn{Address: mreq.Address, Ifindex: int32(ifindex)}
		if err := unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_IF, out); err != nil {
			return &opErr{"multicast interface", err}
		}
	}
	return nil
}

// ReadFrames receives up to len(bufs) datagrams with one recvmmsg.
func (e *UDP) ReadFrames(bufs [][]byte, lens []int) (int, error) {
	for {
		var n int
		err := e.fd.Read(func(fd int) error {
			var err error
			n, err = e.rbatch.Recv(fd, bufs, lens, false)
			return err
		})
		if err != nil {
			if peerGone(err) || errors.Is(err, unix.ENOBUFS) {
				continue // an ICMP error about an earlier send
			}
			return 0, err
		}
		return n, nil
	}
}

// WriteFrames sends frames, one datagram each, with as few sendmmsg calls
// as the socket takes.
func (e *UDP) WriteFrames(frames [][]byte) (int, error) {
	e.wmu.Lock()
	defer e.wmu.Unlock()
	var to *fdio.Addr
	if e.multicast {
		to = &e.dst
	}
	for done := 0; done < len(frames); {
		var n int
		err := e.fd.Write(func(fd int) error {
			var err error
			n, err = e.wbatch.Send(fd, frames[done:], to)
			return err
		})
		switch {
		case err == nil:
			done += n
		case peerGone(err) || errors.Is(err, unix.ENOBUFS) || errors.Is(err, unix.ENETUNREACH) ||
			errors.Is(err, unix.EMSGSIZE):
			// No listener at the peer (an earlier ICMP error), no
			// route or no room: this datagram is lost, not the
			// endpoint.
			e.stats.lost.Add(1)
			done++
		default:
			return done, err
		}
	}
	return len(frames), nil
}

// MaxFrame is the largest frame read whole.
func (e *UDP) MaxFrame() int { return 1514 }

// Close closes the socket.
func (e *UDP) Close() error { return e.fd.Close() }

func (e *UDP) String() string { return e.url }

// Stats returns the endpoint's counters.
func (e *UDP) Stats() Stats { return e.stats.load() }

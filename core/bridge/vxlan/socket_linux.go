package vxlan

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// sockaddr holds a struct sockaddr_in or sockaddr_in6 as the kernel lays
// them out, so that message headers can point at it.
type sockaddr [unix.SizeofSockaddrInet6]byte

// put writes d (with port, or port 0 for a raw socket) and returns the length.
func (s *sockaddr) put(d dest, port uint16) uint32 {
	*s = sockaddr{}
	binary.BigEndian.PutUint16(s[2:], port)
	if d.addr.Is4() {
		binary.NativeEndian.PutUint16(s[0:], unix.AF_INET)
		a := d.addr.As4()
		copy(s[4:8], a[:])
		return unix.SizeofSockaddrInet4
	}
	binary.NativeEndian.PutUint16(s[0:], unix.AF_INET6)
	a := d.addr.As16()
	copy(s[8:24], a[:])
	binary.NativeEndian.PutUint32(s[24:], d.scope)
	return unix.SizeofSockaddrInet6
}

// source reads the address a datagram came from. Only link-local IPv6
// addresses keep their scope: elsewhere the scope means nothing.
func (s *sockaddr) source() dest {
	var d dest
	d.port = binary.BigEndian.Uint16(s[2:])
	switch binary.NativeEndian.Uint16(s[0:]) {
	case unix.AF_INET:
		d.addr = netip.AddrFrom4([4]byte(s[4:8]))
	case unix.AF_INET6:
		d.addr = netip.AddrFrom16([16]byte(s[8:24]))
		if d.addr.IsLinkLocalUnicast() {
			d.scope = binary.NativeEndian.Uint32(s[24:])
		}
	}
	return d
}

// htonl gives an interface index the byte order IP_UNICAST_IF and
// IPV6_UNICAST_IF take it in (network order, unlike every other option).
func htonl(v uint32) int {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return int(int32(binary.NativeEndian.Uint32(b[:])))
}

// ifIndex finds an interface of the socket's network namespace by name.
func ifIndex(fd int, name string) (uint32, error) {
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return 0, err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFINDEX, ifr); err != nil {
		return 0, err
	}
	return ifr.Uint32(), nil
}

func ifFlags(fd int, name string) (uint16, error) {
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return 0, err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return 0, err
	}
	return ifr.Uint16(), nil
}

// zoneIndex turns the zone of a link-local address (a name or an index) into
// an interface index; no zone means dev's.
func zoneIndex(fd int, zone string, dev uint32) (uint32, error) {
	if zone == "" {
		return dev, nil
	}
	if n, err := strconv.ParseUint(zone, 10, 32); err == nil && n > 0 {
		return uint32(n), nil
	}
	return ifIndex(fd, zone)
}

// localPortRange is the kernel's ip_local_port_range of the calling thread's
// network namespace, which Linux's vxlan also uses for source ports when no
// srcport is given; the default of Linux if it cannot be read.
func localPortRange() (lo, hi uint16) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		f := strings.Fields(string(b))
		if len(f) == 2 {
			l, err1 := strconv.ParseUint(f[0], 10, 16)
			h, err2 := strconv.ParseUint(f[1], 10, 16)
			if err1 == nil && err2 == nil && l > 0 && l < h {
				return uint16(l), uint16(h)
			}
		}
	}
	return 32768, 60999
}

// socketError names what failed and keeps the errno for errors.Is.
func socketError(what string, err error) error {
	return fmt.Errorf("vxlan: %s: %w", what, err)
}

// setInts applies socket options in order and stops at the first failure.
func setInts(fd int, opts ...[3]int) error {
	for _, o := range opts {
		if err := unix.SetsockoptInt(fd, o[0], o[1], o[2]); err != nil {
			return fmt.Errorf("setsockopt(%d, %d, %d): %w", o[0], o[1], o[2], err)
		}
	}
	return nil
}

// openRaw opens the sending socket of the flow-hashed source ports: a raw
// UDP socket, for which the kernel writes the IP header and we the UDP
// header. It would also receive a copy of every UDP datagram of the
// namespace, so a filter that drops everything goes on first and whatever
// queued before it is drained. EPERM means no CAP_NET_RAW.
func openRaw(family int) (int, error) {
	fd, err := unix.Socket(family, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return -1, err
	}
	dropAll := []unix.SockFilter{{Code: unix.BPF_RET | unix.BPF_K, K: 0}}
	prog := unix.SockFprog{Len: 1, Filter: &dropAll[0]}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &prog); err != nil {
		unix.Close(fd)
		return -1, err
	}
	var junk [1]byte
	for {
		if _, _, err := unix.Recvfrom(fd, junk[:], unix.MSG_DONTWAIT|unix.MSG_TRUNC); err != nil {
			break
		}
	}
	// The smallest receive buffer the kernel allows: nothing is read here.
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 0)
	return fd, nil
}

// sendOptions sets what every datagram sent on fd needs: never fragment
// (frames that do not fit are counted, not split), the TTL, no multicast
// loopback (our own flooded frames must not come back), and with a device,
// the interface for multicast and unicast as Linux's dev does.
func (e *Endpoint) sendOptions(fd int, raw bool) error {
	ttl := e.cfg.ttl
	if !e.v6 {
		opts := [][3]int{
			{unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_DO},
			{unix.IPPROTO_IP, unix.IP_MULTICAST_LOOP, 0},
		}
		if ttl != 0 {
			opts = append(opts, [3]int{unix.IPPROTO_IP, unix.IP_TTL, ttl},
				[3]int{unix.IPPROTO_IP, unix.IP_MULTICAST_TTL, ttl})
		}
		if e.devIndex != 0 {
			opts = append(opts, [3]int{unix.IPPROTO_IP, unix.IP_UNICAST_IF, htonl(e.devIndex)})
			mreq := unix.IPMreqn{Ifindex: int32(e.devIndex)}
			if e.cfg.local.IsValid() {
				mreq.Address = e.cfg.local.As4()
			}
			if err := unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_IF, &mreq); err != nil {
				return fmt.Errorf("IP_MULTICAST_IF: %w", err)
			}
		}
		return setInts(fd, opts...)
	}
	opts := [][3]int{
		{unix.IPPROTO_IPV6, unix.IPV6_MTU_DISCOVER, unix.IPV6_PMTUDISC_DO},
		{unix.IPPROTO_IPV6, unix.IPV6_DONTFRAG, 1},
		{unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_LOOP, 0},
	}
	if raw {
		// The kernel computes the UDP checksum, mandatory over IPv6, at
		// offset 6 of what we write.
		opts = append(opts, [3]int{unix.IPPROTO_IPV6, unix.IPV6_CHECKSUM, 6})
	}
	if ttl != 0 {
		opts = append(opts, [3]int{unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, ttl},
			[3]int{unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_HOPS, ttl})
	}
	if e.devIndex != 0 {
		opts = append(opts, [3]int{unix.IPPROTO_IPV6, unix.IPV6_UNICAST_IF, htonl(e.devIndex)},
			[3]int{unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_IF, int(e.devIndex)})
	}
	return setInts(fd, opts...)
}

// bindAddr is the socket address to bind to: addr (the zero Addr for the
// wildcard of the endpoint's family) and port.
func (e *Endpoint) bindAddr(addr netip.Addr, port uint16) unix.Sockaddr {
	if !e.v6 {
		sa := &unix.SockaddrInet4{Port: int(port)}
		if addr.IsValid() {
			sa.Addr = addr.As4()
		}
		return sa
	}
	sa := &unix.SockaddrInet6{Port: int(port)}
	if addr.IsValid() {
		sa.Addr = addr.As16()
		if addr.IsLinkLocalUnicast() {
			sa.ZoneId = e.devIndex
		}
	}
	return sa
}

// transient are errors of one datagram or one moment, not of the endpoint:
// the datagram is counted and the endpoint goes on.
func transient(err error) bool {
	var errno unix.Errno
	if !errors.As(err, &errno) {
		return false
	}
	switch errno {
	case unix.ENETUNREACH, unix.EHOSTUNREACH, unix.ENETDOWN, unix.EHOSTDOWN,
		unix.ECONNREFUSED, unix.EPERM, unix.EACCES, unix.EADDRNOTAVAIL,
		unix.ENOBUFS, unix.ENODEV, unix.ENXIO:
		return true
	}
	return false
}

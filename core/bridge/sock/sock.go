// Package sock holds the bridge endpoints that exchange frames over
// sockets and pipes, in the framings of the programs at the other end:
//
//	udp://[SRC:]SPORT->DST:DPORT        one frame per UDP datagram (VDE's udp plug)
//	stream://unix:PATH                  4-byte big-endian length before each frame, over
//	stream://tcp:HOST:PORT              a stream, as client (QEMU -netdev stream, passt,
//	stream://listen:unix:PATH           gvproxy) or as listener (one peer at a time)
//	stream://listen:tcp:[HOST:]PORT
//	seqpacket://unix:PATH               one frame per SOCK_SEQPACKET packet (slirp4netns
//	seqpacket://listen:unix:PATH        --target-type=bess, User Mode Linux)
//	dgram://unix:REMOTE                 one frame per SOCK_DGRAM datagram (QEMU -netdev
//	dgram://unix:LOCAL->unix:REMOTE     dgram, vfkit); a listener answers whoever sent
//	dgram://listen:unix:LOCAL           to it last
//	stdio                               2-byte big-endian length before each frame on
//	                                    standard input and output (vde_plug URL = CMD)
//
// A bare path (starting with "/", "." or "@" for an abstract socket) may
// stand for unix:PATH. Options follow the address:
//
//	/mode=0600   permission bits of a unix socket file the endpoint creates
//	             (exactly these, whatever the umask; default 0600: the owner only)
//	/public      let a TCP listener listen on a non-loopback address
//	/ttl=N       udp: the multicast TTL (default 1)
//	/dev=IFNAME  udp: the interface of a multicast group
//
// A TCP listener listens on loopback unless given a host; any other address
// exposes the bus to whoever can reach it, so it takes /public. A unicast
// udp:// socket is connected to DST:DPORT: the kernel drops datagrams from
// any other address before the endpoint sees them (uncounted); a multicast
// group takes whatever members send to it.
package sock

import (
	"os"
	"strings"

	"github.com/libshmif/libshmif/core/bridge/internal/fdio"
	"github.com/libshmif/libshmif/core/bridge/internal/spec"
	"golang.org/x/sys/unix"
)

// Open opens a udp://, stream://, seqpacket://, dgram:// or stdio
// endpoint. Errors name the URL; those of the system unwrap to their
// errno (EADDRINUSE, ECONNREFUSED, ENOENT, ...), a URL that cannot be
// used as given to EINVAL.
func Open(s string) (Endpoint, error) {
	switch spec.Scheme(s) {
	case "stdio":
		e, err := openStdio(s)
		if err != nil {
			return nil, spec.Wrap(s, "standard input and output", err)
		}
		return e, nil
	case "udp":
		u, err := spec.Parse(s, "ttl", "dev")
		if err != nil {
			return nil, err
		}
		return openUDP(u)
	case "stream":
		return openConn(s, unix.SOCK_STREAM)
	case "seqpacket":
		return openConn(s, unix.SOCK_SEQPACKET)
	case "dgram":
		return openDgram(s)
	}
	return nil, spec.Errorf(s, "not a socket endpoint")
}

// Endpoint is what Open returns: a *UDP, *Stream or *Packet.
type Endpoint interface {
	ReadFrames(bufs [][]byte, lens []int) (int, error)
	WriteFrames(frames [][]byte) (int, error)
	MaxFrame() int
	Close() error
	String() string
	Stats() Stats
}

// openConn opens a stream:// or seqpacket:// endpoint.
func openConn(s string, sotype int) (Endpoint, error) {
	u, err := spec.Parse(s, "mode", "public")
	if err != nil {
		return nil, err
	}
	rest, listening := strings.CutPrefix(u.Addr, "listen:")
	a, err := parseAddr(s, rest, listening)
	if err != nil {
		return nil, err
	}
	if sotype == unix.SOCK_SEQPACKET && !a.isUnix() {
		return nil, spec.Errorf(s, "seqpacket sockets are unix sockets: expected unix:PATH")
	}
	if !listening && (u.Has("mode") || u.Has("public")) {
		return nil, spec.Errorf(s, "mode and public are options of listeners")
	}
	var p *peers
	if listening {
		mode, err := u.Mode("mode", DefaultMode)
		if err != nil {
			return nil, err
		}
		if err := checkPublic(u, a); err != nil {
			return nil, err
		}
		l, err := listen(s, sotype, a, mode)
		if err != nil {
			return nil, spec.Wrap(s, "listen", err)
		}
		var onAccept func(int)
		if !a.isUnix() {
			onAccept = func(fd int) { unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1) }
		}
		p = newListener(s, l, a.unix, onAccept)
	} else {
		c, err := dial(s, sotype, a)
		if err != nil {
			return nil, spec.Wrap(s, "connect", err)
		}
		p = newPeers(s, c)
	}
	if sotype == unix.SOCK_SEQPACKET {
		return newPacket(s, true, p), nil
	}
	return newStream(s, 4, p), nil
}

// checkPublic refuses a TCP listener on a non-loopback address without
// /public.
func checkPublic(u spec.URL, a addr) error {
	public, err := u.Flag("public")
	if err != nil {
		return err
	}
	if a.isUnix() {
		if u.Has("public") {
			return spec.Errorf(u.Raw, "public is an option of TCP listeners")
		}
		return nil
	}
	if u.Has("mode") {
		return spec.Errorf(u.Raw, "mode is an option of unix socket listeners")
	}
	if !a.inet.Addr().IsLoopback() && !public {
		return spec.Errorf(u.Raw, "listening on %v would let anyone who can reach it onto the bus: add /public to mean that", a.inet.Addr())
	}
	return nil
}

// openDgram opens a dgram:// endpoint.
func openDgram(s string) (Endpoint, error) {
	u, err := spec.Parse(s, "mode")
	if err != nil {
		return nil, err
	}
	rest, listening := strings.CutPrefix(u.Addr, "listen:")
	local, remote := "", rest
	if l, r, ok := strings.Cut(rest, "->"); ok && !listening {
		local, remote = l, r
	}
	if listening {
		local, remote = rest, ""
	}
	if !listening && local == "" && u.Has("mode") {
		return nil, spec.Errorf(s, "mode is an option of a bound LOCAL address")
	}
	mode, err := u.Mode("mode", DefaultMode)
	if err != nil {
		return nil, err
	}
	var la, ra addr
	if local != "" {
		if la, err = parseAddr(s, local, false); err != nil {
			return nil, err
		}
	}
	if remote != "" {
		if ra, err = parseAddr(s, remote, false); err != nil {
			return nil, err
		}
	}
	if (local != "" && !la.isUnix()) || (remote != "" && !ra.isUnix()) {
		return nil, spec.Errorf(s, "dgram sockets are unix sockets (for UDP use udp://)")
	}
	fd, err := socket(unix.AF_UNIX, unix.SOCK_DGRAM)
	if err != nil {
		return nil, spec.Wrap(s, "socket", err)
	}
	if local != "" {
		err = bindUnix(fd, la.unix, mode)
	} else {
		// Autobind an abstract address, so that the peer can answer.
		err = unix.Bind(fd, &unix.SockaddrUnix{})
	}
	if err != nil {
		unix.Close(fd)
		return nil, spec.Wrap(s, "bind", err)
	}
	if remote != "" {
		if err := unix.Connect(fd, unixSockaddr(ra.unix)); err != nil {
			unix.Close(fd)
			if local != "" && local[0] != '@' {
				os.Remove(local)
			}
			return nil, spec.Wrap(s, "connect", err)
		}
	}
	c, err := fdio.New(fd, s)
	if err != nil {
		return nil, spec.Wrap(s, "socket", err)
	}
	p := newPeers(s, c)
	p.path = la.unix
	e := newPacket(s, false, p)
	e.learn = listening
	return e, nil
}

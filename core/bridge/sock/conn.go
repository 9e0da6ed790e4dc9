package sock

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"

	"github.com/libshmif/libshmif/core/bridge/internal/fdio"
	"golang.org/x/sys/unix"
)

// Stats are a socket endpoint's own counters.
type Stats struct {
	Peers   uint64 // connections accepted (listeners) or peers learned (dgram listeners)
	Refused uint64 // connections turned away while a peer was connected
	NoPeer  uint64 // frames to send while no peer was connected: dropped
	Lost    uint64 // frames lost to a send error that does not end the endpoint (no listener at the UDP peer, full buffers, a peer that left)
	Desync  uint64 // stream peers dropped for a length no frame can have (the stream is out of step)
}

func (s Stats) String() string {
	return fmt.Sprintf("peers=%d refused=%d nopeer=%d lost=%d desync=%d",
		s.Peers, s.Refused, s.NoPeer, s.Lost, s.Desync)
}

type counters struct{ peers, refused, nopeer, lost, desync atomic.Uint64 }

func (c *counters) load() Stats {
	return Stats{Peers: c.peers.Load(), Refused: c.refused.Load(), NoPeer: c.nopeer.Load(),
		Lost: c.lost.Load(), Desync: c.desync.Load()}
}

// socket makes a non-blocking socket.
func socket(family, sotype int) (int, error) {
	return unix.Socket(family, sotype|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
}

func family(ip netip.Addr) int {
	if ip.Is4() {
		return unix.AF_INET
	}
	return unix.AF_INET6
}

func inetSockaddr(ap netip.AddrPort) unix.Sockaddr {
	if ap.Addr().Is4() {
		return &unix.SockaddrInet4{Addr: ap.Addr().As4(), Port: int(ap.Port())}
	}
	return &unix.SockaddrInet6{Addr: ap.Addr().As16(), Port: int(ap.Port())}
}

// dial connects a socket of type sotype to a and returns it registered
// with the poller.
func dial(url string, sotype int, a addr) (*fdio.FD, error) {
	var fd int
	var sa unix.Sockaddr
	var err error
	if a.isUnix() {
		fd, err = socket(unix.AF_UNIX, sotype)
		sa = unixSockaddr(a.unix)
	} else {
		fd, err = socket(family(a.inet.Addr()), sotype)
		sa = inetSockaddr(a.inet)
	}
	if err != nil {
		return nil, err
	}
	c, err := fdio.New(fd, url)
	if err != nil {
		return nil, err
	}
	err = unix.Connect(fd, sa)
	if err == unix.EINPROGRESS {
		// Wait for the outcome of a TCP connect.
		err = c.Write(func(fd int) error {
			soerr, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
			if err != nil {
				return err
			}
			if soerr == int(unix.EINPROGRESS) || soerr == int(unix.EALREADY) {
				return unix.EAGAIN
			}
			if soerr != 0 {
				return unix.Errno(soerr)
			}
			return nil
		})
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	if !a.isUnix() {
		unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	}
	return c, nil
}

func unixSockaddr(path string) *unix.SockaddrUnix {
	if path[0] == '@' {
		return &unix.SockaddrUnix{Name: "\x00" + path[1:]}
	}
	return &unix.SockaddrUnix{Name: path}
}

// listen makes a listening socket of type sotype on a: a unix socket file
// with mode, or a TCP port.
func listen(url string, sotype int, a addr, mode uint32) (*fdio.FD, error) {
	var fd int
	var err error
	if a.isUnix() {
		if fd, err = socket(unix.AF_UNIX, sotype); err != nil {
			return nil, err
		}
		err = bindUnix(fd, a.unix, mode)
	} else {
		if fd, err = socket(family(a.inet.Addr()), sotype); err != nil {
			return nil, err
		}
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
		err = unix.Bind(fd, inetSockaddr(a.inet))
	}
	if err == nil && sotype != unix.SOCK_DGRAM {
		err = unix.Listen(fd, 4)
	}
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	return fdio.New(fd, url)
}

// peers gives the reader and the writer of a connection-oriented endpoint
// its connection: the one it made, or for a listener whichever peer is
// connected now (one at a time; others are turned away while it is).
type peers struct {
	url      string
	fixed    bool         // a connection we made: when it ends, the endpoint does
	listener *fdio.FD     // nil unless listening
	path     string       // a socket file of ours, removed on close
	stats    counters     // the endpoint's
	onAccept func(fd int) // sets socket options of accepted peers

	mu      sync.Mutex
	cur     *fdio.FD
	arrived chan struct{} // a peer connected
	closed  chan struct{}
	once    sync.Once
}

func newPeers(url string, c *fdio.FD) *peers {
	return &peers{url: url, fixed: true, cur: c, closed: make(chan struct{})}
}

// newListener returns the peers of listener l; onAccept, if not nil, is
// called with each connection accepted.
func newListener(url string, l *fdio.FD, path string, onAccept func(fd int)) *peers {
	p := &peers{url: url, listener: l, path: path, onAccept: onAccept,
		arrived: make(chan struct{}, 1), closed: make(chan struct{})}
	go p.accept()
	return p
}

// accept takes connections until the listener is closed.
func (p *peers) accept() {
	for {
		var nfd int
		err := p.listener.Read(func(fd int) error {
			var err error
			nfd, _, err = unix.Accept4(fd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
			return err
		})
		if fdio.IsClosed(err) {
			return
		}
		if err != nil {
			// ECONNABORTED, EMFILE and the like: the listener
			// itself is fine.
			continue
		}
		p.mu.Lock()
		if p.isClosed() {
			p.mu.Unlock()
			unix.Close(nfd)
			return
		}
		if p.cur != nil && hungUp(p.cur) {
			// The peer left and the reader has not noticed yet:
			// make room for the new one.
			p.cur.Close()
			p.cur = nil
		}
		busy := p.cur != nil
		if !busy {
			if p.onAccept != nil {
				p.onAccept(nfd)
			}
			c, err := fdio.New(nfd, p.url)
			if err == nil {
				p.cur = c
				p.stats.peers.Add(1)
			}
		}
		p.mu.Unlock()
		if busy {
			unix.Close(nfd)
			p.stats.refused.Add(1)
			continue
		}
		select {
		case p.arrived <- struct{}{}:
		default:
		}
	}
}

// hungUp reports whether the peer of connection c has closed it.
func hungUp(c *fdio.FD) bool {
	gone := false
	c.Control(func(fd int) error {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLRDHUP}}
		if n, err := unix.Poll(pfd, 0); err == nil && n == 1 {
			gone = pfd[0].Revents&(unix.POLLRDHUP|unix.POLLHUP|unix.POLLERR) != 0
		}
		return nil
	})
	return gone
}

// wait returns the current connection, waiting for a peer to connect to a
// listener.
func (p *peers) wait() (*fdio.FD, error) {
	for {
		p.mu.Lock()
		c := p.cur
		p.mu.Unlock()
		if c != nil {
			return c, nil
		}
		select {
		case <-p.arrived:
		case <-p.closed:
			return nil, fdio.Closed(p.url)
		}
	}
}

// current returns the connection now, or nil.
func (p *peers) current() *fdio.FD {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cur
}

// ended is called by the reader when connection c ended with err (io.EOF
// for an orderly close). For a connection we made that is the endpoint's
// end, and err is returned; a listener forgets the peer and waits for
// the next one (nil).
func (p *peers) ended(c *fdio.FD, err error) error {
	if p.isClosed() {
		return fdio.Closed(p.url)
	}
	if p.fixed {
		return err
	}
	p.mu.Lock()
	if p.cur == c {
		p.cur = nil
	}
	p.mu.Unlock()
	c.Close()
	return nil
}

// sendFailed decides what a send error on c means: the endpoint's end for
// a connection we made, or frames lost (counted) when a listener's peer
// left.
func (p *peers) sendFailed(err error, lost int) error {
	if p.isClosed() {
		return fdio.Closed(p.url)
	}
	if p.fixed {
		return err
	}
	p.stats.lost.Add(uint64(lost))
	return nil
}

func (p *peers) isClosed() bool {
	select {
	case <-p.closed:
		return true
	default:
		return false
	}
}

func (p *peers) close() error {
	p.once.Do(func() {
		p.mu.Lock()
		close(p.closed)
		p.mu.Unlock()
		if p.listener != nil {
			p.listener.Close()
		}
		p.mu.Lock()
		if p.cur != nil {
			p.cur.Close()
		}
		p.mu.Unlock()
		if p.path != "" && p.path[0] != '@' {
			os.Remove(p.path)
		}
	})
	return nil
}

// peerGone reports whether err from a connected socket means the peer went
// away rather than something wrong with us.
func peerGone(err error) bool {
	return errors.Is(err, unix.ECONNRESET) || errors.Is(err, unix.EPIPE) ||
		errors.Is(err, unix.ENOTCONN) || errors.Is(err, unix.ETIMEDOUT) ||
		errors.Is(err, unix.ECONNREFUSED) || errors.Is(err, unix.EHOSTUNREACH)
}

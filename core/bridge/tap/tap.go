// Package tap is the tap:// bridge endpoint: a Linux TAP device, so that a
// bus and a kernel's network stack exchange frames.
//
//	tap://NAME[/mtu=N][/vnet_hdr=on|off]
//	tap://fd=N[/mtu=N]
//
// tap://NAME attaches to the TAP device NAME, creating it if it does not
// exist (a device it creates goes away when the endpoint closes), sets its
// MTU (default 1500, the bus's) and brings it up, in the network namespace
// of the calling thread. That needs CAP_NET_ADMIN there and permission to
// open /dev/net/tun: root, or an unprivileged user inside its own user and
// network namespaces (unshare -rn) where /dev/net/tun is mode 0666.
//
// tap://fd=N uses a TAP descriptor already open in this process (handed
// over by a privileged parent, say): nothing is configured unless asked
// (mtu), and the descriptor is closed with the endpoint. If it was opened
// with IFF_VNET_HDR, the header is handled as below.
//
// With vnet_hdr on (the default for tap://NAME) the device takes and gives
// frames behind a virtio-net header, and is told it may hand over TCP
// frames of up to 64 KiB (TSO) and frames with the TCP or UDP checksum
// left to us: the endpoint segments and finishes them before they reach
// the bus, so the sending stack does per 64 KiB what it would otherwise do
// per frame.
package tap

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libshmif/libshmif/core/bridge/internal/fdio"
	"github.com/libshmif/libshmif/core/bridge/internal/spec"
	"golang.org/x/sys/unix"
)

// DefaultMTU is the MTU given to a device unless mtu says otherwise: the
// bus's.
const DefaultMTU = 1500

// Endpoint is a TAP device.
type Endpoint struct {
	url  string
	name string
	fd   *fdio.FD
	vnet bool
	mtu  int
	st   counters

	// Reader state: with vnet, the frame read and the segments made of
	// it that did not fit in the caller's buffers.
	rbuf    []byte
	pending []byte
	plens   []int
	poff    int // bytes of pending already handed out
	pnext   int // index into plens

	// Writer state.
	wmu   sync.Mutex
	iovs  []unix.Iovec
	parts [][]byte
	zero  [vnetHdrLen]byte
	hdr   [vnetHdrLen + 18 + 60 + 60]byte // for merged frames
}

// maxRun bounds the frames merged into one write (an iovec each).
const maxRun = 128

// Stats are a TAP endpoint's own counters.
type Stats struct {
	TooBig    uint64 // frames over the device's MTU, not written
	Lost      uint64 // frames the device refused (down, no memory)
	Segmented uint64 // TSO frames read and segmented
	Merged    uint64 // frames written that were runs of TCP segments merged
	Bad       uint64 // frames read that could not be segmented or finished: dropped
}

func (s Stats) String() string {
	return fmt.Sprintf("toobig=%d lost=%d segmented=%d merged=%d bad=%d", s.TooBig, s.Lost, s.Segmented, s.Merged, s.Bad)
}

type counters struct{ toobig, lost, segmented, merged, bad atomic.Uint64 }

// Open opens a tap:// URL.
func Open(s string) (*Endpoint, error) {
	u, err := spec.Parse(s, "mtu", "vnet_hdr")
	if err != nil {
		return nil, err
	}
	if u.Scheme != "tap" || u.Addr == "" {
		return nil, spec.Errorf(s, "expected tap://NAME or tap://fd=N")
	}
	mtu, err := u.Int("mtu", DefaultMTU, 68, 65521)
	if err != nil {
		return nil, err
	}
	vnet := true
	if u.Has("vnet_hdr") {
		if vnet, err = u.Flag("vnet_hdr"); err != nil {
			return nil, err
		}
	}
	if v, ok := strings.CutPrefix(u.Addr, "fd="); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return nil, spec.Errorf(s, "fd: expected a descriptor number")
		}
		if u.Has("vnet_hdr") {
			return nil, spec.Errorf(s, "vnet_hdr is set by whoever opened the descriptor")
		}
		return fromFD(u, n, mtu)
	}
	if len(u.Addr) >= unix.IFNAMSIZ || strings.ContainsAny(u.Addr, "/ \t") {
		return nil, spec.Errorf(s, "bad interface name %q", u.Addr)
	}
	return create(u, mtu, vnet)
}

// create attaches to or creates the device.
func create(u spec.URL, mtu int, vnet bool) (*Endpoint, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) {
			return nil, spec.Wrap(u.Raw, "open /dev/net/tun", fmt.Errorf("%w (a tap needs CAP_NET_ADMIN and access to /dev/net/tun: run as root, in unshare -rn where /dev/net/tun is 0666, or hand over an open tap with tap://fd=N)", err))
		}
		return nil, spec.Wrap(u.Raw, "open /dev/net/tun", err)
	}
	flags := uint16(unix.IFF_TAP | unix.IFF_NO_PI)
	if vnet {
		flags |= unix.IFF_VNET_HDR
	}
	name, err := setIff(fd, u.Addr, flags)
	if err != nil {
		unix.Close(fd)
		if errors.Is(err, unix.EPERM) {
			err = fmt.Errorf("%w (attaching a tap needs CAP_NET_ADMIN, or a device made with `ip tuntap add NAME mode tap user USER`)", err)
		}
		if errors.Is(err, unix.EINVAL) {
			err = fmt.Errorf("%w (is %s a device of another kind?)", err, u.Addr)
		}
		return nil, spec.Wrap(u.Raw, "attach "+u.Addr, err)
	}
	e := &Endpoint{url: u.Raw, name: name, vnet: vnet, mtu: mtu}
	if err := e.configure(fd, true, true); err != nil {
		unix.Close(fd)
		return nil, spec.Wrap(u.Raw, name, err)
	}
	if e.fd, err = fdio.New(fd, u.Raw); err != nil {
		return nil, spec.Wrap(u.Raw, name, err)
	}
	e.init()
	return e, nil
}

// fromFD takes over an open TAP descriptor.
func fromFD(u spec.URL, fd, mtu int) (*Endpoint, error) {
	name, flags, err := getIff(fd)
	if err != nil {
		if errors.Is(err, unix.EBADF) || errors.Is(err, unix.ENOTTY) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EBADFD) {
			return nil, spec.Errorf(u.Raw, "descriptor %d is not an attached tap", fd)
		}
		return nil, spec.Wrap(u.Raw, "descriptor "+strconv.Itoa(fd), err)
	}
	if flags&(unix.IFF_TAP|unix.IFF_TUN) != unix.IFF_TAP || flags&unix.IFF_NO_PI == 0 {
		return nil, spec.Errorf(u.Raw, "descriptor %d is %s, not a tap opened with IFF_NO_PI", fd, name)
	}
	e := &Endpoint{url: u.Raw, name: name, vnet: flags&unix.IFF_VNET_HDR != 0}
	if e.mtu, err = getMTU(name); err != nil {
		// The device may live in another network namespace: assume the
		// bus's MTU.
		e.mtu = DefaultMTU
	}
	if u.Has("mtu") {
		e.mtu = mtu
	}
	if err := e.configure(fd, u.Has("mtu"), false); err != nil {
		return nil, spec.Wrap(u.Raw, name, err)
	}
	if e.fd, err = fdio.New(fd, u.Raw); err != nil {
		return nil, spec.Wrap(u.Raw, name, err)
	}
	e.init()
	return e, nil
}

// configure sets the offloads the vnet header allows, and with setMTU and
// up the MTU and the link state.
func (e *Endpoint) configure(fd int, mtu, up bool) error {
	if e.vnet {
		off := tunFCsum | tunFTSO4 | tunFTSO6
		if err := unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, off); err != nil {
			return fmt.Errorf("set offloads: %w", err)
		}
	}
	// Only what needs changing is changed: a device made beforehand for
	// an unprivileged user (ip tuntap add ... user U; ip link set ... up)
	// needs no rights the user lacks.
	if mtu {
		if cur, err := getMTU(e.name); err != nil || cur != e.mtu {
			if err := setMTU(e.name, e.mtu); err != nil {
				return fmt.Errorf("set mtu %d: %w%s", e.mtu, err, needAdmin(err, e.name))
			}
		}
	}
	if up {
		if ok, err := isUp(e.name); err != nil || !ok {
			if err := setUp(e.name); err != nil {
				return fmt.Errorf("set up: %w%s", err, needAdmin(err, e.name))
			}
		}
		waitRunning(e.name)
	}
	return nil
}

// waitRunning waits, a little, until the device runs. A tap's carrier is
// on once it is attached, but the kernel starts sending on a device only
// when its link watcher has seen that, which it does at most once a
// second: until then it drops what it would send us (ARP replies, say).
func waitRunning(name string) {
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if f, err := flags(name); err != nil || f&unix.IFF_RUNNING != 0 {
			return
		}
	}
}

// needAdmin explains an EPERM from configuring the device.
func needAdmin(err error, name string) string {
	if errors.Is(err, unix.EPERM) {
		return " (needs CAP_NET_ADMIN; or have root run `ip link set " + name + " mtu 1500 up` once)"
	}
	return ""
}

func (e *Endpoint) init() {
	e.iovs = make([]unix.Iovec, maxRun+1)
	if e.vnet {
		e.rbuf = make([]byte, vnetHdrLen+65536+256)
	}
}

// Name returns the device's name.
func (e *Endpoint) Name() string { return e.name }

// MaxFrame is the largest frame read whole: the MTU and an Ethernet header
// (with a VLAN tag).
func (e *Endpoint) MaxFrame() int { return e.mtu + 18 }

// ReadFrames reads frames until the device has no more or bufs are full.
func (e *Endpoint) ReadFrames(bufs [][]byte, lens []int) (int, error) {
	if e.vnet {
		return e.readVnet(bufs, lens)
	}
	n := 0
	err := e.fd.Read(func(fd int) error {
		for n < len(bufs) {
			k, err := unix.Read(fd, bufs[n])
			if err != nil {
				if n > 0 && err == unix.EAGAIN {
					return nil
				}
				return err
			}
			lens[n] = k
			n++
		}
		return nil
	})
	if err != nil && n == 0 {
		return 0, e.readErr(err)
	}
	return n, nil
}

func (e *Endpoint) readErr(err error) error {
	if errors.Is(err, unix.EBADFD) {
		return fmt.Errorf("%s: the device is gone: %w", e.name, err)
	}
	return err
}

// readVnet reads frames behind virtio-net headers, segmenting TSO frames;
// segments that do not fit in bufs wait for the next call.
func (e *Endpoint) readVnet(bufs [][]byte, lens []int) (int, error) {
	n := e.takePending(bufs, lens)
	emit := func(f []byte) {
		if n < len(bufs) {
			lens[n] = len(f)
			copy(bufs[n], f)
			n++
			return
		}
		e.pending = append(e.pending, f...)
		e.plens = append(e.plens, len(f))
	}
	err := e.fd.Read(func(fd int) error {
		for n < len(bufs) {
			k, err := unix.Read(fd, e.rbuf)
			if err != nil {
				if n > 0 && err == unix.EAGAIN {
					return nil
				}
				return err
			}
			if k < vnetHdrLen {
				continue
			}
			h := parseVnet(e.rbuf)
			if h.gsoType != gsoNone {
				e.st.segmented.Add(1)
			}
			if finish(h, e.rbuf[vnetHdrLen:k], emit) != nil {
				e.st.bad.Add(1)
			}
		}
		return nil
	})
	if err != nil && n == 0 {
		return 0, e.readErr(err)
	}
	return n, nil
}

// takePending hands out segments left over from the last call.
func (e *Endpoint) takePending(bufs [][]byte, lens []int) int {
	n := 0
	for n < len(bufs) && e.pnext < len(e.plens) {
		l := e.plens[e.pnext]
		lens[n] = l
		copy(bufs[n], e.pending[e.poff:e.poff+l])
		e.poff += l
		e.pnext++
		n++
	}
	if e.pnext == len(e.plens) {
		e.pending, e.plens, e.poff, e.pnext = e.pending[:0], e.plens[:0], 0, 0
	}
	return n
}

// WriteFrames writes frames, one write each (the device takes one frame
// per write), except that with the virtio-net header runs of one TCP flow
// are merged (see gro.go).
func (e *Endpoint) WriteFrames(frames [][]byte) (int, error) {
	e.wmu.Lock()
	defer e.wmu.Unlock()
	done := 0
	err := e.fd.Write(func(fd int) error {
		for done < len(frames) {
			n, err := e.write(fd, frames[done:])
			switch err {
			case nil:
			case unix.EAGAIN, unix.EINTR:
				return err
			case unix.EIO, unix.EINVAL, unix.ENOMEM, unix.ENOBUFS:
				e.st.lost.Add(uint64(n))
			default:
				return err
			}
			done += n
		}
		return nil
	})
	if err != nil {
		return done, e.readErr(err)
	}
	return len(frames), nil
}

// write writes frames[0], or a run of frames merged, and returns how many
// frames it took.
func (e *Endpoint) write(fd int, frames [][]byte) (int, error) {
	f := frames[0]
	if max := e.mtu + 14; len(f) > max && !(len(f) == max+4 && isTagged(f)) {
		e.st.toobig.Add(1)
		return 1, nil
	}
	if !e.vnet {
		_, err := unix.Write(fd, f)
		return 1, err
	}
	n, s0 := run(frames, maxRun)
	if n == 1 {
		e.parts = append(e.parts[:0], e.zero[:], f)
		_, err := fdio.Writev(fd, e.iovs, e.parts)
		return 1, err
	}
	total := 0
	for _, g := range frames[1:n] {
		total += len(g) - s0.hdrLen
	}
	total += s0.payload
	last, _ := parseSeg(frames[n-1])
	hdr := e.hdr[:vnetHdrLen+s0.hdrLen]
	mergedHeader(hdr, f, s0, total, last.flags)
	e.parts = append(e.parts[:0], hdr)
	for _, g := range frames[:n] {
		e.parts = append(e.parts, g[s0.hdrLen:])
	}
	_, err := fdio.Writev(fd, e.iovs, e.parts)
	if err == nil {
		e.st.merged.Add(1)
	}
	return n, err
}

func isTagged(f []byte) bool { return len(f) >= 18 && f[12] == 0x81 && f[13] == 0x00 }

// Close closes the descriptor; a device the endpoint created goes away.
func (e *Endpoint) Close() error { return e.fd.Close() }

func (e *Endpoint) String() string { return e.url }

// Stats returns the endpoint's counters.
func (e *Endpoint) Stats() Stats {
	return Stats{TooBig: e.st.toobig.Load(), Lost: e.st.lost.Load(), Segmented: e.st.segmented.Load(),
		Merged: e.st.merged.Load(), Bad: e.st.bad.Load()}
}

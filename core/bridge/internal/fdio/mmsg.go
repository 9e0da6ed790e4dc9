package fdio

import (
	"encoding/binary"
	"net/netip"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Batch holds the message headers of recvmmsg(2) and sendmmsg(2) calls of
// up to its size, one buffer per message, allocated once.
type Batch struct {
	hdrs  []unix.Mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrAny
}

// NewBatch returns a Batch for up to n messages per call.
func NewBatch(n int) *Batch {
	return &Batch{
		hdrs:  make([]unix.Mmsghdr, n),
		iovs:  make([]unix.Iovec, n),
		names: make([]unix.RawSockaddrAny, n),
	}
}

// Recv receives up to len(bufs) messages with one recvmmsg call that does
// not wait, and sets lens[i] to each message's full length (which exceeds
// len(bufs[i]) when it was truncated). With names, the senders' addresses
// are kept for Name. Errors are those of recvmmsg, EAGAIN included.
func (b *Batch) Recv(fd int, bufs [][]byte, lens []int, names bool) (int, error) {
	n := min(len(bufs), len(b.hdrs))
	for i := range n {
		b.iovs[i] = unix.Iovec{Base: &bufs[i][0]}
		b.iovs[i].SetLen(len(bufs[i]))
		h := &b.hdrs[i].Hdr
		*h = unix.Msghdr{Iov: &b.iovs[i], Iovlen: 1}
		if names {
			h.Name = (*byte)(unsafe.Pointer(&b.names[i]))
			h.Namelen = unix.SizeofSockaddrAny
		}
	}
	r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(fd), uintptr(unsafe.Pointer(&b.hdrs[0])),
		uintptr(n), unix.MSG_TRUNC|unix.MSG_DONTWAIT, 0, 0)
	runtime.KeepAlive(bufs)
	if e != 0 {
		return 0, e
	}
	for i := range int(r) {
		lens[i] = int(b.hdrs[i].Len)
	}
	return int(r), nil
}

// Name returns the sender's address of message i of the last Recv with
// names.
func (b *Batch) Name(i int) Addr {
	return Addr{raw: b.names[i], len: b.hdrs[i].Hdr.Namelen}
}

// Send sends frames with one sendmmsg call that does not wait, each as one
// message, to the address to (nil for a connected socket). It returns how
// many were sent; EAGAIN when none could be.
func (b *Batch) Send(fd int, frames [][]byte, to *Addr) (int, error) {
	n := min(len(frames), len(b.hdrs))
	for i := range n {
		f := frames[i]
		b.iovs[i] = unix.Iovec{}
		if len(f) > 0 {
			b.iovs[i].Base = &f[0]
		}
		b.iovs[i].SetLen(len(f))
		h := &b.hdrs[i].Hdr
		*h = unix.Msghdr{Iov: &b.iovs[i], Iovlen: 1}
		if to != nil {
			h.Name = (*byte)(unsafe.Pointer(&to.raw))
			h.Namelen = to.len
		}
	}
	r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&b.hdrs[0])),
		uintptr(n), unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL, 0, 0)
	runtime.KeepAlive(frames)
	runtime.KeepAlive(to)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

// Writev writes bufs with one writev call that does not wait and returns
// the number of bytes written.
func Writev(fd int, iovs []unix.Iovec, bufs [][]byte) (int, error) {
	k := 0
	for _, b := range bufs {
		if len(b) == 0 {
			continue
		}
		iovs[k] = unix.Iovec{Base: &b[0]}
		iovs[k].SetLen(len(b))
		k++
	}
	if k == 0 {
		return 0, nil
	}
	r, _, e := unix.Syscall(unix.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(&iovs[0])), uintptr(k))
	runtime.KeepAlive(bufs)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

// Addr is a socket address in the kernel's form, for Send and Bind.
type Addr struct {
	raw unix.RawSockaddrAny
	len uint32
}

// InetAddr returns the address of ap (IPv4 or IPv6).
func InetAddr(ap netip.AddrPort) Addr {
	var a Addr
	if ip := ap.Addr(); ip.Is4() || ip.Is4In6() {
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&a.raw))
		sa.Family = unix.AF_INET
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:], ap.Port())
		sa.Addr = ip.Unmap().As4()
		a.len = unix.SizeofSockaddrInet4
	} else {
		sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(&a.raw))
		sa.Family = unix.AF_INET6
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:], ap.Port())
		sa.Addr = ip.As16()
		a.len = unix.SizeofSockaddrInet6
	}
	return a
}

// Inet returns the IP address and port of an AF_INET or AF_INET6 address.
func (a Addr) Inet() (netip.AddrPort, bool) {
	switch a.raw.Addr.Family {
	case unix.AF_INET:
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&a.raw))
		port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:])
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), port), true
	case unix.AF_INET6:
		sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(&a.raw))
		port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:])
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), port), true
	}
	return netip.AddrPort{}, false
}

// Equal reports whether a and b are the same address.
func (a Addr) Equal(b Addr) bool {
	if a.len != b.len || a.len > unix.SizeofSockaddrAny {
		return false
	}
	pa := (*[unix.SizeofSockaddrAny]byte)(unsafe.Pointer(&a.raw))
	pb := (*[unix.SizeofSockaddrAny]byte)(unsafe.Pointer(&b.raw))
	return string(pa[:a.len]) == string(pb[:b.len])
}

// IsZero reports whether a holds no address.
func (a Addr) IsZero() bool { return a.len == 0 }

// UnixAddr returns the AF_UNIX address of path; a path starting with "@"
// names an abstract address.
func UnixAddr(path string) (Addr, error) {
	var a Addr
	sa := (*unix.RawSockaddrUnix)(unsafe.Pointer(&a.raw))
	if len(path) == 0 || len(path) >= len(sa.Path) {
		return a, unix.EINVAL
	}
	sa.Family = unix.AF_UNIX
	for i := range len(path) {
		sa.Path[i] = int8(path[i])
	}
	if path[0] == '@' {
		sa.Path[0] = 0
		a.len = uint32(2 + len(path))
	} else {
		a.len = uint32(2 + len(path) + 1)
	}
	return a, nil
}

// Unix returns the path of an AF_UNIX address ("@" first for an abstract
// one; "" for an unnamed one).
func (a Addr) Unix() string {
	if a.raw.Addr.Family != unix.AF_UNIX || a.len <= 2 {
		return ""
	}
	sa := (*unix.RawSockaddrUnix)(unsafe.Pointer(&a.raw))
	n := int(a.len) - 2
	b := make([]byte, 0, n)
	for i := range n {
		c := byte(sa.Path[i])
		if i == 0 && c == 0 {
			c = '@'
		} else if c == 0 {
			break
		}
		b = append(b, c)
	}
	return string(b)
}

package tap

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Linux's tun driver (include/uapi/linux/if_tun.h) beyond x/sys/unix.
const (
	tunFCsum = 0x01 // TUN_F_CSUM: we take frames with a partial checksum
	tunFTSO4 = 0x02 // TUN_F_TSO4
	tunFTSO6 = 0x04 // TUN_F_TSO6
)

// ifreqFlags is struct ifreq with the short ifr_flags of TUNSETIFF and
// TUNGETIFF.
type ifreqFlags struct {
	name  [unix.IFNAMSIZ]byte
	flags uint16
	_     [22]byte
}

func setIff(fd int, name string, flags uint16) (string, error) {
	var r ifreqFlags
	copy(r.name[:unix.IFNAMSIZ-1], name)
	r.flags = flags
	if err := ioctlPtr(fd, unix.TUNSETIFF, unsafe.Pointer(&r)); err != nil {
		return "", err
	}
	return unix.ByteSliceToString(r.name[:]), nil
}

func getIff(fd int) (string, uint16, error) {
	var r ifreqFlags
	if err := ioctlPtr(fd, unix.TUNGETIFF, unsafe.Pointer(&r)); err != nil {
		return "", 0, err
	}
	return unix.ByteSliceToString(r.name[:]), r.flags, nil
}

func ioctlPtr(fd int, req uint, p unsafe.Pointer) error {
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(req), uintptr(p))
	if e != 0 {
		return e
	}
	return nil
}

// setMTU sets the MTU of device name, in the network namespace of the
// calling thread.
func setMTU(name string, mtu int) error {
	return withIfreq(name, func(s int, r *unix.Ifreq) error {
		r.SetUint32(uint32(mtu))
		return unix.IoctlIfreq(s, unix.SIOCSIFMTU, r)
	})
}

// getMTU returns the MTU of device name.
func getMTU(name string) (int, error) {
	var mtu int
	err := withIfreq(name, func(s int, r *unix.Ifreq) error {
		if err := unix.IoctlIfreq(s, unix.SIOCGIFMTU, r); err != nil {
			return err
		}
		mtu = int(r.Uint32())
		return nil
	})
	return mtu, err
}

// flags returns the IFF_* flags of device name.
func flags(name string) (uint16, error) {
	var f uint16
	err := withIfreq(name, func(s int, r *unix.Ifreq) error {
		if err := unix.IoctlIfreq(s, unix.SIOCGIFFLAGS, r); err != nil {
			return err
		}
		f = r.Uint16()
		return nil
	})
	return f, err
}

// isUp reports whether device name is up.
func isUp(name string) (bool, error) {
	f, err := flags(name)
	return f&unix.IFF_UP != 0, err
}

// setUp brings device name up.
func setUp(name string) error {
	return withIfreq(name, func(s int, r *unix.Ifreq) error {
		if err := unix.IoctlIfreq(s, unix.SIOCGIFFLAGS, r); err != nil {
			return err
		}
		if r.Uint16()&unix.IFF_UP != 0 {
			return nil
		}
		r.SetUint16(r.Uint16() | unix.IFF_UP)
		return unix.IoctlIfreq(s, unix.SIOCSIFFLAGS, r)
	})
}

func withIfreq(name string, f func(s int, r *unix.Ifreq) error) error {
	r, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	s, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(s)
	return f(s, r)
}

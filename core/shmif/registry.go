package shmif

import (
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// MaxUnits is the number of unit numbers, 0 to MaxUnits-1, as NetBSD's
// shmif vmem arena allows.
const MaxUnits = 1 << 15

// The unit registry. Lookups are lock-free because every C call makes one;
// allocation and release take allocMu.
var (
	units   [MaxUnits]atomic.Pointer[Interface]
	allocMu sync.Mutex
)

// reserve claims unit (or the lowest free unit when unit < 0) for i, and
// sets i's unit before i can be looked up: a racing Destroy of that unit
// must find i complete.
func reserve(unit int, i *Interface) error {
	allocMu.Lock()
	defer allocMu.Unlock()
	if unit >= MaxUnits {
		return unix.EINVAL
	}
	if unit < 0 {
		for u := range units {
			if units[u].Load() == nil {
				unit = u
				break
			}
		}
		if unit < 0 {
			return unix.ENOSPC
		}
	}
	if units[unit].Load() != nil {
		return unix.EEXIST
	}
	i.unit = unit
	units[unit].Store(i)
	return nil
}

func release(unit int) {
	allocMu.Lock()
	units[unit].Store(nil)
	allocMu.Unlock()
}

// Lookup returns the interface with the given unit number, or ENXIO.
func Lookup(unit int) (*Interface, error) {
	if unit < 0 || unit >= MaxUnits {
		return nil, unix.ENXIO
	}
	if i := units[unit].Load(); i != nil {
		return i, nil
	}
	return nil, unix.ENXIO
}

package layout

import (
	"encoding/binary"
	"sync/atomic"
	"unsafe"
)

// pkthdr mirrors NetBSD's struct shmif_pkthdr so that the compiler, not us,
// decides its size and padding on this ABI.
type pkthdr struct {
	len    uint32
	sec    uint32
	usec   uint32
	sender uint64
}

// FrameHeaderSize is sizeof(struct shmif_pkthdr) on this ABI.
const FrameHeaderSize = int(unsafe.Sizeof(pkthdr{}))

// NativeEndian is the byte order of every integer on the bus.
var NativeEndian = binary.NativeEndian

// Mem is a view of one bus: BusSize bytes, normally a MAP_SHARED mapping of
// the bus file. Header words are accessed atomically because other processes
// change them concurrently; the data area is plain bytes, copied under the
// bus lock.
type Mem struct {
	b []byte
}

// NewMem wraps b, which must be BusSize bytes long and 8-byte aligned (a
// mapping or a heap slice of that size is both).
func NewMem(b []byte) *Mem {
	if len(b) != BusSize {
		panic("shm: NewMem needs exactly BusSize bytes")
	}
	if uintptr(unsafe.Pointer(&b[0]))%8 != 0 {
		panic("shm: bus memory is not 8-byte aligned")
	}
	return &Mem{b: b}
}

// Bytes returns the whole bus.
func (m *Mem) Bytes() []byte { return m.b }

// Data returns the ring data area, DataSize bytes.
func (m *Mem) Data() []byte { return m.b[HeaderSize:] }

func (m *Mem) u32(off int) *uint32 { return (*uint32)(unsafe.Pointer(&m.b[off])) }
func (m *Mem) u64(off int) *uint64 { return (*uint64)(unsafe.Pointer(&m.b[off])) }

// Header words, read and written atomically (see the package comment for
// their meaning).

// Magic returns shm_magic.
func (m *Mem) Magic() uint32 { return atomic.LoadUint32(m.u32(OffMagic)) }

// SetMagic stores shm_magic.
func (m *Mem) SetMagic(v uint32) { atomic.StoreUint32(m.u32(OffMagic), v) }

// Version returns shm_version.
func (m *Mem) Version() uint32 { return atomic.LoadUint32(m.u32(OffVersion)) }

// SetVersion stores shm_version. Peers learn of it only through the
// wake-up write, which stores the same value.
func (m *Mem) SetVersion(v uint32) { atomic.StoreUint32(m.u32(OffVersion), v) }

// Gen returns shm_gen, the generation.
func (m *Mem) Gen() uint64 { return atomic.LoadUint64(m.u64(OffGen)) }

// SetGen stores shm_gen. Like SetFirst and SetLast it is a release store:
// writers set these under the bus lock, after the records they describe.
func (m *Mem) SetGen(v uint64) { StoreRelease64(m.u64(OffGen), v) }

// First returns shm_first, the data offset of the oldest valid record.
func (m *Mem) First() uint32 { return atomic.LoadUint32(m.u32(OffFirst)) }

// SetFirst stores shm_first.
func (m *Mem) SetFirst(v uint32) { StoreRelease32(m.u32(OffFirst), v) }

// Last returns shm_last, the data offset of the newest record's header.
func (m *Mem) Last() uint32 { return atomic.LoadUint32(m.u32(OffLast)) }

// SetLast stores shm_last.
func (m *Mem) SetLast(v uint32) { StoreRelease32(m.u32(OffLast), v) }

// LockWord is the shared spin-lock word at offset 24.
func (m *Mem) LockWord() *uint32 { return m.u32(OffLock) }

// SpareWord is the unused header word at offset 28.
func (m *Mem) SpareWord() *uint32 { return m.u32(OffSpare) }

// Probe reads the last word of the bus. It faults (see CatchFault) when the
// file has been truncated, even if the pages in use are still there.
func (m *Mem) Probe() uint32 { return atomic.LoadUint32(m.u32(BusSize - 4)) }

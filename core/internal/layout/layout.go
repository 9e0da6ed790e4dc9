// Package layout describes the shmif bus file layout (NetBSD's struct
// shmif_mem and struct shmif_pkthdr, bus version 3; docs/protocol.md §1) and
// gives typed access to a mapped bus. It is the only package that touches
// the bus memory with unsafe code; everything above it works with offsets,
// lengths and byte slices.
//
// The layout, in native byte order:
//
//	offset  size  field
//	0       4     magic    0xCA11D054, 0 = not yet initialised
//	4       4     version  3, written only by the wake-up pwrite
//	8       8     gen      +1 each time a frame reaches the end of the data area
//	16      4     first    data offset of the oldest valid record (DataSize = none lost yet)
//	20      4     last     data offset of the newest record's header
//	24      4     lock     0 unlocked, 1 locked
//	28      4     spare    NetBSD leaves it 0; libshmif records the lock holder's pid
//	32      ...   data     the ring of records: frame header then frame bytes
//
// Memory ordering (docs/protocol.md §10, in short):
//
//   - The lock word is taken with a compare-and-swap of 0 to 1 and released
//     with StoreRelease32 of 0: on amd64 a plain MOV, which x86 never
//     reorders with the holder's earlier loads and stores; elsewhere, and
//     under the race detector, an atomic store (on arm64 a release store).
//     NetBSD peers release with a barrier and an atomic swap; both exclude
//     each other on the same word.
//   - Header words are loaded atomically and stored with StoreRelease, under
//     the lock. libshmif writers store first before they copy a batch into
//     the ring, then gen, then last after it: last is published last.
//     NetBSD writers store last before the record they are about to write.
//   - The data area is copied with plain loads and stores, under the lock
//     (a tool that cannot get it copies the bus as it is, docs/protocol.md
//     §8.5). The exceptions are the lock-free reads of ring.Reader.TryNext
//     and ring.Batch, which check the lock word and the header words before
//     and after their copies and are attempted only where LoadsOrdered is
//     true (amd64: loads are not reordered with loads; docs/protocol.md
//     §10.3).
//   - On arm64 atomic stores are release stores, loads may be reordered, and
//     Go has no load fence: LoadsOrdered is false and readers take the lock.
//   - Wake-ups are ordered by a full barrier between a writer's commit and
//     its look at the waiter count, and by the waiter's announcement (an
//     atomic add) before its look at the bus (package wake).
package layout

// Sizes and offsets of the bus file (docs/protocol.md §1).
const (
	BusSize    = 1 << 20              // bytes in a bus file
	HeaderSize = 32                   // bytes before the data area
	DataSize   = BusSize - HeaderSize // bytes in the ring: 0xFFFE0

	Magic   = 0xCA11D054 // shm_magic
	Version = 3          // shm_version, and the value of every wake-up write

	OffMagic   = 0
	OffVersion = 4 // the wake-up write goes here
	OffGen     = 8
	OffFirst   = 16
	OffLast    = 20
	OffLock    = 24
	OffSpare   = 28
)

// Frame header (struct shmif_pkthdr, version 3). FrameHeaderSize is 24 on
// ABIs that align uint64 to 8 bytes (amd64, arm64) and 20 on i386, exactly as
// the C struct compiles there; records from the two ABIs cannot share a bus.
const (
	OffLen    = 0  // uint32: frame length
	OffSec    = 4  // uint32: timestamp seconds
	OffUsec   = 8  // uint32: timestamp microseconds
	OffSeq    = 12 // uint32 padding on 64-bit ABIs; libshmif stores its frame sequence number here
	OffSender = FrameHeaderSize - 8
)

// Ethernet frame limits enforced on the bus: NetBSD asserts len <= 1514 on
// both ends and ignores records shorter than an Ethernet header.
const (
	MinFrame = 14   // ETHER_HDR_LEN
	MaxFrame = 1514 // ETHER_HDR_LEN + ETHERMTU
)

// FrameHeader is a decoded struct shmif_pkthdr.
type FrameHeader struct {
	Len    uint32
	Sec    uint32
	Usec   uint32
	Seq    uint32 // padding word; meaningful only when written by libshmif
	Sender uint64
}

// Encode writes h into b, which must hold FrameHeaderSize bytes.
func (h *FrameHeader) Encode(b []byte) {
	_ = b[FrameHeaderSize-1]
	NativeEndian.PutUint32(b[OffLen:], h.Len)
	NativeEndian.PutUint32(b[OffSec:], h.Sec)
	NativeEndian.PutUint32(b[OffUsec:], h.Usec)
	if HasSeq {
		NativeEndian.PutUint32(b[OffSeq:], h.Seq)
	}
	NativeEndian.PutUint64(b[OffSender:], h.Sender)
}

// Decode reads h from b, which must hold FrameHeaderSize bytes.
func (h *FrameHeader) Decode(b []byte) {
	_ = b[FrameHeaderSize-1]
	h.Len = NativeEndian.Uint32(b[OffLen:])
	h.Sec = NativeEndian.Uint32(b[OffSec:])
	h.Usec = NativeEndian.Uint32(b[OffUsec:])
	h.Seq = 0
	if HasSeq {
		h.Seq = NativeEndian.Uint32(b[OffSeq:])
	}
	h.Sender = NativeEndian.Uint64(b[OffSender:])
}

// HasSeq reports whether the frame header has the padding word that libshmif
// uses for its sequence number (true on 64-bit ABIs).
const HasSeq = FrameHeaderSize == 24

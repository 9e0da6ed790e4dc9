//go:build amd64 && !race

package layout

// StoreRelease32 stores v at p with release ordering: every load and store
// before it is visible to other CPUs first. Unlike atomic.StoreUint32, whose
// XCHG also makes this CPU wait until all its earlier stores have reached
// the cache, it does not stall the caller.
//
//go:noescape
func StoreRelease32(p *uint32, v uint32)

// StoreRelease64 is StoreRelease32 for an 8-byte aligned uint64.
//
//go:noescape
func StoreRelease64(p *uint64, v uint64)

// LoadsOrdered says that loads are never reordered with other loads on this
// architecture (amd64 is TSO), so a reader may check after a plain copy
// that the copy saw no concurrent write.
const LoadsOrdered = true

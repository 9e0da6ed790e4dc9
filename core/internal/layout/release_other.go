//go:build !amd64 || race

package layout

import "sync/atomic"

// StoreRelease32 stores v at p with release ordering: every load and store
// before it is visible to other CPUs first. Elsewhere than on amd64 it is an
// atomic store, at least as strong (on arm64 a release store, no fence);
// under the race detector it is the store the detector can see.
func StoreRelease32(p *uint32, v uint32) { atomic.StoreUint32(p, v) }

// StoreRelease64 is StoreRelease32 for an 8-byte aligned uint64.
func StoreRelease64(p *uint64, v uint64) { atomic.StoreUint64(p, v) }

// LoadsOrdered says that loads are never reordered with other loads on this
// architecture. Elsewhere than on amd64 they may be, and Go offers no read
// fence, so lock-free copies are not attempted; nor are they under the
// race detector, for which a copy checked afterwards is still a race.
const LoadsOrdered = false

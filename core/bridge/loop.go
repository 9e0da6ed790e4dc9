package bridge

import (
	"hash/maphash"
	"sync/atomic"
	"time"
)

// A bridge must never send a frame back where it came from: that is how
// two bridges between the same two networks, or an endpoint that reflects
// what it is sent, turn one broadcast into a storm. The bus side's own
// frames never come back (its interface drops frames with its sender id),
// but a copy written by another bridge does, with another sender id. So
// each direction remembers, for a short time, a hash of every frame it
// forwarded; a frame arriving from the side a copy of it was sent to is a
// loop, dropped and counted. Identical frames do not legitimately cross
// in opposite directions: that needs the same source address on both
// sides.
//
// That rule alone does not end every loop. When a bridge reads the copy
// another bridge made before it reads the original, it forwards the copy
// back; from then on each of the two forwards the frame in one direction
// only, and neither ever sees a copy come back from where it sent one:
// each one's copies are its own frames on the bus it writes to. So a
// bridge also forwards identical frames read from the same side at most
// once in a short time (repeatWindow; loopRepeatWindow for a while after a
// loop was seen): a loop brings a frame round again within microseconds
// or milliseconds, while a real stack seldom sends the same bytes twice
// so soon (IPv4 identifications, TCP sequence numbers and timestamps,
// ICMP sequence numbers all change). The exceptions seen are harmless to
// thin out: TCP resets answering a burst of stray segments, and IPv6
// multicast listener reports, which are repeated at random for
// robustness. Config.NoRepeatGuard turns the rule off for traffic that
// repeats frames on purpose.

const (
	memoryBuckets = 1 << 12 // per direction, of memoryWays slots: 128 KiB
	memoryWays    = 4
	tickShift     = 22                              // a tick is 2^22 ns, about 4 ms
	loopWindow    = int64(time.Second) >> tickShift // how long a forwarded frame is remembered

	repeatWindow     = int64(20*time.Millisecond) >> tickShift
	loopRepeatWindow = int64(500*time.Millisecond) >> tickShift
	loopAlert        = 10 * time.Second // how long loopRepeatWindow applies after a loop was seen
)

// memory is a set-associative cache of recently forwarded frames. Each
// slot holds the upper 48 bits of a frame's hash and the tick it was
// forwarded in; a new frame takes the oldest slot of its bucket. One loop
// adds, the other looks up, without locks: a slot is one word.
type memory struct {
	slots [memoryBuckets * memoryWays]atomic.Uint64
}

// monoBase is where the bridges' clock starts. Windows and ages (the loop
// rule's, the learning filter's) are measured on the monotonic clock, as
// nanoseconds since monoBase: a step of the wall clock (NTP, an operator)
// must not make remembered frames look new or old, nor hold a bridge in
// loop alert for as long as the clock went back.
var monoBase = time.Now()

// monoNanos returns now, read with time.Now, as nanoseconds since monoBase.
func monoNanos(now time.Time) int64 { return int64(now.Sub(monoBase)) }

func tick(mono int64) uint16 { return uint16(mono >> tickShift) }

func (m *memory) bucket(h uint64) []atomic.Uint64 {
	b := (h % memoryBuckets) * memoryWays
	return m.slots[b : b+memoryWays]
}

// add remembers h. Only one goroutine adds to a memory.
func (m *memory) add(h uint64, t uint16) {
	slots := m.bucket(h)
	oldest, age := 0, -1
	for i := range slots {
		e := slots[i].Load()
		if e&^0xFFFF == h&^0xFFFF {
			oldest = i
			break
		}
		if a := int(t - uint16(e)); a > age {
			oldest, age = i, a
		}
	}
	slots[oldest].Store(h&^0xFFFF | uint64(t))
}

// has reports whether h was added at most window ticks before t.
func (m *memory) has(h uint64, t uint16, window int64) bool {
	slots := m.bucket(h)
	for i := range slots {
		e := slots[i].Load()
		if e&^0xFFFF == h&^0xFFFF && int64(t-uint16(e)) <= window {
			return true
		}
	}
	return false
}

// hasher hashes frames with a seed of its own.
type hasher struct{ seed maphash.Seed }

func newHasher() hasher { return hasher{seed: maphash.MakeSeed()} }

// Frames longer than hashWhole are hashed by their length, head and tail:
// the head holds the addresses, IP identification, sequence numbers and
// the TCP or UDP checksum, which covers the middle; a frame of a bulk
// transfer costs a tenth of hashing it whole.
const (
	hashWhole = 256
	hashHead  = 192
	hashTail  = 64
)

func (h hasher) sum(frame []byte) uint64 {
	if len(frame) <= hashWhole {
		return maphash.Bytes(h.seed, frame)
	}
	var b [hashHead + hashTail + 2]byte
	copy(b[:], frame[:hashHead])
	copy(b[hashHead:], frame[len(frame)-hashTail:])
	b[hashHead+hashTail], b[hashHead+hashTail+1] = byte(len(frame)>>8), byte(len(frame))
	return maphash.Bytes(h.seed, b[:])
}

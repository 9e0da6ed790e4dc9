package bridge

import (
	"sync"
	"time"
)

// DefaultAgeingTime is how long a learned address is kept without being
// seen again (iproute2's ageing_time default).
const DefaultAgeingTime = 300 * time.Second

// maxLearned bounds the forwarding table, so that a flood of made-up
// source addresses cannot grow it without limit; unknown destinations are
// forwarded, so a full table only costs filtering.
const maxLearned = 8192

type side uint8

const (
	busSide side = iota
	endpointSide
)

// fdb is a learning bridge's forwarding database with two ports: which side
// each unicast source address was last seen on.
type fdb struct {
	mu      sync.Mutex
	ageing  int64
	refresh int64 // an entry seen again is updated only when older than this
	m       map[[6]byte]fdbEntry
}

type fdbEntry struct {
	side side
	seen int64 // monoNanos
}

func newFDB(ageing time.Duration) *fdb {
	return &fdb{ageing: int64(ageing), refresh: int64(min(ageing/4, time.Second)), m: make(map[[6]byte]fdbEntry)}
}

// filter learns the source of frame, seen on from, and reports whether the
// frame should stay there: a unicast destination learned on the same side.
// Needs mu held.
func (t *fdb) filter(from side, frame []byte, now int64) bool {
	src := [6]byte(frame[6:12])
	if src[0]&1 == 0 {
		e, ok := t.m[src]
		if !ok || e.side != from || now-e.seen > t.refresh {
			if ok || len(t.m) < maxLearned || t.sweep(now) {
				t.m[src] = fdbEntry{side: from, seen: now}
			}
		}
	}
	if frame[0]&1 != 0 {
		return false
	}
	e, ok := t.m[[6]byte(frame[0:6])]
	return ok && e.side == from && now-e.seen <= t.ageing
}

// sweep forgets aged entries and reports whether there is room now.
func (t *fdb) sweep(now int64) bool {
	for k, e := range t.m {
		if now-e.seen > t.ageing {
			delete(t.m, k)
		}
	}
	return len(t.m) < maxLearned
}

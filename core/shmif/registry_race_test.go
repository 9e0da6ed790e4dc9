package shmif

import (
	"sync"
	"sync/atomic"
	"testing"
)

// Issue 10.13: an interface must not be visible in the registry before its
// unit is set. Many goroutines create (lowest free unit) and destroy
// interfaces while others look units up: under -race, publishing before
// setting the unit is a data race between reserve and Unit; in any build,
// every interface a lookup of unit u returns has Unit() == u, and no unit
// is handed out to two live interfaces.
func TestRegistryCreateLookupDestroyRace(t *testing.T) {
	const (
		creators = 8
		rounds   = 400
		lookers  = 4
		span     = 64 // lookups cover units 0..span-1: Create(-1) takes the lowest free
	)
	var owner [span]atomic.Pointer[Interface] // which live interface a creator was given each unit
	var stop atomic.Bool
	var bad atomic.Int64
	fail := func(format string, args ...any) {
		if bad.Add(1) <= 5 {
			t.Errorf(format, args...)
		}
	}
	var lookWG sync.WaitGroup
	var looks atomic.Int64
	for range lookers {
		lookWG.Add(1)
		go func() {
			defer lookWG.Done()
			for !stop.Load() {
				for u := range span {
					if i, err := Lookup(u); err == nil {
						looks.Add(1)
						if got := i.Unit(); got != u {
							fail("Lookup(%d) returned the interface of unit %d", u, got)
						}
					}
				}
			}
		}()
	}
	var wg sync.WaitGroup
	for range creators {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Until the lookers have seen live interfaces too, so
			// that the test cannot pass by never overlapping them.
			for r := 0; r < rounds || looks.Load() < 1000; r++ {
				i, err := Create(-1)
				if err != nil {
					fail("Create(-1): %v", err)
					return
				}
				u := i.Unit()
				if u < 0 || u >= span {
					fail("Create(-1) gave unit %d with at most %d interfaces alive", u, creators)
					i.Destroy()
					return
				}
				if !owner[u].CompareAndSwap(nil, i) {
					fail("unit %d handed out twice while alive", u)
				}
				if got, err := Lookup(u); err != nil || got != i {
					fail("Lookup(%d) of a live interface: %v, %v", u, got, err)
				}
				// Give up the claim before Destroy: once destroyed
				// the unit may be handed out again at once.
				owner[u].CompareAndSwap(i, nil)
				if err := i.Destroy(); err != nil {
					fail("Destroy: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	stop.Store(true)
	lookWG.Wait()
	t.Logf("at least %d creates and destroys, %d successful lookups", creators*rounds, looks.Load())
}

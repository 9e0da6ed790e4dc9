package stackroom

import (
	"testing"
	"unsafe"
)

// addr is where x lives now: it changes when the runtime copies the stack.
//
//go:noinline
func addr(x *int) uintptr { return uintptr(unsafe.Pointer(x)) }

// use needs about 60 KiB of stack below its caller.
//
//go:noinline
func use() byte {
	var b [60 << 10]byte
	return touchAll(b[:])
}

//go:noinline
func touchAll(b []byte) byte {
	for i := range b {
		b[i] = byte(i)
	}
	return b[len(b)-1]
}

// A fresh goroutine's stack (8 KiB) moves when Grow runs, and then has
// room for 60 KiB more without moving again.
func TestGrowMakesRoom(t *testing.T) {
	type result struct{ before, grown, again, used uintptr }
	done := make(chan result)
	go func() {
		var x int
		var r result
		r.before = addr(&x)
		Grow()
		r.grown = addr(&x)
		Grow()
		r.again = addr(&x)
		use()
		r.used = addr(&x)
		done <- r
	}()
	r := <-done
	if r.before == r.grown {
		t.Fatalf("the stack did not move on the first Grow (x at %#x)", r.before)
	}
	if r.again != r.grown || r.used != r.grown {
		t.Fatalf("the stack moved after Grow: %#x, then %#x, then %#x after using 60 KiB", r.grown, r.again, r.used)
	}
}

func BenchmarkGrow(b *testing.B) {
	for range b.N {
		Grow()
	}
}

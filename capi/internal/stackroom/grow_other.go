//go:build !amd64 && !arm64

package stackroom

// Grow makes sure the goroutine's stack has Size bytes free below the
// caller's frame, growing (copying) it if not. Without an assembly
// version the frame is a Go array, zeroed at every call.
func Grow() { sink = grow() }

var sink byte

//go:noinline
func grow() byte {
	var pad [Size]byte
	return touch(pad[:])
}

//go:noinline
func touch(b []byte) byte { return b[len(b)-1] }

//go:build amd64 || arm64

package stackroom

// Grow makes sure the goroutine's stack has Size bytes free below the
// caller's frame, growing (copying) it if not.
func Grow()

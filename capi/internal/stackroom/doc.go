// Package stackroom grows the calling goroutine's stack without touching
// it.
//
// A C host's signal handler installed without SA_ONSTACK runs on whatever
// stack its thread is on, and while a host thread runs Go code that is a
// goroutine stack, which starts small: capi makes room at every call. A Go
// function with a 64 KiB local array would do it, but Go zeroes the array
// on every call (about 1.5 µs, more than the rest of a send). A frame
// declared in assembly gets the same stack check in its prologue, and the
// same growth when the stack is too small, and costs nothing when it is
// not.
package stackroom

// Size is the room Grow leaves below the caller's frame.
const Size = 64 << 10

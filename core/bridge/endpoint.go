package bridge

import (
	"fmt"
	"reflect"
)

// Endpoint is the right side of a bridge: anything that reads and writes
// Ethernet frames. The endpoints of this module (package tap, sock, vde,
// shmifbus, vxlan) are opened by URL with OpenEndpoint; any other type with
// these methods works too.
type Endpoint interface {
	// ReadFrames blocks until at least one frame is available, then
	// fills bufs[0..k) and lens[0..k) with up to len(bufs) frames and
	// returns k >= 1. A frame longer than its buffer is truncated to the
	// buffer and lens[i] is set to its full length when the OS reports
	// it. Buffers are at least MaxFrame() bytes. Frames are valid until
	// the next call. After Close ReadFrames returns an error for which
	// errors.Is(err, net.ErrClosed) holds; a peer that went away gives an
	// error that matches io.EOF. Errors are final.
	ReadFrames(bufs [][]byte, lens []int) (int, error)

	// WriteFrames sends frames in order with as few system calls as the
	// OS allows and returns how many were sent. A frame the endpoint
	// cannot carry is skipped and counted by the endpoint, not an error.
	// It may be called concurrently with ReadFrames, never with itself.
	WriteFrames(frames [][]byte) (int, error)

	// MaxFrame is the largest frame ReadFrames may return whole.
	MaxFrame() int

	// Close releases the endpoint and ends a blocked ReadFrames or
	// WriteFrames. Idempotent.
	Close() error

	// String names the endpoint as its URL.
	String() string
}

// endpointStats returns the endpoint's own counters, as its Stats method
// (a method returning a value with a String method) formats them, or "".
// Endpoints each have their own Stats type, hence the reflection.
func endpointStats(ep Endpoint) string {
	m := reflect.ValueOf(ep).MethodByName("Stats")
	if !m.IsValid() || m.Type().NumIn() != 0 || m.Type().NumOut() != 1 {
		return ""
	}
	if s, ok := m.Call(nil)[0].Interface().(fmt.Stringer); ok {
		return s.String()
	}
	return ""
}

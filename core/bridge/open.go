package bridge

import (
	"strings"

	"github.com/libshmif/libshmif/core/bridge/internal/spec"
	"github.com/libshmif/libshmif/core/bridge/shmifbus"
	"github.com/libshmif/libshmif/core/bridge/sock"
	"github.com/libshmif/libshmif/core/bridge/tap"
	"github.com/libshmif/libshmif/core/bridge/vde"
	"github.com/libshmif/libshmif/core/bridge/vxlan"
)

// Schemes lists the endpoint URL schemes OpenEndpoint knows.
var Schemes = []string{"tap", "udp", "stream", "seqpacket", "dgram", "stdio", "vde", "shmif", "vxlan"}

// OpenEndpoint opens the endpoint a URL names (see the package
// documentation for the schemes). Descriptors it makes belong to the
// network namespace of the calling thread. A URL that cannot be used as
// given gives an error that unwraps to EINVAL; a failing system call its
// errno (EACCES, EADDRINUSE, ECONNREFUSED, ...), wrapped with what was
// being done.
func OpenEndpoint(url string) (Endpoint, error) {
	var ep Endpoint
	var err error
	switch spec.Scheme(url) {
	case "tap":
		var e *tap.Endpoint
		e, err = tap.Open(url)
		ep = e
	case "udp", "stream", "seqpacket", "dgram", "stdio":
		ep, err = sock.Open(url)
	case "vde":
		var e *vde.Endpoint
		e, err = vde.Open(url)
		ep = e
	case "shmif":
		var e *shmifbus.Endpoint
		e, err = shmifbus.Open(url)
		ep = e
	case "vxlan":
		var e *vxlan.Endpoint
		e, err = vxlan.Open(url)
		ep = e
	case "":
		return nil, spec.Errorf(url, "not an endpoint URL: expected SCHEME://ADDRESS (%s) or stdio", strings.Join(Schemes, ", "))
	default:
		return nil, spec.Errorf(url, "unknown scheme %q: expected one of %s", spec.Scheme(url), strings.Join(Schemes, ", "))
	}
	if err != nil {
		return nil, err
	}
	return ep, nil
}

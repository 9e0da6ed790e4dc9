package shmif

import (
	"github.com/libshmif/libshmif/core/internal/bus"
	"math"
	"os"
	"strings"
)

// CapEnableEnv is the environment variable read at each interface creation
// for its initial capenable, as NetBSD's rump kernels read it.
const CapEnableEnv = "RUMP_SHMIF_CAPENABLE"

// Getenv reads the environment variables that configure new interfaces. A
// C host changes its environment with setenv(3), which Go's copy of the
// environment does not see, so the C face sets this to getenv(3).
var Getenv = os.Getenv

// capEnableFromEnv returns the initial capenable: RUMP_SHMIF_CAPENABLE parsed
// like strtoul(s, NULL, 0) and masked with Capabilities. NetBSD reads it into
// a 256-byte buffer and ignores a longer value.
func capEnableFromEnv() uint32 {
	s := Getenv(CapEnableEnv)
	if s == "" || len(s) >= 256 {
		return 0
	}
	return uint32(strtoul(s) & Capabilities)
}

// strtoul parses s the way C's strtoul(s, NULL, 0) does: leading space, an
// optional sign, a 0x prefix for hex or a leading 0 for octal, as many
// digits as fit the base; nothing parsable gives 0, overflow ULONG_MAX.
func strtoul(s string) uint64 {
	s = strings.TrimLeft(s, " \t\n\v\f\r")
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	base := uint64(10)
	switch {
	case len(s) >= 3 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && digit(s[2]) < 16:
		base, s = 16, s[2:]
	case len(s) >= 1 && s[0] == '0':
		base = 8
	}
	var v uint64
	overflow := false
	for _, c := range []byte(s) {
		d := digit(c)
		if d >= base {
			break
		}
		if v > (math.MaxUint64-d)/base {
			overflow = true
		}
		v = v*base + d
	}
	if overflow {
		return math.MaxUint64
	}
	if neg {
		v = -v
	}
	return v
}

func digit(c byte) uint64 {
	switch {
	case c >= '0' && c <= '9':
		return uint64(c - '0')
	case c >= 'a' && c <= 'z':
		return uint64(c-'a') + 10
	case c >= 'A' && c <= 'Z':
		return uint64(c-'A') + 10
	}
	return 99
}

func init() {
	// The bus reads SHMIF_WAKE through the same getenv as the rest.
	bus.Getenv = func(name string) string { return Getenv(name) }
}

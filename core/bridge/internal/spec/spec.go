// Package spec parses endpoint names, VDE-style URLs of the form
// SCHEME://ADDRESS[/OPTION[=VALUE]]..., whose options are named as
// iproute2 names them (mtu, ttl, dev, ...).
package spec

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// URL is a parsed endpoint name.
type URL struct {
	Raw    string            // as given
	Scheme string            // before "://"
	Addr   string            // between "://" and the options
	Opts   map[string]string // options; "" for a bare flag
}

// Scheme returns the scheme of s ("stdio" has none: it is its own), or ""
// when s has no "://".
func Scheme(s string) string {
	if s == "stdio" {
		return s
	}
	if i := strings.Index(s, "://"); i > 0 {
		return s[:i]
	}
	return ""
}

// Parse splits s into scheme, address and options. known lists the option
// names of the scheme: trailing "/name" and "/name=value" components are
// options when name is known. A trailing "/name=value" with an unknown
// lowercase name is an error, so a misspelt option is not taken for part
// of a path.
func Parse(s string, known ...string) (URL, error) {
	u := URL{Raw: s, Scheme: Scheme(s), Opts: map[string]string{}}
	if u.Scheme == "" {
		return u, Errorf(s, "not an endpoint URL (SCHEME://ADDRESS)")
	}
	rest := strings.TrimPrefix(strings.TrimPrefix(s, u.Scheme), "://")
	for {
		i := strings.LastIndexByte(rest, '/')
		if i < 0 {
			break
		}
		name, value, hasValue := strings.Cut(rest[i+1:], "=")
		if !isKnown(name, known) {
			if hasValue && isName(name) {
				return u, Errorf(s, "unknown option %q", name)
			}
			break
		}
		if _, dup := u.Opts[name]; dup {
			return u, Errorf(s, "option %q given twice", name)
		}
		u.Opts[name] = value
		rest = rest[:i]
	}
	u.Addr = rest
	return u, nil
}

func isKnown(name string, known []string) bool {
	for _, k := range known {
		if k == name {
			return true
		}
	}
	return false
}

func isName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if (c < 'a' || c > 'z') && c != '_' {
			return false
		}
	}
	return true
}

// Has reports whether option name was given.
func (u URL) Has(name string) bool {
	_, ok := u.Opts[name]
	return ok
}

// Int returns option name as a decimal integer in [lo, hi], or def when
// it was not given.
func (u URL) Int(name string, def, lo, hi int) (int, error) {
	v, ok := u.Opts[name]
	if !ok {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, Errorf(u.Raw, "%s: expected a number from %d to %d", name, lo, hi)
	}
	return n, nil
}

// Mode returns option name as octal permission bits, or def.
func (u URL) Mode(name string, def uint32) (uint32, error) {
	v, ok := u.Opts[name]
	if !ok {
		return def, nil
	}
	n, err := strconv.ParseUint(v, 8, 32)
	if err != nil || n > 0o777 {
		return 0, Errorf(u.Raw, "%s: expected octal permission bits such as 0600", name)
	}
	return uint32(n), nil
}

// Flag returns a boolean option: true when given bare or as on, yes, 1 or
// true.
func (u URL) Flag(name string) (bool, error) {
	v, ok := u.Opts[name]
	if !ok {
		return false, nil
	}
	switch v {
	case "", "on", "yes", "1", "true":
		return true, nil
	case "off", "no", "0", "false":
		return false, nil
	}
	return false, Errorf(u.Raw, "%s: expected on or off", name)
}

// BadURL is the error for an endpoint name that cannot be used as given.
// It matches unix.EINVAL, the errno a C caller sees.
type BadURL struct {
	URL, Msg string
}

func (e *BadURL) Error() string { return e.URL + ": " + e.Msg }
func (e *BadURL) Unwrap() error { return unix.EINVAL }

// Errorf returns a BadURL for url.
func Errorf(url, format string, args ...any) error {
	return &BadURL{URL: url, Msg: fmt.Sprintf(format, args...)}
}

// OpError is an error of the system while opening or using an endpoint:
// it names the endpoint and the operation, and unwraps to the errno.
type OpError struct {
	URL, Op string
	Err     error
}

func (e *OpError) Error() string { return e.URL + ": " + e.Op + ": " + e.Err.Error() }
func (e *OpError) Unwrap() error { return e.Err }

// Wrap returns an OpError, or nil for a nil err.
func Wrap(url, op string, err error) error {
	if err == nil {
		return nil
	}
	return &OpError{URL: url, Op: op, Err: err}
}

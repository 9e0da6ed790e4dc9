// Package errtext formats errors as NetBSD's C tools print them, for the
// commands that reproduce those tools' messages byte for byte.
package errtext

import (
	"errors"
	"os"
	"syscall"
	"unicode"
	"unicode/utf8"
)

// Strerror returns the C library's text for a system error (Go's errno
// strings are C's with the first letter in lower case); other errors are
// returned as they are.
func Strerror(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return err.Error()
	}
	s := errno.Error()
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(r)) + s[n:]
}

// Hex formats v as C's "%#x" does: "0" for zero, else with a 0x prefix.
func Hex(v uint32) string {
	if v == 0 {
		return "0"
	}
	const digits = "0123456789abcdef"
	var b [10]byte
	i := len(b)
	for ; v != 0; v >>= 4 {
		i--
		b[i] = digits[v&15]
	}
	i -= 2
	b[i], b[i+1] = '0', 'x'
	return string(b[i:])
}

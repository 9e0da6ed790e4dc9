package dump

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"unicode"
	"unicode/utf8"

	"github.com/libshmif/libshmif/core/internal/layout"
	"golang.org/x/sys/unix"
)

// Kinds of failure, to be tested with errors.Is.
var (
	ErrNotBus    = errors.New("not a shmif bus")
	ErrVersion   = errors.New("unhandled bus version")
	ErrTruncated = errors.New("bus file truncated")
	ErrCorrupt   = errors.New("corrupt bus")
	ErrFrameSize = errors.New("frame size not allowed on a bus")
)

// Error is a failure with the message text shmif_dumpbus (or shmif_pcapin)
// prints after "progname: ".
type Error struct {
	Msg  string // the whole message
	Kind error  // one of the Err* values, or nil
	Err  error  // the system error behind it, or nil; its text ends Msg
}

func (e *Error) Error() string { return e.Msg }

// Unwrap gives errors.Is access to Kind and Err.
func (e *Error) Unwrap() []error {
	var errs []error
	for _, err := range []error{e.Kind, e.Err} {
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// sysError is err(3): the message, a colon and the system error's text.
func sysError(msg string, err error) *Error {
	return &Error{Msg: msg + ": " + Strerror(err), Err: err}
}

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

// cHex formats v as C's "%#x" does: "0" for zero, else with a 0x prefix.
func cHex(v uint32) string {
	if v == 0 {
		return "0"
	}
	return fmt.Sprintf("%#x", v)
}

func badMagic(path string, magic uint32) *Error {
	return &Error{
		Msg:  fmt.Sprintf("%s not a shmif bus: bad magic %s != %s", path, cHex(magic), cHex(layout.Magic)),
		Kind: ErrNotBus,
	}
}

// notBus explains why bus.Open refused path with ENOEXEC, from the magic
// the file holds now.
func notBus(path string) error {
	var b [4]byte
	if fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0); err == nil {
		unix.Pread(fd, b[:], 0)
		unix.Close(fd)
	}
	magic := layout.NativeEndian.Uint32(b[:])
	if magic == swapped32(layout.Magic) {
		return &Error{
			Msg:  fmt.Sprintf("%s: bus of the other byte order: only a dump is possible", path),
			Kind: ErrNotBus,
		}
	}
	return badMagic(path, magic)
}

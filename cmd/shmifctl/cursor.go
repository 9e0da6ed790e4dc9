package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/libshmif/libshmif/core/dump"
	"github.com/libshmif/libshmif/internal/errtext"
)

// parseCursor reads the argument of -s: a cursor of shmif_dumpbus or
// shmifctl, or nothing (an empty argument, as "$(cat cursorfile)" gives
// before the first cursor was written) for the start of the bus.
func parseCursor(s string) *dump.Cursor {
	if strings.TrimSpace(s) == "" {
		return &dump.Cursor{}
	}
	c, err := dump.ParseCursor(s)
	if err != nil {
		var ce *dump.CursorError
		errors.As(err, &ce)
		errx(fmt.Sprintf("bad cursor `%s': %s", ce.Text, cursorProblem(ce)))
	}
	return &c
}

// cursorProblem says what is wrong with a cursor.
func cursorProblem(ce *dump.CursorError) string {
	switch ce.Problem {
	case dump.CursorVersion:
		return "not a cursor of shmif_dumpbus or shmifctl (version v1)"
	case dump.CursorFields:
		if ce.Field != "" {
			return fmt.Sprintf("field %s missing or out of place", ce.Field)
		}
		return "fields missing or out of place"
	case dump.CursorRange:
		return fmt.Sprintf("%s out of range", ce.Field)
	}
	return fmt.Sprintf("bad value of %s", ce.Field)
}

// putCursor gives the cursor c as -c and -C ask: a line "cursor: c" on
// stderr, and c alone on a line in the cursor file, replaced whole.
func putCursor(print bool, file string, c dump.Cursor) {
	if print {
		stdout.Flush()
		fmt.Fprintf(os.Stderr, "cursor: %s\n", c)
	}
	if file == "" {
		return
	}
	if err := writeFileAtomic(file, []byte(c.String()+"\n")); err != nil {
		errx(fmt.Sprintf("Cannot write cursor file `%s': %s", file, errtext.Strerror(err)))
	}
}

// writeFileAtomic replaces the file at path with data: written to a new
// file beside it (mode 0666 under the umask, or the mode of the file it
// replaces), then renamed over it, so that a reader never sees half of it.
func writeFileAtomic(path string, data []byte) error {
	mode := os.FileMode(0o666)
	if st, err := os.Stat(path); err == nil {
		mode = st.Mode().Perm()
	}
	var f *os.File
	var tmp string
	for i := 0; ; i++ {
		tmp = fmt.Sprintf("%s.%d.%d.tmp", path, os.Getpid(), i)
		var err error
		f, err = os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
		if err == nil {
			break
		}
		if !errors.Is(err, os.ErrExist) {
			return err
		}
	}
	_, err := f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// Command shmif_dumpbus examines a shmif bus file: it prints the bus header
// and one line per frame and can write the frames to a pcap file, with the
// options, output, messages and exit statuses of NetBSD's shmif_dumpbus(1)
// 1.19. Extensions: -f follows a live bus, -a (with -f) starts with the
// oldest frame still on it, -c and -C give a cursor naming the newest
// record, and -s (--since) shows only the frames written after the record
// a cursor names. See man/shmif_dumpbus.1.
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/libshmif/libshmif/core/dump"
	"github.com/libshmif/libshmif/core/pcap"
	"github.com/libshmif/libshmif/internal/errtext"
)

var progname = filepath.Base(os.Args[0])

// text is where the header and frame lines go: stdout, or stderr when the
// pcap goes to stdout. It is flushed before anything else is written to
// stderr.
var text *bufio.Writer

func usage() {
	flushText()
	fmt.Fprintf(os.Stderr, "Usage: %s [-h] [-p pcapfile] [-f [-a]] [-c] [-C cursorfile] [-s cursor] buspath\n", progname)
	os.Exit(1)
}

// errx prints a message like err(3)/errx(3) and exits with status 1.
func errx(msg string) {
	flushText()
	fmt.Fprintf(os.Stderr, "%s: %s\n", progname, msg)
	os.Exit(1)
}

func warnx(msg string) {
	flushText()
	fmt.Fprintf(os.Stderr, "%s: %s\n", progname, msg)
}

func flushText() {
	if text != nil {
		text.Flush()
	}
}

type options struct {
	header, follow, oldest bool
	pcapfile               string
	havePcap               bool

	cursor     bool   // -c: print the cursor on stderr
	cursorFile string // -C: write it to this file
	since      *dump.Cursor
}

// parseArgs is getopt(3) with "hp:facC:s:", plus --since for -s: options
// end at the first operand or at "--"; flags may be grouped; an option's
// argument is the rest of its word or the next word.
func parseArgs(args []string) (options, []string) {
	var o options
	i := 0
	// arg returns the argument of option c, which starts at a[j+1:].
	arg := func(a string, j int, c string) string {
		switch {
		case j+1 < len(a):
			return a[j+1:]
		case i+1 < len(args):
			i++
			return args[i]
		}
		if len(c) > 1 {
			fmt.Fprintf(os.Stderr, "%s: option '--%s' requires an argument\n", progname, c)
		} else {
			fmt.Fprintf(os.Stderr, "%s: option requires an argument -- %s\n", progname, c)
		}
		usage()
		return ""
	}
	for ; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			i++
			break
		}
		if len(a) < 2 || a[0] != '-' {
			break
		}
		if long, ok := strings.CutPrefix(a, "--since"); ok && (long == "" || long[0] == '=') {
			if long == "" {
				o.since = parseCursor(arg(a, len(a)-1, "since"))
			} else {
				o.since = parseCursor(long[1:])
			}
			continue
		}
		for j := 1; j < len(a); j++ {
			switch c := a[j]; c {
			case 'h':
				o.header = true
			case 'f':
				o.follow = true
			case 'a':
				o.oldest = true
			case 'c':
				o.cursor = true
			case 'p':
				o.pcapfile = arg(a, j, "p")
				o.havePcap = true
				j = len(a)
			case 'C':
				o.cursorFile = arg(a, j, "C")
				if o.cursorFile == "" {
					usage()
				}
				j = len(a)
			case 's':
				o.since = parseCursor(arg(a, j, "s"))
				j = len(a)
			default:
				fmt.Fprintf(os.Stderr, "%s: unknown option -- %c\n", progname, c)
				usage()
			}
		}
	}
	return o, args[i:]
}

// parseCursor reads the argument of -s: a cursor, or nothing (an empty
// argument, as "$(cat cursorfile)" gives before the first dump) for the
// start of the bus.
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

func main() {
	o, operands := parseArgs(os.Args[1:])
	if len(operands) != 1 || (o.oldest && !o.follow) || (o.since != nil && (o.oldest || o.header)) {
		usage()
	}
	path := operands[0]
	out := io.Writer(os.Stdout)
	if o.havePcap && o.pcapfile == "-" {
		out = os.Stderr
	}
	text = bufio.NewWriter(out)
	if o.follow && !o.header {
		follow(o, path)
		return
	}

	img, err := dump.Snapshot(path)
	if errors.Is(err, dump.ErrEmpty) {
		empty(o, path, "is empty: no interface has attached to it")
		// Nothing was ever on it: the zero cursor is the start.
		putCursor(o, dump.Cursor{})
		flushText()
		return
	}
	if err != nil {
		errx(message(err))
	}
	if img.LockBusy {
		warnx(fmt.Sprintf("bus `%s' stayed locked for %v: copied without the lock", path, dump.DefaultLockWait))
	}
	h, err := img.Header()
	if err != nil {
		errx(message(err))
	}
	fmt.Fprintln(text, h.String())
	if h.Version == 0 {
		warnx(fmt.Sprintf("bus `%s' was never woken (version 0): it has carried no frame, or its writer died first", path))
	}
	if o.header {
		putCursor(o, newest(img))
		flushText()
		os.Exit(0)
	}
	walk := img.Walk
	if o.since != nil {
		res, err := img.Locate(*o.since)
		if err != nil {
			errx(message(err))
		}
		resumed(res)
		walk = func(fn func(*dump.Record) error) error { return img.WalkSince(*o.since, fn) }
	}
	pw, closePcap := openPcap(o)
	n := 0
	err = walk(func(r *dump.Record) error {
		fmt.Fprintln(text, r.Line(n))
		n++
		if pw != nil {
			return pw.Record(r.Sec, r.Usec, r.Frame)
		}
		return nil
	})
	closePcap()
	if err != nil {
		errx(message(err))
	}
	putCursor(o, newest(img))
	flushText()
}

// newest returns the cursor of the newest record of img, which was walked
// without error.
func newest(img *dump.Image) dump.Cursor {
	c, err := img.Newest()
	if err != nil {
		errx(message(err))
	}
	return c
}

// resumed warns when frames written after the cursor of -s are gone.
func resumed(res dump.Resume) {
	switch {
	case res.Complete:
	case res.Lost < 0:
		warnx("the frame the cursor names is no longer on the bus: an unknown number of frames after it were lost")
	default:
		warnx(fmt.Sprintf("%d frames written after the cursor are no longer on the bus", res.Lost))
	}
}

// putCursor gives the cursor c as -c and -C ask: a line "cursor: c" on
// stderr, and c alone on a line in the cursor file, which is replaced
// whole (written under another name, then renamed), so that a reader
// never sees half a cursor.
func putCursor(o options, c dump.Cursor) {
	if o.cursor {
		flushText()
		fmt.Fprintf(os.Stderr, "cursor: %s\n", c)
	}
	if o.cursorFile == "" {
		return
	}
	if err := writeFileAtomic(o.cursorFile, []byte(c.String()+"\n")); err != nil {
		errx(fmt.Sprintf("Cannot write cursor file `%s': %s", o.cursorFile, errtext.Strerror(err)))
	}
}

// writeFileAtomic replaces the file at path with data: written to a new
// file beside it (mode 0666 under the umask, or the mode of the file it
// replaces), then renamed over it.
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

// empty handles a bus file that holds nothing to dump: a message on stderr
// and, with -p, an empty pcap file, with exit status 0, so that a harness
// that dumps every bus it used at teardown does not fail on one that
// never saw a frame.
func empty(o options, path, why string) {
	warnx(fmt.Sprintf("bus file `%s' %s", path, why))
	if !o.header {
		_, closePcap := openPcap(o)
		closePcap()
	}
	flushText()
}

// message is shmif_dumpbus's text for an error of the dump package.
func message(err error) string {
	var (
		pe *os.PathError
		nb *dump.NotBusError
		ve *dump.VersionError
		te *dump.TruncatedError
		ce *dump.CorruptError
	)
	switch {
	case errors.As(err, &nb):
		if nb.Swapped {
			return fmt.Sprintf("%s: bus of the other byte order: only a dump is possible", nb.Path)
		}
		if nb.Short {
			return fmt.Sprintf("%s not a shmif bus: only %d bytes", nb.Path, nb.Size)
		}
		return fmt.Sprintf("%s not a shmif bus: bad magic %s != %s", nb.Path, errtext.Hex(nb.Magic), errtext.Hex(0xca11d054))
	case errors.As(err, &ve):
		return fmt.Sprintf("Unhandled bus version %d, program 3", int32(ve.Version))
	case errors.As(err, &te):
		if te.Size < 0 {
			return fmt.Sprintf("Bus file `%s' shrank while being read", te.Path)
		}
		return fmt.Sprintf("Bus file `%s' truncated: %d bytes, record at offset 0x%04x lies beyond its end", te.Path, te.Size, te.Offset)
	case errors.As(err, &ce):
		switch ce.Damage {
		case dump.HeaderOutOfRange:
			return fmt.Sprintf("Corrupt bus `%s': firstoff 0x%04x or lastoff 0x%04x outside the data area (0x%04x bytes)", ce.Path, ce.First, ce.Last, 0xfffe0)
		case dump.RecordTooLong:
			return fmt.Sprintf("Corrupt bus `%s': record at offset 0x%04x has length 0x%04x, over %d bytes", ce.Path, ce.Offset, ce.Length, dump.MaxRecord)
		}
		return fmt.Sprintf("Corrupt bus `%s': records do not lead from firstoff to lastoff", ce.Path)
	case errors.As(err, &pe):
		switch pe.Op {
		case "open":
			return fmt.Sprintf("Can't open bus file `%s': %s", pe.Path, errtext.Strerror(pe.Err))
		case "stat":
			return fmt.Sprintf("Can't stat bus file `%s': %s", pe.Path, errtext.Strerror(pe.Err))
		case "mmap":
			return "mmap: " + errtext.Strerror(pe.Err)
		}
		return fmt.Sprintf("Can't read bus file `%s': %s", pe.Path, errtext.Strerror(pe.Err))
	}
	return err.Error()
}

// openPcap opens the pcap output of -p, if any, as libpcap's pcap_dump_open
// does ("-" is stdout, a file is created or truncated with mode 0666 before
// the umask). The returned function flushes and closes it.
func openPcap(o options) (*pcap.Writer, func()) {
	if !o.havePcap {
		return nil, func() {}
	}
	f := os.Stdout
	if o.pcapfile != "-" {
		var err error
		f, err = os.OpenFile(o.pcapfile, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o666)
		if err != nil {
			errx(fmt.Sprintf("Cannot open pcap dump file `%s': %s: %s", o.pcapfile, o.pcapfile, errtext.Strerror(err)))
		}
	}
	pw, err := pcap.NewWriter(f, dump.Snaplen)
	if err != nil {
		errx(fmt.Sprintf("Cannot write pcap dump file `%s': %s", o.pcapfile, errtext.Strerror(err)))
	}
	return pw, func() {
		err := pw.Flush()
		if f != os.Stdout {
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			errx(fmt.Sprintf("Cannot write pcap dump file `%s': %s", o.pcapfile, errtext.Strerror(err)))
		}
	}
}

// follow is -f: print the header line once attached, then a line (and a
// pcap record, flushed at once) per frame until SIGINT or SIGTERM.
func follow(o options, path string) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	pw, closePcap := openPcap(o)
	n := 0
	var last dump.Cursor // the newest record seen
	var attachedAt func(dump.Cursor)
	if o.cursor || o.cursorFile != "" {
		attachedAt = func(c dump.Cursor) { last = c }
	}
	err := dump.Follow(ctx, path, dump.FollowOptions{
		FromOldest: o.oldest,
		Since:      o.since,
		Resumed:    resumed,
		Attached: func(h dump.Header) {
			fmt.Fprintln(text, h.String())
			flushText()
		},
		AttachedAt: attachedAt,
		Frame: func(r *dump.Record) error {
			last = r.Cursor()
			fmt.Fprintln(text, r.Line(n))
			n++
			if err := text.Flush(); err != nil {
				return err
			}
			if pw == nil {
				return nil
			}
			err := pw.Record(r.Sec, r.Usec, r.Frame)
			if err == nil {
				err = pw.Flush()
			}
			if err != nil {
				return fmt.Errorf("Cannot write pcap dump file `%s': %s", o.pcapfile, errtext.Strerror(err))
			}
			return nil
		},
		Lost: func(k uint64) {
			warnx(fmt.Sprintf("lost %d frames", k))
		},
	})
	closePcap()
	if errors.Is(err, dump.ErrEmpty) {
		empty(o, path, "is empty: no interface has attached to it")
		putCursor(o, dump.Cursor{})
		flushText()
		return
	}
	if err != nil {
		errx(message(err))
	}
	putCursor(o, last)
	flushText()
}

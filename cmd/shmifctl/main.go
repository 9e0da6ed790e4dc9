// Command shmifctl controls shmif buses from shell scripts and test
// harnesses: it shows what a bus holds (show), empties it under the bus
// lock without disturbing its readers (empty), and waits for a frame that
// matches a tcpdump-like filter (wait). See man/shmifctl.1.
//
// Exit status: 0 on success (wait: the frames were found), 1 when wait
// timed out, 2 on wrong arguments and errors.
package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/libshmif/libshmif/core/dump"
	"github.com/libshmif/libshmif/internal/errtext"
)

var progname = filepath.Base(os.Args[0])

// Exit statuses.
const (
	exitOK      = 0
	exitTimeout = 1 // wait: not found in time
	exitError   = 2 // wrong arguments, or an error
)

// stdout is buffered; it is flushed before anything goes to stderr and
// before exiting.
var stdout = bufio.NewWriter(os.Stdout)

const usageText = `Usage: %[1]s show buspath
       %[1]s empty buspath
       %[1]s wait [-a | -s cursor] [-t timeout] [-n count] [-p pcapfile] [-c] [-C cursorfile] buspath [filter ...]
`

func usage() {
	stdout.Flush()
	fmt.Fprintf(os.Stderr, usageText, progname)
	os.Exit(exitError)
}

// errx prints "progname: msg" on stderr and exits with status 2.
func errx(msg string) {
	warnx(msg)
	os.Exit(exitError)
}

func warnx(msg string) {
	stdout.Flush()
	fmt.Fprintf(os.Stderr, "%s: %s\n", progname, msg)
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	args := os.Args[2:]
	switch os.Args[1] {
	case "show":
		show(args)
	case "empty":
		empty(args)
	case "wait":
		os.Exit(wait(args))
	case "-h", "--help", "help":
		fmt.Fprintf(stdout, usageText, progname)
	default:
		warnx(fmt.Sprintf("unknown command `%s'", os.Args[1]))
		usage()
	}
	if err := stdout.Flush(); err != nil {
		errx("write: " + errtext.Strerror(err))
	}
}

// opt is one option found by getopt.
type opt struct {
	name byte
	arg  string
}

// getopt reads the options of spec (getopt(3) letters, ':' after those
// that take an argument) anywhere among args, as GNU getopt permutes them,
// so that options may follow the bus and the filter; "--" ends the
// options. Flags may be grouped; an argument is the rest of its word or the
// next word. It returns the options in order and the operands.
func getopt(args []string, spec string) ([]opt, []string) {
	var opts []opt
	var operands []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			operands = append(operands, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			operands = append(operands, a)
			continue
		}
		for j := 1; j < len(a); j++ {
			c := a[j]
			k := strings.IndexByte(spec, c)
			if k < 0 || c == ':' {
				warnx(fmt.Sprintf("unknown option -- %c", c))
				usage()
			}
			if k+1 == len(spec) || spec[k+1] != ':' {
				opts = append(opts, opt{name: c})
				continue
			}
			switch {
			case j+1 < len(a):
				opts = append(opts, opt{c, a[j+1:]})
			case i+1 < len(args):
				i++
				opts = append(opts, opt{c, args[i]})
			default:
				warnx(fmt.Sprintf("option requires an argument -- %c", c))
				usage()
			}
			break
		}
	}
	return opts, operands
}

// message is the text for an error of the dump package, in
// shmif_dumpbus's words where it has them.
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
			return fmt.Sprintf("%s: bus of the other byte order: only show can read it", nb.Path)
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
		case "lock":
			return fmt.Sprintf("Can't lock bus `%s': %s", pe.Path, errtext.Strerror(pe.Err))
		case "write":
			return fmt.Sprintf("Can't write bus file `%s': %s", pe.Path, errtext.Strerror(pe.Err))
		}
		return fmt.Sprintf("Can't read bus file `%s': %s", pe.Path, errtext.Strerror(pe.Err))
	}
	return err.Error()
}

// emptyFile is the message for an empty bus file.
func emptyFile(path string) string {
	return fmt.Sprintf("bus file `%s' is empty: no interface has attached to it", path)
}

// oneBus returns the only operand, the bus path.
func oneBus(operands []string) string {
	if len(operands) != 1 {
		usage()
	}
	return operands[0]
}

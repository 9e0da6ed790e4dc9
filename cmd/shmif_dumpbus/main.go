// Command shmif_dumpbus examines a shmif bus file: it prints the bus header
// and one line per frame and can write the frames to a pcap file, with the
// options, output, messages and exit statuses of NetBSD's shmif_dumpbus(1)
// 1.19. Extensions: -f follows a live bus, -a (with -f) starts with the
// oldest frame still on it. See man/shmif_dumpbus.1.
package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/libshmif/libshmif/core/dump"
	"github.com/libshmif/libshmif/core/pcap"
)

var progname = filepath.Base(os.Args[0])

// text is where the header and frame lines go: stdout, or stderr when the
// pcap goes to stdout. It is flushed before anything else is written to
// stderr.
var text *bufio.Writer

func usage() {
	flushText()
	fmt.Fprintf(os.Stderr, "Usage: %s [-h] [-p pcapfile] [-f [-a]] buspath\n", progname)
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
}

// parseArgs is getopt(3) with "hp:fa": options end at the first operand or
// at "--"; flags may be grouped; -p takes the rest of its word or the next.
func parseArgs(args []string) (options, []string) {
	var o options
	i := 0
	for ; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			i++
			break
		}
		if len(a) < 2 || a[0] != '-' {
			break
		}
		for j := 1; j < len(a); j++ {
			switch c := a[j]; c {
			case 'h':
				o.header = true
			case 'f':
				o.follow = true
			case 'a':
				o.oldest = true
			case 'p':
				switch {
				case j+1 < len(a):
					o.pcapfile = a[j+1:]
				case i+1 < len(args):
					i++
					o.pcapfile = args[i]
				default:
					fmt.Fprintf(os.Stderr, "%s: option requires an argument -- %c\n", progname, c)
					usage()
				}
				o.havePcap = true
				j = len(a)
			default:
				fmt.Fprintf(os.Stderr, "%s: unknown option -- %c\n", progname, c)
				usage()
			}
		}
	}
	return o, args[i:]
}

func main() {
	o, operands := parseArgs(os.Args[1:])
	if len(operands) != 1 || (o.oldest && !o.follow) {
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
	if err != nil {
		errx(err.Error())
	}
	if img.LockBusy {
		warnx(fmt.Sprintf("bus `%s' stayed locked for %v: copied without the lock", path, dump.DefaultLockWait))
	}
	h, err := img.Header()
	if err != nil {
		errx(err.Error())
	}
	fmt.Fprintln(text, h.String())
	if o.header {
		flushText()
		os.Exit(0)
	}
	pw, closePcap := openPcap(o)
	n := 0
	err = img.Walk(func(r *dump.Record) error {
		fmt.Fprintln(text, r.Line(n))
		n++
		if pw != nil {
			return pw.Record(r.Sec, r.Usec, r.Frame)
		}
		return nil
	})
	closePcap()
	if err != nil {
		errx(err.Error())
	}
	flushText()
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
			errx(fmt.Sprintf("Cannot open pcap dump file `%s': %s: %s", o.pcapfile, o.pcapfile, dump.Strerror(err)))
		}
	}
	pw, err := pcap.NewWriter(f, dump.Snaplen)
	if err != nil {
		errx(fmt.Sprintf("Cannot write pcap dump file `%s': %s", o.pcapfile, dump.Strerror(err)))
	}
	return pw, func() {
		err := pw.Flush()
		if f != os.Stdout {
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			errx(fmt.Sprintf("Cannot write pcap dump file `%s': %s", o.pcapfile, dump.Strerror(err)))
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
	err := dump.Follow(ctx, path, dump.FollowOptions{
		FromOldest: o.oldest,
		Attached: func(h dump.Header) {
			fmt.Fprintln(text, h.String())
			flushText()
		},
		Frame: func(r *dump.Record) error {
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
				return fmt.Errorf("Cannot write pcap dump file `%s': %s", o.pcapfile, dump.Strerror(err))
			}
			return nil
		},
		Lost: func(k uint64) {
			warnx(fmt.Sprintf("lost %d frames", k))
		},
	})
	closePcap()
	if err != nil {
		errx(err.Error())
	}
	flushText()
}

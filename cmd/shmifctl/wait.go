package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/libshmif/libshmif/core/dump"
	"github.com/libshmif/libshmif/core/pcap"
	"github.com/libshmif/libshmif/internal/errtext"
)

// errFound ends Follow once enough frames matched.
var errFound = errors.New("found")

// wait waits for frames that match a filter and returns the exit status.
func wait(args []string) int {
	opts, operands := getopt(args, "as:t:n:p:cC:")
	var (
		oldest      bool
		since       *dump.Cursor
		timeout     = time.Duration(-1) // none
		count       = 1
		pcapfile    string
		havePcap    bool
		printCursor bool
		cursorFile  string
	)
	for _, o := range opts {
		switch o.name {
		case 'a':
			oldest = true
		case 's':
			since = parseCursor(o.arg)
		case 't':
			timeout = parseTimeout(o.arg)
		case 'n':
			n, err := strconv.Atoi(o.arg)
			if err != nil || n < 1 {
				errx(fmt.Sprintf("bad count `%s': a number of frames, at least 1", o.arg))
			}
			count = n
		case 'p':
			pcapfile, havePcap = o.arg, true
		case 'c':
			printCursor = true
		case 'C':
			if o.arg == "" {
				usage()
			}
			cursorFile = o.arg
		}
	}
	if len(operands) < 1 || (oldest && since != nil) {
		usage()
	}
	path := operands[0]
	expr := strings.Join(operands[1:], " ")
	filter, err := dump.ParseFilter(expr)
	if err != nil {
		var fe *dump.FilterError
		errors.As(err, &fe)
		errx("bad filter: " + filterProblem(fe))
	}

	// Frame lines go to stdout, or to stderr when the capture does.
	lines := io.Writer(stdout)
	if havePcap && pcapfile == "-" {
		lines = os.Stderr
	}
	pw, closePcap := openPcap(havePcap, pcapfile)

	ctx := context.Background()
	if timeout >= 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	matched := 0
	var last dump.Cursor // the newest record looked at
	var attachedAt func(dump.Cursor)
	if printCursor || cursorFile != "" {
		attachedAt = func(c dump.Cursor) { last = c }
	}
	err = dump.Follow(ctx, path, dump.FollowOptions{
		FromOldest: oldest,
		Since:      since,
		Resumed:    resumed,
		AttachedAt: attachedAt,
		Frame: func(r *dump.Record) error {
			last = r.Cursor()
			if !filter.Match(r.Frame) {
				return nil
			}
			fmt.Fprintf(lines, "%d.%06d %s\n", r.Sec, r.Usec, dump.Summary(r.Frame))
			if err := stdout.Flush(); err != nil {
				return err
			}
			if pw != nil {
				err := pw.Record(r.Sec, r.Usec, r.Frame)
				if err == nil {
					err = pw.Flush()
				}
				if err != nil {
					return fmt.Errorf("Cannot write pcap file `%s': %s", pcapfile, errtext.Strerror(err))
				}
			}
			if matched++; matched == count {
				return errFound
			}
			return nil
		},
		Lost: func(n uint64) { warnx(fmt.Sprintf("lost %d frames", n)) },
	})
	closePcap()
	switch {
	case errors.Is(err, errFound):
		putCursor(printCursor, cursorFile, last)
		return exitOK
	case err == nil: // the time is up
		putCursor(printCursor, cursorFile, last)
		warnx(fmt.Sprintf("timed out after %v: %d of %d matching frames seen", timeout, matched, count))
		return exitTimeout
	case errors.Is(err, dump.ErrEmpty):
		errx(emptyFile(path))
	}
	errx(message(err))
	return exitError
}

// parseTimeout reads -t: seconds ("5", "0.5") or a duration with its unit
// ("500ms", "2m").
func parseTimeout(s string) time.Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		var secs float64
		secs, err = strconv.ParseFloat(s, 64)
		d = time.Duration(secs * float64(time.Second))
		if strings.ContainsAny(s, "xXpPeEnNiI_") || secs > 1e9 {
			err = strconv.ErrSyntax
		}
	}
	if err != nil || d < 0 {
		errx(fmt.Sprintf("bad timeout `%s': seconds, or a duration such as 500ms or 2m", s))
	}
	return d
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

// openPcap opens the capture of -p ("-" is stdout; a file is created or
// truncated, mode 0666 under the umask). The function returned closes it.
func openPcap(have bool, name string) (*pcap.Writer, func()) {
	if !have {
		return nil, func() {}
	}
	f := os.Stdout
	if name != "-" {
		var err error
		if f, err = os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o666); err != nil {
			errx(fmt.Sprintf("Cannot open pcap file `%s': %s", name, errtext.Strerror(err)))
		}
	}
	pw, err := pcap.NewWriter(f, dump.Snaplen)
	if err != nil {
		errx(fmt.Sprintf("Cannot write pcap file `%s': %s", name, errtext.Strerror(err)))
	}
	return pw, func() {
		err := pw.Flush()
		if f != os.Stdout {
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			errx(fmt.Sprintf("Cannot write pcap file `%s': %s", name, errtext.Strerror(err)))
		}
	}
}

// filterProblem says what is wrong with a filter.
func filterProblem(fe *dump.FilterError) string {
	word := strconv.Quote(fe.Word)
	want := valueText[fe.Want]
	switch fe.Problem {
	case dump.FilterUnknown:
		if _, err := strconv.Atoi(fe.Word); err == nil {
			return fmt.Sprintf("unknown word %s: a port is \"port %s\", a protocol \"proto %s\", an ethertype hexadecimal (0x88b5)", word, fe.Word, fe.Word)
		}
		return fmt.Sprintf("unknown word %s", word)
	case dump.FilterMissing:
		if fe.After != "" {
			return fmt.Sprintf("%s expected after %q, found the end of the filter", want, fe.After)
		}
		return fmt.Sprintf("%s expected, found the end of the filter", want)
	case dump.FilterBadValue:
		if fe.After != "" {
			return fmt.Sprintf("%s after %q is not %s", word, fe.After, want)
		}
		return fmt.Sprintf("%s is not %s", word, want)
	case dump.FilterUnmatched:
		return `")" without "("`
	case dump.FilterMixed:
		return fmt.Sprintf("%s mixed with the other operator without parentheses: write (a and b) or c, or a and (b or c)", word)
	}
	return fmt.Sprintf("%s expected, found %s", want, word)
}

var valueText = map[dump.FilterValue]string{
	dump.ValueNone:       "nothing",
	dump.ValuePrimitive:  `a primitive (arp, ip, ip6, 0x88b5, vlan, tcp, udp, icmp, icmp6, proto, host, net, port, src, dst, ether, broadcast, multicast, or an address), "not" or "("`,
	dump.ValueOperator:   `"and", "or", ")" or the end`,
	dump.ValueClose:      `")"`,
	dump.ValueAddress:    "a MAC, IPv4 or IPv6 address",
	dump.ValueMAC:        "a MAC address",
	dump.ValuePrefix:     "an IPv4 or IPv6 address or prefix (address/bits)",
	dump.ValuePort:       "a port number (0 to 65535)",
	dump.ValueProto:      "a protocol (tcp, udp, icmp, icmp6 or 0 to 255)",
	dump.ValueEtherType:  "an ethertype (arp, rarp, ip, ip6, vlan or 0 to 0xffff)",
	dump.ValueVLAN:       "a VLAN ID (0 to 4095)",
	dump.ValueAfterEther: "proto, src, dst, host, broadcast or multicast",
	dump.ValueAfterDir:   "host, net, port or an address",
}

// Command shmif_bridge copies Ethernet frames between a shmif bus and an
// endpoint named by a URL (a TAP device, a socket, a VDE network, another
// bus, a VXLAN tunnel) until SIGINT or SIGTERM. See man/shmif_bridge.1.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/libshmif/libshmif/core/bridge"
)

var progname = filepath.Base(os.Args[0])

const usageText = `usage: %s [options] BUS ENDPOINT [options]

Copies Ethernet frames between the shmif bus file BUS and ENDPOINT:
  tap://NAME | tap://fd=N          a TAP device
  udp://[SRC:]SPORT->DST:DPORT     UDP datagrams (VDE's udp plug)
  stream://[listen:]unix:PATH      4-byte length framing (QEMU stream, passt)
  stream://[listen:]tcp:HOST:PORT
  seqpacket://[listen:]unix:PATH   one frame per packet (slirp4netns bess, UML)
  dgram://unix:REMOTE | dgram://unix:LOCAL->unix:REMOTE | dgram://listen:unix:LOCAL
  stdio                            2-byte length framing (vde_plug URL = CMD)
  vde://VDEURL                     any libvdeplug URL
  shmif://BUS2                     another bus
  vxlan://REMOTE/vni=N             a VXLAN tunnel
options:
`

type options struct {
	verbose  bool
	interval time.Duration
	learning bool
	ageing   int
	mode     string
	noRepeat bool
}

func flags(o *options) *flag.FlagSet {
	fs := flag.NewFlagSet(progname, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.BoolVar(&o.verbose, "v", false, "print the counters every interval")
	fs.DurationVar(&o.interval, "interval", time.Second, "how often -v prints the counters")
	fs.BoolVar(&o.learning, "learning", false, "learn addresses; forward unicast only toward its destination")
	fs.IntVar(&o.ageing, "ageing", int(bridge.DefaultAgeingTime/time.Second), "seconds a learned address is kept")
	fs.StringVar(&o.mode, "mode", "0644", "permission bits of a new bus file (under the umask)")
	fs.BoolVar(&o.noRepeat, "no-repeat-guard", false, "forward identical frames read from one side within 20 ms")
	return fs
}

// parse reads options and operands in any order (options may follow the
// operands, as the synopsis shows).
func parse(args []string) (options, []string, error) {
	var o options
	fs := flags(&o)
	var operands []string
	for {
		if err := fs.Parse(args); err != nil {
			return o, nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		operands = append(operands, args[0])
		args = args[1:]
	}
	if len(operands) != 2 {
		return o, nil, errors.New("expected BUS and ENDPOINT")
	}
	if o.interval <= 0 {
		return o, nil, errors.New("-interval: expected a positive duration")
	}
	if o.ageing <= 0 {
		return o, nil, errors.New("-ageing: expected a positive number of seconds")
	}
	if m, err := strconv.ParseUint(o.mode, 8, 32); err != nil || m > 0o777 || m == 0 {
		return o, nil, errors.New("-mode: expected octal permission bits such as 0644")
	}
	return o, operands, nil
}

func usage() {
	fmt.Fprintf(os.Stderr, usageText, progname)
	var o options
	fs := flags(&o)
	fs.SetOutput(os.Stderr)
	fs.PrintDefaults()
}

func errx(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s: %s\n", progname, fmt.Sprintf(format, args...))
	os.Exit(1)
}

func main() {
	o, operands, err := parse(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		usage()
		os.Exit(0)
	}
	if err != nil {
		errx("%v (%s -h for help)", err, progname)
	}
	os.Exit(run(o, operands[0], operands[1]))
}

func run(o options, busPath, url string) int {
	// The signals are caught before anything is opened, so that a
	// SIGTERM during start-up still releases what was made.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGUSR1)

	ep, err := bridge.OpenEndpoint(url)
	if err != nil {
		errx("%v", err)
	}
	mode, _ := strconv.ParseUint(o.mode, 8, 32)
	b, err := bridge.Open(busPath, ep, bridge.Config{
		Learning:      o.learning,
		AgeingTime:    time.Duration(o.ageing) * time.Second,
		NoRepeatGuard: o.noRepeat,
		Mode:          uint32(mode),
	})
	if err != nil {
		errx("%v", err)
	}
	if err := b.Start(); err != nil {
		b.Stop()
		errx("%s: %v", busPath, err)
	}
	if o.verbose {
		fmt.Fprintf(os.Stderr, "%s: bridging %s (%s) and %s\n", progname, busPath, b.Interface().Name(), ep)
	}
	var tick <-chan time.Time
	if o.verbose {
		t := time.NewTicker(o.interval)
		defer t.Stop()
		tick = t.C
	}
	// Watching for loops costs a look at two counters a second.
	loopCheck := time.NewTicker(time.Second)
	defer loopCheck.Stop()
	warned := false
	warnLoop := func() {
		if st := b.Stats(); !warned && st.ToBus.Loop+st.ToEndpoint.Loop > 0 {
			warned = true
			fmt.Fprintf(os.Stderr, "%s: frames came back where they were sent: another bridge or path joins these networks; the copies are dropped (loop=)\n", progname)
		}
	}
	status := 0
	report := func() { fmt.Fprintf(os.Stderr, "%s: %s\n", progname, b) }
loop:
	for {
		select {
		case s := <-sigs:
			if s == syscall.SIGUSR1 {
				report()
				continue
			}
			break loop
		case <-tick:
			report()
		case <-loopCheck.C:
			warnLoop()
		case <-b.Done():
			err := b.Err()
			switch {
			case err == nil:
			case errors.Is(err, io.EOF):
				fmt.Fprintf(os.Stderr, "%s: %s: the peer went away\n", progname, ep)
			default:
				fmt.Fprintf(os.Stderr, "%s: %v\n", progname, err)
				status = 1
			}
			break loop
		}
	}
	warnLoop()
	if err := b.Stop(); err != nil && status == 0 {
		fmt.Fprintf(os.Stderr, "%s: stopping: %v\n", progname, err)
		status = 1
	}
	report()
	return status
}

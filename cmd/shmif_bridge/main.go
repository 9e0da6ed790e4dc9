// Command shmif_bridge copies Ethernet frames between a shmif bus and an
// endpoint named by a URL (a TAP device, a socket, a VDE network, another
// bus, a VXLAN tunnel) until SIGINT or SIGTERM. See man/shmif_bridge.1.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/libshmif/libshmif/core/bridge"
	"github.com/libshmif/libshmif/core/impair"
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

	// Impairments (package impair): any of these puts a stage in the
	// bridge.
	impair      string
	seed        string
	control     string
	controlMode string
	impairLog   string
}

// impaired reports whether the options ask for an impairment stage.
func (o *options) impaired() bool {
	return o.impair != "" || o.seed != "" || o.control != "" || o.impairLog != ""
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
	fs.StringVar(&o.impair, "impair", "", "impair the link: netem/wirefilter words, LR (bus to endpoint), RL or both before them\n(\"loss 5% delay 20ms 5ms\", \"LR rate 10mbit RL loss 1%\"; see shmif_bridge(1))")
	fs.StringVar(&o.seed, "seed", "", "seed of the impairments' random choices (random when not given; show prints it)")
	fs.StringVar(&o.control, "control", "", "serve impairment commands (show, set, flap, counters) on a unix socket at this path")
	fs.StringVar(&o.controlMode, "control-mode", "0600", "permission bits of the -control socket")
	fs.StringVar(&o.impairLog, "impair-log", "", "write one line per frame: what the impairments did to it")
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
	if m, err := strconv.ParseUint(o.controlMode, 8, 32); err != nil || m > 0o777 || m == 0 {
		return o, nil, errors.New("-control-mode: expected octal permission bits such as 0600")
	}
	if o.seed != "" {
		if _, err := strconv.ParseUint(o.seed, 10, 64); err != nil {
			return o, nil, errors.New("-seed: expected a decimal number below 2^64")
		}
	}
	if o.impair != "" {
		if _, _, err := impair.ApplyWords(impair.Settings{}, impair.Settings{}, strings.Fields(o.impair)); err != nil {
			return o, nil, fmt.Errorf("-impair: %v", err)
		}
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
	cfg := bridge.Config{
		Learning:      o.learning,
		AgeingTime:    time.Duration(o.ageing) * time.Second,
		NoRepeatGuard: o.noRepeat,
		Mode:          uint32(mode),
	}
	var stage *impair.Stage
	if o.impaired() {
		if stage, err = newStage(o, &cfg); err != nil {
			ep.Close()
			errx("%v", err)
		}
		defer stage.Close()
	}
	b, err := bridge.Open(busPath, ep, cfg)
	if err != nil {
		errx("%v", err)
	}
	if err := b.Start(); err != nil {
		b.Stop()
		errx("%s: %v", busPath, err)
	}
	if o.verbose {
		fmt.Fprintf(os.Stderr, "%s: bridging %s (%s) and %s\n", progname, busPath, b.Interface().Name(), ep)
		if stage != nil {
			show := strings.TrimSuffix(strings.TrimSuffix(stage.Command("show"), "ok\n"), "\n")
			fmt.Fprintf(os.Stderr, "%s: impair %s\n", progname, strings.ReplaceAll(show, "\n", "; "))
		}
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
	report := func() {
		fmt.Fprintf(os.Stderr, "%s: %s\n", progname, b)
		if stage != nil {
			for _, l := range strings.Split(strings.TrimSuffix(stage.Command("counters"), "ok\n"), "\n") {
				if l != "" {
					fmt.Fprintf(os.Stderr, "%s: impair %s\n", progname, l)
				}
			}
		}
	}
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
	if stage != nil {
		// Closed before the last report, so that frames it still
		// held count as closed, not as queued.
		stage.Close()
	}
	report()
	return status
}

// newStage makes the impairment stage the options ask for and puts it in
// cfg; with -control it serves commands on a unix socket until the stage
// closes.
func newStage(o options, cfg *bridge.Config) (*impair.Stage, error) {
	lr, rl, _ := impair.ApplyWords(impair.Settings{}, impair.Settings{}, strings.Fields(o.impair))
	var seed uint64
	if o.seed != "" {
		seed, _ = strconv.ParseUint(o.seed, 10, 64)
	} else {
		seed = rand.Uint64()
	}
	ic := impair.Config{Seed: seed, LR: lr, RL: rl}
	if o.impairLog != "" {
		f, err := os.OpenFile(o.impairLog, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return nil, fmt.Errorf("-impair-log: %v", err)
		}
		// Closed at exit; a buffered log would lose its tail to a kill.
		ic.Log = f
	}
	stage, err := cfg.Impair(ic)
	if err != nil {
		return nil, err
	}
	if o.control != "" {
		perm, _ := strconv.ParseUint(o.controlMode, 8, 32)
		l, err := impair.ListenControl(o.control, fs.FileMode(perm))
		if err != nil {
			stage.Close()
			return nil, fmt.Errorf("-control: %v", err)
		}
		go stage.ServeControl(l)
	}
	return stage, nil
}

package main

/*
#include <rump/rump.h>
*/
import "C"

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/libshmif/libshmif/core/bridge"
	"github.com/libshmif/libshmif/core/impair"
	"golang.org/x/sys/unix"
)

// Bridges run inside the host process, as shmif_bridge(1) runs them, and
// are named by handles of their own (1, 2, ...), not unit numbers.

type hostBridge struct {
	b     *bridge.Bridge
	stage *impair.Stage // nil without impairments
	log   *os.File      // the decision log, if any
}

var bridges struct {
	sync.Mutex
	next int
	m    map[int]*hostBridge
}

// maxOptions bounds the options string, as SHMIF_MAXLINKSTR bounds paths.
const maxOptions = 64 << 10

// bridgeOptions are the words of a bridge's options string.
type bridgeOptions struct {
	cfg            bridge.Config
	impaired       bool
	words          []string // impairment words, after "impair"
	seed           uint64
	seeded         bool
	control        string
	controlMode    uint64
	controlModeSet bool
	log            string
}

// parseBridgeOptions reads "learning ageing=300 mode=0600 seed=7
// control=PATH impair loss 5%": key=value words, and "impair" followed by
// the impairment words to the end.
func parseBridgeOptions(s string) (o bridgeOptions, err error) {
	o.controlMode = 0o600
	words := strings.Fields(s)
	for k := 0; k < len(words); k++ {
		key, val, hasVal := strings.Cut(words[k], "=")
		needVal := func() bool { return hasVal && val != "" }
		switch {
		case key == "learning" && !hasVal:
			o.cfg.Learning = true
		case key == "no-repeat-guard" && !hasVal:
			o.cfg.NoRepeatGuard = true
		case key == "ageing" && needVal():
			n, e := strconv.ParseUint(val, 10, 31)
			if e != nil || n == 0 {
				return o, fmt.Errorf("ageing=%s: expected a positive number of seconds", val)
			}
			o.cfg.AgeingTime = time.Duration(n) * time.Second
		case key == "mode" && needVal():
			m, e := strconv.ParseUint(val, 8, 32)
			if e != nil || m == 0 || m > 0o777 {
				return o, fmt.Errorf("mode=%s: expected octal permission bits", val)
			}
			o.cfg.Mode = uint32(m)
		case key == "seed" && needVal():
			if o.seed, err = strconv.ParseUint(val, 10, 64); err != nil {
				return o, fmt.Errorf("seed=%s: expected a decimal number below 2^64", val)
			}
			o.seeded, o.impaired = true, true
		case key == "control" && needVal():
			o.control, o.impaired = val, true
		case key == "control-mode" && needVal():
			m, e := strconv.ParseUint(val, 8, 32)
			if e != nil || m == 0 || m > 0o777 {
				return o, fmt.Errorf("control-mode=%s: expected octal permission bits", val)
			}
			o.controlMode, o.controlModeSet = m, true
		case key == "impair-log" && needVal():
			o.log, o.impaired = val, true
		case key == "impair" && !hasVal:
			// "impair" alone: a stage that passes everything, to be
			// set later by commands.
			o.words, o.impaired = words[k+1:], true
			if len(o.words) > 0 {
				if _, _, err := impair.ApplyWords(impair.Settings{}, impair.Settings{}, o.words); err != nil {
					return o, err
				}
			}
			k = len(words)
		default:
			return o, fmt.Errorf("unknown option %q", words[k])
		}
	}
	if o.controlModeSet && o.control == "" {
		return o, errors.New("control-mode= without control=")
	}
	return o, nil
}

// startBridge makes the impairment stage the options ask for, starts the
// bridge between ep and the bus and registers it. ep is closed on failure
// (Close is idempotent: newBridge may have closed it already).
func startBridge(o bridgeOptions, ep bridge.Endpoint, newBridge func(bridge.Endpoint, bridge.Config) (*bridge.Bridge, error), handle *C.int) (rc C.int) {
	h := &hostBridge{}
	defer func() {
		if rc != 0 && h.b == nil {
			ep.Close()
		}
	}()
	if o.impaired {
		var lr, rl impair.Settings
		if len(o.words) > 0 {
			lr, rl, _ = impair.ApplyWords(lr, rl, o.words)
		}
		if !o.seeded {
			o.seed = randomSeed()
		}
		ic := impair.Config{Seed: o.seed, LR: lr, RL: rl}
		if o.log != "" {
			f, err := os.OpenFile(o.log, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
			if err != nil {
				return errno(err)
			}
			h.log, ic.Log = f, f
		}
		st, err := o.cfg.Impair(ic)
		if err != nil {
			h.release()
			return errno(err)
		}
		h.stage = st
		if o.control != "" {
			l, err := impair.ListenControl(o.control, fs.FileMode(o.controlMode))
			if err != nil {
				h.release()
				return errno(err)
			}
			go st.ServeControl(l)
		}
	}
	b, err := newBridge(ep, o.cfg)
	if err != nil {
		h.release()
		return errno(err)
	}
	h.b = b
	if err := b.Start(); err != nil {
		h.release()
		return errno(err)
	}
	bridges.Lock()
	defer bridges.Unlock()
	if bridges.m == nil {
		bridges.m = map[int]*hostBridge{}
	}
	id := bridges.next + 1
	for bridges.m[id] != nil || id <= 0 {
		if id++; id <= 0 {
			id = 1
		}
	}
	bridges.next = id
	bridges.m[id] = h
	*handle = C.int(id)
	return 0
}

// release stops the bridge and frees what goes with it; the first error
// is returned.
func (h *hostBridge) release() error {
	var err error
	if h.b != nil {
		err = h.b.Stop()
	}
	if h.stage != nil {
		h.stage.Close()
	}
	if h.log != nil {
		h.log.Close()
	}
	return err
}

func randomSeed() uint64 {
	var b [8]byte
	unix.Getrandom(b[:], 0)
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

// bridgeArgs reads the endpoint and options arguments of the open calls.
func bridgeArgs(cep, copts *C.char, handle *C.int) (string, bridgeOptions, C.int) {
	if handle == nil || cep == nil {
		return "", bridgeOptions{}, C.int(unix.EFAULT)
	}
	ep, ok := goString(cep, maxOptions)
	if !ok {
		return "", bridgeOptions{}, C.int(unix.E2BIG)
	}
	opts := ""
	if copts != nil {
		if opts, ok = goString(copts, maxOptions); !ok {
			return "", bridgeOptions{}, C.int(unix.E2BIG)
		}
	}
	o, err := parseBridgeOptions(opts)
	if err != nil {
		return "", o, C.int(unix.EINVAL)
	}
	return ep, o, 0
}

//export shmifgo_bridge_open
func shmifgo_bridge_open(cbus, cep, copts *C.char, handle *C.int) (rc C.int) {
	defer catch(&rc)
	room()
	p, rc := path(cbus)
	if rc != 0 {
		return rc
	}
	url, o, rc := bridgeArgs(cep, copts, handle)
	if rc != 0 {
		return rc
	}
	ep, err := bridge.OpenEndpoint(url)
	if err != nil {
		return errno(err)
	}
	return startBridge(o, ep, func(ep bridge.Endpoint, cfg bridge.Config) (*bridge.Bridge, error) {
		return bridge.Open(p, ep, cfg)
	}, handle)
}

//export shmifgo_bridge_attach
func shmifgo_bridge_attach(ifnum C.int, cep, copts *C.char, handle *C.int) (rc C.int) {
	defer catch(&rc)
	i, rc := lookup(ifnum)
	if rc != 0 {
		return rc
	}
	url, o, rc := bridgeArgs(cep, copts, handle)
	if rc != 0 {
		return rc
	}
	if o.cfg.Mode != 0 {
		return C.int(unix.EINVAL) // the bus is the interface's already
	}
	ep, err := bridge.OpenEndpoint(url)
	if err != nil {
		return errno(err)
	}
	return startBridge(o, ep, func(ep bridge.Endpoint, cfg bridge.Config) (*bridge.Bridge, error) {
		return bridge.New(i, ep, cfg), nil
	}, handle)
}

func lookupBridge(handle C.int) (*hostBridge, C.int) {
	room()
	bridges.Lock()
	defer bridges.Unlock()
	h := bridges.m[int(handle)]
	if h == nil {
		return nil, C.int(unix.ENXIO)
	}
	return h, 0
}

//export shmifgo_bridge_close
func shmifgo_bridge_close(handle C.int) (rc C.int) {
	defer catch(&rc)
	room()
	bridges.Lock()
	h := bridges.m[int(handle)]
	delete(bridges.m, int(handle))
	bridges.Unlock()
	if h == nil {
		return C.int(unix.ENXIO)
	}
	if err := h.release(); err != nil && !errors.Is(err, unix.ENXIO) {
		return errno(err)
	}
	return 0
}

// stopErrno is why a bridge stopped by itself, as an errno value.
func stopErrno(err error) C.int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, io.EOF):
		return C.int(unix.ENOTCONN)
	}
	return errno(err)
}

func dirStats(d bridge.Direction) C.struct_shmif_bridge_dir {
	return C.struct_shmif_bridge_dir{
		frames: C.uint64_t(d.Frames), bytes: C.uint64_t(d.Bytes),
		too_small: C.uint64_t(d.TooSmall), too_big: C.uint64_t(d.TooBig),
		loop: C.uint64_t(d.Loop), filtered: C.uint64_t(d.Filtered), errors: C.uint64_t(d.Errors),
	}
}

//export shmifgo_bridge_get_stats
func shmifgo_bridge_get_stats(handle C.int, st *C.struct_shmif_bridge_stats) (rc C.int) {
	defer catch(&rc)
	h, rc := lookupBridge(handle)
	if rc != 0 {
		return rc
	}
	if st == nil {
		return C.int(unix.EFAULT)
	}
	s := h.b.Stats()
	*st = C.struct_shmif_bridge_stats{
		to_endpoint: dirStats(s.ToEndpoint),
		to_bus:      dirStats(s.ToBus),
		bus_lost:    C.uint64_t(s.Bus.Lost),
	}
	select {
	case <-h.b.Done():
		st.stopped = 1
		st.error = C.int32_t(stopErrno(h.b.Err()))
	default:
	}
	return 0
}

// bridgeHelp is what this call adds to the stage's commands.
const bridgeHelp = `bridge commands (shmif_bridge_command only):
stats                      the bridge's counters, then the impairment counters
error                      why the bridge stopped (nothing while it runs)
`

// bridgeCommand runs one command line: "stats", "error" and "help" here,
// the rest by the impairment stage. Words are case-insensitive, as the
// stage's are.
func bridgeCommand(h *hostBridge, line string) (reply string, failed bool) {
	words := strings.Fields(line)
	is := func(w string) bool { return len(words) == 1 && strings.EqualFold(words[0], w) }
	switch {
	case len(words) == 0:
		return "error: empty command (try help)\n", true
	case is("stats"):
		reply = h.b.String() + "\n"
		if h.stage != nil {
			reply += strings.TrimSuffix(h.stage.Command("counters"), "ok\n")
		}
		return reply + "ok\n", false
	case is("error"):
		if err := h.b.Err(); err != nil {
			reply = err.Error() + "\n"
		}
		return reply + "ok\n", false
	case is("help"):
		if h.stage != nil {
			reply = strings.TrimSuffix(h.stage.Command("help"), "ok\n")
		}
		return reply + bridgeHelp + "ok\n", false
	case h.stage == nil:
		return "error: the bridge has no impairment stage (open it with the impair option)\n", true
	}
	reply = h.stage.Command(line)
	return reply, strings.HasPrefix(reply, "error")
}

//export shmifgo_bridge_command
func shmifgo_bridge_command(handle C.int, cline *C.char, reply *C.char, replylen C.size_t, needed *C.size_t) (rc C.int) {
	defer catch(&rc)
	h, rc := lookupBridge(handle)
	if rc != 0 {
		return rc
	}
	if cline == nil || (reply == nil && replylen > 0) {
		return C.int(unix.EFAULT)
	}
	line, ok := goString(cline, maxOptions)
	if !ok {
		return C.int(unix.E2BIG)
	}
	if strings.ContainsAny(line, "\n\r") {
		return C.int(unix.EINVAL)
	}
	out, failed := bridgeCommand(h, line)
	if needed != nil {
		*needed = C.size_t(len(out) + 1)
	}
	if replylen > 0 {
		dst := unsafe.Slice((*byte)(unsafe.Pointer(reply)), int(min(replylen, C.size_t(len(out)+1))))
		n := copy(dst[:len(dst)-1], out)
		dst[n] = 0
		if n < len(out) {
			return C.int(unix.ERANGE)
		}
	}
	if failed {
		return C.int(unix.EINVAL)
	}
	return 0
}

package bridge

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/libshmif/libshmif/core/impair"
)

// Impair puts an impairment stage made from ic in both directions of the
// bridges c configures: left to right (impair.LR) is bus to endpoint,
// right to left (impair.RL) endpoint to bus. It sets c.ToEndpoint and
// c.ToBus, and ic's Sink (which must be nil: the bridge is where frames
// go). The stage can be changed while the bridge runs (Set, Apply,
// Command, ServeControl) and reports what it did (Counters, SetLog); the
// caller closes it after the bridge's Stop.
//
// One stage serves one bridge: Start it once.
func (c *Config) Impair(ic impair.Config) (*impair.Stage, error) {
	if ic.Sink != nil {
		return nil, errSinkSet
	}
	var lr, rl atomic.Pointer[Emit]
	ic.Sink = func(d impair.Dir, frames [][]byte) {
		p := lr.Load()
		if d == impair.RL {
			p = rl.Load()
		}
		if p != nil {
			(*p)(frames)
		}
	}
	st, err := impair.New(ic)
	if err != nil {
		return nil, err
	}
	c.ToEndpoint = func(emit Emit) Stage {
		lr.Store(&emit)
		return impaired{st, impair.LR}
	}
	c.ToBus = func(emit Emit) Stage {
		rl.Store(&emit)
		return impaired{st, impair.RL}
	}
	return st, nil
}

var errSinkSet = errors.New("bridge: Config.Impair: the impair.Config has a Sink; the bridge supplies it")

// impaired is one direction of an impairment stage.
type impaired struct {
	st  *impair.Stage
	dir impair.Dir
}

// Input hands the frame to the stage, which keeps a copy; once the stage
// is closed the frame is dropped, as frames are after the bridge stops.
func (s impaired) Input(frame []byte, _ time.Time) { s.st.Input(s.dir, frame) }

package bridge_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/libshmif/libshmif/core/bridge"
	"github.com/libshmif/libshmif/core/impair"
	"github.com/libshmif/libshmif/core/shmif"
)

// Two buses joined by a bridge: a frame sent on one arrives on the other.
func Example() {
	dir, _ := os.MkdirTemp("", "bridge")
	defer os.RemoveAll(dir)
	bus1, bus2 := filepath.Join(dir, "bus1"), filepath.Join(dir, "bus2")

	ep, err := bridge.OpenEndpoint("shmif://" + bus2)
	if err != nil {
		log.Fatal(err)
	}
	b, err := bridge.Open(bus1, ep, bridge.Config{})
	if err != nil {
		log.Fatal(err)
	}
	if err := b.Start(); err != nil {
		log.Fatal(err)
	}
	defer b.Stop()

	a, _ := shmif.Open(bus1, -1)
	defer a.Destroy()
	c, _ := shmif.Open(bus2, -1)
	defer c.Destroy()
	frame := make([]byte, 60)
	copy(frame, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 1, 0x88, 0xb5})
	a.Send(frame)
	buf := make([]byte, shmif.MTU+14)
	n, err := c.Recv(buf, 10*time.Second)
	fmt.Println(n, err)
	// Output: 60 <nil>
}

// passEven is a stage that passes every other frame on at once.
type passEven struct {
	emit bridge.Emit
	n    int
}

func (s *passEven) Input(frame []byte, now time.Time) {
	if s.n++; s.n%2 == 0 {
		s.emit([][]byte{frame})
	}
}

// A stage in the bus-to-endpoint direction: the impairment models of
// package impair plug in the same way, emitting frames when they are due.
func ExampleConfig_stage() {
	dir, _ := os.MkdirTemp("", "bridge")
	defer os.RemoveAll(dir)
	bus1, bus2 := filepath.Join(dir, "bus1"), filepath.Join(dir, "bus2")

	ep, _ := bridge.OpenEndpoint("shmif://" + bus2)
	b, _ := bridge.Open(bus1, ep, bridge.Config{
		ToEndpoint: func(emit bridge.Emit) bridge.Stage { return &passEven{emit: emit} },
	})
	b.Start()
	a, _ := shmif.Open(bus1, -1)
	defer a.Destroy()
	frame := make([]byte, 60)
	copy(frame, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 1, 0x88, 0xb5})
	for i := range 4 {
		frame[14] = byte(i)
		a.Send(frame)
	}
	for b.Stats().ToEndpoint.Frames < 2 {
		time.Sleep(time.Millisecond)
	}
	b.Stop()
	fmt.Println(b.Stats().ToEndpoint.Frames, "of 4 frames passed")
	// Output: 2 of 4 frames passed
}

// OpenEndpoint names endpoints by URL; a malformed one gives an error
// that says what is wrong (and matches EINVAL).
func ExampleOpenEndpoint() {
	_, err := bridge.OpenEndpoint("stream://listen:tcp:0.0.0.0:7000")
	fmt.Println(err)
	_, err = bridge.OpenEndpoint("tcp://localhost:7000")
	fmt.Println(err)
	// Output:
	// stream://listen:tcp:0.0.0.0:7000: listening on 0.0.0.0 would let anyone who can reach it onto the bus: add /public to mean that
	// tcp://localhost:7000: unknown scheme "tcp": expected one of tap, udp, stream, seqpacket, dgram, stdio, vde, shmif, vxlan
}

// An impaired link between two buses: 5 % of the frames lost and 20 ± 5 ms
// of delay, in both directions, reproducible from the seed. The stage
// counts what it did; it can be changed while the bridge runs.
func ExampleConfig_Impair() {
	dir, _ := os.MkdirTemp("", "bridge")
	defer os.RemoveAll(dir)
	bus1, bus2 := filepath.Join(dir, "bus1"), filepath.Join(dir, "bus2")

	settings, err := impair.ParseSettings("loss 5% delay 20ms 5ms")
	if err != nil {
		log.Fatal(err)
	}
	var cfg bridge.Config
	stage, err := cfg.Impair(impair.Config{Seed: 1, LR: settings, RL: settings})
	if err != nil {
		log.Fatal(err)
	}
	defer stage.Close()
	ep, _ := bridge.OpenEndpoint("shmif://" + bus2)
	b, _ := bridge.Open(bus1, ep, cfg)
	b.Start()
	defer b.Stop()

	a, _ := shmif.Open(bus1, -1)
	defer a.Destroy()
	c, _ := shmif.Open(bus2, -1)
	defer c.Destroy()
	frame := make([]byte, 60)
	copy(frame, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 1, 0x88, 0xb5})
	start := time.Now()
	for i := range 100 {
		frame[14] = byte(i)
		a.Send(frame)
	}
	buf := make([]byte, shmif.MTU+14)
	got := 0
	for {
		if _, err := c.Recv(buf, 200*time.Millisecond); err != nil {
			break
		}
		got++
	}
	n := stage.Counters(impair.LR)
	fmt.Println("arrived:", got == int(n.Out.Frames), "lost:", n.Lost.Frames == 100-n.Out.Frames)
	fmt.Println("first after 15ms or more:", time.Since(start) > 15*time.Millisecond)
	// Output:
	// arrived: true lost: true
	// first after 15ms or more: true
}

package impair_test

import (
	"bufio"
	"fmt"
	"log"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/libshmif/libshmif/core/impair"
)

func ExampleParseSettings() {
	s, err := impair.ParseSettings("loss 5% delay 20msec 5ms distribution normal rate 10mbit 4")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(s.Loss.P, s.Delay.Time, s.Delay.Jitter, s.Delay.Dist, s.Rate.Bits, s.Rate.Overhead)
	fmt.Println(s)

	_, err = impair.ParseSettings("delay 20")
	fmt.Println(err)
	// Output:
	// 0.05 20ms 5ms normal 10000000 4
	// loss 5% delay 20ms 5ms distribution normal rate 10mbit 4
	// delay: "20" needs a unit (e.g. 20ms)
}

func ExampleApplyWords() {
	// Words before a direction apply to both; LR and RL choose one.
	lr, rl, err := impair.ApplyWords(impair.Settings{}, impair.Settings{},
		strings.Fields("delay 10ms LR loss 1% RL duplicate 2%"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("LR", lr)
	fmt.Println("RL", rl)
	// Output:
	// LR loss 1% delay 10ms
	// RL delay 10ms duplicate 2%
}

// A Decider on a virtual clock: netem's "reorder 100% gap 3" sends every
// third frame at once, ahead of the delayed ones.
func ExampleDecider() {
	s, _ := impair.ParseSettings("delay 10ms reorder 100% gap 3")
	d, _ := impair.NewDecider(impair.LR, 1, s)
	d.SetLog(os.Stdout)
	frame := make([]byte, 60)
	for i := range 4 {
		d.Decide(frame, time.Duration(i)*time.Millisecond)
	}
	c := d.Counters()
	fmt.Println("out", c.Out.Frames, "reordered", c.Reordered.Frames, "delayed", c.Delayed.Frames)
	// Output:
	// LR 1 at=0.000000000 len=60 out due=0.010000000
	// LR 2 at=0.001000000 len=60 out due=0.011000000
	// LR 3 at=0.002000000 len=60 out due=0.002000000 reordered
	// LR 4 at=0.003000000 len=60 out due=0.013000000
	// out 4 reordered 1 delayed 3
}

func ExampleNew() {
	got := make(chan string, 1)
	s, err := impair.New(impair.Config{
		Seed: 1,
		LR:   impair.Settings{Delay: impair.Delay{Time: 5 * time.Millisecond}},
		Sink: func(d impair.Dir, frames [][]byte) {
			// The bridge writes the batch to the bus or the endpoint.
			got <- fmt.Sprintf("%v: %d frame(s) of %d bytes", d, len(frames), len(frames[0]))
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	frame := make([]byte, 60)
	s.Input(impair.LR, frame) // the stage keeps a copy: frame may be reused
	fmt.Println(<-got)
	c := s.Counters(impair.LR)
	fmt.Println("in", c.In.Frames, "out", c.Out.Frames, "delayed", c.Delayed.Frames)
	// Output:
	// LR: 1 frame(s) of 60 bytes
	// in 1 out 1 delayed 1
}

func ExampleStage_Command() {
	s, _ := impair.New(impair.Config{Seed: 42, Sink: func(impair.Dir, [][]byte) {}})
	defer s.Close()
	fmt.Print(s.Command("set loss 5% LR delay 20ms 5ms distribution normal"))
	fmt.Print(s.Command("flap RL 10s 80%"))
	fmt.Print(s.Command("show"))
	fmt.Print(s.Command("set loss 500%"))
	// Output:
	// ok
	// ok
	// seed 42
	// LR loss 5% delay 20ms 5ms distribution normal
	// RL loss 5% flap 10s 80%
	// ok
	// error: loss: "500%" is not a percentage between 0 and 100
}

func ExampleListenControl() {
	dir, _ := os.MkdirTemp("", "impair-example")
	defer os.RemoveAll(dir)
	s, _ := impair.New(impair.Config{Sink: func(impair.Dir, [][]byte) {}})
	defer s.Close()
	l, err := impair.ListenControl(filepath.Join(dir, "ctl"), 0o600)
	if err != nil {
		log.Fatal(err)
	}
	go s.ServeControl(l)

	// What "socat - UNIX-CONNECT:ctl" would do.
	c, err := net.Dial("unix", l.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintln(c, "set RL rate 1mbit limit 100")
	fmt.Fprintln(c, "show RL")
	r := bufio.NewScanner(c)
	for replies := 0; replies < 2 && r.Scan(); {
		fmt.Println(r.Text())
		if r.Text() == "ok" || strings.HasPrefix(r.Text(), "error: ") {
			replies++
		}
	}
	fi, _ := os.Stat(l.Addr().String())
	fmt.Println(fi.Mode())
	// Output:
	// ok
	// seed 0
	// RL rate 1mbit limit 100
	// ok
	// Srw-------
}

package cabi_test

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Receives blocked in other threads, and what ends them.

// TestBlockedRecvWokenByDownAndDestroy: a receive waiting without limit
// returns ENETDOWN when the interface is taken down and ENXIO when it is
// destroyed, promptly.
func TestBlockedRecvWokenByDownAndDestroy(t *testing.T) {
	setup(t)
	type result struct {
		rc int32
		at time.Time
	}
	cases := []struct {
		name  string
		stop  func(ifnum int32) int32
		want  unix.Errno
		batch bool
	}{
		{"shmif_recv/shmif_down", lib.shmif_down, unix.ENETDOWN, false},
		{"shmif_recv_batch/shmif_down", lib.shmif_down, unix.ENETDOWN, true},
		{"shmif_recv/shmif_destroy", lib.shmif_destroy, unix.ENXIO, false},
		{"shmif_recv_batch/shmif_destroy", lib.shmif_destroy, unix.ENXIO, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ifnum := open(t, busPath(t))
			done := make(chan result, 2)
			for range 2 { // two waiting threads, both must return
				rb := newBatch(t, 4, maxFrame)
				go func() {
					var rc int32
					if c.batch {
						_, rc = rb.recv(ifnum, -1)
					} else {
						_, rc = recv(ifnum, -1)
					}
					done <- result{rc, time.Now()}
				}()
			}
			select {
			case r := <-done:
				t.Fatalf("shmif_recv(-1) returned %s before the interface was stopped", errName(r.rc))
			case <-time.After(150 * time.Millisecond):
			}
			stopped := time.Now()
			must(t, "stop", c.stop(ifnum))
			for range 2 {
				select {
				case r := <-done:
					check(t, "blocked receive", r.rc, c.want)
					if d := r.at.Sub(stopped); d > time.Second {
						t.Errorf("blocked receive returned %v after the stop", d)
					}
				case <-time.After(3 * time.Second):
					t.Fatal("blocked receive did not return within 3 s of the stop")
				}
			}
		})
	}
}

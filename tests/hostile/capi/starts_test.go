package hostile_test

import (
	"testing"
	"time"
)

// TestStartPositions: SHMIF_START_NEWEST, NEXT and OLDEST, chosen with
// shmif_set_start and with the SHMIF_START variable, on a fresh bus, one
// with five frames, a wrapped one, and buses whose newest record has its
// header or its frame across the end of the ring, ends exactly at the end
// (in the first lap and later), or starts exactly at offset 0 (the cases
// where NetBSD's reader picks the wrong generation, docs/protocol.md §3.2,
// §9.5). NEWEST receives exactly the newest frame (nothing on a fresh
// bus), NEXT nothing, OLDEST every frame of the valid region in order;
// a second up does it again (rump.h shmif_up: "Every up, also of an
// interface that is up already, restarts reception where shmif_set_start
// says"); the next frame sent arrives. shmif_set_start refuses 3, -1,
// INT_MAX and INT_MIN with EINVAL.
func TestStartPositions(t *testing.T) {
	t.Parallel()
	run(t, 60*time.Second, nil, program(t, "starts"), "starts", t.TempDir())
}

// TestEnvironmentValues: RUMP_SHMIF_CAPENABLE with hostile values gives
// strtoul(s, NULL, 0) & SHMIF_CAPABILITIES (rump.h), never bits outside;
// SHMIF_SPIN_US with junk, negative, huge values gives a spin >= 0 and
// timeouts stay deadlines; odd SHMIF_START values do not break creation.
func TestEnvironmentValues(t *testing.T) {
	t.Parallel()
	run(t, 60*time.Second, nil, program(t, "starts"), "env", t.TempDir())
}

// TestSpinForever: shmif_set_spin(INT_MAX): a receive with timeout 50 ms
// still ends after 50 ms (the timeout is a deadline); a receiver spinning
// with timeout -1 is released by cancel, down and destroy within 3 s.
func TestSpinForever(t *testing.T) {
	t.Parallel()
	run(t, 60*time.Second, nil, program(t, "starts"), "spin", t.TempDir())
}

// TestSpinRelease: a release during the receiver's spin is not lost: with
// spin 100 ms, a cancel 20 ms into the receive returns ECANCELED at once,
// down and destroy by the end of the spin; with the default spin of 50 us,
// none of the cancels at random moments of a receive's first 80 us takes
// more than 300 ms (rump.h shmif_cancel: "make every thread blocked in
// shmif_recv ... return ECANCELED"; the wait's 1 s safety net must not be
// what ends it).
func TestSpinRelease(t *testing.T) {
	t.Parallel()
	run(t, 120*time.Second, nil, program(t, "starts"), "spinrelease", t.TempDir(), itoa(pick(10, 300)))
}

// TestManyStalledLosslessReceivers: 200 lossless receivers (max_wait_ms
// 100) that never read: all are active; 3000 sends of 1514 bytes each
// wait at most 100 ms (rump.h: "for at most max_wait_ms (counted from when
// its send began)", whatever the number of receivers) and writers do not
// wait again; a receiver that reads again gets the last ring and counts
// the rest lost, exactly (received + lost = sent). Lossless is active only
// while the interface is up on a bus.
func TestManyStalledLosslessReceivers(t *testing.T) {
	t.Parallel()
	run(t, 60*time.Second, nil, program(t, "starts"), "lossless", t.TempDir())
}

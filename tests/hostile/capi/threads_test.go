package hostile_test

import (
	"testing"
	"time"
)

// TestThreadChaos: twelve threads call every interface call on six shared
// interfaces (created, destroyed, detached, cancelled, polled by the others)
// at random. rump.h: "Every function is thread-safe: any thread may call any
// function on any interface at any time." Every result must be one the
// header documents, no call may block past its timeout by seconds, every
// frame received must be whole, and afterwards the bus still carries frames
// and no descriptor is left behind.
func TestThreadChaos(t *testing.T) {
	t.Parallel()
	ms := pick(2500, 20000)
	run(t, time.Duration(ms)*time.Millisecond+30*time.Second, nil, program(t, "threads"), "chaos", busPath(t), itoa(ms))
}

// TestBlockedReceiversReleased: threads blocked in shmif_recv,
// shmif_recv_frame and shmif_recv_batch with timeouts -1, INT_MIN, INT_MAX
// and -7 return ENXIO on destroy, ENETDOWN on down and ECANCELED on cancel;
// a thread in poll(2) on the poll descriptor returns (readable) on destroy,
// cancel and unset_linkstr; a receive begun after a cancel is not affected.
func TestBlockedReceiversReleased(t *testing.T) {
	t.Parallel()
	run(t, 60*time.Second, nil, program(t, "threads"), "wake", busPath(t))
}

// TestReleaseRaces: the releases of TestBlockedReceiversReleased at random
// moments while the receivers start: destroy always gives ENXIO, down
// ENETDOWN, cancel ECANCELED or the timeout; nobody stays blocked.
func TestReleaseRaces(t *testing.T) {
	t.Parallel()
	run(t, 60*time.Second, nil, program(t, "threads"), "wakerace", busPath(t), itoa(pick(180, 3000)))
}

// TestIfnumSweep: every call with every ifnum from -1 to 40000 while other
// threads create and destroy units: outside 0..32767 always ENXIO (rump.h:
// "An unknown ifnum gives ENXIO"), shmif_create EINVAL below -1 and above
// 32767; inside, only documented results; afterwards unit 0 is free again.
func TestIfnumSweep(t *testing.T) {
	t.Parallel()
	run(t, 90*time.Second, nil, program(t, "threads"), "sweep", busPath(t))
}

// TestFanoutEachFrameOnce: four threads receive on one lossless interface
// with all three receive calls while cancels interrupt them: each of the
// frames goes to exactly one thread (rump.h: "Several threads may receive
// on one interface; each frame goes to one of them"), none is lost or torn,
// and ipackets counts them exactly.
func TestFanoutEachFrameOnce(t *testing.T) {
	t.Parallel()
	run(t, 60*time.Second, nil, program(t, "threads"), "fanout", busPath(t), itoa(pick(200000, 2000000)))
}

// TestPollfdRacesDestroy: four threads ask for the poll descriptor while
// the interface is destroyed or detached: each gets the same descriptor or
// ENXIO/ENETDOWN, and no descriptor outlives the interface.
func TestPollfdRacesDestroy(t *testing.T) {
	t.Parallel()
	run(t, 60*time.Second, nil, program(t, "threads"), "pollrace", busPath(t), itoa(pick(150, 3000)))
}

// TestPollReadiness: the poll descriptor's rules (rump.h shmif_get_pollfd):
// the same descriptor on every call and across down and up; readable right
// after it is made, after cancel and after up; not readable once a receive
// found nothing; readable within a second of a frame from this process or
// from another process; the interface's own frame is consumed by the
// receive that finds nothing; fifty descriptors in one epoll set all
// become readable for one frame from another process; destroy makes them
// readable and, once closed 250 ms later, the set loses them.
func TestPollReadiness(t *testing.T) {
	t.Parallel()
	run(t, 60*time.Second, nil, program(t, "threads"), "pollready", busPath(t))
}

// TestDestroyDuringHugeBatch: destroy and down while another thread is
// inside shmif_send_batch of 1048576 frames: the batch ends (0, ENXIO or
// ENETDOWN) and what reached the bus is whole and in order.
func TestDestroyDuringHugeBatch(t *testing.T) {
	t.Parallel()
	run(t, 60*time.Second, nil, program(t, "threads"), "senddestroy", busPath(t))
}

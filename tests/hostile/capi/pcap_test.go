package hostile_test

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestInjectHostilePcap: 43 pcap and pcapng files, damaged and strange
// (short headers, bad magic, link types other than Ethernet, record lengths
// 0, 13, 1515, 2^31 and 0xffffffff, frames captured in part, truncated
// records after 1000 good ones, block lengths 0, 7, 8 and 0xffffffff, bad
// byte-order magic, trailing lengths that differ, packets for interfaces
// that do not exist, option lengths past the block, absurd time
// resolutions). Each is refused with EINVAL or EMSGSIZE and leaves the bus
// file byte for byte as it was (rump.h shmif_inject: "Every frame is
// checked before any is written"; "EMSGSIZE a frame is over 1514 or under
// 14 bytes, or was captured only in part: nothing is written"), or is
// accepted with exactly its frames; no hostile length makes the process
// grow by more than 256 MiB. Inputs from a directory, a write-only
// descriptor and a pipe that trickles a byte at a time.
func TestInjectHostilePcap(t *testing.T) {
	t.Parallel()
	run(t, 60*time.Second, nil, program(t, "pcap"), "inject", t.TempDir())
}

// TestCaptureHostileOutput: a following capture (follow_ms 5000 and
// INT_MAX) into a pipe whose reader leaves returns EPIPE at once, with the
// host's SIGPIPE handler run; read-only descriptors give EBADF, /dev/full
// ENOSPC; a slow reader on a non-blocking pipe gets every frame whole (rump.h:
// "a non-blocking one is waited on"); sixteen captures at once; snapshots
// and following captures of buses with damaged header words and ring bytes
// give EIO or whole records of 14..1514 bytes; a following capture of a bus
// truncated under it ends with EIO, a snapshot of the 100-byte file does
// not resize it.
func TestCaptureHostileOutput(t *testing.T) {
	t.Parallel()
	run(t, 60*time.Second, nil, program(t, "pcap"), "capture", t.TempDir())
}

// TestCaptureSIGPIPEDefault: a following capture into a pipe without a
// reader, in a host that leaves SIGPIPE at its default disposition. rump.h
// says EPIPE comes "from write(2)", and write(2) raises SIGPIPE first: the
// process either dies of SIGPIPE (as with any write) or gets EPIPE, never
// another signal. The outcome is logged.
func TestCaptureSIGPIPEDefault(t *testing.T) {
	t.Parallel()
	r := runRaw(t, 30*time.Second, nil, program(t, "pcap"), "sigpipe", t.TempDir())
	switch {
	case r.hung:
		t.Fatalf("capture into a pipe without a reader hung")
	case r.status.Signaled() && r.status.Signal() == syscall.SIGPIPE:
		t.Logf("the host died of SIGPIPE, as a write(2) of its own would make it")
	case r.status.Signaled():
		t.Fatalf("died by %v\n%s", r.status.Signal(), r.stderr)
	default:
		verdict(t, r, "pcap sigpipe")
		t.Logf("%s", strings.Join(r.lines, "\n"))
	}
}

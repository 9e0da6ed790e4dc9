package cabi_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libshmif/libshmif/core/pcap"
	"golang.org/x/sys/unix"
)

// shmif_capture writes the frames on a bus as a pcap file to a descriptor,
// oldest first, and shmif_inject puts a pcap file's frames on another bus:
// the frames arrive whole and in order, with their time stamps.
func TestCaptureAndInject(t *testing.T) {
	setup(t)
	dir := t.TempDir()
	busA := filepath.Join(dir, "a")
	a := open(t, busA)
	var sent [][]byte
	for k := range 20 {
		f := frame(broadcast, macOf(t, a), 60+k*70, "capture")
		send(t, a, f)
		sent = append(sent, f)
	}
	out, err := os.Create(filepath.Join(dir, "a.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	var frames, lost uint64 = 99, 99
	must(t, "shmif_capture", lib.shmif_capture(cstr(busA), int32(out.Fd()), 0, &frames, &lost))
	out.Close()
	recs, err := pcap.ReadFile(out.Name())
	if err != nil {
		t.Fatal(err)
	}
	if frames != 20 || lost != 0 || len(recs) != 20 {
		t.Fatalf("captured %d frames (%d records), lost %d", frames, len(recs), lost)
	}
	for k, r := range recs {
		if !bytes.Equal(r.Data, sent[k]) {
			t.Fatalf("record %d differs", k)
		}
	}
	// Inject into a new bus, and receive from its oldest frame.
	busB := filepath.Join(dir, "b")
	in, _ := os.Open(out.Name())
	defer in.Close()
	frames = 0
	must(t, "shmif_inject", lib.shmif_inject(cstr(busB), int32(in.Fd()), &frames))
	if frames != 20 {
		t.Fatalf("injected %d frames", frames)
	}
	var rx int32
	must(t, "shmif_create", lib.shmif_create(-1, &rx))
	destroyLater(t, rx)
	must(t, "shmif_set_start", lib.shmif_set_start(rx, 2))
	must(t, "shmif_set_linkstr", lib.shmif_set_linkstr(rx, cstr(busB)))
	must(t, "shmif_up", lib.shmif_up(rx))
	for _, f := range sent {
		mustRecv(t, rx, f)
	}
}

// A following capture gets the frames written while it runs, as they
// come, and none from before. When the call attaches and when its 600 ms
// end is not for the test to know (a loaded machine may start it late), so
// frames go out numbered every 10 ms until it returns: what it wrote must be
// a run of them without a gap, as many as it counted, none lost.
func TestCaptureFollowing(t *testing.T) {
	setup(t)
	dir := t.TempDir()
	bus := filepath.Join(dir, "bus")
	a := open(t, bus)
	send(t, a, frame(broadcast, macOf(t, a), 60, "before"))
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan []pcap.Record, 1)
	go func() {
		recs, _ := pcap.ReadAll(r)
		got <- recs
	}()
	done := make(chan int32, 1)
	var frames, lost uint64
	go func() { done <- lib.shmif_capture(cstr(bus), int32(w.Fd()), 600, &frames, &lost) }()
	sent := 0
	var rc int32
sending:
	for {
		select {
		case rc = <-done:
			break sending
		case <-time.After(10 * time.Millisecond):
			send(t, a, frame(broadcast, macOf(t, a), 100, fmt.Sprintf("during %05d ", sent)))
			sent++
		}
	}
	must(t, "shmif_capture(following)", rc)
	w.Close()
	recs := <-got
	t.Logf("following: %d of %d frames sent during the call captured", len(recs), sent)
	if frames != uint64(len(recs)) || lost != 0 || len(recs) == 0 {
		t.Fatalf("following: %d frames counted, %d records, lost %d", frames, len(recs), lost)
	}
	for k, rec := range recs {
		var seq int
		if _, err := fmt.Sscanf(string(rec.Data[minFrame:]), "during %d ", &seq); err != nil {
			t.Fatalf("record %d is not a frame sent during the call: %q", k, rec.Data[minFrame:])
		}
		if k > 0 {
			var prev int
			fmt.Sscanf(string(recs[k-1].Data[minFrame:]), "during %d ", &prev)
			if seq != prev+1 {
				t.Fatalf("record %d is frame %d after frame %d", k, seq, prev)
			}
		}
	}
}

// Errors: a descriptor that is not open, a negative follow time, a file
// that is not a bus, input that is not a pcap file, frames a bus cannot
// carry (nothing written); an empty bus file gives a pcap file without
// records.
func TestCaptureErrors(t *testing.T) {
	setup(t)
	dir := t.TempDir()
	bus := filepath.Join(dir, "bus")
	open(t, bus)
	check(t, "shmif_capture(fd -1)", lib.shmif_capture(cstr(bus), -1, 0, nil, nil), unix.EBADF)
	check(t, "shmif_capture(follow -1)", lib.shmif_capture(cstr(bus), 1, -1, nil, nil), unix.EINVAL)
	junk := filepath.Join(dir, "junk")
	os.WriteFile(junk, []byte("not a bus, not a pcap file"), 0o644)
	f, _ := os.Create(filepath.Join(dir, "out"))
	defer f.Close()
	check(t, "shmif_capture(junk)", lib.shmif_capture(cstr(junk), int32(f.Fd()), 0, nil, nil), unix.ENOEXEC)
	check(t, "shmif_capture(missing)", lib.shmif_capture(cstr(filepath.Join(dir, "nope")), int32(f.Fd()), 0, nil, nil), unix.ENOENT)
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o644)
	var n uint64 = 7
	must(t, "shmif_capture(empty file)", lib.shmif_capture(cstr(empty), int32(f.Fd()), 0, &n, nil))
	if n != 0 {
		t.Fatalf("empty bus: %d frames", n)
	}
	// Following needs an initialised bus: an empty file is not one yet.
	check(t, "shmif_capture(follow an empty file)", lib.shmif_capture(cstr(empty), int32(f.Fd()), 10, nil, nil), unix.ENOEXEC)
	long := strings.Repeat("x", 1024)
	check(t, "shmif_capture(a 1024-byte path)", lib.shmif_capture(cstr(long), int32(f.Fd()), 0, nil, nil), unix.E2BIG)
	check(t, "shmif_inject(a 1024-byte path)", lib.shmif_inject(cstr(long), int32(f.Fd()), nil), unix.E2BIG)
	j, _ := os.Open(junk)
	defer j.Close()
	check(t, "shmif_inject(junk)", lib.shmif_inject(cstr(bus), int32(j.Fd()), nil), unix.EINVAL)
	// A pcap file with a frame of 2000 bytes: nothing is written.
	var buf bytes.Buffer
	pw, _ := pcap.NewWriter(&buf, 65535)
	pw.Record(1, 2, make([]byte, 60))
	pw.Record(1, 2, make([]byte, 2000))
	pw.Flush()
	big := filepath.Join(dir, "big.pcap")
	os.WriteFile(big, buf.Bytes(), 0o644)
	before, _ := os.ReadFile(bus)
	bf, _ := os.Open(big)
	defer bf.Close()
	check(t, "shmif_inject(a 2000-byte frame)", lib.shmif_inject(cstr(bus), int32(bf.Fd()), nil), unix.EMSGSIZE)
	if after, _ := os.ReadFile(bus); !bytes.Equal(before, after) {
		t.Fatal("a refused injection changed the bus")
	}
}

// A following capture streams: the pcap header and each frame reach the
// descriptor as they come, not when the capture ends.
func TestCaptureFollowingStreams(t *testing.T) {
	setup(t)
	bus := filepath.Join(t.TempDir(), "bus")
	a := open(t, bus)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	done := make(chan int32, 1)
	go func() {
		done <- lib.shmif_capture(cstr(bus), int32(w.Fd()), 2500, nil, nil)
		w.Close()
	}()
	first := make(chan error, 1)
	go func() {
		pr, err := pcap.NewReader(r)
		if err == nil {
			_, err = pr.Next()
		}
		first <- err
	}()
	// The capture sees frames written once it has attached, which the
	// test cannot see: send until one comes through the pipe.
	timeout := time.After(2 * time.Second)
wait:
	for {
		send(t, a, frame(broadcast, macOf(t, a), 100, "streamed"))
		select {
		case err := <-first:
			if err != nil {
				t.Fatalf("reading the stream: %v", err)
			}
			break wait
		case rc := <-done:
			t.Fatalf("the capture ended (%s) before its first frame was read", errName(rc))
		case <-timeout:
			t.Fatal("the first frame did not come through the pipe while the capture ran")
		case <-time.After(50 * time.Millisecond):
		}
	}
	must(t, "shmif_capture", <-done)
}

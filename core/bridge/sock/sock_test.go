package sock_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/libshmif/libshmif/core/bridge/sock"
	"golang.org/x/sys/unix"
)

func frame(n int, seq byte) []byte {
	f := make([]byte, n)
	for i := range f {
		f[i] = seq + byte(i)
	}
	return f
}

func open(t *testing.T, url string) sock.Endpoint {
	t.Helper()
	e, err := sock.Open(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// readN reads n frames from e, failing after ten seconds.
func readN(t *testing.T, e sock.Endpoint, n int) [][]byte {
	t.Helper()
	type result struct {
		frames [][]byte
		err    error
	}
	done := make(chan result, 1)
	go func() {
		var got [][]byte
		bufs := make([][]byte, 16)
		for i := range bufs {
			bufs[i] = make([]byte, 1514)
		}
		lens := make([]int, 16)
		for len(got) < n {
			k, err := e.ReadFrames(bufs, lens)
			if err != nil {
				done <- result{got, err}
				return
			}
			for i := range k {
				got = append(got, append([]byte(nil), bufs[i][:min(lens[i], 1514)]...))
				if lens[i] > 1514 {
					got[len(got)-1] = make([]byte, lens[i]) // remember the length only
				}
			}
		}
		done <- result{got, nil}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatalf("after %d frames: %v", len(r.frames), r.err)
		}
		return r.frames
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out reading %d frames", n)
		return nil
	}
}

// dropped writes frames while no peer is there: none is written, all are
// counted as nopeer.
func dropped(t *testing.T, e sock.Endpoint, frames ...[]byte) {
	t.Helper()
	n, err := e.WriteFrames(frames)
	if err != nil || n != 0 {
		t.Fatalf("WriteFrames with no peer: %d, %v, want 0 written", n, err)
	}
}

func write(t *testing.T, e sock.Endpoint, frames ...[]byte) {
	t.Helper()
	n, err := e.WriteFrames(frames)
	if err != nil || n != len(frames) {
		t.Fatalf("WriteFrames: %d, %v", n, err)
	}
}

// lengthPrefixed encodes frames as a stream with 4-byte lengths.
func lengthPrefixed(frames ...[]byte) []byte {
	var b []byte
	for _, f := range frames {
		b = binary.BigEndian.AppendUint32(b, uint32(len(f)))
		b = append(b, f...)
	}
	return b
}

func readPrefixed(t *testing.T, c net.Conn) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var h [4]byte
	if _, err := io.ReadFull(c, h[:]); err != nil {
		t.Fatal(err)
	}
	f := make([]byte, binary.BigEndian.Uint32(h[:]))
	if _, err := io.ReadFull(c, f); err != nil {
		t.Fatal(err)
	}
	return f
}

// The stream framing against a peer that writes frames in pieces and
// several at once, and a frame over 1514 bytes reported whole.
func TestStreamConnect(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		accepted <- c
	}()
	e := open(t, "stream://unix:"+path)
	c := <-accepted
	defer c.Close()
	data := lengthPrefixed(frame(60, 1), frame(1514, 2), frame(2000, 3), frame(14, 4))
	go func() {
		for len(data) > 0 {
			n := min(len(data), 333)
			c.Write(data[:n])
			data = data[n:]
			time.Sleep(time.Millisecond)
		}
	}()
	got := readN(t, e, 4)
	if !bytes.Equal(got[0], frame(60, 1)) || !bytes.Equal(got[1], frame(1514, 2)) ||
		len(got[2]) != 2000 || !bytes.Equal(got[3], frame(14, 4)) {
		t.Fatal("frames differ")
	}
	write(t, e, frame(100, 5), frame(1514, 6))
	if f := readPrefixed(t, c); !bytes.Equal(f, frame(100, 5)) {
		t.Fatal("first frame written differs")
	}
	if f := readPrefixed(t, c); !bytes.Equal(f, frame(1514, 6)) {
		t.Fatal("second frame written differs")
	}
	// The peer leaves: the endpoint ends with io.EOF.
	c.Close()
	_, err = e.ReadFrames([][]byte{make([]byte, 1514)}, []int{0})
	if !errors.Is(err, io.EOF) {
		t.Fatalf("after the peer closed: %v", err)
	}
}

func TestStreamConnectRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nobody")
	_, err := sock.Open("stream://unix:" + path)
	if !errors.Is(err, unix.ENOENT) || !strings.Contains(err.Error(), path) {
		t.Fatalf("got %v", err)
	}
	_, err = sock.Open("stream://tcp:127.0.0.1:1")
	if !errors.Is(err, unix.ECONNREFUSED) {
		t.Fatalf("got %v", err)
	}
}

// A listener takes one peer at a time, turns others away, and takes the
// next peer when the first leaves; frames written while nobody is
// connected are counted and dropped.
func TestStreamListener(t *testing.T) {
	path := filepath.Join(t.TempDir(), "l")
	e := open(t, "stream://listen:unix:"+path)
	dropped(t, e, frame(60, 1)) // nobody there
	c1, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	c1.Write(lengthPrefixed(frame(60, 2)))
	if got := readN(t, e, 1); !bytes.Equal(got[0], frame(60, 2)) {
		t.Fatal("frame from the first peer differs")
	}
	c2, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	c2.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c2.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("second peer: %v, want it turned away", err)
	}
	write(t, e, frame(70, 3))
	if f := readPrefixed(t, c1); !bytes.Equal(f, frame(70, 3)) {
		t.Fatal("frame to the first peer differs")
	}
	c1.Close()
	c3, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	c3.Write(lengthPrefixed(frame(80, 4)))
	if got := readN(t, e, 1); !bytes.Equal(got[0], frame(80, 4)) {
		t.Fatal("frame from the third peer differs")
	}
	st := e.Stats()
	if st.Peers != 2 || st.Refused != 1 || st.NoPeer != 1 {
		t.Fatalf("stats: %v", st)
	}
	e.Close()
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket file left behind: %v", err)
	}
}

// A peer whose lengths make no sense is dropped, after the length is
// reported once as a frame too big (so that the bridge counts it); the
// listener goes on and counts the peer as out of step.
func TestStreamOutOfStep(t *testing.T) {
	path := filepath.Join(t.TempDir(), "l")
	e := open(t, "stream://listen:unix:"+path)
	c1, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	c1.Write(append(lengthPrefixed(frame(60, 1)), 0xff, 0xff, 0xff, 0xff, 1, 2, 3))
	c1.SetReadDeadline(time.Now().Add(10 * time.Second))
	reads := make(chan []int, 4)
	go func() {
		bufs := [][]byte{make([]byte, 1514), make([]byte, 1514)}
		for {
			lens := []int{0, 0}
			n, err := e.ReadFrames(bufs, lens)
			if err != nil {
				return
			}
			reads <- lens[:n]
		}
	}()
	if got := <-reads; len(got) != 1 || got[0] != 60 {
		t.Fatalf("first read: lengths %v, want the good frame alone", got)
	}
	if got := <-reads; len(got) != 1 || got[0] != 0xffffffff {
		t.Fatalf("second read: lengths %v, want the impossible length once", got)
	}
	if _, err := c1.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("peer out of step: %v, want it dropped", err)
	}
	if st := e.Stats(); st.Desync != 1 {
		t.Fatalf("stats: %v, want desync=1", st)
	}
}

func TestTCPListenerLoopbackOnly(t *testing.T) {
	_, err := sock.Open("stream://listen:tcp:0.0.0.0:0")
	if !errors.Is(err, syscall.EINVAL) || !strings.Contains(err.Error(), "/public") {
		t.Fatalf("got %v", err)
	}
	e := open(t, "stream://listen:tcp:0.0.0.0:0/public")
	e.Close()
	e = open(t, "stream://listen:tcp:127.0.0.1:0")
	e.Close()
}

func TestTCPListenerPortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	_, err = sock.Open("stream://listen:tcp:" + strconv.Itoa(port))
	if !errors.Is(err, unix.EADDRINUSE) {
		t.Fatalf("got %v", err)
	}
}

func TestTCPStream(t *testing.T) {
	l := open(t, "stream://listen:tcp:127.0.0.1:45617")
	c := open(t, "stream://tcp:127.0.0.1:45617")
	write(t, c, frame(60, 1))
	if got := readN(t, l, 1); !bytes.Equal(got[0], frame(60, 1)) {
		t.Fatal("frame differs")
	}
	write(t, l, frame(1514, 2))
	if got := readN(t, c, 1); !bytes.Equal(got[0], frame(1514, 2)) {
		t.Fatal("frame differs")
	}
}

// Socket files get exactly the mode asked for (0600 by default), whatever
// the umask.
func TestListenerSocketModes(t *testing.T) {
	dir := t.TempDir()
	old := unix.Umask(0)
	defer unix.Umask(old)
	for _, c := range []struct {
		umask int
		opt   string
		want  os.FileMode
	}{
		{0, "", 0o600},
		{0o077, "", 0o600},
		{0o022, "/mode=0660", 0o660},
		{0o077, "/mode=0666", 0o666},
		{0, "/mode=0640", 0o640},
	} {
		unix.Umask(c.umask)
		for _, scheme := range []string{"stream://listen:unix:", "seqpacket://listen:unix:", "dgram://listen:unix:"} {
			path := filepath.Join(dir, "s")
			e, err := sock.Open(scheme + path + c.opt)
			if err != nil {
				t.Fatal(err)
			}
			st, err := os.Lstat(path)
			e.Close()
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != c.want {
				t.Errorf("%s%s with umask %03o: mode %03o, want %03o", scheme, c.opt, c.umask, st.Mode().Perm(), c.want)
			}
		}
	}
}

// A socket file left by a process that died is replaced; one in use is
// not.
func TestStaleSocketReplaced(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s")
	fd, _ := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	unix.Close(fd) // bound, never listened: stale
	e := open(t, "stream://listen:unix:"+path)
	if _, err := sock.Open("stream://listen:unix:" + path); !errors.Is(err, unix.EADDRINUSE) {
		t.Fatalf("second listener: %v", err)
	}
	e.Close()
}

func TestSeqpacket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sp")
	l := open(t, "seqpacket://listen:unix:"+path)
	c := open(t, "seqpacket://unix:"+path)
	write(t, c, frame(60, 1), frame(1514, 2), frame(3000, 3))
	got := readN(t, l, 3)
	if !bytes.Equal(got[0], frame(60, 1)) || !bytes.Equal(got[1], frame(1514, 2)) || len(got[2]) != 3000 {
		t.Fatal("frames differ")
	}
	write(t, l, frame(100, 4))
	if got := readN(t, c, 1); !bytes.Equal(got[0], frame(100, 4)) {
		t.Fatal("frame differs")
	}
	// The listener's peer leaves: the client sees io.EOF once the
	// listener closes.
	l.Close()
	if _, err := c.ReadFrames([][]byte{make([]byte, 1514)}, []int{0}); !errors.Is(err, io.EOF) {
		t.Fatalf("got %v", err)
	}
}

func TestDgram(t *testing.T) {
	dir := t.TempDir()
	srv, cli := filepath.Join(dir, "srv"), filepath.Join(dir, "cli")
	l := open(t, "dgram://listen:unix:"+srv)
	dropped(t, l, frame(60, 0)) // nobody to send to yet
	c := open(t, "dgram://unix:"+cli+"->unix:"+srv)
	write(t, c, frame(60, 1), frame(1514, 2))
	got := readN(t, l, 2)
	if !bytes.Equal(got[0], frame(60, 1)) || !bytes.Equal(got[1], frame(1514, 2)) {
		t.Fatal("frames differ")
	}
	write(t, l, frame(100, 3))
	if got := readN(t, c, 1); !bytes.Equal(got[0], frame(100, 3)) {
		t.Fatal("frame differs")
	}
	// A client without a path of its own is answered too.
	a := open(t, "dgram://unix:"+srv)
	write(t, a, frame(70, 4))
	readN(t, l, 1)
	write(t, l, frame(80, 5))
	if got := readN(t, a, 1); !bytes.Equal(got[0], frame(80, 5)) {
		t.Fatal("frame to the anonymous client differs")
	}
	if st := l.Stats(); st.Peers != 2 || st.NoPeer != 1 {
		t.Fatalf("stats: %v", st)
	}
	// The listener goes away: sends are lost, not fatal.
	l.Close()
	write(t, c, frame(60, 6))
	if st := c.Stats(); st.Lost != 1 {
		t.Fatalf("stats: %v", st)
	}
}

func TestUDP(t *testing.T) {
	a := open(t, "udp://127.0.0.1:45711->127.0.0.1:45712")
	b := open(t, "udp://45712->127.0.0.1:45711")
	write(t, a, frame(60, 1), frame(1514, 2))
	got := readN(t, b, 2)
	if !bytes.Equal(got[0], frame(60, 1)) || !bytes.Equal(got[1], frame(1514, 2)) {
		t.Fatal("frames differ")
	}
	write(t, b, frame(2000, 3))
	if got := readN(t, a, 1); len(got[0]) != 2000 {
		t.Fatalf("frame of %d bytes", len(got[0]))
	}
	// Datagrams from anyone else are not taken.
	x, err := net.Dial("udp", "127.0.0.1:45712")
	if err != nil {
		t.Fatal(err)
	}
	x.Write(frame(60, 9))
	x.Close()
	write(t, a, frame(61, 4))
	if got := readN(t, b, 1); !bytes.Equal(got[0], frame(61, 4)) {
		t.Fatal("a foreign datagram was taken")
	}
	// No one at the other end: lost, not fatal.
	b.Close()
	for range 3 {
		write(t, a, frame(60, 5))
		time.Sleep(10 * time.Millisecond)
	}
}

func TestUDPPortInUse(t *testing.T) {
	open(t, "udp://45721->127.0.0.1:45722")
	_, err := sock.Open("udp://45721->127.0.0.1:45723")
	if !errors.Is(err, unix.EADDRINUSE) {
		t.Fatalf("got %v", err)
	}
}

func TestBadURLs(t *testing.T) {
	for _, u := range []string{
		"udp://45000", "udp://x->127.0.0.1:1", "udp://1->127.0.0.1", "udp://1->[::1]:1/ttl=0",
		"udp://1->127.0.0.1:1/bogus=1",
		"stream://", "stream://unix:", "stream://foo", "stream://tcp:1.2.3.4", "stream://unix:/x/mode=0600",
		"stream://listen:tcp:1/mode=0600", "stream://listen:unix:/x/public", "stream://listen:unix:/x/mode=999",
		"seqpacket://tcp:127.0.0.1:1", "dgram://tcp:127.0.0.1:1", "dgram://unix:/x/mode=0600",
		"nothing://x",
	} {
		_, err := sock.Open(u)
		if !errors.Is(err, unix.EINVAL) {
			t.Errorf("%s: got %v, want EINVAL", u, err)
		}
	}
}

// Close ends a blocked ReadFrames with net.ErrClosed.
func TestCloseEndsRead(t *testing.T) {
	dir := t.TempDir()
	for _, u := range []string{
		"stream://listen:unix:" + filepath.Join(dir, "a"),
		"seqpacket://listen:unix:" + filepath.Join(dir, "b"),
		"dgram://listen:unix:" + filepath.Join(dir, "c"),
		"udp://45731->127.0.0.1:45732",
	} {
		e, err := sock.Open(u)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := e.ReadFrames([][]byte{make([]byte, 1514)}, []int{0})
			done <- err
		}()
		time.Sleep(10 * time.Millisecond)
		e.Close()
		select {
		case err := <-done:
			if !errors.Is(err, net.ErrClosed) {
				t.Errorf("%s: %v", u, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: Close did not end ReadFrames", u)
		}
	}
}

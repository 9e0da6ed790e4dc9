package impair

import (
	"bufio"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// maxLine bounds a control command; a longer line gets an error and the
// connection is closed.
const maxLine = 4096

const helpText = `commands (DIR is LR, RL or both; without it, both):
help                       this text
show [DIR]                 the seed and the settings, as words for set
set [DIR] WORDS...         change settings; LR, RL, both inside WORDS switch direction
flap [DIR] down|up         take the link down or up now
flap [DIR] PERIOD DUTY     flap on a schedule: up for DUTY of each PERIOD, then down
flap [DIR] off             no schedule, link up
counters [DIR] [reset]     counters as frames/bytes; reset zeroes them after showing
quit                       close the connection
replies: lines of data, then "ok"; or one line "error: ..." and nothing changed
setting words:
loss P [C] | loss random P [C] | loss gemodel p [r [1-h [1-k]]] | lostburst L
delay TIME [JITTER [C]] | distribution uniform|normal|pareto|paretonormal
duplicate P [C] | corrupt P [C] | noise BITS_PER_MIB | reorder P [C] | gap N
rate RATE [OVERHEAD] | limit FRAMES | mtu BYTES | down | up
flap PERIOD DUTY | flap off | none
`

// Command runs one control command line and returns its reply: lines of
// data followed by "ok", or a single line "error: ..." in which case
// nothing was changed. A blank line gets an empty reply. See the package
// comment for the commands.
func (s *Stage) Command(line string) string {
	words := strings.Fields(line)
	if len(words) == 0 {
		return ""
	}
	var b strings.Builder
	if err := s.command(&b, words); err != nil {
		return "error: " + strings.ReplaceAll(err.Error(), "\n", " ") + "\n"
	}
	b.WriteString("ok\n")
	return b.String()
}

func (s *Stage) command(b *strings.Builder, words []string) error {
	verb, args := strings.ToLower(words[0]), words[1:]
	dir := Both
	if len(args) > 0 && verb != "set" {
		if d, err := ParseDir(args[0]); err == nil {
			dir, args = d, args[1:]
		}
	}
	switch verb {
	case "help":
		if len(words) > 1 {
			return errorf("help takes no arguments")
		}
		b.WriteString(helpText)
	case "quit":
		if len(words) > 1 {
			return errorf("quit takes no arguments")
		}
	case "show":
		if len(args) > 0 {
			return errorf("show: unexpected %q (show [DIR])", args[0])
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		b.WriteString("seed " + strconv.FormatUint(s.seed, 10) + "\n")
		for _, d := range dir.dirs() {
			b.WriteString(d.String() + " " + s.dec[d.index()].Settings().String() + "\n")
		}
	case "set":
		if len(args) == 0 {
			return errorf("set: no settings (try help)")
		}
		return s.Apply(args)
	case "flap":
		if len(args) == 0 {
			return errorf("flap: down, up, off or PERIOD DUTY")
		}
		w := []string{dir.String()}
		switch strings.ToLower(args[0]) {
		case "down", "up":
			if len(args) > 1 {
				return errorf("flap %s: unexpected %q", args[0], args[1])
			}
			w = append(w, args[0])
		case "off":
			if len(args) > 1 {
				return errorf("flap off: unexpected %q", args[1])
			}
			w = append(w, "up", "flap", "off")
		default:
			if len(args) != 2 {
				return errorf("flap: down, up, off or PERIOD DUTY")
			}
			w = append(w, "flap", args[0], args[1])
		}
		return s.Apply(w)
	case "counters":
		reset := false
		if len(args) > 0 && strings.EqualFold(args[0], "reset") {
			reset, args = true, args[1:]
			if len(args) > 0 && dir == Both { // "counters reset LR" reads well too
				if d, err := ParseDir(args[0]); err == nil {
					dir, args = d, args[1:]
				}
			}
		}
		if len(args) > 0 {
			return errorf("counters: unexpected %q (counters [DIR] [reset])", args[0])
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, d := range dir.dirs() {
			writeCounters(b, d, s.counters(d))
		}
		if reset {
			s.resetCounters(dir)
		}
	default:
		return errorf("unknown command %q (try help)", words[0])
	}
	return nil
}

func writeCounters(b *strings.Builder, d Dir, c Counters) {
	b.WriteString(d.String())
	for _, f := range []struct {
		name string
		c    Count
	}{
		{"in", c.In}, {"out", c.Out}, {"queued", c.Queued}, {"lost", c.Lost},
		{"duplicated", c.Duplicated}, {"corrupted", c.Corrupted},
		{"reordered", c.Reordered}, {"delayed", c.Delayed},
		{"limit", c.DroppedLimit}, {"mtu", c.DroppedMTU},
		{"down", c.DroppedDown}, {"closed", c.DroppedClose},
	} {
		b.WriteString(" " + f.name + "=" + strconv.FormatUint(f.c.Frames, 10) +
			"/" + strconv.FormatUint(f.c.Bytes, 10))
	}
	b.WriteByte('\n')
}

// ServeControl answers control connections accepted on l, one command
// per line, until Close (then it returns nil) or until Accept fails
// (then it returns that error). The stage closes l and the connections
// when it closes.
func (s *Stage) ServeControl(l net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		l.Close()
		return unix.EBADF
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	var backoff time.Duration
	for {
		c, err := l.Accept()
		if err != nil && temporaryAccept(err) {
			// Out of descriptors or memory for a while: wait and
			// accept again, as net/http does, rather than stop
			// answering for good.
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if !closed {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
		}
		backoff = 0
		s.mu.Lock()
		if err != nil || s.closed {
			delete(s.listeners, l)
			closed := s.closed
			s.mu.Unlock()
			if c != nil {
				c.Close()
			}
			if closed {
				return nil
			}
			return err
		}
		s.conns[c] = struct{}{}
		s.handlers.Add(1)
		s.mu.Unlock()
		go s.serveConn(c)
	}
}

func (s *Stage) serveConn(c net.Conn) {
	defer s.handlers.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	r := bufio.NewReaderSize(c, maxLine)
	for {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			io.WriteString(c, "error: line longer than "+strconv.Itoa(maxLine)+" bytes\n")
			return
		}
		if len(line) > 0 {
			text := string(line)
			if _, werr := io.WriteString(c, s.Command(text)); werr != nil {
				return
			}
			if f := strings.Fields(text); len(f) == 1 && strings.EqualFold(f[0], "quit") {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// temporaryAccept reports the errors of accept(2) that pass: the process
// or the system is out of descriptors or memory, or a connection was
// aborted before it was accepted.
func temporaryAccept(err error) bool {
	for _, e := range []error{unix.EMFILE, unix.ENFILE, unix.ENOBUFS, unix.ENOMEM, unix.ECONNABORTED, unix.EINTR} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// ListenControl makes a unix stream socket at path whose permission is
// exactly perm (0600 is the usual choice), whatever the umask, and without
// changing the umask: it binds inside a private directory created next to
// path, sets the mode there, then links the socket into place. An existing
// file at path is an error (EADDRINUSE), as for bind(2), unless it is a
// socket no process listens on any more (its server was killed), which is
// replaced. Closing the listener removes path if it is still this socket.
func ListenControl(path string, perm fs.FileMode) (net.Listener, error) {
	if perm&^fs.ModePerm != 0 {
		return nil, unix.EINVAL
	}
	if fi, err := os.Lstat(path); err == nil {
		// A socket nobody listens on any more (its server was
		// killed) is replaced, as stream://listen: endpoints do;
		// anything else at path is in use.
		if fi.Mode().Type() != fs.ModeSocket || !stale(path) {
			return nil, unix.EADDRINUSE
		}
		os.Remove(path)
	}
	dir, err := os.MkdirTemp(filepath.Dir(path), ".impair-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	tmp := filepath.Join(dir, "s")
	if len(tmp) >= len(unix.RawSockaddrUnix{}.Path) {
		return nil, unix.ENAMETOOLONG
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, err
	}
	l.SetUnlinkOnClose(false)
	// chmod, unlike bind, ignores the umask; nobody can reach the socket
	// before it has its mode, since the directory is ours alone.
	var st unix.Stat_t
	if err = os.Chmod(tmp, perm); err == nil {
		err = unix.Link(tmp, path)
		if err == unix.EEXIST {
			err = unix.EADDRINUSE
		}
	}
	if err == nil {
		err = unix.Lstat(path, &st)
	}
	if err != nil {
		l.Close()
		return nil, err
	}
	return &controlListener{UnixListener: l, path: path, dev: uint64(st.Dev), ino: uint64(st.Ino)}, nil
}

// stale reports whether the unix socket at path refuses connections: no
// process listens on it.
func stale(path string) bool {
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return false
	}
	return errors.Is(err, unix.ECONNREFUSED)
}

// controlListener reports and removes the public path of the socket, not
// the name it was bound to.
type controlListener struct {
	*net.UnixListener
	path     string
	dev, ino uint64
}

func (l *controlListener) Addr() net.Addr { return &net.UnixAddr{Name: l.path, Net: "unix"} }

func (l *controlListener) Close() error {
	var st unix.Stat_t
	if unix.Lstat(l.path, &st) == nil && uint64(st.Dev) == l.dev && uint64(st.Ino) == l.ino {
		os.Remove(l.path)
	}
	return l.UnixListener.Close()
}

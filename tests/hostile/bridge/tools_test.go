package hostile_test

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// run runs a tool and returns its exit code (-1 when killed), stdout and
// stderr; it fails the test when the tool runs longer than limit or dies of
// a signal (a crash).
func run(t *testing.T, limit time.Duration, setup func(*exec.Cmd), name string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if setup != nil {
		setup(cmd)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(limit):
		cmd.Process.Kill()
		<-done
		t.Errorf("%s %s: still running after %v", filepath.Base(name), trunc(strings.Join(args, " "), 100), limit)
		return -1, out.String(), errb.String()
	}
	ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		t.Errorf("%s %s: killed by %v\n%s", filepath.Base(name), trunc(strings.Join(args, " "), 100), ws.Signal(), trunc(errb.String(), 2000))
		return -1, out.String(), errb.String()
	}
	if strings.Contains(errb.String(), "goroutine ") && strings.Contains(errb.String(), "panic") {
		t.Errorf("%s %s: panicked:\n%s", filepath.Base(name), trunc(strings.Join(args, " "), 100), trunc(errb.String(), 2000))
	}
	return ws.ExitStatus(), out.String(), errb.String()
}

// busWithFrames makes a bus file holding n test frames of stream 50.
func busWithFrames(t *testing.T, dir, name string, n int) string {
	t.Helper()
	p := filepath.Join(dir, name)
	ifc := attach(t, p)
	for i := 1; i <= n; i++ {
		if err := ifc.Send(makeFrame(50, uint64(i), 60+i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := ifc.Destroy(); err != nil {
		t.Fatal(err)
	}
	return p
}

func sameFile(t *testing.T, what string, before busState, path string, checkMtime bool) {
	t.Helper()
	after := snapshotFile(t, path)
	if !bytes.Equal(before.data, after.data) {
		n := 0
		for i := range before.data {
			if i < len(after.data) && before.data[i] != after.data[i] {
				n++
			}
		}
		t.Errorf("%s changed the bus file: %d bytes differ (size %d -> %d)", what, n, before.size, after.size)
	}
	if checkMtime && !before.mtime.Equal(after.mtime) {
		t.Errorf("%s changed the bus file's mtime", what)
	}
}

// TestCtlWaitHostileArguments: malformed cursors, filters, timeouts and
// counts make shmifctl wait exit 2 with a message ("2 wrong arguments (a
// malformed filter, cursor, timeout or count included)", shmifctl(1)),
// never crash or hang, and leave the bus as it was.
func TestCtlWaitHostileArguments(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bus := busWithFrames(t, dir, "bus", 10)
	other := busWithFrames(t, dir, "other", 3)
	before := snapshotFile(t, bus)
	good := "v1,gen=0,off=0x0,seq=0,ts=0.000000,len=0,sender=0x0,numbered=0"
	cursors := []string{
		"yesterday", "v1", "v2,gen=0,off=0x0,seq=0,ts=0.000000,len=0,sender=0x0,numbered=0",
		"v1,gen=-1,off=0x0,seq=0,ts=0.000000,len=0,sender=0x0,numbered=0",
		"v1,off=0x0,gen=0,seq=0,ts=0.000000,len=0,sender=0x0,numbered=0",
		"v1,gen=0,off=0xffffffff,seq=0,ts=0.000000,len=0,sender=0x0,numbered=0",
		"v1,gen=0,off=0x100000,seq=0,ts=0.000000,len=0,sender=0x0,numbered=0",
		"v1,gen=0,off=0x0,seq=0,ts=0.000000,len=99999,sender=0x0,numbered=0",
		"v1,gen=0,off=0x0,seq=0,ts=0.000000,len=0,sender=0x0,numbered=2",
		"v1,gen=0,off=0x0,seq=0,ts=x,len=0,sender=0x0,numbered=0",
		"v1,gen=99999999999999999999999,off=0x0,seq=0,ts=0.000000,len=0,sender=0x0,numbered=0",
		good + ",extra=1",
		good + "," + strings.Repeat("x", 100000),
		strings.Repeat("v1,", 30000),
		"v1,gen=0,off=0x0,seq=0,ts=0.000000,len=0,sender=0x0,numbered=0\nv1",
		"v1,gen=０,off=0x0,seq=0,ts=0.000000,len=0,sender=0x0,numbered=0",
	}
	for _, c := range cursors {
		code, _, errs := run(t, 10*time.Second, nil, ctlBin, "wait", "-s", c, "-t", "0", bus)
		if code != 2 || !strings.Contains(errs, "bad cursor") {
			t.Errorf("wait -s %q: exit %d, stderr %q; want 2 and \"bad cursor\"", trunc(c, 60), code, trunc(errs, 200))
		}
	}
	for _, c := range []string{"", "  " + good + "\n"} {
		code, _, errs := run(t, 10*time.Second, nil, ctlBin, "wait", "-s", c, "-t", "0", "-n", "10", bus)
		if code != 0 {
			t.Errorf("wait -s %q -n 10 (start of the bus): exit %d: %s", c, code, errs)
		}
	}
	// A cursor of another bus: a warning, then every frame on this bus.
	code, out, _ := run(t, 10*time.Second, nil, ctlBin, "show", other)
	var otherCursor string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "cursor ") {
			otherCursor = strings.TrimPrefix(l, "cursor ")
		}
	}
	if code != 0 || otherCursor == "" {
		t.Fatalf("show other: %d %q", code, out)
	}
	code, out, errs := run(t, 10*time.Second, nil, ctlBin, "wait", "-s", otherCursor, "-t", "0", "-n", "10", bus)
	t.Logf("a cursor of another bus: exit %d, stderr %q", code, strings.TrimSpace(errs))
	if code != 0 || strings.Count(out, "\n") != 10 || errs == "" {
		t.Errorf("wait -s <cursor of another bus> -n 10: exit %d, %d lines, stderr %q; want 0, the 10 frames and a warning",
			code, strings.Count(out, "\n"), errs)
	}

	filters := [][]string{
		{"port", "65536"}, {"vlan", "4096"}, {"ether", "host", "1:2:3:4:5:6:7"}, {"host", "999.1.1.1"},
		{"net", "10.0.0.0/33"}, {"proto", "256"}, {"0x10000"}, {"arp", "and", "or", "icmp"},
		{"arp", "and", "icmp", "or", "udp"}, {"(arp"}, {"arp)"}, {"(", ")"}, {"not"}, {"!"},
		{"ether", "proto", "70000"}, {"src"}, {"port", "-1"}, {"http"}, {"\xff\xfe"},
		{strings.Repeat("(", 40000) + "arp"}, {strings.Repeat("x", 120000)},
		{"ip", "host", "fe80::1%eth0%eth1"}, {"ether", "src", "ff:ff:ff:ff:ff:ff:ff"},
	}
	for _, f := range filters {
		args := append([]string{"wait", "-t", "0", "-a", bus, "--"}, f...)
		code, _, errs := run(t, 10*time.Second, nil, ctlBin, args...)
		if code != 2 || !strings.Contains(errs, "bad filter") {
			t.Errorf("wait filter %q: exit %d, stderr %q; want 2 and \"bad filter\"", trunc(strings.Join(f, " "), 60), code, trunc(errs, 200))
		}
	}
	// Deep but well-formed filters: any answer, but no crash or hang.
	deep := [][]string{
		{strings.Repeat("(", 40000) + "arp" + strings.Repeat(")", 40000)},
		{strings.Repeat("not ", 30000) + "arp"},
		{strings.Repeat("! ", 60000) + "arp"},
		{strings.TrimSuffix(strings.Repeat("arp or ", 18000), " or ")},
	}
	for _, f := range deep {
		start := time.Now()
		code, _, errs := run(t, 20*time.Second, nil, ctlBin, append([]string{"wait", "-t", "0", "-a", bus}, f...)...)
		t.Logf("deep filter %q...: exit %d in %v %s", trunc(f[0], 20), code, time.Since(start).Round(time.Millisecond), trunc(strings.TrimSpace(errs), 100))
	}

	options := [][]string{
		{"-t", "-1"}, {"-t", "abc"}, {"-t", "1e400"}, {"-t", "NaN"}, {"-t", "5parsecs"},
		{"-n", "0"}, {"-n", "-1"}, {"-n", "1e3"}, {"-n", "99999999999999999999"}, {"-n", "x"},
		{"-a", "-s", good}, {"-s"}, {"-t"}, {"-Z"},
	}
	for _, o := range options {
		args := append(append([]string{"wait"}, o...), bus)
		code, _, errs := run(t, 10*time.Second, nil, ctlBin, args...)
		if code != 2 {
			t.Errorf("wait %q: exit %d, stderr %q; want 2", o, code, trunc(errs, 200))
		}
	}
	sameFile(t, "shmifctl wait with hostile arguments", before, bus, false)
	dumpOK(t, bus)
}

// TestDumpbusHostileCursors: shmif_dumpbus -s with garbage or a huge
// cursor exits non-zero and writes nothing; -C into a place that cannot
// take a file fails cleanly, leaving no temporary file and the bus as it
// was.
func TestDumpbusHostileCursors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bus := busWithFrames(t, dir, "bus", 5)
	before := snapshotFile(t, bus)
	for _, c := range []string{"yesterday", strings.Repeat("v1,gen=0,", 12000), "v1,gen=0,off=0x0,seq=0,ts=0.000000,len=0,sender=0x0,numbered=0,x"} {
		cur := filepath.Join(dir, "cur")
		code, _, errs := run(t, 10*time.Second, nil, dumpBin, "-s", c, "-C", cur, bus)
		if code == 0 || !strings.Contains(errs, "bad cursor") {
			t.Errorf("dumpbus -s %q: exit %d, %q", trunc(c, 40), code, trunc(errs, 200))
		}
		if _, err := os.Stat(cur); err == nil {
			t.Errorf("dumpbus -s %q wrote a cursor file", trunc(c, 40))
		}
	}
	// -C where no file can go.
	sub := filepath.Join(dir, "sub")
	os.Mkdir(sub, 0o755)
	for _, target := range []string{sub, filepath.Join(dir, "missing", "cur"), bus + "/cur"} {
		code, _, errs := run(t, 10*time.Second, nil, dumpBin, "-C", target, bus)
		if code == 0 {
			t.Errorf("dumpbus -C %s: exit 0", target)
		}
		t.Logf("dumpbus -C %s: exit %d: %s", target, code, strings.TrimSpace(lastLine(errs)))
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.Name() != "bus" && e.Name() != "sub" {
			t.Errorf("left behind: %s", e.Name())
		}
	}
	if ents, _ := os.ReadDir(sub); len(ents) != 0 {
		t.Errorf("left behind in the directory given to -C: %v", ents)
	}
	// -C over an existing cursor file that is huge or garbage: replaced whole.
	cur := filepath.Join(dir, "cur2")
	os.WriteFile(cur, bytes.Repeat([]byte{0xff, 0}, 1<<20), 0o644)
	code, _, errs := run(t, 10*time.Second, nil, dumpBin, "-C", cur, bus)
	b, _ := os.ReadFile(cur)
	if code != 0 || !bytes.HasPrefix(b, []byte("v1,")) || len(b) > 200 {
		t.Errorf("dumpbus -C over a 2 MiB garbage file: exit %d (%s), file now %d bytes", code, errs, len(b))
	}
	// The cursor it wrote works.
	code, out, _ := run(t, 10*time.Second, nil, dumpBin, "-s", strings.TrimSpace(string(b)), bus)
	if code != 0 || strings.Contains(out, "packet ") {
		t.Errorf("dump since the newest record: exit %d, %q", code, out)
	}
	sameFile(t, "shmif_dumpbus with hostile cursors", before, bus, false)
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// pcap builds a classic pcap file: header, then records.
type pcapRec struct {
	incl, orig uint32
	data       []byte
	sec, usec  uint32
}

func pcapFile(magic uint32, linktype uint32, major, minor uint16, recs ...pcapRec) []byte {
	b := make([]byte, 24)
	binary.LittleEndian.PutUint32(b, magic)
	binary.LittleEndian.PutUint16(b[4:], major)
	binary.LittleEndian.PutUint16(b[6:], minor)
	binary.LittleEndian.PutUint32(b[16:], 65535)
	binary.LittleEndian.PutUint32(b[20:], linktype)
	for _, r := range recs {
		h := make([]byte, 16)
		binary.LittleEndian.PutUint32(h, r.sec)
		binary.LittleEndian.PutUint32(h[4:], r.usec)
		binary.LittleEndian.PutUint32(h[8:], r.incl)
		binary.LittleEndian.PutUint32(h[12:], r.orig)
		b = append(b, h...)
		b = append(b, r.data...)
	}
	return b
}

func rec(f []byte) pcapRec {
	return pcapRec{uint32(len(f)), uint32(len(f)), f, 1, 2}
}

// pcapng blocks.
func ngBlock(typ uint32, body []byte, lenFix int) []byte {
	for len(body)%4 != 0 {
		body = append(body, 0)
	}
	n := uint32(12 + len(body) + lenFix)
	b := make([]byte, 8)
	binary.LittleEndian.PutUint32(b, typ)
	binary.LittleEndian.PutUint32(b[4:], n)
	b = append(b, body...)
	t := make([]byte, 4)
	binary.LittleEndian.PutUint32(t, n)
	return append(b, t...)
}

func ngSHB() []byte {
	body := make([]byte, 16)
	binary.LittleEndian.PutUint32(body, 0x1a2b3c4d)
	binary.LittleEndian.PutUint16(body[4:], 1)
	binary.LittleEndian.PutUint64(body[8:], ^uint64(0))
	return ngBlock(0x0a0d0d0a, body, 0)
}

func ngIDB(linktype uint16) []byte {
	body := make([]byte, 8)
	binary.LittleEndian.PutUint16(body, linktype)
	binary.LittleEndian.PutUint32(body[4:], 65535)
	return ngBlock(1, body, 0)
}

func ngEPB(iface uint32, caplen, origlen uint32, data []byte) []byte {
	body := make([]byte, 20)
	binary.LittleEndian.PutUint32(body, iface)
	binary.LittleEndian.PutUint32(body[12:], caplen)
	binary.LittleEndian.PutUint32(body[16:], origlen)
	return ngBlock(6, append(body, data...), 0)
}

// TestPcapinHostileFiles: shmif_pcapin refuses damaged and unacceptable
// capture files and writes nothing ("the file is read and checked
// completely before anything is written ... leaving the bus unchanged",
// shmif_pcapin(1)); bytes and mtime of the bus are compared.
func TestPcapinHostileFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bus := busWithFrames(t, dir, "bus", 5)
	f60 := makeFrame(51, 1, 60)
	good := pcapFile(0xa1b2c3d4, 1, 2, 4, rec(f60), rec(makeFrame(51, 2, 1514)))
	cases := map[string][]byte{
		"empty":                   {},
		"ten bytes":               good[:10],
		"bad magic":               pcapFile(0xdeadbeef, 1, 2, 4, rec(f60)),
		"linktype raw":            pcapFile(0xa1b2c3d4, 101, 2, 4, rec(f60)),
		"linktype 802.11":         pcapFile(0xa1b2c3d4, 105, 2, 4, rec(f60)),
		"version 9.9":             pcapFile(0xa1b2c3d4, 1, 9, 9, rec(f60)),
		"record of 13":            pcapFile(0xa1b2c3d4, 1, 2, 4, rec(f60), rec(make([]byte, 13))),
		"record of 0":             pcapFile(0xa1b2c3d4, 1, 2, 4, rec(f60), rec(nil)),
		"record of 1515":          pcapFile(0xa1b2c3d4, 1, 2, 4, rec(f60), rec(makeFrame(51, 3, 1515))),
		"record of 65535":         pcapFile(0xa1b2c3d4, 1, 2, 4, rec(f60), rec(make([]byte, 65535))),
		"incl 0xffffffff":         pcapFile(0xa1b2c3d4, 1, 2, 4, rec(f60), pcapRec{0xffffffff, 0xffffffff, f60, 1, 1}),
		"captured in part":        pcapFile(0xa1b2c3d4, 1, 2, 4, rec(f60), pcapRec{60, 100, f60, 1, 1}),
		"truncated record":        pcapFile(0xa1b2c3d4, 1, 2, 4, rec(f60), pcapRec{60, 60, f60[:30], 1, 1}),
		"truncated header":        append(pcapFile(0xa1b2c3d4, 1, 2, 4, rec(f60)), 1, 2, 3, 4, 5, 6, 7, 8),
		"fifth record too big":    pcapFile(0xa1b2c3d4, 1, 2, 4, rec(f60), rec(f60), rec(f60), rec(f60), rec(make([]byte, 1600))),
		"ng: empty section":       ngSHB()[:20],
		"ng: no interface":        append(ngSHB(), ngEPB(0, 60, 60, f60)...),
		"ng: interface 5":         append(append(ngSHB(), ngIDB(1)...), ngEPB(5, 60, 60, f60)...),
		"ng: linktype 105":        append(append(ngSHB(), ngIDB(105)...), ngEPB(0, 60, 60, f60)...),
		"ng: caplen over block":   append(append(ngSHB(), ngIDB(1)...), ngEPB(0, 6000, 6000, f60)...),
		"ng: captured in part":    append(append(ngSHB(), ngIDB(1)...), ngEPB(0, 60, 100, f60)...),
		"ng: 1515-byte frame":     append(append(ngSHB(), ngIDB(1)...), ngEPB(0, 1515, 1515, makeFrame(51, 4, 1515))...),
		"ng: block length lies":   append(append(ngSHB(), ngIDB(1)...), ngBlock(6, make([]byte, 80), 4)...),
		"ng: block length huge":   append(append(ngSHB(), ngIDB(1)...), 6, 0, 0, 0, 0xf0, 0xff, 0xff, 0xff, 0, 0, 0, 0),
		"ng: block length odd":    append(append(ngSHB(), ngIDB(1)...), ngBlock(6, make([]byte, 80), 1)...),
		"ng: good then a bad one": append(append(append(ngSHB(), ngIDB(1)...), ngEPB(0, 60, 60, f60)...), ngEPB(0, 13, 13, make([]byte, 13))...),
	}
	for name, data := range cases {
		pf := filepath.Join(dir, "in.pcap")
		os.WriteFile(pf, data, 0o644)
		before := snapshotFile(t, bus)
		time.Sleep(2 * time.Millisecond) // an mtime change would show
		code, _, errs := run(t, 10*time.Second, nil, pcapinBin, pf, bus)
		if code == 0 {
			t.Errorf("pcapin %s: accepted", name)
		} else if strings.TrimSpace(errs) == "" {
			t.Errorf("pcapin %s: exit %d without a message", name, code)
		}
		sameFile(t, "pcapin "+name, before, bus, true)
		// A bus that does not exist yet is not created by a refusal.
		nb := filepath.Join(dir, "new-bus")
		run(t, 10*time.Second, nil, pcapinBin, pf, nb)
		if _, err := os.Stat(nb); err == nil {
			t.Errorf("pcapin %s: refused, but created the bus file", name)
			os.Remove(nb)
		}
	}
	// The good file goes in.
	pf := filepath.Join(dir, "good.pcap")
	os.WriteFile(pf, good, 0o644)
	if code, _, errs := run(t, 10*time.Second, nil, pcapinBin, pf, bus); code != 0 {
		t.Errorf("pcapin good: %d %s", code, errs)
	}
	if n := dumpOK(t, bus); n != 7 {
		t.Errorf("after the good file the bus lists %d frames, want 7", n)
	}
	// Oddities the man page does not call damage: recorded only.
	for name, data := range map[string][]byte{
		"caplen over the original length": pcapFile(0xa1b2c3d4, 1, 2, 4, pcapRec{60, 50, f60, 1, 1}),
		"microseconds over a second":      pcapFile(0xa1b2c3d4, 1, 2, 4, pcapRec{60, 60, f60, 1, 2000000}),
		"nanoseconds over a second":       pcapFile(0xa1b23c4d, 1, 2, 4, pcapRec{60, 60, f60, 1, 2000000000}),
	} {
		os.WriteFile(pf, data, 0o644)
		code, _, errs := run(t, 10*time.Second, nil, pcapinBin, pf, filepath.Join(dir, "scratch"))
		t.Logf("pcapin, a record with %s: exit %d %s", name, code, strings.TrimSpace(lastLine(errs)))
	}
}

// TestReadOnlyToolsDoNotWrite: tools that only read never write a bus
// ("Dumping and following never create, resize or write to a file (the
// lock word excepted, while the copy is taken)", README; "wait ... never
// creates or changes one", shmifctl(1)). As a user without write
// permission every reading tool leaves bytes and mtime alone; tools that
// need write permission (wait, dump -f) fail without writing. As root the
// bytes stay the same.
func TestReadOnlyToolsDoNotWrite(t *testing.T) {
	t.Parallel()
	needRoot(t)
	dir, err := os.MkdirTemp("", "shmif-hostile-ro")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o777)
	bus := busWithFrames(t, dir, "bus", 8)
	os.Chmod(bus, 0o444)
	code, out, _ := run(t, 10*time.Second, nil, ctlBin, "show", bus)
	var cursor string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "cursor ") {
			cursor = strings.TrimPrefix(l, "cursor ")
		}
	}
	if code != 0 || cursor == "" {
		t.Fatalf("show: %d %q", code, out)
	}
	nobody := func(c *exec.Cmd) {
		c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		c.Dir = dir
	}
	type tc struct {
		name    string
		args    []string
		canFail bool // needs write permission
	}
	cases := []tc{
		{"shmif_dumpbus", []string{dumpBin, bus}, false},
		{"shmif_dumpbus -h", []string{dumpBin, "-h", bus}, false},
		{"shmif_dumpbus -p", []string{dumpBin, "-p", filepath.Join(dir, "out.pcap"), bus}, false},
		{"shmif_dumpbus -s", []string{dumpBin, "-s", cursor, "-C", filepath.Join(dir, "cur"), bus}, false},
		{"shmifctl show", []string{ctlBin, "show", bus}, false},
		{"shmifctl wait", []string{ctlBin, "wait", "-a", "-t", "0.2", bus}, true},
		{"shmif_dumpbus -f", []string{dumpBin, "-f", bus}, true},
		{"shmifctl empty", []string{ctlBin, "empty", bus}, true},
		{"shmif_pcapin", []string{pcapinBin, "/dev/null", bus}, true},
	}
	for _, c := range cases {
		before := snapshotFile(t, bus)
		time.Sleep(2 * time.Millisecond)
		code, _, errs := run(t, 5*time.Second, nobody, c.args[0], c.args[1:]...)
		t.Logf("as nobody: %s: exit %d %s", c.name, code, trunc(strings.TrimSpace(lastLine(errs)), 120))
		if !c.canFail && code != 0 {
			t.Errorf("as nobody on a read-only bus: %s: exit %d: %s", c.name, code, errs)
		}
		sameFile(t, "as nobody: "+c.name, before, bus, true)
	}
	// As root, who may write: the reading tools leave the bytes alone.
	for _, c := range cases[:5] {
		before := snapshotFile(t, bus)
		time.Sleep(2 * time.Millisecond)
		code, _, errs := run(t, 5*time.Second, nil, c.args[0], c.args[1:]...)
		if code != 0 {
			t.Errorf("as root: %s: exit %d: %s", c.name, code, errs)
		}
		sameFile(t, "as root: "+c.name, before, bus, false)
		if after := snapshotFile(t, bus); !after.mtime.Equal(before.mtime) {
			t.Logf("as root: %s changed the mtime of a 0444 bus (the lock word)", c.name)
		}
	}
	// shmifctl wait as root on the read-only bus: reads, changes no byte.
	before := snapshotFile(t, bus)
	code, _, errs := run(t, 5*time.Second, nil, ctlBin, "wait", "-a", "-t", "0", "-n", "8", bus)
	if code != 0 {
		t.Errorf("as root: wait -a -n 8: exit %d %s", code, errs)
	}
	sameFile(t, "as root: shmifctl wait", before, bus, false)
}

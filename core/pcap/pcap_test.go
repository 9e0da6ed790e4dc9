package pcap

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
)

// bo is a byte order that can append.
type bo interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

// ngBlock builds a pcapng block in the given byte order.
func ngBlock(o bo, typ uint32, body []byte) []byte {
	for len(body)%4 != 0 {
		body = append(body, 0)
	}
	n := uint32(12 + len(body))
	b := o.AppendUint32(nil, typ)
	b = o.AppendUint32(b, n)
	b = append(b, body...)
	return o.AppendUint32(b, n)
}

func ngSHB(o bo) []byte {
	body := o.AppendUint32(nil, byteOrderMagic)
	body = o.AppendUint16(body, 1)
	body = o.AppendUint16(body, 0)
	body = o.AppendUint64(body, ^uint64(0)) // section length unknown
	return ngBlock(o, blockSHB, body)
}

func ngIDB(o bo, linkType uint16, tsresol int) []byte {
	body := o.AppendUint16(nil, linkType)
	body = o.AppendUint16(body, 0)
	body = o.AppendUint32(body, 0)
	if tsresol >= 0 {
		body = o.AppendUint16(body, optIfTsresol)
		body = o.AppendUint16(body, 1)
		body = append(body, byte(tsresol), 0, 0, 0)
		body = o.AppendUint32(body, 0) // opt_endofopt
	}
	return ngBlock(o, blockIDB, body)
}

func ngEPB(o bo, iface uint32, ts uint64, data []byte) []byte {
	body := o.AppendUint32(nil, iface)
	body = o.AppendUint32(body, uint32(ts>>32))
	body = o.AppendUint32(body, uint32(ts))
	body = o.AppendUint32(body, uint32(len(data)))
	body = o.AppendUint32(body, uint32(len(data)))
	body = append(body, data...)
	return ngBlock(o, blockEPB, body)
}

func frame(n int, seed byte) []byte {
	f := make([]byte, n)
	for i := range f {
		f[i] = seed + byte(i)
	}
	return f
}

func readAll(t *testing.T, b []byte) []Record {
	t.Helper()
	recs, err := ReadAll(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// The writer lays out libpcap's header for pcap_open_dead(DLT_EN10MB, 1518).
func TestWriterHeader(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, 1518)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	want := binary.NativeEndian.AppendUint32(nil, 0xa1b2c3d4)
	want = binary.NativeEndian.AppendUint16(want, 2)
	want = binary.NativeEndian.AppendUint16(want, 4)
	want = append(want, make([]byte, 8)...)
	want = binary.NativeEndian.AppendUint32(want, 1518)
	want = binary.NativeEndian.AppendUint32(want, 1)
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("header % x, want % x", buf.Bytes(), want)
	}
}

func TestWriterReaderRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w, _ := NewWriter(&buf, 1518)
	for i := range 5 {
		if err := w.Record(uint32(i), uint32(i*1000), frame(60+i, byte(i))); err != nil {
			t.Fatal(err)
		}
	}
	w.Flush()
	recs := readAll(t, buf.Bytes())
	if len(recs) != 5 {
		t.Fatalf("%d records", len(recs))
	}
	for i, r := range recs {
		if r.Sec != uint32(i) || r.Usec != uint32(i*1000) || r.OrigLen != uint32(60+i) || !bytes.Equal(r.Data, frame(60+i, byte(i))) {
			t.Errorf("record %d: %+v", i, r)
		}
	}
}

// classic builds a classic pcap file by hand.
func classic(o bo, magic uint32, linkType uint32, recs ...Record) []byte {
	b := o.AppendUint32(nil, magic)
	b = o.AppendUint16(b, 2)
	b = o.AppendUint16(b, 4)
	b = append(b, make([]byte, 8)...)
	b = o.AppendUint32(b, 65535)
	b = o.AppendUint32(b, linkType)
	for _, r := range recs {
		b = o.AppendUint32(b, r.Sec)
		b = o.AppendUint32(b, r.Usec)
		b = o.AppendUint32(b, uint32(len(r.Data)))
		b = o.AppendUint32(b, r.OrigLen)
		b = append(b, r.Data...)
	}
	return b
}

// Microsecond and nanosecond files, in either byte order.
func TestReadClassicVariants(t *testing.T) {
	f := frame(42, 7)
	for _, o := range []bo{binary.LittleEndian, binary.BigEndian} {
		micro := readAll(t, classic(o, MagicMicro, 1, Record{Sec: 3, Usec: 999999, OrigLen: 42, Data: f}))
		nano := readAll(t, classic(o, MagicNano, 1, Record{Sec: 3, Usec: 999999999, OrigLen: 42, Data: f}))
		for _, recs := range [][]Record{micro, nano} {
			if len(recs) != 1 || recs[0].Sec != 3 || recs[0].Usec != 999999 || !bytes.Equal(recs[0].Data, f) {
				t.Errorf("%v: %+v", o, recs)
			}
		}
	}
}

// pcapng in either byte order, with if_tsresol honoured, simple packets
// and blocks that carry no frames skipped.
func TestReadPcapng(t *testing.T) {
	f1, f2, f3 := frame(60, 1), frame(61, 2), frame(62, 3)
	for _, o := range []bo{binary.LittleEndian, binary.BigEndian} {
		var b []byte
		b = append(b, ngSHB(o)...)
		b = append(b, ngIDB(o, 1, -1)...)                 // iface 0: default microseconds
		b = append(b, ngIDB(o, 1, 9)...)                  // iface 1: nanoseconds
		b = append(b, ngIDB(o, 1, 0x80|10)...)            // iface 2: 2^-10 s
		b = append(b, ngBlock(o, 5, make([]byte, 12))...) // statistics: skipped
		b = append(b, ngEPB(o, 0, 5*1000000+123456, f1)...)
		b = append(b, ngEPB(o, 1, 7*1000000000+654321987, f2)...)
		b = append(b, ngEPB(o, 2, 9<<10|512, f3)...)
		spb := o.AppendUint32(nil, 60)
		b = append(b, ngBlock(o, blockSPB, append(spb, f1...))...)
		recs := readAll(t, b)
		want := []Record{
			{Sec: 5, Usec: 123456, OrigLen: 60, Data: f1},
			{Sec: 7, Usec: 654321, OrigLen: 61, Data: f2},
			{Sec: 9, Usec: 500000, OrigLen: 62, Data: f3},
			{Sec: 0, Usec: 0, OrigLen: 60, Data: f1},
		}
		if len(recs) != len(want) {
			t.Fatalf("%v: %d records", o, len(recs))
		}
		for i := range want {
			r, w := recs[i], want[i]
			if r.Sec != w.Sec || r.Usec != w.Usec || r.OrigLen != w.OrigLen || !bytes.Equal(r.Data, w.Data) {
				t.Errorf("%v record %d: %d/%d len %d, want %d/%d len %d", o, i, r.Sec, r.Usec, len(r.Data), w.Sec, w.Usec, len(w.Data))
			}
		}
	}
}

// A second section may change the byte order and starts with no interfaces.
func TestReadPcapngSections(t *testing.T) {
	le, be := binary.LittleEndian, binary.BigEndian
	var b []byte
	b = append(b, ngSHB(le)...)
	b = append(b, ngIDB(le, 1, -1)...)
	b = append(b, ngEPB(le, 0, 1, frame(20, 0))...)
	b = append(b, ngSHB(be)...)
	b = append(b, ngIDB(be, 1, -1)...)
	b = append(b, ngEPB(be, 0, 2, frame(21, 0))...)
	recs := readAll(t, b)
	if len(recs) != 2 || recs[1].Usec != 2 || len(recs[1].Data) != 21 {
		t.Fatalf("%+v", recs)
	}
}

func TestReadErrors(t *testing.T) {
	le := binary.LittleEndian
	good := classic(le, MagicMicro, 1, Record{Sec: 1, OrigLen: 42, Data: frame(42, 0)})
	hugeCaplen := classic(le, MagicMicro, 1)
	hugeCaplen = le.AppendUint32(hugeCaplen, 0)
	hugeCaplen = le.AppendUint32(hugeCaplen, 0)
	hugeCaplen = le.AppendUint32(hugeCaplen, 1<<30)
	hugeCaplen = le.AppendUint32(hugeCaplen, 1<<30)
	ngBadLen := append(ngSHB(le), le.AppendUint32(le.AppendUint32(nil, blockEPB), 13)...)
	ngNoIface := append(ngSHB(le), ngEPB(le, 0, 0, frame(20, 0))...)
	ngWrongLink := append(append(ngSHB(le), ngIDB(le, 113, -1)...), ngEPB(le, 0, 0, frame(20, 0))...)
	ngBadTrailer := append(ngSHB(le), ngIDB(le, 1, -1)...)
	ngBadTrailer[len(ngBadTrailer)-1] ^= 0xff
	cases := []struct {
		name string
		file []byte
		want string
	}{
		{"empty", nil, "pcap: empty file"},
		{"short header", good[:10], "pcap: truncated file header"},
		{"garbage", []byte("this is not a capture file"), "pcap: unknown magic 0x74686973: not a pcap or pcapng file"},
		{"not ethernet", classic(le, MagicMicro, 105), "pcap: link type 105 is not Ethernet (1)"},
		{"truncated record header", good[:30], "pcap: record 1 at offset 24: truncated record header"},
		{"truncated record data", good[:len(good)-1], "pcap: record 1 at offset 24: truncated data (41 of 42 bytes)"},
		{"huge caplen", hugeCaplen, "pcap: record 1 at offset 24: captured length 1073741824 exceeds 262144"},
		{"pcapng bad length", ngBadLen, "pcapng: block at offset 28: invalid length 13"},
		{"pcapng no interface", ngNoIface, "pcapng: packet block at offset 28: interface 0 not defined"},
		{"pcapng not ethernet", ngWrongLink, "pcapng: packet block at offset 48: interface 0 has link type 113, not Ethernet (1)"},
		{"pcapng bad trailer", ngBadTrailer, "pcapng: block at offset 28: trailing length"},
		{"pcapng truncated", ngSHB(le)[:20], "pcapng: block at offset 0: truncated"},
	}
	for _, c := range cases {
		_, err := ReadAll(bytes.NewReader(c.file))
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
}

// Next keeps returning the error that ended the file.
func TestReaderStickyError(t *testing.T) {
	good := classic(binary.LittleEndian, MagicMicro, 1, Record{OrigLen: 42, Data: frame(42, 0)})
	r, err := NewReader(bytes.NewReader(good[:40]))
	if err != nil {
		t.Fatal(err)
	}
	_, err1 := r.Next()
	_, err2 := r.Next()
	if err1 == nil || err1 != err2 || errors.Is(err1, io.EOF) {
		t.Fatalf("%v then %v", err1, err2)
	}
}

// The golden captures written by NetBSD's shmif_dumpbus read back whole.
func TestReadGoldenCaptures(t *testing.T) {
	for name, n := range map[string]int{"rump-small": 37, "rump-wrapped": 715} {
		recs, err := ReadFile("../../testdata/" + name + "/bus.pcap")
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != n {
			t.Errorf("%s: %d records, want %d", name, len(recs), n)
		}
	}
}

// The reader never panics and never loops, whatever it is given.
func FuzzReader(f *testing.F) {
	le, be := binary.LittleEndian, binary.BigEndian
	f.Add(classic(le, MagicMicro, 1, Record{Sec: 1, OrigLen: 42, Data: frame(42, 0)}))
	f.Add(classic(be, MagicNano, 1, Record{Sec: 1, OrigLen: 14, Data: frame(14, 0)}))
	ng := append(append(ngSHB(le), ngIDB(le, 1, 0x80|20)...), ngEPB(le, 0, 12345, frame(30, 0))...)
	f.Add(ng)
	f.Add(append(append(ngSHB(be), ngIDB(be, 1, 9)...), ngBlock(be, blockSPB, append(be.AppendUint32(nil, 16), frame(16, 0)...))...))
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := ReadAll(bytes.NewReader(b))
		if err == nil && len(recs) > len(b) {
			t.Fatalf("%d records from %d bytes", len(recs), len(b))
		}
	})
}

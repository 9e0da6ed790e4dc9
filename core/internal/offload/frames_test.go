package offload

// Helpers for the tests: a frame builder, and a parser and checksum that
// share no code with the package, to check its output against.

import (
	"encoding/binary"
	"math/big"
	"math/rand/v2"
	"testing"
)

// spec describes a test frame.
type spec struct {
	v6       bool
	vlan     bool
	proto    byte // protoTCP, protoUDP or anything else (no L4 header then)
	payload  []byte
	ipOpts   int  // bytes of IPv4 options (NOPs), a multiple of 4
	tcpOpts  int  // bytes of TCP options (NOPs), a multiple of 4
	pad      int  // Ethernet padding after the IP packet
	tcpFlags byte // default ACK|PSH
	id       uint16
}

const (
	tcpFIN = 0x01
	tcpPSH = 0x08
	tcpACK = 0x10

	testSeq = 0xFFFF0000 // near the top, so that TSO sequence numbers wrap
	testID  = 0x1234
)

var (
	src4 = []byte{192, 0, 2, 1}
	dst4 = []byte{198, 51, 100, 2}
	src6 = []byte{0x20, 0x01, 0x0d, 0xb8, 15: 1}
	dst6 = []byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xab, 2}
)

// build returns the frame s describes, with every checksum field holding
// 0xDEAD so that a forgotten one shows.
func build(s spec) []byte {
	var l4 []byte
	switch s.proto {
	case protoTCP:
		l4 = make([]byte, 20+s.tcpOpts)
		binary.BigEndian.PutUint16(l4[0:], 40000)
		binary.BigEndian.PutUint16(l4[2:], 40001)
		binary.BigEndian.PutUint32(l4[4:], testSeq)
		binary.BigEndian.PutUint32(l4[8:], 0x0A0B0C0D)
		l4[12] = byte(len(l4)/4) << 4
		l4[13] = s.tcpFlags
		if l4[13] == 0 {
			l4[13] = tcpACK | tcpPSH
		}
		binary.BigEndian.PutUint16(l4[14:], 65535)
		binary.BigEndian.PutUint16(l4[16:], 0xDEAD)
		for i := 20; i < len(l4); i++ {
			l4[i] = 1 // NOP
		}
	case protoUDP:
		l4 = make([]byte, 8)
		binary.BigEndian.PutUint16(l4[0:], 40000)
		binary.BigEndian.PutUint16(l4[2:], 40001)
		binary.BigEndian.PutUint16(l4[4:], uint16(8+len(s.payload)))
		binary.BigEndian.PutUint16(l4[6:], 0xDEAD)
	}
	l4 = append(l4, s.payload...)

	var ip []byte
	if s.v6 {
		ip = make([]byte, 40)
		ip[0], ip[1], ip[2], ip[3] = 0x60, 0x01, 0x23, 0x45 // flow label 0x12345
		binary.BigEndian.PutUint16(ip[4:], uint16(len(l4)))
		ip[6], ip[7] = s.proto, 64
		copy(ip[8:], src6)
		copy(ip[24:], dst6)
	} else {
		ip = make([]byte, 20+s.ipOpts)
		ip[0] = 0x40 | byte(len(ip)/4)
		binary.BigEndian.PutUint16(ip[2:], uint16(len(ip)+len(l4)))
		id := s.id
		if id == 0 {
			id = testID
		}
		binary.BigEndian.PutUint16(ip[4:], id)
		ip[6] = 0x40 // DF
		ip[8], ip[9] = 64, s.proto
		binary.BigEndian.PutUint16(ip[10:], 0xDEAD)
		copy(ip[12:], src4)
		copy(ip[16:], dst4)
		for i := 20; i < len(ip); i++ {
			ip[i] = 1 // NOP
		}
	}

	f := []byte{0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1}
	if s.vlan {
		f = append(f, 0x81, 0x00, 0x00, 100)
	}
	if s.v6 {
		f = append(f, 0x86, 0xDD)
	} else {
		f = append(f, 0x08, 0x00)
	}
	f = append(append(f, ip...), l4...)
	return append(f, make([]byte, s.pad)...)
}

// randBytes returns n reproducible pseudo-random bytes.
func randBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// refChecksum computes the Internet checksum from its definition by a route
// other than Checksum's: the exact sum of the 16-bit words as a big.Int,
// reduced modulo 0xFFFF (the one's complement sum is that residue, written
// 0xFFFF rather than 0 unless every word is 0), then complemented.
func refChecksum(b []byte) uint16 {
	total := new(big.Int)
	for i := 0; i < len(b); i += 2 {
		w := uint64(b[i]) << 8
		if i+1 < len(b) {
			w |= uint64(b[i+1])
		}
		total.Add(total, new(big.Int).SetUint64(w))
	}
	if total.Sign() == 0 {
		return 0xFFFF
	}
	r := new(big.Int).Mod(total, big.NewInt(0xFFFF)).Uint64()
	if r == 0 {
		r = 0xFFFF
	}
	return uint16(0xFFFF - r)
}

// parsed is a frame taken apart by the tests' own parser.
type parsed struct {
	v6      bool
	ip      []byte // the IP header
	proto   byte
	l4      []byte // the TCP/UDP segment, up to the end of the IP packet
	thl     int    // TCP header length
	payload []byte
}

// parse takes apart a well-formed test frame (it uses the IP length fields).
func parse(t *testing.T, f []byte) parsed {
	t.Helper()
	off := 12
	if f[off] == 0x81 && f[off+1] == 0x00 {
		off += 4
	}
	etype := uint16(f[off])<<8 | uint16(f[off+1])
	ip := f[off+2:]
	var p parsed
	switch etype {
	case 0x0800:
		hl := int(ip[0]&15) * 4
		n := int(ip[2])<<8 | int(ip[3])
		p.ip, p.proto, p.l4 = ip[:hl], ip[9], ip[hl:n]
	case 0x86DD:
		n := int(ip[4])<<8 | int(ip[5])
		p.v6, p.ip, p.proto, p.l4 = true, ip[:40], ip[6], ip[40:40+n]
	default:
		t.Fatalf("ethertype %#x", etype)
	}
	switch p.proto {
	case protoTCP:
		p.thl = int(p.l4[12]>>4) * 4
		p.payload = p.l4[p.thl:]
	case protoUDP:
		p.payload = p.l4[8:]
	}
	return p
}

// refL4Sum is the TCP or UDP checksum p should carry, computed over a
// pseudo-header laid out byte by byte.
func refL4Sum(p parsed) uint16 {
	var b []byte
	if p.v6 {
		b = append(b, p.ip[8:40]...)
		b = append(b, byte(len(p.l4)>>24), byte(len(p.l4)>>16), byte(len(p.l4)>>8), byte(len(p.l4)))
		b = append(b, 0, 0, 0, p.proto)
	} else {
		b = append(b, p.ip[12:20]...)
		b = append(b, 0, p.proto, byte(len(p.l4)>>8), byte(len(p.l4)))
	}
	start := len(b)
	b = append(b, p.l4...)
	at := start + 16
	if p.proto == protoUDP {
		at = start + 6
	}
	b[at], b[at+1] = 0, 0
	c := refChecksum(b)
	if c == 0 && p.proto == protoUDP {
		c = 0xFFFF
	}
	return c
}

// refIPv4Sum is the header checksum the IPv4 header ip should carry.
func refIPv4Sum(ip []byte) uint16 {
	b := append([]byte(nil), ip...)
	b[10], b[11] = 0, 0
	return refChecksum(b)
}

// l4Field returns the checksum field of p's TCP/UDP header.
func l4Field(p parsed) uint16 {
	if p.proto == protoUDP {
		return binary.BigEndian.Uint16(p.l4[6:])
	}
	return binary.BigEndian.Uint16(p.l4[16:])
}

// checkSums fails t unless every checksum in f is right (the IPv4 one only
// if ipv4 is set).
func checkSums(t *testing.T, f []byte, ipv4 bool) {
	t.Helper()
	p := parse(t, f)
	if ipv4 && !p.v6 {
		if got, want := binary.BigEndian.Uint16(p.ip[10:]), refIPv4Sum(p.ip); got != want {
			t.Errorf("IPv4 header checksum %#04x, want %#04x", got, want)
		}
	}
	if got, want := l4Field(p), refL4Sum(p); got != want {
		t.Errorf("L4 checksum %#04x, want %#04x", got, want)
	}
}

// collect returns an emit function that keeps copies of what it is given.
func collect(out *[][]byte) func([]byte) error {
	return func(b []byte) error {
		*out = append(*out, append([]byte(nil), b...))
		return nil
	}
}

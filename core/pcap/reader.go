package pcap

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
)

// MaxCaplen is the largest captured length accepted in a record, libpcap's
// limit for Ethernet captures; anything longer is taken as damage.
const MaxCaplen = 262144

// maxBlock bounds a pcapng block so that a damaged length cannot make the
// reader buffer an absurd amount.
const maxBlock = 16 << 20

// pcapng block types and constants.
const (
	blockSHB        = 0x0A0D0D0A
	blockIDB        = 0x00000001
	blockPB         = 0x00000002 // obsolete Packet Block
	blockSPB        = 0x00000003
	blockEPB        = 0x00000006
	byteOrderMagic  = 0x1A2B3C4D
	optEndOfOpt     = 0
	optIfTsresol    = 9
	optIfTsoffset   = 14
	shbMinBody      = 16 // byte-order magic, version, section length
	idbMinBody      = 8
	epbMinBody      = 20
	spbMinBody      = 4
	ngBlockOverhead = 12 // type, length, trailing length
)

// Record is one captured frame.
type Record struct {
	Sec, Usec uint32 // timestamp, microseconds (nanoseconds are truncated)
	OrigLen   uint32 // length of the frame on the wire
	Data      []byte // the captured bytes, len(Data) <= OrigLen normally
}

// Reader reads records from a classic pcap or a pcapng file.
type Reader struct {
	r   *bufio.Reader
	off int64 // bytes consumed, for error messages
	n   int   // records returned so far
	err error // sticky error

	ng bool
	// classic pcap
	order binary.ByteOrder
	nano  bool
	// pcapng: the current section's byte order and interfaces
	ifaces []ngIface
}

type ngIface struct {
	linkType uint16
	snaplen  uint32
	decimal  bool   // resolution is 10^-exp (else 2^-exp)
	exp      uint8  // resolution exponent
	offset   uint64 // if_tsoffset, seconds
}

// NewReader reads the file header from r and returns a Reader for its
// records. Only Ethernet captures are accepted.
func NewReader(r io.Reader) (*Reader, error) {
	pr := &Reader{r: bufio.NewReaderSize(r, 64<<10)}
	var magic [4]byte
	n, err := io.ReadFull(pr.r, magic[:])
	if n == 0 && err == io.EOF {
		return nil, errors.New("pcap: empty file")
	}
	if err != nil {
		return nil, errors.New("pcap: truncated file header")
	}
	pr.off = 4
	if binary.LittleEndian.Uint32(magic[:]) == blockSHB {
		pr.ng = true
		if err := pr.readSHB(0); err != nil {
			return nil, err
		}
		return pr, nil
	}
	switch {
	case binary.LittleEndian.Uint32(magic[:]) == MagicMicro:
		pr.order = binary.LittleEndian
	case binary.BigEndian.Uint32(magic[:]) == MagicMicro:
		pr.order = binary.BigEndian
	case binary.LittleEndian.Uint32(magic[:]) == MagicNano:
		pr.order, pr.nano = binary.LittleEndian, true
	case binary.BigEndian.Uint32(magic[:]) == MagicNano:
		pr.order, pr.nano = binary.BigEndian, true
	default:
		return nil, fmt.Errorf("pcap: unknown magic 0x%08x: not a pcap or pcapng file", binary.BigEndian.Uint32(magic[:]))
	}
	var h [fileHeaderSize - 4]byte
	if _, err := io.ReadFull(pr.r, h[:]); err != nil {
		return nil, errors.New("pcap: truncated file header")
	}
	pr.off = fileHeaderSize
	major, minor := pr.order.Uint16(h[0:]), pr.order.Uint16(h[2:])
	if major != VersionMajor {
		return nil, fmt.Errorf("pcap: unsupported file version %d.%d", major, minor)
	}
	// The link type's upper bits may carry an FCS length; only the
	// low 16 bits name the type.
	if lt := pr.order.Uint32(h[16:]) & 0xffff; lt != LinkTypeEthernet {
		return nil, fmt.Errorf("pcap: link type %d is not Ethernet (%d)", lt, LinkTypeEthernet)
	}
	return pr, nil
}

// Next returns the next record, or io.EOF after the last one. The record's
// Data is newly allocated.
func (r *Reader) Next() (Record, error) {
	if r.err != nil {
		return Record{}, r.err
	}
	var rec Record
	var err error
	if r.ng {
		rec, err = r.nextNG()
	} else {
		rec, err = r.nextClassic()
	}
	if err != nil {
		r.err = err
		return Record{}, err
	}
	r.n++
	return rec, nil
}

func (r *Reader) nextClassic() (Record, error) {
	num := r.n + 1
	var h [recordHeaderSize]byte
	n, err := io.ReadFull(r.r, h[:])
	if n == 0 && err == io.EOF {
		return Record{}, io.EOF
	}
	if err != nil {
		return Record{}, fmt.Errorf("pcap: record %d at offset %d: truncated record header", num, r.off)
	}
	caplen, origlen := r.order.Uint32(h[8:]), r.order.Uint32(h[12:])
	if caplen > MaxCaplen {
		return Record{}, fmt.Errorf("pcap: record %d at offset %d: captured length %d exceeds %d", num, r.off, caplen, MaxCaplen)
	}
	data := make([]byte, caplen)
	if got, err := io.ReadFull(r.r, data); err != nil {
		return Record{}, fmt.Errorf("pcap: record %d at offset %d: truncated data (%d of %d bytes)", num, r.off, got, caplen)
	}
	r.off += recordHeaderSize + int64(caplen)
	rec := Record{Sec: r.order.Uint32(h[0:]), Usec: r.order.Uint32(h[4:]), OrigLen: origlen, Data: data}
	if r.nano {
		rec.Usec /= 1000
	}
	return rec, nil
}

// readBlockRest reads the rest of a pcapng block of the given total length
// that starts at offset start and of which consumed bytes have been read,
// and returns the body bytes not yet consumed (without the trailing length).
func (r *Reader) readBlockRest(start int64, length uint32, consumed int) ([]byte, error) {
	if length < ngBlockOverhead || length%4 != 0 || length > maxBlock || int(length) < consumed+4 {
		return nil, fmt.Errorf("pcapng: block at offset %d: invalid length %d", start, length)
	}
	body, err := readN(r.r, int(length)-consumed-4)
	if err != nil {
		return nil, fmt.Errorf("pcapng: block at offset %d: truncated", start)
	}
	var trail [4]byte
	if _, err := io.ReadFull(r.r, trail[:]); err != nil {
		return nil, fmt.Errorf("pcapng: block at offset %d: truncated", start)
	}
	if t := r.order.Uint32(trail[:]); t != length {
		return nil, fmt.Errorf("pcapng: block at offset %d: trailing length %d != %d", start, t, length)
	}
	r.off = start + int64(length)
	return body, nil
}

// readN reads exactly n bytes, growing the buffer as data arrives so that a
// damaged length costs no more memory than the file holds.
func readN(r io.Reader, n int) ([]byte, error) {
	const chunk = 64 << 10
	buf := make([]byte, 0, min(n, chunk))
	for len(buf) < n {
		k := min(n-len(buf), chunk)
		buf = append(buf, make([]byte, k)...)
		if _, err := io.ReadFull(r, buf[len(buf)-k:]); err != nil {
			return nil, err
		}
	}
	return buf, nil
}

// readSHB reads a Section Header Block whose type word has been read. It
// sets the byte order for the section and forgets earlier interfaces.
func (r *Reader) readSHB(start int64) error {
	var b [8]byte // block length, byte-order magic
	if _, err := io.ReadFull(r.r, b[:]); err != nil {
		return fmt.Errorf("pcapng: section header at offset %d: truncated", start)
	}
	switch {
	case binary.LittleEndian.Uint32(b[4:]) == byteOrderMagic:
		r.order = binary.LittleEndian
	case binary.BigEndian.Uint32(b[4:]) == byteOrderMagic:
		r.order = binary.BigEndian
	default:
		return fmt.Errorf("pcapng: section header at offset %d: bad byte-order magic", start)
	}
	length := r.order.Uint32(b[0:])
	if length < ngBlockOverhead+shbMinBody {
		return fmt.Errorf("pcapng: section header at offset %d: invalid length %d", start, length)
	}
	rest, err := r.readBlockRest(start, length, 12)
	if err != nil {
		return err
	}
	if major := r.order.Uint16(rest[0:]); major != 1 {
		return fmt.Errorf("pcapng: section header at offset %d: unsupported version %d.%d", start, major, r.order.Uint16(rest[2:]))
	}
	r.ifaces = r.ifaces[:0]
	return nil
}

func (r *Reader) nextNG() (Record, error) {
	for {
		start := r.off
		var b [4]byte
		n, err := io.ReadFull(r.r, b[:])
		if n == 0 && err == io.EOF {
			return Record{}, io.EOF
		}
		if err != nil {
			return Record{}, fmt.Errorf("pcapng: block at offset %d: truncated", start)
		}
		// The section header's type reads the same in both byte orders.
		typ := r.order.Uint32(b[:])
		if typ == blockSHB {
			if err := r.readSHB(start); err != nil {
				return Record{}, err
			}
			continue
		}
		if _, err := io.ReadFull(r.r, b[:]); err != nil {
			return Record{}, fmt.Errorf("pcapng: block at offset %d: truncated", start)
		}
		body, err := r.readBlockRest(start, r.order.Uint32(b[:]), 8)
		if err != nil {
			return Record{}, err
		}
		switch typ {
		case blockIDB:
			if err := r.addIface(start, body); err != nil {
				return Record{}, err
			}
		case blockEPB, blockPB:
			return r.packet(start, typ, body)
		case blockSPB:
			return r.simplePacket(start, body)
		}
		// Other blocks (name resolution, statistics, ...) carry no frames.
	}
}

func (r *Reader) addIface(start int64, body []byte) error {
	if len(body) < idbMinBody {
		return fmt.Errorf("pcapng: interface block at offset %d: too short", start)
	}
	ifc := ngIface{
		linkType: r.order.Uint16(body[0:]),
		snaplen:  r.order.Uint32(body[4:]),
		decimal:  true,
		exp:      6,
	}
	opts := body[idbMinBody:]
	for len(opts) >= 4 {
		code, olen := r.order.Uint16(opts[0:]), int(r.order.Uint16(opts[2:]))
		if code == optEndOfOpt {
			break
		}
		padded := (olen + 3) &^ 3
		if 4+padded > len(opts) {
			return fmt.Errorf("pcapng: interface block at offset %d: option %d overruns the block", start, code)
		}
		val := opts[4 : 4+olen]
		switch code {
		case optIfTsresol:
			if olen != 1 {
				return fmt.Errorf("pcapng: interface block at offset %d: bad if_tsresol length %d", start, olen)
			}
			ifc.decimal, ifc.exp = val[0]&0x80 == 0, val[0]&0x7f
			if ifc.decimal && ifc.exp > 19 {
				return fmt.Errorf("pcapng: interface block at offset %d: if_tsresol 10^-%d is not supported", start, ifc.exp)
			}
		case optIfTsoffset:
			if olen != 8 {
				return fmt.Errorf("pcapng: interface block at offset %d: bad if_tsoffset length %d", start, olen)
			}
			ifc.offset = r.order.Uint64(val)
		}
		opts = opts[4+padded:]
	}
	r.ifaces = append(r.ifaces, ifc)
	return nil
}

// iface returns interface id of the current section, checking that it
// exists and is Ethernet.
func (r *Reader) iface(start int64, id uint32) (*ngIface, error) {
	if id >= uint32(len(r.ifaces)) {
		return nil, fmt.Errorf("pcapng: packet block at offset %d: interface %d not defined", start, id)
	}
	ifc := &r.ifaces[id]
	if ifc.linkType != LinkTypeEthernet {
		return nil, fmt.Errorf("pcapng: packet block at offset %d: interface %d has link type %d, not Ethernet (%d)", start, id, ifc.linkType, LinkTypeEthernet)
	}
	return ifc, nil
}

// packet decodes an Enhanced Packet Block or an obsolete Packet Block; both
// have the timestamp, captured and original lengths at the same offsets.
func (r *Reader) packet(start int64, typ uint32, body []byte) (Record, error) {
	if len(body) < epbMinBody {
		return Record{}, fmt.Errorf("pcapng: packet block at offset %d: too short", start)
	}
	id := r.order.Uint32(body[0:])
	if typ == blockPB {
		id = uint32(r.order.Uint16(body[0:]))
	}
	ifc, err := r.iface(start, id)
	if err != nil {
		return Record{}, err
	}
	caplen, origlen := r.order.Uint32(body[12:]), r.order.Uint32(body[16:])
	if caplen > MaxCaplen || int(caplen) > len(body)-epbMinBody {
		return Record{}, fmt.Errorf("pcapng: packet block at offset %d: captured length %d does not fit", start, caplen)
	}
	ts := uint64(r.order.Uint32(body[4:]))<<32 | uint64(r.order.Uint32(body[8:]))
	sec, usec := ifc.time(ts)
	data := make([]byte, caplen)
	copy(data, body[epbMinBody:])
	return Record{Sec: sec, Usec: usec, OrigLen: origlen, Data: data}, nil
}

// simplePacket decodes a Simple Packet Block: no timestamp, interface 0.
func (r *Reader) simplePacket(start int64, body []byte) (Record, error) {
	if len(body) < spbMinBody {
		return Record{}, fmt.Errorf("pcapng: simple packet block at offset %d: too short", start)
	}
	ifc, err := r.iface(start, 0)
	if err != nil {
		return Record{}, err
	}
	origlen := r.order.Uint32(body[0:])
	caplen := min(uint64(origlen), uint64(len(body)-spbMinBody))
	if ifc.snaplen != 0 {
		caplen = min(caplen, uint64(ifc.snaplen))
	}
	if caplen > MaxCaplen {
		return Record{}, fmt.Errorf("pcapng: simple packet block at offset %d: captured length %d exceeds %d", start, caplen, MaxCaplen)
	}
	data := make([]byte, caplen)
	copy(data, body[spbMinBody:])
	return Record{OrigLen: origlen, Data: data}, nil
}

// time converts a timestamp in the interface's units to seconds and
// microseconds (truncating).
func (ifc *ngIface) time(ts uint64) (sec, usec uint32) {
	var s, frac, us uint64
	if ifc.decimal {
		unit := pow10(ifc.exp)
		s, frac = ts/unit, ts%unit
		if ifc.exp <= 6 {
			us = frac * pow10(6-ifc.exp)
		} else {
			us = frac / pow10(ifc.exp-6)
		}
	} else {
		if ifc.exp >= 64 {
			s, frac = 0, ts
		} else {
			s, frac = ts>>ifc.exp, ts&(1<<ifc.exp-1)
		}
		// frac * 10^6 / 2^exp without overflow.
		hi, lo := bits.Mul64(frac, 1e6)
		switch {
		case ifc.exp == 0:
			us = 0
		case ifc.exp >= 64:
			us = hi >> (ifc.exp - 64)
		default:
			us = hi<<(64-ifc.exp) | lo>>ifc.exp
		}
	}
	return uint32(s + ifc.offset), uint32(us)
}

func pow10(n uint8) uint64 {
	p := uint64(1)
	for range n {
		p *= 10
	}
	return p
}

// ReadAll reads every record of the capture in r.
func ReadAll(r io.Reader) ([]Record, error) {
	pr, err := NewReader(r)
	if err != nil {
		return nil, err
	}
	var recs []Record
	for {
		rec, err := pr.Next()
		if err == io.EOF {
			return recs, nil
		}
		if err != nil {
			return nil, err
		}
		recs = append(recs, rec)
	}
}

// ReadFile reads every record of the capture file at path.
func ReadFile(path string) ([]Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadAll(f)
}

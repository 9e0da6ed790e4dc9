// Package pcap reads and writes capture files of Ethernet frames: classic
// pcap (microsecond or nanosecond timestamps, either byte order) and pcapng.
// The writer produces exactly what libpcap's pcap_dump does for
// pcap_open_dead(DLT_EN10MB, snaplen), which is what NetBSD's shmif_dumpbus
// writes: magic 0xa1b2c3d4 in host byte order, version 2.4, thiszone and
// sigfigs 0, link type 1.
//
// Reading a capture file never panics: truncated or damaged files give an
// error that says where the damage is.
package pcap

import (
	"bufio"
	"encoding/binary"
	"io"
)

// File format constants.
const (
	MagicMicro       = 0xa1b2c3d4 // classic pcap, microsecond timestamps
	MagicNano        = 0xa1b23c4d // classic pcap, nanosecond timestamps
	VersionMajor     = 2
	VersionMinor     = 4
	LinkTypeEthernet = 1 // LINKTYPE_ETHERNET, DLT_EN10MB

	fileHeaderSize   = 24
	recordHeaderSize = 16
)

// byteOrder is how the writer lays out integers: host order, as libpcap does.
var byteOrder = binary.NativeEndian

// Writer writes a classic microsecond pcap file. Records are buffered:
// call Flush after the last one, or after each one for a live capture.
type Writer struct {
	w   *bufio.Writer
	hdr [recordHeaderSize]byte
}

// NewWriter writes the file header for Ethernet frames with the given
// snapshot length to w and returns a Writer for the records.
func NewWriter(w io.Writer, snaplen uint32) (*Writer, error) {
	pw := &Writer{w: bufio.NewWriterSize(w, 64<<10)}
	var h [fileHeaderSize]byte
	byteOrder.PutUint32(h[0:], MagicMicro)
	byteOrder.PutUint16(h[4:], VersionMajor)
	byteOrder.PutUint16(h[6:], VersionMinor)
	// thiszone and sigfigs stay 0.
	byteOrder.PutUint32(h[16:], snaplen)
	byteOrder.PutUint32(h[20:], LinkTypeEthernet)
	if _, err := pw.w.Write(h[:]); err != nil {
		return nil, err
	}
	return pw, nil
}

// Record appends one frame with its timestamp. The captured and original
// lengths are both len(frame); like pcap_dump it does not truncate to the
// snapshot length.
func (w *Writer) Record(sec, usec uint32, frame []byte) error {
	byteOrder.PutUint32(w.hdr[0:], sec)
	byteOrder.PutUint32(w.hdr[4:], usec)
	byteOrder.PutUint32(w.hdr[8:], uint32(len(frame)))
	byteOrder.PutUint32(w.hdr[12:], uint32(len(frame)))
	if _, err := w.w.Write(w.hdr[:]); err != nil {
		return err
	}
	_, err := w.w.Write(frame)
	return err
}

// Flush writes the buffered records to the underlying writer.
func (w *Writer) Flush() error { return w.w.Flush() }

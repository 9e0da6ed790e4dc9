package shmif

import (
	"github.com/libshmif/libshmif/core/internal/offload"
	"golang.org/x/sys/unix"
)

// Offload capability bits (NetBSD's IFCAP_* values), as kept in an
// interface's capenable; the C header's SHMIF_CAP_*.
const (
	CapTSOv4   = offload.CapTSOv4
	CapIPv4Rx  = offload.CapIPv4Rx
	CapIPv4Tx  = offload.CapIPv4Tx
	CapTCPv4Rx = offload.CapTCPv4Rx
	CapTCPv4Tx = offload.CapTCPv4Tx
	CapUDPv4Rx = offload.CapUDPv4Rx
	CapUDPv4Tx = offload.CapUDPv4Tx
	CapTCPv6Rx = offload.CapTCPv6Rx
	CapTCPv6Tx = offload.CapTCPv6Tx
	CapUDPv6Rx = offload.CapUDPv6Rx
	CapUDPv6Tx = offload.CapUDPv6Tx
	CapTSOv6   = offload.CapTSOv6

	// Capabilities is the set a shmif interface advertises: all of the
	// above.
	Capabilities = offload.Capabilities
	// TxCaps are the transmit capabilities (checksums and TSO), RxCaps
	// the receive checksum capabilities.
	TxCaps = offload.TxCaps
	RxCaps = offload.RxCaps
)

// Checksum flags (NetBSD's M_CSUM_* values; the C header's SHMIF_CSUM_*):
// work requested from SendOffload, and the receive status in Frame.Csum.
const (
	CsumTCPv4     = offload.CsumTCPv4
	CsumUDPv4     = offload.CsumUDPv4
	CsumTCPUDPBad = offload.CsumTCPUDPBad // status: the TCP or UDP checksum is wrong
	CsumTCPv6     = offload.CsumTCPv6
	CsumUDPv6     = offload.CsumUDPv6
	CsumIPv4      = offload.CsumIPv4
	CsumIPv4Bad   = offload.CsumIPv4Bad // status: the IPv4 header checksum is wrong
	CsumTSOv4     = offload.TSOv4
	CsumTSOv6     = offload.TSOv6
)

// MaxOffloadFrame is the longest frame SendOffload takes: a 64 KiB TCP
// payload behind the largest headers.
const MaxOffloadFrame = 18 + 60 + 60 + 1<<16

// SendOffload sends a frame whose checksums or TCP segmentation were left to
// the interface (Csum* flags in csum), doing that
// work in software first as NetBSD's ether_sw_offload_tx does; all resulting
// frames go on the bus under one lock with one wake-up. frame is not
// modified. csum 0 is Send.
// Errors: EOPNOTSUPP when a requested capability is not enabled, EINVAL when
// the frame does not fit the request, EMSGSIZE when a resulting frame would
// exceed 1514 bytes (all three counted in oerrors, nothing sent), and those
// of Send.
func (i *Interface) SendOffload(frame []byte, csum uint32, mss int) error {
	if csum == 0 {
		return i.Send(frame)
	}
	i.cfg.RLock()
	defer i.cfg.RUnlock()
	if err := i.usable(); err != nil {
		return err
	}
	if len(frame) > MaxOffloadFrame {
		i.stats.oerrors.Add(1)
		return unix.EMSGSIZE
	}
	// Tx rewrites the frame in place and reuses it between segments, so
	// work on a copy and keep a copy of every segment.
	work := append([]byte(nil), frame...)
	var segs [][]byte
	err := offload.Tx(work, csum, mss, i.capenable, func(seg []byte) error {
		segs = append(segs, append([]byte(nil), seg...))
		return nil
	})
	if err != nil {
		i.stats.oerrors.Add(1)
		return err
	}
	_, err = i.put(segs)
	return err
}

// rxStatus reports the receive checksum status of frame for the enabled
// capabilities, as NetBSD's ether_sw_offload_rx would flag it.
func rxStatus(capenable uint32, frame []byte) uint32 {
	return offload.RxStatus(frame, capenable)
}

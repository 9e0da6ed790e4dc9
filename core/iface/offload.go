package iface

import (
	"github.com/libshmif/libshmif/core/offload"
	"golang.org/x/sys/unix"
)

// Capabilities is the set of offload capabilities a shmif interface
// advertises (NetBSD's IFCAP_* bits 0x80 to 0x40000: TSOv4, the IPv4, TCP and
// UDP checksums in both directions for v4 and v6, and TSOv6).
const Capabilities = offload.Capabilities

// MaxOffloadFrame is the longest frame SendOffload takes: a 64 KiB TCP
// payload behind the largest headers.
const MaxOffloadFrame = 18 + 60 + 60 + 1<<16

// SendOffload sends a frame whose checksums or TCP segmentation were left to
// the interface (offload.Csum* and offload.TSO* flags in csum), doing that
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

const rxCaps = offload.RxCaps

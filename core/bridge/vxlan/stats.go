package vxlan

import (
	"fmt"
	"sync/atomic"
)

// Stats counts what an endpoint carried and what it dropped for reasons only
// it knows. Every field only grows.
type Stats struct {
	RxFrames         uint64 // frames ReadFrames returned
	RxMalformed      uint64 // datagrams shorter than the VXLAN and Ethernet headers, without the I flag, or with a broadcast, multicast or zero inner source MAC
	RxWrongVNI       uint64 // datagrams for another VNI
	RxUnknownPeer    uint64 // datagrams from an address that is no configured peer (unicast mode)
	RxStaticConflict uint64 // frames whose source MAC has a static fdb entry at another endpoint
	TxFrames         uint64 // frames sent to at least one destination
	TxDatagrams      uint64 // datagrams sent (a flooded frame makes one per destination)
	TxTooBig         uint64 // frames that did not fit the underlay MTU to some destination
	TxNoDest         uint64 // frames with no destination (a broadcast with no flood list)
	TxMalformed      uint64 // frames shorter than an Ethernet header
	TxErrors         uint64 // datagrams the OS refused for another reason (no route, ...)
	LearnFull        uint64 // frames whose source was not learned because maxaddress was reached
}

// String shows the counters as name=value pairs.
func (s Stats) String() string {
	return fmt.Sprintf("rx_frames=%d rx_malformed=%d rx_wrong_vni=%d rx_unknown_peer=%d "+
		"rx_static_conflict=%d tx_frames=%d tx_datagrams=%d tx_too_big=%d tx_no_dest=%d "+
		"tx_malformed=%d tx_errors=%d learn_full=%d",
		s.RxFrames, s.RxMalformed, s.RxWrongVNI, s.RxUnknownPeer, s.RxStaticConflict,
		s.TxFrames, s.TxDatagrams, s.TxTooBig, s.TxNoDest, s.TxMalformed, s.TxErrors,
		s.LearnFull)
}

// counters are the live Stats, updated by ReadFrames and WriteFrames while
// Stats reads them.
type counters struct {
	rxFrames, rxMalformed, rxWrongVNI, rxUnknownPeer, rxStaticConflict atomic.Uint64
	txFrames, txDatagrams, txTooBig, txNoDest, txMalformed, txErrors   atomic.Uint64
	learnFull                                                          atomic.Uint64
}

func (c *counters) snapshot() Stats {
	return Stats{
		RxFrames:         c.rxFrames.Load(),
		RxMalformed:      c.rxMalformed.Load(),
		RxWrongVNI:       c.rxWrongVNI.Load(),
		RxUnknownPeer:    c.rxUnknownPeer.Load(),
		RxStaticConflict: c.rxStaticConflict.Load(),
		TxFrames:         c.txFrames.Load(),
		TxDatagrams:      c.txDatagrams.Load(),
		TxTooBig:         c.txTooBig.Load(),
		TxNoDest:         c.txNoDest.Load(),
		TxMalformed:      c.txMalformed.Load(),
		TxErrors:         c.txErrors.Load(),
		LearnFull:        c.learnFull.Load(),
	}
}

package vxlan

import (
	"hash/maphash"
	"net/netip"
	"testing"
)

func tcpFrame(sip, dip string, sport, dport uint16, payload string) []byte {
	seg := udpDatagram(sport, dport, []byte(payload)) // ports sit where TCP's do
	return ipv4Frame(kernelMAC, ourMAC, netip.MustParseAddr(sip), netip.MustParseAddr(dip), protoTCP, seg)
}

// TestFlowHashFields: the hash follows the flow, not the packet: payload,
// direction, MACs and VLAN tags aside, one flow hashes alike; another port,
// address or protocol makes another flow; IPv4 fragments hash without ports.
func TestFlowHashFields(t *testing.T) {
	seed := maphash.MakeSeed()
	h := func(f []byte) uint32 { return flowHash(seed, f) }
	base := tcpFrame("10.1.0.1", "10.1.0.2", 1000, 80, "a")
	same := map[string][]byte{
		"other payload": tcpFrame("10.1.0.1", "10.1.0.2", 1000, 80, "another payload"),
		"reply":         tcpFrame("10.1.0.2", "10.1.0.1", 80, 1000, "b"),
		"other MACs":    append(ether(broadcast, mac{2, 9, 9, 9, 9, 9}, 0x0800, nil), base[14:]...),
		"VLAN tagged":   append(append(append([]byte{}, base[:12]...), 0x81, 0x00, 0x00, 0x05), base[12:]...),
	}
	for name, f := range same {
		if h(f) != h(base) {
			t.Errorf("%s hashes differently", name)
		}
	}
	other := map[string][]byte{
		"source port": tcpFrame("10.1.0.1", "10.1.0.2", 1001, 80, "a"),
		"address":     tcpFrame("10.1.0.3", "10.1.0.2", 1000, 80, "a"),
		"protocol":    ipv4Frame(kernelMAC, ourMAC, netip.MustParseAddr("10.1.0.1"), netip.MustParseAddr("10.1.0.2"), protoUDP, base[34:]),
	}
	for name, f := range other {
		if h(f) == h(base) {
			t.Errorf("another %s hashes alike (possible, but not with this seed twice)", name)
		}
	}
	// A fragment (MF set) and one with other ports: ports are not read.
	frag1, frag2 := tcpFrame("10.1.0.1", "10.1.0.2", 1000, 80, "a"), tcpFrame("10.1.0.1", "10.1.0.2", 2000, 443, "a")
	for _, f := range [][]byte{frag1, frag2} {
		f[14+6] |= 0x20
	}
	if h(frag1) != h(frag2) {
		t.Error("fragments of one datagram hash differently")
	}
	// Non-IP frames hash on the MAC pair and EtherType, in either direction.
	arp1 := arpFrame(2, ourMAC, kernelMAC, kernelIP, ourMAC, ourIP)
	arp2 := arpFrame(2, kernelMAC, ourMAC, ourIP, kernelMAC, kernelIP)
	if h(arp1) != h(arp2) {
		t.Error("ARP between two stations hashes differently by direction")
	}
	// Frames too short for any header still hash.
	_ = h([]byte{1, 2, 3})
}

// TestPortIn: the hash maps onto lo..hi-1 as Linux's udp_flow_src_port does,
// reaching both ends.
func TestPortIn(t *testing.T) {
	for _, tc := range []struct {
		h      uint32
		lo, hi uint16
		want   uint16
	}{
		{0, 32768, 60999, 32768},
		{0xffffffff, 32768, 60999, 60998},
		{0x80000000, 1000, 1010, 1005},
		{0xffffffff, 1, 65535, 65534},
	} {
		if got := portIn(tc.h, tc.lo, tc.hi); got != tc.want {
			t.Errorf("portIn(%#x, %d, %d) = %d, want %d", tc.h, tc.lo, tc.hi, got, tc.want)
		}
	}
}

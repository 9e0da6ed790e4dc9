package dump

import (
	"encoding/binary"
	"net"
	"net/netip"
)

// Builders of test frames. Checksums are left zero: nothing here checks
// them, and tcpdump only does with -v.

func macOf(s string) []byte {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

func ipOf(s string) []byte { return netip.MustParseAddr(s).AsSlice() }

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func u16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

const (
	macA  = "02:00:00:00:00:0a"
	macB  = "02:00:00:00:00:0b"
	bcast = "ff:ff:ff:ff:ff:ff"
)

// eth is an Ethernet frame; vlans are VLAN IDs of 802.1Q tags, outermost
// first.
func eth(dst, src string, etype uint16, payload []byte, vlans ...uint16) []byte {
	f := cat(macOf(dst), macOf(src))
	for _, v := range vlans {
		f = cat(f, u16(etherVLAN), u16(v))
	}
	return cat(f, u16(etype), payload)
}

func arpPacket(op uint16, sha, spa, tha, tpa string) []byte {
	return cat(u16(1), u16(etherIPv4), []byte{6, 4}, u16(op), macOf(sha), ipOf(spa), macOf(tha), ipOf(tpa))
}

func ipv4(src, dst string, proto byte, payload []byte) []byte {
	h := cat([]byte{0x45, 0}, u16(uint16(20+len(payload))), u16(1), u16(0x4000), []byte{64, proto}, u16(0), ipOf(src), ipOf(dst))
	return cat(h, payload)
}

// ipv4Frag is a later fragment (offset 8 bytes) of an IPv4 packet.
func ipv4Frag(src, dst string, proto byte, payload []byte) []byte {
	h := cat([]byte{0x45, 0}, u16(uint16(20+len(payload))), u16(1), u16(1), []byte{64, proto}, u16(0), ipOf(src), ipOf(dst))
	return cat(h, payload)
}

func ipv6(src, dst string, nh byte, payload []byte) []byte {
	h := cat([]byte{0x60, 0, 0, 0}, u16(uint16(len(payload))), []byte{nh, 64}, ipOf(src), ipOf(dst))
	return cat(h, payload)
}

func udp(sport, dport uint16, payload []byte) []byte {
	return cat(u16(sport), u16(dport), u16(uint16(8+len(payload))), u16(0), payload)
}

func tcp(sport, dport uint16, seq, ack uint32, flags byte, win uint16, payload []byte) []byte {
	return cat(u16(sport), u16(dport), u32(seq), u32(ack), []byte{5 << 4, flags}, u16(win), u16(0), u16(0), payload)
}

func icmpEcho(typ byte, id, seq uint16, payload []byte) []byte {
	return cat([]byte{typ, 0}, u16(0), u16(id), u16(seq), payload)
}

func icmp6NS(target string) []byte {
	return cat([]byte{135, 0}, u16(0), u32(0), ipOf(target))
}

func pad(f []byte, n int) []byte {
	for len(f) < n {
		f = append(f, 0)
	}
	return f
}

// testFrames is a set of frames of every kind the filters and summaries
// know, with names.
var testFrames = []struct {
	name  string
	frame []byte
}{
	{"arp request", eth(bcast, macA, etherARP, arpPacket(1, macA, "10.0.0.1", "00:00:00:00:00:00", "10.0.0.2"))},
	{"arp reply padded", pad(eth(macA, macB, etherARP, arpPacket(2, macB, "10.0.0.2", macA, "10.0.0.1")), 60)},
	{"udp 53", eth(macB, macA, etherIPv4, ipv4("10.0.0.1", "10.0.0.2", protoUDP, udp(40000, 53, make([]byte, 20))))},
	{"udp 7 reply", eth(macA, macB, etherIPv4, ipv4("10.0.0.2", "10.0.0.1", protoUDP, udp(7, 40001, make([]byte, 56))))},
	{"tcp syn", eth(macB, macA, etherIPv4, ipv4("10.0.0.1", "10.0.0.2", protoTCP, tcp(40002, 8080, 1000, 0, 0x02, 512, nil)))},
	{"tcp push", eth(macA, macB, etherIPv4, ipv4("10.0.0.2", "10.0.0.1", protoTCP, tcp(8080, 40002, 5000, 1001, 0x18, 512, []byte("hello"))))},
	{"icmp echo", eth(macB, macA, etherIPv4, ipv4("10.0.0.1", "10.0.0.3", protoICMP, icmpEcho(8, 7, 1, make([]byte, 56))))},
	{"icmp reply", eth(macA, macB, etherIPv4, ipv4("10.0.0.3", "10.0.0.1", protoICMP, icmpEcho(0, 7, 1, make([]byte, 56))))},
	{"ip fragment", eth(macB, macA, etherIPv4, ipv4Frag("10.0.0.1", "10.0.0.2", protoUDP, make([]byte, 16)))},
	{"icmp6 echo", eth("33:33:00:00:00:01", macA, etherIPv6, ipv6("fe80::a", "ff02::1", protoICMP6, icmpEcho(128, 9, 2, make([]byte, 8))))},
	{"icmp6 ns", eth("33:33:ff:00:00:0b", macA, etherIPv6, ipv6("fe80::a", "ff02::1:ff00:b", protoICMP6, icmp6NS("fe80::b")))},
	{"udp6 53", eth(macB, macA, etherIPv6, ipv6("2001:db8::a", "2001:db8::b", protoUDP, udp(40003, 53, make([]byte, 12))))},
	{"tcp6 hopopts 22", eth(macB, macA, etherIPv6, ipv6("2001:db8::a", "2001:db8::b", ip6HopByHop,
		cat([]byte{protoTCP, 0, 1, 4, 0, 0, 0, 0}, tcp(40004, 22, 77, 0, 0x02, 1024, nil))))},
	{"vlan 100 udp 53", eth(macB, macA, etherIPv4, ipv4("10.0.1.1", "10.0.1.2", protoUDP, udp(40005, 53, make([]byte, 20))), 100)},
	{"qinq 5 200 icmp", eth(macB, macA, etherIPv4, ipv4("10.0.2.1", "10.0.2.2", protoICMP, icmpEcho(8, 3, 4, make([]byte, 16))), 5, 200)},
	{"0x88b5", pad(eth(macB, macA, 0x88b5, []byte{1, 2, 3}), 60)},
	{"802.3", pad(eth("01:80:c2:00:00:00", macA, 38, []byte{0x42, 0x42, 0x03}), 60)},
}

// frameNamed returns the test frame called name.
func frameNamed(name string) []byte {
	for _, f := range testFrames {
		if f.name == name {
			return f.frame
		}
	}
	panic("no test frame " + name)
}

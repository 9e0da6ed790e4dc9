package dump

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// Summary describes a frame in one line, as `tcpdump -n -e` does for the
// common cases, without a timestamp:
//
//	b2:a0:3c:b6:a0:6d > ff:ff:ff:ff:ff:ff, ethertype ARP (0x0806), length 42: Request who-has 10.0.0.1 tell 10.0.0.2, length 28
//	b2:a0:20:43:71:73 > b2:a0:3c:b6:a0:6d, ethertype IPv4 (0x0800), length 98: 10.0.0.2.56518 > 10.0.0.1.7: UDP, length 56
//
// ARP, RARP, ICMP and ICMPv6 echoes, UDP and VLAN tags read as tcpdump
// 4.99 prints them. It is shorter elsewhere: TCP without options and with
// absolute sequence numbers, no application protocols, other ethertypes
// and IP protocols by number, and never a hex dump.
func Summary(frame []byte) string {
	p := decode(frame)
	if p.dst == nil {
		return fmt.Sprintf("truncated frame, length %d", len(frame))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s > %s, ", mac(p.src), mac(p.dst))
	if p.ntags == 0 && p.etype < 0x0600 {
		fmt.Fprintf(&b, "802.3, length %d", p.etype)
		return b.String()
	}
	t := p.etype
	if p.ntags > 0 {
		t = p.tags[0].tpid
	}
	fmt.Fprintf(&b, "ethertype %s (%#04x), length %d", etherName(t), t, len(frame))
	for i, tg := range p.tags[:p.ntags] {
		next := p.etype
		if i+1 < p.ntags {
			next = p.tags[i+1].tpid
		}
		sep := ", "
		if i == 0 {
			sep = ": "
		}
		fmt.Fprintf(&b, "%svlan %d, p %d", sep, tg.tci&0x0fff, tg.tci>>13)
		if tg.tci&0x1000 != 0 {
			b.WriteString(", DEI")
		}
		fmt.Fprintf(&b, ", ethertype %s (%#04x)", etherName(next), next)
	}
	if rest := p.describe(); rest != "" {
		if p.ntags > 0 {
			b.WriteString(", ")
		} else {
			b.WriteString(": ")
		}
		b.WriteString(rest)
	}
	return b.String()
}

func mac(b []byte) string { return net.HardwareAddr(b).String() }

func etherName(t uint16) string {
	switch t {
	case etherIPv4:
		return "IPv4"
	case etherARP:
		return "ARP"
	case etherRARP:
		return "Reverse ARP"
	case etherIPv6:
		return "IPv6"
	case etherVLAN:
		return "802.1Q"
	case etherQinQ:
		return "802.1Q-QinQ"
	case etherVLAN91:
		return "802.1Q-9100"
	}
	return "Unknown"
}

// describe is the part after the link layer, "" when there is nothing to
// say.
func (p *packet) describe() string {
	switch {
	case p.arp:
		return p.describeARP()
	case p.ipv != 0:
		return p.describeIP()
	}
	return ""
}

func (p *packet) describeARP() string {
	n := len(p.l3)
	switch p.arpOp {
	case 1:
		return fmt.Sprintf("Request who-has %s tell %s, length %d", p.arpTPA, p.arpSPA, n)
	case 2:
		return fmt.Sprintf("Reply %s is-at %s, length %d", p.arpSPA, mac(p.arpSHA), n)
	case 3:
		return fmt.Sprintf("Reverse Request who-is %s tell %s, length %d", mac(p.arpTHA), mac(p.arpSHA), n)
	case 4:
		return fmt.Sprintf("Reverse Reply %s at %s, length %d", mac(p.arpTHA), p.arpTPA, n)
	}
	return fmt.Sprintf("ARP op %d, length %d", p.arpOp, n)
}

// hostPort is tcpdump's address.port.
func hostPort(a netip.Addr, port uint16) string { return fmt.Sprintf("%s.%d", a, port) }

func (p *packet) describeIP() string {
	if p.fragment || p.l4 == nil {
		return fmt.Sprintf("%s > %s: ip-proto-%d", p.ipSrc, p.ipDst, p.proto)
	}
	l4 := p.l4
	switch p.proto {
	case protoUDP:
		if len(l4) >= 8 {
			return fmt.Sprintf("%s > %s: UDP, length %d", hostPort(p.ipSrc, be.Uint16(l4[0:])),
				hostPort(p.ipDst, be.Uint16(l4[2:])), int(be.Uint16(l4[4:]))-8)
		}
	case protoTCP:
		if len(l4) >= 20 && int(l4[12]>>4)*4 >= 20 {
			return fmt.Sprintf("%s > %s: %s", hostPort(p.ipSrc, be.Uint16(l4[0:])),
				hostPort(p.ipDst, be.Uint16(l4[2:])), tcpSummary(l4, p.tcpPayload()))
		}
	case protoICMP:
		if p.ipv == 4 && len(l4) >= 8 {
			return fmt.Sprintf("%s > %s: %s", p.ipSrc, p.ipDst, icmpSummary(l4, p.ipPayload))
		}
	case protoICMP6:
		if p.ipv == 6 && len(l4) >= 4 {
			return fmt.Sprintf("%s > %s: %s", p.ipSrc, p.ipDst, icmp6Summary(l4, p.ipPayload))
		}
	default:
		return fmt.Sprintf("%s > %s: ip-proto-%d %d", p.ipSrc, p.ipDst, p.proto, len(l4))
	}
	return fmt.Sprintf("%s > %s: truncated ip-proto-%d", p.ipSrc, p.ipDst, p.proto)
}

// tcpPayload is the TCP payload length: what the IP header says is left
// after the TCP header.
func (p *packet) tcpPayload() int {
	hl := int(p.l4[12]>>4) * 4
	n := len(p.l4) - hl
	if p.ipv == 4 {
		n = p.ipPayload - hl
	}
	return max(n, 0)
}

func tcpSummary(h []byte, payload int) string {
	const (
		fin = 1 << iota
		syn
		rst
		psh
		ack
		urg
		ece
		cwr
	)
	fl := h[13]
	var f strings.Builder
	for _, x := range []struct {
		bit  byte
		name byte
	}{{syn, 'S'}, {fin, 'F'}, {psh, 'P'}, {rst, 'R'}, {urg, 'U'}, {ece, 'E'}, {cwr, 'W'}} {
		if fl&x.bit != 0 {
			f.WriteByte(x.name)
		}
	}
	if fl&ack != 0 {
		f.WriteByte('.')
	}
	if f.Len() == 0 {
		f.WriteString("none")
	}
	seq := be.Uint32(h[4:])
	s := fmt.Sprintf("Flags [%s], seq %d", f.String(), seq)
	if payload > 0 {
		s = fmt.Sprintf("Flags [%s], seq %d:%d", f.String(), seq, seq+uint32(payload))
	}
	if fl&ack != 0 {
		s += fmt.Sprintf(", ack %d", be.Uint32(h[8:]))
	}
	return s + fmt.Sprintf(", win %d, length %d", be.Uint16(h[14:]), payload)
}

func icmpSummary(h []byte, length int) string {
	typ, code := h[0], h[1]
	switch typ {
	case 0, 8:
		name := "echo reply"
		if typ == 8 {
			name = "echo request"
		}
		return fmt.Sprintf("ICMP %s, id %d, seq %d, length %d", name, be.Uint16(h[4:]), be.Uint16(h[6:]), length)
	}
	return fmt.Sprintf("ICMP type %d, code %d, length %d", typ, code, length)
}

func icmp6Summary(h []byte, length int) string {
	typ := h[0]
	switch typ {
	case 128, 129:
		if len(h) >= 8 {
			name := "echo request"
			if typ == 129 {
				name = "echo reply"
			}
			return fmt.Sprintf("ICMP6, %s, id %d, seq %d, length %d", name, be.Uint16(h[4:]), be.Uint16(h[6:]), length)
		}
	case 133:
		return fmt.Sprintf("ICMP6, router solicitation, length %d", length)
	case 134:
		return fmt.Sprintf("ICMP6, router advertisement, length %d", length)
	case 135, 136:
		if len(h) >= 24 {
			target := netip.AddrFrom16([16]byte(h[8:24]))
			if typ == 135 {
				return fmt.Sprintf("ICMP6, neighbor solicitation, who has %s, length %d", target, length)
			}
			return fmt.Sprintf("ICMP6, neighbor advertisement, tgt is %s, length %d", target, length)
		}
	}
	return fmt.Sprintf("ICMP6, type %d, code %d, length %d", typ, h[1], length)
}

package dump

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// Each kind of primitive takes exactly the test frames it names, tagged
// ones included.
func TestFilterMatches(t *testing.T) {
	ipv4 := []string{"udp 53", "udp 7 reply", "tcp syn", "tcp push", "icmp echo", "icmp reply", "ip fragment", "vlan 100 udp 53", "qinq 5 200 icmp"}
	ipv6 := []string{"icmp6 echo", "icmp6 ns", "udp6 53", "tcp6 hopopts 22"}
	net10 := []string{"arp request", "arp reply padded", "udp 53", "udp 7 reply", "tcp syn", "tcp push", "icmp echo", "icmp reply", "ip fragment"}
	withB := []string{"arp reply padded", "udp 53", "udp 7 reply", "tcp syn", "tcp push", "icmp echo", "icmp reply", "ip fragment",
		"udp6 53", "tcp6 hopopts 22", "vlan 100 udp 53", "qinq 5 200 icmp", "0x88b5"}
	var all []string
	for _, f := range testFrames {
		all = append(all, f.name)
	}
	for _, c := range []struct {
		expr string
		want []string
	}{
		{"", all},
		{"  ", all},
		{"arp", []string{"arp request", "arp reply padded"}},
		{"rarp", nil},
		{"ip", ipv4},
		{"ip6", ipv6},
		{"0x88b5", []string{"0x88b5"}},
		{"ether proto 0x88b5", []string{"0x88b5"}},
		{"ether proto 34997", []string{"0x88b5"}},
		{"ether proto ip6", ipv6},
		{"ether proto arp", []string{"arp request", "arp reply padded"}},
		{"0x8100", []string{"vlan 100 udp 53", "qinq 5 200 icmp"}},
		{"ether proto vlan", []string{"vlan 100 udp 53", "qinq 5 200 icmp"}},
		{"vlan", []string{"vlan 100 udp 53", "qinq 5 200 icmp"}},
		{"vlan 100", []string{"vlan 100 udp 53"}},
		{"vlan 5", []string{"qinq 5 200 icmp"}},
		{"vlan 200", []string{"qinq 5 200 icmp"}},
		{"vlan 7", nil},
		{"udp", []string{"udp 53", "udp 7 reply", "ip fragment", "udp6 53", "vlan 100 udp 53"}},
		{"tcp", []string{"tcp syn", "tcp push", "tcp6 hopopts 22"}},
		{"icmp", []string{"icmp echo", "icmp reply", "qinq 5 200 icmp"}},
		{"icmp6", []string{"icmp6 echo", "icmp6 ns"}},
		{"proto icmp6", []string{"icmp6 echo", "icmp6 ns"}},
		{"proto icmp", []string{"icmp echo", "icmp reply", "qinq 5 200 icmp"}},
		{"proto 6", []string{"tcp syn", "tcp push", "tcp6 hopopts 22"}},
		{"proto tcp", []string{"tcp syn", "tcp push", "tcp6 hopopts 22"}},
		{"ip proto 17", []string{"udp 53", "udp 7 reply", "ip fragment", "vlan 100 udp 53"}},
		{"ip6 proto udp", []string{"udp6 53"}},
		{"port 53", []string{"udp 53", "udp6 53", "vlan 100 udp 53"}},
		{"dst port 53", []string{"udp 53", "udp6 53", "vlan 100 udp 53"}},
		{"src port 53", nil},
		{"udp port 53", []string{"udp 53", "udp6 53", "vlan 100 udp 53"}},
		{"udp dst port 53", []string{"udp 53", "udp6 53", "vlan 100 udp 53"}},
		{"udp src port 53", nil},
		{"tcp port 53", nil},
		{"tcp src port 8080", []string{"tcp push"}},
		{"udp port 53 or tcp port 22", []string{"udp 53", "udp6 53", "vlan 100 udp 53", "tcp6 hopopts 22"}},
		{"port 8080", []string{"tcp syn", "tcp push"}},
		{"src port 8080", []string{"tcp push"}},
		{"port 22", []string{"tcp6 hopopts 22"}},
		{"port 7", []string{"udp 7 reply"}},
		{"host 10.0.0.1", net10},
		{"src host 10.0.0.1", []string{"arp request", "udp 53", "tcp syn", "icmp echo", "ip fragment"}},
		{"dst 10.0.0.1", []string{"arp reply padded", "udp 7 reply", "tcp push", "icmp reply"}},
		{"10.0.0.3", []string{"icmp echo", "icmp reply"}},
		{"net 10.0.1.0/24", []string{"vlan 100 udp 53"}},
		{"net 10.0.0.0/16", append(slices.Clone(net10), "vlan 100 udp 53", "qinq 5 200 icmp")},
		{"src net 10.0.2.0/24", []string{"qinq 5 200 icmp"}},
		{"dst net 10.0.2.2", []string{"qinq 5 200 icmp"}},
		{"host fe80::a", []string{"icmp6 echo", "icmp6 ns"}},
		{"dst ff02::1", []string{"icmp6 echo"}},
		{"net ff02::/16", []string{"icmp6 echo", "icmp6 ns"}},
		{"2001:db8::b", []string{"udp6 53", "tcp6 hopopts 22"}},
		{"ether host 02:00:00:00:00:0b", withB},
		{"02-00-00-00-00-0B", withB},
		{"ether src 2:0:0:0:0:b", []string{"arp reply padded", "udp 7 reply", "tcp push", "icmp reply"}},
		{"ether src host 2:0:0:0:0:b", []string{"arp reply padded", "udp 7 reply", "tcp push", "icmp reply"}},
		{"dst 02:00:00:00:00:0a", []string{"arp reply padded", "udp 7 reply", "tcp push", "icmp reply"}},
		{"ether dst host ff:ff:ff:ff:ff:ff", []string{"arp request"}},
		{"broadcast", []string{"arp request"}},
		{"multicast", []string{"arp request", "icmp6 echo", "icmp6 ns", "802.3"}},
		{"ether multicast", []string{"arp request", "icmp6 echo", "icmp6 ns", "802.3"}},
		{"not ip and not ip6", []string{"arp request", "arp reply padded", "0x88b5", "802.3"}},
		{"!(ip or ip6)", []string{"arp request", "arp reply padded", "0x88b5", "802.3"}},
		{"not not arp", []string{"arp request", "arp reply padded"}},
		{"(((arp)))", []string{"arp request", "arp reply padded"}},
		{"arp or (udp and port 53)", []string{"arp request", "arp reply padded", "udp 53", "udp6 53", "vlan 100 udp 53"}},
		{"icmp || icmp6", []string{"icmp echo", "icmp reply", "icmp6 echo", "icmp6 ns", "qinq 5 200 icmp"}},
		{"ip&&dst port 8080", []string{"tcp syn"}},
		{"vlan and not udp", []string{"qinq 5 200 icmp"}},
		{"(tcp or udp) and not (port 53 or port 8080)", []string{"udp 7 reply", "ip fragment", "tcp6 hopopts 22"}},
	} {
		f, err := ParseFilter(c.expr)
		if err != nil {
			t.Errorf("%q: %v", c.expr, err)
			continue
		}
		var got []string
		for _, tf := range testFrames {
			if f.Match(tf.frame) {
				got = append(got, tf.name)
			}
		}
		want := c.want
		slices.SortFunc(want, func(a, b string) int { return indexOfFrame(a) - indexOfFrame(b) })
		if !slices.Equal(got, want) {
			t.Errorf("%q (%s):\n got %q\nwant %q", c.expr, f, got, want)
		}
	}
}

func indexOfFrame(name string) int {
	for i, f := range testFrames {
		if f.name == name {
			return i
		}
	}
	panic(name)
}

// The canonical form shows how an expression was grouped, and parses back
// to itself.
func TestFilterString(t *testing.T) {
	for expr, want := range map[string]string{
		"":                         "",
		"arp":                      "arp",
		"not arp":                  "not arp",
		"arp or (udp and port 53)": "(arp or (proto udp and port 53))",
		"!(ip or ip6)":             "not (ip or ip6)",
		"src 10.0.0.1":             "src host 10.0.0.1",
		"02:00:00:00:00:0B":        "ether host 02:00:00:00:00:0b",
		"ether dst 2-0-0-0-0-1":    "ether dst host 02:00:00:00:00:01",
		"icmp":                     "ip proto icmp",
		"udp":                      "proto udp",
		"udp port 53":              "udp port 53",
		"tcp dst port 80 or icmp":  "(tcp dst port 80 or ip proto icmp)",
		"ip6 proto 0x3a":           "ip6 proto icmp6",
		"0x88b5":                   "ether proto 0x88b5",
		"ether proto ip":           "ether proto 0x0800",
		"net 10.1.2.3/8":           "net 10.0.0.0/8",
		"dst net fe80::1/10":       "dst net fe80::/10",
		"vlan 100 and (tcp)":       "(vlan 100 and (proto tcp))",
		"a or b":                   "",
	} {
		f, err := ParseFilter(expr)
		if want == "" && expr != "" {
			if err == nil {
				t.Errorf("%q parsed", expr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", expr, err)
			continue
		}
		if f.String() != want {
			t.Errorf("%q: %q, want %q", expr, f.String(), want)
		}
		g, err := ParseFilter(f.String())
		if err != nil || g.String() != f.String() {
			t.Errorf("%q does not parse back: %v, %q", f.String(), err, g)
		}
	}
}

// Malformed expressions are refused with what was wrong and where.
func TestFilterErrors(t *testing.T) {
	for _, c := range []struct {
		expr    string
		problem FilterProblem
		word    string
		offset  int
		after   string
		want    FilterValue
	}{
		{"foo", FilterUnknown, "foo", 0, "", ValuePrimitive},
		{"53", FilterUnknown, "53", 0, "", ValuePrimitive},
		{"port", FilterMissing, "", 4, "port", ValuePort},
		{"port abc", FilterBadValue, "abc", 5, "port", ValuePort},
		{"port 65536", FilterBadValue, "65536", 5, "port", ValuePort},
		{"port +5", FilterBadValue, "+5", 5, "port", ValuePort},
		{"vlan 4096", FilterBadValue, "4096", 5, "vlan", ValueVLAN},
		{"host 10.0.0.300", FilterBadValue, "10.0.0.300", 5, "host", ValueAddress},
		{"host fe80::1%eth0", FilterBadValue, "fe80::1%eth0", 5, "host", ValueAddress},
		{"net 10.0.0.0/33", FilterBadValue, "10.0.0.0/33", 4, "net", ValuePrefix},
		{"arp and", FilterMissing, "", 7, "", ValuePrimitive},
		{"arp ip", FilterUnexpected, "ip", 4, "", ValueOperator},
		{"(arp", FilterMissing, "", 4, "", ValueClose},
		{"(arp ip)", FilterUnexpected, "ip", 5, "", ValueOperator},
		{"arp)", FilterUnmatched, ")", 3, "", ValueNone},
		{"()", FilterUnexpected, ")", 1, "", ValuePrimitive},
		{"arp and ip or udp", FilterMixed, "or", 11, "", ValueNone},
		{"arp || ip && udp", FilterMixed, "&&", 10, "", ValueNone},
		{"not", FilterMissing, "", 3, "", ValuePrimitive},
		{"ether", FilterMissing, "", 5, "ether", ValueAfterEther},
		{"ether foo", FilterBadValue, "foo", 6, "ether", ValueAfterEther},
		{"ether src 10.0.0.1", FilterBadValue, "10.0.0.1", 10, "src", ValueMAC},
		{"ether proto 0x10000", FilterBadValue, "0x10000", 12, "proto", ValueEtherType},
		{"0xzz", FilterBadValue, "0xzz", 0, "", ValueEtherType},
		{"src foo", FilterBadValue, "foo", 4, "src", ValueAfterDir},
		{"dst", FilterMissing, "", 3, "dst", ValueAfterDir},
		{"proto xyz", FilterBadValue, "xyz", 6, "proto", ValueProto},
		{"ip proto 256", FilterBadValue, "256", 9, "proto", ValueProto},
		{"and arp", FilterUnexpected, "and", 0, "", ValuePrimitive},
	} {
		_, err := ParseFilter(c.expr)
		var fe *FilterError
		if !errors.As(err, &fe) || !errors.Is(err, ErrFilter) {
			t.Errorf("%q: %v", c.expr, err)
			continue
		}
		if fe.Problem != c.problem || fe.Word != c.word || fe.Offset != c.offset || fe.After != c.after || fe.Want != c.want {
			t.Errorf("%q: %+v\nwant problem %d word %q offset %d after %q want %d", c.expr, *fe, c.problem, c.word, c.offset, c.after, c.want)
		}
		if !strings.HasPrefix(err.Error(), "dump: filter: ") {
			t.Errorf("%q: message %q", c.expr, err)
		}
	}
}

// Every prefix of every test frame, however short, is matched and
// summarised without a panic, and a frame cut inside a header no longer
// matches what lies beyond the cut.
func TestFilterTruncatedFrames(t *testing.T) {
	filters := []string{"arp", "ip", "vlan 5", "port 53", "host 10.0.0.1", "icmp6", "tcp", "broadcast", "net ff02::/16", "0x88b5"}
	for _, tf := range testFrames {
		for n := 0; n <= len(tf.frame); n++ {
			f := tf.frame[:n]
			Summary(f)
			for _, expr := range filters {
				flt, _ := ParseFilter(expr)
				flt.Match(f)
			}
		}
	}
	udp := frameNamed("udp 53")
	port, _ := ParseFilter("port 53")
	if !port.Match(udp) || port.Match(udp[:14+20+3]) {
		t.Error("a UDP header cut before the destination port matches port 53")
	}
}

// Parsing never panics, and what parses prints to a form that parses to
// the same filter.
func FuzzFilter(f *testing.F) {
	for _, s := range []string{"arp or (udp and port 53)", "not vlan 100 && ! src net 10.0.0.0/8", "ether src host 02:00:00:00:00:01",
		"((ip6 proto 58))", "0x88b5 || ether proto ip", "dst fe80::1 and not broadcast"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		flt, err := ParseFilter(expr)
		if err != nil {
			return
		}
		again, err := ParseFilter(flt.String())
		if err != nil || again.String() != flt.String() {
			t.Fatalf("%q printed as %q, which parses to %v, %v", expr, flt, again, err)
		}
		for _, tf := range testFrames {
			if flt.Match(tf.frame) != again.Match(tf.frame) {
				t.Fatalf("%q and %q differ on %s", expr, flt, tf.name)
			}
		}
	})
}

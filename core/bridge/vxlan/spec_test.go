package vxlan

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestParse: valid specs parse to the expected config and are written back
// as a canonical spec that parses to the same config.
func TestParse(t *testing.T) {
	for _, tc := range []struct {
		spec, canonical string
		check           func(config) bool
	}{
		{"10.0.0.2/vni=42", "10.0.0.2/vni=42", func(c config) bool {
			return c.vni == 42 && len(c.remotes) == 1 && c.dstPort == 4789 && c.learning &&
				c.ageing == 300*time.Second && c.ttl == 0 && c.srcMax == 0
		}},
		{"vxlan://10.0.0.2:8472/id=7", "10.0.0.2:8472/vni=7", func(c config) bool {
			return c.vni == 7 && c.remotes[0].port == 8472 && c.dstPort == 4789
		}},
		{"10.0.0.2,10.0.0.3/vni=1/dstport=8472/local=10.0.0.1/ttl=4",
			"10.0.0.2,10.0.0.3/vni=1/dstport=8472/local=10.0.0.1/ttl=4", func(c config) bool {
				return len(c.remotes) == 2 && c.dstPort == 8472 && c.local == netip.MustParseAddr("10.0.0.1") && c.ttl == 4
			}},
		{"/remote=10.0.0.2/remote=10.0.0.3:5000/vni=0", "10.0.0.2,10.0.0.3:5000/vni=0", func(c config) bool {
			return c.vni == 0 && len(c.remotes) == 2 && c.remotes[1].port == 5000
		}},
		{"239.1.1.1/dev=veth0/vni=16777215", "239.1.1.1/vni=16777215/dev=veth0", func(c config) bool {
			return c.group == netip.MustParseAddr("239.1.1.1") && c.dev == "veth0" && c.vni == maxVNI
		}},
		{"/group=ff05::1/dev=eth0/vni=5/ttl=auto", "[ff05::1]/vni=5/dev=eth0", func(c config) bool {
			return c.group.Is6() && c.ttl == 0
		}},
		{"[2001:db8::2]:4790,2001:db8::3/vni=9", "[2001:db8::2]:4790,[2001:db8::3]/vni=9", func(c config) bool {
			return c.remotes[0].port == 4790 && c.remotes[1].port == 0 && c.remotes[1].addr.Is6()
		}},
		{"[fe80::2%veth0]/vni=9", "[fe80::2%veth0]/vni=9", func(c config) bool {
			return c.remotes[0].addr.Zone() == "veth0"
		}},
		{"fe80::2/vni=9/dev=veth0", "[fe80::2]/vni=9/dev=veth0", func(c config) bool { return c.dev == "veth0" }},
		{"10.0.0.2/vni=1/srcport=1000-2000/nolearning/ageing=20/maxaddress=64",
			"10.0.0.2/vni=1/srcport=1000-2000/nolearning/ageing=20/maxaddress=64", func(c config) bool {
				return c.srcMin == 1000 && c.srcMax == 2000 && !c.learning && c.ageing == 20*time.Second && c.maxAddress == 64
			}},
		{"10.0.0.2/vni=1/learning", "10.0.0.2/vni=1", func(c config) bool { return c.learning }},
		{"/vni=1/fdb=00:00:00:00:00:00@10.0.0.2/fdb=02:00:00:00:00:01@10.0.0.3:9000",
			"/vni=1/fdb=00:00:00:00:00:00@10.0.0.2/fdb=02:00:00:00:00:01@10.0.0.3:9000", func(c config) bool {
				return len(c.static) == 2 && c.static[0].mac.isZero() && c.static[1].dst.port == 9000
			}},
		{"::ffff:10.0.0.2/vni=1", "10.0.0.2/vni=1", func(c config) bool { return c.remotes[0].addr.Is4() }},
		{"169.254.0.2/vni=1/local=169.254.0.1", "169.254.0.2/vni=1/local=169.254.0.1", func(c config) bool { return c.local.IsLinkLocalUnicast() }},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			c, err := parse(tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Errorf("config %+v", c)
			}
			if got := c.String(); got != tc.canonical {
				t.Errorf("String() = %q, want %q", got, tc.canonical)
			}
			again, err := parse(c.String())
			if err != nil || again.String() != c.String() {
				t.Errorf("canonical form parses to %q, %v", again.String(), err)
			}
		})
	}
}

// TestParseErrors: every malformed spec gives one error that names the
// problem and unwraps to EINVAL.
func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ spec, want string }{
		{"10.0.0.2", "no vni"},
		{"10.0.0.2/vni=16777216", "vni 16777216 out of range 0..16777215"},
		{"10.0.0.2/vni=-1", `vni "-1" is not a number`},
		{"10.0.0.2/vni=99999999999999999999", "vni 99999999999999999999 out of range"},
		{"10.0.0.2/vni=1/id=2", "vni given twice"},
		{"10.0.0.2/vni=", "option vni needs a value"},
		{"10.0.0.2/vni=1/colour=blue", `unknown option "colour"`},
		{"10.0.0.2/vni=1/tos=4", "option tos of ip-link's vxlan is not supported"},
		{"10.0.0.2/vni=1/l2miss", "option l2miss of ip-link's vxlan is not supported"},
		{"10.0.0.2/vni=1/", "empty option"},
		{"10.0.0.2//vni=1", "empty option"},
		{"10.0.0.300/vni=1", `address "10.0.0.300" is not a numeric IPv4 or IPv6 address`},
		{"example.com/vni=1", `address "example.com" is not a numeric`},
		{"10.0.0.2:0/vni=1", "port"},
		{"10.0.0.2:70000/vni=1", "port"},
		{"10.0.0.2:x/vni=1", `address port "x" must be a port number`},
		{"[2001:db8::1/vni=1", "missing ]"},
		{"[10.0.0.1]:5/vni=1", "not an IPv6 address inside [ ]"},
		{"0.0.0.0/vni=1", "unspecified address"},
		{"255.255.255.255/vni=1", "broadcast address"},
		{"10.0.0.2%eth0/vni=1", "not a numeric"},
		{"[2001:db8::1%eth0]/vni=1", "a zone only goes with a link-local address"},
		{"10.0.0.2,10.0.0.2/vni=1", "remote 10.0.0.2 given twice"},
		{"/vni=1/remote=239.1.1.1", "remote 239.1.1.1 is a multicast address: use group="},
		{"/vni=1/group=10.0.0.1/dev=eth0", "group 10.0.0.1 is not a multicast address"},
		{"239.1.1.1/vni=1", "group 239.1.1.1 needs dev=DEVICE"},
		{"239.1.1.1,239.1.1.2/vni=1/dev=eth0", "a second group 239.1.1.2"},
		{"239.1.1.1:4789/vni=1/dev=eth0", "takes no port"},
		{"/vni=1", "no destination"},
		{"10.0.0.2,2001:db8::2/vni=1", "mix IPv4 and IPv6"},
		{"10.0.0.2/vni=1/local=2001:db8::1", "mix IPv4 and IPv6"},
		{"10.0.0.2/vni=1/local=239.0.0.1", "must be a unicast address"},
		{"10.0.0.2/vni=1/local=10.0.0.1:5", "takes no port"},
		{"fe80::2/vni=1", "needs a zone (%DEVICE) or dev=DEVICE"},
		{"[fe80::2%eth0]/vni=1/local=fe80::1", "local fe80::1 is link-local: give dev=DEVICE"},
		{"10.0.0.2/vni=1/dev=averyveryverylongname", "longer than 15 bytes"},
		{"10.0.0.2/vni=1/dev=a,b", "not a device name"},
		{"10.0.0.2/vni=1/dev=a/dev=b", "option dev given twice"},
		{"10.0.0.2/vni=1/ttl=0", "ttl \"0\" must be 1..255 or auto"},
		{"10.0.0.2/vni=1/ttl=256", "must be 1..255"},
		{"10.0.0.2/vni=1/dstport=0", "dstport \"0\" must be a port number"},
		{"10.0.0.2/vni=1/srcport=2000", "must be MIN-MAX"},
		{"10.0.0.2/vni=1/srcport=2000-2000", "MIN must be below MAX"},
		{"10.0.0.2/vni=1/srcport=2000-1000", "MIN must be below MAX"},
		{"10.0.0.2/vni=1/learning=yes", "option learning takes no value"},
		{"10.0.0.2/vni=1/learning/nolearning", "learning or nolearning given twice"},
		{"10.0.0.2/vni=1/ageing=0", "ageing \"0\" must be a whole number of seconds, at least 1"},
		{"10.0.0.2/vni=1/ageing=1.5", "whole number of seconds"},
		{"10.0.0.2/vni=1/maxaddress=x", "maxaddress \"x\" is not a number"},
		{"10.0.0.2/vni=1/fdb=02:00:00:00:00:01", "must be MAC@ADDRESS"},
		{"10.0.0.2/vni=1/fdb=02:00:00:00:01@10.0.0.3", "is not an Ethernet address"},
		{"10.0.0.2/vni=1/fdb=01:00:5e:00:00:01@10.0.0.3", "is a group address"},
		{"10.0.0.2/vni=1/fdb=02:00:00:00:00:01@10.0.0.3/fdb=02:00:00:00:00:01@10.0.0.4", "given twice"},
		{"10.0.0.2/vni=1/maxaddress=1/fdb=02:00:00:00:00:01@10.0.0.3/fdb=02:00:00:00:00:02@10.0.0.3",
			"2 fdb entries exceed maxaddress=1"},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			_, err := parse(tc.spec)
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to say %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.spec) {
				t.Errorf("error %q does not quote the spec", err)
			}
			if !errors.Is(err, unix.EINVAL) {
				t.Errorf("error %q is not EINVAL", err)
			}
		})
	}
}

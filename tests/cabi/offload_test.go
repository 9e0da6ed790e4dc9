package cabi_test

import (
	"encoding/binary"
	"fmt"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// Offload: the capabilities, capenable and RUMP_SHMIF_CAPENABLE, and
// shmif_send_offload.

// TestCapabilities: the MTU, capabilities and the checks of capenable.
func TestCapabilities(t *testing.T) {
	setup(t)
	os.Unsetenv("RUMP_SHMIF_CAPENABLE")
	var u int32
	must(t, "shmif_create", lib.shmif_create(-1, &u))
	destroyLater(t, u)
	if c := capenableOf(t, u); c != 0 {
		t.Errorf("capenable without RUMP_SHMIF_CAPENABLE = %#x, want 0", c)
	}
	for _, c := range []uint32{capabilities, 0x15500, capIPv4Tx, 0} {
		must(t, fmt.Sprintf("shmif_set_capenable(%#x)", c), lib.shmif_set_capenable(u, c))
		if got := capenableOf(t, u); got != c {
			t.Errorf("capenable = %#x after setting %#x", got, c)
		}
	}
	must(t, "shmif_set_capenable", lib.shmif_set_capenable(u, 0x15500))
	for _, c := range []uint32{0x80000, 0x1, 0x7f, 0xffffffff, capabilities | 0x40} {
		check(t, fmt.Sprintf("shmif_set_capenable(%#x)", c), lib.shmif_set_capenable(u, c), unix.EINVAL)
	}
	if got := capenableOf(t, u); got != 0x15500 {
		t.Errorf("a refused set changed capenable to %#x", got)
	}
	var caps uint32
	var m int32
	must(t, "shmif_get_capabilities", lib.shmif_get_capabilities(u, &caps))
	must(t, "shmif_get_mtu", lib.shmif_get_mtu(u, &m))
	if caps != capabilities || m != mtu {
		t.Errorf("capabilities %#x mtu %d", caps, m)
	}
	check(t, "shmif_set_spin(-1)", lib.shmif_set_spin(u, -1), unix.EINVAL)
	check(t, "shmif_set_spin(0)", lib.shmif_set_spin(u, 0), 0)
	check(t, "shmif_set_spin(1000)", lib.shmif_set_spin(u, 1000), 0)
}

// TestCapenableEnv: RUMP_SHMIF_CAPENABLE, read at each creation, parsed like
// strtoul(s, NULL, 0) and masked with SHMIF_CAPABILITIES.
func TestCapenableEnv(t *testing.T) {
	setup(t)
	cases := []struct {
		value string
		want  uint32
	}{
		{"0x7ff80", 0x7ff80},
		{"524160", 0x7ff80},
		{"0x15500junk", 0x15500},
		{"garbage", 0},
		{"0xfffffff", 0x7ff80},
		{"0200", 0x80},
		{"", 0},
	}
	for _, c := range cases {
		t.Setenv("RUMP_SHMIF_CAPENABLE", c.value)
		var u, v int32
		must(t, "shmif_create", lib.shmif_create(-1, &u))
		got := capenableOf(t, u)
		lib.shmif_destroy(u)
		must(t, "rump_pub_shmif_create", lib.rump_pub_shmif_create(cstr(busPath(t)), &v))
		got2 := capenableOf(t, v)
		lib.shmif_destroy(v)
		if got != c.want || got2 != c.want {
			t.Errorf("RUMP_SHMIF_CAPENABLE=%q: capenable %#x (shmif_create), %#x (rump_pub_shmif_create); want %#x",
				c.value, got, got2, c.want)
		}
	}
	os.Unsetenv("RUMP_SHMIF_CAPENABLE")
	var u int32
	must(t, "shmif_create", lib.shmif_create(-1, &u))
	defer lib.shmif_destroy(u)
	if got := capenableOf(t, u); got != 0 {
		t.Errorf("RUMP_SHMIF_CAPENABLE unset: capenable %#x, want 0", got)
	}
}

// TestSendOffload: the errors of shmif_send_offload, and csum_flags 0 as
// shmif_send.
func TestSendOffload(t *testing.T) {
	setup(t)
	need(t, "shmif_send_offload")
	a, b := pair(t)
	ma := macOf(t, a)
	// An IPv4/UDP frame: 14 + 20 + 8 + 4 bytes.
	f := frame(broadcast, ma, 46, "data")
	f[12], f[13] = 0x08, 0x00
	ip := f[14:34]
	clear(ip)
	ip[0], ip[8], ip[9] = 0x45, 64, 17
	binary.BigEndian.PutUint16(ip[2:], 32)
	copy(ip[12:], []byte{10, 0, 0, 1, 10, 0, 0, 255})
	binary.BigEndian.PutUint16(f[34+4:], 12)

	must(t, "shmif_send_offload(flags 0)", lib.shmif_send_offload(a, &f[0], uintptr(len(f)), 0, 0))
	mustRecv(t, b, f)
	must(t, "shmif_set_capenable(0)", lib.shmif_set_capenable(a, 0))
	check(t, "shmif_send_offload(IPv4 without capability)",
		lib.shmif_send_offload(a, &f[0], uintptr(len(f)), csumIPv4, 0), unix.EOPNOTSUPP)
	if st := statsOf(t, a); st.oerrors != 1 {
		t.Errorf("oerrors = %d after EOPNOTSUPP, want 1", st.oerrors)
	}
	nothing(t, b, "after a refused offload send")
	must(t, "shmif_set_capenable(IPv4_Tx)", lib.shmif_set_capenable(a, capIPv4Tx))
	check(t, "shmif_send_offload(unknown flag)",
		lib.shmif_send_offload(a, &f[0], uintptr(len(f)), 0x80000000, 0), unix.EINVAL)
	must(t, "shmif_send_offload(IPv4)", lib.shmif_send_offload(a, &f[0], uintptr(len(f)), csumIPv4, 0))
	if g, rc := recv(b, 1000); rc != 0 || len(g) != len(f) || binary.BigEndian.Uint16(g[24:]) == 0 {
		t.Errorf("offloaded IPv4 frame: %s, %d bytes % x", errName(rc), len(g), g)
	}
	big := make([]byte, 1515)
	copy(big, f)
	check(t, "shmif_send_offload(1515 bytes, IPv4)",
		lib.shmif_send_offload(a, &big[0], 1515, csumIPv4, 0), unix.EMSGSIZE)
	must(t, "shmif_down", lib.shmif_down(a))
	check(t, "shmif_send_offload while down",
		lib.shmif_send_offload(a, &f[0], uintptr(len(f)), csumIPv4, 0), unix.ENETDOWN)
}

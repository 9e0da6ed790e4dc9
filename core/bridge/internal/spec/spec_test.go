package spec

import (
	"errors"
	"reflect"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParse(t *testing.T) {
	for _, c := range []struct {
		in    string
		known []string
		addr  string
		opts  map[string]string
	}{
		{"tap://tap0", []string{"mtu"}, "tap0", map[string]string{}},
		{"tap://tap0/mtu=9000", []string{"mtu"}, "tap0", map[string]string{"mtu": "9000"}},
		{"stream://unix:/run/a/b.sock/mode=0660", []string{"mode", "public"}, "unix:/run/a/b.sock", map[string]string{"mode": "0660"}},
		{"stream://listen:tcp:0.0.0.0:5/public/mode=1", []string{"mode", "public"}, "listen:tcp:0.0.0.0:5", map[string]string{"mode": "1", "public": ""}},
		{"shmif:///tmp/bus", []string{"mode"}, "/tmp/bus", map[string]string{}},
		{"shmif:///tmp/x.y/bus", []string{"mode"}, "/tmp/x.y/bus", map[string]string{}},
	} {
		u, err := Parse(c.in, c.known...)
		if err != nil {
			t.Errorf("%s: %v", c.in, err)
			continue
		}
		if u.Addr != c.addr || !reflect.DeepEqual(u.Opts, c.opts) {
			t.Errorf("%s: addr %q opts %v", c.in, u.Addr, u.Opts)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, in := range []string{"tap0", "://x", "tap://x/mtu=1/mtu=2", "tap://x/mtus=1"} {
		_, err := Parse(in, "mtu")
		var bad *BadURL
		if !errors.Is(err, unix.EINVAL) || !errors.As(err, &bad) {
			t.Errorf("%s: %v", in, err)
		}
	}
}

func TestValues(t *testing.T) {
	u, _ := Parse("x://a/n=12/m=0640/f/g=off", "n", "m", "f", "g", "h")
	if n, err := u.Int("n", 0, 1, 20); n != 12 || err != nil {
		t.Errorf("Int: %d %v", n, err)
	}
	if _, err := u.Int("n", 0, 1, 10); err == nil {
		t.Error("Int out of range accepted")
	}
	if n, _ := u.Int("h", 7, 1, 10); n != 7 {
		t.Error("default not used")
	}
	if m, err := u.Mode("m", 0); m != 0o640 || err != nil {
		t.Errorf("Mode: %o %v", m, err)
	}
	if f, err := u.Flag("f"); !f || err != nil {
		t.Errorf("Flag f: %v %v", f, err)
	}
	if g, err := u.Flag("g"); g || err != nil {
		t.Errorf("Flag g: %v %v", g, err)
	}
}

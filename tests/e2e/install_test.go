package e2e_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/libshmif/libshmif/internal/testlib"
)

// make install puts the library (with its soname link), the header,
// shmif.pc, the tools and the man pages under DESTDIR/PREFIX, and a C
// program built with pkg-config's flags against them runs.
func TestMakeInstall(t *testing.T) {
	build := testlib.Build(t)
	dest := t.TempDir()
	cmd := exec.Command("make", "-C", testlib.Root(), "BUILD="+build, "PREFIX=/opt/shmif", "DESTDIR="+dest, "install")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	root := filepath.Join(dest, "opt", "shmif")
	for _, f := range []string{
		"lib/libshmif.so.0", "lib/libshmif.so", "lib/pkgconfig/shmif.pc", "include/rump/rump.h",
		"bin/shmif_dumpbus", "bin/shmif_pcapin",
		"share/man/man3/libshmif.3", "share/man/man1/shmif_dumpbus.1", "share/man/man1/shmif_pcapin.1",
	} {
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			t.Errorf("not installed: %s", f)
		}
	}
	pc, err := os.ReadFile(filepath.Join(root, "lib/pkgconfig/shmif.pc"))
	if err != nil || !strings.Contains(string(pc), "prefix=/opt/shmif") || !strings.Contains(string(pc), "-lshmif") {
		t.Fatalf("shmif.pc:\n%s", pc)
	}
	pkgconfig, err := exec.LookPath("pkg-config")
	if err != nil {
		t.Skip("pkg-config is not installed")
	}
	flags := exec.Command(pkgconfig, "--cflags", "--libs", "shmif")
	flags.Env = append(os.Environ(), "PKG_CONFIG_PATH="+filepath.Join(root, "lib/pkgconfig"), "PKG_CONFIG_SYSROOT_DIR="+dest)
	out, err := flags.Output()
	if err != nil {
		t.Fatalf("pkg-config: %v", err)
	}
	src := filepath.Join(t.TempDir(), "prog.c")
	os.WriteFile(src, []byte(`#include <rump/rump.h>
#include <stdio.h>
int main(int argc, char **argv) {
	int ifnum, err;
	unsigned char mac[6];
	(void)argc;
	if ((err = rump_init()) != 0 || (err = rump_pub_shmif_create(argv[1], &ifnum)) != 0 ||
	    (err = shmif_get_mac(ifnum, mac)) != 0 || (err = shmif_destroy(ifnum)) != 0)
		return err;
	printf("shmif%d %02x:%02x\n", ifnum, mac[0], mac[1]);
	return 0;
}
`), 0o644)
	bin := filepath.Join(t.TempDir(), "prog")
	args := append([]string{"-Wall", "-Werror", "-o", bin, src}, strings.Fields(string(out))...)
	args = append(args, "-Wl,-rpath,"+filepath.Join(root, "lib"))
	if out, err := exec.Command("cc", args...).CombinedOutput(); err != nil {
		t.Fatalf("cc %v: %v\n%s", args, err, out)
	}
	run, err := exec.Command(bin, filepath.Join(t.TempDir(), "bus")).CombinedOutput()
	if err != nil || strings.TrimSpace(string(run)) != "shmif0 b2:a0" {
		t.Fatalf("program: %v: %s", err, run)
	}
}

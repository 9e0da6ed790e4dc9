package e2e_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/libshmif/libshmif/internal/testlib"
)

// make install puts the library (the file libshmif.so.0.1.0 with its soname
// and development links), the header in a directory of its own, shmif.pc,
// the stripped tools, shmif-node and the man pages, with a link for every
// function of the header, under DESTDIR/PREFIX; a C program built with
// pkg-config's flags against them runs, and finds libshmif's <rump/rump.h>
// even beside a rump kernel's in the common include directory; make
// uninstall removes all of it.
func TestMakeInstall(t *testing.T) {
	build := testlib.Build(t)
	dest := t.TempDir()
	cmd := exec.Command("make", "-C", testlib.Root(), "BUILD="+build, "PREFIX=/opt/shmif", "DESTDIR="+dest, "install")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	root := filepath.Join(dest, "opt", "shmif")
	files := []string{
		"lib/libshmif.so.0.1.0", "lib/libshmif.so.0", "lib/libshmif.so", "lib/pkgconfig/shmif.pc",
		"include/libshmif/rump/rump.h",
		"bin/shmif_dumpbus", "bin/shmif_pcapin", "bin/shmifctl", "bin/shmif_bridge", "bin/shmif-node",
		"share/man/man3/libshmif.3", "share/man/man1/shmif_dumpbus.1", "share/man/man1/shmif_pcapin.1",
		"share/man/man1/shmifctl.1", "share/man/man1/shmif_bridge.1", "share/man/man1/shmif-node.1",
		"share/man/man3/shmif_send.3", "share/man/man3/rump_pub_shmif_create.3", "share/man/man3/shmif_capture.3",
	}
	for _, f := range files {
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			t.Errorf("not installed: %s", f)
		}
	}
	for link, target := range map[string]string{"lib/libshmif.so.0": "libshmif.so.0.1.0", "lib/libshmif.so": "libshmif.so.0"} {
		if got, err := os.Readlink(filepath.Join(root, link)); err != nil || got != target {
			t.Errorf("%s -> %q (%v), want %s", link, got, err, target)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(root, "share/man/man3/shmif_send.3")); string(b) != ".so man3/libshmif.3\n" {
		t.Errorf("shmif_send.3 is %q", b)
	}
	if out, err := exec.Command("file", filepath.Join(root, "bin/shmif_dumpbus")).Output(); err == nil && !strings.Contains(string(out), ", stripped") {
		t.Errorf("tools are not stripped: %s", out)
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
	// A rump kernel's <rump/rump.h> in a system include directory, which
	// the compiler searches after the -I directories: pkg-config's flags
	// must find libshmif's first.
	decoy := t.TempDir()
	os.MkdirAll(filepath.Join(decoy, "rump"), 0o755)
	os.WriteFile(filepath.Join(decoy, "rump", "rump.h"), []byte("#error this is the rump kernel's rump.h\n"), 0o644)
	args := append([]string{"-Wall", "-Werror", "-idirafter", decoy, "-o", bin, src}, strings.Fields(string(out))...)
	args = append(args, "-Wl,-rpath,"+filepath.Join(root, "lib"))
	if out, err := exec.Command("cc", args...).CombinedOutput(); err != nil {
		t.Fatalf("cc %v: %v\n%s", args, err, out)
	}
	run, err := exec.Command(bin, filepath.Join(t.TempDir(), "bus")).CombinedOutput()
	if err != nil || strings.TrimSpace(string(run)) != "shmif0 b2:a0" {
		t.Fatalf("program: %v: %s", err, run)
	}
	cmd = exec.Command("make", "-C", testlib.Root(), "BUILD="+build, "PREFIX=/opt/shmif", "DESTDIR="+dest, "uninstall")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make uninstall: %v\n%s", err, out)
	}
	for _, f := range files {
		if _, err := os.Lstat(filepath.Join(root, f)); err == nil {
			t.Errorf("left after make uninstall: %s", f)
		}
	}
}

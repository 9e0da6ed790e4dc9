// Package bench_test smoke-tests the benchmark (bench/shmif-bench.c, run by
// `make bench`): built as scripts/bench.sh builds it, run with --quick on
// both backends, its table must have a row for every workload and backend,
// every throughput row must have delivered frames, and libshmif must never
// deliver a frame twice or out of order.
package bench_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/libshmif/libshmif/internal/testlib"
)

// benchTimeout bounds the --quick run (it takes a few seconds).
const benchTimeout = 20 * time.Second

// needVDE skips the test without vde_switch and libvdeplug, except in CI
// (CI=true), which installs them (.ci/run) and must not skip silently.
func needVDE(t *testing.T) {
	t.Helper()
	missing := ""
	if _, err := exec.LookPath("vde_switch"); err != nil {
		missing = "vde_switch"
	} else if _, err := os.Stat("/usr/include/libvdeplug.h"); err != nil {
		missing = "libvdeplug.h"
	}
	if missing == "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is missing (Debian packages vde2 libvdeplug-dev)", missing)
	}
	t.Skipf("%s is missing (Debian packages vde2 libvdeplug-dev)", missing)
}

// buildBench compiles bench/shmif-bench.c with the flags of scripts/bench.sh.
func buildBench(t *testing.T) string {
	t.Helper()
	build, err := filepath.Abs(testlib.Build(t))
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "shmif-bench")
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "cc"
	}
	cmd := exec.Command(cc, "-O2", "-Wall", "-Wextra", "-Werror",
		"-I"+filepath.Join(testlib.Root(), "include"), "-o", bin,
		filepath.Join(testlib.Root(), "bench", "shmif-bench.c"),
		"-L"+build, "-lshmif", "-lvdeplug", "-lm", "-lpthread", "-Wl,-rpath,"+build)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %v\n%s", cmd.Args, err, out)
	}
	return bin
}

// row is one line of the table.
type row struct {
	workload, backend string
	fps               float64
	dups              string
	rtt               string
}

// parseTable reads the rows of shmif-bench's table:
// workload | backend | frames/s | Gbit/s | loss % | dups | bus lost | rtt | shmif/vde | cpus.
func parseTable(t *testing.T, out string) []row {
	t.Helper()
	var rows []row
	for _, line := range strings.Split(out, "\n") {
		f := strings.Split(line, "|")
		if len(f) != 10 {
			continue
		}
		for k := range f {
			f[k] = strings.TrimSpace(f[k])
		}
		if f[0] == "workload" {
			continue
		}
		r := row{workload: f[0], backend: f[1], dups: f[5], rtt: f[7]}
		if f[2] != "-" {
			fps, err := strconv.ParseFloat(f[2], 64)
			if err != nil {
				t.Errorf("%s/%s: frames/s %q: %v", r.workload, r.backend, f[2], err)
			}
			r.fps = fps
		}
		rows = append(rows, r)
	}
	return rows
}

func TestBenchQuick(t *testing.T) {
	needVDE(t)
	bin := buildBench(t)
	csv := filepath.Join(t.TempDir(), "bench.csv")

	ctx, cancel := context.WithTimeout(context.Background(), benchTimeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "--quick", "--backend", "both", "--csv", csv)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = append(os.Environ(), "TMPDIR="+t.TempDir())
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("shmif-bench --quick: killed after %v\nstdout:\n%s\nstderr:\n%s", benchTimeout, &stdout, &stderr)
	}
	if err != nil {
		t.Fatalf("shmif-bench --quick: %v\nstdout:\n%s\nstderr:\n%s", err, &stdout, &stderr)
	}
	t.Logf("\n%s", &stdout)

	rows := parseTable(t, stdout.String())
	seen := map[string]bool{}
	for _, r := range rows {
		seen[r.workload+"/"+r.backend] = true
		switch {
		case strings.HasPrefix(r.workload, "throughput"):
			if r.fps <= 0 {
				t.Errorf("%s/%s: frames/s %v, want > 0", r.workload, r.backend, r.fps)
			}
			if r.backend == "shmif" && r.dups != "0" {
				t.Errorf("%s/shmif: %s duplicate or reordered frames, want 0", r.workload, r.dups)
			}
		case strings.HasPrefix(r.workload, "pingpong"):
			if r.rtt == "-" {
				t.Errorf("%s/%s: no round-trip times", r.workload, r.backend)
			}
		default:
			t.Errorf("unexpected row %q", r.workload)
		}
	}
	for _, size := range []string{"60B", "1514B"} {
		for _, w := range []string{"throughput " + size + " 1w->1r", "throughput " + size + " 1w->4r",
			"throughput " + size + " 4w->1r", "pingpong " + size} {
			for _, b := range []string{"shmif", "vde"} {
				if !seen[w+"/"+b] {
					t.Errorf("no row for %s on %s", w, b)
				}
			}
		}
	}

	data, err := os.ReadFile(csv)
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(string(data), "\n"); lines != len(rows)+1 {
		t.Errorf("CSV has %d lines, want a header and %d rows:\n%s", lines, len(rows), data)
	}
}

// Package bench_test smoke-tests the benchmark (bench/*.c, run by `make
// bench`): built as scripts/bench.sh builds it, run with --quick and
// --repeat 2 on both backends (and the floor, which runs with libshmif), its
// table must have one row for every workload and backend, every throughput
// row must have delivered frames, libshmif and the floor must never deliver a
// frame twice or out of order, the floor must lose none, and the NetBSD-style
// sleeping reader must have got every frame, from libshmif and from NetBSD's
// own writer (the wake-up floor), with libshmif's delay given as a ratio to
// the floor's. The CSV must have every run, one of them shown per workload and
// backend.
package bench_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/libshmif/libshmif/internal/testlib"
)

// benchTimeout bounds the --quick --repeat 2 run (it takes a few seconds).
const benchTimeout = 40 * time.Second

// repeat is the --repeat of the test: every workload runs this many times.
const repeat = 2

// wakeWorkload is the name of the wake-up workload's rows.
const wakeWorkload = "NetBSD-style sleeping reader: wake-up delay"

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

// buildBench compiles bench/*.c with the flags of scripts/bench.sh; the run
// path lets the benchmark's dlopen find the libshmif.so.0 of the build.
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
	srcs, err := filepath.Glob(filepath.Join(testlib.Root(), "bench", "*.c"))
	if err != nil || len(srcs) == 0 {
		t.Fatalf("no bench/*.c: %v", err)
	}
	args := append([]string{"-O2", "-Wall", "-Wextra", "-Werror",
		"-I" + filepath.Join(testlib.Root(), "include"), "-o", bin}, srcs...)
	args = append(args, "-lvdeplug", "-lm", "-lpthread", "-ldl", "-Wl,-rpath,"+build)
	cmd := exec.Command(cc, args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %v\n%s", cmd.Args, err, out)
	}
	return bin
}

// row is one line of the table.
type row struct {
	workload, backend string
	fps               float64
	loss, dups        string
	rtt               string
	ratioFloor        string
	syscalls          string
}

// parseTable reads the rows of shmif-bench's table: workload | backend |
// frames/s | Gbit/s | loss % | dups | bus lost | rtt or delay us | shmif/vde |
// shmif/floor | syscalls/1k w/r | cpu us/1k w/r u+s | cpus w/r.
func parseTable(t *testing.T, out string) []row {
	t.Helper()
	var rows []row
	for _, line := range strings.Split(out, "\n") {
		f := strings.Split(line, "|")
		if len(f) != 13 {
			continue
		}
		for k := range f {
			f[k] = strings.TrimSpace(f[k])
		}
		if f[0] == "workload" {
			continue
		}
		r := row{workload: f[0], backend: f[1], loss: f[4], dups: f[5], rtt: f[7],
			ratioFloor: f[9], syscalls: f[10]}
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
	csvFile := filepath.Join(t.TempDir(), "bench.csv")

	ctx, cancel := context.WithTimeout(context.Background(), benchTimeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "--quick", "--repeat", strconv.Itoa(repeat),
		"--backend", "both", "--csv", csvFile)
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
	seen := map[string]int{}
	for _, r := range rows {
		seen[r.workload+"/"+r.backend]++
		switch {
		case strings.HasPrefix(r.workload, "throughput"):
			if r.fps <= 0 {
				t.Errorf("%s/%s: frames/s %v, want > 0", r.workload, r.backend, r.fps)
			}
			if r.backend != "vde" && r.dups != "0" {
				t.Errorf("%s/%s: %s duplicate or reordered frames, want 0", r.workload, r.backend, r.dups)
			}
			if (r.backend == "floor" || r.backend == "lossless") && r.loss != "0.00" {
				t.Errorf("%s/%s: loss %s%%, want 0 (it is lossless)", r.workload, r.backend, r.loss)
			}
		case strings.HasPrefix(r.workload, "pingpong"):
			if r.rtt == "-" {
				t.Errorf("%s/%s: no round-trip times", r.workload, r.backend)
			}
		case r.workload == wakeWorkload:
			if (r.backend != "shmif" && r.backend != "floor") || r.loss != "0.00" || r.dups != "0" ||
				!strings.Contains(r.rtt, " max ") {
				t.Errorf("wake-up row %+v: want backend shmif or floor, loss 0.00, dups 0 and delays", r)
			}
			// libshmif's median/p99 delay as multiples of the floor's.
			if ok, _ := regexp.MatchString(`^[0-9.]+/[0-9.]+$`, r.ratioFloor); r.backend == "shmif" && !ok {
				t.Errorf("wake-up row %+v: shmif/floor %q, want median/p99 ratios", r, r.ratioFloor)
			}
		default:
			t.Errorf("unexpected row %q", r.workload)
		}
	}
	for _, size := range []string{"60B", "1514B"} {
		for _, w := range []string{"throughput " + size + " 1w->1r", "throughput " + size + " 1w->4r",
			"throughput " + size + " 4w->1r", "pingpong " + size} {
			backends := []string{"shmif", "vde"}
			if strings.HasSuffix(w, "1w->1r") || strings.HasPrefix(w, "pingpong") {
				backends = append(backends, "floor")
			}
			if strings.Contains(w, "1w->") {
				backends = append(backends, "lossless")
			}
			for _, b := range backends {
				if n := seen[w+"/"+b]; n != 1 {
					t.Errorf("%d rows for %s on %s, want 1 (the median of %d runs)", n, w, b, repeat)
				}
			}
		}
	}
	for _, r := range rows {
		floored := r.backend == "shmif" && (strings.HasSuffix(r.workload, "1w->1r") || strings.HasPrefix(r.workload, "pingpong"))
		if floored && r.ratioFloor == "-" {
			t.Errorf("%s/shmif: no shmif/floor ratio", r.workload)
		}
		if ok, _ := regexp.MatchString(`^([0-9.]+|n/a)/([0-9.]+|n/a)$`, r.syscalls); !ok {
			t.Errorf("%s/%s: syscalls/1k %q, want two numbers or n/a", r.workload, r.backend, r.syscalls)
		}
	}
	for _, b := range []string{"shmif", "floor"} {
		if n := seen[wakeWorkload+"/"+b]; n != 1 {
			t.Errorf("%d wake-up rows on %s, want 1 (the median of %d runs)", n, b, repeat)
		}
	}
	// Per frame size: 3 throughput shapes and pingpong on shmif and vde,
	// floors for 1w->1r and pingpong, lossless for 1w->1r and 1w->4r;
	// and the wake-up rows, libshmif and its floor.
	if want := 2*(4*2+2+2) + 2; len(rows) != want {
		t.Errorf("the table has %d rows, want %d", len(rows), want)
	}
	checkCSV(t, csvFile, len(rows))
}

// checkCSV checks that the CSV has every run of the tableRows rows of the
// table, exactly one of each workload and backend shown, every shmif
// throughput run its readers' longest pause, and the shown shmif wake-up run
// its delay ratios to the floor.
func checkCSV(t *testing.T, file string, tableRows int) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(string(data), "\n"); lines != repeat*tableRows+1 {
		t.Errorf("CSV has %d lines, want a header and %d runs of %d rows:\n%s", lines, repeat, tableRows, data)
	}
	recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		t.Fatalf("CSV: %v\n%s", err, data)
	}
	if len(recs) == 0 {
		t.Fatal("CSV is empty")
	}
	col := map[string]int{}
	for k, name := range recs[0] {
		col[name] = k
	}
	for _, name := range []string{"workload", "backend", "status", "reader_pause_ms", "run", "shown",
		"ratio_shmif_floor", "writer_syscalls_per_1k", "reader_syscalls_per_1k", "delay_median_us",
		"delay_p99_us", "delay_max_us", "ratio_shmif_floor_delay_p99"} {
		if _, ok := col[name]; !ok {
			t.Fatalf("CSV has no column %s: %q", name, recs[0])
		}
	}
	shown := map[string]int{}
	runs := map[string][]string{}
	for _, rec := range recs[1:] {
		get := func(name string) string { return rec[col[name]] }
		key := get("workload") + "/" + get("backend")
		runs[key] = append(runs[key], get("run"))
		switch get("shown") {
		case "1":
			shown[key]++
		case "0":
		default:
			t.Errorf("%s run %s: shown %q, want 0 or 1", key, get("run"), get("shown"))
		}
		if key == wakeWorkload+"/shmif" && get("shown") == "1" {
			for _, name := range []string{"ratio_shmif_floor", "ratio_shmif_floor_delay_p99"} {
				if v, err := strconv.ParseFloat(get(name), 64); err != nil || v <= 0 {
					t.Errorf("%s run %s: %s %q, want a ratio > 0", key, get("run"), name, get(name))
				}
			}
		}
		pause := get("reader_pause_ms")
		switch {
		case strings.HasPrefix(key, "throughput") && strings.HasSuffix(key, "/shmif") && get("status") == "ok":
			if ms, err := strconv.ParseFloat(pause, 64); err != nil || ms < 0 {
				t.Errorf("%s run %s: reader_pause_ms %q, want a number >= 0", key, get("run"), pause)
			}
		case strings.HasPrefix(key, "pingpong"):
			if pause != "" {
				t.Errorf("%s run %s: reader_pause_ms %q, want none", key, get("run"), pause)
			}
		}
	}
	if len(runs) != tableRows {
		t.Errorf("CSV has %d workloads and backends, the table %d", len(runs), tableRows)
	}
	var want []string
	for k := 1; k <= repeat; k++ {
		want = append(want, strconv.Itoa(k))
	}
	for key, r := range runs {
		if strings.Join(r, ",") != strings.Join(want, ",") {
			t.Errorf("%s: runs %v in the CSV, want %v", key, r, want)
		}
		if shown[key] != 1 {
			t.Errorf("%s: %d runs shown in the CSV, want 1", key, shown[key])
		}
	}
}

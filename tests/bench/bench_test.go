// Package bench_test smoke-tests the benchmark (bench/shmif-bench.c, run by
// `make bench`): built as scripts/bench.sh builds it, run with --quick and
// --repeat 2 on both backends, its table must have one row for every
// workload and backend, every throughput row must have delivered frames, and
// libshmif must never deliver a frame twice or out of order. The CSV must
// have every run, one of them shown per workload and backend.
package bench_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"os"
	"os/exec"
	"path/filepath"
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
				if n := seen[w+"/"+b]; n != 1 {
					t.Errorf("%d rows for %s on %s, want 1 (the median of %d runs)", n, w, b, repeat)
				}
			}
		}
	}
	if len(rows) != 16 {
		t.Errorf("the table has %d rows, want 16", len(rows))
	}
	checkCSV(t, csvFile, len(rows))
}

// checkCSV checks that the CSV has every run of the tableRows rows of the
// table, exactly one of each workload and backend shown, and every shmif
// throughput run its readers' longest pause.
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
	for _, name := range []string{"workload", "backend", "status", "reader_pause_ms", "run", "shown"} {
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

/*
 * shmif-bench -- libshmif against a VDE hub and against a floor of plain
 * shared memory: throughput and round trip between processes, system calls
 * and CPU time per frame, and how soon a sleeping NetBSD-style reader is
 * woken, over the public C API of each (rump/rump.h and libvdeplug.h).
 *
 *   shmif-bench [--backend shmif|vde|floor|both|all] [--quick] [--repeat N] [--csv FILE] [OPTIONS]
 *
 * Every workload runs in separate processes: the benchmark re-executes
 * itself (/proc/self/exe, fork+exec) with a role (writer, reader, ping,
 * echo, pacer, netbsd-reader) for each process. The parent never loads
 * libshmif; it starts the processes, hands out the start signal and
 * collects one result line from each.
 *
 * Backends:
 *   shmif  each process attaches an interface to a fresh bus file in a
 *          temporary directory (rump_pub_shmif_create); writers send with
 *          shmif_send_batch (shmif_send for --batch 1); readers receive with
 *          shmif_recv_batch, up to --rx-batch frames a call (256: a reader
 *          that took no more than a writer puts on the bus per lock hold
 *          could never catch up after falling behind). Only these processes
 *          load libshmif (dlopen of libshmif.so.0, found as the linker finds
 *          a library: LD_LIBRARY_PATH, then the program's run path, which
 *          scripts/bench.sh sets to the program's own directory), so only
 *          they carry the Go runtime.
 *   vde    a VDE hub (vde_switch -x -s SOCKDIR, a fresh one for every run,
 *          started and stopped by the benchmark, not pinned); each process
 *          plugs in with vde_open.
 *          VDE has no batch send: writers loop vde_send over the batch.
 *          Readers drain the non-blocking data socket with vde_recv, up to
 *          --rx-batch frames, and wait with poll on vde_datafd.
 *   floor  what two processes sharing memory can do at best: a plain
 *          single-producer single-consumer ring (1 MiB, as a bus) in a
 *          shared file, one per direction, C11 acquire/release, lossless
 *          (the writer waits for space), busy polling; frames copied in and
 *          out in batches like libshmif's, and built, parsed and counted by
 *          the same code. 1 writer -> 1 reader and pingpong only. Measured
 *          whenever libshmif is (--no-floor: not), so that every table gives
 *          libshmif as a ratio to the floor of the same run: system calls
 *          and cache traffic cost very different amounts on different
 *          machines, and only ratios compare across them. The floor of the
 *          wakeup workload is another: NetBSD's own writer (below).
 *
 * Workloads (every frame is a broadcast frame of one size, 60 and 1514
 * bytes unless --frame-size says otherwise):
 *   throughput  1 writer -> 1 reader, 1 -> 4 and 4 -> 1. Each writer sends
 *          --count frames (default 2,000,000 of 60 bytes, 500,000 of 1514)
 *          as fast as it can in batches of --batch, then an end marker a few
 *          times. Readers receive until they have seen every writer's end
 *          marker, or nothing arrived for --quiet-ms. The payload carries
 *          the writer and a sequence number, so a reader counts the frames
 *          it got (each once), duplicates (a sequence number seen twice, or
 *          lower than one already seen from that writer) and, by difference,
 *          what it lost. frames/s = frames a reader got / time from the
 *          writers' first send to the reader's last frame (CLOCK_MONOTONIC
 *          is one clock for all processes), averaged over readers; a reader
 *          that was lapped and got only the last frames on the bus thus
 *          shows its real rate, not the rate of a burst. Each reader also
 *          reports the time from its first to its last frame and its
 *          longest pause (stderr): the longest time between the returns of
 *          two receive calls, from its first frame to its last data frame. A
 *          reader whose CPU the host deschedules for a few ms (a vCPU of a
 *          VM) is lapped by the writers meanwhile, and that run shows a loss
 *          of several percent. A pause also counts time the receive call
 *          waited for frames: writers, or with VDE the unpinned hub, that
 *          stalled. The longest pause of the run's readers is in the CSV
 *          (reader_pause_ms).
 *          Gbit/s = frames/s x frame bytes x 8. "bus lost" is libshmif's own
 *          count of frames overwritten before the reader read them
 *          (shmif_get_stats; it counts end markers too).
 *   pingpong  one process sends a frame, the other sends it back; --rtt-count
 *          round trips (default 20,000, after 10% warm-up, at most 1,000);
 *          median, 99th percentile and minimum in microseconds.
 *   wakeup  "NetBSD-style sleeping reader: wake-up delay" (libshmif and its
 *          floor, one frame size: the first, at least 41 bytes). A libshmif
 *          writer (pacer) sends --wake-count frames in each of three
 *          patterns: one frame every --wake-gap-us (200); bursts of
 *          --wake-burst (32) frames, one shmif_send each; the same bursts,
 *          one shmif_send_batch each (a burst every 16 gaps). Every frame
 *          carries its CLOCK_MONOTONIC time just before the send call. The
 *          reader does not load libshmif: it is NetBSD's receive loop
 *          (if_shmem.c) in C on the bus file: the lock word at offset 24
 *          taken by compare-and-swap 0 -> 1, the caught-up test, one record
 *          per lock hold, and when caught up a blocking read(2) of an
 *          inotify IN_MODIFY watch on the bus file until a wake-up write
 *          comes, as a rump kernel's receive thread waits (wakeup.c). The
 *          row gives the delay from stamp to receipt (median, 99th
 *          percentile, max; per pattern on stderr); a run in which the
 *          reader did not get every frame exactly once has failed.
 *          Its floor (backend floor; measured whenever libshmif is, unless
 *          --no-floor) is the same pacer, frames and reader with NetBSD's
 *          writer in place of libshmif: if_shmem.c's shmif_start written
 *          out in C (netbsd.c), no libshmif loaded. For every frame of a
 *          send call it takes the lock as the reader does, stores last =
 *          nextpktoff(last), writes the header (random sender id) and the
 *          frame with shmif_buswrite and shmif_advancefirst, counts gen on
 *          a wrap and releases the lock; after the call's frames, one
 *          wake-up write (dowakeup: a 4-byte pwrite of the bus version at
 *          offset 4). It is what a NetBSD rump kernel's frames cost the
 *          same reader on this machine, most of it the kernel's wake-up of
 *          a process blocked on inotify; the libshmif row's shmif/floor
 *          gives its median and p99 delay as multiples of the floor's.
 *
 * System calls and CPU time (syscalls/1k, cpu us/1k w/r): per 1,000 frames
 * (pingpong: round trips; readers: frames received) of the writer side
 * (writers, ping, pacer) and the reader side (readers, echo, the NetBSD-
 * style reader), each process counted with all its threads, the Go
 * runtime's included, by a perf counter on the tracepoint
 * raw_syscalls:sys_enter with inherit, which the process opens on itself
 * between fork and exec (syscount.c). Only the measured phase counts: a
 * writer, ping or pacer from the start signal to its last send, a reader
 * or echo from its first frame to the end (the end markers, STOP, or a
 * quiet timeout); start-up (loading libshmif, attaching) and tear-down do
 * not. The pacer's own sleeps are not counted; the VDE hub's calls are
 * not counted. CPU time is user and system time from getrusage over the
 * same phase (the kernel splits it by sampling at its tick: the sum is
 * exact, the split only over runs of many ticks, not --quick). Without
 * tracefs, root or a low enough perf_event_paranoid the table says n/a
 * (stderr says why, once); the benchmark runs all the same.
 *
 * Waiting (--wait): block (default) receives with a timeout, so libshmif
 * spins for its spin time (shmif_set_spin, --spin-us; library default
 * otherwise) and then blocks, and VDE readers block in poll; spin polls
 * without waiting (timeout 0 / non-blocking recv) in a loop, for both. The
 * floor always polls.
 *
 * Pinning (default on): writers, the pinging process and the pacer run on
 * CPU 0, readers, the echoing process and the NetBSD-style reader on CPU 1
 * (--cpus W,R; by default the first two CPUs the benchmark may use, no
 * pinning if it has only one), set with sched_setaffinity between fork and
 * exec, so every thread of the process, the Go runtime's included, stays
 * there; the same for every backend. Each process reports sched_getcpu() at
 * its start and end.
 *
 * Repeats (--repeat N, 1..9, default 1): every workload runs N times in a
 * row on each backend. The table shows one run of each: the median, by loss
 * for throughput (of equal losses, the one with more frames/s), by median
 * round trip for pingpong and by loss, then 99th percentile delay, for the
 * wake-up; of an even number of runs, the better of the middle two. A run
 * that failed is shown only if every run failed. So a single disturbed run
 * does not decide the table.
 *
 * Output: progress and per-process details on stderr, then the table on
 * stdout, also written as CSV with --csv. The CSV has every run, numbered
 * (run) and marked if the table shows it (shown). The ratio columns are
 * between the shown runs: shmif/vde is libshmif/VDE of the row's headline
 * figure, frames/s for throughput (above 1: libshmif delivers more), median
 * round trip for pingpong (below 1: libshmif is faster); shmif/floor is the
 * same against the floor (frames/s: a fraction of the floor's; round trip:
 * a multiple of the floor's; wake-up: median/p99 delay, each a multiple of
 * the floor's). "rtt or delay us" is the round trip of pingpong
 * (median/p99/min) or the wake-up delay (median/p99 max).
 *
 * Exit status: 0 every run completed; 1 a run failed (on stderr and in the
 * CSV; in the table, FAILED if every run of a workload failed); 2 a usage
 * error or a setup failure.
 *
 * Source: shmif-bench.c (this: options, main, the order of the runs),
 * bench.h (what the parts share), common.c (clock, frame format), child.c
 * (child processes and their control protocol), roles.c (writer, reader,
 * ping, echo), wakeup.c (pacer, NetBSD-style reader), netbsd.c (the bus
 * as NetBSD walks it: the NetBSD-style reader's helpers, NetBSD's writer),
 * port.c and
 * backend-shmif.c, backend-vde.c, backend-floor.c (the backends),
 * syscount.c (system calls, CPU time), runs.c (one run of a workload),
 * report.c (table, CSV).
 */
#include "bench.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const backend_name[B_COUNT] = {"shmif", "vde", "floor", "lossless"};

struct options opt = {
    .backends = 1 << B_SHMIF | 1 << B_VDE,
    .floor = 1,
    .lossless = 1,
    .batch = 32,
    .rx_batch = 256,
    .pin = 1,
    .cpu_w = -1, /* --cpus; -1: the first two CPUs available */
    .cpu_r = -1,
    .spin_us = -1,
    .quiet_ms = 2000,
    .repeat = 1,
    .do_tput = 1,
    .do_rtt = 1,
    .do_wake = 1,
    .wake_gap_us = 200,
    .wake_burst = 32,
    .writers = 1,
    .perf_fd = -1,
};

/* Runs every workload on every backend it was asked for, then reports. */
static int parent_main(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof set, &set) != 0)
		die("sched_getaffinity: %s", strerror(errno));
	if (opt.pin && opt.cpu_w < 0) {
		/* Default: the first two CPUs this process may use (0 and 1 on
		 * most machines); with only one, no pinning. */
		for (int k = 0; k < CPU_SETSIZE; k++)
			if (CPU_ISSET(k, &set)) {
				if (opt.cpu_w < 0)
					opt.cpu_w = k;
				else if (opt.cpu_r < 0)
					opt.cpu_r = k;
			}
		if (opt.cpu_r < 0) {
			fprintf(stderr, "shmif-bench: only one CPU available: not pinning\n");
			opt.pin = 0;
		}
	}
	if (opt.pin && (!CPU_ISSET(opt.cpu_w, &set) || !CPU_ISSET(opt.cpu_r, &set)))
		die("CPUs %d and %d are not both available: use --cpus W,R or --no-pin", opt.cpu_w,
		    opt.cpu_r);
	if (opt.floor && opt.backends & 1 << B_SHMIF)
		opt.backends |= 1 << B_FLOOR;
	if (opt.lossless && opt.backends & 1 << B_SHMIF)
		opt.backends |= 1 << B_LOSSLESS;
	parent_setup();
	syscount_probe();
	print_header();

	int sizes[2] = {60, 1514}, nsizes = 2;
	if (opt.frame_size) {
		sizes[0] = opt.frame_size;
		nsizes = 1;
	}
	static const int topo[3][2] = {{1, 1}, {1, 4}, {4, 1}};
	for (int s = 0; s < nsizes && opt.do_tput; s++) {
		long count = opt.count ? opt.count
		                       : opt.quick ? (sizes[s] <= 512 ? 20000 : 5000)
		                                   : (sizes[s] <= 512 ? 2000000 : 500000);
		for (int t = 0; t < 3; t++)
			for (int b = 0; b < B_COUNT; b++) {
				/* The floor is a single-producer single-consumer ring;
				 * lossless delivery is shown for one writer. */
				if (!(opt.backends & 1 << b) || (b == B_FLOOR && t != 0) || (b == B_LOSSLESS && t == 2))
					continue;
				int first = nrows;
				for (int k = 1; k <= opt.repeat; k++)
					run_throughput((enum backend)b, sizes[s], topo[t][0], topo[t][1], count, k);
				pick_shown(first);
			}
	}
	for (int s = 0; s < nsizes && opt.do_rtt; s++) {
		long count = opt.rtt_count ? opt.rtt_count : opt.quick ? 500 : 20000;
		for (int b = 0; b < B_COUNT; b++) {
			if (!(opt.backends & 1 << b) || b == B_LOSSLESS)
				continue;
			int first = nrows;
			for (int k = 1; k <= opt.repeat; k++)
				run_pingpong((enum backend)b, sizes[s], count, k);
			pick_shown(first);
		}
	}
	/* The wake-up workload: libshmif's pacer, then NetBSD's writer as the
	 * floor, to the same sleeping reader. */
	static const enum backend wake[] = {B_SHMIF, B_FLOOR};
	for (size_t w = 0; w < sizeof wake / sizeof wake[0] && opt.do_wake; w++) {
		if (!(opt.backends & 1 << wake[w]))
			continue;
		long count = opt.wake_count ? opt.wake_count : opt.quick ? 500 : 5000;
		int size = sizes[0] < WAKE_HLEN ? WAKE_HLEN : sizes[0];
		int first = nrows;
		for (int k = 1; k <= opt.repeat; k++)
			run_wakeup(wake[w], size, count, k);
		pick_shown(first);
	}
	cleanup();
	ratios();
	fprintf(stderr, "\n");
	print_table();
	if (opt.csv)
		write_csv(opt.csv);
	int failed = 0;
	for (int i = 0; i < nrows; i++)
		failed |= !rows[i].ok;
	return failed ? EXIT_FAILED : 0;
}

/* ---- options ---- */

static void usage(void)
{
	fprintf(stderr,
	    "usage: shmif-bench [OPTIONS]\n"
	    "  --backend LIST            what to measure, comma-separated: shmif, vde, floor;\n"
	    "                            both = shmif,vde; all = shmif,vde,floor (both)\n"
	    "  --no-lossless             do not measure lossless delivery with libshmif (measured:\n"
	    "                            readers that ask for it, 1 writer -> 1 and 4 readers)\n"
	    "  --no-floor                do not measure the floor with libshmif (measured: the\n"
	    "                            shmif/floor ratios need it); the wakeup floor is\n"
	    "                            NetBSD's own writer to the same sleeping reader\n"
	    "  --workload all|throughput|pingpong|wakeup  (all)\n"
	    "  --frame-size N            one frame size, 32..1514 (60 and 1514)\n"
	    "  --count N                 frames per writer (2000000 for 60B, 500000 for 1514B)\n"
	    "  --rtt-count N             round trips (20000)\n"
	    "  --batch N                 frames per send call, 1..1024 (32)\n"
	    "  --rx-batch N              frames per receive call of throughput readers, 1..1024 (256):\n"
	    "                            a reader must drain faster than writers fill\n"
	    "  --wake-count N            wakeup: frames of each of its three patterns (5000),\n"
	    "                            sent with libshmif and, as its floor, NetBSD's writer\n"
	    "  --wake-gap-us N           wakeup: microseconds between single frames (200)\n"
	    "  --wake-burst N            wakeup: frames per burst, 1..1024 (32)\n"
	    "  --pin | --no-pin          pin writers to one CPU, readers to another (pin)\n"
	    "  --cpus W,R                the CPUs for --pin (the first two available: 0,1)\n"
	    "  --spin-us N               libshmif receive spin, shmif_set_spin (library default)\n"
	    "  --wait block|spin         block in receive calls, or poll in a loop (block)\n"
	    "  --quiet-ms N              a reader stops after this much silence (2000)\n"
	    "  --dir DIR                 where the bus files and the VDE socket go ($TMPDIR or /tmp)\n"
	    "  --repeat N                run every workload N times, 1..9; the table shows the\n"
	    "                            median run, the CSV every run (1)\n"
	    "  --csv FILE                also write the table as CSV, with every run\n"
	    "  --quick                   small counts: a smoke test of a few seconds\n"
	    "A later option overrides an earlier one. System calls are counted when the\n"
	    "tracepoint raw_syscalls:sys_enter can be used (root); otherwise n/a.\n");
	exit(EXIT_USAGE);
}

static long num(const char *name, const char *v, long lo, long hi)
{
	char *end;
	errno = 0;
	long x = strtol(v, &end, 10);
	if (errno || end == v || *end || x < lo || x > hi)
		die("%s: %s is not a number from %ld to %ld", name, v, lo, hi);
	return x;
}

/* --backend: a comma-separated list of shmif, vde, floor, both, all. */
static int backends(const char *list)
{
	int set = 0;
	char buf[64];
	snprintf(buf, sizeof buf, "%s", list);
	for (char *save, *w = strtok_r(buf, ",", &save); w != NULL; w = strtok_r(NULL, ",", &save)) {
		if (strcmp(w, "shmif") == 0)
			set |= 1 << B_SHMIF;
		else if (strcmp(w, "vde") == 0)
			set |= 1 << B_VDE;
		else if (strcmp(w, "floor") == 0)
			set |= 1 << B_FLOOR;
		else if (strcmp(w, "lossless") == 0)
			set |= 1 << B_LOSSLESS;
		else if (strcmp(w, "both") == 0)
			set |= 1 << B_SHMIF | 1 << B_VDE;
		else if (strcmp(w, "all") == 0)
			set |= 1 << B_SHMIF | 1 << B_VDE | 1 << B_FLOOR | 1 << B_LOSSLESS;
		else
			usage();
	}
	if (set == 0)
		usage();
	return set;
}

static void parse(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		char *a = argv[i], *v = NULL, *eq = strchr(a, '=');
		if (strncmp(a, "--", 2) != 0)
			usage();
		if (eq != NULL) {
			*eq = 0;
			v = eq + 1;
		}
#define VAL() (v ? v : i + 1 < argc ? argv[++i] : (usage(), ""))
		if (strcmp(a, "--quick") == 0)
			opt.quick = 1, opt.quiet_ms = 500;
		else if (strcmp(a, "--pin") == 0)
			opt.pin = 1;
		else if (strcmp(a, "--no-pin") == 0)
			opt.pin = 0;
		else if (strcmp(a, "--no-floor") == 0)
			opt.floor = 0;
		else if (strcmp(a, "--no-lossless") == 0)
			opt.lossless = 0;
		else if (strcmp(a, "--help") == 0)
			usage();
		else if (strcmp(a, "--backend") == 0)
			opt.backends = backends(VAL());
		else if (strcmp(a, "--workload") == 0) {
			const char *w = VAL();
			int all = strcmp(w, "all") == 0;
			opt.do_tput = all || strcmp(w, "throughput") == 0;
			opt.do_rtt = all || strcmp(w, "pingpong") == 0;
			opt.do_wake = all || strcmp(w, "wakeup") == 0;
			if (!opt.do_tput && !opt.do_rtt && !opt.do_wake)
				usage();
		} else if (strcmp(a, "--wait") == 0) {
			const char *w = VAL();
			if (strcmp(w, "block") != 0 && strcmp(w, "spin") != 0)
				usage();
			opt.wait_spin = strcmp(w, "spin") == 0;
		} else if (strcmp(a, "--cpus") == 0) {
			if (sscanf(VAL(), "%d,%d", &opt.cpu_w, &opt.cpu_r) != 2 || opt.cpu_w < 0 ||
			    opt.cpu_r < 0 || opt.cpu_w >= CPU_SETSIZE || opt.cpu_r >= CPU_SETSIZE)
				usage();
		} else if (strcmp(a, "--frame-size") == 0)
			opt.frame_size = (int)num(a, VAL(), BENCH_HLEN, SHMIF_MAXFRAME);
		else if (strcmp(a, "--count") == 0)
			opt.count = num(a, VAL(), 1, 1000000000);
		else if (strcmp(a, "--rtt-count") == 0)
			opt.rtt_count = num(a, VAL(), 1, 100000000);
		else if (strcmp(a, "--batch") == 0)
			opt.batch = (int)num(a, VAL(), 1, MAX_BATCH);
		else if (strcmp(a, "--rx-batch") == 0)
			opt.rx_batch = (int)num(a, VAL(), 1, MAX_BATCH);
		else if (strcmp(a, "--wake-count") == 0)
			opt.wake_count = num(a, VAL(), 1, 10000000);
		else if (strcmp(a, "--wake-gap-us") == 0)
			opt.wake_gap_us = (int)num(a, VAL(), 0, 1000000);
		else if (strcmp(a, "--wake-burst") == 0)
			opt.wake_burst = (int)num(a, VAL(), 1, MAX_BATCH);
		else if (strcmp(a, "--spin-us") == 0)
			opt.spin_us = (int)num(a, VAL(), -1, 10000000);
		else if (strcmp(a, "--quiet-ms") == 0)
			opt.quiet_ms = (int)num(a, VAL(), 1, 600000);
		else if (strcmp(a, "--repeat") == 0)
			opt.repeat = (int)num(a, VAL(), 1, MAX_REPEAT);
		else if (strcmp(a, "--csv") == 0)
			opt.csv = VAL();
		else if (strcmp(a, "--dir") == 0)
			opt.dir = VAL();
		/* the roles' own arguments, given by the parent */
		else if (strcmp(a, "--role") == 0)
			opt.role = VAL();
		else if (strcmp(a, "--path") == 0)
			opt.path = VAL();
		else if (strcmp(a, "--id") == 0)
			opt.id = (int)num(a, VAL(), 0, 255);
		else if (strcmp(a, "--writers") == 0)
			opt.writers = (int)num(a, VAL(), 1, MAX_WRITERS);
		else if (strcmp(a, "--run") == 0)
			opt.run = (uint32_t)strtoul(VAL(), NULL, 10);
		else if (strcmp(a, "--perf-fd") == 0)
			opt.perf_fd = (int)num(a, VAL(), 0, INT_MAX);
		else
			usage();
#undef VAL
	}
}

int main(int argc, char **argv)
{
	parse(argc, argv);
	if (opt.role == NULL)
		return parent_main();
	if (opt.path == NULL || opt.frame_size == 0 || opt.count == 0)
		die("--path, --frame-size and --count are needed");
	static const struct {
		const char *name;
		int (*run)(void);
	} roles[] = {
	    {"writer", role_writer}, {"reader", role_reader}, {"ping", role_ping},
	    {"echo", role_echo}, {"pacer", role_pacer}, {"netbsd-reader", role_netbsd_reader},
	};
	for (size_t k = 0; k < sizeof roles / sizeof roles[0]; k++)
		if (strcmp(opt.role, roles[k].name) == 0)
			return roles[k].run();
	die("unknown role %s", opt.role);
}

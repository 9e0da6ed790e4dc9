/*
 * runs.c -- the parent's runs of each workload: start the role processes
 * (child.c) on their CPUs, hand out the start signal, collect their RESULT
 * lines into a row (one per run; report.c tables them) and report each run
 * on stderr.
 */
#include "bench.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct row rows[MAX_ROWS];
int nrows;

/* A new row for run `run` of a workload, reported as failed until it
 * completes. */
static struct row *row_new(enum kind kind, enum backend b, int size, long count, int run)
{
	if (nrows >= MAX_ROWS)
		die("more than %d runs", MAX_ROWS);
	struct row *r = &rows[nrows++];
	memset(r, 0, sizeof *r);
	r->kind = kind;
	r->backend = b;
	r->size = size;
	r->count = count;
	r->run = run;
	r->bus_lost = -1;
	r->ratio = NAN;
	r->ratio_floor = r->ratio_floor_p99 = NAN;
	r->pause_ms = NAN;
	r->delay_med = r->delay_p99 = r->delay_max = NAN;
	return r;
}

/* The start of a run's line on stderr. */
static void row_progress(const struct row *r)
{
	fprintf(stderr, "%-24s %-5s ", r->workload, backend_name[r->backend]);
	if (opt.repeat > 1)
		fprintf(stderr, "run %d/%d: ", r->run, opt.repeat);
}

static void cpus_add(uint64_t *set, const struct child *c)
{
	long long a = child_get(c, "cpu0"), b = child_get(c, "cpu1");
	if (a >= 0 && a < 64)
		*set |= 1ull << a;
	if (b >= 0 && b < 64)
		*set |= 1ull << b;
}

/* Adds a process's measured phase, which handled `frames` frames, to its
 * side of the row; a side any of whose processes could not count is -1. */
static void side_add(struct side *s, const struct child *c, long long frames)
{
	long long sc = child_get(c, "sc"), ut = child_get(c, "ut"), st = child_get(c, "st");
	s->frames += frames;
	s->syscalls = s->syscalls < 0 || sc < 0 ? -1 : s->syscalls + sc;
	s->user_us = s->user_us < 0 || ut < 0 ? -1 : s->user_us + ut;
	s->sys_us = s->sys_us < 0 || st < 0 ? -1 : s->sys_us + st;
}

static void side_print(const char *who, const struct side *s)
{
	if (s->syscalls >= 0)
		fprintf(stderr, "%s %lld system calls", who, s->syscalls);
	else
		fprintf(stderr, "%s system calls n/a", who);
	if (s->user_us >= 0)
		fprintf(stderr, ", CPU %.1f ms user %.1f ms system", (double)s->user_us / 1e3,
		    (double)s->sys_us / 1e3);
	fprintf(stderr, " for %lld frames", s->frames);
}

static uint32_t next_run_id(void)
{
	static uint32_t seq;
	return (uint32_t)getpid() << 12 ^ (uint32_t)now_ns() ^ ++seq << 24;
}

static int cpu_of(int writer_side) { return opt.pin ? (writer_side ? opt.cpu_w : opt.cpu_r) : -1; }

/* Where the run's processes attach: a new bus or ring file, or the hub. */
static char *bus_path(enum backend b)
{
	static int n;
	if (b == B_VDE)
		return sockdir;
	snprintf(bus_file, sizeof bus_file, "%s/%s%d", tmpdir, b == B_FLOOR ? "floor" : "bus", n++);
	return bus_file;
}

static void bus_remove(enum backend b)
{
	if (b != B_VDE)
		unlink(bus_file);
	bus_file[0] = 0;
}

/* Lets the processes of a run finish their attach-time work (SETTLE_MS). */
static void settle(void) { usleep(SETTLE_MS * 1000); }

static int64_t run_deadline(void) { return now_ns() + (opt.quick ? 60 : 1800) * 1000000000LL; }

void run_throughput(enum backend b, int size, int writers, int readers, long count, int run_no)
{
	struct row *r = row_new(W_TPUT, b, size, count, run_no);
	snprintf(r->workload, sizeof r->workload, "throughput %dB %dw->%dr", size, writers, readers);
	r->writers = writers;
	r->readers = readers;
	row_progress(r);
	if (b == B_VDE)
		switch_start();

	char *path = bus_path(b);
	uint32_t run = next_run_id();
	opt.frame_size = size;
	struct child wr[MAX_WRITERS], rd[MAX_READERS];
	struct args a;
	int ok = 1, nw = 0, nr = 0;
	int64_t ready = now_ns() + (int64_t)READY_TIMEOUT_MS * 1000000;
	for (; nr < readers && ok; nr++) {
		role_args(&a, "reader", b, path, nr, writers, run, count);
		spawn(&rd[nr], a.v, cpu_of(0));
		ok = child_expect(&rd[nr], "READY", ready) == 0;
	}
	for (; nw < writers && ok; nw++) {
		role_args(&a, "writer", b, path, nw, writers, run, count);
		spawn(&wr[nw], a.v, cpu_of(1));
		ok = child_expect(&wr[nw], "READY", ready) == 0;
	}
	int64_t deadline = run_deadline();
	if (ok) {
		settle();
		for (int k = 0; k < nw; k++)
			child_control(&wr[k], 'G');
	}
	long long sent = 0, wns = 0, wstart = 0;
	for (int k = 0; k < nw && ok; k++) {
		ok = child_expect(&wr[k], "RESULT", deadline) == 0 && child_get(&wr[k], "err") == 0;
		sent += child_get(&wr[k], "sent");
		if (wstart == 0 || child_get(&wr[k], "start") < wstart)
			wstart = child_get(&wr[k], "start");
		if (child_get(&wr[k], "ns") > wns)
			wns = child_get(&wr[k], "ns");
		cpus_add(&r->wcpus, &wr[k]);
		side_add(&r->w, &wr[k], child_get(&wr[k], "sent"));
	}
	for (int k = 0; k < nr && ok; k++) {
		ok = child_expect(&rd[k], "RESULT", deadline) == 0 && child_get(&rd[k], "err") == 0;
		cpus_add(&r->rcpus, &rd[k]);
		side_add(&r->r, &rd[k], child_get(&rd[k], "recv"));
	}
	int hub_cpu = b == B_VDE ? switch_cpu() : -1;
	for (int k = 0; k < nw; k++)
		child_control(&wr[k], 'S');
	for (int k = 0; k < nw; k++)
		ok &= child_reap(&wr[k]) == 0;
	for (int k = 0; k < nr; k++)
		ok &= child_reap(&rd[k]) == 0;
	bus_remove(b);
	switch_stop();
	if (!ok) {
		fprintf(stderr, "FAILED\n");
		return;
	}

	double fps = 0, recv = 0;
	long long pause = 0;
	r->dups = 0;
	for (int k = 0; k < nr; k++) {
		/* From the first send to this reader's last frame: a reader that
		 * was lapped gets a short burst at the end, not a high rate. */
		long long got = child_get(&rd[k], "recv"), span = child_get(&rd[k], "last") - wstart;
		recv += (double)got;
		fps += got > 0 && span > 0 ? (double)got * 1e9 / (double)span : 0;
		r->dups += child_get(&rd[k], "dups") + child_get(&rd[k], "ooo");
		if (b == B_SHMIF)
			r->bus_lost = (r->bus_lost < 0 ? 0 : r->bus_lost) + child_get(&rd[k], "lost");
		if (child_get(&rd[k], "pause") > pause)
			pause = child_get(&rd[k], "pause");
	}
	r->pause_ms = (double)pause / 1e6;
	r->fps = fps / nr;
	r->gbps = r->fps * size * 8 / 1e9;
	r->loss_pct = sent > 0 ? 100.0 * ((double)sent * nr - recv) / ((double)sent * nr) : 100;
	r->ok = 1;
	fprintf(stderr, "%.0f frames/s, loss %.2f%%; writers sent %lld in %.3f s (%.0f frames/s offered)\n",
	    r->fps, r->loss_pct, sent, (double)wns / 1e9, wns > 0 ? (double)sent * 1e9 / (double)wns : 0);
	for (int k = 0; k < nw; k++)
		fprintf(stderr, "    writer %d: CPU %lld -> %lld, sent %lld\n", k, child_get(&wr[k], "cpu0"),
		    child_get(&wr[k], "cpu1"), child_get(&wr[k], "sent"));
	for (int k = 0; k < nr; k++)
		fprintf(stderr,
		    "    reader %d: CPU %lld -> %lld, got %lld (first to last frame %.3f s), dups %lld, "
		    "out of order %lld, bad %lld, longest gap %lld, bus lost %lld, end markers %lld/%d%s, "
		    "longest pause %.2f ms\n",
		    k, child_get(&rd[k], "cpu0"), child_get(&rd[k], "cpu1"), child_get(&rd[k], "recv"),
		    (double)child_get(&rd[k], "ns") / 1e9, child_get(&rd[k], "dups"),
		    child_get(&rd[k], "ooo"), child_get(&rd[k], "bad"), child_get(&rd[k], "maxgap"),
		    child_get(&rd[k], "lost"),
		    child_get(&rd[k], "ends"), writers, child_get(&rd[k], "quiet") ? " (quiet timeout)" : "",
		    (double)child_get(&rd[k], "pause") / 1e6);
	fprintf(stderr, "    ");
	side_print("writers:", &r->w);
	fprintf(stderr, "; ");
	side_print("readers:", &r->r);
	fprintf(stderr, "\n");
	if (b == B_VDE)
		fprintf(stderr, "    vde_switch (unpinned): last on CPU %d\n", hub_cpu);
}

void run_pingpong(enum backend b, int size, long count, int run_no)
{
	struct row *r = row_new(W_RTT, b, size, count, run_no);
	snprintf(r->workload, sizeof r->workload, "pingpong %dB", size);
	r->writers = r->readers = 1;
	r->dups = -1;
	row_progress(r);
	if (b == B_VDE)
		switch_start();

	char *path = bus_path(b);
	uint32_t run = next_run_id();
	opt.frame_size = size;
	struct child echo, ping;
	struct args a;
	int64_t ready = now_ns() + (int64_t)READY_TIMEOUT_MS * 1000000;
	role_args(&a, "echo", b, path, 1, 1, run, count);
	spawn(&echo, a.v, cpu_of(0));
	int ok = child_expect(&echo, "READY", ready) == 0, started = 0;
	if (ok) {
		role_args(&a, "ping", b, path, 0, 1, run, count);
		spawn(&ping, a.v, cpu_of(1));
		started = 1;
		ok = child_expect(&ping, "READY", ready) == 0;
	}
	int64_t deadline = run_deadline();
	if (ok) {
		settle();
		child_control(&ping, 'G');
		ok = child_expect(&ping, "RESULT", deadline) == 0 && child_get(&ping, "err") == 0;
		ok = ok && child_expect(&echo, "RESULT", deadline) == 0 && child_get(&echo, "err") == 0;
		cpus_add(&r->wcpus, &ping);
		cpus_add(&r->rcpus, &echo);
		side_add(&r->w, &ping, child_get(&ping, "tries"));
		side_add(&r->r, &echo, child_get(&echo, "echoed"));
	}
	if (started)
		ok &= child_reap(&ping) == 0;
	ok &= child_reap(&echo) == 0;
	int hub_cpu = b == B_VDE ? switch_cpu() : -1;
	bus_remove(b);
	switch_stop();
	if (!ok) {
		fprintf(stderr, "FAILED\n");
		return;
	}
	long long done = child_get(&ping, "done"), lost = child_get(&ping, "lost");
	r->rtt_med = (double)child_get(&ping, "med") / 1e3;
	r->rtt_p99 = (double)child_get(&ping, "p99") / 1e3;
	r->rtt_min = (double)child_get(&ping, "min") / 1e3;
	r->loss_pct = done + lost > 0 ? 100.0 * (double)lost / (double)(done + lost) : 0;
	r->ok = 1;
	fprintf(stderr, "rtt median %.1f us, p99 %.1f us, min %.1f us, %lld lost\n", r->rtt_med,
	    r->rtt_p99, r->rtt_min, lost);
	fprintf(stderr, "    ping: CPU %lld -> %lld, echo: CPU %lld -> %lld, echoed %lld\n",
	    child_get(&ping, "cpu0"), child_get(&ping, "cpu1"), child_get(&echo, "cpu0"),
	    child_get(&echo, "cpu1"), child_get(&echo, "echoed"));
	fprintf(stderr, "    ");
	side_print("ping:", &r->w);
	fprintf(stderr, "; ");
	side_print("echo:", &r->r);
	fprintf(stderr, "\n");
	if (b == B_VDE)
		fprintf(stderr, "    vde_switch (unpinned): last on CPU %d\n", hub_cpu);
}

/* The NetBSD-style reader's RESULT, once the pacer is done: it ends at the
 * pacer's end marker; if that does not come within --quiet-ms and 2 s more,
 * it is asked to stop (S, then SIGUSR1 until it answers, since it may be
 * blocked in read). */
static int wake_reader_result(struct child *rd)
{
	int64_t wait = ((int64_t)opt.quiet_ms + 2000) * 1000000;
	if (child_wait(rd, "RESULT", now_ns() + wait) == 0)
		return 0;
	fprintf(stderr, "shmif-bench: the NetBSD-style reader did not see the end: stopping it\n");
	child_control(rd, 'S');
	for (int k = 0; k < 20; k++) {
		child_nudge(rd);
		if (child_wait(rd, "RESULT", now_ns() + 100000000) == 0)
			return 0;
	}
	fprintf(stderr, "shmif-bench: process %d: no RESULT\n", (int)rd->pid);
	return -1;
}

/* The wake-up workload: the pacer sends with libshmif (b: B_SHMIF) or, for
 * its floor (B_FLOOR), with NetBSD's writer; the reader is the same. */
void run_wakeup(enum backend b, int size, long count, int run_no)
{
	struct row *r = row_new(W_WAKE, b, size, count * WAKE_PHASES, run_no);
	snprintf(r->workload, sizeof r->workload, "NetBSD-style sleeping reader: wake-up delay");
	r->writers = r->readers = 1;
	row_progress(r);

	char *path = bus_path(b);
	uint32_t run = next_run_id();
	opt.frame_size = size;
	struct child rd, wr;
	struct args a;
	int64_t ready = now_ns() + (int64_t)READY_TIMEOUT_MS * 1000000;
	role_args(&a, "netbsd-reader", b, path, 1, 1, run, count);
	spawn(&rd, a.v, cpu_of(0));
	int ok = child_expect(&rd, "READY", ready) == 0, started = 0;
	if (ok) {
		role_args(&a, "pacer", b, path, 0, 1, run, count);
		spawn(&wr, a.v, cpu_of(1));
		started = 1;
		ok = child_expect(&wr, "READY", ready) == 0;
	}
	if (ok) {
		settle();
		child_control(&wr, 'G');
		ok = child_expect(&wr, "RESULT", run_deadline()) == 0 && child_get(&wr, "err") == 0;
		ok = ok && wake_reader_result(&rd) == 0;
		cpus_add(&r->wcpus, &wr);
		cpus_add(&r->rcpus, &rd);
		side_add(&r->w, &wr, child_get(&wr, "sent"));
		side_add(&r->r, &rd, child_get(&rd, "recv"));
	}
	if (started) {
		child_control(&wr, 'S');
		ok &= child_reap(&wr) == 0;
	}
	ok &= child_reap(&rd) == 0;
	bus_remove(b);
	if (!ok) {
		fprintf(stderr, "FAILED\n");
		return;
	}
	long long sent = child_get(&wr, "sent"), got = child_get(&rd, "recv");
	r->dups = child_get(&rd, "dups");
	r->loss_pct = sent > 0 ? 100.0 * (double)(sent - got) / (double)sent : 100;
	r->delay_med = (double)child_get(&rd, "med") / 1e3;
	r->delay_p99 = (double)child_get(&rd, "p99") / 1e3;
	r->delay_max = (double)child_get(&rd, "max") / 1e3;
	/* Every frame, once, or the run failed: a NetBSD peer must be woken. */
	r->ok = got == sent && r->dups == 0 && child_get(&rd, "bad") == 0;
	fprintf(stderr, "received %lld of %lld frames, delay median %.1f us, p99 %.1f us, max %.1f us\n",
	    got, sent, r->delay_med, r->delay_p99, r->delay_max);
	static const char *const names[WAKE_PHASES] = {"single", "burst", "batch"};
	for (int k = 0; k < WAKE_PHASES; k++) {
		char key[4][24];
		snprintf(key[0], sizeof key[0], "n_%s", names[k]);
		snprintf(key[1], sizeof key[1], "med_%s", names[k]);
		snprintf(key[2], sizeof key[2], "p99_%s", names[k]);
		snprintf(key[3], sizeof key[3], "max_%s", names[k]);
		fprintf(stderr, "    %-6s: %lld frames, delay median %.1f us, p99 %.1f us, max %.1f us\n",
		    names[k], child_get(&rd, key[0]), (double)child_get(&rd, key[1]) / 1e3,
		    (double)child_get(&rd, key[2]) / 1e3, (double)child_get(&rd, key[3]) / 1e3);
	}
	fprintf(stderr,
	    "    pacer: CPU %lld -> %lld; reader: CPU %lld -> %lld, woken %lld times, lock naps %lld, "
	    "overruns %lld, damaged records %lld, duplicates %lld, bad %lld\n",
	    child_get(&wr, "cpu0"), child_get(&wr, "cpu1"), child_get(&rd, "cpu0"),
	    child_get(&rd, "cpu1"), child_get(&rd, "wakes"), child_get(&rd, "naps"),
	    child_get(&rd, "overruns"), child_get(&rd, "corrupt"), r->dups, child_get(&rd, "bad"));
	fprintf(stderr, "    ");
	side_print("pacer:", &r->w);
	fprintf(stderr, "; ");
	side_print("reader:", &r->r);
	fprintf(stderr, "\n");
	if (r->ok)
		return;
	fprintf(stderr, "    FAILED: the sleeping reader did not get every frame once: %lld missing, "
	                "%lld duplicates, %lld bad; ",
	    sent - got, r->dups, child_get(&rd, "bad"));
	if (child_get(&rd, "end"))
		fprintf(stderr, "it saw the end marker\n");
	else
		fprintf(stderr, "it never saw the end marker; %lld records were left unread on the bus, "
		                "with no wake-up to fetch them (-1: it was lapped)\n",
		    child_get(&rd, "unread"));
}

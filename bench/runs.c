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
	r->pause_ms = NAN;
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

static uint32_t next_run_id(void)
{
	static uint32_t seq;
	return (uint32_t)getpid() << 12 ^ (uint32_t)now_ns() ^ ++seq << 24;
}

static int cpu_of(int writer_side) { return opt.pin ? (writer_side ? opt.cpu_w : opt.cpu_r) : -1; }

/* Where the run's processes attach: a new bus file, or the hub. */
static char *bus_path(enum backend b)
{
	static int n;
	if (b == B_VDE)
		return sockdir;
	snprintf(bus_file, sizeof bus_file, "%s/bus%d", tmpdir, n++);
	return bus_file;
}

static void bus_remove(enum backend b)
{
	if (b == B_SHMIF)
		unlink(bus_file);
	bus_file[0] = 0;
}

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
	if (ok)
		for (int k = 0; k < nw; k++)
			child_control(&wr[k], 'G');
	long long sent = 0, wns = 0, wstart = 0;
	for (int k = 0; k < nw && ok; k++) {
		ok = child_expect(&wr[k], "RESULT", deadline) == 0 && child_get(&wr[k], "err") == 0;
		sent += child_get(&wr[k], "sent");
		if (wstart == 0 || child_get(&wr[k], "start") < wstart)
			wstart = child_get(&wr[k], "start");
		if (child_get(&wr[k], "ns") > wns)
			wns = child_get(&wr[k], "ns");
		cpus_add(&r->wcpus, &wr[k]);
	}
	for (int k = 0; k < nr && ok; k++) {
		ok = child_expect(&rd[k], "RESULT", deadline) == 0 && child_get(&rd[k], "err") == 0;
		cpus_add(&r->rcpus, &rd[k]);
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
		child_control(&ping, 'G');
		ok = child_expect(&ping, "RESULT", deadline) == 0 && child_get(&ping, "err") == 0;
		ok = ok && child_expect(&echo, "RESULT", deadline) == 0 && child_get(&echo, "err") == 0;
		cpus_add(&r->wcpus, &ping);
		cpus_add(&r->rcpus, &echo);
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
	if (b == B_VDE)
		fprintf(stderr, "    vde_switch (unpinned): last on CPU %d\n", hub_cpu);
}

/*
 * roles.c -- the processes of the throughput and ping-pong workloads, the
 * same code on every backend (port.c): writer, reader, ping and echo. Each
 * attaches, prints READY, works, and prints one RESULT line of key=value
 * pairs (child.c reads them); writers and ping wait for the parent's G
 * first. Every RESULT has the measured phase's system calls (sc, -1: not
 * counted) and user and system CPU time in microseconds (ut, st), from
 * syscount.c.
 */
#include "bench.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* writer: --count frames in batches, then end markers until the parent
 * says stop. Prints READY, waits for G, prints RESULT. Measured: from G to
 * the last frame sent. */
int role_writer(void)
{
	struct port p;
	port_open(&p, PORT_BLOCKING);
	size_t size = (size_t)opt.frame_size, batch = (size_t)opt.batch;
	uint8_t *buf = xcalloc(batch, size);
	struct shmif_frame *f = xcalloc(batch, sizeof *f);
	for (size_t k = 0; k < batch; k++) {
		f[k].data = buf + k * size;
		f[k].len = size;
		frame_init(f[k].data, size, opt.id, KIND_DATA);
	}
	say("READY\n");
	if (control_wait(-1) != 'G')
		return EXIT_FAILED;

	struct meter m = METER_INIT;
	meter_start(&m);
	int cpu0 = sched_getcpu(), rc = 0;
	long sent = 0;
	int64_t t0 = now_ns();
	while (sent < opt.count) {
		size_t n = (size_t)(opt.count - sent) < batch ? (size_t)(opt.count - sent) : batch;
		for (size_t k = 0; k < n; k++)
			put64((uint8_t *)f[k].data + OFF_SEQ, (uint64_t)(sent + (long)k));
		if ((rc = port_send(&p, f, n)) != 0) {
			fprintf(stderr, "shmif-bench writer %d: send: %s\n", opt.id, strerror(rc));
			break;
		}
		sent += (long)n;
	}
	int64_t t1 = now_ns();
	meter_stop(&m, 0);
	say("RESULT sent=%ld start=%lld ns=%lld err=%d cpu0=%d cpu1=%d sc=%lld ut=%lld st=%lld\n", sent,
	    (long long)t0, (long long)(t1 - t0), rc, cpu0, sched_getcpu(), m.syscalls,
	    (long long)m.user_us, (long long)m.sys_us);

	frame_init(f[0].data, size, opt.id, KIND_END);
	put64((uint8_t *)f[0].data + OFF_SEQ, (uint64_t)sent);
	for (int k = 0; k < END_MARKERS; k++) {
		port_send(&p, f, 1);
		if (control_wait(1 << k) != 0)
			break;
	}
	port_close(&p);
	return rc == 0 ? 0 : EXIT_FAILED;
}

/* reader: receives until every writer's end marker or --quiet-ms of
 * silence, counting each writer's sequence numbers in a bitmap. Measured:
 * from the run's first frame to the end (every end marker, or silence). */
int role_reader(void)
{
	struct port p;
	port_open(&p, PORT_SECOND);
	size_t batch = (size_t)opt.rx_batch, words = (size_t)(opt.count + 63) / 64;
	struct shmif_frame *f = rx_frames(batch);
	uint64_t *seen[MAX_WRITERS];
	int64_t highest[MAX_WRITERS];
	for (int w = 0; w < opt.writers; w++) {
		seen[w] = xcalloc(words ? words : 1, sizeof(uint64_t));
		highest[w] = -1;
	}
	long long got = 0, dups = 0, ooo = 0, bad = 0, foreign = 0, maxgap = 0;
	unsigned ends = 0, all_ends = (1u << opt.writers) - 1;
	int64_t first = 0, last = 0, last_any = 0;
	/* The longest time between the returns of two receive calls: a reader
	 * the host deschedules for a few ms is lapped by the writers. Measured
	 * from the run's first frame (before it the reader only waits) and kept
	 * up to its last data frame (after it, waits for end markers and the
	 * quiet timeout are no pause either). */
	int64_t ret = 0, gap = 0, pause = 0;
	int quiet = 0, rc = 0;
	struct meter m = METER_INIT;
	say("READY\n");

	int cpu0 = sched_getcpu();
	int64_t start = now_ns();
	while (ends != all_ends) {
		size_t n;
		if ((rc = port_recv(&p, f, batch, recv_timeout(), &n)) != 0) {
			fprintf(stderr, "shmif-bench reader %d: receive: %s\n", opt.id, strerror(rc));
			break;
		}
		int64_t now = now_ns();
		if (ret != 0) {
			if (now - ret > gap)
				gap = now - ret;
			ret = now;
		}
		if (n == 0) {
			if (last_any ? now - last_any > (int64_t)opt.quiet_ms * 1000000
			             : now - start > (int64_t)START_TIMEOUT_MS * 1000000) {
				quiet = 1;
				break;
			}
			continue;
		}
		last_any = now;
		for (size_t k = 0; k < n; k++) {
			int kind, id;
			uint64_t seq;
			if (!frame_parse(f[k].data, f[k].len, &kind, &id, &seq)) {
				foreign++;
				continue;
			}
			if (ret == 0) {
				ret = now;
				meter_start(&m);
			}
			if (id >= opt.writers) {
				bad++;
				continue;
			}
			if (kind == KIND_END) {
				ends |= 1u << id;
				continue;
			}
			if (kind != KIND_DATA || seq >= (uint64_t)opt.count || f[k].len != (size_t)opt.frame_size) {
				bad++;
				continue;
			}
			pause = gap;
			uint64_t bit = 1ull << (seq % 64);
			if (seen[id][seq / 64] & bit) {
				dups++;
				continue;
			}
			seen[id][seq / 64] |= bit;
			if ((int64_t)seq < highest[id])
				ooo++;
			else {
				if ((int64_t)seq - highest[id] - 1 > maxgap)
					maxgap = (int64_t)seq - highest[id] - 1;
				highest[id] = (int64_t)seq;
			}
			got++;
			if (first == 0)
				first = now;
			last = now;
		}
	}
	meter_stop(&m, 0);
	int ends_seen = 0;
	for (int w = 0; w < opt.writers; w++)
		ends_seen += (ends >> w) & 1;
	say("RESULT recv=%lld dups=%lld ooo=%lld bad=%lld foreign=%lld maxgap=%lld ends=%d quiet=%d "
	    "first=%lld last=%lld ns=%lld lost=%lld pause=%lld err=%d cpu0=%d cpu1=%d sc=%lld ut=%lld "
	    "st=%lld\n",
	    got, dups, ooo, bad, foreign, maxgap, ends_seen, quiet, (long long)first, (long long)last,
	    (long long)(last - first), port_lost(&p), (long long)pause, rc, cpu0, sched_getcpu(),
	    m.syscalls, (long long)m.user_us, (long long)m.sys_us);
	port_close(&p);
	return rc == 0 ? 0 : EXIT_FAILED;
}

/* ping: --count round trips, one at a time, after a warm-up. Measured: from
 * G to the last round trip, warm-up included (tries=). */
int role_ping(void)
{
	struct port p;
	port_open(&p, 0);
	size_t size = (size_t)opt.frame_size;
	struct shmif_frame tx = {.data = xcalloc(1, size), .len = size};
	struct shmif_frame *rx = rx_frames(8);
	frame_init(tx.data, size, opt.id, KIND_PING);
	long n = opt.count, warm = n / 10 < 1000 ? n / 10 : 1000, lost = 0, done = 0, tries = 0;
	int64_t *rtt = xcalloc((size_t)n + 1, sizeof *rtt);
	int lost_run = 0, rc = 0;
	say("READY\n");
	if (control_wait(-1) != 'G')
		return EXIT_FAILED;

	struct meter m = METER_INIT;
	meter_start(&m);
	int cpu0 = sched_getcpu();
	for (long i = 0; i < warm + n && rc == 0; i++) {
		put64((uint8_t *)tx.data + OFF_SEQ, (uint64_t)i);
		int64_t t0 = now_ns(), t = 0;
		tries++;
		if ((rc = port_send(&p, &tx, 1)) != 0)
			break;
		while (t == 0) {
			size_t got;
			int wait = opt.wait_spin ? 0 : PING_TIMEOUT_MS;
			if ((rc = port_recv(&p, rx, 8, wait, &got)) != 0)
				break;
			int64_t now = now_ns();
			for (size_t k = 0; k < got; k++) {
				int kind, id;
				uint64_t seq;
				if (frame_parse(rx[k].data, rx[k].len, &kind, &id, &seq) && kind == KIND_PONG &&
				    seq == (uint64_t)i)
					t = now;
			}
			if (t == 0 && now - t0 > (int64_t)PING_TIMEOUT_MS * 1000000)
				break;
		}
		if (t == 0) {
			lost++;
			if (++lost_run >= PING_MAX_LOST_RUN) {
				fprintf(stderr, "shmif-bench ping: %d round trips in a row lost\n", lost_run);
				rc = ETIMEDOUT;
			}
			continue;
		}
		lost_run = 0;
		if (i >= warm)
			rtt[done++] = t - t0;
	}
	meter_stop(&m, 0);
	if (rc != 0 && rc != ETIMEDOUT)
		fprintf(stderr, "shmif-bench ping: %s\n", strerror(rc));
	int cpu1 = sched_getcpu();
	qsort(rtt, (size_t)done, sizeof *rtt, cmp_i64);
	say("RESULT done=%ld lost=%ld med=%lld p99=%lld min=%lld err=%d cpu0=%d cpu1=%d tries=%ld "
	    "sc=%lld ut=%lld st=%lld\n",
	    done, lost, (long long)percentile(rtt, done, 0.5), (long long)percentile(rtt, done, 0.99),
	    (long long)(done ? rtt[0] : 0), rc, cpu0, cpu1, tries, m.syscalls, (long long)m.user_us,
	    (long long)m.sys_us);
	frame_init(tx.data, size, opt.id, KIND_STOP);
	for (int k = 0; k < 3; k++) {
		port_send(&p, &tx, 1);
		usleep(1000);
	}
	port_close(&p);
	return rc == 0 ? 0 : EXIT_FAILED;
}

/* echo: sends every ping of this run back as a pong, until STOP. Measured:
 * from the first ping to STOP. */
int role_echo(void)
{
	struct port p;
	port_open(&p, PORT_SECOND);
	struct shmif_frame *rx = rx_frames((size_t)opt.batch);
	long long echoed = 0;
	int64_t start = now_ns(), last = 0;
	int stop = 0, rc = 0;
	struct meter m = METER_INIT;
	say("READY\n");

	int cpu0 = sched_getcpu();
	while (!stop && rc == 0) {
		size_t got;
		if ((rc = port_recv(&p, rx, (size_t)opt.batch, recv_timeout(), &got)) != 0)
			break;
		int64_t now = now_ns();
		if (got == 0) {
			if (now - (last ? last : start) >
			    (int64_t)(last ? ECHO_QUIET_MS : START_TIMEOUT_MS) * 1000000)
				break;
			continue;
		}
		last = now;
		for (size_t k = 0; k < got && rc == 0; k++) {
			int kind, id;
			uint64_t seq;
			if (!frame_parse(rx[k].data, rx[k].len, &kind, &id, &seq))
				continue;
			if (kind == KIND_STOP)
				stop = 1;
			if (kind != KIND_PING)
				continue;
			if (!m.running)
				meter_start(&m);
			((uint8_t *)rx[k].data)[OFF_KIND] = KIND_PONG;
			if ((rc = port_send(&p, &rx[k], 1)) == 0)
				echoed++;
		}
	}
	meter_stop(&m, 0);
	if (rc != 0)
		fprintf(stderr, "shmif-bench echo: %s\n", strerror(rc));
	say("RESULT echoed=%lld stop=%d err=%d cpu0=%d cpu1=%d sc=%lld ut=%lld st=%lld\n", echoed, stop,
	    rc, cpu0, sched_getcpu(), m.syscalls, (long long)m.user_us, (long long)m.sys_us);
	port_close(&p);
	return rc == 0 ? 0 : EXIT_FAILED;
}

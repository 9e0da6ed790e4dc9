/*
 * wakeup.c -- the wake-up workload: does a NetBSD rump kernel that sleeps
 * on the bus get woken, and how soon, when libshmif sends? And how soon
 * when NetBSD itself sends (the floor)?
 *
 * pacer: a libshmif writer (backend-shmif.c) that sends --wake-count frames
 * in each of three patterns, stamping every frame with CLOCK_MONOTONIC just
 * before the send call that carries it: (single) one frame every
 * --wake-gap-us; (burst) bursts of --wake-burst frames, one shmif_send each,
 * back to back; (batch) the same bursts, each one shmif_send_batch. A burst
 * starts every 16 gaps. Then end markers, as a throughput writer does. Its
 * own sleeps (one clock_nanosleep per pause) are not counted as its system
 * calls.
 *
 * The floor (--backend floor): the same pacer with NetBSD's writer in place
 * of libshmif (netbsd.c, netbsd_port_ops; libshmif is not loaded): every
 * frame of a send call written in a lock hold of its own as if_shmem.c's
 * shmif_start writes it, then one wake-up write (dowakeup) per call. The
 * same frames reach the same reader, so the two rows differ only in the
 * writer: the floor is what a NetBSD rump kernel sending to the reader
 * costs on this machine.
 *
 * netbsd-reader: a process that does not load libshmif. It is NetBSD's
 * receive thread (if_shmem.c shmif_rcv and its helpers in shmif_busops.c;
 * rumpuser's Linux watch in shmif_user.c) written out in C on the bus file
 * (the bus helpers are in netbsd.c): attach by mmap of the 1 MiB file
 * (initialising a fresh one), start at the newest record; then, one record
 * per lock hold: take the lock word at
 * offset 24 by compare-and-swap 0 -> 1 (1001 tries, then a 1 ms nap), and
 * if the reader is caught up (same generation, and the next write position
 * after `last` is where it stands) release the lock and block in read(2) on
 * an inotify instance watching the bus file for IN_MODIFY until a wake-up
 * write arrives; otherwise check that its position is still valid (else
 * restart at `first`, as NetBSD does), copy the record out, release the
 * lock. The delay of a frame runs from the pacer's stamp to the moment the
 * reader has it copied out and the lock released.
 *
 * Unlike NetBSD, the reader skips a record longer than 1514 bytes instead of
 * panicking, and stops when the parent asks (SIGUSR1 interrupts its read,
 * which NetBSD would retry): neither happens on a healthy bus.
 */
#include "bench.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#define BURST_EVERY 16 /* gaps from the start of one burst to the next */

static const char *const pattern_name[WAKE_PHASES] = {"single", "burst", "batch"};

/* ---- pacer ---- */

/* Sleeps until t (CLOCK_MONOTONIC ns); returns the system calls it made. */
static long sleep_until(int64_t t)
{
	struct timespec ts = {.tv_sec = t / 1000000000, .tv_nsec = t % 1000000000};
	long calls = 1;
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		calls++;
	return calls;
}

static void stamp(struct shmif_frame *f, uint64_t seq, int phase, int64_t t)
{
	uint8_t *d = f->data;
	put64(d + OFF_SEQ, seq);
	d[OFF_PHASE] = (uint8_t)phase;
	put64(d + OFF_STAMP, (uint64_t)t);
}

/* The pacer's port: libshmif, or for the floor NetBSD's own writer
 * (netbsd.c), not the ring of backend-floor.c, which no NetBSD reader
 * could read. */
static void pacer_open(struct port *p)
{
	if (backend_of_role() != B_FLOOR) {
		port_open(p, 0);
		return;
	}
	p->ops = &netbsd_port_ops;
	p->state = NULL;
	p->ops->open(p, 0);
}

int role_pacer(void)
{
	struct port p;
	pacer_open(&p);
	size_t size = (size_t)opt.frame_size, burst = (size_t)opt.wake_burst;
	uint8_t *buf = xcalloc(burst, size);
	struct shmif_frame *f = xcalloc(burst, sizeof *f);
	for (size_t k = 0; k < burst; k++) {
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
	long sleeps = 0;
	uint64_t seq = 0;
	int64_t gap = (int64_t)opt.wake_gap_us * 1000, next = now_ns(), t0 = next;
	for (long i = 0; i < opt.count && rc == 0; i++) {
		sleeps += sleep_until(next += gap);
		stamp(&f[0], seq++, WAKE_SINGLE, now_ns());
		rc = port_send(&p, f, 1);
	}
	for (int phase = WAKE_BURST; phase <= WAKE_BATCH && rc == 0; phase++)
		for (long left = opt.count; left > 0 && rc == 0;) {
			size_t n = (size_t)left < burst ? (size_t)left : burst;
			sleeps += sleep_until(next += BURST_EVERY * gap);
			if (phase == WAKE_BURST)
				for (size_t k = 0; k < n && rc == 0; k++) {
					stamp(&f[k], seq++, phase, now_ns());
					rc = port_send(&p, &f[k], 1);
				}
			else {
				int64_t t = now_ns(); /* one call sends them all */
				for (size_t k = 0; k < n; k++)
					stamp(&f[k], seq++, phase, t);
				rc = port_send(&p, f, n);
			}
			left -= (long)n;
		}
	int64_t t1 = now_ns();
	meter_stop(&m, sleeps);
	if (rc != 0)
		fprintf(stderr, "shmif-bench pacer: send: %s\n", strerror(rc));
	say("RESULT sent=%llu start=%lld ns=%lld err=%d cpu0=%d cpu1=%d sc=%lld ut=%lld st=%lld\n",
	    (unsigned long long)seq, (long long)t0, (long long)(t1 - t0), rc, cpu0, sched_getcpu(),
	    m.syscalls, (long long)m.user_us, (long long)m.sys_us);

	frame_init(f[0].data, size, opt.id, KIND_END);
	put64((uint8_t *)f[0].data + OFF_SEQ, seq);
	for (int k = 0; k < END_MARKERS; k++) {
		port_send(&p, f, 1);
		if (control_wait(1 << k) != 0)
			break;
	}
	port_close(&p);
	return rc == 0 ? 0 : EXIT_FAILED;
}

/* ---- the NetBSD-style reader (the bus helpers are in netbsd.c) ---- */

/* rumpcomp_shmif_watchsetup: an inotify watch for IN_MODIFY on the file
 * that backs the bus descriptor. */
static void watchsetup(struct nbus *b)
{
	char proc[64], target[PATH_MAX];
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", b->fd);
	ssize_t n = readlink(proc, target, sizeof target - 1);
	if (n < 0)
		die("readlink %s: %s", proc, strerror(errno));
	target[n] = 0;
	if ((b->ino = inotify_init()) < 0)
		die("inotify_init: %s", strerror(errno));
	if (inotify_add_watch(b->ino, target, IN_MODIFY) < 0)
		die("inotify_add_watch %s: %s", target, strerror(errno));
}

static volatile sig_atomic_t nudged; /* the parent asks the reader to stop */

static void on_nudge(int sig) { (void)sig, nudged = 1; }

/* rumpcomp_shmif_watchwait: one inotify event. Returns 1 if the parent
 * asked to stop meanwhile. */
static int watchwait(struct nbus *b)
{
	struct inotify_event iev;
	for (;;) {
		if (nudged)
			return 1;
		ssize_t n = read(b->ino, &iev, sizeof iev);
		if (n >= 0) {
			b->wakes++;
			return 0;
		}
		if (errno != EINTR)
			die("read inotify: %s", strerror(errno));
	}
}

/* After the parent's stop: the records the reader would still have read
 * had a wake-up come (-1 if it was lapped). */
static long unread(struct nbus *b)
{
	long n = 0;
	lockbus(b);
	if (!stillvalid(b))
		n = -1;
	else
		for (uint32_t off = b->nextpkt, end = nextpktoff(b, hdr32(b, BUS_OFF_LAST));
		     off != end && n < (long)(BUS_DATA / sizeof(struct pkthdr)); n++)
			off = nextpktoff(b, off);
	unlockbus(b);
	return n;
}

struct delays {
	int64_t *ns; /* by sequence number; -1: not received */
	long n;
};

/* Median, 99th percentile and maximum of the delays of one pattern (or of
 * all: phase -1), in ns, into out[3]; returns how many frames. */
static long delay_stats(const struct delays *d, const uint8_t *phase, int which, int64_t out[3])
{
	int64_t *v = xcalloc((size_t)d->n + 1, sizeof *v);
	long k = 0;
	for (long i = 0; i < d->n; i++)
		if (d->ns[i] >= 0 && (which < 0 || phase[i] == which))
			v[k++] = d->ns[i];
	qsort(v, (size_t)k, sizeof *v, cmp_i64);
	out[0] = percentile(v, k, 0.5);
	out[1] = percentile(v, k, 0.99);
	out[2] = k ? v[k - 1] : 0;
	free(v);
	return k;
}

int role_netbsd_reader(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_nudge; /* no SA_RESTART: read returns EINTR */
	sigaction(SIGUSR1, &sa, NULL);
	struct nbus b;
	nbus_attach(&b);
	watchsetup(&b);
	long total = opt.count * WAKE_PHASES;
	struct delays d = {.ns = xcalloc((size_t)total, sizeof(int64_t)), .n = total};
	uint8_t *phase = xcalloc((size_t)total, 1);
	for (long i = 0; i < total; i++)
		d.ns[i] = -1;
	uint8_t *frame = xcalloc(1, RX_CAP);
	long long got = 0, dups = 0, bad = 0, foreign = 0, expected = -1;
	int end = 0, stopped = 0;
	struct meter m = METER_INIT;
	say("READY\n");

	int cpu0 = sched_getcpu();
	while (!end) {
		lockbus(&b);
		/* need more data? */
		if (b.devgen == hdr_gen(&b) && nextpktoff(&b, hdr32(&b, BUS_OFF_LAST)) == b.nextpkt) {
			unlockbus(&b);
			if ((stopped = watchwait(&b)))
				break;
			__atomic_thread_fence(__ATOMIC_ACQUIRE);
			continue;
		}
		uint32_t next = b.nextpkt;
		if (!stillvalid(&b)) {
			next = hdr32(&b, BUS_OFF_FIRST);
			b.devgen = next > hdr32(&b, BUS_OFF_LAST) ? hdr_gen(&b) - 1 : hdr_gen(&b);
			b.overruns++;
		}
		struct pkthdr sp;
		int wrap = 0;
		next = busread(&b, &sp, next, sizeof sp, &wrap);
		if (sp.len > SHMIF_MAXFRAME) {
			/* NetBSD panics here; skip to the next write. */
			b.nextpkt = nextpktoff(&b, hdr32(&b, BUS_OFF_LAST));
			b.devgen = hdr_gen(&b);
			b.corrupt++;
			unlockbus(&b);
			continue;
		}
		next = busread(&b, frame, next, sp.len, &wrap);
		b.nextpkt = next;
		unlockbus(&b);
		if (wrap)
			b.devgen++;
		if (sp.len < ETHER_HDR_LEN)
			continue;

		int64_t now = now_ns();
		int kind, id;
		uint64_t seq;
		if (!frame_parse(frame, sp.len, &kind, &id, &seq)) {
			foreign++;
			continue;
		}
		if (!m.running)
			meter_start(&m);
		if (kind == KIND_END) {
			expected = (long long)seq;
			end = 1;
			continue;
		}
		if (kind != KIND_DATA || seq >= (uint64_t)total || sp.len < WAKE_HLEN) {
			bad++;
			continue;
		}
		if (d.ns[seq] >= 0) {
			dups++;
			continue;
		}
		d.ns[seq] = now - (int64_t)get64(frame + OFF_STAMP);
		phase[seq] = frame[OFF_PHASE];
		got++;
	}
	meter_stop(&m, 0);
	long left = stopped ? unread(&b) : 0;
	int64_t all[3], per[WAKE_PHASES][3];
	long nper[WAKE_PHASES];
	delay_stats(&d, phase, -1, all);
	for (int k = 0; k < WAKE_PHASES; k++)
		nper[k] = delay_stats(&d, phase, k, per[k]);
	char patterns[WAKE_PHASES * 96];
	size_t off = 0;
	for (int k = 0; k < WAKE_PHASES; k++)
		off += (size_t)snprintf(patterns + off, sizeof patterns - off,
		    " n_%s=%ld med_%s=%lld p99_%s=%lld max_%s=%lld", pattern_name[k], nper[k],
		    pattern_name[k], (long long)per[k][0], pattern_name[k], (long long)per[k][1],
		    pattern_name[k], (long long)per[k][2]);
	say("RESULT recv=%lld dups=%lld bad=%lld foreign=%lld expected=%lld end=%d unread=%ld med=%lld "
	    "p99=%lld max=%lld wakes=%ld naps=%ld overruns=%ld corrupt=%ld err=0 cpu0=%d cpu1=%d "
	    "sc=%lld ut=%lld st=%lld%s\n",
	    got, dups, bad, foreign, expected, end, left, (long long)all[0], (long long)all[1],
	    (long long)all[2], b.wakes, b.naps, b.overruns, b.corrupt, cpu0, sched_getcpu(),
	    m.syscalls, (long long)m.user_us, (long long)m.sys_us, patterns);
	nbus_detach(&b);
	return 0;
}

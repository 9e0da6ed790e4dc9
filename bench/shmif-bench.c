/*
 * shmif-bench -- libshmif against a VDE hub: throughput and round trip
 * between processes, over the public C API of each (rump/rump.h and
 * libvdeplug.h).
 *
 *   shmif-bench [--backend shmif|vde|both] [--quick] [--repeat N] [--csv FILE] [OPTIONS]
 *
 * Every workload runs in separate processes: the benchmark re-executes
 * itself (/proc/self/exe, fork+exec) with a role (writer, reader, ping,
 * echo) for each process, so that no process uses libshmif after a fork
 * without exec. The parent never calls libshmif; it starts the processes,
 * hands out the start signal and collects one result line from each.
 *
 * Backends:
 *   shmif  each process attaches an interface to a fresh bus file in a
 *          temporary directory (rump_pub_shmif_create); writers send with
 *          shmif_send_batch (shmif_send for --batch 1); readers receive with
 *          shmif_recv_batch, up to --rx-batch frames a call (256: a reader
 *          that took no more than a writer puts on the bus per lock hold
 *          could never catch up after falling behind).
 *   vde    a VDE hub (vde_switch -x -s SOCKDIR, a fresh one for every run,
 *          started and stopped by the benchmark, not pinned); each process
 *          plugs in with vde_open.
 *          VDE has no batch send: writers loop vde_send over the batch.
 *          Readers drain the non-blocking data socket with vde_recv, up to
 *          --rx-batch frames, and wait with poll on vde_datafd.
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
 *
 * Waiting (--wait): block (default) receives with a timeout, so libshmif
 * spins for its spin time (shmif_set_spin, --spin-us; library default
 * otherwise) and then blocks, and VDE readers block in poll; spin polls
 * without waiting (timeout 0 / non-blocking recv) in a loop, for both.
 *
 * Pinning (default on): writers and the pinging process run on CPU 0,
 * readers and the echoing process on CPU 1 (--cpus W,R; by default the first
 * two CPUs the benchmark may use, no pinning if it has only one), set with
 * sched_setaffinity between fork and exec, so every thread of the process,
 * the Go runtime's included, stays there. Each process reports sched_getcpu()
 * at its start and end.
 *
 * Repeats (--repeat N, 1..9, default 1): every workload runs N times in a
 * row on each backend. The table shows one run of each: the median, by loss
 * for throughput (of equal losses, the one with more frames/s) and by median
 * round trip for pingpong; of an even number of runs, the better of the
 * middle two. A run that failed is shown only if every run failed. So a
 * single disturbed run does not decide the table.
 *
 * Output: progress and per-process details on stderr, then the table on
 * stdout, also written as CSV with --csv. The CSV has every run, numbered
 * (run) and marked if the table shows it (shown). The ratio column is
 * libshmif/VDE of the row's headline figure, between the shown runs:
 * frames/s for throughput (above 1: libshmif delivers more), median round
 * trip for pingpong (below 1: libshmif is faster).
 *
 * Exit status: 0 every run completed; 1 a run failed (on stderr and in the
 * CSV; in the table, FAILED if every run of a workload failed); 2 a usage
 * error or a setup failure.
 */
#define _GNU_SOURCE /* sched_setaffinity, sched_getcpu, CPU_SET, pipe2 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libvdeplug.h>
#include <rump/rump.h>

#define EXIT_FAILED 1 /* a run failed */
#define EXIT_USAGE 2  /* a usage error or a setup failure */

/*
 * A benchmark frame: broadcast destination, a locally administered source
 * address ending in the sender's id, the IEEE local experimental EtherType,
 * then a header of our own; the rest of the frame is a fixed pattern.
 */
#define ETHERTYPE_BENCH 0x88b5
#define BENCH_MAGIC 0x53484246u /* "SHBF" */
#define OFF_MAGIC 14
#define OFF_RUN 18  /* run id: frames of other runs are ignored */
#define OFF_KIND 22 /* KIND_* */
#define OFF_ID 23   /* sender: writer number */
#define OFF_SEQ 24  /* sequence number, 64 bits big-endian */
#define BENCH_HLEN 32
#define KIND_DATA 1
#define KIND_END 2  /* writer done; seq = frames it sent */
#define KIND_PING 3
#define KIND_PONG 4
#define KIND_STOP 5 /* pinger done */

#define MAX_WRITERS 8
#define MAX_READERS 8
#define MAX_REPEAT 9
#define MAX_BATCH 1024
#define RX_CAP 1518           /* receive buffer: a 1514-byte frame and slack */
#define END_MARKERS 8         /* end markers, 1, 2, 4, ... 128 ms apart */
#define RECV_WAIT_MS 100      /* longest blocking receive between checks */
#define START_TIMEOUT_MS 30000 /* a reader gives up if nothing ever arrives */
#define PING_TIMEOUT_MS 1000  /* a round trip slower than this is lost */
#define PING_MAX_LOST_RUN 10  /* this many lost in a row ends the run */
#define ECHO_QUIET_MS 3000    /* echo: silence that ends it without STOP */
#define READY_TIMEOUT_MS 15000

enum backend { B_SHMIF, B_VDE };
static const char *const backend_name[] = {"shmif", "vde"};

/* Options; the same parser serves the parent and the roles. */
static struct {
	const char *role; /* NULL: the parent */
	int backends;     /* bit 1 << B_SHMIF, 1 << B_VDE */
	int frame_size;   /* 0: 60 and 1514 */
	long count;       /* frames per writer; 0: default for the size */
	long rtt_count;
	int batch;    /* frames per send call (and per ping-pong receive) */
	int rx_batch; /* frames per receive call of throughput readers */
	int pin;
	int cpu_w, cpu_r;
	int spin_us; /* -1: library default */
	int wait_spin;
	const char *csv;
	int quick;
	int repeat; /* runs of every workload */
	const char *dir;
	int quiet_ms;
	int do_tput, do_rtt;
	/* roles only */
	char *path;
	int id;
	int writers;
	uint32_t run;
} opt = {
	.backends = 1 << B_SHMIF | 1 << B_VDE,
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
	.writers = 1,
};

static char self_exe[PATH_MAX];

/* ---- helpers ---- */

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int k = 3; k >= 0; k--, v >>= 8)
		p[k] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

static uint64_t get64(const uint8_t *p) { return (uint64_t)get32(p) << 32 | get32(p + 4); }

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "shmif-bench%s%s: ", opt.role ? " " : "", opt.role ? opt.role : "");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(EXIT_USAGE);
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n, size);
	if (p == NULL)
		die("out of memory");
	return p;
}

/* Fills a whole benchmark frame of `size` bytes. */
static void frame_init(uint8_t *f, size_t size, int id, int kind)
{
	for (size_t k = BENCH_HLEN; k < size; k++)
		f[k] = (uint8_t)(k * 7);
	memset(f, 0xff, 6);
	const uint8_t src[6] = {0x02, 0x00, 0x5e, 0xbe, 0x00, (uint8_t)id};
	memcpy(f + 6, src, 6);
	f[12] = ETHERTYPE_BENCH >> 8;
	f[13] = ETHERTYPE_BENCH & 0xff;
	put32(f + OFF_MAGIC, BENCH_MAGIC);
	put32(f + OFF_RUN, opt.run);
	f[OFF_KIND] = (uint8_t)kind;
	f[OFF_ID] = (uint8_t)id;
	put64(f + OFF_SEQ, 0);
}

/* Reports whether f (len bytes) is a frame of this run; sets kind, id, seq. */
static int frame_parse(const uint8_t *f, size_t len, int *kind, int *id, uint64_t *seq)
{
	if (len < BENCH_HLEN || f[12] != ETHERTYPE_BENCH >> 8 || f[13] != (ETHERTYPE_BENCH & 0xff) ||
	    get32(f + OFF_MAGIC) != BENCH_MAGIC || get32(f + OFF_RUN) != opt.run)
		return 0;
	*kind = f[OFF_KIND];
	*id = f[OFF_ID];
	*seq = get64(f + OFF_SEQ);
	return 1;
}

/* Waits up to ms for stdin (the parent's control pipe); returns the byte
 * read, -1 at end of file or error, 0 on timeout. */
static int control_wait(int ms)
{
	struct pollfd p = {.fd = 0, .events = POLLIN};
	int r = poll(&p, 1, ms);
	if (r == 0)
		return 0;
	if (r < 0)
		return errno == EINTR ? 0 : -1;
	unsigned char c;
	ssize_t n = read(0, &c, 1);
	return n == 1 ? c : -1;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
}

/* ---- one process's attachment: a libshmif interface or a VDE plug ---- */

struct port {
	enum backend backend;
	int ifnum;
	VDECONN *vde;
	int fd;
};

static enum backend backend_of(void) { return opt.backends & 1 << B_VDE ? B_VDE : B_SHMIF; }

/* Attaches to the bus or hub at opt.path. A VDE data socket is made
 * non-blocking unless `blocking` (writers block in vde_send instead). */
static void port_open(struct port *p, int blocking)
{
	memset(p, 0, sizeof *p);
	p->backend = backend_of();
	if (p->backend == B_SHMIF) {
		int rc = rump_pub_shmif_create(opt.path, &p->ifnum);
		if (rc != 0)
			die("rump_pub_shmif_create %s: %s", opt.path, strerror(rc));
		if (opt.spin_us >= 0 && (rc = shmif_set_spin(p->ifnum, opt.spin_us)) != 0)
			die("shmif_set_spin: %s", strerror(rc));
		return;
	}
	struct vde_open_args args = {.port = 0, .group = NULL, .mode = 0700};
	p->vde = vde_open(opt.path, "shmif-bench", &args);
	if (p->vde == NULL)
		die("vde_open %s: %s", opt.path, strerror(errno));
	p->fd = vde_datafd(p->vde);
	if (!blocking && fcntl(p->fd, F_SETFL, fcntl(p->fd, F_GETFL) | O_NONBLOCK) < 0)
		die("fcntl: %s", strerror(errno));
}

static void port_close(struct port *p)
{
	if (p->backend == B_SHMIF)
		shmif_destroy(p->ifnum);
	else
		vde_close(p->vde);
}

/* Sends n frames; returns 0 or an errno value. */
static int port_send(struct port *p, const struct shmif_frame *f, size_t n)
{
	if (p->backend == B_SHMIF)
		return n == 1 ? shmif_send(p->ifnum, f[0].data, f[0].len) : shmif_send_batch(p->ifnum, f, n);
	for (size_t k = 0; k < n; k++) {
		for (;;) {
			ssize_t r = vde_send(p->vde, f[k].data, f[k].len, 0);
			if (r == (ssize_t)f[k].len)
				break;
			if (r >= 0)
				return EIO;
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS)
				return errno;
			struct pollfd pf = {.fd = p->fd, .events = POLLOUT};
			poll(&pf, 1, RECV_WAIT_MS);
		}
	}
	return 0;
}

/* Reads what the non-blocking VDE socket holds, up to max frames. */
static int vde_drain(struct port *p, struct shmif_frame *f, size_t max, size_t *got)
{
	*got = 0;
	while (*got < max) {
		ssize_t r = vde_recv(p->vde, f[*got].data, f[*got].cap, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return errno;
		}
		f[*got].len = (size_t)r;
		(*got)++;
	}
	return 0;
}

/* Receives up to max frames, waiting up to timeout_ms (0: only looks) for
 * the first; *got is 0 if none came. Returns 0 or an errno value. */
static int port_recv(struct port *p, struct shmif_frame *f, size_t max, int timeout_ms, size_t *got)
{
	*got = 0;
	if (p->backend == B_SHMIF) {
		int rc = shmif_recv_batch(p->ifnum, f, max, got, timeout_ms);
		return rc == EAGAIN || rc == ETIMEDOUT ? 0 : rc;
	}
	int rc = vde_drain(p, f, max, got);
	if (rc != 0 || *got > 0 || timeout_ms == 0)
		return rc;
	struct pollfd pf = {.fd = p->fd, .events = POLLIN};
	if (poll(&pf, 1, timeout_ms) > 0)
		rc = vde_drain(p, f, max, got);
	return rc;
}

/* libshmif's count of frames this interface was lapped by; -1 for VDE. */
static long long port_lost(struct port *p)
{
	struct shmif_stats st;
	if (p->backend != B_SHMIF || shmif_get_stats(p->ifnum, &st) != 0)
		return -1;
	return (long long)st.lost;
}

static struct shmif_frame *rx_frames(size_t n)
{
	struct shmif_frame *f = xcalloc(n, sizeof *f);
	uint8_t *buf = xcalloc(n, RX_CAP);
	for (size_t k = 0; k < n; k++) {
		f[k].data = buf + k * RX_CAP;
		f[k].cap = RX_CAP;
	}
	return f;
}

static int recv_timeout(void) { return opt.wait_spin ? 0 : RECV_WAIT_MS; }

/* ---- roles: the processes of a workload ---- */

/* writer: --count frames in batches, then end markers until the parent
 * says stop. Prints READY, waits for G, prints RESULT. */
static int role_writer(void)
{
	struct port p;
	port_open(&p, 1);
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
	say("RESULT sent=%ld start=%lld ns=%lld err=%d cpu0=%d cpu1=%d\n", sent, (long long)t0,
	    (long long)(t1 - t0), rc, cpu0, sched_getcpu());

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
 * silence, counting each writer's sequence numbers in a bitmap. */
static int role_reader(void)
{
	struct port p;
	port_open(&p, 0);
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
			if (ret == 0)
				ret = now;
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
	int ends_seen = 0;
	for (int w = 0; w < opt.writers; w++)
		ends_seen += (ends >> w) & 1;
	say("RESULT recv=%lld dups=%lld ooo=%lld bad=%lld foreign=%lld maxgap=%lld ends=%d quiet=%d "
	    "first=%lld last=%lld ns=%lld lost=%lld pause=%lld err=%d cpu0=%d cpu1=%d\n",
	    got, dups, ooo, bad, foreign, maxgap, ends_seen, quiet, (long long)first, (long long)last,
	    (long long)(last - first), port_lost(&p), (long long)pause, rc, cpu0, sched_getcpu());
	port_close(&p);
	return rc == 0 ? 0 : EXIT_FAILED;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* ping: --count round trips, one at a time, after a warm-up. */
static int role_ping(void)
{
	struct port p;
	port_open(&p, 0);
	size_t size = (size_t)opt.frame_size;
	struct shmif_frame tx = {.data = xcalloc(1, size), .len = size};
	struct shmif_frame *rx = rx_frames(8);
	frame_init(tx.data, size, opt.id, KIND_PING);
	long n = opt.count, warm = n / 10 < 1000 ? n / 10 : 1000, lost = 0, done = 0;
	int64_t *rtt = xcalloc((size_t)n + 1, sizeof *rtt);
	int lost_run = 0, rc = 0;
	say("READY\n");
	if (control_wait(-1) != 'G')
		return EXIT_FAILED;

	int cpu0 = sched_getcpu();
	for (long i = 0; i < warm + n && rc == 0; i++) {
		put64((uint8_t *)tx.data + OFF_SEQ, (uint64_t)i);
		int64_t t0 = now_ns(), t = 0;
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
	if (rc != 0 && rc != ETIMEDOUT)
		fprintf(stderr, "shmif-bench ping: %s\n", strerror(rc));
	int cpu1 = sched_getcpu();
	qsort(rtt, (size_t)done, sizeof *rtt, cmp_i64);
	long p99 = done ? (long)ceil(0.99 * (double)done) - 1 : 0;
	say("RESULT done=%ld lost=%ld med=%lld p99=%lld min=%lld err=%d cpu0=%d cpu1=%d\n", done, lost,
	    (long long)(done ? rtt[done / 2] : 0), (long long)(done ? rtt[p99] : 0),
	    (long long)(done ? rtt[0] : 0), rc, cpu0, cpu1);
	frame_init(tx.data, size, opt.id, KIND_STOP);
	for (int k = 0; k < 3; k++) {
		port_send(&p, &tx, 1);
		usleep(1000);
	}
	port_close(&p);
	return rc == 0 ? 0 : EXIT_FAILED;
}

/* echo: sends every ping of this run back as a pong, until STOP. */
static int role_echo(void)
{
	struct port p;
	port_open(&p, 0);
	struct shmif_frame *rx = rx_frames((size_t)opt.batch);
	long long echoed = 0;
	int64_t start = now_ns(), last = 0;
	int stop = 0, rc = 0;
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
			((uint8_t *)rx[k].data)[OFF_KIND] = KIND_PONG;
			if ((rc = port_send(&p, &rx[k], 1)) == 0)
				echoed++;
		}
	}
	if (rc != 0)
		fprintf(stderr, "shmif-bench echo: %s\n", strerror(rc));
	say("RESULT echoed=%lld stop=%d err=%d cpu0=%d cpu1=%d\n", echoed, stop, rc, cpu0, sched_getcpu());
	port_close(&p);
	return rc == 0 ? 0 : EXIT_FAILED;
}

/* ---- the parent: child processes ---- */

struct child {
	pid_t pid;
	int in, out; /* its stdin (control) and stdout (READY, RESULT) */
	char line[512];
	int cpu0, cpu1;
};

static pid_t live[2 * (MAX_WRITERS + MAX_READERS)];
static volatile pid_t switch_pid;
static char tmpdir[PATH_MAX], sockdir[PATH_MAX + 8], switch_log[PATH_MAX + 8];
static char bus_file[PATH_MAX + 16]; /* the bus of the current run, if any */

/* SIGINT, SIGTERM: ends the processes of the run, removes the temporary
 * directory (async-signal-safe calls only) and dies of the signal. */
static void on_signal(int sig)
{
	for (size_t k = 0; k < sizeof live / sizeof live[0]; k++)
		if (live[k] > 0) {
			kill(live[k], SIGKILL);
			waitpid(live[k], NULL, 0);
		}
	if (switch_pid > 0) {
		kill(switch_pid, SIGTERM);
		waitpid(switch_pid, NULL, 0);
	}
	if (bus_file[0])
		unlink(bus_file);
	if (switch_log[0])
		unlink(switch_log);
	if (tmpdir[0])
		rmdir(tmpdir);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Blocks (on) or restores (off) SIGINT and SIGTERM around the steps that
 * start, reap and record processes, so that on_signal sees a true list. */
static void signals_hold(int on)
{
	static sigset_t old;
	sigset_t block;
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	if (on)
		sigprocmask(SIG_BLOCK, &block, &old);
	else
		sigprocmask(SIG_SETMASK, &old, NULL);
}

static void track(pid_t pid, int add)
{
	for (size_t k = 0; k < sizeof live / sizeof live[0]; k++)
		if (add ? live[k] == 0 : live[k] == pid) {
			live[k] = add ? pid : 0;
			return;
		}
}

/* Starts this program with argv on `cpu` (-1: anywhere). */
static void spawn(struct child *c, char *const argv[], int cpu)
{
	int in[2], out[2];
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
		die("pipe: %s", strerror(errno));
	memset(c, 0, sizeof *c);
	c->cpu0 = c->cpu1 = -1;
	signals_hold(1);
	pid_t pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		/* Only async-signal-safe calls until exec: the parent has threads. */
		if (cpu >= 0) {
			cpu_set_t set;
			CPU_ZERO(&set);
			CPU_SET(cpu, &set);
			if (sched_setaffinity(0, sizeof set, &set) < 0)
				_exit(126);
		}
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = SIG_DFL;
		sigaction(SIGPIPE, &sa, NULL);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		signals_hold(0);
		if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0)
			_exit(126);
		execv(self_exe, argv);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	c->pid = pid;
	c->in = in[1];
	c->out = out[0];
	track(pid, 1);
	signals_hold(0);
}

/* Reads one line from the child into c->line by the deadline; 0 or -1. */
static int child_line(struct child *c, int64_t deadline)
{
	size_t n = 0;
	for (;;) {
		int64_t left = (deadline - now_ns()) / 1000000;
		if (left <= 0)
			return -1;
		struct pollfd pf = {.fd = c->out, .events = POLLIN};
		int r = poll(&pf, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		char ch;
		ssize_t got = read(c->out, &ch, 1);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return -1;
		if (ch == '\n') {
			c->line[n] = 0;
			return 0;
		}
		if (n + 1 < sizeof c->line)
			c->line[n++] = ch;
	}
}

/* Waits for a line starting with `word` (READY or RESULT). */
static int child_expect(struct child *c, const char *word, int64_t deadline)
{
	if (child_line(c, deadline) != 0 || strncmp(c->line, word, strlen(word)) != 0) {
		fprintf(stderr, "shmif-bench: process %d: no %s\n", (int)c->pid, word);
		return -1;
	}
	return 0;
}

/* The value of key=NUMBER in the child's RESULT line, or -1. */
static long long child_get(const struct child *c, const char *key)
{
	char pat[32];
	snprintf(pat, sizeof pat, " %s=", key);
	const char *s = strstr(c->line, pat);
	return s ? strtoll(s + strlen(pat), NULL, 10) : -1;
}

static void child_control(struct child *c, char ch)
{
	if (c->in >= 0 && write(c->in, &ch, 1) != 1) {
		/* the child is gone; its missing RESULT reports it */
	}
}

/* Ends the child: closes its pipes and reaps it (killing it after 5 s).
 * Returns its exit status, or -1 if it did not exit by itself with 0. */
static int child_reap(struct child *c)
{
	close(c->in);
	c->in = -1;
	close(c->out);
	int status = 0;
	int64_t deadline = now_ns() + 5000000000LL;
	for (;;) {
		/* Reaped and forgotten with the signals blocked, so that on_signal
		 * never kills a pid that may have been reused. */
		signals_hold(1);
		int late = now_ns() > deadline;
		if (late)
			kill(c->pid, SIGKILL);
		pid_t r = waitpid(c->pid, &status, late ? 0 : WNOHANG);
		if (r != 0)
			track(c->pid, 0);
		signals_hold(0);
		if (late)
			return -1;
		if (r != 0)
			break;
		usleep(2000);
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	fprintf(stderr, "shmif-bench: process %d ended by signal %d\n", (int)c->pid, WTERMSIG(status));
	return -1;
}

/* ---- the parent: VDE hub ---- */

static int switch_in = -1; /* the hub's stdin: it exits at end of file */

/* Starts a hub, vde_switch -x -s SOCKDIR, as a child: in the foreground (no
 * -d) so that it is reaped here, and with its stdin a pipe from this
 * process, so that it exits by itself should this process die. */
static void switch_start(void)
{
	snprintf(sockdir, sizeof sockdir, "%s/vde", tmpdir);
	snprintf(switch_log, sizeof switch_log, "%s/vde.log", tmpdir);
	int in[2];
	if (pipe2(in, O_CLOEXEC) < 0)
		die("pipe: %s", strerror(errno));
	signals_hold(1);
	pid_t pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		signals_hold(0);
		int null = open("/dev/null", O_WRONLY);
		int log = open(switch_log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (null < 0 || log < 0 || dup2(in[0], 0) < 0 || dup2(null, 1) < 0 || dup2(log, 2) < 0)
			_exit(126);
		/* -x hub, -f no rc file: the same switch everywhere */
		execlp("vde_switch", "vde_switch", "-x", "-s", sockdir, "-f", "/dev/null", (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	switch_in = in[1];
	switch_pid = pid;
	signals_hold(0);
	char ctl[PATH_MAX + 16];
	snprintf(ctl, sizeof ctl, "%s/ctl", sockdir);
	for (int k = 0; k < 1000; k++) {
		int status;
		if (waitpid(pid, &status, WNOHANG) == pid) {
			switch_pid = 0;
			char msg[512] = "";
			FILE *fp = fopen(switch_log, "r");
			if (fp != NULL) {
				size_t n = fread(msg, 1, sizeof msg - 1, fp);
				msg[n] = 0;
				fclose(fp);
			}
			die("vde_switch -x -s %s exited (status %d)%s%s%s", sockdir,
			    WIFEXITED(status) ? WEXITSTATUS(status) : -1,
			    WIFEXITED(status) && WEXITSTATUS(status) == 127
			        ? ": not found; install the Debian packages vde2 libvdeplug-dev"
			        : "",
			    msg[0] ? ": " : "", msg);
		}
		if (access(ctl, F_OK) == 0)
			return;
		usleep(5000);
	}
	die("vde_switch did not come up in %s", sockdir);
}

static void switch_stop(void)
{
	pid_t pid = switch_pid;
	if (pid <= 0)
		return;
	signals_hold(1);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	switch_pid = 0;
	signals_hold(0);
	close(switch_in);
	switch_in = -1;
}

/* The CPU the hub last ran on (/proc/PID/stat field 39), or -1. */
static int switch_cpu(void)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)switch_pid);
	FILE *fp = fopen(path, "r");
	if (fp == NULL)
		return -1;
	size_t n = fread(buf, 1, sizeof buf - 1, fp);
	fclose(fp);
	buf[n] = 0;
	char *s = strrchr(buf, ')');
	int field = 2, cpu = -1;
	for (; s && *s; s++)
		if (*s == ' ' && ++field == 39) {
			cpu = atoi(s + 1);
			break;
		}
	return cpu;
}

/* Removes the temporary directory and what the runs left in it. */
static void cleanup(void)
{
	switch_stop();
	if (!tmpdir[0])
		return;
	DIR *d = opendir(tmpdir);
	if (d != NULL) {
		struct dirent *e;
		while ((e = readdir(d)) != NULL) {
			if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
				continue;
			char p[PATH_MAX + 300];
			snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
			unlink(p);
		}
		closedir(d);
	}
	rmdir(tmpdir);
	tmpdir[0] = 0;
}

/* ---- the parent: runs and results ---- */

enum kind { W_TPUT, W_RTT };

struct row {
	char workload[48];
	enum kind kind;
	enum backend backend;
	int size, writers, readers;
	long count;
	int run;   /* 1..--repeat */
	int shown; /* the run the table shows for its workload and backend */
	int ok;
	double fps, gbps, loss_pct, rtt_med, rtt_p99, rtt_min, ratio;
	double pause_ms; /* the longest reader pause of a throughput run; NAN: none */
	long long dups, bus_lost;
	uint64_t wcpus, rcpus; /* CPUs the writers (pinger) and readers (echo) ran on */
};

/* Every run: 2 frame sizes x (3 throughput + 1 pingpong workloads) x 2
 * backends x --repeat. */
#define MAX_ROWS (2 * (3 + 1) * 2 * MAX_REPEAT)
static struct row rows[MAX_ROWS];
static int nrows;

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

static void cpus_fmt(char *buf, size_t len, uint64_t set, char sep)
{
	size_t n = 0;
	buf[0] = 0;
	for (int k = 0; k < 64 && n + 4 < len; k++)
		if (set >> k & 1)
			n += (size_t)snprintf(buf + n, len - n, "%s%d", n ? (char[]){sep, 0} : "", k);
	if (n == 0)
		snprintf(buf, len, "?");
}

static uint32_t next_run_id(void)
{
	static uint32_t seq;
	return (uint32_t)getpid() << 12 ^ (uint32_t)now_ns() ^ ++seq << 24;
}

/* The argument vector of a role process. */
struct args {
	char *v[40];
	char buf[12][64];
	int n, nb;
};

static void args_add(struct args *a, const char *k, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void args_add(struct args *a, const char *k, const char *fmt, ...)
{
	a->v[a->n++] = (char *)k;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(a->buf[a->nb], sizeof a->buf[0], fmt, ap);
	va_end(ap);
	a->v[a->n++] = a->buf[a->nb++];
	a->v[a->n] = NULL;
}

static void role_args(struct args *a, const char *role, enum backend b, char *path, int id,
    int writers, uint32_t run, long count)
{
	memset(a, 0, sizeof *a);
	a->v[a->n++] = self_exe;
	a->v[a->n++] = "--role";
	a->v[a->n++] = (char *)role;
	a->v[a->n++] = "--backend";
	a->v[a->n++] = (char *)backend_name[b];
	a->v[a->n++] = "--path";
	a->v[a->n++] = path;
	args_add(a, "--id", "%d", id);
	args_add(a, "--writers", "%d", writers);
	args_add(a, "--run", "%u", (unsigned)run);
	args_add(a, "--count", "%ld", count);
	args_add(a, "--frame-size", "%d", opt.frame_size);
	args_add(a, "--batch", "%d", opt.batch);
	args_add(a, "--rx-batch", "%d", opt.rx_batch);
	args_add(a, "--spin-us", "%d", opt.spin_us);
	args_add(a, "--quiet-ms", "%d", opt.quiet_ms);
	a->v[a->n++] = "--wait";
	a->v[a->n++] = opt.wait_spin ? "spin" : "block";
	a->v[a->n] = NULL;
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

static void run_throughput(enum backend b, int size, int writers, int readers, long count, int run_no)
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

static void run_pingpong(enum backend b, int size, long count, int run_no)
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

/* Orders the runs of one workload and backend, the better first: lower loss,
 * then more frames/s (throughput); lower median round trip (pingpong). */
static int cmp_run(const void *a, const void *b)
{
	const struct row *x = *(const struct row *const *)a, *y = *(const struct row *const *)b;
	double kx = x->kind == W_TPUT ? x->loss_pct : x->rtt_med;
	double ky = y->kind == W_TPUT ? y->loss_pct : y->rtt_med;
	if (kx != ky)
		return kx < ky ? -1 : 1;
	if (x->kind == W_TPUT && x->fps != y->fps)
		return x->fps > y->fps ? -1 : 1;
	return x->run - y->run;
}

/* Marks the run the table shows among rows[first..nrows), the runs of one
 * workload and backend: the median of those that completed (of an even
 * number, the better of the middle two), or the first if none did. */
static void pick_shown(int first)
{
	struct row *ok[MAX_REPEAT];
	int n = 0;
	for (int i = first; i < nrows && n < MAX_REPEAT; i++)
		if (rows[i].ok)
			ok[n++] = &rows[i];
	if (n == 0) {
		if (first < nrows)
			rows[first].shown = 1;
		return;
	}
	qsort(ok, (size_t)n, sizeof ok[0], cmp_run);
	ok[(n - 1) / 2]->shown = 1;
}

/* Fills the ratio column of the shown rows: libshmif / VDE of frames/s or
 * median RTT. */
static void ratios(void)
{
	for (int i = 0; i < nrows; i++) {
		if (rows[i].backend != B_SHMIF || !rows[i].ok || !rows[i].shown)
			continue;
		for (int j = 0; j < nrows; j++)
			if (rows[j].backend == B_VDE && rows[j].ok && rows[j].shown &&
			    strcmp(rows[j].workload, rows[i].workload) == 0) {
				double s = rows[i].kind == W_TPUT ? rows[i].fps : rows[i].rtt_med;
				double v = rows[j].kind == W_TPUT ? rows[j].fps : rows[j].rtt_med;
				if (v > 0)
					rows[i].ratio = s / v;
			}
	}
}

static void print_table(void)
{
	printf("%-24s | %-7s | %11s | %7s | %7s | %5s | %8s | %-21s | %9s | %s\n", "workload", "backend",
	    "frames/s", "Gbit/s", "loss %", "dups", "bus lost", "rtt med/p99/min us", "shmif/vde",
	    "cpus w/r");
	printf("%.*s\n", 141,
	    "-----------------------------------------------------------------------------------"
	    "-----------------------------------------------------------------------------------");
	int failed = 0;
	for (int i = 0; i < nrows; i++) {
		const struct row *r = &rows[i];
		failed += !r->ok;
		if (!r->shown)
			continue;
		char fps[24] = "-", gbps[16] = "-", loss[16] = "-", dups[16] = "-", lost[24] = "-",
		     rtt[40] = "-", ratio[16] = "-", wc[32], rc[32];
		cpus_fmt(wc, sizeof wc, r->wcpus, ',');
		cpus_fmt(rc, sizeof rc, r->rcpus, ',');
		if (!r->ok) {
			printf("%-24s | %-7s | %11s | %7s | %7s | %5s | %8s | %-21s | %9s | %s/%s\n",
			    r->workload, backend_name[r->backend], "FAILED", "-", "-", "-", "-", "-", "-", wc,
			    rc);
			continue;
		}
		snprintf(loss, sizeof loss, "%.2f", r->loss_pct);
		if (r->kind == W_TPUT) {
			snprintf(fps, sizeof fps, "%.0f", r->fps);
			snprintf(gbps, sizeof gbps, "%.3f", r->gbps);
			snprintf(dups, sizeof dups, "%lld", r->dups);
			if (r->bus_lost >= 0)
				snprintf(lost, sizeof lost, "%lld", r->bus_lost);
		} else
			snprintf(rtt, sizeof rtt, "%.1f/%.1f/%.1f", r->rtt_med, r->rtt_p99, r->rtt_min);
		if (!isnan(r->ratio))
			snprintf(ratio, sizeof ratio, "%.2f", r->ratio);
		printf("%-24s | %-7s | %11s | %7s | %7s | %5s | %8s | %-21s | %9s | %s/%s\n", r->workload,
		    backend_name[r->backend], fps, gbps, loss, dups, lost, rtt, ratio, wc, rc);
	}
	printf("shmif/vde: frames/s ratio for throughput (>1: libshmif delivers more), "
	       "median rtt ratio for pingpong (<1: libshmif is faster).\n");
	if (opt.repeat > 1)
		printf("each line: the median of %d runs (throughput by loss, pingpong by median rtt); "
		       "every run is %s.\n",
		    opt.repeat, opt.csv ? "in the CSV" : "on stderr");
	if (failed > 0)
		printf("%d of %d runs failed.\n", failed, nrows);
	fflush(stdout);
}

static void write_csv(const char *file)
{
	FILE *fp = fopen(file, "w");
	if (fp == NULL) {
		fprintf(stderr, "shmif-bench: %s: %s\n", file, strerror(errno));
		return;
	}
	fprintf(fp, "workload,backend,frame_bytes,writers,readers,count,batch,wait,spin_us,status,"
	            "frames_per_s,gbit_s,loss_pct,dups,bus_lost,rtt_median_us,rtt_p99_us,rtt_min_us,"
	            "ratio_shmif_vde,writer_cpus,reader_cpus,reader_pause_ms,run,shown\n");
	for (int i = 0; i < nrows; i++) {
		const struct row *r = &rows[i];
		char wc[32], rc[32];
		cpus_fmt(wc, sizeof wc, r->wcpus, ';');
		cpus_fmt(rc, sizeof rc, r->rcpus, ';');
		fprintf(fp, "%s,%s,%d,%d,%d,%ld,%d,%s,", r->workload, backend_name[r->backend], r->size,
		    r->writers, r->readers, r->count, r->kind == W_TPUT ? opt.batch : 1,
		    opt.wait_spin ? "spin" : "block");
		if (opt.spin_us >= 0)
			fprintf(fp, "%d", opt.spin_us);
		fprintf(fp, ",%s,", r->ok ? "ok" : "failed");
		if (r->ok && r->kind == W_TPUT)
			fprintf(fp, "%.0f,%.4f,%.4f,%lld,", r->fps, r->gbps, r->loss_pct, r->dups);
		else if (r->ok)
			fprintf(fp, ",,%.4f,,", r->loss_pct);
		else
			fprintf(fp, ",,,,");
		if (r->ok && r->bus_lost >= 0)
			fprintf(fp, "%lld", r->bus_lost);
		if (r->ok && r->kind == W_RTT)
			fprintf(fp, ",%.2f,%.2f,%.2f,", r->rtt_med, r->rtt_p99, r->rtt_min);
		else
			fprintf(fp, ",,,,");
		if (!isnan(r->ratio))
			fprintf(fp, "%.4f", r->ratio);
		fprintf(fp, ",%s,%s,", wc, rc);
		if (r->ok && !isnan(r->pause_ms))
			fprintf(fp, "%.3f", r->pause_ms);
		fprintf(fp, ",%d,%d\n", r->run, r->shown);
	}
	if (fclose(fp) != 0)
		fprintf(stderr, "shmif-bench: %s: %s\n", file, strerror(errno));
}

static const char *fs_name(const char *dir)
{
	struct statfs st;
	if (statfs(dir, &st) != 0)
		return "?";
	switch ((unsigned long)st.f_type) {
	case 0xEF53: return "ext4";
	case 0x01021994: return "tmpfs";
	case 0x58465342: return "xfs";
	case 0x9123683E: return "btrfs";
	case 0x794c7630: return "overlayfs";
	default: return "other";
	}
}

static void print_header(void)
{
	struct utsname u;
	uname(&u);
	cpu_set_t set;
	sched_getaffinity(0, sizeof set, &set);
	const char *env_spin = getenv("SHMIF_SPIN_US");
	char spin[64];
	if (opt.spin_us >= 0)
		snprintf(spin, sizeof spin, "%d us (shmif_set_spin)", opt.spin_us);
	else if (env_spin != NULL)
		snprintf(spin, sizeof spin, "library default (SHMIF_SPIN_US=%s)", env_spin);
	else
		snprintf(spin, sizeof spin, "library default");
	printf("shmif-bench: %s %s, %d CPU%s available; bus files in %s (%s)\n", u.sysname, u.release,
	    CPU_COUNT(&set), CPU_COUNT(&set) == 1 ? "" : "s", tmpdir, fs_name(tmpdir));
	printf("batch %d (receive %d), wait %s, libshmif spin %s; ", opt.batch, opt.rx_batch,
	    opt.wait_spin ? "spin" : "block", spin);
	if (opt.pin)
		printf("pinned: writers/ping on CPU %d, readers/echo on CPU %d", opt.cpu_w, opt.cpu_r);
	else
		printf("not pinned");
	printf("%s\n\n", opt.backends & 1 << B_VDE ? "; vde_switch -x (hub) not pinned" : "");
	fflush(stdout);
}

static int parent_main(void)
{
	ssize_t n = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
	if (n <= 0)
		die("readlink /proc/self/exe: %s", strerror(errno));
	self_exe[n] = 0;
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
	const char *base = opt.dir ? opt.dir : getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	snprintf(tmpdir, sizeof tmpdir, "%s/shmif-bench.XXXXXX", base);
	if (mkdtemp(tmpdir) == NULL)
		die("mkdtemp %s: %s", tmpdir, strerror(errno));
	atexit(cleanup);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
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
			for (int b = B_SHMIF; b <= B_VDE; b++) {
				if (!(opt.backends & 1 << b))
					continue;
				int first = nrows;
				for (int k = 1; k <= opt.repeat; k++)
					run_throughput((enum backend)b, sizes[s], topo[t][0], topo[t][1], count, k);
				pick_shown(first);
			}
	}
	for (int s = 0; s < nsizes && opt.do_rtt; s++) {
		long count = opt.rtt_count ? opt.rtt_count : opt.quick ? 500 : 20000;
		for (int b = B_SHMIF; b <= B_VDE; b++) {
			if (!(opt.backends & 1 << b))
				continue;
			int first = nrows;
			for (int k = 1; k <= opt.repeat; k++)
				run_pingpong((enum backend)b, sizes[s], count, k);
			pick_shown(first);
		}
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
	    "  --backend shmif|vde|both  what to measure (both)\n"
	    "  --workload all|throughput|pingpong  (all)\n"
	    "  --frame-size N            one frame size, 32..1514 (60 and 1514)\n"
	    "  --count N                 frames per writer (2000000 for 60B, 500000 for 1514B)\n"
	    "  --rtt-count N             round trips (20000)\n"
	    "  --batch N                 frames per send call, 1..1024 (32)\n"
	    "  --rx-batch N              frames per receive call of throughput readers, 1..1024 (256):\n"
	    "                            a reader must drain faster than writers fill\n"
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
	    "A later option overrides an earlier one.\n");
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
		else if (strcmp(a, "--help") == 0)
			usage();
		else if (strcmp(a, "--backend") == 0) {
			const char *b = VAL();
			opt.backends = strcmp(b, "shmif") == 0 ? 1 << B_SHMIF
			             : strcmp(b, "vde") == 0   ? 1 << B_VDE
			             : strcmp(b, "both") == 0  ? 1 << B_SHMIF | 1 << B_VDE
			                                       : (usage(), 0);
		} else if (strcmp(a, "--workload") == 0) {
			const char *w = VAL();
			opt.do_tput = strcmp(w, "all") == 0 || strcmp(w, "throughput") == 0;
			opt.do_rtt = strcmp(w, "all") == 0 || strcmp(w, "pingpong") == 0;
			if (!opt.do_tput && !opt.do_rtt)
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
	if (strcmp(opt.role, "writer") == 0)
		return role_writer();
	if (strcmp(opt.role, "reader") == 0)
		return role_reader();
	if (strcmp(opt.role, "ping") == 0)
		return role_ping();
	if (strcmp(opt.role, "echo") == 0)
		return role_echo();
	die("unknown role %s", opt.role);
}

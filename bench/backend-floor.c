/*
 * backend-floor.c -- the floor: what two processes sharing memory can do at
 * best on this machine, measured in the same run as libshmif so that
 * libshmif's figures can be given as ratios to it (system calls and cache
 * traffic cost very different amounts on different machines; ratios
 * compare).
 *
 * A plain single-producer single-consumer ring in a shared file (mmap,
 * MAP_SHARED), one per direction: the run's file holds two, ring 0 from the
 * writer (ping) to the reader (echo), ring 1 back. Each ring has 1 MiB of
 * records, as a shmif bus has: an 8-byte header (the frame's length) and
 * the frame, padded to 8 bytes; a record never wraps (a marker sends the
 * reader back to the start). head counts the bytes the producer wrote, tail
 * the bytes the consumer is done with, each in a cache line (128 bytes, for
 * adjacent-line prefetch) of its own.
 *
 * Honest: C11 atomics, the producer publishes head with a release store
 * after copying a batch of records in, the consumer loads it with an
 * acquire load and publishes tail with a release store after copying the
 * records out; the producer loads tail (acquire) only when its cached copy
 * says the ring is full. Lossless: a writer waits for space (publishing what
 * it wrote first), up to 10 s. The same work per frame as the other
 * backends: the roles (roles.c) build, parse and count every frame alike;
 * here the frames are copied into the ring and out of it. Waiting is busy
 * polling (with the CPU's pause hint), yielding the CPU only after 1 ms
 * without progress; the processes are pinned as libshmif's are.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define FLOOR_DATA (1u << 20) /* bytes of records in a ring */
#define FLOOR_RHLEN 8         /* record header: the length, then padding */
#define FLOOR_WRAP 0xffffffffu /* record length: continue at offset 0 */
#define FLOOR_SEND_TIMEOUT_MS 10000
#define FLOOR_YIELD_NS 1000000 /* busy polling yields after this long */

struct floor_ring {
	_Alignas(128) _Atomic uint64_t head; /* written by the producer */
	_Alignas(128) _Atomic uint64_t tail; /* written by the consumer */
	_Alignas(128) uint8_t data[FLOOR_DATA];
};

struct floor_port {
	struct floor_ring *map; /* the file's two rings */
	int fd;
	struct floor_ring *tx, *rx;
	uint64_t head, tail_seen; /* tx: next write; the consumer's tail last seen */
	uint64_t tail;            /* rx: next read */
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ volatile("yield");
#endif
}

/* One round of busy polling. Returns 0 once timeout_ms (negative: none)
 * has passed since the first round. */
struct spin {
	int64_t start;
	unsigned n;
};

static int spin_on(struct spin *s, int timeout_ms)
{
	cpu_relax();
	if ((++s->n & 255) != 1)
		return 1;
	int64_t now = now_ns();
	if (s->start == 0)
		s->start = now;
	int64_t waited = now - s->start;
	if (timeout_ms >= 0 && waited >= (int64_t)timeout_ms * 1000000)
		return 0;
	if (waited >= FLOOR_YIELD_NS)
		sched_yield();
	return 1;
}

static uint32_t rec_size(size_t len) { return FLOOR_RHLEN + (((uint32_t)len + 7) & ~7u); }

static void floor_open_port(struct port *p, int flags)
{
	struct floor_port *fp = xcalloc(1, sizeof *fp);
	size_t len = 2 * sizeof(struct floor_ring);
	fp->fd = open(opt.path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fp->fd < 0)
		die("open %s: %s", opt.path, strerror(errno));
	if (ftruncate(fp->fd, (off_t)len) < 0)
		die("ftruncate %s: %s", opt.path, strerror(errno));
	void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fp->fd, 0);
	if (m == MAP_FAILED)
		die("mmap %s: %s", opt.path, strerror(errno));
	fp->map = m;
	int second = (flags & PORT_SECOND) != 0;
	fp->tx = &fp->map[second];
	fp->rx = &fp->map[!second];
	/* A fresh file: both rings empty. */
	fp->head = atomic_load_explicit(&fp->tx->head, memory_order_relaxed);
	fp->tail_seen = atomic_load_explicit(&fp->tx->tail, memory_order_acquire);
	fp->tail = atomic_load_explicit(&fp->rx->tail, memory_order_relaxed);
	p->state = fp;
}

static void floor_close_port(struct port *p)
{
	struct floor_port *fp = p->state;
	munmap(fp->map, 2 * sizeof(struct floor_ring));
	close(fp->fd);
	free(fp);
}

/* Waits until `need` bytes are free after fp->head. */
static int wait_space(struct floor_port *fp, uint64_t need)
{
	struct spin s = {0, 0};
	for (;;) {
		fp->tail_seen = atomic_load_explicit(&fp->tx->tail, memory_order_acquire);
		if (fp->head + need - fp->tail_seen <= FLOOR_DATA)
			return 0;
		if (!spin_on(&s, FLOOR_SEND_TIMEOUT_MS))
			return ETIMEDOUT;
	}
}

static int floor_send_port(struct port *p, const struct shmif_frame *f, size_t n)
{
	struct floor_port *fp = p->state;
	uint8_t *data = fp->tx->data;
	for (size_t k = 0; k < n; k++) {
		uint32_t len = (uint32_t)f[k].len, rec = rec_size(len);
		uint32_t pos = (uint32_t)(fp->head % FLOOR_DATA), to_end = FLOOR_DATA - pos;
		uint64_t need = rec + (to_end < rec ? to_end : 0);
		if (fp->head + need - fp->tail_seen > FLOOR_DATA) {
			/* Publish what this batch wrote so far, then wait. */
			atomic_store_explicit(&fp->tx->head, fp->head, memory_order_release);
			int rc = wait_space(fp, need);
			if (rc != 0)
				return rc;
		}
		if (to_end < rec) {
			const uint32_t wrap = FLOOR_WRAP;
			memcpy(data + pos, &wrap, sizeof wrap);
			fp->head += to_end;
			pos = 0;
		}
		memcpy(data + pos, &len, sizeof len);
		memcpy(data + pos + FLOOR_RHLEN, f[k].data, len);
		fp->head += rec;
	}
	atomic_store_explicit(&fp->tx->head, fp->head, memory_order_release);
	return 0;
}

static int floor_recv_port(struct port *p, struct shmif_frame *f, size_t max, int timeout_ms, size_t *got)
{
	struct floor_port *fp = p->state;
	uint64_t head = atomic_load_explicit(&fp->rx->head, memory_order_acquire);
	if (head == fp->tail) {
		if (timeout_ms == 0)
			return 0;
		struct spin s = {0, 0};
		while ((head = atomic_load_explicit(&fp->rx->head, memory_order_acquire)) == fp->tail)
			if (!spin_on(&s, timeout_ms))
				return 0;
	}
	const uint8_t *data = fp->rx->data;
	int rc = 0;
	while (*got < max && fp->tail != head) {
		uint32_t pos = (uint32_t)(fp->tail % FLOOR_DATA), len;
		memcpy(&len, data + pos, sizeof len);
		if (len == FLOOR_WRAP) {
			fp->tail += FLOOR_DATA - pos;
			continue;
		}
		if (len > f[*got].cap) {
			rc = EMSGSIZE;
			break;
		}
		memcpy(f[*got].data, data + pos + FLOOR_RHLEN, len);
		f[*got].len = len;
		(*got)++;
		fp->tail += rec_size(len);
	}
	atomic_store_explicit(&fp->rx->tail, fp->tail, memory_order_release);
	return rc;
}

static long long floor_lost_port(struct port *p)
{
	(void)p;
	return -1;
}

const struct port_ops floor_port_ops = {
    .open = floor_open_port,
    .close = floor_close_port,
    .send = floor_send_port,
    .recv = floor_recv_port,
    .lost = floor_lost_port,
};

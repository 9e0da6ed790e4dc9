/*
 * netbsd.c -- the shmif bus as NetBSD lays it out and walks it, for the
 * wake-up workload's processes that do not load libshmif (wakeup.c): the
 * helpers of NetBSD's shmif_busops.c, the attach of if_shmem.c and its
 * writer, shmif_start with dowakeup, written out in C on the bus file
 * (docs/protocol.md §1-§5), with NetBSD's function names in the comments.
 *
 * The writer is a port (port_ops) that only sends: each send call of n
 * frames writes them one lock hold each, as shmif_start drains its queue,
 * then makes one wake-up write. It is the floor of the wake-up workload:
 * what a NetBSD rump kernel's frames cost the NetBSD-style reader.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

uint32_t hdr32(const struct nbus *b, size_t off)
{
	uint32_t v;
	memcpy(&v, b->mem + off, sizeof v);
	return v;
}

uint64_t hdr_gen(const struct nbus *b)
{
	uint64_t v;
	memcpy(&v, b->mem + BUS_OFF_GEN, sizeof v);
	return v;
}

static void hdr32_set(struct nbus *b, size_t off, uint32_t v) { memcpy(b->mem + off, &v, sizeof v); }

static uint32_t *lock_word(struct nbus *b) { return (uint32_t *)(void *)(b->mem + BUS_OFF_LOCK); }

/* shmif_lockbus */
void lockbus(struct nbus *b)
{
	int i = 0;
	for (;;) {
		uint32_t unlocked = 0;
		if (__atomic_compare_exchange_n(lock_word(b), &unlocked, 1, 0, __ATOMIC_SEQ_CST,
		        __ATOMIC_SEQ_CST))
			return;
		if (++i > LOCK_COOLDOWN) {
			struct timespec ms = {0, 1000000};
			nanosleep(&ms, NULL);
			b->naps++;
			i = 0;
		}
	}
}

/* shmif_unlockbus */
void unlockbus(struct nbus *b) { __atomic_exchange_n(lock_word(b), 0, __ATOMIC_SEQ_CST); }

/* shmif_busread; offsets read from the bus are folded into it. */
uint32_t busread(struct nbus *b, void *dest, uint32_t off, uint32_t len, int *wrap)
{
	const uint8_t *data = b->mem + BUS_HLEN;
	off %= BUS_DATA + 1;
	uint32_t chunk = len < BUS_DATA - off ? len : BUS_DATA - off;
	memcpy(dest, data + off, chunk);
	len -= chunk;
	if (off + chunk == BUS_DATA)
		*wrap = 1;
	if (len == 0)
		return (off + chunk) % BUS_DATA;
	*wrap = 1;
	memcpy((uint8_t *)dest + chunk, data, len);
	return len;
}

/* shmif_nextpktoff */
uint32_t nextpktoff(struct nbus *b, uint32_t off)
{
	struct pkthdr sp;
	int dummy = 0;
	busread(b, &sp, off, sizeof sp, &dummy);
	uint32_t next = off % BUS_DATA + (uint32_t)sizeof sp + (sp.len % BUS_DATA);
	return next >= BUS_DATA ? next - BUS_DATA : next;
}

/* stillvalid_p */
int stillvalid(struct nbus *b)
{
	uint32_t gendiff = (uint32_t)(hdr_gen(b) - b->devgen);
	uint32_t devoff = b->nextpkt, first = hdr32(b, BUS_OFF_FIRST);
	uint32_t lastoff = nextpktoff(b, hdr32(b, BUS_OFF_LAST));
	if (gendiff > 1)
		return 0;
	if (first >= lastoff) {
		lastoff += BUS_DATA;
		if (gendiff == 0)
			devoff += BUS_DATA;
	} else if (gendiff)
		return 0;
	return devoff >= first && devoff <= lastoff;
}

/* rump_shmif_create's initbackend: open the bus file at opt.path (creating
 * it), make it 1 MiB, map it, initialise a fresh bus under the lock and
 * start reading at the newest record; dies on failure. */
void nbus_attach(struct nbus *b)
{
	memset(b, 0, sizeof *b);
	b->ino = -1;
	b->fd = open(opt.path, O_RDWR | O_CREAT, 0644);
	if (b->fd < 0)
		die("open %s: %s", opt.path, strerror(errno));
	if (ftruncate(b->fd, BUS_SIZE) < 0)
		die("ftruncate %s: %s", opt.path, strerror(errno));
	void *m = mmap(NULL, BUS_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, b->fd, 0);
	if (m == MAP_FAILED)
		die("mmap %s: %s", opt.path, strerror(errno));
	b->mem = m;
	uint32_t magic = hdr32(b, BUS_OFF_MAGIC);
	if (magic != 0 && magic != BUS_MAGIC)
		die("%s is not a shmif bus", opt.path);
	volatile uint8_t *p, v;
	for (p = b->mem; p < b->mem + BUS_SIZE; p += 512)
		v = *p;
	lockbus(b);
	if (hdr32(b, BUS_OFF_MAGIC) == 0) {
		const uint32_t mg = BUS_MAGIC, first = BUS_DATA;
		memcpy(b->mem + BUS_OFF_MAGIC, &mg, sizeof mg);
		memcpy(b->mem + BUS_OFF_FIRST, &first, sizeof first);
	}
	b->nextpkt = hdr32(b, BUS_OFF_LAST);
	b->devgen = hdr_gen(b);
	/* NetBSD touches every page so that the lock holder never waits for
	 * a page fault. */
	long page = sysconf(_SC_PAGESIZE);
	for (p = b->mem; p < b->mem + BUS_SIZE; p += page) {
		v = *p;
		*p = v;
	}
	unlockbus(b);
}

void nbus_detach(struct nbus *b)
{
	munmap(b->mem, BUS_SIZE);
	if (b->ino >= 0)
		close(b->ino);
	close(b->fd);
}

/* ---- NetBSD's writer ---- */

/* shmif_advancefirst: before len bytes at off are overwritten, first moves
 * past every record they destroy. The condition is NetBSD's to the byte
 * (the slack of one header on the left included): every peer must agree on
 * where first ends up. */
static void advancefirst(struct nbus *b, uint32_t off, uint32_t len)
{
	uint32_t first;
	while (off <= (first = hdr32(b, BUS_OFF_FIRST)) + (uint32_t)sizeof(struct pkthdr) &&
	       off + len > first)
		hdr32_set(b, BUS_OFF_FIRST, nextpktoff(b, first));
}

/* shmif_buswrite: a write that fills the data area to its end moves first
 * one byte further, so that a first of DataSize (offset 0 seen from the
 * end) moves before offset 0 is written. */
static uint32_t buswrite(struct nbus *b, uint32_t off, const void *src, uint32_t len, int *wrap)
{
	uint8_t *data = b->mem + BUS_HLEN;
	uint32_t chunk = len < BUS_DATA - off ? len : BUS_DATA - off;
	int filled = off + chunk == BUS_DATA;
	advancefirst(b, off, chunk + (filled ? 1 : 0));
	memcpy(data + off, src, chunk);
	if (filled)
		*wrap = 1;
	len -= chunk;
	if (len == 0)
		return (off + chunk) % BUS_DATA;
	advancefirst(b, 0, len);
	memcpy(data, (const uint8_t *)src + chunk, len);
	return len;
}

/* dowakeup: the bus version written at offset 4, which inotify watchers
 * see as a modification. */
static int dowakeup(struct nbus *b)
{
	const uint32_t version = BUS_VERSION;
	for (;;) {
		ssize_t n = pwrite(b->fd, &version, sizeof version, BUS_OFF_VERSION);
		if (n == (ssize_t)sizeof version)
			return 0;
		if (n >= 0)
			return EIO;
		if (errno != EINTR)
			return errno;
	}
}

/* The attach of rump_shmif_create, with sc_uuid random as NetBSD's. */
static void netbsd_open(struct port *p, int flags)
{
	(void)flags;
	struct nbus *b = xcalloc(1, sizeof *b);
	nbus_attach(b);
	if (getrandom(&b->sender, sizeof b->sender, 0) != (ssize_t)sizeof b->sender)
		die("getrandom: %s", strerror(errno));
	p->state = b;
}

static void netbsd_close(struct port *p)
{
	nbus_detach(p->state);
	free(p->state);
}

/* shmif_start: every frame in a lock hold of its own, last stored before
 * the record is written (NetBSD's order), gen counted if the record reached
 * the end of the data area; then one wake-up for all of them. */
static int netbsd_send(struct port *p, const struct shmif_frame *f, size_t n)
{
	struct nbus *b = p->state;
	for (size_t k = 0; k < n; k++) {
		if (f[k].len > SHMIF_MAXFRAME)
			return EMSGSIZE; /* NetBSD asserts */
		/* getmicrouptime: the kernel's cached uptime. */
		struct timespec up;
		clock_gettime(CLOCK_MONOTONIC_COARSE, &up);
		struct pkthdr sp = {.len = (uint32_t)f[k].len, .sec = (uint32_t)up.tv_sec,
		    .usec = (uint32_t)(up.tv_nsec / 1000), .pad = 0, .sender = b->sender};
		lockbus(b);
		uint32_t last = nextpktoff(b, hdr32(b, BUS_OFF_LAST));
		hdr32_set(b, BUS_OFF_LAST, last);
		int wrap = 0;
		uint32_t off = buswrite(b, last, &sp, sizeof sp, &wrap);
		buswrite(b, off, f[k].data, sp.len, &wrap);
		if (wrap) {
			uint64_t gen = hdr_gen(b) + 1;
			memcpy(b->mem + BUS_OFF_GEN, &gen, sizeof gen);
		}
		unlockbus(b);
	}
	return n > 0 ? dowakeup(b) : 0;
}

static int netbsd_recv(struct port *p, struct shmif_frame *f, size_t max, int timeout_ms, size_t *got)
{
	(void)p, (void)f, (void)max, (void)timeout_ms, (void)got;
	return EOPNOTSUPP; /* a writer only */
}

static long long netbsd_lost(struct port *p)
{
	(void)p;
	return -1;
}

const struct port_ops netbsd_port_ops = {
    .open = netbsd_open,
    .close = netbsd_close,
    .send = netbsd_send,
    .recv = netbsd_recv,
    .lost = netbsd_lost,
};

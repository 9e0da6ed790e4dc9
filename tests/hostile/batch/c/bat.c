/*
 * bat.c -- processes for the lock-free batch-read attacks.
 *
 * Frames (broadcast, type 0x88b5, 28..1514 bytes):
 *   14 id (u32)  18 seq (u32)  22 length (u16)  24 payload from (id,seq)
 *   len-4 CRC-32 of bytes 0..len-4
 *
 * usage:
 *   bat writer BUS ID SEED CTR [COUNT]   shmif_send_batch of 32..256 frames;
 *        CTR: a 16-byte file, [0] frames acknowledged, [1] frames in the
 *        call under way (so a killer knows the bounds)
 *   bat reader BUS MODE SEED DONEFILE    receive until DONEFILE exists and
 *        the bus stays quiet 400 ms; MODE batch256 batch4 batch1 recv frame
 *        tight lossless; prints "id ID n N first F last L" and
 *        "stats ipackets lost corrupt"
 *   bat netbsd BUS ID SEED COUNT HOLDUS  write records NetBSD's way
 *   bat stranger BUS SEED MS WHAT        scribble without the lock for MS
 *        ms: WHAT words (gen/last/first), headers, genfreeze
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <rump/rump.h>

static int failures;
#define FAIL(...) do { failures++; printf("FAIL " __VA_ARGS__); printf("\n"); fflush(stdout); } while (0)
/* DAMAGE reports a frame a stranger may have caused: a failure unless
 * BAT_TOLERATE is set (strangers that move last make writers overwrite
 * live records, which no reader can tell from a whole frame). */
#define DAMAGE(...) do { if (getenv("BAT_TOLERATE")) { printf("TORN " __VA_ARGS__); printf("\n"); } else FAIL(__VA_ARGS__); } while (0)

static uint32_t crc_table[256];
static uint32_t
crc32(const uint8_t *p, size_t n)
{
	uint32_t c = 0xffffffff;
	if (crc_table[1] == 0)
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t x = i;
			for (int k = 0; k < 8; k++)
				x = (x & 1) ? 0xedb88320 ^ (x >> 1) : x >> 1;
			crc_table[i] = x;
		}
	while (n--)
		c = crc_table[(c ^ *p++) & 0xff] ^ (c >> 8);
	return ~c;
}

static uint64_t rs;
static uint64_t
rnd(void)
{
	rs ^= rs << 13; rs ^= rs >> 7; rs ^= rs << 17;
	return rs;
}

static double
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static size_t
pick_len(void)
{
	switch (rnd() % 4) {
	case 0: return 28 + rnd() % 40;
	case 1: return 1400 + rnd() % 115;
	default: return 28 + rnd() % (SHMIF_MAXFRAME - 27);
	}
}

static void
build(uint8_t *f, size_t len, uint32_t id, uint32_t seq)
{
	memset(f, 0xff, 6);
	f[6] = 0xb2; f[7] = 0xa0; memcpy(f + 8, &id, 4);
	f[12] = 0x88; f[13] = 0xb5;
	memcpy(f + 14, &id, 4);
	memcpy(f + 18, &seq, 4);
	uint16_t l = (uint16_t)len;
	memcpy(f + 22, &l, 2);
	uint32_t x = id * 2654435761u ^ seq * 40503u;
	for (size_t i = 24; i < len - 4; i++) {
		x = x * 1103515245u + 12345u;
		f[i] = (uint8_t)(x >> 16);
	}
	uint32_t c = crc32(f, len - 4);
	memcpy(f + len - 4, &c, 4);
}

/* check returns 0 for a good frame and sets id, seq. */
static int
check(const uint8_t *f, size_t len, uint32_t *id, uint32_t *seq)
{
	if (len < 28 || len > SHMIF_MAXFRAME)
		return -1;
	if (f[12] != 0x88 || f[13] != 0xb5)
		return -2;
	uint16_t l;
	memcpy(&l, f + 22, 2);
	if (l != len)
		return -3;
	uint32_t c;
	memcpy(&c, f + len - 4, 4);
	if (c != crc32(f, len - 4))
		return -4;
	memcpy(id, f + 14, 4);
	memcpy(seq, f + 18, 4);
	return 0;
}

static int
writer(int argc, char **argv)
{
	if (argc < 6)
		return 2;
	uint32_t id = strtoul(argv[3], 0, 0);
	rs = strtoull(argv[4], 0, 0) * 2 + 1;
	long count = argc > 6 ? strtol(argv[6], 0, 0) : -1;
	int cfd = open(argv[5], O_RDWR | O_CREAT, 0644);
	if (cfd < 0 || ftruncate(cfd, 16) < 0)
		return 3;
	volatile uint64_t *ctr = mmap(0, 16, PROT_READ | PROT_WRITE, MAP_SHARED, cfd, 0);
	int ifn, rc;
	if ((rc = rump_pub_shmif_create(argv[2], &ifn)) != 0) {
		FAIL("create: %d", rc);
		return 1;
	}
	static uint8_t bufs[256][SHMIF_MAXFRAME];
	struct shmif_frame fr[256];
	uint32_t seq = 0;
	printf("ready\n");
	fflush(stdout);
	while (count < 0 || (long)seq < count) {
		size_t n = 32 + rnd() % 225;
		if (count >= 0 && (long)(seq + n) > count)
			n = count - seq;
		for (size_t i = 0; i < n; i++) {
			size_t len = pick_len();
			build(bufs[i], len, id, seq + i);
			fr[i].data = bufs[i];
			fr[i].len = len;
		}
		ctr[1] = n;
		if ((rc = shmif_send_batch(ifn, fr, n)) != 0) {
			FAIL("send_batch: %d", rc);
			return 1;
		}
		seq += n;
		ctr[0] = seq;
		ctr[1] = 0;
		if (rnd() % 8 == 0)
			usleep(rnd() % 300);
	}
	printf("sent %u\n", seq);
	shmif_destroy(ifn);
	printf("DONE failures=%d\n", failures);
	return failures != 0;
}

static uint64_t
lost_now(int ifn)
{
	struct shmif_stats st;
	shmif_get_stats(ifn, &st);
	return st.lost;
}

#define MAXID 4096
static struct { uint64_t n; int64_t first, last; } ids[MAXID];

static int
reader(int argc, char **argv)
{
	if (argc < 6)
		return 2;
	const char *mode = argv[3];
	rs = strtoull(argv[4], 0, 0) * 2 + 1;
	const char *donef = argv[5];
	int ifn, rc;
	setenv("SHMIF_START", "next", 1);
	if ((rc = rump_pub_shmif_create(argv[2], &ifn)) != 0) {
		FAIL("create: %d", rc);
		return 1;
	}
	int lossless = strcmp(mode, "lossless") == 0 || strcmp(mode, "losslessrecv") == 0;
	if (!strcmp(mode, "losslessrecv"))
		mode = "recv";
	if (lossless && (rc = shmif_set_lossless(ifn, 20000)) != 0)
		FAIL("set_lossless %d", rc);
	for (int i = 0; i < MAXID; i++)
		ids[i].first = ids[i].last = -1;
	static uint8_t bufs[256][SHMIF_MAXFRAME];
	struct shmif_frame fr[256];
	printf("ready\n");
	fflush(stdout);
	double quiet = 0;
	uint64_t bad = 0, total = 0, gaps = 0;
	int ngap = 0, ndrift = 0;
	for (;;) {
		size_t got = 0, n = 0;
		uint8_t *got_p[256];
		size_t got_l[256];
		int to = 100;
		if (!strcmp(mode, "recv")) {
			size_t l;
			rc = shmif_recv(ifn, bufs[0], SHMIF_MAXFRAME, &l, to);
			if (rc == 0) { got = 1; got_p[0] = bufs[0]; got_l[0] = l; }
		} else if (!strcmp(mode, "frame")) {
			fr[0].data = bufs[0]; fr[0].cap = SHMIF_MAXFRAME;
			rc = shmif_recv_frame(ifn, &fr[0], to);
			if (rc == 0) { got = 1; got_p[0] = bufs[0]; got_l[0] = fr[0].len; }
		} else {
			n = 256;
			if (!strcmp(mode, "batch4")) n = 1 + rnd() % 4;
			if (!strcmp(mode, "batch1")) n = 1;
			if (!strcmp(mode, "tight") || !strcmp(mode, "randn")) n = 1 + rnd() % 256;
			for (size_t i = 0; i < n; i++) {
				fr[i].data = bufs[i];
				fr[i].cap = SHMIF_MAXFRAME;
				if ((!strcmp(mode, "tight") || !strcmp(mode, "smallcap")) && rnd() % 16 == 0)
					fr[i].cap = 28 + rnd() % 1500;
			}
			rc = shmif_recv_batch(ifn, fr, n, &got, to);
			if (rc == EMSGSIZE) {
				if (fr[0].len <= fr[0].cap || fr[0].len > SHMIF_MAXFRAME)
					FAIL("EMSGSIZE with len %zu cap %zu", fr[0].len, fr[0].cap);
				continue;
			}
			if (rc != 0 && got != 0)
				FAIL("rc %d with received %zu", rc, got);
			for (size_t i = 0; i < got; i++) {
				got_p[i] = bufs[i];
				got_l[i] = fr[i].len;
			}
		}
		if (rc == EAGAIN || rc == ETIMEDOUT) {
			if (access(donef, F_OK) == 0) {
				if (quiet == 0)
					quiet = now_ms();
				else if (now_ms() - quiet > 400)
					break;
			}
			continue;
		}
		if (rc != 0) {
			FAIL("recv rc %d", rc);
			break;
		}
		quiet = 0;
		uint64_t gaps_before = gaps;
		for (size_t i = 0; i < got; i++) {
			uint32_t id, seq;
			total++;
			int e = check(got_p[i], got_l[i], &id, &seq);
			if (e != 0) {
				if (bad++ < 10)
					DAMAGE("bad frame: check %d len %zu", e, got_l[i]);
				continue;
			}
			if (id >= MAXID) {
				FAIL("id %u out of range", id);
				continue;
			}
			if (ids[id].last >= (int64_t)seq) {
				if (bad++ < 10)
					DAMAGE("id %u seq %u after %lld: duplicate or reordered", id, seq, (long long)ids[id].last);
			} else if (lossless && ids[id].last >= 0 && seq != ids[id].last + 1) {
				if (bad++ < 10)
					FAIL("lossless: id %u seq %u after %lld", id, seq, (long long)ids[id].last);
			}
			if (ids[id].last >= 0 && seq > ids[id].last + 1) {
				gaps += seq - ids[id].last - 1;
				if (getenv("BAT_TRACE") && ngap++ < 20)
					printf("gap id %u %lld -> %u (lost now %llu) after call rc %d got %zu n %zu\n", id, (long long)ids[id].last, seq,
					    (unsigned long long)lost_now(ifn), rc, got, n);
			}
			if (ids[id].first < 0)
				ids[id].first = seq;
			ids[id].last = seq;
			ids[id].n++;
		}
		if (getenv("BAT_DRIFT") && got > 0) {
			int64_t d = (int64_t)lost_now(ifn) - (int64_t)gaps - ids[1].first;
			static int64_t pd;
			if (d != pd && ndrift++ < 30)
				printf("drift %lld -> %lld: call rc %d got %zu n %zu misfit %d gapframes %llu firstseq %u lastseq %lld\n", (long long)pd, (long long)d, rc, got, n,
				    got < n && fr[got].len > fr[got].cap, (unsigned long long)(gaps - gaps_before),
				    *(uint32_t *)((uint8_t *)got_p[0] + 18), (long long)ids[1].last);
			pd = d;
		}
		if (getenv("BAT_DRIFT") && rc == EMSGSIZE) {}
	}
	for (int i = 0; i < MAXID; i++)
		if (ids[i].n)
			printf("id %d n %llu first %lld last %lld\n", i, (unsigned long long)ids[i].n,
			    (long long)ids[i].first, (long long)ids[i].last);
	struct shmif_stats st;
	shmif_get_stats(ifn, &st);
	printf("gaps %llu\n", (unsigned long long)gaps);
	printf("stats %llu %llu %llu total %llu bad %llu\n", (unsigned long long)st.ipackets,
	    (unsigned long long)st.lost, (unsigned long long)st.corrupt,
	    (unsigned long long)total, (unsigned long long)bad);
	shmif_destroy(ifn);
	printf("DONE failures=%d\n", failures);
	return failures != 0;
}

/* --- raw bus access --- */
#define DS 1048544u
#define HDR 24u
struct mem { uint32_t magic, version; uint64_t gen; uint32_t first, last, lock, spare; uint8_t data[]; };

static struct mem *
mapbus(const char *path)
{
	int fd = open(path, O_RDWR);
	if (fd < 0)
		return NULL;
	void *p = mmap(0, SHMIF_BUSSIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	return p == MAP_FAILED ? NULL : p;
}

static uint32_t
adv(uint32_t off, uint32_t n)
{
	off += n;
	if (off >= DS)
		off -= DS;
	return off;
}

static uint32_t
rlen(struct mem *m, uint32_t off)
{
	uint8_t b[4];
	for (int i = 0; i < 4; i++)
		b[i] = m->data[(off == DS ? 0 : adv(off, i))];
	uint32_t l;
	memcpy(&l, b, 4);
	return l;
}

static uint32_t
nextpkt(struct mem *m, uint32_t off)
{
	return adv(off == DS ? 0 : off, HDR + rlen(m, off));
}

static void
advancefirst(struct mem *m, uint32_t off, uint32_t len)
{
	while (off <= m->first + HDR && off + len > m->first)
		m->first = nextpkt(m, m->first);
}

static uint32_t
buswrite(struct mem *m, uint32_t off, const uint8_t *p, uint32_t len, int *wrap)
{
	uint32_t chunk = len < DS - off ? len : DS - off;
	int filled = off + chunk == DS;
	advancefirst(m, off, chunk + (filled ? 1 : 0));
	memcpy(m->data + off, p, chunk);
	if (filled)
		*wrap = 1;
	if (chunk == len)
		return (off + chunk) % DS;
	advancefirst(m, 0, len - chunk);
	memcpy(m->data, p + chunk, len - chunk);
	return len - chunk;
}

static void
spin_us(double us)
{
	double t = now_ms() + us / 1000;
	while (now_ms() < t)
		;
}

static int
netbsd(int argc, char **argv)
{
	if (argc < 7)
		return 2;
	struct mem *m = mapbus(argv[2]);
	if (!m) { FAIL("map"); return 1; }
	uint32_t id = strtoul(argv[3], 0, 0);
	rs = strtoull(argv[4], 0, 0) * 2 + 1;
	long count = strtol(argv[5], 0, 0);
	double hold = strtod(argv[6], 0);
	uint8_t f[SHMIF_MAXFRAME];
	printf("ready\n");
	fflush(stdout);
	for (long s = 0; s < count; s++) {
		size_t len = pick_len();
		build(f, len, id, s);
		uint8_t h[HDR];
		uint32_t l32 = len, sec = time(0), pad = getenv("BAT_PAD0") ? 0 : (uint32_t)rnd();
		uint64_t sender = 0x4e455442ull << 32 | id;
		memcpy(h, &l32, 4); memcpy(h + 4, &sec, 4); memset(h + 8, 0, 4);
		memcpy(h + 12, &pad, 4); memcpy(h + 16, &sender, 8);
		unsigned tries = 0;
		for (;;) {
			uint32_t z = 0;
			if (atomic_compare_exchange_strong((_Atomic uint32_t *)&m->lock, &z, 1))
				break;
			if (++tries > 1001) { usleep(1000); tries = 0; }
		}
		uint32_t last = nextpkt(m, m->last);
		m->last = last; /* stored before the record, as NetBSD does */
		if (getenv("BAT_HOLD_BEFORE"))
			spin_us(atof(getenv("BAT_HOLD_BEFORE")));
		int wrap = 0;
		uint32_t off = buswrite(m, last, h, HDR, &wrap);
		if (hold > 0)
			spin_us(hold * (rnd() % 3));
		buswrite(m, off, f, len, &wrap);
		if (wrap)
			m->gen++;
		atomic_exchange((_Atomic uint32_t *)&m->lock, 0);
		if (s % 32 == 31) {
			/* the wake-up write: 4 bytes at offset 4 */
			int fd = open(argv[2], O_RDWR);
			uint32_t v = 3;
			if (fd >= 0) { if (pwrite(fd, &v, 4, 4) < 0) {} close(fd); }
		}
	}
	printf("sent %ld\n", count);
	printf("DONE failures=%d\n", failures);
	return 0;
}

static int
stranger(int argc, char **argv)
{
	if (argc < 6)
		return 2;
	struct mem *m = mapbus(argv[2]);
	if (!m) { FAIL("map"); return 1; }
	rs = strtoull(argv[3], 0, 0) * 2 + 1;
	double end = now_ms() + strtod(argv[4], 0);
	const char *what = argv[5];
	volatile uint64_t *gen = &m->gen;
	volatile uint32_t *first = &m->first, *last = &m->last;
	long acts = 0;
	printf("ready\n");
	fflush(stdout);
	if (!strncmp(what, "genfreeze", 9)) {
		/* genfreezeN: wait until gen reaches N first */
		uint64_t from = strtoull(what + 9, 0, 10);
		while (*gen < from && now_ms() < end)
			;
		uint64_t g = *gen;
		while (now_ms() < end) {
			*gen = g;
			acts++;
		}
	} else while (now_ms() < end) {
		usleep(rnd() % 2000);
		acts++;
		if (!strcmp(what, "words") || !strcmp(what, "gen")) {
			switch (!strcmp(what, "gen") ? (int[]){0, 1, 4}[rnd() % 3] : (int)(rnd() % 8)) {
			case 0: { uint64_t g = *gen; *gen = g + 1; spin_us(rnd() % 50); *gen = g; break; }
			case 1: { uint64_t g = *gen; *gen = g - 1; spin_us(rnd() % 50); *gen = g; break; }
			case 2: { uint32_t l = *last; *last = rnd() % DS; spin_us(rnd() % 50); *last = l; break; }
			case 3: { uint32_t f = *first; *first = rnd() % (DS + 1); spin_us(rnd() % 50); *first = f; break; }
			case 4: *gen = *gen + (rnd() % 3) - 1; break;
			case 5: *first = rnd() % (DS + 1); break;
			case 6: { uint32_t l = *last; *last = adv(l, DS - 4096 + rnd() % 4096); spin_us(rnd() % 50); *last = l; break; }
			case 7: *last = rnd() % DS; break;
			}
		} else if (!strcmp(what, "headers")) {
			/* a header (length word) somewhere behind the write position */
			uint32_t l = *last;
			uint32_t back = rnd() % (DS / 2);
			uint32_t off = adv(l, DS - back);
			uint32_t v = rnd() % 3 == 0 ? (uint32_t)rnd() : (uint32_t)(rnd() % 1600);
			memcpy(m->data + (off > DS - 4 ? 0 : off), &v, 4);
		}
	}
	printf("acts %ld\n", acts);
	printf("DONE failures=%d\n", failures);
	return 0;
}

/* walker: take the lock NetBSD's way and walk first..last: every record
 * sane and the chain meeting the next write position. */
static int
walker(int argc, char **argv)
{
	if (argc < 4)
		return 2;
	struct mem *m = mapbus(argv[2]);
	if (!m) { FAIL("map"); return 1; }
	double end = now_ms() + strtod(argv[3], 0);
	long walks = 0, recs = 0, nempty = 0;
	printf("ready\n");
	fflush(stdout);
	while (now_ms() < end) {
		for (;;) {
			uint32_t z = 0;
			if (atomic_compare_exchange_strong((_Atomic uint32_t *)&m->lock, &z, 1))
				break;
		}
		uint32_t first = m->first, last = m->last, next = nextpkt(m, last);
		uint32_t off = first == DS ? 0 : first;
		int bad = 0;
		for (int i = 0; i < 20000 && off != next; i++) {
			uint32_t l = rlen(m, off);
			if (l > SHMIF_MAXFRAME || (l != 0 && l < 28)) { bad = 1; break; }
			if (l == 0 && off != 0 && off != DS && nempty++ < 5)
				printf("INFO empty record at %u (first %u last %u gen %llu)\n", off, first, last, (unsigned long long)m->gen);
			uint32_t o2 = adv(off, HDR + l);
			/* must not jump over next */
			uint32_t dn = (next + DS - off) % DS, dl = HDR + l;
			if (dl > dn) { bad = 2; break; }
			off = o2;
			recs++;
		}
		if (off != next && !bad)
			bad = 3;
		uint64_t gen = m->gen;
		atomic_exchange((_Atomic uint32_t *)&m->lock, 0);
		if (bad && failures < 5)
			FAIL("walk %ld: bad %d at %u first %u last %u next %u gen %llu", walks, bad, off, first, last, next, (unsigned long long)gen);
		walks++;
		usleep(200);
	}
	printf("walks %ld records %ld\n", walks, recs);
	printf("DONE failures=%d\n", failures);
	return failures != 0;
}

int
main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2)
		return 2;
	if (!strcmp(argv[1], "writer")) return writer(argc, argv);
	if (!strcmp(argv[1], "reader")) return reader(argc, argv);
	if (!strcmp(argv[1], "netbsd")) return netbsd(argc, argv);
	if (!strcmp(argv[1], "stranger")) return stranger(argc, argv);
	if (!strcmp(argv[1], "walker")) return walker(argc, argv);
	return 2;
}

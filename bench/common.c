/*
 * common.c -- helpers of every shmif-bench process: the clock, byte order,
 * messages, the benchmark frame and the role's end of the control pipe.
 */
#include "bench.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* CLOCK_MONOTONIC: one clock for all processes of a run. */
int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void put32(uint8_t *p, uint32_t v)
{
	for (int k = 3; k >= 0; k--, v >>= 8)
		p[k] = (uint8_t)v;
}

uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

uint64_t get64(const uint8_t *p) { return (uint64_t)get32(p) << 32 | get32(p + 4); }

void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "shmif-bench%s%s: ", opt.role ? " " : "", opt.role ? opt.role : "");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(EXIT_USAGE);
}

/* A line to the parent (a role's stdout is the parent's pipe). */
void say(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n, size);
	if (p == NULL)
		die("out of memory");
	return p;
}

/* Fills a whole benchmark frame of `size` bytes. */
void frame_init(uint8_t *f, size_t size, int id, int kind)
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
int frame_parse(const uint8_t *f, size_t len, int *kind, int *id, uint64_t *seq)
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
int control_wait(int ms)
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

int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* Of n sorted values (0 if none): the median (p 0.5: the upper one of an
 * even number) or the p-th quantile, the smallest value that at least the
 * fraction p of the values do not exceed. */
int64_t percentile(const int64_t *sorted, long n, double p)
{
	if (n <= 0)
		return 0;
	long k = p == 0.5 ? n / 2 : (long)ceil(p * (double)n) - 1;
	return sorted[k < 0 ? 0 : k >= n ? n - 1 : k];
}

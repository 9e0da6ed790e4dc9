/*
 * common.h -- what the hostile C programs share: checks that print one line
 * per failure (the Go side turns "FAIL" lines into test errors and "INFO"
 * lines into log lines), errno names, a monotonic clock, and self-checking
 * frames.
 *
 * A self-checking frame is a broadcast Ethernet frame of 34..1514 bytes:
 *   0  dst ff:ff:ff:ff:ff:ff       6  src (the sender's MAC)
 *   12 type 0x88b5                 14 magic "HSTL"
 *   18 id (u32)                    22 seq (u32)
 *   26 length of the frame (u16)   28 0 (u16)
 *   30 bytes drawn from (id, seq)  len-4 CRC-32 of bytes 0..len-4
 * so a reader can tell a whole frame from a torn or invented one, and which
 * writer sent it in which order.
 */
#ifndef HOSTILE_COMMON_H
#define HOSTILE_COMMON_H

#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rump/rump.h>

static atomic_int failures;

static void report(const char *kind, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
report(const char *kind, const char *file, int line, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	flockfile(stdout);
	if (file != NULL)
		printf("%s %s:%d: %s\n", kind, file, line, buf);
	else
		printf("%s %s\n", kind, buf);
	fflush(stdout);
	funlockfile(stdout);
}

#define FAIL(...) do { atomic_fetch_add(&failures, 1); \
	report("FAIL", __FILE__, __LINE__, __VA_ARGS__); } while (0)
#define INFO(...) report("INFO", NULL, 0, __VA_ARGS__)
#define CHECK(cond, ...) do { if (!(cond)) FAIL(__VA_ARGS__); } while (0)

/* en names an errno value ("0" for success). */
static const char *
en(int e)
{
	static __thread char buf[8][24];
	static __thread int i;
	const char *s;

	if (e == 0)
		return "0";
	if ((s = strerrorname_np(e)) != NULL)
		return s;
	i = (i + 1) % 8;
	snprintf(buf[i], sizeof buf[i], "errno %d", e);
	return buf[i];
}

/* EXPECT_RC fails unless call returns want. */
#define EXPECT_RC(call, want) do { int rc_ = (call), w_ = (want); \
	if (rc_ != w_) FAIL("%s = %s, want %s", #call, en(rc_), en(w_)); } while (0)

/* oneof says whether rc is one of the values after it, a list ended by -1. */
static int
oneof(int rc, ...)
{
	va_list ap;
	int v, found = 0;

	va_start(ap, rc);
	while ((v = va_arg(ap, int)) != -1)
		if (v == rc)
			found = 1;
	va_end(ap);
	return found;
}

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void
sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* rnd is a small per-thread generator (xorshift64*). */
static uint64_t
rnd_next(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static uint32_t crc_table[256];

static void
crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
		crc_table[i] = c;
	}
}

static uint32_t
crc32(const uint8_t *p, size_t n)
{
	uint32_t c = 0xFFFFFFFFu;

	if (crc_table[1] == 0)
		crc_init();
	while (n--)
		c = crc_table[(c ^ *p++) & 0xff] ^ (c >> 8);
	return c ^ 0xFFFFFFFFu;
}

#define HFRAME_MIN 34
#define HMAGIC "HSTL"

/* hframe_len is the length of frame (id, seq) when lengths vary. */
static size_t
hframe_len(uint32_t id, uint32_t seq)
{
	uint64_t s = ((uint64_t)id << 32 | seq) * 0x9E3779B97F4A7C15ULL | 1;

	return HFRAME_MIN + rnd_next(&s) % (SHMIF_MAXFRAME - HFRAME_MIN + 1);
}

static void
hframe_build(uint8_t *f, size_t len, const uint8_t src[6], uint32_t id, uint32_t seq)
{
	uint64_t s = ((uint64_t)seq << 32 | id) * 0xD1B54A32D192ED03ULL | 1;
	uint32_t c;
	uint16_t l = (uint16_t)len;

	memset(f, 0xff, 6);
	memcpy(f + 6, src, 6);
	f[12] = 0x88;
	f[13] = 0xb5;
	memcpy(f + 14, HMAGIC, 4);
	memcpy(f + 18, &id, 4);
	memcpy(f + 22, &seq, 4);
	memcpy(f + 26, &l, 2);
	f[28] = f[29] = 0;
	for (size_t i = 30; i < len - 4; i++)
		f[i] = (uint8_t)(rnd_next(&s) >> 56);
	c = crc32(f, len - 4);
	memcpy(f + len - 4, &c, 4);
}

/*
 * hframe_check: 1 for a whole self-checking frame (id and seq set), 0 for a
 * frame that is not one (no magic), -1 for one that carries the magic but is
 * torn or invented (length or checksum wrong).
 */
static int
hframe_check(const uint8_t *f, size_t len, uint32_t *id, uint32_t *seq)
{
	uint32_t c;
	uint16_t l;

	if (len < HFRAME_MIN || memcmp(f + 14, HMAGIC, 4) != 0)
		return 0;
	memcpy(&l, f + 26, 2);
	if (l != len)
		return -1;
	memcpy(&c, f + len - 4, 4);
	if (c != crc32(f, len - 4))
		return -1;
	memcpy(id, f + 18, 4);
	memcpy(seq, f + 22, 4);
	return 1;
}

/* must ends the program when a set-up step fails. */
#define MUST(call) do { int rc_ = (call); if (rc_ != 0) { \
	FAIL("set-up: %s = %s", #call, en(rc_)); exit(1); } } while (0)

/* finish prints the verdict line and returns the exit status. */
static int
finish(void)
{
	int n = atomic_load(&failures);

	printf("DONE failures=%d\n", n);
	fflush(stdout);
	return n == 0 ? 0 : 1;
}

#endif
